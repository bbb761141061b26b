"""How ``idp serve`` runs the application under uvicorn: the transport-level limits.

The application bounds what it reads (``idp.web.body``: body size and body timeout); this
module bounds what uvicorn does before and after the application sees a request:

- a request head (request line and headers) must arrive within ``Settings.header_timeout``
  seconds of the connection opening or of the previous answer, however slowly it trickles in
  (uvicorn 0.54 has no such limit: its keep-alive timer stops at the first byte), and is at most
  ``MAX_HEAD_BYTES`` (h11 answers 400 beyond); a partial head gets a bare 408, then the close;
- an answer sent before the request body was read to the end (413, 408, or a route that did
  not need the body) says ``Connection: close`` and the connection is not reused; the rest of
  the body is drained and dropped for at most ``LINGER_SECONDS`` after the answer (a "lingering
  close": closing a socket with unread data sends a TCP reset that can destroy the answer);
- a client that takes none of what is queued for it (however little) for ``write_timeout``
  seconds (``Settings.body_timeout``) is cut off; one that keeps taking it is not;
- a keep-alive connection is closed after ``MAX_REQUESTS_PER_CONNECTION`` answers or
  ``MAX_CONNECTION_SECONDS`` (a client that trickles small requests and never reads cannot keep
  its slot);
- a head larger than ``MAX_HEAD_BYTES`` gets 431 even when it arrives whole, and a request with
  both ``Content-Length`` and ``Transfer-Encoding`` is answered, then the connection closes
  (RFC 9112 §6.1: a request-smuggling attempt);
- the connection cap (``Settings.max_connections``) is enforced here rather than by uvicorn,
  whose 503, like its 400 and the protocol's own 408, would bypass the application's security
  headers; every answer the protocol gives itself carries them (``idp.web.headers``);
- at shutdown an idle TLS keep-alive connection is dropped rather than closed gracefully (a
  pooled client never answers the close_notify a graceful TLS close waits for);
- forwarded headers are never believed by uvicorn itself (``idp.web.app`` honours them only
  from ``Settings.trusted_proxies``), connections are capped per worker, idle keep-alive
  connections close, and there is no WebSocket upgrade.

``uvicorn_options`` binds the timeout with ``functools.partial`` on a module-level class, so the
``Config`` pickles for ``idp serve --workers N`` (uvicorn spawns workers with the parent's
``Config``).
"""

from __future__ import annotations

import asyncio
import functools
import socket
from typing import TYPE_CHECKING, Any, Final, cast

import h11
from uvicorn._types import (
    ASGI3Application,
    ASGIReceiveCallable,
    ASGISendCallable,
    ASGISendEvent,
    HTTPScope,
    Scope,
)
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from idp.errors import IdPError
from idp.settings import Settings
from idp.web.headers import DEFAULT_HEADERS

if TYPE_CHECKING:
    from idp.tls import TlsFiles

__all__ = [
    "KEEP_ALIVE_SECONDS",
    "LINGER_SECONDS",
    "MAX_CONNECTION_SECONDS",
    "MAX_HEAD_BYTES",
    "MAX_REQUESTS_PER_CONNECTION",
    "TLS_GRACE_SECONDS",
    "BoundedH11Protocol",
    "listen",
    "tls_options",
    "uvicorn_options",
]

#: Largest request head (request line plus headers) h11 buffers; beyond it, 400.
MAX_HEAD_BYTES: Final = 16 * 1024
#: Seconds an idle keep-alive connection stays open.
KEEP_ALIVE_SECONDS: Final = 5
#: Seconds the unread rest of a request body is drained (and dropped) before closing.
LINGER_SECONDS: Final = 2.0
#: A keep-alive connection serves at most this many requests, for at most this long; then its
#: next answer says ``Connection: close`` (nginx's ``keepalive_requests``/``keepalive_time``),
#: so a client that sends small requests and never reads cannot keep a slot for good.
MAX_REQUESTS_PER_CONNECTION: Final = 1000
MAX_CONNECTION_SECONDS: Final = 300.0

_CLOSE_HEADER: Final = (b"connection", b"close")
#: What the application's ``SecurityHeaders`` adds, for answers the protocol gives itself.
_SECURITY_HEADERS: Final = [(name.lower().encode("ascii"), value.encode("ascii"))
                            for name, value in DEFAULT_HEADERS.items()]
_TEXT: Final = (b"content-type", b"text/plain; charset=utf-8")


