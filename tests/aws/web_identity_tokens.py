"""Web identity tokens for the tests: real keys, real PyJWT signatures, and the hand-assembled
tokens no honest library will make (``alg: none``, an HMAC keyed with a public key, a tampered
payload, JSON bombs): those are what the attack tests are for.

``TokenSigner`` holds an issuer's private keys (RSA-2048 ``rsa-1`` and ``rsa-2``, EC P-256
``ec-1``, EC P-384 ``ec-384``) and publishes their public JWK Set; ``claims`` gives a valid
claim set at an instant; ``forge`` assembles any header, payload and signature bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, ClassVar

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = ["TokenSigner", "b64url", "claims", "forge", "hmac_token", "public_pem"]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(part: Mapping[str, Any] | bytes | str) -> str:
    if isinstance(part, bytes):
        return b64url(part)
    if isinstance(part, str):
        return b64url(part.encode("utf-8"))
    return b64url(json.dumps(part, separators=(",", ":")).encode("utf-8"))


def forge(header: Mapping[str, Any] | bytes | str, payload: Mapping[str, Any] | bytes | str,
          signature: bytes = b"") -> str:
    """``header.payload.signature`` exactly as given (JSON objects are serialized)."""
    return f"{_segment(header)}.{_segment(payload)}.{b64url(signature)}"


def hmac_token(header: Mapping[str, Any], payload: Mapping[str, Any], secret: bytes,
               digest: str = "sha256") -> str:
    """An HS* token keyed with ``secret`` (PyJWT refuses a PEM or JWK as an HMAC secret, which
    is the point of the "HMAC confusion" attack)."""
    signing_input = f"{_segment(header)}.{_segment(payload)}"
    mac = hmac.new(secret, signing_input.encode("ascii"), getattr(hashlib, digest)).digest()
    return f"{signing_input}.{b64url(mac)}"


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def claims(issuer: str, now: int, *, sub: str = "system:serviceaccount:prod:deployer",
           aud: str | list[str] = "sts.amazonaws.com", ttl: int = 3600,
           **extra: Any) -> dict[str, Any]:
    """A valid claim set issued at ``now``; ``extra`` adds claims (``None`` removes one)."""
    body: dict[str, Any] = {"iss": issuer, "sub": sub, "aud": aud, "iat": now, "nbf": now,
                            "exp": now + ttl, "jti": f"jti-{now}"}
    for name, value in extra.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


class TokenSigner:
    """An issuer's signing keys and its public JWK Set."""

    ALGORITHMS: ClassVar[dict[str, str]] = {"rsa-1": "RS256", "rsa-2": "RS256", "ec-1": "ES256",
                                            "ec-384": "ES384"}

    def __init__(self) -> None:
        self.keys: dict[str, PrivateKey] = {
            "rsa-1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "rsa-2": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec-1": ec.generate_private_key(ec.SECP256R1()),
            "ec-384": ec.generate_private_key(ec.SECP384R1()),
        }
        self.published = list(self.keys)

    def jwk(self, kid: str, **extra: Any) -> dict[str, Any]:
        key = self.keys[kid]
        algorithm: Any = (jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey)
                          else jwt.algorithms.ECAlgorithm)
        found: dict[str, Any] = algorithm.to_jwk(key.public_key(), as_dict=True)
        found.update({"kid": kid, "use": "sig", **extra})
        return found

    def jwks(self) -> dict[str, Any]:
        """The JWK Set of the keys in ``published`` (rotate by editing that list)."""
        return {"keys": [self.jwk(kid) for kid in self.published]}

    def sign(self, body: Mapping[str, Any], kid: str | None = "rsa-1", *,
             alg: str | None = None, key: str | None = None,
             headers: Mapping[str, Any] | None = None) -> str:
        """``body`` signed by the key ``key`` (default: ``kid``'s) with ``alg`` (default: the
        key's); ``kid=None`` leaves ``kid`` out of the header."""
        name = key or kid or "rsa-1"
        header: dict[str, Any] = {"typ": "JWT", **(headers or {})}
        if kid is not None:
            header["kid"] = kid
        # PyJWS signs any payload bytes: claims PyJWT's encode would refuse (an iss that is
        # no string, ...) are signed too, as a misbehaving IdP would.
        payload = json.dumps(dict(body), separators=(",", ":")).encode("utf-8")
        return jwt.PyJWS().encode(payload, self.keys[name],
                                  algorithm=alg or self.ALGORITHMS[name], headers=header)
