"""aws-adfs 2.13.0 (PyPI ``aws-adfs``) against the AD FS-compatible surface.

How the tool works (paths in the installed ``aws_adfs`` package):
- it POSTs ``UserName``/``Password``/``AuthMethod=FormsAuthentication`` to
  ``https://{--adfs-host}/adfs/ls/IdpInitiatedSignOn.aspx?loginToRp=urn:amazon:webservices``
  (``html_roles_fetcher.py:30, 103-109``), after a first credential-less POST that tries its
  cookie jar (``login.py:225``);
- a non-empty ``form#loginForm label#errorText`` means ``Login error: …`` and exit -1
  (``roles_assertion_extractor.py:14-20``);
- ``AuthMethod=SecurIDAuthentication`` on the answer starts the RSA flow: it POSTs
  ``AuthMethod``/``Context``/``Passcode`` to ``form#options``'s action, the code coming from the
  ``mfa_token`` environment variable (``_rsa_authenticator.py:20-72``, ``prepare.py:158``);
- it always POSTs the assertion to ``https://signin.aws.amazon.com/saml`` for account names
  (``account_aliases_fetcher.py:13-27``), hence the CONNECT proxy;
- STS through botocore, which honours ``AWS_ENDPOINT_URL_STS`` (``login.py:280-301``).

Credentials come out three documented ways: stored in the profile (default), ``--stdout``
(credential_process JSON) or ``--printenv`` (exports); each is checked with GetCallerIdentity.
"""

from __future__ import annotations

import pytest

from tests.support.tools import (
    ADMIN,
    DEVELOPER,
    PASSWORDS,
    READONLY,
    ToolEnv,
    ToolRun,
    assert_identity,
    credentials_from_exports,
    credentials_from_process_json,
    credentials_from_profile,
    tool_bin,
    totp_now,
    totp_wrong,
)

pytestmark = [pytest.mark.live, pytest.mark.tools]


def aws_adfs(tool_env: ToolEnv, *args: str, stdin: str = "",
             env: dict[str, str] | None = None) -> ToolRun:
    exe = tool_bin("aws-adfs", "aws-adfs")
    return tool_env.run([exe, "login", "--adfs-host", tool_env.server.tls_host,
                         "--region", "us-east-1", "--no-session-cache", *args],
                        stdin=stdin, env=env)


def test_bob_single_role_from_stdin_into_profile(tool_env: ToolEnv) -> None:
    # --stdin: "username and password on two lines" (login.py:487-497); a DOMAIN\user login.
    run = aws_adfs(tool_env, "--stdin", "--profile", "sim", stdin="CORP\\bob\nbob-password\n")
    assert run.returncode == 0, str(run)
    credentials = credentials_from_profile(tool_env.aws_credentials, "sim")
    assert_identity(tool_env.server, credentials, READONLY, "bob")


def test_alice_chooses_developer_from_env_as_credential_process_json(tool_env: ToolEnv) -> None:
    # --env: lower-case ``username``/``password`` variables (login.py:471-485).
    run = aws_adfs(tool_env, "--env", "--role-arn", DEVELOPER, "--stdout",
                   env={"username": "alice@corp.example", "password": PASSWORDS["alice"]})
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_process_json(run.stdout), DEVELOPER,
                    "alice")


def test_carol_totp_from_mfa_token_env_as_exports(tool_env: ToolEnv) -> None:
    run = aws_adfs(tool_env, "--stdin", "--printenv", stdin="carol\ncarol-password\n",
                   env={"mfa_token": totp_now()})
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_exports(run.stdout), ADMIN, "carol")


def test_wrong_password_is_a_login_error(tool_env: ToolEnv) -> None:
    run = aws_adfs(tool_env, "--stdin", "--profile", "sim", stdin="bob\nnot-bobs-password\n")
    assert run.returncode != 0, str(run)
    assert "Login error" in run.output, str(run)
    tool_env.assert_nothing_issued(run)


def test_wrong_totp_code_issues_nothing(tool_env: ToolEnv) -> None:
    run = aws_adfs(tool_env, "--stdin", "--profile", "sim", stdin="carol\ncarol-password\n",
                   env={"mfa_token": totp_wrong()})
    assert run.returncode != 0, str(run)
    # The RSA step's answer is the login page again, its error in label#errorText.
    assert "Login error" in run.stderr, str(run)
    tool_env.assert_nothing_issued(run)
