"""Reading a request body, bounded in size and in time: the one way routes read a body.

Every route that reads a body goes through ``read_body`` (or ``read_form``, built on it);
``tests/web/test_body.py`` fails if a module under ``idp/`` calls ``request.body()``,
``.form()``, ``.stream()`` or ``.json()`` anywhere else. The body is counted while it streams
in, whatever ``Content-Length`` or chunked framing says, so at most ``max_bytes`` plus one
chunk is ever held; the whole body must arrive within the body timeout.

The failures are ``BodyError`` subclasses, raised by the web layer only:

- ``BodyTooLarge`` (413): routes translate it (STS: AWS's ``RequestTooLarge``; forms: the
  form error of their page);
- ``BodyTimeout`` (408): the STS answers AWS's ``RequestTimeout``; elsewhere
  ``body_timeout_page`` (in ``EXCEPTION_HANDLERS``) shows the error page and closes the
  connection;
- ``ClientGone``: the client disconnected mid-body; ``client_gone`` logs one line (no
  traceback) and answers a bare 400 that nobody reads;
- ``MalformedForm``: the form could not be parsed (bad multipart, too many fields, a file).

Each is an ``IdPError`` (the package has one exception tree) with a sensible status, so a route
that forgets to translate one still answers a 4xx page, never a 500.
"""

from __future__ import annotations

import logging
from contextlib import aclosing
from typing import Final

import anyio
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ExceptionHandler, Message, Receive

from idp.errors import IdPError
from idp.web.pages import render
from idp.web.state import services

__all__ = [
    "EXCEPTION_HANDLERS",
    "BodyError",
    "BodyTimeout",
    "BodyTooLarge",
    "ClientGone",
    "MalformedForm",
    "body_timeout_page",
    "client_gone",
    "read_body",
    "read_form",
]

log = logging.getLogger("idp.web")

#: ``Connection: close`` on answers after which the connection must not be reused.
_CLOSE: Final = {"Connection": "close"}


class BodyError(IdPError):
    """The request body could not be read (too large, too slow, client gone, unparsable)."""


class BodyTooLarge(BodyError):
    """The body is (or says it is) larger than the route reads."""

    http_status = 413
    title = "Request too large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than {limit} bytes.")
        self.limit = limit


class BodyTimeout(BodyError):
    """The whole body did not arrive within the body timeout."""

    http_status = 408
    title = "Request timed out"

    def __init__(self, timeout: float) -> None:
        unit = "second" if timeout == 1 else "seconds"
        super().__init__(f"The request body did not arrive within {timeout:g} {unit}.")
        self.timeout = timeout


class ClientGone(BodyError):
    """The client disconnected before its body was read: nobody is left to answer."""

    title = "Client went away"

    def __init__(self) -> None:
        super().__init__("The client disconnected before the request body was read.")


class MalformedForm(BodyError):
    """The body is not a form this route accepts (bad multipart, too many fields, a file)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The form could not be read: {reason}")
        self.reason = reason


def _declared_length(request: Request) -> int | None:
    """``Content-Length`` as a number; -1 when malformed; ``None`` when absent."""
    value = request.headers.get("content-length")
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() else -1


async def read_body(request: Request, *, max_bytes: int, timeout: float | None = None
                    ) -> bytes:
    """The whole body, read as it streams in: at most ``max_bytes``, within ``timeout``.

    ``timeout`` (seconds, for the whole body) defaults to ``Settings.body_timeout``. Raises
    ``BodyTooLarge`` up front when ``Content-Length`` is larger or malformed, else at the
    first chunk past the limit (nothing more is read); ``BodyTimeout``; ``ClientGone``.
    """
    declared = _declared_length(request)
    if declared is not None and not 0 <= declared <= max_bytes:
        raise BodyTooLarge(max_bytes)
    if timeout is None:
        timeout = services(request).settings.body_timeout
    chunks: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(timeout):
            async with aclosing(request.stream()) as stream:
                async for chunk in stream:
                    size += len(chunk)
                    if size > max_bytes:
                        raise BodyTooLarge(max_bytes)
                    chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout(timeout) from None
    except ClientDisconnect:
        raise ClientGone() from None
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """An ASGI ``receive`` that gives ``body`` once, then reports a disconnect."""
    given = False

    async def receive() -> Message:
        nonlocal given
        if given:
            return {"type": "http.disconnect"}
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def read_form(request: Request, *, max_bytes: int, max_fields: int,
                    timeout: float | None = None) -> FormData:
    """The posted form (urlencoded or multipart, no files), read with ``read_body``'s bounds.

    Raises what ``read_body`` raises, and ``MalformedForm``. A body of another content type
    is read (bounded) and gives an empty form.
    """
    body = await read_body(request, max_bytes=max_bytes, timeout=timeout)
    replayed = Request(request.scope, receive=_replay(body))
    try:
        return await replayed.form(max_files=0, max_fields=max_fields, max_part_size=max_bytes)
    except HTTPException as exc:  # starlette's wording of a MultiPartException in an app
        raise MalformedForm(exc.detail) from None
    except MultiPartException as exc:  # outside an app (no "app" in the scope)
        raise MalformedForm(exc.message) from None


async def body_timeout_page(request: Request, exc: Exception) -> Response:
    """``BodyTimeout`` on an HTML route: the error page, 408, and the connection closes."""
    assert isinstance(exc, BodyTimeout)
    response = render("error.html", exc.http_status, title=exc.title, message=str(exc),
                      hint="Send the whole form again.")
    response.headers.update(_CLOSE)
    return response


async def client_gone(request: Request, exc: Exception) -> Response:
    """``ClientGone``: one quiet log line, and a bare 400 the server drops (nobody reads it)."""
    assert isinstance(exc, ClientGone)
    log.info("client went away mid-request: %s %s", request.method, request.url.path)
    return Response(status_code=exc.http_status, headers=_CLOSE)


#: Merge into ``create_app``'s ``exception_handlers`` (more specific than ``IdPError``).
EXCEPTION_HANDLERS: Final[dict[type[Exception], ExceptionHandler]] = {
    BodyTimeout: body_timeout_page,
    ClientGone: client_gone,
}
