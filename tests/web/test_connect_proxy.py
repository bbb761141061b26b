"""``idp.web.connect_proxy``: a real proxy on a loopback port, in an event loop of its own
thread, in front of a real TLS responder (certificates from ``idp.tls.ensure_tls``) or a plain
echo server; clients are raw sockets, the stdlib ``ssl`` and ``http.client``, and ``curl``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import logging
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from idp.errors import IdPError
from idp.tls import TlsFiles, default_names, ensure_tls
from idp.web.connect_proxy import MAX_HEAD_BYTES, ConnectProxy, proxy_socket

T = TypeVar("T")
TIMEOUT = 3.0
SIGN_IN = "signin.aws.amazon.com"


class LoopThread:
    """An event loop running in a thread of its own, as a test harness would run the proxy."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="proxy-loop")
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)

    def stop(self) -> None:
        async def leftovers() -> list[asyncio.Task[Any]]:
            return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

        left = self.run(leftovers())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()
        self.loop.close()
        assert left == [], f"tasks left running: {left}"


@dataclass
class Responder:
    """The simulator's TLS listener, as far as the proxy can tell: answers each request with
    what it saw (method, path, SNI, body digest); ``sni`` lists every server name asked for."""

    files: TlsFiles
    sni: list[str | None] = field(default_factory=list)
    server: asyncio.Server | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> int:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.files.server_cert, self.files.server_key)
        context.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=context)
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            async with asyncio.timeout(TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
                method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = await reader.readexactly(length)
                sni = self.sni[-1] if self.sni else None
                text = (f"twin saw {method} {path} for {sni}; "
                        f"{len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()}")
                data = text.encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(data)
                             + data)
                await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(TIMEOUT):
                    await writer.wait_closed()
            self.tasks.discard(task)

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _echo_after_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A plain upstream that reads until the client half-closes, then sends it all back."""
    with contextlib.suppress(OSError):
        data = await reader.read()
        writer.write(data)
        await writer.drain()
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    runner = LoopThread()
    yield runner
    runner.stop()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return ensure_tls(tmp_path_factory.mktemp("certs"), default_names(None, sign_in=True))


@pytest.fixture(scope="module")
def responder(loop_thread: LoopThread, tls: TlsFiles) -> Iterator[tuple[Responder, int]]:
    twin = Responder(tls)
    port = loop_thread.run(twin.start())
    yield twin, port
    loop_thread.run(twin.close())


@pytest.fixture(scope="module")
def echo(loop_thread: LoopThread) -> Iterator[int]:
    async def start() -> asyncio.Server:
        return await asyncio.start_server(_echo_after_eof, "127.0.0.1", 0)

    server = loop_thread.run(start())
    yield int(server.sockets[0].getsockname()[1])

    async def stop() -> None:
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.05)  # its handlers finish (3.11's wait_closed does not wait)

    loop_thread.run(stop())


@contextlib.contextmanager
def running(loop_thread: LoopThread, upstream_port: int, **options: Any) -> Iterator[int]:
    """A started proxy's port; closed (and its tasks awaited) afterwards."""
    proxy = ConnectProxy(upstream_port=upstream_port, **options)

    async def start() -> None:
        await proxy.start(proxy_socket("127.0.0.1", 0))

    loop_thread.run(start())
    try:
        yield proxy.port
    finally:
        loop_thread.run(proxy.close())


@pytest.fixture
def proxy(loop_thread: LoopThread, responder: tuple[Responder, int]) -> Iterator[int]:
    with running(loop_thread, responder[1]) as port:
        yield port


@pytest.fixture
def client_context(tls: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls.ca_cert))  # this CA only
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


# --- helpers ----------------------------------------------------------------------------------


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)


