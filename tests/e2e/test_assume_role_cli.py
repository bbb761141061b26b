"""The real AWS CLI v1 with a shared-config profile (``role_arn``, ``source_profile``,
``mfa_serial``, ``external_id``) against ``idp serve``: botocore's assume-role provider asks
for the MFA code, which arrives on stdin (no TTY: getpass falls back to stdin)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pyotp
import pytest

from tests.support.aws_cli import aws as run_aws
from tests.support.aws_cli import clean_env, demo_profiles
from tests.support.demo import OPS_SEED as SEED

pytestmark = pytest.mark.live

PROD, DEV = "111122223333", "444455556666"


def fresh_code() -> str:
    if 30 - time.time() % 30 < 5:
        time.sleep(30 - time.time() % 30 + 0.1)
    return str(pyotp.TOTP(SEED).now())


def cli_env(tmp_path: Path, endpoint: str) -> dict[str, str]:
    return {**clean_env(tmp_path), **demo_profiles(tmp_path), "AWS_ENDPOINT_URL_STS": endpoint}


def aws(args: list[str], env: dict[str, str], cwd: Path,
        stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_aws([*args, "--output", "json"], env, cwd, stdin=stdin)


def test_cli_profiles_with_mfa_and_external_id(live_server: str, tmp_path: Path) -> None:
    env = cli_env(tmp_path, f"{live_server}/aws/sts")
    ops = aws(["sts", "get-caller-identity", "--profile", "ops"], env, tmp_path)
    assert ops.returncode == 0, ops.stderr
    assert json.loads(ops.stdout)["Arn"] == f"arn:aws:iam::{DEV}:user/ops"

    code = fresh_code()
    result = aws(["sts", "get-caller-identity", "--profile", "breakglass"], env, tmp_path,
                 stdin=code + "\n")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"].startswith(
        f"arn:aws:sts::{PROD}:assumed-role/BreakGlass/")

    # The same code again (the CLI caches credentials: drop its cache first).
    cache = tmp_path / ".aws" / "cli" / "cache"
    for cached in cache.glob("*.json") if cache.exists() else ():
        cached.unlink()
    again = aws(["sts", "get-caller-identity", "--profile", "breakglass"], env, tmp_path,
                stdin=code + "\n")
    assert again.returncode != 0
    assert "MultiFactorAuthentication failed with invalid MFA one time pass code." \
        in again.stderr

    no_mfa = aws(["sts", "get-caller-identity", "--profile", "nomfa"], env, tmp_path)
    assert no_mfa.returncode != 0 and "AccessDenied" in no_mfa.stderr

    vendor = aws(["sts", "get-caller-identity", "--profile", "vendor"], env, tmp_path)
    assert vendor.returncode == 0, vendor.stderr
    assert ":assumed-role/VendorAudit/" in json.loads(vendor.stdout)["Arn"]