def _plain_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """Headers of a short plain-text ``Connection: close`` answer the protocol gives itself."""
    return [_TEXT, (b"content-length", str(len(body)).encode("ascii")), _CLOSE_HEADER,
            *_SECURITY_HEADERS]


def _raw_answer(status: int, reason: str, text: str) -> bytes:
    """A whole such answer as bytes, for when there is no request cycle to send it through."""
    body = text.encode("ascii")
    head = f"HTTP/1.1 {status} {reason}\r\n".encode("ascii") + b"".join(
        name + b": " + value + b"\r\n" for name, value in _plain_headers(body))
    return head + b"\r\n" + body


_HEAD_TIMEOUT_RESPONSE: Final = _raw_answer(408, "Request Timeout", "Request header timeout")


class _LingeringTransport(asyncio.Transport):
    """The connection's socket transport, except that ``close()`` while the client is still
    sending a body (which nobody will read) becomes a lingering close."""

    def __init__(self, inner: asyncio.Transport, protocol: BoundedH11Protocol) -> None:
        super().__init__()
        self.inner = inner
        self._protocol = protocol
        self._closing = False

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._protocol.body_unread():
            self._protocol.linger(self.inner)
        else:
            self.inner.close()

    def is_closing(self) -> bool:
        return self._closing or self.inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.inner.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.inner.get_protocol()

    def is_reading(self) -> bool:
        return self.inner.is_reading()

    def pause_reading(self) -> None:
        self.inner.pause_reading()

    def resume_reading(self) -> None:
        self.inner.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.inner.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self.inner.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.inner.get_write_buffer_limits()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.inner.write(data)
        self._protocol.count_written(len(data))

    def write_eof(self) -> None:
        self.inner.write_eof()

    def can_write_eof(self) -> bool:
        return self.inner.can_write_eof()

    def abort(self) -> None:
        self._closing = True
        self.inner.abort()


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the limits of the module docstring: a deadline on each
    request head, no reuse of a connection whose body was left unread, a write watchdog, a
    per-connection request budget, and the connection cap."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout: float = 10.0,
        write_timeout: float = 20.0,
        max_connections: int | None = None,
        linger: float = LINGER_SECONDS,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = header_timeout
        self.write_timeout = write_timeout
        self.max_connections = max_connections
        self._write_timer: asyncio.TimerHandle | None = None
        self._written = 0
        self._delivered_mark = 0
        self._requests = 0
        self._opened = self.loop.time()
        self.linger_seconds = linger
        self._inner_app: ASGI3Application = self.app
        self.app = self._app
        self._head_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._lingering = False
        self._lost = False

    # --- the request head deadline ------------------------------------------------------------

    def _await_head(self) -> None:
        """Start the clock for the next request head (data arriving does not restart it)."""
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:  # part of a head came: say why the line goes dead
            self.transport.write(_HEAD_TIMEOUT_RESPONSE)
        try:
            self.conn.send(h11.ConnectionClosed())
        except h11.LocalProtocolError:  # pragma: no cover - h11 allows it from IDLE
            pass
        self.transport.close()

    # --- answered before the body was read: say so, drain a little, then close --------------

    def body_unread(self) -> bool:
        """Whether the client is still (supposed to be) sending the current request's body."""
        return not self._lost and self.conn.their_state is h11.SEND_BODY

    def _overloaded(self) -> bool:
        """uvicorn's ``limit_concurrency`` rule (this connection and task already counted)."""
        limit = self.max_connections
        return limit is not None and (len(self.connections) > limit or len(self.tasks) > limit)

    async def _app(self, scope: Scope, receive: ASGIReceiveCallable,
                   send: ASGISendCallable) -> None:
        http = cast(HTTPScope, scope)  # this protocol serves HTTP only ("ws": "none")
        headers = http["headers"]
        names = {name for name, _ in headers}
        # RFC 9112 §6.1: a request with both Content-Length and Transfer-Encoding may be an
        # attempt at request smuggling; answer it, then close the connection.
        smuggled = b"content-length" in names and b"transfer-encoding" in names
        self._requests += 1
        worn_out = (self._requests >= MAX_REQUESTS_PER_CONNECTION
                    or self.loop.time() - self._opened >= MAX_CONNECTION_SECONDS)
        head_size = len(http["raw_path"] or b"") + len(http["query_string"]) + sum(
            len(name) + len(value) + 4 for name, value in headers)

        async def send_closing(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start" and (
                    self.body_unread() or smuggled or worn_out):
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"connection" and v.lower() == b"close"
                           for k, v in headers):
                    headers.append(_CLOSE_HEADER)
                message = {**message, "headers": headers}
            await send(message)

        if head_size > MAX_HEAD_BYTES:  # h11 caps only a head that arrives in pieces
            await _plain(send_closing, 431, "Request header fields too large")
        elif self._overloaded():
            self.logger.warning("Exceeded concurrency limit.")
            await _plain(send_closing, 503, "Service Unavailable")
        else:
            await self._inner_app(scope, receive, send_closing)

    # --- a client that does not take its answers -----------------------------------------

    def watch_writes(self) -> None:
        """Something is queued for the client: it must keep taking it (see ``_writes_due``)."""
        if self._write_timer is None and not self._lost and self._queued() > 0:
            self._delivered_mark = self._delivered()
            self._write_timer = self.loop.call_later(self.write_timeout, self._writes_due)

    def _queued(self) -> int:
        return self.transport.get_write_buffer_size()

    def _delivered(self) -> int:
        """Bytes handed to the kernel so far (written minus still queued)."""
        return self._written - self._queued()

    def _writes_due(self) -> None:
        """``write_timeout`` after something was queued: if the client took none of it, drop
        the connection (``abort``: a close would wait for the queue forever, holding a slot
        and blocking shutdown); if it took some, watch again."""
        self._write_timer = None
        if self._lost or self._queued() == 0:
            return
        if self._delivered() > self._delivered_mark:
            self.watch_writes()
        else:
            self.transport.abort()

    def count_written(self, size: int) -> None:
        self._written += size
        self.watch_writes()

    def _cancel_write_timer(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request h11 cannot parse, with the security headers too."""
        self.transport.write(_raw_answer(400, "Bad Request", msg))
        self.transport.close()

    def linger(self, inner: asyncio.Transport) -> None:
        """Instead of closing now: FIN after the answer, drop what comes, close soon."""
        self._lingering = True
        self._cancel_head_timer()
        self._unset_keepalive_if_required()
        if inner.can_write_eof():
            inner.write_eof()
        self.flow.resume_reading()
        inner.resume_reading()
        self._linger_timer = self.loop.call_later(self.linger_seconds, inner.close)

    # --- uvicorn's protocol hooks -------------------------------------------------------------

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(_LingeringTransport(transport, self))
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # the rest of a body nobody reads
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a whole head arrived (or the line broke)
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        if self.body_unread() and not self.transport.is_closing():
            self.transport.close()  # answered early without saying so: linger, never reuse
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_head()

    def shutdown(self) -> None:
        """uvicorn's graceful stop, except that an idle TLS connection is dropped at once: its
        graceful close waits for the client's close_notify (asyncio gives it 30 s), which a
        pooled client that keeps the connection alive never sends."""
        idle = self.cycle is None or self.cycle.response_complete
        super().shutdown()
        if idle and self.transport.get_extra_info("sslcontext") is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._cancel_head_timer()
        self._cancel_write_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        super().connection_lost(exc)


async def _plain(send: ASGISendCallable, status: int, text: str) -> None:
    """A short plain-text answer from the protocol itself, with the security headers."""
    body = text.encode("ascii")
    await send({"type": "http.response.start", "status": status,
                "headers": _plain_headers(body)})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a failure is one ``IdPError`` (``cannot listen on
    HOST:PORT: reason``) before anything is printed. ``SO_REUSEADDR``: a port whose last
    server just closed (connections in TIME_WAIT) is free again; inheritable, for workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on accepted sockets whose protocol is
    # IPPROTO_TCP; with 0, every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise IdPError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


#: How long a stopping TLS listener waits for a request still in progress (idle keep-alive
#: connections are dropped at once: ``BoundedH11Protocol.shutdown``).
TLS_GRACE_SECONDS: Final = 2


def tls_options(files: TlsFiles) -> dict[str, Any]:
    """What ``uvicorn.Config`` needs beyond ``uvicorn_options`` to serve HTTPS with ``files``
    (``idp serve --tls`` and ``Simulator(tls=True)`` alike)."""
    return {"ssl_certfile": str(files.server_cert), "ssl_keyfile": str(files.server_key),
            "timeout_graceful_shutdown": TLS_GRACE_SECONDS}


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` beyond the app, host, port and logging."""
    return {
        "http": functools.partial(BoundedH11Protocol, header_timeout=settings.header_timeout,
                                  write_timeout=settings.body_timeout,
                                  max_connections=settings.max_connections),
        "ws": "none",
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        "proxy_headers": False,
        "server_header": False,
        # The connection cap is BoundedH11Protocol's (uvicorn's own 503 bypasses the app's
        # security headers).
        "limit_concurrency": None,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
    }