def _read_to_eof(sock: socket.socket | ssl.SSLSocket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _read_head(sock: socket.socket) -> bytes:
    """Up to the end of the proxy's answer head, not a byte further (TLS follows it)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            break
        head += byte
    return head


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


def _ask(port: int, request: bytes) -> Answer:
    """Send ``request``, read the whole answer up to the proxy's close, check its framing."""
    with _connect(port) as sock:
        sock.sendall(request)
        raw = _read_to_eof(sock)
    return _parse(raw)


def _parse(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("ascii").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    return Answer(status, headers, body.decode("ascii"))


def _tunnel(port: int, host: str = SIGN_IN) -> socket.socket:
    sock = _connect(port)
    sock.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    assert _read_head(sock) == b"HTTP/1.1 200 Connection established\r\n\r\n"
    return sock


# --- tunnels ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "tls_name"), [
    (SIGN_IN, SIGN_IN),
    ("us-west-2.signin.aws.amazon.com", "us-west-2.signin.aws.amazon.com"),
    ("signin.amazonaws.cn", "signin.amazonaws.cn"),
    ("SIGNIN.aws.amazon.com.", SIGN_IN),  # the proxy takes any case and one trailing dot
])
def test_tunnel_reaches_the_simulator_with_tls_end_to_end(
        proxy: int, responder: tuple[Responder, int], client_context: ssl.SSLContext,
        host: str, tls_name: str, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="idp.proxy")
    sock = _tunnel(proxy, host)
    with client_context.wrap_socket(sock, server_hostname=tls_name) as tls:
        tls.sendall(f"GET /saml HTTP/1.1\r\nHost: {tls_name}\r\n\r\n".encode())
        answer = _parse(_read_to_eof(tls))
    assert answer.status == 200
    assert answer.body.startswith(f"twin saw GET /saml for {tls_name}; 0 bytes")
    assert responder[0].sni[-1] == tls_name
    opened = [r for r in caplog.records if r.name == "idp.proxy" and "tunnel opened" in r.message]
    assert len(opened) == 1 and opened[0].levelno == logging.INFO
    assert f"-> {host}:443 via 127.0.0.1:{responder[1]}" in opened[0].message


