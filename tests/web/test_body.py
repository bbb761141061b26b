"""``idp.web.body``: bodies counted while they stream, within a deadline, and the one way in.

ASGI ``receive`` callables stand in for the server, so each test knows exactly how many bytes
the reader pulled; the live behaviour (uvicorn, sockets) is ``tests/e2e/test_slow_clients.py``.
"""

from __future__ import annotations

import ast
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import idp
from idp.errors import IdPError, MalformedRequest
from idp.web import body as body_module
from idp.web import forms
from idp.web.body import (
    EXCEPTION_HANDLERS,
    BodyTimeout,
    BodyTooLarge,
    ClientGone,
    MalformedForm,
    read_body,
    read_form,
)
from tests.support.asgi import CHUNK, FORM, Feed, call, endless, run


def request(receive: Callable[[], Awaitable[Any]], *, headers: dict[str, str] | None = None,
            method: str = "POST") -> Request:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1"))
           for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": method, "path": "/", "raw_path": b"/",
             "query_string": b"", "headers": raw, "root_path": ""}
    return Request(scope, receive)  # type: ignore[arg-type]


# --- read_body -----------------------------------------------------------------------------


def test_whole_body_under_the_limit_is_returned():
    feed = Feed([b"a=1", b"&b=2"])
    got = run(lambda: read_body(request(feed), max_bytes=100, timeout=5))
    assert got == b"a=1&b=2"


def test_chunked_body_over_the_limit_stops_at_the_first_chunk_past_it():
    """No Content-Length (chunked): reading stops at the chunk that crosses the limit."""
    feed = Feed(endless())
    limit = 256 * 1024
    with pytest.raises(BodyTooLarge) as caught:
        run(lambda: read_body(request(feed), max_bytes=limit, timeout=5))
    assert caught.value.http_status == 413 and caught.value.limit == limit
    assert limit < feed.pulled <= limit + CHUNK  # never more than the limit plus one chunk
    assert feed.calls == limit // CHUNK + 1


def test_exactly_the_limit_is_accepted():
    feed = Feed([b"x" * 60, b"x" * 40])
    assert len(run(lambda: read_body(request(feed), max_bytes=100, timeout=5))) == 100


@pytest.mark.parametrize("length", ["1000001", "12abc", "-5", "²", ""])
def test_content_length_too_large_or_malformed_is_refused_before_reading(length):
    feed = Feed(endless())
    with pytest.raises(BodyTooLarge):
        run(lambda: read_body(request(feed, headers={"Content-Length": length}),
                              max_bytes=1000, timeout=5))
    assert feed.calls == 0


def test_a_lying_small_content_length_is_still_counted():
    """The count, not the header, decides (a server that does not enforce framing)."""
    feed = Feed(endless())
    with pytest.raises(BodyTooLarge):
        run(lambda: read_body(request(feed, headers={"Content-Length": "10"}),
                              max_bytes=1000, timeout=5))
    assert feed.pulled <= 1000 + CHUNK


def test_a_stalled_body_times_out():
    feed = Feed([b"SAMLResponse=abc"], then="stall")
    started = time.monotonic()
    with pytest.raises(BodyTimeout) as caught:
        run(lambda: read_body(request(feed), max_bytes=1000, timeout=0.2))
    assert 0.2 <= time.monotonic() - started < 2
    assert caught.value.http_status == 408
    assert "0.2 seconds" in str(caught.value)


def test_a_trickling_body_times_out_as_a_whole():
    """The deadline covers the whole body, not each read: a byte per 50 ms does not reset it."""
    async def trickle() -> dict[str, Any]:
        await anyio.sleep(0.05)
        return {"type": "http.request", "body": b"a", "more_body": True}

    started = time.monotonic()
    with pytest.raises(BodyTimeout):
        run(lambda: read_body(request(trickle), max_bytes=10_000, timeout=0.3))
    assert time.monotonic() - started < 2


