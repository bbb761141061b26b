"""Stateless STS temporary credentials: any worker can verify them, across restarts.

Formats follow the IAM User Guide ("IAM identifiers": ``ASIA`` prefix for temporary access key
IDs, ``AROA`` for role unique IDs). AWS documents nothing else; real STS output has a
40-character secret and an opaque base64 session token, at most 4,096 bytes::

    AccessKeyId      "ASIA" + 16 random characters of the base32 alphabet (A-Z, 2-7)
    SecretAccessKey  base64(HMAC-SHA256(install_secret, b"sts-secret|" + akid))[:40]
    SessionToken     base64(VERSION || compact JSON claims || HMAC-SHA256(token_key, both))

Nothing is stored: the session token carries the claims and a tag keyed by a key derived from
the install secret, and the secret access key is recomputed from the access key ID. Anyone with
the install secret (every worker; the caller loads it from the key store) can ``resolve()`` a
key pair; nobody without it can mint one.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Final

from idp.aws.errors import ExpiredToken, InvalidClientTokenId
from idp.clock import Clock

__all__ = [
    "MAX_SESSION_TOKEN_BYTES",
    "CredentialIssuer",
    "SessionClaims",
    "TemporaryCredentials",
    "role_unique_id",
]

#: STS session tokens are at most 4,096 bytes (botocore's sts ``service-2.json``,
#: ``minimumSessionTokenSizeType``: "must not exceed 4,096 bytes").
MAX_SESSION_TOKEN_BYTES: Final = 4096
MIN_SECRET_BYTES: Final = 32

_TOKEN_VERSION: Final = b"\x01"
_TAG_BYTES: Final = 32
_SECRET_LABEL: Final = b"sts-secret|"
_TOKEN_KEY_LABEL: Final = b"sts-session-token-key"
#: ``arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`` (IAM User Guide, "IAM ARNs").
_ROLE_ARN_RE: Final = re.compile(r"arn:(aws[a-z-]*):iam::(\d{12}):role/(?:[^/]+/)*([^/]+)",
                                 re.ASCII)


def role_unique_id(role_arn: str) -> str:
    """The role's unique ID: ``AROA`` + 17 base32 characters of SHA-256(ARN), stable per role.

    Real role IDs are 21 characters starting ``AROA`` (IAM User Guide, "Unique identifiers").
    """
    digest = hashlib.sha256(role_arn.encode("utf-8")).digest()
    return "AROA" + base64.b32encode(digest).decode("ascii")[:17]


@dataclass(frozen=True)
class SessionClaims:
    """Who a set of temporary credentials speaks for (GetCallerIdentity's answer)."""

    access_key_id: str
    role_arn: str
    #: ``arn:aws:sts::ACCOUNT:assumed-role/ROLE_NAME/SESSION``
    assumed_role_arn: str
    #: ``AROA…:SESSION``
    assumed_role_id: str
    account: str
    session_name: str
    expiration: dt.datetime
    source_identity: str | None = None

    @classmethod
    def for_role(
        cls,
        *,
        access_key_id: str,
        role_arn: str,
        session_name: str,
        expiration: dt.datetime,
        source_identity: str | None = None,
    ) -> SessionClaims:
        """Derive the assumed-role ARN and ID from the role ARN (IAM User Guide, "IAM ARNs").

        Raises ``ValueError`` when ``role_arn`` is not an IAM role ARN.
        """
        match = _ROLE_ARN_RE.fullmatch(role_arn)
        if match is None:
            raise ValueError(f"not an IAM role ARN: {role_arn!r}")
        partition, account, role_name = match.groups()
        return cls(
            access_key_id=access_key_id,
            role_arn=role_arn,
            assumed_role_arn=f"arn:{partition}:sts::{account}:assumed-role/{role_name}/{session_name}",
            assumed_role_id=f"{role_unique_id(role_arn)}:{session_name}",
            account=account,
            session_name=session_name,
            expiration=expiration,
            source_identity=source_identity,
        )


@dataclass(frozen=True)
class TemporaryCredentials:
    """The ``Credentials`` element of an STS result (STS API Reference, "Credentials")."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: dt.datetime

    def __repr__(self) -> str:
        # Keep secrets out of logs and tracebacks.
        return (f"TemporaryCredentials(access_key_id={self.access_key_id!r}, "
                f"expiration={self.expiration.isoformat()!r})")


class CredentialIssuer:
    """Mint and check temporary credentials with one install secret and an injected clock."""

    def __init__(self, secret: bytes, clock: Clock) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the credential secret needs at least {MIN_SECRET_BYTES} bytes")
        self._secret = bytes(secret)
        self._token_key = hmac.new(self._secret, _TOKEN_KEY_LABEL, hashlib.sha256).digest()
        self._clock = clock

    def secret_for(self, access_key_id: str) -> str:
        """Recompute the 40-character secret access key belonging to ``access_key_id``."""
        mac = hmac.new(self._secret, _SECRET_LABEL + access_key_id.encode("utf-8"),
                       hashlib.sha256).digest()
        return base64.b64encode(mac).decode("ascii")[:40]

    def issue(
        self,
        role_arn: str,
        session_name: str,
        duration_seconds: int,
        source_identity: str | None = None,
    ) -> tuple[TemporaryCredentials, SessionClaims]:
        """New credentials for ``role_arn`` valid for ``duration_seconds`` from ``clock.now()``.

        The caller has already applied the duration rules (``idp.aws.limits``); this only refuses
        a non-positive duration or a non-role ARN (``ValueError``).
        """
        if duration_seconds <= 0:
            raise ValueError("duration_seconds must be positive")
        access_key_id = "ASIA" + base64.b32encode(secrets.token_bytes(10)).decode("ascii")
        # STS reports whole seconds (``2019-11-01T20:26:47Z``): keep exactly what the token says.
        expiration = (self._clock.now().astimezone(dt.UTC).replace(microsecond=0)
                      + dt.timedelta(seconds=duration_seconds))
        claims = SessionClaims.for_role(
            access_key_id=access_key_id,
            role_arn=role_arn,
            session_name=session_name,
            expiration=expiration,
            source_identity=source_identity,
        )
        token = self._seal(claims)
        credentials = TemporaryCredentials(
            access_key_id=access_key_id,
            secret_access_key=self.secret_for(access_key_id),
            session_token=token,
            expiration=expiration,
        )
        return credentials, claims

    def resolve(self, access_key_id: str, session_token: str) -> SessionClaims:
        """The claims behind a key pair, or the error AWS would answer.

        Forged, tampered or mismatched tokens give ``InvalidClientTokenId`` (403); a genuine
        token at or past its expiration gives ``ExpiredToken`` (400).
        """
        payload = self._open(session_token)
        try:
            data = json.loads(payload)
            claims = SessionClaims.for_role(
                access_key_id=str(data["k"]),
                role_arn=str(data["r"]),
                session_name=str(data["s"]),
                expiration=dt.datetime.fromtimestamp(int(data["e"]), dt.UTC),
                source_identity=None if data.get("i") is None else str(data["i"]),
            )
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            # Only reachable with a correctly tagged token, i.e. never in practice.
            raise InvalidClientTokenId() from exc
        # surrogatepass: a caller-supplied ID with a lone surrogate is a mismatch, not a crash.
        if not hmac.compare_digest(claims.access_key_id.encode("utf-8"),
                                   access_key_id.encode("utf-8", "surrogatepass")):
            raise InvalidClientTokenId()
        if self._clock.now() >= claims.expiration:
            raise ExpiredToken()
        return claims

    def _seal(self, claims: SessionClaims) -> str:
        data: dict[str, str | int] = {
            "k": claims.access_key_id,
            "r": claims.role_arn,
            "s": claims.session_name,
            "e": int(claims.expiration.timestamp()),
        }
        if claims.source_identity is not None:
            data["i"] = claims.source_identity
        body = _TOKEN_VERSION + json.dumps(data, separators=(",", ":"),
                                           sort_keys=True).encode("utf-8")
        tag = hmac.new(self._token_key, body, hashlib.sha256).digest()
        token = base64.b64encode(body + tag).decode("ascii")
        if len(token) >= MAX_SESSION_TOKEN_BYTES:
            raise ValueError(f"session token would be {len(token)} bytes; STS allows 4096")
        return token

    def _open(self, session_token: str) -> bytes:
        """Check the token's tag in constant time; return the JSON claims it protects."""
        if not session_token or len(session_token) > MAX_SESSION_TOKEN_BYTES:
            raise InvalidClientTokenId()
        try:
            raw = base64.b64decode(session_token.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise InvalidClientTokenId() from exc
        if len(raw) <= len(_TOKEN_VERSION) + _TAG_BYTES:
            raise InvalidClientTokenId()
        body, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
        expected = hmac.new(self._token_key, body, hashlib.sha256).digest()
        if not hmac.compare_digest(tag, expected) or not body.startswith(_TOKEN_VERSION):
            raise InvalidClientTokenId()
        return body[len(_TOKEN_VERSION):]