def test_tunnel_carries_a_large_body_both_ways(proxy: int, client_context: ssl.SSLContext):
    body = os.urandom(512 * 1024)
    with client_context.wrap_socket(_tunnel(proxy), server_hostname=SIGN_IN) as tls:
        tls.sendall(b"POST /saml HTTP/1.1\r\nHost: signin.aws.amazon.com\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body) + body)
        answer = _parse(_read_to_eof(tls))
    assert answer.body == (f"twin saw POST /saml for {SIGN_IN}; {len(body)} bytes, "
                           f"sha256 {hashlib.sha256(body).hexdigest()}")


def test_bytes_sent_with_the_connect_head_are_forwarded(proxy: int,
                                                        client_context: ssl.SSLContext):
    """A client may send its TLS ClientHello before it has read the 200."""
    with _connect(proxy) as raw:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = client_context.wrap_bio(incoming, outgoing, server_hostname=SIGN_IN)
        with contextlib.suppress(ssl.SSLWantReadError):
            tls.do_handshake()
        raw.sendall(b"CONNECT signin.aws.amazon.com:443 HTTP/1.1\r\n\r\n" + outgoing.read())
        assert _read_head(raw) == b"HTTP/1.1 200 Connection established\r\n\r\n"
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                incoming.write(raw.recv(65536))
        tls.write(b"GET /early HTTP/1.1\r\nHost: signin.aws.amazon.com\r\n\r\n")
        raw.sendall(outgoing.read())
        received = b""
        while b"twin saw" not in received:
            incoming.write(raw.recv(65536))
            with contextlib.suppress(ssl.SSLWantReadError):
                received += tls.read(65536)
    assert b"twin saw GET /early" in received


def test_half_close_is_passed_on(loop_thread: LoopThread, echo: int):
    """The echo server answers only once it has seen the client's EOF through the tunnel."""
    with running(loop_thread, echo) as port, _tunnel(port) as sock:
        sock.sendall(b"ping through the tunnel")
        sock.shutdown(socket.SHUT_WR)
        assert _read_to_eof(sock) == b"ping through the tunnel"


def test_idle_tunnel_is_closed(loop_thread: LoopThread, echo: int,
                               caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="idp.proxy")
    with running(loop_thread, echo, idle_timeout=0.2) as port, _tunnel(port) as sock:
        started = time.monotonic()
        assert sock.recv(100) == b""
        assert 0.15 < time.monotonic() - started < 2
    assert any("idle for 0.2 s" in r.message for r in caplog.records)


def test_python_http_client_through_the_tunnel(proxy: int, client_context: ssl.SSLContext):
    conn = http.client.HTTPSConnection("127.0.0.1", proxy, context=client_context,
                                       timeout=TIMEOUT)
    conn.set_tunnel(SIGN_IN, 443)
    try:
        conn.request("GET", "/saml")
        response = conn.getresponse()
        assert response.status == 200
        assert response.read().decode().startswith(f"twin saw GET /saml for {SIGN_IN};")
    finally:
        conn.close()


def test_curl_through_the_proxy(proxy: int, tls: TlsFiles):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    done = subprocess.run(
        [curl, "-q", "-sS", "--max-time", "5", "-x", f"http://127.0.0.1:{proxy}",
         "--cacert", str(tls.ca_cert), f"https://{SIGN_IN}/saml"],
        capture_output=True, text=True, timeout=10, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"twin saw GET /saml for {SIGN_IN};")


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("target", "why"), [
    ("example.com:443", "not an AWS sign-in host"),
    ("signin.aws.amazon.com:80", "port 80, not 443"),
    ("signin.aws.amazon.com:8443", "port 8443, not 443"),
    ("127.0.0.1:443", "an IP literal"),
    ("[::1]:443", "an IP literal"),
    ("console.aws.amazon.com:443", "not an AWS sign-in host"),
    ("signin.aws.amazon.com.example.com:443", "not an AWS sign-in host"),
])
def test_other_destinations_are_forbidden(proxy: int, responder: tuple[Responder, int],
                                          target: str, why: str,
                                          caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="idp.proxy")
    before = len(responder[0].sni)
    answer = _ask(proxy, f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    assert answer.status == 403
    assert "only reaches the IdP simulator's AWS sign-in twin" in answer.body
    assert f"refused {target}." in answer.body
    assert len(responder[0].sni) == before  # nothing reached the simulator
    refusals = [r for r in caplog.records if r.name == "idp.proxy"]
    assert [r.levelno for r in refusals] == [logging.WARNING]
    assert f"CONNECT {target}: {why}" in refusals[0].message


def test_other_methods_are_not_allowed(proxy: int):
    answer = _ask(proxy, b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert answer.status == 405
    assert answer.headers["allow"] == "CONNECT"


@pytest.mark.parametrize("request_bytes", [
    b"hello world\r\n\r\n",
    b"CONNECT signin.aws.amazon.com HTTP/1.1\r\n\r\n",
    b"CONNECT signin.aws.amazon.com:https HTTP/1.1\r\n\r\n",
    b"CONNECT signin.aws.amazon.com:99999 HTTP/1.1\r\n\r\n",
    b"CONNECT signin.aws.amazon.com:443 HTTP/2.0\r\n\r\n",
    b"CONNECT  signin.aws.amazon.com:443 HTTP/1.1\r\n\r\n",
    b"CONNECT signin.aws.amazon.com:443 HTTP/1.1\r\nHost : x\r\n\r\n",
    b"CONNECT signin.aws.amazon.com:443 HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
    b"CONNECT sign\xc3\xafn.aws.amazon.com:443 HTTP/1.1\r\n\r\n",
    b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00\n\n",
])
def test_malformed_heads_are_bad_requests(proxy: int, request_bytes: bytes):
    assert _ask(proxy, request_bytes).status == 400


def test_bare_line_feeds_and_leading_empty_lines_are_accepted(loop_thread: LoopThread,
                                                              echo: int):
    with running(loop_thread, echo) as port, _connect(port) as sock:
        sock.sendall(b"\r\nCONNECT signin.aws.amazon.com:443 HTTP/1.0\nHost: x\n\n")
        assert _read_head(sock) == b"HTTP/1.1 200 Connection established\r\n\r\n"


@pytest.mark.parametrize("whole", [False, True])
def test_oversized_head_is_refused(proxy: int, whole: bool):
    head = b"CONNECT signin.aws.amazon.com:443 HTTP/1.1\r\nX-Pad: " + b"a" * MAX_HEAD_BYTES
    assert _ask(proxy, head + (b"\r\n\r\n" if whole else b"")).status == 431


def test_head_of_exactly_the_limit_is_accepted(loop_thread: LoopThread, echo: int):
    start = b"CONNECT signin.aws.amazon.com:443 HTTP/1.1\r\nX-Pad: "
    head = start + b"a" * (MAX_HEAD_BYTES - len(start) - 4) + b"\r\n\r\n"
    assert len(head) == MAX_HEAD_BYTES
    with running(loop_thread, echo) as port, _connect(port) as sock:
        sock.sendall(head)
        assert _read_head(sock).startswith(b"HTTP/1.1 200 ")


def test_slow_head_times_out(loop_thread: LoopThread, responder: tuple[Responder, int],
                             caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="idp.proxy")
    with running(loop_thread, responder[1], head_timeout=0.2) as port:
        started = time.monotonic()
        answer = _ask(port, b"CONNECT signin.aws.amazon.com:443 HTTP/1.1\r\n")
        assert answer.status == 408
        with _connect(port) as silent:  # said nothing at all: just the close
            assert silent.recv(100) == b""
        assert time.monotonic() - started < 2
    assert any("no request within 0.2 s" in r.message for r in caplog.records)


def test_connections_beyond_the_cap_get_503(loop_thread: LoopThread, echo: int):
    with running(loop_thread, echo, max_connections=1) as port, _tunnel(port):
        answer = _ask(port, b"CONNECT signin.aws.amazon.com:443 HTTP/1.1\r\n\r\n")
        assert answer.status == 503


def test_unreachable_simulator_is_a_bad_gateway(loop_thread: LoopThread):
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        closed_port = spare.getsockname()[1]  # bound, never listening: connections refused
        with running(loop_thread, closed_port) as port:
            answer = _ask(port, b"CONNECT signin.aws.amazon.com:443 HTTP/1.1\r\n\r\n")
    assert answer.status == 502
    assert f"127.0.0.1:{closed_port} is not answering" in answer.body
    assert "\n" not in answer.body.rstrip("\n")


def test_close_ends_open_tunnels(loop_thread: LoopThread, echo: int):
    with running(loop_thread, echo) as port:
        sock = _tunnel(port)
    with sock:
        assert sock.recv(100) == b""  # the proxy closed it


# --- binding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com", ""])  # noqa: S104
def test_non_loopback_host_is_refused(host: str):
    with pytest.raises(IdPError, match="loopback only"):
        proxy_socket(host, 0)


def test_start_refuses_a_socket_bound_elsewhere(loop_thread: LoopThread):
    proxy = ConnectProxy(upstream_port=1)
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))  # bound only, never listening  # noqa: S104

        async def start() -> None:
            await proxy.start(sock)

        with pytest.raises(IdPError, match="loopback only"):
            loop_thread.run(start())
    with pytest.raises(IdPError, match="not started"):
        _ = proxy.port


def test_start_refuses_a_socket_that_is_not_listening(loop_thread: LoopThread):
    proxy = ConnectProxy(upstream_port=1)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))

        async def start() -> None:
            await proxy.start(sock)

        with pytest.raises(IdPError, match="not listening"):
            loop_thread.run(start())


@pytest.mark.parametrize("upstream", ["192.0.2.10", "signin.aws.amazon.com", "0.0.0.0"])  # noqa: S104
def test_upstream_must_be_loopback(upstream: str):
    with pytest.raises(IdPError, match="loopback only"):
        ConnectProxy(upstream_port=443, upstream_host=upstream)
