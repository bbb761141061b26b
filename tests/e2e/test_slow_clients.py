"""Slow, oversized and vanishing clients against the real ``idp serve``, over raw sockets.

One server for the module with ``IDP_BODY_TIMEOUT=1`` and ``IDP_HEADER_TIMEOUT=1``. Bodies are
counted while they stream (chunked bodies included) and refused at the limit without being
buffered; a body or a request head that stalls is cut off in bounded time; a client that
leaves mid-body is one log line. Every socket operation has a timeout; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import pickle
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx2
import pytest

from idp.settings import Settings
from idp.web.server import MAX_HEAD_BYTES, MAX_REQUESTS_PER_CONNECTION, uvicorn_options
from tests.support.faults import rss_bytes, serving
from tests.support.http import auto_post, csrf, pending_id
from tests.support.server import LiveServer, start, stop

pytestmark = pytest.mark.live

HEADER_TIMEOUT: Final = 1
BODY_TIMEOUT: Final = 1
#: Slack for a loaded CI machine on top of the server's own timeouts (seconds).
MARGIN: Final = 2.0
IO_TIMEOUT: Final = 5.0
FORM: Final = "application/x-www-form-urlencoded"
BIG: Final = 5 * 1024 * 1024
CHUNK: Final = 64 * 1024
FORM_ROUTES: Final = ("/aws/saml", "/idp/login", "/idp/sso")
STALL_ROUTES: Final = ("/aws/sts", "/aws/saml", "/aws/logout", "/idp/login", "/idp/logout",
                       "/idp/sso")


#: ``idp serve`` with short limits, so stalls are answered within about a second.
SHORT_TIMEOUTS: Final = {"IDP_BODY_TIMEOUT": str(BODY_TIMEOUT),
                         "IDP_HEADER_TIMEOUT": str(HEADER_TIMEOUT)}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("slow_clients")
    server = start(workdir, workdir / "certs", env=SHORT_TIMEOUTS)
    try:
        yield server
    finally:
        code = stop(server)
    assert code == 0, f"idp serve did not exit 0 after SIGINT (got {code}):\n{server.output()}"


@pytest.fixture(scope="module")
def console_cookie(live: LiveServer) -> str:
    """A signed-in console session (bob), so ``/aws/logout`` reads its form."""
    with httpx2.Client(base_url=live.url, timeout=IO_TIMEOUT) as browser:
        first = browser.get("/idp/init", follow_redirects=True)
        page = browser.post("/idp/login", follow_redirects=True, data={
            "username": "bob", "password": "bob-password", "pending": pending_id(str(first.url)),
            "csrf_token": csrf(first.text)})
        posted = auto_post(page.text)
        signed_in = browser.post("/aws/saml", data={"SAMLResponse": posted.saml_response,
                                                    "RelayState": posted.relay_state})
        assert signed_in.status_code == 303, signed_in.text[:500]
        cookie = signed_in.cookies.get("aws_console")
    assert cookie
    return f"aws_console={cookie}"


# --- raw HTTP ----------------------------------------------------------------------------------


def connect(live: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=IO_TIMEOUT)
    sock.settimeout(IO_TIMEOUT)
    return sock


def head(method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    at: float = 0.0
    """``time.monotonic()`` when the status line arrived."""


def read_answer(sock: socket.socket, timeout: float = IO_TIMEOUT) -> Answer:
    """One HTTP response (Content-Length framed), within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    data = b""
    at = 0.0
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        more = sock.recv(65536)
        if not more:
            raise AssertionError(f"connection closed before a response: {data!r}")
        at = at or time.monotonic()
        data += more
    raw_head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip()
               for k, v in (line.split(":", 1) for line in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        more = sock.recv(65536)
        if not more:
            break
        body += more
    return Answer(int(status_line.split()[1]), headers, body, at)


def closed_within(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes the connection within ``timeout`` (data is dropped)."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False


@dataclass
class Progress:
    """How far the sender thread got (it may be cut off once the server has answered)."""

    sent: int = 0
    done: bool = False
    error: str | None = None


def send_chunked(sock: socket.socket, total: int, progress: Progress) -> None:
    """Send ``total`` body bytes as 64 KiB chunks (paced a little), then the last chunk."""
    payload = b"SAMLResponse=" + b"A" * (CHUNK - 13)
    try:
        while progress.sent < total:
            piece = payload if progress.sent == 0 else b"A" * CHUNK
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            progress.sent += len(piece)
            time.sleep(0.002)
        sock.sendall(b"0\r\n\r\n")
        progress.done = True
    except OSError as exc:  # the server may stop reading once it has answered
        progress.error = repr(exc)


def refuse_big_chunked_body(live: LiveServer, path: str) -> Answer:
    """POST a 5 MB chunked body and read the answer while it is still being sent."""
    sock = connect(live)
    with contextlib.closing(sock):
        sock.sendall(head("POST", path, Content_Type=FORM, Transfer_Encoding="chunked"))
        progress = Progress()
        sender = threading.Thread(target=send_chunked, args=(sock, BIG, progress), daemon=True)
        sender.start()
        answer = read_answer(sock)
        sent_when_answered = progress.sent
        assert answer.headers.get("connection") == "close", answer.headers
        sender.join(timeout=IO_TIMEOUT)
        assert not sender.is_alive(), "the sender is stuck"
        assert sent_when_answered < BIG, f"answered only after the whole body was sent: {progress}"
        assert closed_within(sock, 2 * IO_TIMEOUT), "the connection was reused after a refusal"
    return answer


def output_since(live: LiveServer, offset: int) -> str:
    return live.output()[offset:]


# --- chunked bodies over the limit -------------------------------------------------------------


def warm_up(live: LiveServer) -> None:
    """Hit each route once so first-use allocations do not count as body memory."""
    with httpx2.Client(base_url=live.url, timeout=IO_TIMEOUT) as client:
        for path in ("/aws/sts", *FORM_ROUTES):
            client.post(path, content=b"x" * 300_000, headers={"Content-Type": FORM})
            client.post(path, content=b"a=b", headers={"Content-Type": FORM})


def test_chunked_sts_body_over_the_limit_is_refused_early_without_buffering(live):
    warm_up(live)
    before = rss_bytes([live.process.pid])
    started = time.monotonic()
    answer = refuse_big_chunked_body(live, "/aws/sts")
    assert time.monotonic() - started < IO_TIMEOUT
    assert answer.status == 413
    assert answer.headers["content-type"].startswith("text/xml")
    assert b"<Code>ValidationError</Code>" in answer.body
    assert b"Request body is larger than 262144 bytes" in answer.body
    grown = rss_bytes([live.process.pid]) - before
    assert grown < BIG // 4, f"server memory grew by {grown} bytes for a refused body"


@pytest.mark.parametrize("path", FORM_ROUTES)
def test_chunked_form_over_the_limit_is_refused_early(live, path):
    before = rss_bytes([live.process.pid])
    answer = refuse_big_chunked_body(live, path)
    assert 400 <= answer.status < 500
    assert answer.headers["content-type"].startswith("text/html")
    assert b"larger than 262144 bytes" in answer.body
    grown = rss_bytes([live.process.pid]) - before
    assert grown < BIG // 4, f"server memory grew by {grown} bytes for a refused form"


# --- stalled bodies and heads --------------------------------------------------------------------


def test_a_stalled_body_is_answered_408_on_every_body_route(live, console_cookie):
    """Content-Length 1000, 10 bytes sent, then nothing: 408 after the body timeout."""
    socks = {}
    started = time.monotonic()
    for path in STALL_ROUTES:
        sock = connect(live)
        cookie = {"Cookie": console_cookie} if path == "/aws/logout" else {}
        sock.sendall(head("POST", path, Content_Type=FORM, Content_Length="1000", **cookie)
                     + b"Action=Get")
        socks[path] = sock
    answers = {}
    try:
        for path, sock in socks.items():
            answer = read_answer(sock, timeout=BODY_TIMEOUT + MARGIN + 1)
            answers[path] = (answer.status, answer.at - started < BODY_TIMEOUT + MARGIN,
                             closed_within(sock, MARGIN + 1))
            if path == "/aws/sts":
                assert b"<Code>RequestTimeout</Code>" in answer.body
            else:
                assert b"did not arrive within 1 second." in answer.body
    finally:
        for sock in socks.values():
            sock.close()
    assert answers == {path: (408, True, True) for path in STALL_ROUTES}
    assert time.monotonic() - started >= BODY_TIMEOUT * 0.9  # not refused before its time


def test_half_a_request_head_is_cut_off_after_the_header_timeout(live):
    with contextlib.closing(connect(live)) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /aws/sts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        answer = read_answer(sock, timeout=HEADER_TIMEOUT + MARGIN)
        assert answer.status == 408
        assert closed_within(sock, MARGIN)
        assert time.monotonic() - started < HEADER_TIMEOUT + MARGIN


def test_a_trickled_head_does_not_keep_the_connection(live):
    """A byte every 0.2 s never finishes the head: the deadline is not reset by data."""
    with contextlib.closing(connect(live)) as sock:
        started = time.monotonic()
        closed = False
        for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.2)
            if time.monotonic() - started > HEADER_TIMEOUT + MARGIN:
                break
        closed = closed or closed_within(sock, 0.1)
        assert closed
        assert time.monotonic() - started < HEADER_TIMEOUT + MARGIN + 0.5


def test_a_silent_connection_is_closed_after_the_header_timeout(live):
    with contextlib.closing(connect(live)) as sock:
        started = time.monotonic()
        assert closed_within(sock, HEADER_TIMEOUT + MARGIN)
        assert time.monotonic() - started < HEADER_TIMEOUT + MARGIN


def test_twenty_stalled_clients_do_not_stop_a_normal_request(live):
    stalled = [connect(live) for _ in range(20)]
    try:
        for index, sock in enumerate(stalled):
            if index % 2:
                sock.sendall(b"GET /idp/metadata HTTP/1.1\r\nHost: 1")  # half a head
            else:
                sock.sendall(head("POST", "/aws/sts", Content_Type=FORM,
                                  Content_Length="1000") + b"Act")  # half a body
        started = time.monotonic()
        response = httpx2.get(f"{live.url}/healthz", timeout=IO_TIMEOUT)
        assert response.status_code == 200 and response.text == "ok"
        assert time.monotonic() - started < 1.0
        deadline = time.monotonic() + max(HEADER_TIMEOUT, BODY_TIMEOUT) + MARGIN
        still_open = [s for s in stalled
                      if not closed_within(s, max(0.05, deadline - time.monotonic()))]
        assert still_open == [], "the server still holds stalled connections"
    finally:
        for sock in stalled:
            sock.close()


# --- a client that leaves ---------------------------------------------------------------------


def test_a_client_leaving_mid_body_is_one_quiet_log_line(live):
    offset = len(live.output())
    for path in ("/aws/sts", "/idp/login"):
        with contextlib.closing(connect(live)) as sock:
            sock.sendall(head("POST", path, Content_Type=FORM, Content_Length="1000")
                         + b"Action=Get")
            time.sleep(0.1)  # the route is waiting for the rest
    deadline = time.monotonic() + IO_TIMEOUT
    pattern = re.compile(r"client went away mid-request: POST (/aws/sts|/idp/login)$", re.M)
    while len(pattern.findall(output_since(live, offset))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    log = output_since(live, offset)
    assert sorted(pattern.findall(log)) == ["/aws/sts", "/idp/login"], log
    assert "Traceback" not in log and "ERROR" not in log, log
    assert len([line for line in log.splitlines() if line.strip()]) == 2, log


# --- what must keep working ----------------------------------------------------------------------


def test_keep_alive_still_serves_several_requests_on_one_connection(live):
    """A request whose body was read whole leaves the connection reusable."""
    with contextlib.closing(connect(live)) as sock:
        for _ in range(2):
            sock.sendall(head("GET", "/healthz"))
            assert read_answer(sock).body == b"ok"
            body = b"Action=GetCallerIdentity&Version=2011-06-15"
            sock.sendall(head("POST", "/aws/sts", Content_Type=FORM,
                              Content_Length=str(len(body))) + body)
            answer = read_answer(sock)
            assert answer.status == 403 and "connection" not in answer.headers


def test_an_answer_before_the_body_says_connection_close(live):
    """/healthz does not read the body it was sent: the connection is not reused."""
    with contextlib.closing(connect(live)) as sock:
        sock.sendall(head("GET", "/healthz", Content_Length="100") + b"abc")
        answer = read_answer(sock)
        assert answer.body == b"ok" and answer.headers["connection"] == "close"
        assert closed_within(sock, MARGIN)


def test_an_unfinished_head_past_the_size_cap_is_refused_at_once(live):
    """h11 buffers at most MAX_HEAD_BYTES of an unfinished head: 400 without waiting."""
    with contextlib.closing(connect(live)) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
                     + b"a" * (MAX_HEAD_BYTES + 1024))
        assert read_answer(sock).status == 400
        assert time.monotonic() - started < HEADER_TIMEOUT
        assert closed_within(sock, MARGIN)


SECURITY = {"x-frame-options": "DENY", "x-content-type-options": "nosniff",
            "cache-control": "no-store"}


def assert_security_headers(answer: Answer) -> None:
    for name, value in SECURITY.items():
        assert answer.headers.get(name) == value, (name, answer.headers)
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"POST /aws/sts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
])
def test_answers_the_protocol_gives_itself_carry_the_security_headers(live, raw):
    """uvicorn's own 400 for a request h11 cannot parse: still not frameable, not cached."""
    with contextlib.closing(connect(live)) as sock:
        sock.sendall(raw)
        answer = read_answer(sock)
    assert answer.status == 400
    assert_security_headers(answer)


