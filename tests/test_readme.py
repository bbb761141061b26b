"""The README's examples run as written: each block after ``<!-- readme-test: KIND -->``.

* ``python``: the block as a script, in a fresh interpreter;
* ``pytest-project``: the block as the only file of a new project directory (no conftest, no
  configuration), run with pytest: the plugin must come from the installed distribution;
* ``shell``: the block with bash against a real ``idp serve --admin`` (its URL in place of
  ``http://127.0.0.1:8000``), in the server's working directory, with the venv's ``idp`` and
  ``aws`` first on PATH.

No real AWS configuration leaks in: empty config files and no ``AWS_*`` variables.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.support.projects import clean_env, readme_blocks, run
from tests.support.server import running_server

blocks = readme_blocks


def test_the_readme_has_its_examples() -> None:
    assert len(blocks("python")) >= 2 and len(blocks("shell")) >= 2
    assert len(blocks("pytest-project")) == 1


@pytest.mark.parametrize("code", blocks("python"), ids=lambda c: c.splitlines()[0][:40])
def test_python_examples_run(code: str, tmp_path: Path) -> None:
    run([sys.executable, "-c", code], tmp_path, clean_env(tmp_path))


def test_the_example_test_passes_in_a_fresh_project(tmp_path: Path) -> None:
    """Dropped into an empty project after ``pip install``, the README's test file is green."""
    (code,) = blocks("pytest-project")
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_sso.py").write_text(code + "\n")
    env = clean_env(tmp_path)
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                  "--rootdir", str(project), str(project)], project, env)
    assert re.search(r"\b4 passed\b", result.stdout), result.stdout


@pytest.mark.live
def test_shell_examples_run(tmp_path: Path) -> None:
    admin, mint_and_login = blocks("shell")
    with running_server(tmp_path / "server", extra_args=["--admin"]) as server:
        env = clean_env(tmp_path)
        cwd = tmp_path / "server"
        first = run(["bash", "-euo", "pipefail", "-c",
                     admin.replace("http://127.0.0.1:8000", server.url)], cwd, env)
        user, minted, clock, log, status = first.stdout.splitlines()
        assert '"name":"erin"' in user and '"saml_response"' in minted
        assert '"offset_seconds":3600' in clock and '"fault":"expired"' in log
        assert status == "401"
        second = run(["bash", "-euo", "pipefail", "-c",
                      mint_and_login.replace("http://127.0.0.1:8000", server.url)], cwd, env)
        assert second.stdout.splitlines()[0] == "1"
        assert "assumed-role/ReadOnly/bob@corp.example" in second.stdout
