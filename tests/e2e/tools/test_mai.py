"""mai 1.0.10 (PyPI ``stups-mai``, Zalando) on aws-saml-login 1.0.11, against the
Shibboleth-compatible surface.

How the tool works (paths in the installed packages):
- profiles live in ``~/.config/mai/mai.yaml`` (``mai/cli.py:13-14``): the IdP URL, the user and
  ``saml_role: [provider_arn, role_arn, account_name]``, which is what goes to STS
  (``mai/cli.py:221-243``), so the Role value order does not matter here;
- the password comes from the keyring, else ``click.prompt`` (stdin here); a wrong password
  prints ``Authentication Failed`` and prompts again (``mai/cli.py:200-218``);
  ``PYTHON_KEYRING_BACKEND`` selects keyrings.alt's file keyring (no desktop session here);
- aws-saml-login GETs the URL, POSTs ``j_username``/``j_password``/``submit`` to the URL it
  landed on, takes the ``SAMLResponse`` input and POSTs it to the first form's action for
  account names (``aws_saml_login/saml.py:155-224``), through the CONNECT proxy when that is
  ``https://signin.aws.amazon.com/saml``;
- STS through boto3 (``aws_saml_login/saml.py:227-238``); the profile is written to
  ``~/.aws/credentials`` (``aws_saml_login/saml.py:32-51``).

aws-saml-login has no second factor for Shibboleth (only OpenAM's), so carol is not run.
"""

from __future__ import annotations

import pytest

from tests.support.tools import (
    DEV_PROVIDER,
    DEVELOPER,
    PROD_PROVIDER,
    READONLY,
    SHIBBOLETH_PATH,
    ToolEnv,
    ToolRun,
    assert_identity,
    credentials_from_profile,
    tool_bin,
)

pytestmark = [pytest.mark.live, pytest.mark.tools]

KEYRING = {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}


def write_profiles(tool_env: ToolEnv) -> None:
    url = f"{tool_env.server.https_url}{SHIBBOLETH_PATH}"
    tool_env.write(".config/mai/mai.yaml", "\n".join([
        "bob-readonly:",
        f"  saml_identity_provider_url: '{url}'",
        "  saml_user: bob",
        f"  saml_role: ['{PROD_PROVIDER}', '{READONLY}', corp-prod]",
        "alice-developer:",
        f"  saml_identity_provider_url: '{url}'",
        "  saml_user: alice",
        f"  saml_role: ['{DEV_PROVIDER}', '{DEVELOPER}', corp-dev]",
        "global:",
        "  default_profile: bob-readonly",
    ]) + "\n")


def mai(tool_env: ToolEnv, *args: str, password: str) -> ToolRun:
    exe = tool_bin("mai", "mai")
    return tool_env.run([exe, *args], stdin=f"{password}\n", env=KEYRING)


def test_bob_default_profile(tool_env: ToolEnv) -> None:
    write_profiles(tool_env)
    run = mai(tool_env, "--awsprofile", "sim", password="bob-password")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_profile(tool_env.aws_credentials, "sim"),
                    READONLY, "bob")


def test_alice_developer_profile(tool_env: ToolEnv) -> None:
    write_profiles(tool_env)
    run = mai(tool_env, "login", "alice-developer", "--awsprofile", "sim",
              password="alice-password")
    assert run.returncode == 0, str(run)
    assert_identity(tool_env.server, credentials_from_profile(tool_env.aws_credentials, "sim"),
                    DEVELOPER, "alice")


def test_wrong_password_is_authentication_failed(tool_env: ToolEnv) -> None:
    write_profiles(tool_env)
    run = mai(tool_env, "--awsprofile", "sim", password="not-bobs-password")
    # It asks again; stdin is at its end, so click aborts.
    assert run.returncode != 0, str(run)
    assert "Authentication Failed" in run.output, str(run)
    tool_env.assert_nothing_issued(run)
