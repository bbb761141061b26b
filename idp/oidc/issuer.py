"""The OpenID Connect issuer ``BASE/oidc``: its identity, published keys, discovery document
and the tokens it signs.

Keys and token signing are ``idp.oidc.signing`` (``TokenSigner``, which ``idp token`` uses on
its own); this class adds what a running provider needs besides: the directory (users,
clients), the injected clock, the shared state store (single-use codes) and the install's
secret (sealed authorization codes, ``idp.oidc.codes``). The browser flow is
``idp.oidc.flow.CodeFlow``, built on an ``OidcIssuer``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Final

from idp.clock import Clock
from idp.directory.model import Directory
from idp.keys import KeyPair
from idp.oidc.clients import AUTH_METHODS
from idp.oidc.codes import CodeSealer
from idp.oidc.signing import (
    DEFAULT_TOKEN_TTL,
    KEY_PREFIX,
    MAX_TOKEN_TTL,
    MIN_TOKEN_TTL,
    SIGNING_ALGORITHM,
    TokenSigner,
    jwk_of,
    key_id,
    public_jwk,
)
from idp.settings import Settings
from idp.store import StateStore

__all__ = [
    "CLAIMS_SUPPORTED",
    "DEFAULT_TOKEN_TTL",
    "MAX_TOKEN_TTL",
    "MIN_TOKEN_TTL",
    "SCOPES_SUPPORTED",
    "SIGNING_ALGORITHM",
    "OidcIssuer",
    "jwk_of",
    "key_id",
]

#: The scopes this provider understands (OpenID Connect Core 1.0 §5.4, plus ``groups``);
#: others are ignored (§3.1.2.1: "Scope values used that are not understood by an
#: implementation SHOULD be ignored").
SCOPES_SUPPORTED: Final = ("openid", "profile", "email", "groups")
CLAIMS_SUPPORTED: Final = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr",
                           "azp", "at_hash", "name", "preferred_username", "email",
                           "email_verified", "groups")


def _public_jwks(paths: list[Path]) -> tuple[dict[str, str], ...]:
    """The RSA public keys of the certificates that can be read (others are skipped: a file
    being replaced is read again on the next call, its stamp having changed)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    found = []
    for path in paths:
        try:
            public = x509.load_pem_x509_certificate(path.read_bytes()).public_key()
        except (OSError, ValueError):
            continue
        if isinstance(public, rsa.RSAPublicKey):
            found.append(public_jwk(public))
    return tuple(found)


class OidcIssuer:
    """The issuer's identity, keys and token signing; the browser flow builds on it."""

    def __init__(self, settings: Settings, directory: Directory, keys: Mapping[str, KeyPair],
                 clock: Clock, store: StateStore, secret: bytes, *,
                 keys_dir: Path | None = None) -> None:
        self.settings = settings
        self.directory = directory
        self.issuer: str = directory.oidc_issuer or f"{settings.url}/oidc"
        """``BASE/oidc``: the ``iss`` of every token, the discovery document's ``issuer``."""
        self.signer = TokenSigner(self.issuer, keys, clock)  # ValueError without "signing"
        self.keys = dict(keys)
        self.clock = clock
        self.store = store
        self.secret = secret
        self.keys_dir = keys_dir
        """Where ``keys`` were loaded from (``None``: not from files): keys added there later
        are published too (``jwks``)."""
        self._disk_lock = threading.Lock()
        self._disk: tuple[list[tuple[str, int, int]], tuple[dict[str, str], ...]] | None = None

    # --- keys and signing -----------------------------------------------------------------

    @property
    def signing_pair(self) -> KeyPair:
        return self.signer.signing_pair

    @property
    def signing_kid(self) -> str:
        return self.signer.signing_kid

    def jwks(self) -> dict[str, Any]:
        """The JWK Set served at ``/oidc/jwks`` and trusted by STS: the pairs this process
        loaded (signing pair first, then staged, previous), then any other key now in
        ``certs/`` (``idp keys --oidc --rotate`` run while serving: the new key signs
        ``idp token``'s tokens at once, so it is published at once; this process keeps
        signing its own tokens with the pair it loaded until restarted)."""
        published = self.signer.jwks()
        known = {key["kid"] for key in published["keys"]}
        published["keys"] += [dict(key) for key in self._keys_on_disk()
                              if key["kid"] not in known]
        return published

    def _keys_on_disk(self) -> tuple[dict[str, str], ...]:
        """The public keys of ``certs/oidc-{signing,next,previous}.crt``, read again only when
        a file changed (one ``stat`` per file per call)."""
        if self.keys_dir is None:
            return ()
        paths = [self.keys_dir / f"{KEY_PREFIX}{slot}.crt"
                 for slot in ("signing", "next", "previous")]
        stamp = []
        for path in paths:
            try:
                info = path.stat()
            except OSError:
                continue
            stamp.append((path.name, info.st_mtime_ns, info.st_size))
        with self._disk_lock:
            if self._disk is None or self._disk[0] != stamp:
                self._disk = (stamp, _public_jwks(paths))
            return self._disk[1]

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A compact JWS of ``claims`` signed RS256 with the signing pair."""
        return self.signer.sign(claims)

    def workload_token(self, sub: str, aud: str | tuple[str, ...], *,
                       ttl: int = DEFAULT_TOKEN_TTL,
                       claims: Mapping[str, Any] | None = None) -> str:
        """A token for a workload (no browser): ``TokenSigner.workload_token``."""
        return self.signer.workload_token(sub, aud, ttl=ttl, claims=claims)

    @cached_property
    def sealer(self) -> CodeSealer:
        """Seals authorization codes with a key derived from the install's secret."""
        return CodeSealer(self.secret)

    # --- where it is ----------------------------------------------------------------------

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.issuer}/authorize"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def userinfo_endpoint(self) -> str:
        """Also the ``aud`` of the access tokens it accepts."""
        return f"{self.issuer}/userinfo"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    def discovery(self) -> dict[str, Any]:
        """The OpenID Provider Metadata (OpenID Connect Discovery 1.0 §3), served at
        ``ISSUER/.well-known/openid-configuration`` (§4)."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint,
            "userinfo_endpoint": self.userinfo_endpoint,
            "jwks_uri": self.jwks_uri,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [SIGNING_ALGORITHM],
            "scopes_supported": list(SCOPES_SUPPORTED),
            "claims_supported": list(CLAIMS_SUPPORTED),
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "code_challenge_methods_supported": ["S256"],
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            # RFC 9207 §3: every authorization response carries ``iss``.
            "authorization_response_iss_parameter_supported": True,
        }
