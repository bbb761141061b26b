"""The real AWS CLI v1 (the venv's ``aws``) as the end-to-end tests run it: a clean
environment (no caller ``AWS_*``, its own HOME so the CLI's credential cache is the test's),
the demo's IAM users in shared config files, and one runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Final

from tests.support.demo import AUDITOR, BREAK_GLASS, OPS, OPS_MFA, VENDOR_AUDIT
from tests.support.server import child_env

__all__ = ["AWS_CLI", "CLI_TIMEOUT", "aws", "aws_json", "clean_env", "demo_profiles"]

AWS_CLI: Final = Path(sys.executable).parent / "aws"
CLI_TIMEOUT: Final = 60


def clean_env(folder: Path) -> dict[str, str]:
    """The CLI's environment: no AWS_* from the caller, empty config and credentials files,
    HOME in ``folder`` (the CLI caches assumed-role credentials under it)."""
    env = {k: v for k, v in child_env().items() if not k.startswith("AWS_")}
    config, credentials = folder / "aws-config", folder / "aws-credentials"
    config.write_text("")
    credentials.write_text("")
    env.update({"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "", "HOME": str(folder)})
    return env


def demo_profiles(folder: Path) -> dict[str, str]:
    """Shared config files with the demo's IAM users (``ops``, ``auditor``) and role
    profiles as users write them: ``breakglass`` (``mfa_serial``), ``nomfa``, ``vendor``
    (``external_id``) and ``vendor-wrong``. Returns the variables that point at them."""
    config, credentials = folder / "aws-config", folder / "aws-credentials"
    credentials.write_text(f"[ops]\naws_access_key_id = {OPS[0]}\n"
                           f"aws_secret_access_key = {OPS[1]}\n"
                           f"[auditor]\naws_access_key_id = {AUDITOR[0]}\n"
                           f"aws_secret_access_key = {AUDITOR[1]}\n")
    config.write_text(
        "[profile ops]\nregion = us-east-1\n"
        f"[profile breakglass]\nregion = us-east-1\nrole_arn = {BREAK_GLASS}\n"
        f"source_profile = ops\nmfa_serial = {OPS_MFA}\n"
        f"[profile nomfa]\nregion = us-east-1\nrole_arn = {BREAK_GLASS}\nsource_profile = ops\n"
        f"[profile vendor]\nregion = us-east-1\nrole_arn = {VENDOR_AUDIT}\n"
        "source_profile = auditor\nexternal_id = vendor-7f3a\n"
        f"[profile vendor-wrong]\nregion = us-east-1\nrole_arn = {VENDOR_AUDIT}\n"
        "source_profile = auditor\nexternal_id = vendor-0000\n")
    return {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}


def aws(args: list[str], env: dict[str, str], cwd: Path, *,
        stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``aws ARGS``, no TTY (a prompt such as botocore's MFA prompt reads ``stdin``)."""
    assert AWS_CLI.exists(), f"{AWS_CLI} is not installed (scripts/bootstrap installs it)"
    return subprocess.run([str(AWS_CLI), *args], env=env, cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False,
                          start_new_session=True)


def aws_json(args: list[str], env: dict[str, str], cwd: Path) -> dict[str, object]:
    """``aws ARGS --output json`` (exit 0 required): its output, ``{}`` when there is none."""
    result = aws([*args, "--output", "json"], env, cwd)
    assert result.returncode == 0, f"aws {' '.join(args)} failed:\n{result.stderr}"
    parsed: dict[str, object] = json.loads(result.stdout) if result.stdout.strip() else {}
    return parsed
