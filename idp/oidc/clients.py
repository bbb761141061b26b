"""The provider's registered clients: which one a request names, where it may be sent back,
and how a client proves who it is at the token endpoint.

* Redirect URIs match exactly, character for character (OpenID Connect Core 1.0 §3.1.2.1:
  "MUST exactly match one of the Redirection URI values for the Client pre-registered at the
  OpenID Provider", compared as in RFC 3986 §6.2.1, Simple String Comparison): no prefix,
  no wildcard, no normalization. Anything else is refused before any redirect.
* Confidential clients (a ``secret`` in the directory) authenticate with HTTP Basic
  (``client_secret_basic``, RFC 6749 §2.3.1: client ID and secret each form-urlencoded, then
  joined by ``:``) or with ``client_id`` and ``client_secret`` in the form
  (``client_secret_post``), never both (RFC 6749 §2.3: one method per request). The secret is
  checked against its PBKDF2 hash (``idp.directory.passwords.verify_password``: constant
  time, the same cost for an unknown client).
* Public clients (no secret) authenticate with nothing (``none``): ``client_id`` in the form;
  they must use PKCE (``idp.oidc.flow``). A public client that sends a secret is refused.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote_plus, urlsplit

from idp.directory.model import Directory, OidcClient
from idp.directory.passwords import verify_password
from idp.oidc.errors import OAuthError

__all__ = [
    "AUTH_METHODS",
    "MAX_CLIENT_ID",
    "MAX_SECRET",
    "ClientCredentials",
    "authenticate",
    "basic_credentials",
    "csp_origin",
]

#: ``token_endpoint_auth_methods_supported`` (OpenID Connect Discovery 1.0 §3).
AUTH_METHODS: Final = ("none", "client_secret_basic", "client_secret_post")
MAX_CLIENT_ID: Final = 255
MAX_SECRET: Final = 1024
#: An origin that can go into a Content-Security-Policy source list as it is.
_CSP_ORIGIN: Final = re.compile(
    r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")


@dataclass(frozen=True)
class ClientCredentials:
    """What a token request says about its client, before anything is checked."""

    basic: tuple[str, str] | None = None
    """Client ID and secret from ``Authorization: Basic`` (already form-decoded)."""
    client_id: str | None = None
    """``client_id`` from the form."""
    client_secret: str | None = None
    """``client_secret`` from the form."""


def basic_credentials(header: str) -> tuple[str, str]:
    """Client ID and secret from an ``Authorization: Basic ...`` value (RFC 6749 §2.3.1,
    RFC 7617 §2); ``invalid_client`` if it is not one."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        raise OAuthError("invalid_client", "the Authorization header is not HTTP Basic")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise OAuthError("invalid_client", "the Basic credentials are not base64 of "
                         "UTF-8 text") from None
    user, colon, password = decoded.partition(":")
    if not colon:
        raise OAuthError("invalid_client", "the Basic credentials have no ':'")
    client_id, secret = unquote_plus(user), unquote_plus(password)
    if not client_id or len(client_id) > MAX_CLIENT_ID or len(secret) > MAX_SECRET:
        raise OAuthError("invalid_client", "the Basic credentials are empty or too long")
    return client_id, secret


def authenticate(directory: Directory, credentials: ClientCredentials) -> OidcClient:
    """The client a token request comes from, authenticated as it is registered.

    ``invalid_request`` for two methods at once or two different client IDs;
    ``invalid_client`` (401) for an unknown client, a wrong or missing secret, or a secret
    sent by a public client.
    """
    form_id, form_secret = credentials.client_id, credentials.client_secret
    if credentials.basic is not None and form_secret is not None:
        raise OAuthError("invalid_request", "use one client authentication method: HTTP "
                         "Basic or client_secret in the form, not both")
    if credentials.basic is not None:
        client_id, secret = credentials.basic
        if form_id is not None and form_id != client_id:
            raise OAuthError("invalid_request", "client_id differs from the Basic "
                             "credentials' client ID")
        method_secret: str | None = secret
    else:
        if form_id is None:
            raise OAuthError("invalid_client", "no client authentication: send client_id "
                             "(and the secret, for a confidential client)")
        client_id, method_secret = form_id, form_secret
    if len(client_id) > MAX_CLIENT_ID or (method_secret is not None
                                          and len(method_secret) > MAX_SECRET):
        raise OAuthError("invalid_client", "client_id or secret too long")
    client = directory.oidc_clients.get(client_id)
    if client is None:
        verify_password(method_secret or "", None)  # an unknown client costs the same
        raise OAuthError("invalid_client", "unknown client")
    if client.public:
        # A public client identifies itself only; Basic with an empty secret is accepted
        # as that identification (some libraries always send Basic).
        if method_secret:
            raise OAuthError("invalid_client", "this client is public (no secret is "
                             "registered): authenticate with client_id only, and PKCE")
        return client
    if not method_secret or not verify_password(method_secret, client.secret_hash):
        raise OAuthError("invalid_client", "client authentication failed")
    return client


def csp_origin(uri: str) -> str | None:
    """``scheme://host[:port]`` of a registered redirect URI, for a Content-Security-Policy
    ``form-action`` (the login form's navigation ends there); ``None`` when it would not be a
    plain source expression (then nothing is added)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or "@" in parts.netloc:
        return None
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin if _CSP_ORIGIN.fullmatch(origin) else None
