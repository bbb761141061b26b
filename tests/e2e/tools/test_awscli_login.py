"""awscli-login 1.0 (PyPI ``awscli-login``, University of Illinois), an AWS CLI v1 plugin, against
the SAML ECP surface.

How the tool works (paths in the installed ``awscli_login`` package):
- ``aws login`` is a plugin command (``[plugins] login = awscli_login`` in the AWS CLI config);
  it refuses to run unless the profile's ``credential_process`` is ``aws-login --profile
  <profile>`` (``__init__.py:180-185``, ``util.py:291-317``) and then runs ``aws-login`` from
  ``PATH`` (``__init__.py:55-71``);
- its own settings are in ``~/.aws-login/config`` (``config.py:53-56, 129-137``):
  ``ecp_endpoint_url``, ``username``, ``role_arn``, ``factor``, ``passcode``; the password comes
  from ``getpass`` (stdin here) (``config.py:325-340``);
- it POSTs a SOAP AuthnRequest with HTTP Basic credentials to the ECP endpoint; with
  ``factor = passcode`` the code goes in ``X-Shibboleth-Duo-Passcode`` (``config.py:342-382``,
  ``const.py``); any failure is logged and the exit code is 1 (``config.py:529-580``);
- STS through the AWS CLI's botocore session; credentials are kept in
  ``~/.aws-login/credentials`` and handed to the AWS CLI by ``aws-login --profile <p>`` as
  credential_process JSON (``credentials.py:19-32, 65-72``).
"""

from __future__ import annotations

import json

import pytest

from tests.support.tools import (
    ADMIN,
    DEVELOPER,
    ECP_PATH,
    READONLY,
    ToolEnv,
    ToolRun,
    assert_identity,
    assumed_role_arn,
    credentials_from_process_json,
    tool_bin,
    totp_now,
    totp_wrong,
)

pytestmark = [pytest.mark.live, pytest.mark.tools]


def configure(tool_env: ToolEnv, user: str, *extra: str) -> None:
    tool_env.write(".aws/config", "\n".join([
        "[plugins]",
        "login = awscli_login",
        "",
        "[profile sim]",
        "credential_process = aws-login --profile sim",
    ]) + "\n")
    tool_env.write(".aws-login/config", "\n".join([
        "[sim]",
        f"ecp_endpoint_url = {tool_env.server.https_url}{ECP_PATH}",
        f"username = {user}",
        *extra,
    ]) + "\n")


def aws_login(tool_env: ToolEnv, password: str) -> ToolRun:
    aws = tool_bin("awscli-login", "aws")
    return tool_env.run([aws, "login", "--profile", "sim"], stdin=f"{password}\n")


def assert_logged_in_as(tool_env: ToolEnv, role_arn: str, user: str) -> None:
    # What the AWS CLI runs for the profile: credential_process.
    aws_login_bin = tool_bin("awscli-login", "aws-login")
    process = tool_env.run([aws_login_bin, "--profile", "sim"])
    assert process.returncode == 0, str(process)
    assert_identity(tool_env.server, credentials_from_process_json(process.stdout), role_arn,
                    user)
    # And the way its users use it: any AWS CLI command with the profile.
    aws = tool_bin("awscli-login", "aws")
    caller = tool_env.run([aws, "sts", "get-caller-identity", "--profile", "sim",
                           "--output", "json"])
    assert caller.returncode == 0, str(caller)
    assert json.loads(caller.stdout)["Arn"] == assumed_role_arn(role_arn, user), str(caller)


def test_bob_single_role(tool_env: ToolEnv) -> None:
    configure(tool_env, "bob", "factor = off")
    run = aws_login(tool_env, "bob-password")
    assert run.returncode == 0, str(run)
    assert_logged_in_as(tool_env, READONLY, "bob")


def test_alice_chooses_developer(tool_env: ToolEnv) -> None:
    configure(tool_env, "alice", "factor = off", f"role_arn = {DEVELOPER}")
    run = aws_login(tool_env, "alice-password")
    assert run.returncode == 0, str(run)
    assert_logged_in_as(tool_env, DEVELOPER, "alice")


def test_carol_totp_passcode_from_config(tool_env: ToolEnv) -> None:
    configure(tool_env, "carol", "factor = passcode", f"passcode = {totp_now()}")
    run = aws_login(tool_env, "carol-password")
    assert run.returncode == 0, str(run)
    assert_logged_in_as(tool_env, ADMIN, "carol")


def assert_not_logged_in(tool_env: ToolEnv, run: ToolRun) -> None:
    assert run.returncode == 1, str(run)
    # The ECP endpoint refuses the Basic credentials (or the passcode): raise_for_status.
    assert "401 Client Error" in run.stderr, str(run)
    tool_env.assert_nothing_issued(run)
    stored = tool_env.home / ".aws-login" / "credentials"
    assert not stored.exists() or "aws_access_key_id" not in stored.read_text(), str(run)


def test_wrong_password_fails(tool_env: ToolEnv) -> None:
    configure(tool_env, "bob", "factor = off")
    assert_not_logged_in(tool_env, aws_login(tool_env, "not-bobs-password"))


def test_wrong_totp_passcode_fails(tool_env: ToolEnv) -> None:
    configure(tool_env, "carol", "factor = passcode", f"passcode = {totp_wrong()}")
    assert_not_logged_in(tool_env, aws_login(tool_env, "carol-password"))
