"""The README's "Use your real CLI tool" recipes run as written, each against a fresh server.

The blocks (``<!-- readme-test: KIND -->``, parsed by ``tests/support/projects.readme_examples``):

* ``tool-serve``: the server command; ``tool-serve-provider-first``: the command for the tools
  that read Role values provider-first, after the line that writes ``provider-first.yaml``;
* ``tool-env``: the environment every recipe starts from;
* ``tool-NAME``: one recipe per tool (``RECIPES``).

How a recipe is run:

* **Server.** ``running_tool_server`` (``tests/support/tools.py``) starts ``idp serve`` on free
  ports in a fresh folder. Its command line is checked to be the README's, with only what the
  README leaves at its default spelled out (``--host``, ``--port``, ``--tls-port``,
  ``--certs-dir``, ``--data-dir``) and the README's proxy port replaced. For a provider-first
  recipe the README's own lines before ``idp serve`` run first, in that folder, and the server
  gets the ``provider-first.yaml`` they wrote (``--config``, as in the README).
* **Installation is not run.** The ``pip install`` lines are removed from the recipe; each is
  checked to pin exactly what ``TOOLS`` installs into ``.tools/<tool>/``, and that venv's
  ``bin`` (``tool_bin``) comes first on PATH, then the project venv's (``idp``, ``aws``).
* **Run.** ``tool-env`` and the recipe, with the ports ``8000``, ``8443`` and ``8081`` replaced
  by the server's, as one ``bash -euo pipefail`` script in the server's folder (where
  ``certs/tls-ca.pem`` is), stdin empty and no controlling terminal (so ``getpass`` reads the
  recipe's here-strings), bounded in time. The environment is built from nothing: a temporary
  ``$HOME``, ``TMPDIR`` and AWS config/credentials files, PATH and the locale; no ``AWS_*``,
  proxy or CA variable of this machine.
* **Check.** The recipe's last command prints the assumed role's ARN on a line of its own.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.projects import readme_blocks, readme_examples
from tests.support.tools import (
    DEVELOPER,
    READONLY,
    TOOLS,
    ToolServer,
    assumed_role_arn,
    run_detached,
    running_tool_server,
    tool_bin,
)

pytestmark = [pytest.mark.live, pytest.mark.tools]

SERVE = "tool-serve"
SERVE_PROVIDER_FIRST = "tool-serve-provider-first"
ENV = "tool-env"
RECIPE_TIMEOUT = 180.0
#: What the README's recipes run in, besides what this module sets.
_KEPT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
#: ``idp serve`` options that take no value.
_SWITCHES = {"--tls", "--admin"}


@dataclass(frozen=True)
class Recipe:
    tool: str  # a key of TOOLS
    executable: str  # any executable of the tool's venv (for its bin directory)
    role_arn: str
    user: str
    provider_first: bool = False


RECIPES = {
    "tool-aws-adfs": Recipe("aws-adfs", "aws-adfs", READONLY, "bob"),
    "tool-awsprocesscreds-okta": Recipe("awsprocesscreds", "awsprocesscreds-saml", READONLY,
                                        "bob"),
    "tool-awsprocesscreds-adfs": Recipe("awsprocesscreds", "awsprocesscreds-saml", DEVELOPER,
                                        "alice"),
    "tool-gimme-aws-creds": Recipe("gimme-aws-creds", "gimme-aws-creds", READONLY, "bob"),
    "tool-okta-awscli": Recipe("okta-awscli", "okta-awscli", READONLY, "bob"),
    "tool-aws-okta-processor": Recipe("aws-okta-processor", "aws-okta-processor", DEVELOPER,
                                      "alice", provider_first=True),
    "tool-alohomora": Recipe("alohomora", "alohomora", READONLY, "bob"),
    "tool-mai": Recipe("mai", "mai", READONLY, "bob"),
    "tool-awscli-login": Recipe("awscli-login", "aws-login", READONLY, "bob"),
    "tool-samlkeygen": Recipe("samlkeygen", "samlkeygen", READONLY, "bob", provider_first=True),
}


def block(kind: str) -> str:
    (code,) = readme_blocks(kind)
    return code


def pip_lines(code: str) -> list[str]:
    return [line for line in code.splitlines() if line.startswith("pip install")]


def without_pip(code: str) -> str:
    return "\n".join(line for line in code.splitlines() if not line.startswith("pip install"))


def with_ports(text: str, server: ToolServer) -> str:
    ports = {"8000": server.http_port, "8443": server.tls_port, "8081": server.proxy_port}
    return re.sub(r"\b(8000|8443|8081)\b", lambda match: str(ports[match.group()]), text)


def options(argv: list[str]) -> dict[str, str | None]:
    """``--name value`` pairs (``None`` for a switch), refusing anything else."""
    found: dict[str, str | None] = {}
    args = iter(argv)
    for arg in args:
        assert arg.startswith("--") and arg not in found, argv
        found[arg] = None if arg in _SWITCHES else next(args)
    return found


def serve_command(kind: str) -> tuple[str, str]:
    """The block's ``idp serve`` command (its last line) and the lines before it."""
    *setup, serve = block(kind).splitlines()
    assert shlex.split(serve)[:2] == ["idp", "serve"], serve
    return serve, "\n".join(setup)


