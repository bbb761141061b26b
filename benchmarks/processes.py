"""Servers the benchmark starts and stops, an HTTP client for logins, and the wrk driver.

Every server binds 127.0.0.1 on a free port, lives in a fresh temporary folder, is waited for
with a deadline and is always stopped (SIGINT, bounded wait, then SIGKILL; its worker
processes too). Every HTTP call has a timeout.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 10.0
HTTP_TIMEOUT: Final = 15.0
MIB: Final = 1024 * 1024


class BenchmarkError(Exception):
    """Something broke (not a slow figure): a server that did not start, a wrong answer."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- /proc --------------------------------------------------------------------------------------

def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def worker_pids(pid: int) -> list[int]:
    """uvicorn's worker processes of server ``pid`` (multiprocessing spawn children)."""
    workers = []
    for child in children(pid):
        with contextlib.suppress(OSError):
            if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.append(child)
    return workers


def rss_mib(pid: int) -> float:
    """VmRSS of ``pid`` in MiB (/proc/PID/status); 0 if it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / MIB
    return 0.0


# --- processes ----------------------------------------------------------------------------------

def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


@dataclass
class Process:
    """A started process, its log and its folder (removed when it is stopped)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    folder: Path
    port: int = 0
    started: float = 0.0
    ready_after: float = 0.0
    #: What it wrote, kept when it is stopped (its folder goes).
    final_log: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> int | None:
        """SIGINT (Ctrl-C), a bounded wait, then SIGKILL; leftover workers are killed too."""
        kids = children(self.pid) if self.process.poll() is None else []
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
        code: int | None
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
            code = None
        for pid in kids:  # only processes this server started, still its children
            fields = _stat(pid)
            if fields is not None and int(fields[1]) in (self.pid, 1):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.folder.exists():
            self.final_log = self.output()
            shutil.rmtree(self.folder, ignore_errors=True)
        return code

    def problem(self, code: int | None) -> str | None:
        """Why this stop shows something broke (a bad exit, a traceback), if it does."""
        if code != 0:
            return f"{self.name} exited {code} after Ctrl-C:\n{self.final_log[-2000:]}"
        if "Traceback" in self.final_log:
            return f"{self.name} logged a traceback:\n{self.final_log[-3000:]}"
        return None


def spawn(name: str, argv: Sequence[str], folder: Path, *,
          env: Mapping[str, str] | None = None) -> Process:
    log = folder / f"{name}.log"
    with log.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=sink,
                                   stderr=subprocess.STDOUT, cwd=folder, env=child_env(env))
    return Process(name=name, process=process, log=log, folder=folder, started=started)


def healthy(port: int, timeout: float = 1.0) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def wait_healthy(server: Process, timeout: float = STARTUP_TIMEOUT) -> None:
    """Poll ``/healthz`` every 5 ms until 200; record how long after spawning it answered."""
    deadline = time.perf_counter() + timeout
    while not healthy(server.port):
        if server.process.poll() is not None or time.perf_counter() > deadline:
            raise BenchmarkError(f"{server.name} did not come up (exit "
                                 f"{server.process.poll()}):\n{server.output()[-3000:]}")
        time.sleep(0.005)
    server.ready_after = time.perf_counter() - server.started


def idp_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "idp", *args]


def fresh_folder(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))


def start_idp(*, workers: int = 1, extra: Sequence[str] = (), certs_from: Path | None = None,
              name: str = "idp", wait: bool = True) -> Process:
    """``idp serve`` in a fresh folder (``certs``, ``data``); keys copied from ``certs_from``
    when given (else made at start-up, as on a first run)."""
    folder = fresh_folder(name)
    certs = folder / "certs"
    if certs_from is not None:
        shutil.copytree(certs_from, certs)
    port = free_port()
    argv = idp_command("serve", "--host", "127.0.0.1", "--port", str(port),
                       "--certs-dir", str(certs), "--data-dir", str(folder / "data"),
                       "--base-url", f"http://127.0.0.1:{port}", "--workers", str(workers),
                       *extra)
    server = spawn(name, argv, folder)
    server.port = port
    if wait:
        with stopped_on_error(server):
            wait_healthy(server)
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while workers > 1 and len(worker_pids(server.pid)) < workers:
                if time.monotonic() > deadline:
                    raise BenchmarkError(f"{name}: fewer than {workers} workers")
                time.sleep(0.05)
    return server


