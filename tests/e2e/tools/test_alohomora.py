"""alohomora 3.2.1 (PyPI ``alohomora``, Viasat) against the Shibboleth-compatible surface.

How the tool works (paths in the installed ``alohomora`` package):
- options come from the command line or the ``[default]`` section of ``~/.alohomora``, which
  must exist (``main.py:145-152, 266-289``);
- it GETs ``idp-url`` (redirects followed), fills the inputs named like ``user``/``email`` and
  ``pass`` (the password from ``getpass``, stdin here), drops every other input, adds
  ``_eventId_proceed`` and POSTs to ``scheme://host`` + the form's action (``req.py:563-628``);
- an element of class ``form-error`` ends the run with its text, exit 5
  (``req.py:630-632``, ``__init__.py:27-30``);
- with several roles, ``account``/``role-name``/``idp-name`` build the ARNs
  (``main.py:219-250``); STS through boto3 (``keys.py:31-43``); the profile is written to
  ``~/.aws/credentials`` (``keys.py:47-83``).

alohomora's second factor is Duo only (``req.py``), so carol (TOTP) is not run.
"""

from __future__ import annotations

import pytest

from tests.support.tools import (
    DEVELOPER,
    READONLY,
    SHIBBOLETH_PATH,
    ToolEnv,
    ToolRun,
    assert_identity,
    credentials_from_profile,
    tool_bin,
)

pytestmark = [pytest.mark.live, pytest.mark.tools]


def write_config(tool_env: ToolEnv, user: str, *extra: str) -> None:
    lines = ["[default]", f"idp-url = {tool_env.server.https_url}{SHIBBOLETH_PATH}",
             f"username = {user}", "aws-profile = sim", "duration = 1h", *extra]
    tool_env.write(".alohomora", "\n".join(lines) + "\n")


def alohomora(tool_env: ToolEnv, *args: str, password: str) -> ToolRun:
    exe = tool_bin("alohomora", "alohomora")
    return tool_env.run([exe, *args], stdin=f"{password}\n")


def test_bob_single_role(tool_env: ToolEnv) -> None:
    write_config(tool_env, "bob")
    run = alohomora(tool_env, password="bob-password")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_profile(tool_env.aws_credentials, "sim"),
                    READONLY, "bob")


def test_alice_chooses_developer_from_config(tool_env: ToolEnv) -> None:
    write_config(tool_env, "alice", "account = 444455556666", "role-name = Developer",
                 "idp-name = CorpIdP")
    run = alohomora(tool_env, password="alice-password")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_profile(tool_env.aws_credentials, "sim"),
                    DEVELOPER, "alice")


def test_alice_chooses_developer_on_the_command_line(tool_env: ToolEnv) -> None:
    write_config(tool_env, "bob")  # the command line wins over the file
    run = alohomora(tool_env, "--username", "alice", "--account", "444455556666",
                    "--role-name", "Developer", "--idp-name", "CorpIdP", "--aws-profile", "dev",
                    password="alice-password")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_profile(tool_env.aws_credentials, "dev"),
                    DEVELOPER, "alice")


def test_wrong_password_dies_with_the_form_error(tool_env: ToolEnv) -> None:
    write_config(tool_env, "bob")
    run = alohomora(tool_env, password="not-bobs-password")
    assert run.returncode == 5, str(run)
    assert run.stdout.strip(), str(run)  # the page's form-error text
    tool_env.assert_nothing_issued(run)
