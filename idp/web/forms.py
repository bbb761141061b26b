"""Reading HTML form posts with limits, for every form endpoint (IdP login/SSO, console).

The body is read by ``idp.web.body`` (counted as it streams, within the body timeout). A form
too large or unreadable is the page's own error (``error(reason)``); a body that stalls
(``BodyTimeout``, a 408 page) or a client that leaves (``ClientGone``) is answered by the
app's handlers in ``idp.web.body.EXCEPTION_HANDLERS``.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import FormData
from starlette.requests import Request

from idp.errors import IdPError
from idp.web import body

__all__ = ["field", "read_form"]


async def read_form(request: Request, *, max_bytes: int, max_fields: int,
                    error: Callable[[str], IdPError]) -> FormData:
    """The posted form, refused with ``error(reason)`` when too large or unreadable.

    ``BodyTimeout`` and ``ClientGone`` (``idp.web.body``) pass through to the app's handlers.
    """
    try:
        return await body.read_form(request, max_bytes=max_bytes, max_fields=max_fields)
    except body.BodyTooLarge:
        raise error(f"the form is larger than {max_bytes} bytes") from None
    except body.MalformedForm as exc:  # malformed multipart, too many fields, a file
        raise error(f"the form could not be read: {exc.reason}") from None


def field(form: FormData, name: str) -> str | None:
    """A text field's value (``None`` when absent or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else None
