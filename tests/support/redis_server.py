"""A real ``redis-server`` for the Redis state backend's tests: started on a free loopback port
in its own folder, with the append-only file synced on every write (or without persistence,
when asked), stopped with SIGTERM and started again on the same port and folder (restart
tests). Never skipped: without Debian's ``redis-server`` the tests fail and say so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Final

import pytest

from idp.clock import Clock
from idp.store import SqliteStore, StateStore
from tests.support.server import free_port

#: Every URL and store in the tests: the AOF survives a restart, fsynced on each write
#: (https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/).
DURABLE: Final = ("--save", "", "--appendonly", "yes", "--appendfsync", "always")
#: A server that forgets everything on restart (``persistence_warning`` must say so).
VOLATILE: Final = ("--save", "", "--appendonly", "no")
STARTUP_TIMEOUT: Final = 10.0
SHUTDOWN_TIMEOUT: Final = 10.0
DATABASES: Final = 64


def redis_server_binary() -> str:
    """The ``redis-server`` executable; fails the test (never skips) if there is none."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None)
    if found is None:
        pytest.fail("redis-server is not installed: the Redis state backend's tests need "
                    "Debian's redis-server (apt-get install redis-server; scripts/bootstrap "
                    "installs it)", pytrace=False)
    return found


def answers_ping(port: int, timeout: float = 0.5) -> bool:
    """Whether a Redis server on the loopback port answers ``PING`` (``+PONG``, or
    ``-NOAUTH`` from one that wants a password)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process in ``folder`` on a loopback port that stays the same
    across ``stop()`` / ``start()``."""

    def __init__(self, folder: Path, *, persistence: Sequence[str] = DURABLE) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.persistence = tuple(persistence)
        self.log = folder / "redis-server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        return [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                *self.persistence, "--dir", str(self.folder), "--daemonize", "no",
                "--databases", str(DATABASES)]

    def start(self) -> RedisServer:
        """Start (again) and wait, bounded, until it answers ``PING``."""
        assert not self.running, "already running"
        self._log_file = self.log.open("ab")
        self._process = subprocess.Popen(self.command(), stdout=self._log_file,
                                         stderr=subprocess.STDOUT, cwd=self.folder)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not answers_ping(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"redis-server did not start on 127.0.0.1:{self.port} within "
                            f"{STARTUP_TIMEOUT:.0f} s; its log:\n{self.output()}",
                            pytrace=False)
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """SIGTERM and wait (a SIGKILL if it does not stop in time)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=SHUTDOWN_TIMEOUT)
        if self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.close()
            self._log_file = None

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def open_backend(backend: str, request: pytest.FixtureRequest, tmp_path: Path,
                 clock: Clock) -> StateStore:
    """A fresh store of the named backend (``sqlite``: a file in ``tmp_path``; ``redis``: a
    database of the session's server, from the ``redis_url`` fixture)."""
    if backend == "sqlite":
        return SqliteStore(tmp_path / "state.sqlite3", clock)
    from idp.store.redis import RedisStore

    return RedisStore(str(request.getfixturevalue("redis_url")), clock)


def another(store: StateStore, request: pytest.FixtureRequest, clock: Clock) -> StateStore:
    """Another handle on the same state, as a second worker process would hold."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store.path, clock)
    from idp.store.redis import RedisStore

    return RedisStore(str(request.getfixturevalue("redis_url")), clock)