def test_a_disconnect_mid_body_is_client_gone():
    feed = Feed([b"half"], then="disconnect")
    with pytest.raises(ClientGone):
        run(lambda: read_body(request(feed), max_bytes=1000, timeout=5))


def test_the_default_timeout_is_the_settings_body_timeout(client):
    """Without ``timeout``, the app's ``Settings.body_timeout`` applies."""
    feed = Feed([b"x"], then="stall")
    req = request(feed)
    req.scope["app"] = client.app
    assert client.app.state.runtime.services.settings.body_timeout == 20
    started = time.monotonic()

    async def read_with_outer_deadline() -> None:
        with anyio.move_on_after(0.3) as outer:
            await read_body(req, max_bytes=10)
        assert outer.cancelled_caught  # 20 s, not some short default

    run(read_with_outer_deadline)
    assert time.monotonic() - started < 2


# --- read_form -----------------------------------------------------------------------------


def test_urlencoded_form_is_parsed_from_the_bounded_body():
    feed = Feed([b"SAMLResponse=abc%2B", b"&RelayState=x"])
    form = run(lambda: read_form(request(feed, headers={"Content-Type": FORM}),
                                 max_bytes=1000, max_fields=8, timeout=5))
    assert form["SAMLResponse"] == "abc+" and form["RelayState"] == "x"


def multipart(parts: list[tuple[str, str, str | None]]) -> tuple[bytes, str]:
    boundary = "b0undary"
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename:
            disposition += f'; filename="{filename}"'
        out += (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n{value}\r\n"
                ).encode()
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def test_multipart_form_is_parsed_from_the_bounded_body():
    data, ctype = multipart([("username", "bob", None), ("password", "pw", None)])
    feed = Feed([data[:10], data[10:]])
    form = run(lambda: read_form(request(feed, headers={"Content-Type": ctype}),
                                 max_bytes=1000, max_fields=8, timeout=5))
    assert form["username"] == "bob" and form["password"] == "pw"


def test_multipart_with_a_file_or_too_many_fields_is_malformed():
    for parts, max_fields in (([("f", "x", "a.txt")], 8),
                              ([("a", "1", None), ("b", "2", None), ("c", "3", None)], 2)):
        data, ctype = multipart(parts)
        feed = Feed([data])
        with pytest.raises(MalformedForm):
            run(lambda ctype=ctype, feed=feed, max_fields=max_fields: read_form(
                request(feed, headers={"Content-Type": ctype}), max_bytes=1000,
                max_fields=max_fields, timeout=5))


def test_other_content_types_give_an_empty_form_after_a_bounded_read():
    feed = Feed(endless())
    with pytest.raises(BodyTooLarge):
        run(lambda: read_form(request(feed, headers={"Content-Type": "text/plain"}),
                              max_bytes=1000, max_fields=8, timeout=5))
    form = run(lambda: read_form(request(Feed([b"hello"]),
                                         headers={"Content-Type": "text/plain"}),
                                 max_bytes=1000, max_fields=8, timeout=5))
    assert isinstance(form, FormData) and len(form) == 0


def test_forms_read_form_turns_size_into_the_pages_error_and_lets_timeouts_through(client):
    def with_app(feed: Feed) -> Request:
        req = request(feed, headers={"Content-Type": FORM})
        req.scope["app"] = client.app
        return req

    with pytest.raises(MalformedRequest, match="the form is larger than 1000 bytes"):
        run(lambda: forms.read_form(with_app(Feed(endless())), max_bytes=1000, max_fields=8,
                                    error=MalformedRequest))
    data, ctype = multipart([("f", "x", "a.txt")])
    req = request(Feed([data]), headers={"Content-Type": ctype})
    req.scope["app"] = client.app
    with pytest.raises(MalformedRequest, match="the form could not be read: Too many files"):
        run(lambda: forms.read_form(req, max_bytes=1000, max_fields=8, error=MalformedRequest))
    with pytest.raises(ClientGone):
        run(lambda: forms.read_form(with_app(Feed([b"a="], then="disconnect")), max_bytes=1000,
                                    max_fields=8, error=MalformedRequest))


