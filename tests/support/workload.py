"""An unmodified boto3 program run the way a workload runs it: only environment variables tell
it where its credentials come from (instance metadata, container credentials, a web identity
token file), and botocore's default credential chain does the rest.

``BotoWorkload`` keeps one such program running (one ``boto3.Session`` for its whole life, so
botocore's own credential refresh is what gets exercised) and asks it, line by line on stdin,
to call ``GetCallerIdentity``; each answer is the caller ARN and the access key ID botocore
used, or the error botocore raised.

Time: botocore decides when credentials need refreshing by the process's own clock. To move
that clock, the program runs under libfaketime (Debian ``libfaketime``) with a relative offset
read from a file on every call (``FAKETIME_TIMESTAMP_FILE`` + ``FAKETIME_NO_CACHE``):
``advance(seconds)`` moves it. No code in the program or in botocore is patched. The
simulator checks SigV4 request times against the real clock under its simulated one (a
client's clock is its own), so the simulator such a program talks to runs on
``workload_clock(wall)``: a simulated clock over ``ClientWall``, the real clock plus the same
offset; advance both (``wall.advance(s)``, ``workload.advance(s)``) and all three agree.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from idp.clock import SettableClock, SystemClock

LIBFAKETIME = next((path for path in Path("/usr/lib").glob("*/faketime/libfaketime.so.1")),
                   Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"))
ANSWER_TIMEOUT = 30.0

#: The workload: plain boto3, default credential chain, nothing simulator-specific.
PROGRAM = r"""
import json, sys
import boto3, botocore.exceptions

session = boto3.Session()
for line in sys.stdin:
    try:
        # Created per call: a credential provider that fails raises here already.
        sts = session.client("sts")
        identity = sts.get_caller_identity()
        frozen = session.get_credentials().get_frozen_credentials()
        print(json.dumps({"Arn": identity["Arn"], "UserId": identity["UserId"],
                          "Account": identity["Account"], "AccessKeyId": frozen.access_key}),
              flush=True)
    except botocore.exceptions.ClientError as exc:
        print(json.dumps({"error": exc.response["Error"]["Code"],
                          "message": exc.response["Error"].get("Message", "")}), flush=True)
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
"""


class ClientWall:
    """The workload's real clock: the system clock plus the offset libfaketime shows it."""

    def __init__(self) -> None:
        self._offset = dt.timedelta()
        self._lock = threading.Lock()
        self._system = SystemClock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._system.now() + self._offset

    def advance(self, seconds: int) -> None:
        with self._lock:
            self._offset += dt.timedelta(seconds=seconds)


def workload_clock(wall: ClientWall) -> SettableClock:
    """A simulated clock whose real time is ``wall`` (for ``Simulator(clock=...)``)."""
    return SettableClock(source=wall)


def workload_env(base_url: str, home: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """A clean environment: no AWS credentials or config of the machine, STS at the
    simulator (``AWS_ENDPOINT_URL_STS``), plus ``extra`` (the variables under test)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "IDP_", "FAKETIME", "LD_PRELOAD"))}
    env.update({
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_STS": f"{base_url}/aws/sts",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


class BotoWorkload:
    """One long-running boto3 program (see the module docstring)."""

    def __init__(self, base_url: str, folder: Path, env: Mapping[str, str]) -> None:
        if not LIBFAKETIME.exists():
            pytest.skip(f"{LIBFAKETIME} is not installed (Debian package libfaketime)")
        folder.mkdir(parents=True, exist_ok=True)
        self._offset_file = folder / "faketime-offset"
        self._offset = 0
        self._offset_file.write_text("+0s\n")
        environment = workload_env(base_url, folder, env)
        environment.update({
            "LD_PRELOAD": str(LIBFAKETIME),
            "FAKETIME_TIMESTAMP_FILE": str(self._offset_file),
            "FAKETIME_NO_CACHE": "1",
        })
        self._process = subprocess.Popen(
            [sys.executable, "-c", PROGRAM], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=environment, cwd=folder)

    def advance(self, seconds: int) -> None:
        """Move the program's clock ``seconds`` further ahead (cumulative)."""
        self._offset += seconds
        self._offset_file.write_text(f"{self._offset:+d}s\n")

    def call(self) -> dict[str, Any]:
        """``GetCallerIdentity`` once: ``{"Arn", "UserId", "Account", "AccessKeyId"}`` or
        ``{"error", "message"}``."""
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("call\n")
        process.stdin.flush()
        line = _readline(process, ANSWER_TIMEOUT)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> str:
        """Stop the program; returns what it wrote on stderr."""
        process = self._process
        try:
            _, err = process.communicate(timeout=10)  # closes stdin: the program ends
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        return err or ""

    def __enter__(self) -> BotoWorkload:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def _readline(process: subprocess.Popen[str], timeout: float) -> str:
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            process.kill()
            raise AssertionError(f"the boto3 program did not answer within {timeout} s")
    line = process.stdout.readline()
    if not line:
        err = process.stderr.read() if process.stderr is not None else ""
        raise AssertionError(f"the boto3 program ended: {err[-2000:]}")
    return line
