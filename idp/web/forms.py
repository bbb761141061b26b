"""Reading HTML form posts with limits, for every form endpoint (IdP login/SSO, console)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

from idp.errors import IdPError

__all__ = ["field", "read_form"]


async def read_form(request: Request, *, max_bytes: int, max_fields: int,
                    error: Callable[[str], IdPError]) -> FormData:
    """The posted form, refused with ``error(reason)`` when too large or unreadable."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > max_bytes):
        raise error(f"the form is larger than {max_bytes} bytes")
    try:
        return await request.form(max_files=0, max_fields=max_fields)
    except HTTPException as exc:  # malformed multipart, too many fields
        raise error(f"the form could not be read: {exc.detail}") from None


def field(form: FormData, name: str) -> str | None:
    """A text field's value (``None`` when absent or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else None
