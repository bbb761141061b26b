"""Authorization codes: opaque, sealed, short-lived and single-use, with no per-code storage.

A code carries what the token endpoint must check and what the tokens will say (client,
redirect URI, PKCE challenge, user, authentication time and methods, scopes, nonce), sealed
with AES-256-GCM under a key derived from the install's secret (so every worker and every
``idp serve`` sharing ``certs/`` opens it, and nobody else can read or forge one):
``base64url(nonce || ciphertext)``. Nothing about the user is readable in the redirect URL.

Single use is the shared ``StateStore``'s ``claim`` (one winner across threads, workers and
Redis-shared machines), by the code's random ``id``; ``idp.oidc.flow`` claims only after every
other check passed. Lifetime: ``CODE_TTL`` (RFC 6749 §4.1.2: "A maximum authorization code
lifetime of 10 minutes is RECOMMENDED"; a browser redirect takes seconds).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any, Final

__all__ = ["CODE_TTL", "MAX_CODE_CHARS", "CodeGrant", "CodeSealer"]

CODE_TTL: Final = 60
#: Longest code accepted at the token endpoint (a sealed grant is well under 3 KiB).
MAX_CODE_CHARS: Final = 4096
_LABEL: Final = b"idp.oidc.authorization-code"
_AAD: Final = b"oidc-code-v1"


@dataclass(frozen=True)
class CodeGrant:
    """What an authorization code stands for."""

    id: str
    client_id: str
    redirect_uri: str
    username: str
    auth_time: int
    mfa: bool
    scopes: tuple[str, ...]
    expires: int
    """NumericDate after which the code is refused."""
    nonce: str | None = None
    code_challenge: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["scopes"] = list(self.scopes)
        return data

    @classmethod
    def from_json(cls, data: object) -> CodeGrant | None:
        if not isinstance(data, dict):
            return None
        try:
            grant = cls(**{**data, "scopes": tuple(data["scopes"])})
        except (KeyError, TypeError):
            return None
        texts = (grant.id, grant.client_id, grant.redirect_uri, grant.username)
        if not all(isinstance(t, str) for t in texts) or not all(
                isinstance(s, str) for s in grant.scopes):
            return None
        return grant


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class CodeSealer:
    """Seals and opens codes for one install (``secret``)."""

    def __init__(self, secret: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(hmac.new(secret, _LABEL, hashlib.sha256).digest())

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(16)

    def seal(self, grant: CodeGrant) -> str:
        nonce = secrets.token_bytes(12)
        body = json.dumps(grant.to_json(), separators=(",", ":")).encode("utf-8")
        return _b64(nonce + self._aead.encrypt(nonce, body, _AAD))

    def open(self, code: str) -> CodeGrant | None:
        """The grant of a genuine code (expired or not); ``None`` for anything else."""
        from cryptography.exceptions import InvalidTag

        if not 0 < len(code) <= MAX_CODE_CHARS or not code.isascii():
            return None
        try:
            raw = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) < 12 + 16:
            return None
        try:
            body = self._aead.decrypt(raw[:12], raw[12:], _AAD)
            data = json.loads(body)
        except (InvalidTag, ValueError):
            return None
        return CodeGrant.from_json(data)
