"""Running the installed package the way a user's project does: a subprocess in a fresh
directory, with no real AWS configuration and the venv's commands first on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TIMEOUT = 120


def clean_env(tmp_path: Path) -> dict[str, str]:
    """This environment without ``AWS_*``, ``IDP_*`` and ``PYTEST_*`` variables; empty AWS
    config files; the venv's ``bin`` first on PATH (``idp``, ``aws``)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "IDP_", "PYTEST_"))}
    empty = tmp_path / "empty-aws-file"
    empty.write_text("")
    env.update(AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    env.pop("PYTHONPATH", None)
    return env


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run to completion; it must exit 0 with no traceback."""
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=TIMEOUT, check=False)
    assert result.returncode == 0, f"{argv[:3]} failed:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def run_shell_block(block: str, server_url: str, cwd: Path, env: dict[str, str]) -> list[str]:
    """A README shell block run as written with ``bash -euo pipefail``, against the server at
    ``server_url`` in place of the README's ``http://127.0.0.1:8000``: its stdout lines."""
    script = block.replace("http://127.0.0.1:8000", server_url)
    return run(["bash", "-euo", "pipefail", "-c", script], cwd, env).stdout.splitlines()
