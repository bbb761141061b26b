"""okta-awscli 0.5.5 (PyPI ``okta-awscli``) against the Okta-compatible surface.

How the tool works (paths in the installed ``oktaawscli`` package):
- it reads ``~/.okta-aws`` (``okta_auth_config.py:15``): ``base-url`` is host[:port] without a
  scheme, ``https://`` is prepended (``okta_auth.py:28-29``); ``username``, ``app-link``,
  ``role``, ``profile``; the password comes from the file or ``getpass`` (stdin here);
- ``POST /api/v1/authn``; a non-200 answer logs its ``errorSummary`` and exits 1
  (``okta_auth.py:41-77``); a TOTP factor is verified with ``{"stateToken", "answer"}`` from
  ``-t`` (``okta_auth_mfa_base.py:84-97``), a non-200 answer there also exits 1
  (``okta_auth_mfa_base.py:167-169``);
- ``POST /api/v1/sessions``; without ``app-link``, ``GET /api/v1/users/me/appLinks`` picks the
  ``amazon_aws`` app (``okta_auth.py:79-114``); the app page's ``SAMLResponse`` input is the
  assertion (``okta_auth.py:149-171``);
- the predefined ``role`` avoids the role menu (``aws_auth.py:62-84``); STS through boto3
  (``aws_auth.py:86-110``); ``-p PROFILE`` writes the profile into
  ``AWS_SHARED_CREDENTIALS_FILE`` (``aws_auth.py:165-188``), without ``-p`` it prints exports
  with ``-v`` (``okta_awscli.py:55-80``).
"""

from __future__ import annotations

import pytest

from tests.support.tools import (
    ADMIN,
    DEVELOPER,
    READONLY,
    ToolEnv,
    ToolRun,
    assert_identity,
    credentials_from_exports,
    credentials_from_profile,
    tool_bin,
    totp_now,
    totp_wrong,
)

pytestmark = [pytest.mark.live, pytest.mark.tools]


def write_config(tool_env: ToolEnv, user: str, *, role: str | None = None,
                 app_link: bool = True) -> None:
    server = tool_env.server
    lines = ["[default]", f"base-url = {server.tls_host}", f"username = {user}"]
    if app_link:
        lines.append(f"app-link = {server.okta_app_url}")
    if role:
        lines.append(f"role = {role}")
    tool_env.write(".okta-aws", "\n".join(lines) + "\n")


def okta_awscli(tool_env: ToolEnv, *args: str, password: str, answers: str = "") -> ToolRun:
    exe = tool_bin("okta-awscli", "okta-awscli")
    return tool_env.run([exe, *args], stdin=f"{password}\n{answers}")


def test_bob_single_role_app_found_through_app_links(tool_env: ToolEnv) -> None:
    write_config(tool_env, "bob", app_link=False)
    # Without a predefined role the tool always shows its role menu, even for one role
    # (aws_auth.py:77-84): bob answers "1".
    run = okta_awscli(tool_env, "-f", "-p", "sim", password="bob-password", answers="1\n")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_profile(tool_env.aws_credentials, "sim"),
                    READONLY, "bob")
    # The app link it found was remembered in its config (okta_auth.py:163-165).
    assert tool_env.server.okta_app_url in (tool_env.home / ".okta-aws").read_text()


def test_alice_predefined_developer_role_as_exports(tool_env: ToolEnv) -> None:
    write_config(tool_env, "alice", role=DEVELOPER)
    run = okta_awscli(tool_env, "-v", "-f", password="alice-password")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_exports(run.stdout), DEVELOPER, "alice")


def test_carol_totp_with_dash_t(tool_env: ToolEnv) -> None:
    write_config(tool_env, "carol", role=ADMIN)
    run = okta_awscli(tool_env, "-f", "-p", "sim", "-t", totp_now(), password="carol-password")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_profile(tool_env.aws_credentials, "sim"),
                    ADMIN, "carol")


def test_wrong_password_logs_the_error_summary(tool_env: ToolEnv) -> None:
    write_config(tool_env, "bob")
    run = okta_awscli(tool_env, "-f", "-p", "sim", password="not-bobs-password")
    assert run.returncode == 1, str(run)
    assert "ERROR - Authentication failed" in run.stderr, str(run)
    tool_env.assert_nothing_issued(run)


def test_wrong_totp_code_logs_the_error_summary(tool_env: ToolEnv) -> None:
    write_config(tool_env, "carol")
    run = okta_awscli(tool_env, "-f", "-p", "sim", "-t", totp_wrong(), password="carol-password")
    assert run.returncode == 1, str(run)
    assert "ERROR - Invalid Passcode/Answer" in run.stderr, str(run)
    tool_env.assert_nothing_issued(run)
