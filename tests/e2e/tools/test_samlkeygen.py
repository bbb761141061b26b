"""samlkeygen 1.4.1 (PyPI ``samlkeygen``, Turner) against the AD FS-compatible surface.

How the tool works (``samlkeygen/entry_points.py`` in the installed package):
- ``samlkeygen authenticate --url <IdpInitiatedSignOn URL> --domain D --username U
  --accounts A --role R --profile P --duration HOURS`` (``:49-66``); the password comes from
  ``getpass`` (stdin here) (``:93-97``);
- a host that resolves outside 10.0.0.0/8 gets the web form (``:251-258``): it POSTs
  ``UserName=DOMAIN\\user``, ``Password``, ``AuthMethod=FormsAuthentication``, then **always**
  prompts ``Pin + Rsa Token:`` and POSTs the hidden inputs of ``form#passcodeForm`` plus
  ``Passcode`` to the same URL (``:419-445``), so non-MFA users answer that prompt with
  anything and the session cookie carries the first factor;
- the last ``SAMLResponse`` input is the assertion, and the first form's action gets it for
  account aliases (``:379-400, 458-483``); no assertion is ``Error getting SAML Response``, exit
  1 (``:391-392, 354-356``);
- Role values are split as ``(principal_arn, role_arn)`` (``:447-456``), so this module's server
  writes them provider-first;
- STS through a botocore session with blank credentials (``:485-497``); the profile is written
  to ``~/.aws/credentials`` (``:41-42, 277-296``).
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
    credentials_from_profile,
    tool_bin,
    totp_now,
    totp_wrong,
)

pytestmark = [pytest.mark.live, pytest.mark.tools]

#: What a non-MFA user types at the tool's unconditional "Pin + Rsa Token:" prompt.
NO_TOKEN = "-"


@pytest.fixture
def role_value_order() -> str:
    return "provider,role"


def samlkeygen(tool_env: ToolEnv, user: str, account: str, *args: str, stdin: str) -> ToolRun:
    exe = tool_bin("samlkeygen", "samlkeygen")
    return tool_env.run([exe, "authenticate", "--url", tool_env.server.adfs_url,
                         "--domain", "CORP", "--username", user, "--accounts", account,
                         "--profile", "sim", "--duration", "1", *args], stdin=stdin)


def test_bob_single_role(tool_env: ToolEnv) -> None:
    run = samlkeygen(tool_env, "bob", "111122223333", stdin=f"bob-password\n{NO_TOKEN}\n")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_profile(tool_env.aws_credentials, "sim"),
                    READONLY, "bob")


def test_alice_chooses_developer(tool_env: ToolEnv) -> None:
    run = samlkeygen(tool_env, "alice", "444455556666", "--role", "Developer",
                     stdin=f"alice-password\n{NO_TOKEN}\n")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_profile(tool_env.aws_credentials, "sim"),
                    DEVELOPER, "alice")


def test_carol_totp_at_the_passcode_prompt(tool_env: ToolEnv) -> None:
    run = samlkeygen(tool_env, "carol", "111122223333", "--role", "Admin",
                     stdin=f"carol-password\n{totp_now()}\n")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_profile(tool_env.aws_credentials, "sim"),
                    ADMIN, "carol")


def test_wrong_password_gets_no_saml_response(tool_env: ToolEnv) -> None:
    run = samlkeygen(tool_env, "bob", "111122223333", stdin=f"not-bobs-password\n{NO_TOKEN}\n")
    assert run.returncode == 1, str(run)
    assert "Error getting SAML Response" in run.stderr, str(run)
    tool_env.assert_nothing_issued(run)


def test_wrong_totp_code_gets_no_saml_response(tool_env: ToolEnv) -> None:
    run = samlkeygen(tool_env, "carol", "111122223333",
                     stdin=f"carol-password\n{totp_wrong()}\n")
    assert run.returncode == 1, str(run)
    assert "Error getting SAML Response" in run.stderr, str(run)
    tool_env.assert_nothing_issued(run)
