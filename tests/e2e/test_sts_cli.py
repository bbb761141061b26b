"""The mock STS through the real AWS CLI v1 (``aws sts …``), in a clean environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.aws_cli import aws_json, clean_env
from tests.support.demo import ALICE_EMAIL, DEV, DEV_PROVIDER, DEVELOPER
from tests.support.server import LiveServer, running_server
from tests.support.sts import ResponseFactory

pytestmark = pytest.mark.live

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("sts-cli")) as live:
        yield live


def test_cli_assume_role_then_get_caller_identity(server: LiveServer, tmp_path: Path) -> None:
    """assume-role-with-saml from a file:// ending in a newline, then get-caller-identity."""
    endpoint = f"{server.url}/aws/sts"
    assertion = tmp_path / "assertion.txt"
    assertion.write_text(ResponseFactory(server.url, server.certs_dir).build() + "\n")
    assert assertion.read_bytes().endswith(b"\n")
    env = clean_env(tmp_path)

    result = aws_json(["sts", "assume-role-with-saml", "--role-arn", DEVELOPER,
                  "--principal-arn", DEV_PROVIDER, "--saml-assertion", f"file://{assertion}",
                  "--endpoint-url", endpoint, "--region", "us-east-1"], env, tmp_path)
    arn = f"arn:aws:sts::{DEV}:assumed-role/Developer/{ALICE_EMAIL}"
    user = result["AssumedRoleUser"]
    assert isinstance(user, dict) and user["Arn"] == arn
    creds = result["Credentials"]
    assert isinstance(creds, dict) and str(creds["AccessKeyId"]).startswith("ASIA")

    session_env = dict(env, AWS_ACCESS_KEY_ID=str(creds["AccessKeyId"]),
                       AWS_SECRET_ACCESS_KEY=str(creds["SecretAccessKey"]),
                       AWS_SESSION_TOKEN=str(creds["SessionToken"]),
                       AWS_ENDPOINT_URL_STS=endpoint, AWS_DEFAULT_REGION="us-east-1")
    identity = aws_json(["sts", "get-caller-identity"], session_env, tmp_path)
    assert identity == {"UserId": user["AssumedRoleId"], "Account": DEV, "Arn": arn}
