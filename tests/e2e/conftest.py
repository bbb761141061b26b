"""End-to-end fixtures: the real ``idp serve`` process on a loopback port, headless Chromium.

``live_server`` starts ``python -m idp serve`` with a fresh certs folder, waits (bounded) for
``/healthz``, yields the base URL, then stops the server with SIGINT (Ctrl-C) and requires a
clean exit. ``browser`` is one Chromium for the session; ``page`` is a page in a fresh context
(cookies never leak between tests).
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_TIMEOUT = 20.0
SHUTDOWN_TIMEOUT = 10.0
#: Playwright's per-action / per-navigation timeout (ms): bounded, generous for a slow CI box.
BROWSER_TIMEOUT_MS = 15_000


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


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> int | None:
    """SIGINT, then wait; returns the exit code, or None if it had to be killed."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=SHUTDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=SHUTDOWN_TIMEOUT)
        return None


@pytest.fixture
def live_server_process(tmp_path: Path) -> Iterator[LiveServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    certs = tmp_path / "certs"
    log = tmp_path / "server.log"
    argv = idp_command(
        "serve", "--host", "127.0.0.1", "--port", str(port),
        "--certs-dir", str(certs), "--base-url", url,
    )
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            env=child_env(), cwd=tmp_path,
        )
    server = LiveServer(url=url, port=port, certs_dir=certs, log=log, process=process)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(f"idp serve exited with {process.returncode} before serving:\n"
                            f"{server.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"idp serve did not answer /healthz within {STARTUP_TIMEOUT} s:\n"
                            f"{server.output()}")
            time.sleep(0.05)
        yield server
    finally:
        code = _stop(process)
    assert code == 0, (
        f"idp serve did not exit 0 within {SHUTDOWN_TIMEOUT} s of SIGINT (got {code}):\n"
        f"{server.output()}"
    )


@pytest.fixture
def live_server(live_server_process: LiveServer) -> str:
    """The base URL of a running ``idp serve`` (demo directory, fresh keys)."""
    return live_server_process.url


# --- browser -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_context(browser: Any) -> Iterator[Callable[..., Any]]:
    """Make browser contexts (keyword arguments go to ``new_context``); all closed afterwards."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        context = browser.new_context(**options)
        context.set_default_timeout(BROWSER_TIMEOUT_MS)
        context.set_default_navigation_timeout(BROWSER_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()


@pytest.fixture
def page(new_context: Callable[..., Any]) -> Any:
    """A page in a brand-new context: no cookies from other tests."""
    return new_context().new_page()
