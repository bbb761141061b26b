"""A tiny real OpenID Connect issuer on a loopback port: discovery and JWKS documents served
by ``http.server`` from a table the test edits (status, body, headers, a delay, a slow drip,
chunked transfer), counting the requests each path gets."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["IssuerServer", "Route", "running_issuer"]


@dataclass
class Route:
    """What one path answers. ``body``: bytes, or a callable giving a JSON-able value."""

    body: bytes | Callable[[], Any] = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering at all."""
    drip: float = 0.0
    """Seconds between single body bytes (a slow server), with no Content-Length."""
    chunked: bool = False


class IssuerServer:
    """A running issuer: ``issuer`` (``http://127.0.0.1:PORT/issuer``), ``routes`` by path,
    ``hits`` by path."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.port = server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.issuer = f"{self.base}/issuer"
        self.discovery_path = "/issuer/.well-known/openid-configuration"
        self.jwks_path = "/issuer/jwks"
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()

    def serve_keys(self, jwks: Callable[[], Any], issuer: str | None = None) -> None:
        """Discovery naming ``issuer`` (default: this one) and ``jwks_uri``, and the JWKS."""
        named = issuer or self.issuer
        self.routes[self.discovery_path] = Route(
            lambda: {"issuer": named, "jwks_uri": f"{self.base}{self.jwks_path}",
                     "id_token_signing_alg_values_supported": ["RS256", "ES256"]})
        self.routes[self.jwks_path] = Route(jwks)


def _handler(state: IssuerServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            with state.lock:
                state.hits[self.path] += 1
            route = state.routes.get(self.path, Route(b"not found", 404))
            if route.delay:
                time.sleep(route.delay)
            body = route.body() if callable(route.body) else route.body
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
            try:
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                if route.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                elif not route.drip:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if route.chunked:
                    for start in range(0, len(body), 4096):
                        piece = body[start:start + 4096]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                elif route.drip:
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(route.drip)
                else:
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (what the timeout tests want)

    return Handler


@contextmanager
def running_issuer() -> Iterator[IssuerServer]:
    """An issuer on ``127.0.0.1`` (a free port) for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = IssuerServer(server)
    server.RequestHandlerClass = _handler(state)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="test-issuer",
                              daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