def start_reference(*, certs_from: Path | None = None, wait: bool = True) -> Process:
    """``benchmarks/reference_app.py`` under uvicorn in a fresh folder."""
    folder = fresh_folder("reference")
    certs = folder / "certs"
    if certs_from is not None:
        shutil.copytree(certs_from, certs)
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.reference_app", "--port", str(port),
            "--certs-dir", str(certs)]
    server = spawn("reference", argv, folder)
    server.port = port
    if wait:
        with stopped_on_error(server):
            wait_healthy(server)
    return server


def start_redis() -> Process:
    """A throw-away ``redis-server`` on loopback: no persistence, its own folder."""
    if shutil.which("redis-server") is None:
        raise BenchmarkError("redis-server is not installed (Debian: apt-get install redis-server)")
    folder = fresh_folder("redis")
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--dir", str(folder)]
    server = spawn("redis", argv, folder)
    server.port = port
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with stopped_on_error(server):
        while True:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return server
            if server.process.poll() is not None or time.monotonic() > deadline:
                raise BenchmarkError(f"redis-server did not come up:\n{server.output()[-2000:]}")
            time.sleep(0.02)


@contextlib.contextmanager
def stopped_on_error(server: Process) -> Iterator[Process]:
    """Stop ``server`` if the block fails (also on Ctrl-C), else leave it running."""
    try:
        yield server
    except BaseException:
        server.stop()
        raise


# --- a browser over one keep-alive connection ---------------------------------------------------

FORM_RE: Final = re.compile(r'name="SAMLResponse" value="([^"]*)"')
CSRF_RE: Final = re.compile(r'name="csrf_token" value="([^"]*)"')


@dataclass
class Answer:
    status: int
    location: str
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Browser:
    """Cookies and one keep-alive HTTP/1.1 connection to one server (``http.client``)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)

    def close(self) -> None:
        self.conn.close()

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method: str, path: str, form: Mapping[str, str] | None = None) -> Answer:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        body = None
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in range(2):  # a keep-alive connection the server closed: reconnect once
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt:
                    raise
        for header in response.msg.get_all("Set-Cookie") or []:
            pair, _, attributes = header.partition(";")
            key, _, value = pair.strip().partition("=")
            if value in ("", '""') or "max-age=0" in attributes.lower().replace(" ", ""):
                self.cookies.pop(key, None)
            else:
                self.cookies[key] = value
        return Answer(response.status, response.getheader("Location") or "", data)

    def follow(self, method: str, path: str, form: Mapping[str, str] | None = None,
               hops: int = 5) -> tuple[Answer, str]:
        """The request, then its redirects (GET); the final answer and its path."""
        answer = self.request(method, path, form)
        for _ in range(hops):
            if answer.status not in (301, 302, 303, 307) or not answer.location:
                break
            target = urllib.parse.urlsplit(answer.location)
            path = target.path + (f"?{target.query}" if target.query else "")
            answer = self.request("GET", path)
        return answer, path

    def login(self, username: str, password: str) -> str:
        """A full browser login through ``/idp/init``; the SAMLResponse of the auto-POST page."""
        page, path = self.follow("GET", "/idp/init")
        token = CSRF_RE.search(page.text)
        if page.status != 200 or "/idp/login" not in path or token is None:
            raise BenchmarkError(f"GET /idp/init did not lead to the login page "
                                 f"(HTTP {page.status}, {path})")
        pending = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).get("pending", [""])
        form = {"username": username, "password": password, "pending": pending[0],
                "csrf_token": token[1]}
        done, _ = self.follow("POST", "/idp/login", form)
        return saml_value(done)

    def sso(self, path: str = "/idp/init") -> str:
        """A signed SAMLResponse for the logged-in browser (one GET, redirects followed)."""
        answer, _ = self.follow("GET", path)
        return saml_value(answer)


def saml_value(answer: Answer) -> str:
    match = FORM_RE.search(answer.text)
    if answer.status != 200 or match is None:
        raise BenchmarkError(f"expected an auto-POST page, got HTTP {answer.status}: "
                             f"{answer.text[:300]!r}")
    return match[1]


# --- wrk ----------------------------------------------------------------------------------------

#: Checks every answer (status and a substring of the body) and reports the counts from all
#: threads (wrk's scripting API: setup/init/request/response/done, see wrk's SCRIPTING file).
_LUA: Final = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
local reqs = {}
local i = 0
function init(args)
  ok = 0
  bad = 0
  first_bad = ""
  for _, r in ipairs(REQUESTS) do
    table.insert(reqs, wrk.format(r[1], r[2], r[3], r[4]))
  end
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
function response(status, headers, body)
  local good = false
  if status == EXPECT_STATUS then
    for _, needle in ipairs(NEEDLES) do
      if needle == "" or string.find(body, needle, 1, true) then good = true end
    end
  end
  if good then ok = ok + 1 else
    bad = bad + 1
    if first_bad == "" then first_bad = status .. " " .. string.sub(body or "", 1, 200) end
  end
end
function done(summary, latency, requests)
  local o, b, f = 0, 0, ""
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    b = b + t:get("bad")
    if f == "" then f = t:get("first_bad") end
  end
  io.write(string.format("BENCH ok=%d bad=%d\n", o, b))
  if f ~= "" then io.write("BENCH first_bad=" .. string.gsub(f, "\n", " ") .. "\n") end
end
"""


