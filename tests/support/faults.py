"""Driving the real ``idp serve`` process hard: explicit folders and workers, ``/proc``
readings, and the load driver (``tests/faults`` and ``benchmarks/load.py`` use it).

Everything talks to 127.0.0.1 only. Every loop here is bounded both in count and in time and
stops by itself; every HTTP call has a timeout.

- ``serve`` / ``shutdown``: ``idp serve`` with explicit ``--certs-dir``, ``--data-dir``, port,
  ``--workers`` and extra flags (``tests.support.server.start`` has no such parameters); shutdown
  is Ctrl-C (SIGINT) with a bounded wait, and never leaves worker processes behind.
- ``tree_pids`` / ``worker_pids`` / ``rss_bytes`` / ``cpu_ticks``: the server's processes read
  from ``/proc`` (Linux).
- ``run_load``: threads driving full logins, SSO for a signed-in browser, STS
  AssumeRoleWithSAML with fresh assertions, console sign-ins (``/aws/saml`` with a role
  choice) and GetCallerIdentity, with per-kind latencies and status counts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import statistics
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx2
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from lxml import etree

from tests.support.demo import (
    ALICE_EMAIL,
    BOB_EMAIL,
    DEV_PROVIDER,
    DEVELOPER,
    PASSWORDS,
    PROD_PROVIDER,
    READ_ONLY,
)
from tests.support.http import auto_post, csrf, pending_id
from tests.support.server import SHUTDOWN_TIMEOUT, LiveServer, start, stop

#: Seconds to wait for ``/healthz`` (workers import everything and load keys first).
STARTUP_TIMEOUT: Final = 30.0
#: Per-request timeout for every client the load driver builds (seconds).
REQUEST_TIMEOUT: Final = 15.0
STS_NS: Final = "https://sts.amazonaws.com/doc/2011-06-15/"
#: The role each load user assumes (role, provider) — one each user's groups grant — and the
#: RoleSessionName the session gets.
ROLES: Final = {"alice": (DEVELOPER, DEV_PROVIDER), "bob": (READ_ONLY, PROD_PROVIDER)}
SESSION_NAMES: Final = {"alice": ALICE_EMAIL, "bob": BOB_EMAIL}
_CLK_TCK: Final = os.sysconf("SC_CLK_TCK")


# --- the server process ----------------------------------------------------------------------


@dataclass(frozen=True)
class FaultServer(LiveServer):
    """A live server started with an explicit data folder (and maybe several workers)."""

    data_dir: Path = Path("data")
    workers: int = 1

    @property
    def state_file(self) -> Path:
        return self.data_dir / "state.sqlite3"


def serve(workdir: Path, certs: Path, data: Path, *, port: int | None = None,
          workers: int = 1, extra_args: Sequence[str] = (),
          startup_timeout: float = STARTUP_TIMEOUT,
          env: Mapping[str, str] | None = None) -> FaultServer:
    """Start ``idp serve`` (base URL ``http://127.0.0.1:PORT``); return once it is serving.

    With ``workers`` > 1 this also waits (bounded) until every worker has started and gone
    idle, so the first requests can land on any of them.
    """
    deadline = time.monotonic() + startup_timeout
    live = start(workdir, certs, port=port, startup_timeout=startup_timeout, env=env,
                 extra_args=("--data-dir", str(data), "--workers", str(workers), *extra_args))
    server = FaultServer(url=live.url, port=live.port, certs_dir=certs, log=live.log,
                         process=live.process, data_dir=data, workers=workers)
    process = server.process
    if workers > 1:
        while len(worker_pids(process.pid)) < workers:
            if time.monotonic() > deadline:
                shutdown(server)
                raise RuntimeError(f"fewer than {workers} workers:\n{server.output()}")
            time.sleep(0.05)
        wait_idle(worker_pids(process.pid), timeout=max(1.0, deadline - time.monotonic()))
    return server


def shutdown(server: LiveServer) -> int | None:
    """Ctrl-C and a bounded wait (``tests.support.server.stop``); then no worker may outlive it.

    Returns the exit code, or ``None`` if the server had to be killed. Workers still alive
    after their parent is gone are SIGKILLed by pid (only those this server started).
    """
    children = worker_pids(server.process.pid) if server.process.poll() is None else []
    starts = {pid: _start_time(pid) for pid in children}
    code = stop(server)
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT
    leftovers = [pid for pid in children if _start_time(pid) == starts[pid]]
    while leftovers and time.monotonic() < deadline:
        time.sleep(0.05)
        leftovers = [pid for pid in leftovers if _start_time(pid) == starts[pid]]
    for pid in leftovers:  # same pid *and* same start time: still the process we started
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        code = None
    return code


@contextlib.contextmanager
def serving(workdir: Path, certs: Path, data: Path, **options: object) -> Iterator[FaultServer]:
    """A server for the ``with`` block; it must exit 0 on Ctrl-C afterwards."""
    server = serve(workdir, certs, data, **options)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        code = shutdown(server)
    assert code == 0, f"idp serve did not exit 0 after SIGINT (got {code}):\n{server.output()}"


# --- /proc -----------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 is the state)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()


def _start_time(pid: int) -> int | None:
    stat = _stat_fields(pid)
    return int(stat[19]) if stat else None


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat_fields(int(entry.name))
            if stat and int(stat[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def worker_pids(pid: int) -> list[int]:
    """The uvicorn worker processes of server ``pid`` (multiprocessing spawn children)."""
    workers = []
    for child in _children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            workers.append(child)
    return workers


def tree_pids(pid: int) -> list[int]:
    """The server process and its workers."""
    return [pid, *worker_pids(pid)]


def rss_bytes(pids: Sequence[int]) -> int:
    """Summed VmRSS of ``pids`` (processes that are gone count 0)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` in clock ticks (0 if it is gone)."""
    stat = _stat_fields(pid)
    return int(stat[11]) + int(stat[12]) if stat else 0


def connections_by_worker(pids: Sequence[int], port: int) -> dict[int, int]:
    """Established TCP connections to local ``port`` that each of ``pids`` holds open.

    Matches the socket inodes in /proc/PID/fd against /proc/net/tcp{,6}: proof of which
    worker accepted which connection, without any help from the server.
    """
    established: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "01":
                    established.add(cols[9])
    counts = {}
    for pid in pids:
        inodes = set()
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
        counts[pid] = len(inodes & established)
    return counts


def wait_idle(pids: Sequence[int], *, timeout: float, quiet_ticks: int = 3) -> bool:
    """Wait (bounded) until none of ``pids`` used more than ``quiet_ticks`` CPU in 0.3 s."""
    deadline = time.monotonic() + timeout
    before = [cpu_ticks(p) for p in pids]
    while time.monotonic() < deadline:
        time.sleep(0.3)
        after = [cpu_ticks(p) for p in pids]
        if all(a - b <= quiet_ticks for a, b in zip(after, before, strict=True)):
            return True
        before = after
    return False


# --- HTTP clients ----------------------------------------------------------------------------


def fresh_client(url: str, *, keepalive: bool = True) -> httpx2.Client:
    """A browser-like client; ``keepalive=False`` opens a new connection for every request."""
    limits = httpx2.Limits() if keepalive else httpx2.Limits(max_keepalive_connections=0)
    return httpx2.Client(base_url=url, timeout=REQUEST_TIMEOUT, limits=limits)


def sts_form(action: str, **params: str) -> bytes:
    return urllib.parse.urlencode({"Action": action, "Version": "2011-06-15", **params}).encode()


def assume_form(assertion: str, role: str = DEVELOPER, provider: str = DEV_PROVIDER) -> bytes:
    return sts_form("AssumeRoleWithSAML", RoleArn=role, PrincipalArn=provider,
                    SAMLAssertion=assertion)


def sts_credentials(body: bytes) -> tuple[str, str, str]:
    """(access key id, secret, session token) from an AssumeRoleWithSAML answer."""
    root = etree.fromstring(body)
    values = [root.findtext(f".//{{{STS_NS}}}Credentials/{{{STS_NS}}}{name}")
              for name in ("AccessKeyId", "SecretAccessKey", "SessionToken")]
    if not all(values):
        raise ValueError("no credentials in the STS answer")
    return values[0] or "", values[1] or "", values[2] or ""


def signed_caller_identity(endpoint: str, creds: tuple[str, str, str]
                           ) -> tuple[dict[str, str], bytes]:
    """Headers and body of a SigV4-signed GetCallerIdentity (botocore's signer)."""
    body = sts_form("GetCallerIdentity")
    request = AWSRequest(method="POST", url=endpoint, data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(*creds), "sts", "us-east-1").add_auth(request)
    return dict(request.headers.items()), body


# --- the load driver -------------------------------------------------------------------------

KINDS: Final = ("login", "sso", "assume", "console", "caller")
#: What each thread does, over and over: one fresh login, then work as that signed-in user.
CYCLE: Final = ("login", "sso", "assume", "caller", "caller",
                "sso", "console", "sso", "assume", "caller", "caller")


class Unexpected(Exception):
    """An answer that is not an error status but not the expected page either."""


@dataclass
class LoadStats:
    """What one or more threads saw: latencies of successful operations, every status."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    attempts: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    def merge(self, other: LoadStats) -> None:
        for kind, values in other.latencies.items():
            self.latencies[kind].extend(values)
        self.attempts.update(other.attempts)
        self.statuses.update(other.statuses)
        self.errors.update(other.errors)
        self.samples.extend(other.samples[: max(0, 10 - len(self.samples))])

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def percentile_ms(self, kind: str, q: float) -> float | None:
        values = sorted(self.latencies[kind])
        if not values:
            return None
        if len(values) == 1:
            return values[0] * 1000
        return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1] * 1000


class _Worker:
    """One simulated user: a browser (cookies), its latest assertion and STS credentials."""

    def __init__(self, url: str, username: str, stats: LoadStats, *, keepalive: bool) -> None:
        self.url = url
        self.keepalive = keepalive
        self.endpoint = f"{url}/aws/sts"
        self.username = username
        self.stats = stats
        self.browser: httpx2.Client | None = None
        self.api = fresh_client(url, keepalive=keepalive)
        self.assertion: str | None = None
        self.creds: tuple[str, str, str] | None = None

    def close(self) -> None:
        self.api.close()
        if self.browser is not None:
            self.browser.close()

    def _seen(self, response: httpx2.Response) -> httpx2.Response:
        for hop in (*response.history, response):
            self.stats.statuses[hop.status_code] += 1
        return response

    @staticmethod
    def _expect(response: httpx2.Response, status: int) -> httpx2.Response:
        if response.status_code != status:
            raise Unexpected(f"HTTP {response.status_code}")
        return response

    # Each operation returns normally when the answer was the expected one.

    def login(self) -> None:
        if self.browser is not None:
            self.browser.close()
        self.browser = fresh_client(self.url, keepalive=self.keepalive)
        first = self._seen(self.browser.get("/idp/init", follow_redirects=True))
        self._expect(first, 200)
        if "/idp/login" not in str(first.url):
            raise Unexpected("GET /idp/init did not lead to the login page")
        form = {"username": self.username, "password": PASSWORDS[self.username],
                "pending": pending_id(str(first.url)), "csrf_token": csrf(first.text)}
        page = self._seen(self.browser.post("/idp/login", data=form, follow_redirects=True))
        self.assertion = auto_post(self._expect(page, 200).text).saml_response

    def sso(self) -> None:
        if self.browser is None:
            self.login()
            return
        page = self._seen(self.browser.get("/idp/init", follow_redirects=True))
        self.assertion = auto_post(self._expect(page, 200).text).saml_response

    def _take_assertion(self) -> str:
        if self.assertion is None:
            self.sso()
        assertion, self.assertion = self.assertion, None
        assert assertion is not None
        return assertion

    def assume(self) -> None:
        body = assume_form(self._take_assertion(), *ROLES[self.username])
        response = self._seen(self.api.post(self.endpoint, content=body, headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}))
        self.creds = sts_credentials(self._expect(response, 200).content)

    def console(self) -> None:
        data = {"SAMLResponse": self._take_assertion(), "RelayState": "",
                "roleIndex": ROLES[self.username][0]}
        response = self._seen(self.api.post("/aws/saml", data=data))
        self._expect(response, 303)
        if not response.headers.get("location", "").endswith("/aws/console"):
            raise Unexpected(f"console sign-in went to {response.headers.get('location')}")

    def caller(self) -> None:
        if self.creds is None:
            self.assume()
        assert self.creds is not None
        headers, body = signed_caller_identity(self.endpoint, self.creds)
        response = self._seen(self.api.post(self.endpoint, content=body, headers=headers))
        arn = etree.fromstring(self._expect(response, 200).content).findtext(
            f".//{{{STS_NS}}}Arn")
        role = ROLES[self.username][0].rsplit("/", 1)[1]
        if not arn or not arn.endswith(f"/{role}/{SESSION_NAMES[self.username]}"):
            raise Unexpected(f"GetCallerIdentity Arn {arn!r}")

    def run(self, deadline: float, max_ops: int) -> None:
        for n in range(max_ops):
            if time.monotonic() >= deadline:
                return
            kind = CYCLE[n % len(CYCLE)]
            operation: Callable[[], None] = getattr(self, kind)
            self.stats.attempts[kind] += 1
            started = time.perf_counter()
            try:
                operation()
            except Exception as exc:  # every failure is counted, never raised in a thread
                self._failed(kind, exc)
            else:
                self.stats.latencies[kind].append(time.perf_counter() - started)

    def _failed(self, kind: str, exc: Exception) -> None:
        if isinstance(exc, Unexpected):
            label = f"{kind}: {exc}"
        elif isinstance(exc, AssertionError):
            label = f"{kind}: unexpected page"
        else:
            label = f"{kind}: {type(exc).__name__}"
        self.stats.errors[label] += 1
        if len(self.stats.samples) < 10:
            self.stats.samples.append(f"{label}: {str(exc)[:300]}")
        if isinstance(exc, httpx2.TransportError):
            time.sleep(0.05)  # no hot loop if the server is gone; the deadline still ends it
        # Start the next operations from a clean slate.
        self.assertion = None
        if kind in ("login", "sso"):
            if self.browser is not None:
                self.browser.close()
            self.browser = None


def run_load(url: str, *, seconds: float, concurrency: int,
             max_ops_per_thread: int = 100_000, keepalive: bool = True) -> LoadStats:
    """Drive the server from ``concurrency`` threads for ``seconds`` (bounded); merged stats.

    Only correct passwords are used (alice and bob), so login throttling never triggers.
    ``keepalive=False`` opens a new connection for every request.
    """
    deadline = time.monotonic() + seconds
    per_thread = [LoadStats() for _ in range(concurrency)]
    workers = [_Worker(url, ("alice", "bob")[i % 2], per_thread[i], keepalive=keepalive)
               for i in range(concurrency)]
    threads = [threading.Thread(target=w.run, args=(deadline, max_ops_per_thread),
                                name=f"load-{i}", daemon=True) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        # A thread can overrun the deadline by at most one operation (a few bounded requests).
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + 4 * REQUEST_TIMEOUT)
    stuck = [t.name for t in threads if t.is_alive()]
    for worker, thread in zip(workers, threads, strict=True):
        if not thread.is_alive():
            worker.close()
    total = LoadStats()
    for stats in per_thread:
        total.merge(stats)
    if stuck:
        total.errors[f"threads still running: {', '.join(stuck)}"] += 1
    return total


def report(stats: LoadStats, elapsed: float) -> str:
    """The figures as a small table."""
    lines = [f"{'kind':<8} {'ok':>7} {'failed':>6} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8}"]
    for kind in KINDS:
        ok = len(stats.latencies[kind])
        failed = stats.attempts[kind] - ok
        p50, p95 = stats.percentile_ms(kind, 50), stats.percentile_ms(kind, 95)
        lines.append(f"{kind:<8} {ok:>7} {failed:>6} {ok / elapsed:>7.1f} "
                     f"{p50 if p50 is not None else float('nan'):>8.1f} "
                     f"{p95 if p95 is not None else float('nan'):>8.1f}")
    requests = sum(stats.statuses.values())
    lines.append(f"HTTP requests: {requests} ({requests / elapsed:.1f}/s); by status: "
                 + ", ".join(f"{s}={n}" for s, n in sorted(stats.statuses.items())))
    lines.append("errors: " + (", ".join(f"{k} x{n}" for k, n in sorted(stats.errors.items()))
                               or "none"))
    return "\n".join(lines)


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
