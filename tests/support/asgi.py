"""Driving an ASGI app by hand: a ``receive`` that feeds chunks then ends, stalls or
disconnects (``Feed``), one request through the app (``call``), and ``run`` for a coroutine
on its own loop. For tests of how routes read bodies (limits counted while streaming, timeouts,
clients that leave)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio

__all__ = ["CHUNK", "FORM", "Feed", "call", "endless", "run"]

FORM = "application/x-www-form-urlencoded"
CHUNK = 64 * 1024


class Feed:
    """An ASGI ``receive``: the chunks, then the end (or a stall, or a disconnect); it counts
    how many body bytes were pulled."""

    def __init__(self, chunks: Iterator[bytes] | list[bytes], then: str = "end") -> None:
        self.chunks = iter(chunks)
        self.then = then
        self.pulled = 0
        self.calls = 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        chunk = next(self.chunks, None)
        if chunk is not None:
            self.pulled += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": True}
        if self.then == "stall":
            await anyio.sleep(3600)
        if self.then == "disconnect":
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b"", "more_body": False}


def endless(chunk: bytes = b"A" * CHUNK) -> Iterator[bytes]:
    while True:
        yield chunk


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``fn`` on its own event loop, in a thread of its own: the browser tests' sync
    Playwright keeps an event loop running in the main thread for the whole session."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, fn).result()


async def call(app: Any, receive: Callable[[], Awaitable[Any]], path: str = "/",
               headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {"Content-Type": FORM}).items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "headers": raw, "root_path": "",
             "server": ("idp.test", 80), "client": ("127.0.0.1", 5555)}
    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return (start["status"],
            {k.decode(): v.decode() for k, v in start.get("headers", [])}, body)
