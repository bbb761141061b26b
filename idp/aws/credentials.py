"""Stateless STS temporary credentials: any worker can verify them, across restarts.

Formats follow the IAM User Guide ("IAM identifiers": ``ASIA`` prefix for temporary access key
IDs, ``AROA`` for role unique IDs). AWS documents nothing else; real STS output has a
40-character secret and an opaque base64 session token, at most 4,096 bytes::

    AccessKeyId      "ASIA" + 16 random characters of the base32 alphabet (A-Z, 2-7)
    SecretAccessKey  base64(HMAC-SHA256(install_secret, b"sts-secret|" + akid))[:40]
    SessionToken     base64(VERSION || zlib(compact JSON claims) || HMAC-SHA256(token_key, both))

The claims name the kind of session (a role session, or an IAM user's ``GetSessionToken``
session), when it was issued and when MFA was verified for it (``aws:TokenIssueTime``,
``aws:MultiFactorAuthAge``), its ``SourceIdentity``, session tags and transitive tag keys,
whether role sessions assumed with it are capped at one hour (role chaining; IAM User Guide,
"Roles terms and concepts") and the session policy text. Compression keeps even a
2,048-character session policy with tags under the 4,096 bytes; a token that would still not
fit is refused with ``PackedPolicyTooLarge`` (STS API Reference, AssumeRole: "the session
policies and session tags … packed binary format that has a separate limit").

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
import zlib
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from idp.aws.errors import ExpiredToken, InvalidClientTokenId, PackedPolicyTooLarge
from idp.clock import Clock

__all__ = [
    "MAX_SESSION_TOKEN_BYTES",
    "CredentialIssuer",
    "SessionClaims",
    "SessionKind",
    "TemporaryCredentials",
    "account_of_key",
    "new_access_key_id",
    "role_unique_id",
]

#: STS session tokens are at most 4,096 bytes (botocore's sts ``service-2.json``,
#: ``minimumSessionTokenSizeType``: "must not exceed 4,096 bytes").
MAX_SESSION_TOKEN_BYTES: Final = 4096
MIN_SECRET_BYTES: Final = 32

_TOKEN_VERSION: Final = b"\x02"
_TAG_BYTES: Final = 32
#: A token of 4,096 bytes inflates to far less; a bound against decompression bombs.
_MAX_CLAIMS_BYTES: Final = 64 * 1024
_SECRET_LABEL: Final = b"sts-secret|"
_TOKEN_KEY_LABEL: Final = b"sts-session-token-key"
#: ``arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`` (IAM User Guide, "IAM ARNs").
_ROLE_ARN_RE: Final = re.compile(r"arn:(aws[a-z-]*):iam::(\d{12}):role/(?:[^/]+/)*([^/]+)",
                                 re.ASCII)
_USER_ARN_RE: Final = re.compile(r"arn:(aws[a-z-]*):iam::(\d{12}):user/(?:[^/]+/)*([^/]+)",
                                 re.ASCII)


#: Bits 46..7 of the first six bytes of a key ID's base32 body hold the account ID, the layout
#: real AWS key IDs have been observed to use (so ``GetAccessKeyInfo`` needs no lookup).
_ACCOUNT_MASK: Final = 0x7FFFFFFFFF80
_ACCOUNT_SHIFT: Final = 7


def new_access_key_id(account: str) -> str:
    """``ASIA`` + 16 base32 characters: 10 bytes carrying ``account`` and 40 random bits."""
    noise = secrets.token_bytes(10)
    head = (int.from_bytes(noise[:6], "big") & ~_ACCOUNT_MASK & 0xFFFFFFFFFFFF) | (
        int(account) << _ACCOUNT_SHIFT)
    return "ASIA" + base64.b32encode(head.to_bytes(6, "big") + noise[6:]).decode("ascii")


def account_of_key(access_key_id: str) -> str | None:
    """The account a temporary key ID issued here carries (``None``: not such a key ID)."""
    body = access_key_id[4:]
    if not access_key_id.startswith("ASIA") or len(body) != 16:
        return None
    try:
        raw = base64.b32decode(body)
    except (binascii.Error, ValueError):
        return None
    account = (int.from_bytes(raw[:6], "big") & _ACCOUNT_MASK) >> _ACCOUNT_SHIFT
    return f"{account:012d}" if account < 10**12 else None


def role_unique_id(role_arn: str) -> str:
    """The role's unique ID: ``AROA`` + 17 base32 characters of SHA-256(ARN), stable per role.

    Real role IDs are 21 characters starting ``AROA`` (IAM User Guide, "Unique identifiers").
    """
    digest = hashlib.sha256(role_arn.encode("utf-8")).digest()
    return "AROA" + base64.b32encode(digest).decode("ascii")[:17]


class SessionKind(StrEnum):
    ROLE = "role"
    """A role session (``AssumeRole``, ``AssumeRoleWithSAML``, the console's switch role)."""
    USER = "user"
    """An IAM user's ``GetSessionToken`` session."""


Tags = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SessionClaims:
    """Who a set of temporary credentials speaks for (GetCallerIdentity's answer).

    For a user session (``kind`` USER) ``role_arn`` is empty, ``assumed_role_arn`` is the
    user's ARN, ``assumed_role_id`` the user's ``AIDA…`` ID and ``session_name`` the user name:
    what ``GetCallerIdentity`` answers for it.
    """

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
    kind: SessionKind = SessionKind.ROLE
    user_name: str | None = None
    """The IAM user (user sessions)."""
    issued_at: dt.datetime | None = None
    mfa_at: dt.datetime | None = None
    """When MFA was verified for this session (``None``: it was not)."""
    tags: Tags = ()
    """Session tags (keys keep their case)."""
    transitive_tag_keys: tuple[str, ...] = ()
    chained: bool = True
    """Role sessions assumed with these credentials are capped at one hour."""
    session_policy: str | None = None

    @property
    def user_arn(self) -> str | None:
        return self.assumed_role_arn if self.kind is SessionKind.USER else None

    @classmethod
    def for_user(cls, *, access_key_id: str, user_arn: str, user_id: str,
                 expiration: dt.datetime, issued_at: dt.datetime | None = None,
                 mfa_at: dt.datetime | None = None) -> SessionClaims:
        """A user's ``GetSessionToken`` session (``ValueError``: not an IAM user ARN)."""
        match = _USER_ARN_RE.fullmatch(user_arn)
        if match is None:
            raise ValueError(f"not an IAM user ARN: {user_arn!r}")
        account, user_name = match.group(2), match.group(3)
        return cls(access_key_id=access_key_id, role_arn="", assumed_role_arn=user_arn,
                   assumed_role_id=user_id, account=account, session_name=user_name,
                   expiration=expiration, kind=SessionKind.USER, user_name=user_name,
                   issued_at=issued_at, mfa_at=mfa_at, chained=True)

    @classmethod
    def for_role(
        cls,
        *,
        access_key_id: str,
        role_arn: str,
        session_name: str,
        expiration: dt.datetime,
        source_identity: str | None = None,
        role_id: str | None = None,
    ) -> SessionClaims:
        """Derive the assumed-role ARN from the role ARN (IAM User Guide, "IAM ARNs"); the ID
        is ``ROLE_ID:SESSION`` with the role's unique ID (``role_id``, else the one derived
        from the ARN for roles the directory starts with).

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
            assumed_role_id=f"{role_id or role_unique_id(role_arn)}:{session_name}",
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

    def _new_key(self, duration_seconds: int,
                 account: str) -> tuple[str, dt.datetime, dt.datetime]:
        if duration_seconds <= 0:
            raise ValueError("duration_seconds must be positive")
        access_key_id = new_access_key_id(account)
        # STS reports whole seconds (``2019-11-01T20:26:47Z``): keep exactly what the token says.
        issued = self._clock.now().astimezone(dt.UTC).replace(microsecond=0)
        return access_key_id, issued, issued + dt.timedelta(seconds=duration_seconds)

    def _credentials(self, claims: SessionClaims) -> TemporaryCredentials:
        return TemporaryCredentials(
            access_key_id=claims.access_key_id,
            secret_access_key=self.secret_for(claims.access_key_id),
            session_token=self._seal(claims),
            expiration=claims.expiration,
        )

    def issue(
        self,
        role_arn: str,
        session_name: str,
        duration_seconds: int,
        source_identity: str | None = None,
        *,
        mfa_at: dt.datetime | None = None,
        tags: Tags = (),
        transitive_tag_keys: tuple[str, ...] = (),
        session_policy: str | None = None,
        chained: bool = True,
        role_id: str | None = None,
    ) -> tuple[TemporaryCredentials, SessionClaims]:
        """New role-session credentials for ``role_arn`` valid for ``duration_seconds`` from
        ``clock.now()``.

        The caller has already applied the duration rules (``idp.aws.limits``); this only refuses
        a non-positive duration or a non-role ARN (``ValueError``), and a session whose token
        would exceed 4,096 bytes (``PackedPolicyTooLarge``).
        """
        match = _ROLE_ARN_RE.fullmatch(role_arn)
        if match is None:
            raise ValueError(f"not an IAM role ARN: {role_arn!r}")
        access_key_id, issued, expiration = self._new_key(duration_seconds, match.group(2))
        claims = SessionClaims.for_role(
            access_key_id=access_key_id,
            role_arn=role_arn,
            session_name=session_name,
            expiration=expiration,
            source_identity=source_identity,
            role_id=role_id,
        )
        claims = replace(claims, issued_at=issued, mfa_at=_whole(mfa_at), tags=tuple(tags),
                         transitive_tag_keys=tuple(transitive_tag_keys),
                         session_policy=session_policy, chained=chained)
        return self._credentials(claims), claims

    def issue_user_session(
        self,
        user_arn: str,
        user_id: str,
        duration_seconds: int,
        *,
        mfa_at: dt.datetime | None = None,
    ) -> tuple[TemporaryCredentials, SessionClaims]:
        """``GetSessionToken`` credentials of the IAM user ``user_arn`` (``AIDA…`` ``user_id``)."""
        match = _USER_ARN_RE.fullmatch(user_arn)
        if match is None:
            raise ValueError(f"not an IAM user ARN: {user_arn!r}")
        access_key_id, issued, expiration = self._new_key(duration_seconds, match.group(2))
        claims = SessionClaims.for_user(access_key_id=access_key_id, user_arn=user_arn,
                                        user_id=user_id, expiration=expiration,
                                        issued_at=issued, mfa_at=_whole(mfa_at))
        return self._credentials(claims), claims

    def resolve(self, access_key_id: str, session_token: str) -> SessionClaims:
        """The claims behind a key pair, or the error AWS would answer.

        Forged, tampered or mismatched tokens give ``InvalidClientTokenId`` (403); a genuine
        token at or past its expiration gives ``ExpiredToken`` (403).
        """
        payload = self._open(session_token)
        try:
            data = json.loads(payload)
            claims = _claims(data)
        except (ValueError, KeyError, TypeError, OverflowError, AttributeError) as exc:
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
        data: dict[str, object] = {
            "k": claims.access_key_id,
            "e": int(claims.expiration.timestamp()),
        }
        if claims.kind is SessionKind.USER:
            data["u"] = claims.assumed_role_arn
            data["d"] = claims.assumed_role_id
        else:
            data["r"] = claims.role_arn
            data["s"] = claims.session_name
            role_id = claims.assumed_role_id.partition(":")[0]
            if role_id != role_unique_id(claims.role_arn):  # an ID the IAM API stored
                data["o"] = role_id
        optional: dict[str, object] = {
            "i": claims.source_identity,
            "t": None if claims.issued_at is None else int(claims.issued_at.timestamp()),
            "m": None if claims.mfa_at is None else int(claims.mfa_at.timestamp()),
            "g": [list(pair) for pair in claims.tags] or None,
            "x": list(claims.transitive_tag_keys) or None,
            "p": claims.session_policy,
            "c": None if claims.chained else 0,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        body = _TOKEN_VERSION + zlib.compress(
            json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8"), 9)
        tag = hmac.new(self._token_key, body, hashlib.sha256).digest()
        token = base64.b64encode(body + tag).decode("ascii")
        if len(token) > MAX_SESSION_TOKEN_BYTES:
            percent = -(-len(token) * 100 // MAX_SESSION_TOKEN_BYTES)
            raise PackedPolicyTooLarge(
                f"Packed policy consumes {percent}% of allotted space, please use smaller "
                "policy.", detail=f"the session token would be {len(token)} bytes; STS allows "
                f"{MAX_SESSION_TOKEN_BYTES}")
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
        try:
            inflater = zlib.decompressobj()
            payload = inflater.decompress(body[len(_TOKEN_VERSION):], _MAX_CLAIMS_BYTES)
        except zlib.error as exc:  # only with a correctly tagged token: never in practice
            raise InvalidClientTokenId() from exc
        return payload


def _whole(when: dt.datetime | None) -> dt.datetime | None:
    return None if when is None else when.astimezone(dt.UTC).replace(microsecond=0)


def _when(value: object) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(int(str(value)), dt.UTC)


def _claims(data: dict[str, object]) -> SessionClaims:
    """The claims of a token's JSON (raises ``ValueError``/``KeyError``/``TypeError``)."""
    expiration = dt.datetime.fromtimestamp(int(str(data["e"])), dt.UTC)
    issued, mfa_at = _when(data.get("t")), _when(data.get("m"))
    if "u" in data:
        return SessionClaims.for_user(access_key_id=str(data["k"]), user_arn=str(data["u"]),
                                      user_id=str(data["d"]), expiration=expiration,
                                      issued_at=issued, mfa_at=mfa_at)
    claims = SessionClaims.for_role(
        access_key_id=str(data["k"]), role_arn=str(data["r"]), session_name=str(data["s"]),
        expiration=expiration,
        source_identity=None if data.get("i") is None else str(data["i"]),
        role_id=None if data.get("o") is None else str(data["o"]))
    raw_tags = data.get("g") or []
    raw_keys = data.get("x") or []
    if not isinstance(raw_tags, list) or not isinstance(raw_keys, list):
        raise TypeError("tags")
    policy = data.get("p")
    return replace(claims, issued_at=issued, mfa_at=mfa_at,
                   tags=tuple((str(k), str(v)) for k, v in raw_tags),
                   transitive_tag_keys=tuple(str(k) for k in raw_keys),
                   session_policy=None if policy is None else str(policy),
                   chained=data.get("c", 1) != 0)
