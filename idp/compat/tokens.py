"""Sealed tokens: the state a vendor surface hands the client and gets back later.

A token is ``base64url(JSON).base64url(HMAC-SHA256)``: the JSON says what the token is for
(``purpose``), until when (``exp``, from the injected clock) and carries a random ``nonce``;
the MAC, keyed from the install's session secret and the purpose, means a client can neither
forge one nor use a token made for one purpose as another. Nothing is stored per token except
what must end on the server: ``redeem`` claims the nonce in the shared ``StateStore``, so a
one-time token (Okta's ``sessionToken``, a Shibboleth flow key) works once across workers and
restarts. Tokens longer than ``MAX_TOKEN_CHARS`` are refused unread.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
from typing import Any, Final

from idp.clock import Clock
from idp.store import StateStore

__all__ = ["MAX_TOKEN_CHARS", "Sealer"]

#: Largest token accepted (a sealed principal is well under 1 KiB).
MAX_TOKEN_CHARS: Final = 4096
_LABEL: Final = b"idp.compat.tokens"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sealer:
    """Seals and opens tokens for one install (``secret``) on one clock."""

    def __init__(self, secret: str | bytes, clock: Clock, store: StateStore | None = None) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else secret
        self._key = hmac.new(key, _LABEL, hashlib.sha256).digest()
        self._clock = clock
        self._store = store

    def _mac(self, purpose: str, body: bytes) -> bytes:
        return hmac.new(self._key, purpose.encode("utf-8") + b"\0" + body,
                        hashlib.sha256).digest()

    def seal(self, purpose: str, data: dict[str, Any], ttl: int) -> str:
        """A token for ``purpose`` carrying ``data`` (JSON values), valid ``ttl`` seconds."""
        expires = self._clock.now() + dt.timedelta(seconds=ttl)
        body = json.dumps({"p": purpose, "e": int(expires.timestamp()),
                           "n": secrets.token_urlsafe(12), "d": data},
                          separators=(",", ":"), sort_keys=True).encode("utf-8")
        return f"{_b64(body)}.{_b64(self._mac(purpose, body))}"

    def _read(self, purpose: str, token: object) -> dict[str, Any] | None:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            return None
        body_text, mac_text = token.split(".")
        try:
            body, mac = _unb64(body_text), _unb64(mac_text)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(mac, self._mac(purpose, body)):
            return None
        try:
            content = json.loads(body)
        except ValueError:  # pragma: no cover - we sealed it, so it is JSON
            return None
        if not isinstance(content, dict) or content.get("p") != purpose:
            return None  # pragma: no cover - the MAC covers the purpose
        if self._clock.now().timestamp() >= content["e"]:
            return None
        return content

    def open(self, purpose: str, token: object) -> dict[str, Any] | None:
        """The data of a genuine, unexpired token for ``purpose``; ``None`` for anything else."""
        content = self._read(purpose, token)
        return None if content is None else dict(content["d"])

    def redeem(self, purpose: str, token: object) -> dict[str, Any] | None:
        """``open``, once: the first caller (on any worker) gets the data, later ones ``None``.

        Without a state store every genuine token opens (single process tests only)."""
        content = self._read(purpose, token)
        if content is None:
            return None
        if self._store is not None:
            until = dt.datetime.fromtimestamp(content["e"], dt.UTC)
            if not self._store.claim(f"token-{purpose}", content["n"], until):
                return None
        return dict(content["d"])

    def used(self, purpose: str, token: object) -> bool:
        """Whether a genuine token was already redeemed."""
        content = self._read(purpose, token)
        return (content is not None and self._store is not None
                and self._store.claimed(f"token-{purpose}", content["n"]))