def clean_env(tmp_path: Path, tool_bin_dir: Path) -> dict[str, str]:
    home, tmpdir = tmp_path / "home", tmp_path / "tmp"
    (home / ".aws").mkdir(parents=True)
    tmpdir.mkdir()
    env = {k: os.environ[k] for k in _KEPT if k in os.environ}
    env.update({
        "PATH": os.pathsep.join([str(tool_bin_dir), str(Path(sys.executable).parent),
                                 env.get("PATH", os.defpath)]),
        "HOME": str(home),
        "USER": "tester",
        "LOGNAME": "tester",
        "TMPDIR": str(tmpdir),
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
    })
    return env


def run_bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = ["bash", "-euo", "pipefail", "-c", script]
    code, stdout, stderr = run_detached(argv, stdin=None, env=env, cwd=cwd,
                                        timeout=RECIPE_TIMEOUT)
    return subprocess.CompletedProcess(argv, code, stdout, stderr)


def test_every_tool_block_is_a_known_recipe() -> None:
    kinds = [kind for kind, _ in readme_examples() if kind.startswith("tool-")]
    assert sorted(kinds) == sorted([SERVE, SERVE_PROVIDER_FIRST, ENV, *RECIPES])
    assert {recipe.tool for recipe in RECIPES.values()} == set(TOOLS)


def test_the_pip_lines_pin_what_the_tests_install() -> None:
    pinned: dict[str, list[list[str]]] = {}
    for kind, recipe in RECIPES.items():
        for line in pip_lines(block(kind)):
            assert not line.endswith("\\"), line
            pinned.setdefault(recipe.tool, []).append(shlex.split(line)[2:])
    assert pinned == {name: [list(spec.requirements)] for name, spec in TOOLS.items()}
    assert not pip_lines(block(ENV))


@pytest.mark.parametrize("kind", sorted(RECIPES))
def test_recipe_runs_as_written(kind: str, tmp_path: Path) -> None:
    recipe = RECIPES[kind]
    env = clean_env(tmp_path, tool_bin(recipe.tool, recipe.executable).parent)
    serve_kind = SERVE_PROVIDER_FIRST if recipe.provider_first else SERVE
    serve, setup = serve_command(serve_kind)
    readme_argv = shlex.split(serve)
    workdir = tmp_path / "server"
    workdir.mkdir()
    config = None
    if setup:
        run_bash(setup, workdir, env).check_returncode()
    if "--config" in readme_argv:
        config = Path(readme_argv[readme_argv.index("--config") + 1])
        assert (workdir / config).is_file()
    with running_tool_server(workdir, config) as server:
        argv = server.process.args
        assert isinstance(argv, list) and argv[:4] == [sys.executable, "-m", "idp", "serve"]
        expected = options(shlex.split(with_ports(serve, server))[2:])
        assert not expected.keys() & {"--host", "--port", "--tls-port", "--certs-dir",
                                      "--data-dir"}, "the README's command sets a default"
        expected |= {"--host": "127.0.0.1", "--port": str(server.http_port),
                     "--tls-port": str(server.tls_port),
                     "--certs-dir": str(workdir / "certs"), "--data-dir": str(workdir / "data")}
        assert options(argv[4:]) == expected
        script = with_ports(f"{block(ENV)}\n{without_pip(block(kind))}\n", server)
        result = run_bash(script, workdir, env)
    report = (f"$ bash -euo pipefail -c <<script\n{script}\nscript\n[exit {result.returncode}]\n"
              f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}")
    assert result.returncode == 0, report
    assert assumed_role_arn(recipe.role_arn, recipe.user) in result.stdout.splitlines(), report
