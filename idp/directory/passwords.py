"""Password hashes: PBKDF2-HMAC-SHA256 from the standard library, compared in constant time.

Stored form: ``pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>``. Plain ``password:`` entries in
a config file are hashed when the file is loaded, so no plaintext stays in memory past start-up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Final

__all__ = ["DEFAULT_ITERATIONS", "hash_password", "is_hash", "verify_password"]

DEFAULT_ITERATIONS: Final = 60_000
_PREFIX: Final = "pbkdf2-sha256"
# Verified against when the user does not exist, so a miss costs as much as a wrong password.
_DUMMY: Final = f"{_PREFIX}${DEFAULT_ITERATIONS}$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "="


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS,
                  salt: bytes | None = None) -> str:
    """The stored form; a random salt unless the caller gives one (16 bytes)."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{_PREFIX}${iterations}${_b64(salt)}${_b64(digest)}"


def is_hash(value: str) -> bool:
    """The stored form with a usable iteration count (1 to 999,999,999, ASCII digits)."""
    parts = value.split("$")
    return (len(parts) == 4 and parts[0] == _PREFIX
            and re.fullmatch(r"[0-9]{1,9}", parts[1]) is not None and int(parts[1]) >= 1)


def verify_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches ``stored``; a ``None`` hash still costs one derivation."""
    target = stored if stored is not None and is_hash(stored) else _DUMMY
    _, iterations, salt_b64, digest_b64 = target.split("$")
    try:
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(digest_b64, validate=True)
    except ValueError:
        return False
    # surrogatepass: a lone surrogate (JSON's "\ud800") is no password anyone has, not a crash.
    actual = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8", "surrogatepass"), salt,
                                 int(iterations))
    return hmac.compare_digest(actual, expected) and stored is not None
