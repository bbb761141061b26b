"""What the OpenID Connect provider refuses, and how each refusal reaches the client.

Three shapes, chosen by how far a request got (RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1):

* ``OidcRequestRefused``: an authorization request whose ``client_id`` or ``redirect_uri``
  cannot be trusted. The user sees a page; nothing is sent to any redirect URI (an
  unregistered one would make the provider an open redirector).
* ``AuthorizationError``: a later problem with an authorization request (the redirect URI is
  registered): the browser goes back to it with ``error``, ``error_description``, ``state``
  and ``iss`` in the query.
* ``OAuthError``: a JSON error from the token endpoint (``{"error": ..., "error_description":
  ...}``) or a bearer-token error from the UserInfo endpoint (in ``WWW-Authenticate``).

The HTTP status follows from the wire ``error`` code (``STATUS_OF``): ``invalid_client`` and
``invalid_token`` are 401, ``insufficient_scope`` 403, everything else 400.
"""

from __future__ import annotations

import re
from typing import Final

from idp.errors import FatalRequestError, IdPError

__all__ = ["STATUS_OF", "AuthorizationError", "OAuthError", "OidcRequestRefused", "wire_text"]

#: The status of each error code that is not a plain 400 (RFC 6749 §5.2: invalid_client
#: "MAY" be 401 and MUST be when the client used the Authorization header; RFC 6750 §3.1).
STATUS_OF: Final = {"invalid_client": 401, "invalid_token": 401, "insufficient_scope": 403}
#: Characters ``error_description`` may use (RFC 6749 §4.1.2.1 / §5.2: %x20-21 / %x23-5B /
#: %x5D-7E); anything else is replaced by ``?``.
_NOT_WIRE_SAFE: Final = re.compile(r'[^\x20-\x21\x23-\x5b\x5d-\x7e]')


def wire_text(text: str, limit: int = 300) -> str:
    """``text`` as an ``error_description`` may carry it: printable ASCII without ``"`` and
    ``\\``, at most ``limit`` characters."""
    return _NOT_WIRE_SAFE.sub("?", text)[:limit]


class OidcRequestRefused(FatalRequestError):
    """An authorization request that cannot be answered at any redirect URI: shown as a page."""

    title = "Sign-in request refused"


class OAuthError(IdPError):
    """An OAuth 2.0 error: ``error`` is the wire code, ``description`` the human text."""

    title = "OAuth request refused"

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = wire_text(description)
        self.http_status = STATUS_OF.get(error, 400)

    def payload(self) -> dict[str, str]:
        """The JSON error body of RFC 6749 §5.2."""
        return {"error": self.error, "error_description": self.description}


class AuthorizationError(OAuthError):
    """An authorization request refused after its redirect URI was validated: sent back there
    (RFC 6749 §4.1.2.1, OpenID Connect Core 1.0 §3.1.2.6)."""

    def __init__(self, error: str, description: str, *, redirect_uri: str,
                 state: str | None) -> None:
        super().__init__(error, description)
        self.redirect_uri = redirect_uri
        self.state = state
