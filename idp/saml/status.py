"""Errors answered to the SP as a signed non-Success ``<samlp:Response>`` (SAML Core §3.2.2).

Each class carries the top-level and second-level status codes (SAML Core §3.2.2.2); the IdP
posts them back to the SP's ACS instead of showing a page (``IdentityProvider.status_response``).
"""

from __future__ import annotations

from idp.errors import IdPError
from idp.saml.constants import StatusCode

__all__ = [
    "InvalidNameIDPolicy",
    "NoAuthnContext",
    "NoPassive",
    "SamlStatusError",
    "UnsupportedBinding",
]


class SamlStatusError(IdPError):
    """Answered with a ``<samlp:Response>`` carrying a non-Success status (SAML Core §3.2.2.2)."""

    status = StatusCode.RESPONDER
    sub_status: StatusCode | None = None


class NoPassive(SamlStatusError):
    """``IsPassive="true"`` but the user would have to log in."""

    sub_status = StatusCode.NO_PASSIVE


class InvalidNameIDPolicy(SamlStatusError):
    """The requested NameID format is not one we can issue for that SP."""

    sub_status = StatusCode.INVALID_NAMEID_POLICY


class NoAuthnContext(SamlStatusError):
    """The requested authentication context cannot be satisfied."""

    sub_status = StatusCode.NO_AUTHN_CONTEXT


class UnsupportedBinding(SamlStatusError):
    """The requested ProtocolBinding for the response is not HTTP-POST."""

    status = StatusCode.REQUESTER
    sub_status = StatusCode.UNSUPPORTED_BINDING