def test_body_errors_are_4xx_idp_errors():
    """One exception tree: a route that forgets to translate one still answers a 4xx."""
    for exc in (BodyTooLarge(10), BodyTimeout(1), ClientGone(), MalformedForm("x")):
        assert isinstance(exc, IdPError) and 400 <= exc.http_status < 500


# --- the handlers, in a tiny app -------------------------------------------------------------


async def _echo(request: Request) -> Response:
    form = await read_form(request, max_bytes=1000, max_fields=8, timeout=0.2)
    return PlainTextResponse(str(form.get("a")))


def tiny_app() -> Starlette:
    return Starlette(routes=[Route("/", _echo, methods=["POST"])],
                     exception_handlers=dict(EXCEPTION_HANDLERS))


def test_timeout_handler_answers_408_page_and_closes():
    status, headers, page = run(lambda: call(tiny_app(), Feed([b"a=1"], then="stall")))
    assert status == 408
    assert headers["connection"] == "close"
    assert b"did not arrive within 0.2 seconds" in page and b"HTTP 408" in page


def test_client_gone_is_one_quiet_log_line(caplog):
    caplog.set_level(logging.DEBUG)
    status, _, _ = run(lambda: call(tiny_app(), Feed([b"a="], then="disconnect")))
    assert status == 400
    lines = [r for r in caplog.records if r.name.startswith("idp")]
    assert [r.getMessage() for r in lines] == ["client went away mid-request: POST /"]
    assert all(r.exc_info is None for r in caplog.records)


def test_the_tiny_app_still_answers_a_normal_form():
    assert run(lambda: call(tiny_app(), Feed([b"a=", b"42"])))[2] == b"42"


# --- the real app's STS route --------------------------------------------------------------


def test_sts_answers_request_too_large_as_aws_xml_from_a_chunked_body(client):
    feed = Feed(endless())
    status, headers, xml = run(lambda: call(client.app, feed, "/aws/sts"))
    assert status == 413
    assert b"<Code>ValidationError</Code>" in xml and b"larger than 262144 bytes" in xml
    assert "x-amzn-requestid" in headers
    assert feed.pulled <= 256 * 1024 + CHUNK


def test_sts_answers_request_timeout_as_aws_xml(client_factory):
    app = client_factory(body_timeout=1).app
    started = time.monotonic()
    status, _, xml = run(lambda: call(app, Feed([b"Action=GetCall"], then="stall"),
                                      "/aws/sts"))
    assert 1 <= time.monotonic() - started < 3
    assert status == 408
    assert b"<Code>RequestTimeout</Code>" in xml and b"<Type>Sender</Type>" in xml


def test_sts_lets_a_gone_client_through_without_a_traceback(client, caplog):
    caplog.set_level(logging.DEBUG)
    status, _, body = run(lambda: call(client.app, Feed([b"Action="], then="disconnect"),
                                       "/aws/sts"))
    assert status == 400 and b"InternalFailure" not in body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# --- the one way in --------------------------------------------------------------------------

READERS = {"body", "form", "stream", "json"}


def test_only_idp_web_body_reads_request_bodies():
    """Every route goes through the bounded reader: no other module under idp/ calls
    ``.body()``, ``.form()``, ``.stream()`` or ``.json()`` (nor touches ``.receive``)."""
    root = Path(idp.__file__).parent
    allowed = Path(body_module.__file__).resolve()
    wrong = []
    for path in sorted(root.rglob("*.py")):
        if path.resolve() == allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in READERS):
                wrong.append(f"{path.relative_to(root.parent)}:{node.lineno} "
                             f".{node.func.attr}()")
            elif isinstance(node, ast.Attribute) and node.attr in {"receive", "_receive"}:
                wrong.append(f"{path.relative_to(root.parent)}:{node.lineno} .{node.attr}")
    assert wrong == []
