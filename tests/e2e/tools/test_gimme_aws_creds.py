"""gimme-aws-creds 2.8.2 (PyPI ``gimme-aws-creds``, Nike) against the Okta-compatible surface.

How the tool works (paths in the installed ``gimme_aws_creds`` package):
- it reads ``~/.okta_aws_login_config`` (``config.py:36-39``) and the environment variables
  ``OKTA_PASSWORD``/``OKTA_MFA_CODE``/``OKTA_USERNAME`` (``main.py:47-60, 467-471``);
- ``GET {okta_org_url}/.well-known/okta-organization``: ``pipeline: v1`` means Okta classic
  (``main.py:510-541``);
- ``POST /api/v1/authn`` then, for a TOTP factor, ``POST`` its verify link with
  ``{stateToken, passCode}``; a 4xx on authn is ``LOGIN ERROR: … | Error Code: …`` (exit 2), a
  4xx on verify is ``raise_for_status`` (``okta_classic.py:166-174, 359-405, 644-663``);
- ``GET /login/sessionCookieRedirect`` must set the ``sid`` and ``DT`` cookies
  (``okta_classic.py:177-207``); with ``gimme_creds_server = appurl`` it GETs ``app_url`` and
  reads the first form's action, which must end in ``signin.aws.amazon.com/saml``
  (``okta_classic.py:767-803``, ``main.py:164-185``);
- with ``resolve_aws_alias``/``--resolve`` it POSTs the assertion to that action for account
  names (``aws.py:46-58``), through the CONNECT proxy here;
- STS through boto3, which honours ``AWS_ENDPOINT_URL_STS`` (``main.py:188-208``).
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
    credentials_from_profile,
    tool_bin,
    totp_now,
    totp_wrong,
)

pytestmark = [pytest.mark.live, pytest.mark.tools]


def write_config(tool_env: ToolEnv, user: str, *, role: str = "", write_creds: bool = True,
                 mfa: bool = False) -> None:
    server = tool_env.server
    lines = [
        "[DEFAULT]",
        f"okta_org_url = {server.https_url}",
        "gimme_creds_server = appurl",
        f"app_url = {server.okta_app_url}",
        f"aws_rolename = {role}",
        f"write_aws_creds = {write_creds}",
        "cred_profile = sim",
        f"okta_username = {user}",
        "resolve_aws_alias = False",
        "include_path = False",
        "remember_device = False",
        "aws_default_duration = 3600",
        "output_format = export",
        "force_classic = True",
        "enable_keychain = False",
    ]
    if mfa:
        lines.append("preferred_mfa_type = token:software:totp")
    tool_env.write(".okta_aws_login_config", "\n".join(lines) + "\n")


def gimme(tool_env: ToolEnv, *args: str, stdin: str = "",
          env: dict[str, str] | None = None) -> ToolRun:
    exe = tool_bin("gimme-aws-creds", "gimme-aws-creds")
    return tool_env.run([exe, "--disable-keychain", *args], stdin=stdin, env=env)


def test_bob_single_role_password_on_stdin_into_profile(tool_env: ToolEnv) -> None:
    write_config(tool_env, "bob")  # no aws_rolename: the single role is picked
    run = gimme(tool_env, stdin="bob-password\n")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_profile(tool_env.aws_credentials, "sim"),
                    READONLY, "bob")


def test_alice_chooses_developer_password_from_env_as_exports(tool_env: ToolEnv) -> None:
    write_config(tool_env, "alice", role=DEVELOPER, write_creds=False)
    run = gimme(tool_env, env={"OKTA_PASSWORD": PASSWORDS["alice"]})
    assert run.returncode == 0, str(run)
    assert f"export AWS_ROLE_ARN={DEVELOPER}" in run.stdout, str(run)
    assert_identity(tool_env.server, credentials_from_exports(run.stdout), DEVELOPER, "alice")


def test_alice_with_account_aliases_from_the_sign_in_page(tool_env: ToolEnv) -> None:
    # --resolve posts the assertion to https://signin.aws.amazon.com/saml (the app page's form
    # action) and reads the role page; --roles picks from it.
    write_config(tool_env, "alice")
    run = gimme(tool_env, "--resolve", "--roles", DEVELOPER, stdin="alice-password\n")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_profile(tool_env.aws_credentials, "sim"),
                    DEVELOPER, "alice")


def test_carol_totp_from_okta_mfa_code(tool_env: ToolEnv) -> None:
    write_config(tool_env, "carol", mfa=True)
    run = gimme(tool_env, stdin="carol-password\n", env={"OKTA_MFA_CODE": totp_now()})
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_profile(tool_env.aws_credentials, "sim"),
                    ADMIN, "carol")


def test_carol_totp_from_mfa_code_flag(tool_env: ToolEnv) -> None:
    write_config(tool_env, "carol", mfa=True, write_creds=False)
    run = gimme(tool_env, "--mfa-code", totp_now(), stdin="carol-password\n")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_exports(run.stdout), ADMIN, "carol")


def test_wrong_password_is_okta_e0000004(tool_env: ToolEnv) -> None:
    write_config(tool_env, "bob")
    run = gimme(tool_env, stdin="not-bobs-password\n")
    assert run.returncode == 2, str(run)
    assert "LOGIN ERROR" in run.output and "E0000004" in run.output, str(run)
    tool_env.assert_nothing_issued(run)


def test_wrong_totp_code_is_refused(tool_env: ToolEnv) -> None:
    write_config(tool_env, "carol", mfa=True)
    run = gimme(tool_env, stdin="carol-password\n", env={"OKTA_MFA_CODE": totp_wrong()})
    assert run.returncode != 0, str(run)
    # verify answers 403 (Okta's E0000068); the tool raises it (okta_classic.py:656).
    assert "403 Client Error" in run.stderr, str(run)
    tool_env.assert_nothing_issued(run)