def test_the_header_timeout_answer_carries_the_security_headers(live):
    with contextlib.closing(connect(live)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        answer = read_answer(sock, timeout=HEADER_TIMEOUT + MARGIN)
    assert answer.status == 408
    assert_security_headers(answer)


def test_a_complete_head_past_the_size_cap_is_refused_too(live):
    """A head larger than MAX_HEAD_BYTES that arrives in one piece (h11 only caps unfinished
    heads) gets 431 and the connection closes."""
    big = head("GET", "/healthz", X_Big="a" * (MAX_HEAD_BYTES + 1024))
    with contextlib.closing(connect(live)) as sock:
        sock.sendall(big)
        answer = read_answer(sock)
        assert answer.status == 431
        assert_security_headers(answer)
        assert closed_within(sock, MARGIN)


def test_content_length_with_transfer_encoding_closes_the_connection(live):
    """RFC 9112 §6.1: answer such a request, then close; a request smuggled behind it is
    never served."""
    body = b"18\r\nAction=GetCallerIdentity\r\n0\r\n\r\n"
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with contextlib.closing(connect(live)) as sock:
        sock.sendall(head("POST", "/aws/sts", Content_Type=FORM, Content_Length="4",
                          Transfer_Encoding="chunked") + body + smuggled)
        answer = read_answer(sock)
        assert answer.headers["connection"] == "close"
        assert closed_within(sock, MARGIN)


def test_a_client_that_stops_reading_answers_is_cut_off(live):
    """6000 pipelined requests whose answers (14 MB) are never read: once the server has
    waited the write timeout (the body timeout) for the client to read, it drops the
    connection, having sent no more than what the kernel's socket buffers hold (a few MB)."""
    request = head("GET", "/idp/login")
    with contextlib.closing(socket.socket()) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(0.5)
        sock.connect(("127.0.0.1", live.port))
        with contextlib.suppress(OSError):  # the server may stop reading before the end
            for _ in range(6000):
                sock.sendall(request)
        time.sleep(BODY_TIMEOUT + 2 * MARGIN)
        sock.settimeout(IO_TIMEOUT)
        received, cut = 0, False
        try:
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
            cut = True  # closed
        except ConnectionResetError:
            cut = True
        except TimeoutError:
            pass
    assert cut
    assert received < 6_000_000, received


def test_beyond_max_connections_is_a_503_with_the_security_headers(tmp_path):
    """``IDP_MAX_CONNECTIONS=2``: two held connections, and the third is told 503 at once
    (with the headers every answer carries); once they are cut, service resumes."""
    with serving(tmp_path, tmp_path / "certs", tmp_path / "data",
                 env={**SHORT_TIMEOUTS, "IDP_MAX_CONNECTIONS": "2"}) as server:
        held = [connect(server) for _ in range(2)]
        try:
            for sock in held:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
            with contextlib.closing(connect(server)) as third:
                third.sendall(head("GET", "/healthz"))
                answer = read_answer(third)
            assert answer.status == 503
            assert_security_headers(answer)
            for sock in held:
                assert read_answer(sock, timeout=HEADER_TIMEOUT + MARGIN).status == 408
            with contextlib.closing(connect(server)) as later:
                later.sendall(head("GET", "/healthz"))
                assert read_answer(later).status == 200
        finally:
            for sock in held:
                sock.close()


def server_socket(server_port: int, client_port: int) -> tuple[str, int] | None:
    """The server side of a connection in /proc/net/tcp: (state, bytes queued in the kernel)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
        if int(local, 16) == server_port and int(remote, 16) == client_port:
            return fields[3], int(fields[4].split(":")[0], 16)
    return None


ESTABLISHED: Final = "01"


def hold_with_a_little_queued(server: LiveServer, answer_size: int) -> socket.socket:
    """A connection whose answers fill the kernel's buffers, plus a few KB (less than uvicorn's
    64 KiB high-water mark, so asyncio never pauses writing) queued inside the server:
    batches of pipelined requests (each under 64 KiB of answers) until the kernel's queue
    settles below what was asked for."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.settimeout(IO_TIMEOUT)
    sock.connect(("127.0.0.1", server.port))
    client_port = sock.getsockname()[1]
    batch = max(1, 48 * 1024 // answer_size)

    def kernel_queue() -> int:
        found = server_socket(server.port, client_port)
        return found[1] if found else 0

    asked = 0
    for _ in range(500):
        sock.sendall(head("GET", "/idp/login") * batch)
        asked += batch * answer_size
        settled, queued = 0, kernel_queue()
        while settled < 3:  # unchanged for 0.15 s: the server has written what it could
            time.sleep(0.05)
            now = kernel_queue()
            settled, queued = (settled + 1, now) if now == queued else (0, now)
        if asked - queued > 2 * answer_size:
            return sock  # the kernel is full and the server holds the rest
    raise AssertionError("the server's kernel buffer never filled")


def test_a_client_that_takes_nothing_is_cut_off_however_little_is_queued(tmp_path):
    """A connection that stops reading with a few KB queued in the server (below the
    high-water mark that pauses writing) is let go once it has taken nothing for the write
    timeout: it no longer holds a connection slot, nor blocks shutdown. (A server with a
    longer write timeout, so that filling the buffers is not itself cut short.)"""
    write_timeout = 4
    with serving(tmp_path, tmp_path / "certs", tmp_path / "data",
                 env={"IDP_BODY_TIMEOUT": str(write_timeout)}) as server:
        with contextlib.closing(connect(server)) as probe:
            probe.sendall(head("GET", "/idp/login"))
            answer = read_answer(probe)
        assert answer.status == 200
        answer_size = len(answer.body) + len(b"HTTP/1.1 200 OK\r\n\r\n") + sum(
            len(name) + len(value) + 4 for name, value in answer.headers.items())
        with contextlib.closing(hold_with_a_little_queued(server, answer_size)) as held:
            client_port = held.getsockname()[1]
            found = server_socket(server.port, client_port)
            assert found is not None and found[0] == ESTABLISHED, found
            time.sleep(write_timeout + MARGIN)
            found = server_socket(server.port, client_port)
            # Closed by the server (the kernel may still be flushing the orphaned socket).
            assert found is None or found[0] != ESTABLISHED, found


def test_a_keep_alive_connection_ends_after_its_request_budget(live):
    """A client that keeps one connection busy with small requests (which fit in the kernel's
    buffers, so no write ever waits) gets ``Connection: close`` on answer number
    MAX_REQUESTS_PER_CONNECTION and the connection ends."""
    with contextlib.closing(connect(live)) as sock:
        for number in range(1, MAX_REQUESTS_PER_CONNECTION + 1):
            sock.sendall(head("GET", "/healthz"))
            answer = read_answer(sock)
            assert answer.status == 200
            if number < MAX_REQUESTS_PER_CONNECTION:
                assert "connection" not in answer.headers, number
        assert answer.headers["connection"] == "close"
        assert closed_within(sock, MARGIN)


def test_the_protocol_options_pickle_for_worker_processes():
    """uvicorn spawns ``--workers N`` with the parent's Config: the bound class must pickle."""
    options = uvicorn_options(Settings(header_timeout=3))
    protocol = pickle.loads(pickle.dumps(options["http"]))  # noqa: S301 (our own bytes)
    assert protocol.keywords == {"header_timeout": 3, "write_timeout": 20,
                                 "max_connections": 512}
    assert options["proxy_headers"] is False and options["h11_max_incomplete_event_size"]


def test_timeouts_hold_in_every_worker(tmp_path):
    """``--workers 2``: each worker bounds heads and bodies (several connections, so both
    workers are likely to take some)."""
    with serving(tmp_path, tmp_path / "certs", tmp_path / "data", workers=2,
                 env=SHORT_TIMEOUTS) as server:
        heads = [connect(server) for _ in range(4)]
        bodies = [connect(server) for _ in range(4)]
        try:
            started = time.monotonic()
            for sock in heads:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
            for sock in bodies:
                sock.sendall(head("POST", "/aws/sts", Content_Type=FORM, Content_Length="100")
                             + b"Ac")
            statuses = [read_answer(s, timeout=HEADER_TIMEOUT + MARGIN).status for s in heads]
            statuses += [read_answer(s, timeout=BODY_TIMEOUT + MARGIN).status for s in bodies]
            assert statuses == [408] * 8
            assert time.monotonic() - started < max(HEADER_TIMEOUT, BODY_TIMEOUT) + MARGIN
        finally:
            for sock in heads + bodies:
                sock.close()


def test_no_traceback_in_the_whole_server_log(live):
    """Last: nothing above made the server log a traceback or an error."""
    assert "Traceback" not in live.output() and "ERROR" not in live.output(), live.output()
