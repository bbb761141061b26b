"""The IAM twin through the real AWS CLI (``aws iam … --endpoint-url``), in a clean
environment, signed with the demo corp-dev admin's key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.aws_cli import aws, aws_json, clean_env
from tests.support.demo import DEV, DEV_PROVIDER, DEVELOPER
from tests.support.server import LiveServer, running_server
from tests.support.sts import ResponseFactory

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("iam-cli")) as live:
        yield live


def admin_env(tmp_path: Path, server: LiveServer) -> dict[str, str]:
    return dict(clean_env(tmp_path), AWS_ACCESS_KEY_ID="AKIADEVADMINEXAMPLE0",
                AWS_SECRET_ACCESS_KEY="devAdmin/DemoSecretAccessKey/00000000000",
                AWS_DEFAULT_REGION="us-east-1")


def iam(server: LiveServer, *args: str) -> list[str]:
    return ["iam", *args, "--endpoint-url", f"{server.url}/aws/iam"]


def failing(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run a CLI command that must fail; its stderr."""
    result = aws(args, env, cwd)
    assert result.returncode != 0, result.stdout
    return result.stderr


def assume_ok(server: LiveServer, env: dict[str, str], tmp_path: Path) -> bool:
    assertion = tmp_path / "assertion.txt"
    assertion.write_text(ResponseFactory(server.url, server.certs_dir).build() + "\n")
    args = ["sts", "assume-role-with-saml", "--role-arn", DEVELOPER, "--principal-arn",
            DEV_PROVIDER, "--saml-assertion", f"file://{assertion}",
            "--endpoint-url", f"{server.url}/aws/sts"]
    return aws([*args, "--output", "json"], env, tmp_path).returncode == 0


def test_cli_user_login_profile_access_key_then_sts(server: LiveServer, tmp_path: Path) -> None:
    env = admin_env(tmp_path, server)
    user = aws_json(iam(server, "create-user", "--user-name", "cli-user"), env, tmp_path)["User"]
    assert isinstance(user, dict) and user["Arn"] == f"arn:aws:iam::{DEV}:user/cli-user"
    aws_json(iam(server, "create-login-profile", "--user-name", "cli-user", "--password",
            "Cli-pass-123"), env, tmp_path)
    key = aws_json(iam(server, "create-access-key", "--user-name", "cli-user"), env, tmp_path)[
        "AccessKey"]
    assert isinstance(key, dict)
    listed = aws_json(iam(server, "list-access-keys", "--user-name", "cli-user"), env, tmp_path)
    assert [k["AccessKeyId"] for k in listed["AccessKeyMetadata"]] == [  # type: ignore[index]
        key["AccessKeyId"]]
    user_env = dict(env, AWS_ACCESS_KEY_ID=str(key["AccessKeyId"]),
                    AWS_SECRET_ACCESS_KEY=str(key["SecretAccessKey"]))
    identity = aws_json(["sts", "get-caller-identity", "--endpoint-url", f"{server.url}/aws/sts"],
                   user_env, tmp_path)
    assert identity["Arn"] == f"arn:aws:iam::{DEV}:user/cli-user"
    stderr = failing(iam(server, "delete-user", "--user-name", "cli-user"), env, tmp_path)
    assert "DeleteConflict" in stderr and "must delete login profile first" in stderr


def test_cli_role_policy_round_trip(server: LiveServer, tmp_path: Path) -> None:
    env = admin_env(tmp_path, server)
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": DEV}, "Action": "sts:AssumeRole"}]},
        indent=2) + "\n")
    role = aws_json(iam(server, "create-role", "--role-name", "CliRole",
                   "--assume-role-policy-document", f"file://{trust}"), env, tmp_path)["Role"]
    assert isinstance(role, dict)
    assert role["AssumeRolePolicyDocument"] == json.loads(trust.read_text())
    aws_json(iam(server, "put-role-policy", "--role-name", "CliRole", "--policy-name", "P",
            "--policy-document", '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Action":"s3:*","Resource":"*"}]}'), env, tmp_path)
    got = aws_json(iam(server, "get-role-policy", "--role-name", "CliRole", "--policy-name", "P"),
              env, tmp_path)
    assert got["PolicyDocument"]["Statement"][0]["Action"] == "s3:*"  # type: ignore[index]
    stderr = failing(iam(server, "create-role", "--role-name", "Bad",
                         "--assume-role-policy-document", str(trust)), env, tmp_path)
    assert "MalformedPolicyDocument" in stderr and "This policy contains invalid Json" in stderr


def test_cli_virtual_mfa_writes_the_png(server: LiveServer, tmp_path: Path) -> None:
    env = admin_env(tmp_path, server)
    out = tmp_path / "qr.png"
    aws_json(iam(server, "create-virtual-mfa-device", "--virtual-mfa-device-name", "cli-phone",
            "--outfile", str(out), "--bootstrap-method", "QRCodePNG"), env, tmp_path)
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    seed = tmp_path / "seed.txt"
    aws_json(iam(server, "create-virtual-mfa-device", "--virtual-mfa-device-name", "cli-seed",
            "--outfile", str(seed), "--bootstrap-method", "Base32StringSeed"), env, tmp_path)
    assert len(seed.read_text().strip()) == 64


def test_cli_recreates_the_provider_from_our_metadata(server: LiveServer,
                                                      tmp_path: Path) -> None:
    """Delete the provider: STS refuses; re-create it from GET /idp/metadata: STS accepts."""
    import httpx2
    env = admin_env(tmp_path, server)
    assert assume_ok(server, env, tmp_path)
    aws_json(iam(server, "delete-saml-provider", "--saml-provider-arn", DEV_PROVIDER), env,
        tmp_path)
    assert not assume_ok(server, env, tmp_path)
    metadata = tmp_path / "metadata.xml"
    metadata.write_text(httpx2.get(f"{server.url}/idp/metadata", timeout=10).text)
    created = aws_json(iam(server, "create-saml-provider", "--saml-metadata-document",
                      f"file://{metadata}", "--name", "CorpIdP"), env, tmp_path)
    assert created["SAMLProviderArn"] == DEV_PROVIDER
    assert assume_ok(server, env, tmp_path)
    listed = aws_json(iam(server, "list-saml-providers"), env, tmp_path)
    assert [p["Arn"] for p in listed["SAMLProviderList"]] == [DEV_PROVIDER]  # type: ignore[index]


def test_cli_account_alias(server: LiveServer, tmp_path: Path) -> None:
    env = admin_env(tmp_path, server)
    assert aws_json(iam(server, "list-account-aliases"), env, tmp_path)["AccountAliases"] == [
        "corp-dev"]
    stderr = failing(iam(server, "create-account-alias", "--account-alias", "corp-prod"),
                     env, tmp_path)
    assert "EntityAlreadyExists" in stderr
