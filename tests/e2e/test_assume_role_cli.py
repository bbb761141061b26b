"""The real AWS CLI v1 with a shared-config profile (``role_arn``, ``source_profile``,
``mfa_serial``, ``external_id``) against ``idp serve``: botocore's assume-role provider asks
for the MFA code, which arrives on stdin (no TTY: getpass falls back to stdin)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import pytest

from tests.support.server import child_env

pytestmark = pytest.mark.live

AWS_CLI = Path(sys.executable).parent / "aws"
CLI_TIMEOUT = 60
PROD, DEV = "111122223333", "444455556666"
OPS = ("AKIAOPSUSEREXAMPLE00", "opsUser/DemoSecretAccessKey/000000000000")
AUDITOR = ("AKIAVENDORAUDITOR000", "vendorAuditor/DemoSecretAccessKey/000000")
OPS_MFA = f"arn:aws:iam::{DEV}:mfa/ops"
SEED = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def fresh_code() -> str:
    if 30 - time.time() % 30 < 5:
        time.sleep(30 - time.time() % 30 + 0.1)
    return str(pyotp.TOTP(SEED).now())


def cli_env(tmp_path: Path, endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in child_env().items() if not k.startswith("AWS_")}
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    credentials.write_text(f"[ops]\naws_access_key_id = {OPS[0]}\n"
                           f"aws_secret_access_key = {OPS[1]}\n"
                           f"[auditor]\naws_access_key_id = {AUDITOR[0]}\n"
                           f"aws_secret_access_key = {AUDITOR[1]}\n")
    config.write_text(
        "[profile ops]\nregion = us-east-1\n"
        f"[profile breakglass]\nregion = us-east-1\n"
        f"role_arn = arn:aws:iam::{PROD}:role/BreakGlass\n"
        f"source_profile = ops\nmfa_serial = {OPS_MFA}\n"
        f"[profile vendor]\nregion = us-east-1\n"
        f"role_arn = arn:aws:iam::{PROD}:role/VendorAudit\n"
        "source_profile = auditor\nexternal_id = vendor-7f3a\n"
        f"[profile nomfa]\nregion = us-east-1\n"
        f"role_arn = arn:aws:iam::{PROD}:role/BreakGlass\nsource_profile = ops\n")
    env.update({"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
                "AWS_ENDPOINT_URL_STS": endpoint, "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_PAGER": "", "HOME": str(tmp_path)})
    return env


def aws(args: list[str], env: dict[str, str], cwd: Path,
        stdin: str = "") -> subprocess.CompletedProcess[str]:
    if not AWS_CLI.exists():
        pytest.skip(f"{AWS_CLI} is not installed")
    return subprocess.run([str(AWS_CLI), *args, "--output", "json"], env=env, cwd=cwd,
                          input=stdin, capture_output=True, text=True, timeout=CLI_TIMEOUT,
                          check=False, start_new_session=True)


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
