"""Running the installed package the way a user's project does: a subprocess in a fresh
directory, with no real AWS configuration and the venv's commands first on PATH."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.support.server import LiveServer, running_server

TIMEOUT = 120
README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"<!-- readme-test: ([\w-]+) -->\n```\w*\n(.*?)\n```", re.DOTALL)


def readme_examples() -> list[tuple[str, str]]:
    """Every ``(KIND, code)`` block the README marks ``<!-- readme-test: KIND -->``, in order."""
    return [(kind, code) for kind, code in _BLOCK.findall(README.read_text("utf-8"))]


def readme_blocks(kind: str) -> list[str]:
    """The README's code blocks marked ``<!-- readme-test: KIND -->``, in order."""
    return [code for found, code in readme_examples() if found == kind]


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


@contextlib.contextmanager
def readme_walkthrough(tmp_path: Path) -> Iterator[tuple[LiveServer, Callable[[str], list[str]]]]:
    """A real ``idp serve`` on the demo and a way to run README shell blocks against it, in
    its working directory, with no real AWS configuration and a scratch HOME (the AWS CLI
    caches assumed-role credentials under ``~/.aws/cli/cache``: another run's must never be
    reused)."""
    workdir = tmp_path / "server"
    with running_server(workdir) as server:
        env = clean_env(tmp_path)
        env["HOME"] = str(tmp_path / "home")
        yield server, lambda block: run_shell_block(block, server.url, workdir, env)
