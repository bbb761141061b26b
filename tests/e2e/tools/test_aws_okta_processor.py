"""aws-okta-processor 1.10.0 (PyPI ``aws-okta-processor``, GoDaddy) against the Okta surface.

How the tool works (paths in the installed ``aws_okta_processor`` package):
- ``authenticate`` takes ``-u/--user``, ``-p/--pass`` (else ``getpass``), ``-o`` (host[:port];
  ``https://`` is prepended), ``-a`` (app URL), ``-r`` (role ARN), ``-R`` (region),
  ``-U`` (sign-in URL, default ``https://signin.aws.amazon.com/saml``)
  (``commands/authenticate.py:1-33``, ``core/okta.py:23-26``);
- ``POST /api/v1/authn``; a TOTP factor is keyed ``token:software:totp:<provider>`` and verified
  with ``{"passCode": getpass("Token: ")}``; an error prints ``Error: Status Code: …`` and
  ``Error: Summary: …`` and exits 1 (``core/okta.py:188-294, 438-490, 592-616``);
- ``POST /api/v1/sessions``, then ``GET`` the app with ``Cookie: sid=``
  (``core/okta.py:296-322, 388-402``);
- Role values are split as ``principal_arn, role_arn`` (``core/saml.py:94``), so this module's
  server writes them provider-first; with several roles it POSTs the assertion to the sign-in
  URL and scrapes the account/role page (``core/saml.py:98-174``), through the CONNECT proxy
  here;
- STS through boto3 with empty credentials (``core/fetcher.py:170-206``); output is
  credential_process JSON (``commands/authenticate.py:145-153``). Prompts and messages go to
  ``/dev/tty`` or, without one, stdout (``core/tty.py``).
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
    credentials_from_process_json,
    tool_bin,
    totp_now,
    totp_wrong,
)

pytestmark = [pytest.mark.live, pytest.mark.tools]


@pytest.fixture
def role_value_order() -> str:
    return "provider,role"


def authenticate(tool_env: ToolEnv, user: str, *args: str, stdin: str) -> ToolRun:
    exe = tool_bin("aws-okta-processor", "aws-okta-processor")
    server = tool_env.server
    return tool_env.run([exe, "authenticate", "--user", user,
                         "--organization", server.tls_host, "--application", server.okta_app_url,
                         "--region", "us-east-1", "--no-okta-cache", "--no-aws-cache", *args],
                        stdin=stdin)


def test_bob_single_role_password_on_stdin(tool_env: ToolEnv) -> None:
    run = authenticate(tool_env, "bob", stdin="bob-password\n")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_process_json(run.stdout), READONLY, "bob")


def test_alice_chooses_developer_via_the_sign_in_page(tool_env: ToolEnv) -> None:
    run = authenticate(tool_env, "alice", "--role", DEVELOPER, stdin="alice-password\n")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_process_json(run.stdout), DEVELOPER,
                    "alice")


def test_alice_password_from_environment(tool_env: ToolEnv) -> None:
    # AWS_OKTA_PASS/AWS_OKTA_ROLE are the documented variables for -p/-r
    # (commands/authenticate.py:72-110, 225-248).
    exe = tool_bin("aws-okta-processor", "aws-okta-processor")
    server = tool_env.server
    run = tool_env.run([exe, "authenticate", "--no-okta-cache", "--no-aws-cache"], env={
        "AWS_OKTA_USER": "alice", "AWS_OKTA_PASS": "alice-password",
        "AWS_OKTA_ORGANIZATION": server.tls_host, "AWS_OKTA_APPLICATION": server.okta_app_url,
        "AWS_OKTA_ROLE": DEVELOPER, "AWS_OKTA_REGION": "us-east-1"})
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_process_json(run.stdout), DEVELOPER,
                    "alice")


def test_carol_totp_token_on_stdin(tool_env: ToolEnv) -> None:
    run = authenticate(tool_env, "carol", stdin=f"carol-password\n{totp_now()}\n")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_process_json(run.stdout), ADMIN, "carol")


def test_wrong_password_prints_the_okta_error(tool_env: ToolEnv) -> None:
    run = authenticate(tool_env, "bob", stdin="not-bobs-password\n")
    assert run.returncode == 1, str(run)
    assert "Error: Status Code: 401" in run.output, str(run)
    assert "Error: Summary: Authentication failed" in run.output, str(run)
    tool_env.assert_nothing_issued(run)


def test_wrong_totp_code_prints_the_okta_error(tool_env: ToolEnv) -> None:
    run = authenticate(tool_env, "carol", stdin=f"carol-password\n{totp_wrong()}\n")
    assert run.returncode == 1, str(run)
    assert "Error: Status Code: 403" in run.output, str(run)
    assert "Error: Summary: Invalid Passcode/Answer" in run.output, str(run)
    tool_env.assert_nothing_issued(run)
