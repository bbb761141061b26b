"""awsprocesscreds 0.0.2 (PyPI ``awsprocesscreds``, awslabs) with ``-p okta`` and ``-p adfs``.

How the tool works (paths in the installed ``awsprocesscreds`` package):
- the CLI offers only the ``okta`` and ``adfs`` form authenticators (``cli.py:29-34``); the
  password comes from ``getpass`` (stdin without a terminal); output is credential_process JSON
  (``cli.py:81-83``);
- ``-p okta``: POST ``{"username","password"}`` to ``https://<endpoint host>/api/v1/authn``, read
  ``sessionToken`` (no MFA, no status check), GET ``<endpoint>?sessionToken=…`` and take the
  SAMLResponse of the first form (``saml.py:221-252``);
- ``-p adfs``: GET the endpoint, post every ``<input>`` of the first form with
  ``ctl00$ContentPlaceHolder1$UsernameTextBox``/``…PasswordTextBox`` filled in; the form action
  must be ``https://`` (``saml.py:111-210, 258-259``); a result without a SAMLResponse is
  ``Login failed, could not retrieve SAML assertion`` (``saml.py:75-78``);
- ``-a ROLE_ARN`` is required; either Role value order works (``saml.py:417-432``).

The tool has no MFA support, so carol is not run.
"""

from __future__ import annotations

import pytest

from tests.support.tools import (
    DEVELOPER,
    READONLY,
    ToolEnv,
    ToolRun,
    assert_identity,
    credentials_from_process_json,
    tool_bin,
)

pytestmark = [pytest.mark.live, pytest.mark.tools]


def awsprocesscreds(tool_env: ToolEnv, provider: str, user: str, role_arn: str,
                    password: str) -> ToolRun:
    exe = tool_bin("awsprocesscreds", "awsprocesscreds-saml")
    server = tool_env.server
    endpoint = server.okta_app_url if provider == "okta" else server.adfs_url
    return tool_env.run([exe, "-e", endpoint, "-u", user, "-p", provider, "-a", role_arn,
                         "--no-cache"], stdin=f"{password}\n")


@pytest.mark.parametrize("provider", ["okta", "adfs"])
def test_bob_single_role(tool_env: ToolEnv, provider: str) -> None:
    user = "bob" if provider == "okta" else "CORP\\bob"
    run = awsprocesscreds(tool_env, provider, user, READONLY, "bob-password")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_process_json(run.stdout), READONLY,
                    "bob")


@pytest.mark.parametrize("provider", ["okta", "adfs"])
def test_alice_chooses_developer(tool_env: ToolEnv, provider: str) -> None:
    run = awsprocesscreds(tool_env, provider, "alice", DEVELOPER, "alice-password")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_process_json(run.stdout), DEVELOPER,
                    "alice")


def test_okta_wrong_password_fails_without_a_session_token(tool_env: ToolEnv) -> None:
    run = awsprocesscreds(tool_env, "okta", "bob", READONLY, "not-bobs-password")
    assert run.returncode != 0, str(run)
    # The tool reads ``parsed['sessionToken']`` unchecked (saml.py:240): Okta's E0000004 error
    # body has none.
    assert "sessionToken" in run.stderr, str(run)
    tool_env.assert_nothing_issued(run)


def test_adfs_wrong_password_is_login_failed(tool_env: ToolEnv) -> None:
    run = awsprocesscreds(tool_env, "adfs", "bob", READONLY, "not-bobs-password")
    assert run.returncode != 0, str(run)
    assert "Login failed" in run.stderr, str(run)
    tool_env.assert_nothing_issued(run)
