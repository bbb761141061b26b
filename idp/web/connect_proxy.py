"""A loopback-only HTTP CONNECT proxy whose only destination is the simulator itself.

SAML-to-AWS command-line tools post the SAML Response to ``https://signin.aws.amazon.com/saml``
with no way to change that URL. With ``HTTPS_PROXY=http://127.0.0.1:PORT`` they ask this proxy
for a tunnel instead (``CONNECT signin.aws.amazon.com:443``, RFC 9110 §9.3.6); the proxy
connects them to the simulator's own TLS listener and the client does TLS end to end with it,
trusting the test CA (``idp.tls``) whose server certificate names the sign-in hosts.

The proxy never dials anywhere else and never resolves a name:

- ``CONNECT`` to an AWS sign-in host (``idp.aws.vocabulary.is_sign_in_host``) on port 443:
  ``200 Connection established``, then bytes both ways until both sides have finished
  (a half-close is passed on as one), or until the tunnel has been idle for ``idle_timeout``;
- ``CONNECT`` to any other host, another port or an IP literal: ``403``;
- any other method: ``405`` with ``Allow: CONNECT``; a malformed head ``400``; a head over
  ``MAX_HEAD_BYTES`` ``431`` (counted as bytes arrive); no whole head within ``head_timeout``:
  ``408`` if part of one came, else just the close; more than ``max_connections`` at once:
  ``503``; the simulator's listener unreachable: ``502``.

Every answer but the ``200`` is short plain text with ``Content-Length`` and
``Connection: close``, followed by a lingering close (RFC 9112 §9.6: closing with unread input
would reset the connection and could destroy the answer). Each decision is one line on the
``idp.proxy`` logger: ``info`` for a tunnel, ``warning`` for a refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import re
import socket
from dataclasses import dataclass
from typing import Final

from idp.aws.vocabulary import is_sign_in_host
from idp.errors import IdPError
from idp.hosts import is_loopback
from idp.web.server import listen

__all__ = [
    "MAX_HEAD_BYTES",
    "TUNNEL_PORT",
    "ConnectProxy",
    "proxy_socket",
]

#: Largest request head (request line and headers) read before answering 431.
MAX_HEAD_BYTES: Final = 8 * 1024
#: The only port a tunnel may ask for: HTTPS.
TUNNEL_PORT: Final = 443
#: How long connecting to the simulator's listener may take before 502.
CONNECT_TIMEOUT: Final = 5.0
#: After a refusal: how long the rest of the client's input is read and dropped.
LINGER_SECONDS: Final = 2.0
_LINGER_BYTES: Final = 64 * 1024
#: Bounded wait for a closing connection's last bytes to leave.
_CLOSE_SECONDS: Final = 1.0
_CHUNK: Final = 64 * 1024
_ACCEPT_RETRY_SECONDS: Final = 0.5
_MAX_PORT: Final = 65535
#: A request line: token, authority or other target, HTTP/1.x (RFC 9112 §3; RFC 9110 §5.6.2).
_REQUEST_LINE_RE: Final = re.compile(
    rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\x7e]+) HTTP/1\.([01])")
#: A header field line: a token, a colon, then no bare control characters (RFC 9112 §5).
_FIELD_RE: Final = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*")
#: An authority-form host: reg-name characters or a bracketed IP literal (RFC 3986 §3.2.2).
_HOST_RE: Final = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=%-]+|\[[0-9A-Fa-f:.]+\]", re.ASCII)

_REASONS: Final = {400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed",
                   408: "Request Timeout", 431: "Request Header Fields Too Large",
                   502: "Bad Gateway", 503: "Service Unavailable"}
_ESTABLISHED: Final = b"HTTP/1.1 200 Connection established\r\n\r\n"

log = logging.getLogger("idp.proxy")


@dataclass(frozen=True)
class _Refusal:
    """An answer other than the tunnel: the status, the body, the log line's reason."""

    status: int
    body: str
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