@dataclass(frozen=True)
class WrkRequest:
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""


def _lua_string(value: str) -> str:
    level = "=" * 4
    while f"]{level}]" in value:
        level += "="
    return f"[{level}[{value}]{level}]"


def lua_script(requests: Sequence[WrkRequest], status: int, needles: Sequence[str]) -> str:
    items = []
    for r in requests:
        headers = ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}"
                            for k, v in r.headers.items())
        body = _lua_string(r.body) if r.body else "nil"
        items.append(f"{{{_lua_string(r.method)}, {_lua_string(r.path)}, {{{headers}}}, {body}}}")
    return (f"REQUESTS = {{{', '.join(items)}}}\nEXPECT_STATUS = {status}\n"
            f"NEEDLES = {{{', '.join(_lua_string(n) for n in needles)}}}\n{_LUA}")


@dataclass(frozen=True)
class WrkResult:
    rate: float
    ok: int
    bad: int
    socket_errors: str


def wrk(url: str, requests: Sequence[WrkRequest], *, seconds: float, status: int = 200,
        needles: Sequence[str] = ("",), connections: int = 8, threads: int = 1) -> WrkResult:
    """Drive ``url`` with wrk (keep-alive) for ``seconds``; every answer is checked."""
    if shutil.which("wrk") is None:
        raise BenchmarkError("wrk is not installed (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "check.lua"
        script.write_text(lua_script(requests, status, needles))
        argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
                "--timeout", "10s", "-s", str(script), url]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60,
                                  check=False)
        except subprocess.TimeoutExpired as exc:
            raise BenchmarkError(f"wrk did not finish: {exc}") from None
    out = done.stdout + done.stderr
    rate = re.search(r"Requests/sec:\s*([0-9.]+)", out)
    counts = re.search(r"BENCH ok=(\d+) bad=(\d+)", out)
    if done.returncode != 0 or rate is None or counts is None:
        raise BenchmarkError(f"wrk failed (exit {done.returncode}):\n{out[-2000:]}")
    ok, bad = int(counts[1]), int(counts[2])
    errors = re.search(r"Socket errors:([^\n]*)", out)
    if bad or not ok:
        first = re.search(r"BENCH first_bad=([^\n]*)", out)
        raise BenchmarkError(f"{bad} of {ok + bad} answers from {url} were not the expected "
                             f"HTTP {status}; first: {first[1] if first else '-'}")
    return WrkResult(rate=float(rate[1]), ok=ok, bad=bad,
                     socket_errors=errors[1].strip() if errors else "")
