"""A real nginx (Debian's ``nginx-light``) as the reverse proxy in front of ``idp serve``
processes, started with a given configuration in a scratch prefix and stopped afterwards.

Bounded like everything in ``tests.support``: the start waits at most ``STARTUP_TIMEOUT`` for
the port to answer, the stop at most ``SHUTDOWN_TIMEOUT`` before a SIGKILL.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

STARTUP_TIMEOUT: Final = 10.0
SHUTDOWN_TIMEOUT: Final = 10.0


def nginx_binary() -> str:
    """nginx's path; a clear failure (never a skip) when the package is missing."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if found is None:
        raise AssertionError("nginx is not installed: install Debian's nginx-light "
                             "(scripts/bootstrap does)")
    return found


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


@contextlib.contextmanager
def running_nginx(prefix: Path, config: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """nginx in the foreground with ``config`` (its ``pid``/``error_log`` relative to
    ``prefix``) until the ``with`` block ends; it must be listening on ``port``."""
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "logs").mkdir(exist_ok=True)  # nginx opens logs/error.log before the config's
    conf = prefix / "nginx.conf"
    conf.write_text(config, encoding="utf-8")
    log = prefix / "nginx.out"
    with log.open("wb") as sink:
        process = subprocess.Popen([nginx_binary(), "-p", str(prefix), "-c", str(conf),
                                    "-g", "daemon off;"], stdin=subprocess.DEVNULL,
                                   stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"nginx did not start (exit {process.poll()}):\n"
                                     + log.read_text("utf-8", "replace"))
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
        try:
            process.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=SHUTDOWN_TIMEOUT)