def _printable(text: str | bytes, limit: int = 120) -> str:
    """``text`` safe for a log line or a plain-text body: printable ASCII, escapes, cut."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    cut = text[:limit]
    shown = "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in cut)
    return shown + ("..." if len(text) > limit else "")


def _answer(status: int, body: str, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    data = (body + "\n").encode("ascii", "backslashreplace")
    lines = [f"HTTP/1.1 {status} {_REASONS[status]}", "Content-Type: text/plain; charset=utf-8",
             f"Content-Length: {len(data)}", "Connection: close",
             *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + data


def _refuse_host(target: str, why: str) -> _Refusal:
    return _Refusal(403, "This proxy only reaches the IdP simulator's AWS sign-in twin "
                         "(signin.aws.amazon.com:443 and its regional hosts); it refused "
                         f"{_printable(target)}.", f"CONNECT {_printable(target)}: {why}")


def _parse_head(head: bytes) -> tuple[str, int] | _Refusal:
    """The (host, port) a well-formed ``CONNECT`` head asks for, or why not."""
    lines = [line[:-1] if line.endswith(b"\r") else line for line in head.split(b"\n")]
    while lines and not lines[0]:  # RFC 9112 §2.2: ignore empty lines before the request line
        lines.pop(0)
    match = _REQUEST_LINE_RE.fullmatch(lines[0]) if lines else None
    if match is None:
        return _Refusal(400, "Malformed request line.",
                        f"malformed request line '{_printable(lines[0] if lines else b'')}'")
    for field in lines[1:]:
        if field and _FIELD_RE.fullmatch(field) is None:
            # Also obsolete line folding (RFC 9112 §5.2) and space before the colon (§5.1).
            return _Refusal(400, "Malformed header field.",
                            f"malformed header field '{_printable(field)}'")
    method, target = match.group(1).decode("ascii"), match.group(2).decode("ascii")
    if method != "CONNECT":  # methods are case-sensitive (RFC 9110 §9.1)
        return _Refusal(405, "This proxy only tunnels HTTPS: send CONNECT host:443.",
                        f"{_printable(method)} {_printable(target)}: not CONNECT",
                        headers=(("Allow", "CONNECT"),))
    host, colon, port_text = target.rpartition(":")
    if (not colon or _HOST_RE.fullmatch(host) is None or not port_text.isdigit()
            or len(port_text) > len("65535") or int(port_text) > _MAX_PORT):
        return _Refusal(400, "CONNECT needs host:port (RFC 9110 section 9.3.6).",
                        f"CONNECT {_printable(target)}: not host:port")
    port = int(port_text)
    if host.startswith("[") or _is_ip(host):
        return _refuse_host(target, "an IP literal")
    if not is_sign_in_host(host):
        return _refuse_host(target, "not an AWS sign-in host")
    if port != TUNNEL_PORT:
        return _refuse_host(target, f"port {port}, not {TUNNEL_PORT}")
    return host, port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _head_end(buffer: bytes | bytearray) -> int:
    """The length of the head at the start of ``buffer`` (through its empty line), or -1.
    Bare LF line ends count too (RFC 9112 §2.2 allows a recipient to accept them)."""
    start = 0
    while buffer[start:start + 2] == b"\r\n" or buffer[start:start + 1] == b"\n":
        start += 2 if buffer[start:start + 1] == b"\r" else 1
    ends = [i + len(m) for m in (b"\r\n\r\n", b"\n\r\n", b"\n\n")
            if (i := buffer.find(m, start)) >= 0]
    return min(ends) if ends else -1


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if not isinstance(peer, tuple):
        return "?"
    host = str(peer[0])
    return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"


async def _shut(writer: asyncio.StreamWriter) -> None:
    """Close, waiting a bounded time for queued bytes to leave; then drop the connection."""
    writer.close()
    try:
        async with asyncio.timeout(_CLOSE_SECONDS):
            await writer.wait_closed()
    except (TimeoutError, OSError):
        writer.transport.abort()
    except BaseException:  # cancelled (the proxy is closing): drop it now
        writer.transport.abort()
        raise


def proxy_socket(host: str, port: int) -> socket.socket:
    """The proxy's listening socket, on loopback only (``IdPError`` otherwise): a CONNECT
    proxy reachable from elsewhere would hand other machines a path into the simulator."""
    if not is_loopback(host):
        raise IdPError(f"the CONNECT proxy listens on loopback only, not {host}")
    return listen(host, port)


class ConnectProxy:
    """The proxy: ``await start(sock)`` on a bound loopback socket, ``await close()`` to stop.

    Everything lives on the loop that called ``start``; ``close`` must run on that loop.
    ``upstream_host`` must be a loopback address (an IP literal: no name is looked up).
    """

    def __init__(self, *, upstream_port: int, upstream_host: str = "127.0.0.1",
                 max_connections: int = 256, head_timeout: float = 10.0,
                 idle_timeout: float = 300.0) -> None:
        if max_connections < 1:
            raise IdPError("the CONNECT proxy needs max_connections of at least 1")
        if not is_loopback(upstream_host):
            raise IdPError(f"the CONNECT proxy tunnels to the simulator on loopback only, "
                           f"not {upstream_host}")
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.max_connections = max_connections
        self.head_timeout = head_timeout
        self.idle_timeout = idle_timeout
        self._sock: socket.socket | None = None
        self._port = 0
        self._accepting: asyncio.Task[None] | None = None
        self._tasks: dict[asyncio.Task[None], socket.socket] = {}
        self._active = 0  # connections being served (a refused-for-load one is not)
        self._turned_away = 0  # connections answered 503, lingering
        self._closed = False

    @property
    def port(self) -> int:
        if self._sock is None:
            raise IdPError("the CONNECT proxy is not started")
        return self._port

    async def start(self, sock: socket.socket) -> None:
        """Serve on ``sock`` (listening, bound to a loopback address: use ``proxy_socket``).
        The proxy owns it from now on and closes it in ``close``."""
        if self._sock is not None or self._closed:
            raise IdPError("the CONNECT proxy was already started")
        host = sock.getsockname()[0]
        if not is_loopback(host):
            raise IdPError(f"the CONNECT proxy listens on loopback only, not {host}")
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise IdPError(f"the CONNECT proxy's socket on {host} is not listening")
        sock.setblocking(False)
        self._sock = sock
        self._port = int(sock.getsockname()[1])
        self._accepting = asyncio.get_running_loop().create_task(self._accept(sock))
        log.info("CONNECT proxy on %s:%d tunnels AWS sign-in to %s:%d", host, self.port,
                 self.upstream_host, self.upstream_port)

    async def close(self) -> None:
        """Stop accepting, close every open connection and wait for their tasks."""
        self._closed = True
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
        if self._sock is not None:
            self._sock.close()
        tasks = dict(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in tasks.values():  # a task cancelled before it ran never closed its socket
            conn.close()
        await asyncio.sleep(0)  # let aborted transports run their connection_lost (closes fds)

    # --- accepting ----------------------------------------------------------------------------

    async def _accept(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as exc:  # out of descriptors and the like: wait, try again
                log.warning("CONNECT proxy cannot accept: %s", exc.strerror or exc)
                await asyncio.sleep(_ACCEPT_RETRY_SECONDS)
                continue
            task = loop.create_task(self._connection(conn))
            self._tasks[task] = conn
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    async def _connection(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=conn, limit=_CHUNK)
        except OSError:
            conn.close()
            return
        try:
            if self._active >= self.max_connections:
                await self._turn_away(reader, writer)
            else:
                self._active += 1
                try:
                    await self._serve(reader, writer)
                finally:
                    self._active -= 1
        except Exception as exc:  # one line, never a traceback (RuntimeError, OSError...)
            log.warning("proxy connection from %s failed: %s", _peer(writer),
                        _printable(str(exc) or type(exc).__name__))
        finally:
            await _shut(writer)

    async def _turn_away(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        """503 for one over the cap; beyond twice the cap, not even that (just the close)."""
        if self._turned_away >= self.max_connections:
            return
        self._turned_away += 1
        try:
            refusal = _Refusal(503, "Too many connections to the proxy; try again later.",
                               f"{self.max_connections} connections already open")
            await self._refuse(reader, writer, refusal, _peer(writer))
        finally:
            self._turned_away -= 1

    # --- one connection -----------------------------------------------------------------------

    async def _read_head(self, reader: asyncio.StreamReader, peer: str
                         ) -> tuple[bytes, bytes] | _Refusal | None:
        """(head, what followed it) once a whole head came; ``None`` if the client left or
        stayed silent; a ``_Refusal`` for a head too large or too slow. Never reads more
        than ``MAX_HEAD_BYTES``: the bytes themselves are counted, not what headers say."""
        buffer = bytearray()
        try:
            async with asyncio.timeout(self.head_timeout):
                while (end := _head_end(buffer)) < 0:
                    if len(buffer) >= MAX_HEAD_BYTES:
                        return _Refusal(431, "The request head is too large.",
                                        f"a request head over {MAX_HEAD_BYTES} bytes")
                    chunk = await reader.read(MAX_HEAD_BYTES - len(buffer))
                    if not chunk:
                        if buffer:
                            log.warning("closed %s: it left before a whole request head", peer)
                        return None
                    buffer += chunk
        except TimeoutError:
            if not buffer:
                log.warning("closed %s: no request within %g s", peer, self.head_timeout)
                return None
            return _Refusal(408, "The request head did not arrive in time.",
                            f"a request head not whole within {self.head_timeout:g} s")
        return bytes(buffer[:end]), bytes(buffer[end:])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer)
        got = await self._read_head(reader, peer)
        if got is None:
            return
        target = got if isinstance(got, _Refusal) else _parse_head(got[0])
        if isinstance(target, _Refusal):
            await self._refuse(reader, writer, target, peer)
            return
        host, port = target
        upstream = await self._dial(host, port)
        if isinstance(upstream, _Refusal):
            await self._refuse(reader, writer, upstream, peer)
            return
        up_reader, up_writer = upstream
        log.info("tunnel opened: %s -> %s:%d via %s:%d", peer, host, port, self.upstream_host,
                 self.upstream_port)
        try:
            writer.write(_ESTABLISHED)
            early = got[1] if isinstance(got, tuple) else b""
            if early:  # a client that sent its TLS ClientHello without waiting for the 200
                up_writer.write(early)
            await self._pipe(reader, writer, up_reader, up_writer, f"{peer} -> {host}:{port}")
        finally:
            await _shut(up_writer)

    async def _dial(self, host: str, port: int
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | _Refusal:
        """Connect to the simulator's TLS listener (never to ``host``), or 502."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                return await asyncio.open_connection(self.upstream_host, self.upstream_port,
                                                     limit=_CHUNK)
        except (OSError, TimeoutError) as exc:
            why = ("timed out" if isinstance(exc, TimeoutError)
                   else os.strerror(exc.errno) if exc.errno else str(exc))
            return _Refusal(502, f"The simulator's TLS listener at {self.upstream_host}:"
                                 f"{self.upstream_port} is not answering ({why}).",
                            f"CONNECT {host}:{port}: upstream {self.upstream_host}:"
                            f"{self.upstream_port} unreachable ({why})")

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      refusal: _Refusal, peer: str) -> None:
        """Log the refusal (one line), send the answer, half-close, then read and drop what
        the client still sends (for at most ``LINGER_SECONDS`` and ``_LINGER_BYTES``) so the
        close does not reset the connection before the client has read the answer."""
        log.warning("refused %s (%d): %s", peer, refusal.status, refusal.reason)
        writer.write(_answer(refusal.status, refusal.body, refusal.headers))
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(LINGER_SECONDS):
                await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
                dropped = 0
                while dropped < _LINGER_BYTES and (chunk := await reader.read(_CHUNK)):
                    dropped += len(chunk)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter,
                    label: str) -> None:
        """Copy both ways until both directions ended (EOF passed on as ``write_eof``), one
        side failed, or nothing moved for ``idle_timeout`` seconds."""
        loop = asyncio.get_running_loop()
        last = [loop.time()]
        moved = {"up": 0, "down": 0}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter,
                       direction: str) -> None:
            while chunk := await source.read(_CHUNK):
                last[0] = loop.time()
                moved[direction] += len(chunk)
                sink.write(chunk)
                await sink.drain()
                last[0] = loop.time()
            if sink.can_write_eof() and not sink.is_closing():
                sink.write_eof()

        pumps = {loop.create_task(pump(reader, up_writer, "up")),
                 loop.create_task(pump(up_reader, writer, "down"))}
        why = "both sides finished"
        try:
            while pumps:
                wait = last[0] + self.idle_timeout - loop.time()
                if wait <= 0:
                    why = f"idle for {self.idle_timeout:g} s"
                    return
                done, pumps = await asyncio.wait(pumps, timeout=wait)
                for task in done:
                    if (exc := task.exception()) is not None:
                        why = _printable(str(exc) or type(exc).__name__)
                        return
        except asyncio.CancelledError:
            why = "the proxy is closing"
            raise
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            log.info("tunnel closed: %s, %s (%d bytes up, %d down)", label, why, moved["up"],
                     moved["down"])
