"""The OpenID Connect issuer's key pairs and the JWTs it signs, with nothing else loaded.

Keys: the pairs under ``certs/oidc-*.key`` (``idp.keys.KeyStore`` with the ``oidc-`` prefix,
``KEY_PREFIX``): ``oidc-signing`` signs; a staged ``oidc-next`` and the ``oidc-previous`` pair
after a rotation are published too, so tokens signed before a rotation keep verifying until
the previous pair is retired. The JWK Set (RFC 7517 §5) lists each as an RSA public key with
``use: sig``, ``alg: RS256`` and a ``kid`` that is its RFC 7638 thumbprint (base64url SHA-256
of the required members), so a ``kid`` names one key whatever the file it came from.

Tokens are JWTs (RFC 7519) signed RS256 with the signing pair by PyJWT; the header carries
``kid`` and ``typ`` (``JWT``; access tokens ``at+jwt``, RFC 9068 §2.1). ``workload_token`` makes
the kind CI systems and Kubernetes issue for ``AssumeRoleWithWebIdentity``: ``iss``, ``sub``,
``aud``, ``iat``, ``nbf``, ``exp`` and a ``jti``, timestamps as integers (STS API Reference,
AssumeRoleWithWebIdentity: "Timestamps in the token must be formatted as either an integer or
a long integer").

This module is what ``idp token`` needs (no directory, no state store): ``OidcIssuer``
(``idp.oidc.issuer``) builds on a ``TokenSigner``. PyJWT is imported when a token is signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from functools import cached_property
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import rsa

from idp.clock import Clock
from idp.keys import KeyPair, published_pairs

__all__ = [
    "DEFAULT_TOKEN_TTL",
    "KEY_COMMON_NAME",
    "KEY_PREFIX",
    "MAX_TOKEN_TTL",
    "MIN_TOKEN_TTL",
    "SIGNING_ALGORITHM",
    "TokenSigner",
    "jwk_of",
    "key_id",
    "public_jwk",
]

SIGNING_ALGORITHM: Final = "RS256"
DEFAULT_TOKEN_TTL: Final = 3600
#: A workload token lives at most a day (Kubernetes caps projected service-account tokens at
#: its ``--service-account-max-token-expiration``; the simulator picks one day).
MAX_TOKEN_TTL: Final = 86_400
MIN_TOKEN_TTL: Final = 1
#: File prefix and certificate name of the OpenID Connect provider's key pairs.
KEY_PREFIX: Final = "oidc-"
KEY_COMMON_NAME: Final = "idp-simulator OIDC"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def key_id(public_key: rsa.RSAPublicKey) -> str:
    """The RFC 7638 JWK thumbprint of an RSA public key (SHA-256, base64url, no padding)."""
    numbers = public_key.public_numbers()
    canonical = json.dumps({"e": _b64url_uint(numbers.e), "kty": "RSA",
                            "n": _b64url_uint(numbers.n)}, separators=(",", ":"),
                           sort_keys=True)
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def public_jwk(public: rsa.RSAPublicKey) -> dict[str, str]:
    """The JWK of an RSA public key (RFC 7518 §6.3.1), ``kid`` its RFC 7638 thumbprint."""
    numbers = public.public_numbers()
    return {"kty": "RSA", "use": "sig", "alg": SIGNING_ALGORITHM, "kid": key_id(public),
            "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}


def jwk_of(pair: KeyPair) -> dict[str, str]:
    """The public JWK of a key pair (RFC 7518 §6.3.1)."""
    return public_jwk(pair.private_key.public_key())


class TokenSigner:
    """Signs JWTs as ``issuer`` with the ``signing`` pair of ``keys``; publishes them all."""

    def __init__(self, issuer: str, keys: Mapping[str, KeyPair], clock: Clock) -> None:
        if "signing" not in keys:
            raise ValueError("the OIDC issuer needs a signing key pair")
        self.issuer = issuer
        self.keys = dict(keys)
        self.clock = clock

    @property
    def signing_pair(self) -> KeyPair:
        return self.keys["signing"]

    @cached_property
    def signing_kid(self) -> str:
        return key_id(self.signing_pair.private_key.public_key())

    @cached_property
    def _published(self) -> dict[str, rsa.RSAPublicKey]:
        """The published public keys by ``kid`` (signing pair first, then staged, previous)."""
        return {key_id(pair.private_key.public_key()): pair.private_key.public_key()
                for pair in published_pairs(self.keys)}

    @cached_property
    def _jwks(self) -> dict[str, Any]:
        return {"keys": [jwk_of(pair) for pair in published_pairs(self.keys)]}

    def jwks(self) -> dict[str, Any]:
        """The JWK Set served at ``/oidc/jwks`` (signing pair first, then staged, previous)."""
        return {"keys": [dict(key) for key in self._jwks["keys"]]}

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        """The published key named ``kid``, if any (what a token this issuer signed names)."""
        return self._published.get(kid)

    def now(self) -> int:
        """The clock's instant as a NumericDate (RFC 7519 §2: integer seconds)."""
        return int(self.clock.now().timestamp())

    def sign(self, claims: Mapping[str, Any], *, typ: str = "JWT") -> str:
        """A compact JWS of ``claims`` signed RS256 with the signing pair."""
        import jwt

        return jwt.encode(dict(claims), self.signing_pair.private_key,
                          algorithm=SIGNING_ALGORITHM,
                          headers={"kid": self.signing_kid, "typ": typ})

    def workload_token(self, sub: str, aud: str | tuple[str, ...], *,
                       ttl: int = DEFAULT_TOKEN_TTL,
                       claims: Mapping[str, Any] | None = None) -> str:
        """A token for a workload (no browser): what ``idp token`` writes.

        ``aud`` is one audience or several (a JSON array then); ``claims`` adds or overrides
        claims (``amr``, ``https://aws.amazon.com/tags``, even ``iss`` or ``exp`` to make a
        token that must be refused). ``ValueError`` for an empty ``sub``/``aud``, a ``ttl``
        outside 1..86400 seconds or claims that are not JSON.
        """
        if not isinstance(sub, str) or not sub:
            raise ValueError("a token needs a subject (--sub)")
        audiences = (aud,) if isinstance(aud, str) else tuple(aud)
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise ValueError("a token needs an audience (--aud)")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not (
                MIN_TOKEN_TTL <= ttl <= MAX_TOKEN_TTL):
            raise ValueError(f"the token lifetime must be {MIN_TOKEN_TTL}-{MAX_TOKEN_TTL} "
                             f"seconds, not {ttl}")
        extra = dict(claims or {})
        if not all(isinstance(name, str) and name for name in extra):
            raise ValueError("claim names must be non-empty strings")
        try:
            json.dumps(extra, allow_nan=False)
        except (TypeError, ValueError):
            raise ValueError("claim values must be JSON values (strings, numbers, true/false, "
                             "null, lists, objects)") from None
        now = self.now()
        body: dict[str, Any] = {
            "iss": self.issuer, "sub": sub,
            "aud": audiences[0] if len(audiences) == 1 else list(audiences),
            "iat": now, "nbf": now, "exp": now + ttl, "jti": secrets.token_urlsafe(16),
        }
        body.update(extra)
        return self.sign(body)
