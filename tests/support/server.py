"""The real ``idp serve`` process for live tests: start on a free loopback port, wait
(bounded) for ``/healthz``, stop with SIGINT (Ctrl-C) and require a clean exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT = 20.0
SHUTDOWN_TIMEOUT = 10.0


def free_port() -> int:
    """A loopback port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def idp_command(*args: str) -> list[str]:
    """The ``idp`` CLI of this interpreter (the venv's), independent of PATH."""
    return [sys.executable, "-m", "idp", *args]


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass(frozen=True)
class LiveServer:
    url: str
    port: int
    certs_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    def output(self) -> str:
        """Everything the process wrote so far (stdout and stderr, interleaved)."""
        return self.log.read_text(encoding="utf-8", errors="replace")


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop(server: LiveServer) -> int | None:
    """SIGINT, bounded wait; the exit code, or None if the process had to be killed."""
    return stop_process(server.process)


def stop_process(process: subprocess.Popen[bytes]) -> int | None:
    """``stop`` for any server process."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=SHUTDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SHUTDOWN_TIMEOUT)
        return None


def start(workdir: Path, certs: Path, *, port: int | None = None,
          extra_args: Sequence[str] = (), startup_timeout: float = STARTUP_TIMEOUT,
          env: Mapping[str, str] | None = None) -> LiveServer:
    """Start ``idp serve`` (base URL ``http://127.0.0.1:PORT``, a free port unless given) with
    ``certs``, ``extra_args`` and extra environment ``env`` (e.g. ``IDP_BODY_TIMEOUT``);
    return once ``/healthz`` answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / f"server-{port}-{time.monotonic_ns()}.log"
    argv = idp_command("serve", "--host", "127.0.0.1", "--port", str(port),
                       "--certs-dir", str(certs), "--base-url", url, *extra_args)
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink,
                                   stderr=subprocess.STDOUT, env={**child_env(), **(env or {})},
                                   cwd=workdir)
    server = LiveServer(url=url, port=port, certs_dir=certs, log=log, process=process)
    deadline = time.monotonic() + startup_timeout
    while not healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(server)
            raise RuntimeError(f"idp serve did not come up (exit {process.returncode}):\n"
                               f"{server.output()}")
        time.sleep(0.05)
    return server


@contextlib.contextmanager
def running_server(workdir: Path, certs: Path | None = None, *,
                   extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None
                   ) -> Iterator[LiveServer]:
    """A live server for the ``with`` block; it must exit 0 on SIGINT afterwards."""
    server = start(workdir, certs or workdir / "certs", extra_args=extra_args, env=env)
    try:
        yield server
    finally:
        code = stop(server)
    assert code == 0, f"idp serve did not exit 0 after SIGINT (got {code}):\n{server.output()}"
