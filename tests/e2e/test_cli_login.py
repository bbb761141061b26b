"""``idp login`` as a real process against a real ``idp serve``: the credential_process JSON
works with boto3, the AWS CLI and a boto3 profile; every failure is one line and exit 2."""

from __future__ import annotations

import datetime as dt
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.demo import (
    ADMIN,
    ALICE_EMAIL,
    BOB_EMAIL,
    CAROL_SECRET,
    DEV,
    DEVELOPER,
    PROD,
    READ_ONLY,
)
from tests.support.server import LiveServer, child_env, free_port
from tests.support.sts import clean_aws_environment

pytestmark = pytest.mark.live

BIN = Path(sys.executable).parent
IDP = BIN / "idp"
AWS_CLI = BIN / "aws"
TIMEOUT = 60
KEYS = {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No IDP_* or AWS_* from the caller; empty AWS config and credentials files."""
    env = {k: v for k, v in child_env().items() if not k.startswith("AWS_")}
    config, credentials = tmp_path / "aws-config", tmp_path / "aws-credentials"
    config.touch()
    credentials.write_text("")
    env.update(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(credentials),
               AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="", HOME=str(tmp_path))
    env.update(extra)
    return env


def idp_login(url: str, tmp_path: Path, *args: str, stdin: str | None = None,
              **env: str) -> subprocess.CompletedProcess[str]:
    if not IDP.exists():
        pytest.skip(f"{IDP} is not installed")
    return subprocess.run([str(IDP), "login", "--url", url, *args], env=clean_env(tmp_path, **env),
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)


def credentials(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    parsed: dict[str, Any] = json.loads(result.stdout)
    assert set(parsed) == KEYS and parsed["Version"] == 1
    return parsed


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single ``idp: error: …`` line of a refused login (exit 2, nothing on stdout)."""
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("idp: error: "), result.stderr
    return lines[0].removeprefix("idp: error: ")


def caller_arn(server: LiveServer, creds: dict[str, Any]) -> str:
    sts = boto3.client("sts", endpoint_url=f"{server.url}/aws/sts", region_name="us-east-1",
                       aws_access_key_id=creds["AccessKeyId"],
                       aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["SessionToken"])
    arn: str = sts.get_caller_identity()["Arn"]
    return arn


@pytest.mark.usefixtures("no_aws_config")
def test_bob_credentials_work_with_boto3(server: LiveServer, tmp_path: Path) -> None:
    creds = credentials(idp_login(server.url, tmp_path, "--user", "bob",
                                  "--password", "bob-password"))
    assert creds["AccessKeyId"].startswith("ASIA")
    assert creds["Expiration"].endswith("Z")
    left = dt.datetime.fromisoformat(creds["Expiration"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=55) < left <= dt.timedelta(hours=1, minutes=1)
    assert caller_arn(server, creds) == f"arn:aws:sts::{PROD}:assumed-role/ReadOnly/{BOB_EMAIL}"


def test_duration_is_passed_to_sts(server: LiveServer, tmp_path: Path) -> None:
    creds = credentials(idp_login(server.url, tmp_path, "--user", "bob", "--duration", "900",
                                  IDP_PASSWORD="bob-password"))
    left = dt.datetime.fromisoformat(creds["Expiration"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=14) < left <= dt.timedelta(minutes=16)


def test_several_roles_need_a_choice(server: LiveServer, tmp_path: Path) -> None:
    result = idp_login(server.url, tmp_path, "--user", "alice", "--password", "alice-password")
    assert one_line_error(result) == (f"this user has 3 roles; pass --role NAME or ARN: {ADMIN}, "
                                      f"{READ_ONLY}, {DEVELOPER}")


@pytest.mark.usefixtures("no_aws_config")
@pytest.mark.parametrize(("role", "expected"), [
    ("ReadOnly", f"arn:aws:sts::{PROD}:assumed-role/ReadOnly/{ALICE_EMAIL}"),
    (DEVELOPER, f"arn:aws:sts::{DEV}:assumed-role/Developer/{ALICE_EMAIL}"),
])
def test_role_by_name_or_arn(server: LiveServer, tmp_path: Path, role: str,
                             expected: str) -> None:
    creds = credentials(idp_login(server.url, tmp_path, "--user", "alice", "--role", role,
                                  "--password", "alice-password"))
    assert caller_arn(server, creds) == expected


@pytest.mark.usefixtures("no_aws_config")
def test_totp_user_needs_a_code(server: LiveServer, tmp_path: Path) -> None:
    """carol's code is asked for; with --totp-secret it is computed (one success: codes are
    single-use, so this module signs carol in once)."""
    missing = idp_login(server.url, tmp_path, "--user", "carol", "--password", "carol-password")
    assert one_line_error(missing) == ("the IdP asks carol for a one-time code: pass --otp CODE "
                                       "or --totp-secret BASE32")
    creds = credentials(idp_login(server.url, tmp_path, "--user", "carol", "--totp-secret",
                                  CAROL_SECRET, "--password", "carol-password"))
    assert caller_arn(server, creds) == (f"arn:aws:sts::{PROD}:assumed-role/Admin/"
                                         "carol@corp.example")


def test_wrong_password_is_one_line(server: LiveServer, tmp_path: Path) -> None:
    result = idp_login(server.url, tmp_path, "--user", "bob", "--password", "not-it")
    assert one_line_error(result) == "sign-in refused for bob: Invalid username or password."
    assert "not-it" not in result.stderr


def test_password_from_environment_or_stdin(server: LiveServer, tmp_path: Path) -> None:
    credentials(idp_login(server.url, tmp_path, "--user", "bob", IDP_PASSWORD="bob-password"))
    credentials(idp_login(server.url, tmp_path, "--user", "bob", stdin="bob-password\n"))
    empty = idp_login(server.url, tmp_path, "--user", "bob", stdin="")
    assert one_line_error(empty) == ("the password is empty: pass --password, set IDP_PASSWORD, "
                                     "or write it on stdin")


def profile_config(server: LiveServer, tmp_path: Path) -> Path:
    command = shlex.join([str(IDP), "login", "--url", server.url, "--user", "bob",
                          "--password", "bob-password"])
    config = tmp_path / "sim-config"
    config.write_text(f"[profile sim]\ncredential_process = {command}\n"
                      f"endpoint_url = {server.url}/aws/sts\nregion = us-east-1\n")
    return config


def test_aws_cli_credential_process(server: LiveServer, tmp_path: Path) -> None:
    if not AWS_CLI.exists():
        pytest.skip(f"{AWS_CLI} is not installed")
    env = clean_env(tmp_path, AWS_CONFIG_FILE=str(profile_config(server, tmp_path)))
    result = subprocess.run([str(AWS_CLI), "sts", "get-caller-identity", "--profile", "sim",
                             "--output", "json"], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=TIMEOUT, check=False)
    assert result.returncode == 0, result.stderr
    identity = json.loads(result.stdout)
    assert identity["Arn"] == f"arn:aws:sts::{PROD}:assumed-role/ReadOnly/{BOB_EMAIL}"
    assert identity["Account"] == PROD


def test_boto3_profile_credential_process(server: LiveServer, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    clean_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(profile_config(server, tmp_path)))
    identity = boto3.Session(profile_name="sim").client("sts").get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{PROD}:assumed-role/ReadOnly/{BOB_EMAIL}"


def test_server_down_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = idp_login(url, tmp_path, "--user", "bob", "--password", "bob-password")
    assert one_line_error(result) == f"cannot reach {url}: connection refused"
