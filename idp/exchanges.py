"""The exchange log: every SAML message the simulator received or sent, and every decision the
console and STS made, decoded, with the checks behind it.

A test that wonders *why* its service provider, or the simulator's AWS side, did what it did
reads this instead of a server log: ``Simulator.exchanges()``, ``GET /api/exchanges``.

Bounded: the newest ``capacity`` entries are kept (default 1000) and each message is clipped
to ``MAX_MESSAGE_BYTES`` of UTF-8: at most about 32 MiB of messages. Per process: with
``idp serve --workers N`` each worker keeps its own log (the admin API needs ``--workers 1``).
Kept messages are deflated (``zlib``), with the first one the log kept as the preset dictionary
(RFC 1950 §2.2): the Responses one IdP sends repeat its certificate, namespaces and attribute
names, so a full log of AWS Responses holds about 1 MiB rather than 5, and a worker's memory
stays near what it was after its first logins (``entries`` inflates them again).

Who an entry is about: the IdP knows which user each Response it sent was for; the console and
STS see only the posted bytes. The log remembers the digest of each Response it saw sent, so a
decision about that same Response (or a fault made from it) is attributed to the user. A
Response the simulator never sent (another IdP's, or one edited after it left) has no user.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import threading
import zlib
from collections import deque
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final

from idp.clock import Clock, format_instant
from idp.errors import Rule

__all__ = [
    "MAX_MESSAGE_BYTES",
    "ORDERS",
    "Check",
    "Exchange",
    "ExchangeKind",
    "ExchangeLog",
    "Outcome",
    "checks_before",
]

MAX_MESSAGE_BYTES: Final = 32 * 1024
_MAX_REMEMBERED: Final = 4096
#: Deflate looks back at most 32 KiB, so a longer preset dictionary is cut to its end.
_DICTIONARY_BYTES: Final = 32 * 1024


class ExchangeKind(StrEnum):
    """What an entry records."""

    AUTHN_REQUEST = "authn-request"
    """An AuthnRequest the IdP received."""
    RESPONSE = "response"
    """A Response the IdP sent (browser SSO, ``mint``, ``idp mint``)."""
    CONSOLE = "console"
    """The console twin's decision on a posted Response (``/aws/saml``)."""
    STS = "sts"
    """The STS's decision on ``AssumeRoleWithSAML``."""
    ASSUME_ROLE = "assume-role"
    """The STS's decision on ``AssumeRole`` (an IAM user's or a role session's call)."""
    WEB_IDENTITY = "web-identity"
    """The STS's decision on ``AssumeRoleWithWebIdentity`` (the message: the token's header
    and claims as JSON, without its signature)."""


class Outcome(StrEnum):
    RECEIVED = "received"
    SENT = "sent"
    ACCEPTED = "accepted"
    REFUSED = "refused"


#: The verifier's checks, in its order (``idp.saml.validation.verify_response``).
_VERIFIER: Final = (
    Rule.XML, Rule.STRUCTURE, Rule.STATUS, Rule.SIGNATURE_MISSING, Rule.SIGNATURE_SHAPE,
    Rule.SIGNATURE_ALGORITHM, Rule.SIGNATURE_INVALID, Rule.ISSUER, Rule.DESTINATION,
    Rule.SUBJECT, Rule.CONFIRMATION, Rule.RECIPIENT, Rule.NOT_YET_VALID, Rule.EXPIRED,
    Rule.AUDIENCE, Rule.STALE, Rule.IN_RESPONSE_TO,
)
#: What STS checks after the signature, in ``AwsFederation.assume``'s order.
_ASSUME: Final = (
    Rule.REPLAY, Rule.ROLE_ATTRIBUTE, Rule.ROLE_PAIR, Rule.ROLE_MISSING,
    Rule.ROLE_SESSION_NAME, Rule.SOURCE_IDENTITY, Rule.TAGS, Rule.TRUST_POLICY,
)
#: Each surface's order: a refusal's trace lists the rules checked before the one that failed.
#: The console reads the Role attribute (unverified, to find the providers) before verifying.
ORDERS: Final = {
    # ``idp.aws.assume_role.RoleAssumption.assume_role``'s order (after the signature).
    ExchangeKind.ASSUME_ROLE: (Rule.MFA, Rule.ROLE_MISSING, Rule.SOURCE_IDENTITY, Rule.TAGS,
                               Rule.TRUST_POLICY, Rule.IDENTITY_POLICY, Rule.ROLE_CHAINING,
                               Rule.SESSION_DURATION),
    # ``idp.aws.web_identity.WebIdentity.assume``'s order (after the parameters).
    ExchangeKind.WEB_IDENTITY: (Rule.PROVIDER, Rule.TOKEN, Rule.TOKEN_ISSUER, Rule.TOKEN_KEYS,
                                Rule.TOKEN_SIGNATURE, Rule.TOKEN_AUDIENCE, Rule.TOKEN_EXPIRED,
                                Rule.ROLE_MISSING, Rule.TAGS, Rule.SOURCE_IDENTITY,
                                Rule.TRUST_POLICY, Rule.SESSION_DURATION),
    ExchangeKind.STS: (Rule.SAML_RESPONSE, Rule.BASE64, Rule.PROVIDER, *_VERIFIER,
                       Rule.SESSION_DURATION, Rule.SESSION_END, *_ASSUME),
    ExchangeKind.CONSOLE: (Rule.FORM, Rule.SAML_RESPONSE, Rule.BASE64, Rule.XML, Rule.STATUS,
                           Rule.ROLE_ATTRIBUTE, Rule.ROLE_VALUE, Rule.PROVIDER,
                           *(r for r in _VERIFIER if r not in (Rule.XML, Rule.STATUS)),
                           Rule.REPLAY, Rule.ROLE_CHOICE, Rule.SESSION_END,
                           *(r for r in _ASSUME if r is not Rule.REPLAY)),
}


@dataclass(frozen=True, slots=True)
class Check:
    """One rule of a decision: passed or failed, and what was found."""

    rule: str
    passed: bool
    found: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "passed": self.passed, "found": self.found}


def checks_before(rule: str | None, found: str | None = None, *,
                  kind: ExchangeKind = ExchangeKind.STS) -> tuple[Check, ...]:
    """The trace of a ``kind`` decision: every rule checked before ``rule`` passed, ``rule``
    failed with ``found``; ``None``: all passed (accepted). A refusal that is not one of the
    surface's rules (an AWS error code such as ``MissingParameter``) stands alone: nothing is
    claimed to have passed before it."""
    order = [r.value for r in ORDERS[kind]]
    if rule is None:
        return tuple(Check(r, True) for r in order)
    if rule not in order:
        return (Check(rule, False, found),)
    index = order.index(rule)
    return (*(Check(r, True) for r in order[:index]), Check(rule, False, found))


@dataclass(frozen=True, slots=True)
class Exchange:
    """One entry of the log (slots: a full log holds a thousand)."""

    id: int
    at: dt.datetime
    kind: ExchangeKind
    outcome: Outcome
    user: str | None = None
    sp: str | None = None
    message: str | None = None
    """The decoded SAML message (XML text), clipped."""
    rule: str | None = None
    """The rule that refused it (``None`` unless refused)."""
    detail: str | None = None
    """What was found / why, in words."""
    checks: tuple[Check, ...] = ()
    fault: str | None = None
    """The fault the IdP injected on purpose, if any."""
    facts: dict[str, str] = field(default_factory=dict)
    """Other findings: role chosen, RoleSessionName, error code, assertion ID..."""

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "at": format_instant(self.at), "kind": self.kind.value,
            "outcome": self.outcome.value, "user": self.user, "sp": self.sp,
            "rule": self.rule, "detail": self.detail, "fault": self.fault,
            "facts": dict(self.facts), "checks": [c.to_json() for c in self.checks],
            "message": self.message,
        }


def decode_message(value: str | bytes | None) -> bytes | None:
    """A posted base64 SAML message as bytes, or ``None`` if it is not base64 (whitespace,
    which browsers and tools insert as line breaks, is ignored)."""
    if value is None:
        return None
    try:
        text = value.encode("ascii") if isinstance(value, str) else value
        return base64.b64decode(b"".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _digest(message: bytes) -> bytes:
    return hashlib.sha256(message).digest()


class ExchangeLog:
    """The newest ``capacity`` exchanges of this process, safe across threads."""

    def __init__(self, clock: Clock, *, capacity: int = 1000) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        #: Each entry without its message, the message deflated, and the dictionary used.
        self._entries: deque[tuple[Exchange, bytes | None, bytes]] = deque(maxlen=capacity)
        self._dictionary: bytes | None = None
        self._next_id = 1
        #: Digest of each Response sent -> its user, oldest first (a dict keeps insertion order).
        self._senders: dict[bytes, str] = {}

    def record(self, kind: ExchangeKind, outcome: Outcome, *, message: bytes | None = None,
               user: str | None = None, sp: str | None = None, rule: str | None = None,
               detail: str | None = None, checks: tuple[Check, ...] = (),
               fault: str | None = None, facts: dict[str, str] | None = None) -> Exchange:
        """Add an entry. A sent message is remembered with its user; a received one is
        attributed to the user it was sent for, if the IdP sent it."""
        with self._lock:
            if message is not None:
                key = _digest(message)
                if outcome is Outcome.SENT and user is not None:
                    self._senders.pop(key, None)  # to the end: the newest
                    self._senders[key] = user
                    while len(self._senders) > _MAX_REMEMBERED:
                        del self._senders[next(iter(self._senders))]
                elif user is None:
                    user = self._senders.get(key)
            entry = Exchange(
                id=self._next_id, at=self._clock.now(), kind=kind, outcome=outcome,
                user=user, sp=sp, message=_text(message), rule=rule, detail=detail,
                checks=checks, fault=fault, facts=dict(facts or {}),
            )
            self._next_id += 1
            self._entries.append(self._packed(entry))
            return entry

    def _packed(self, entry: Exchange) -> tuple[Exchange, bytes | None, bytes]:
        if entry.message is None:
            return entry, None, b""
        raw = entry.message.encode("utf-8")
        if self._dictionary is None:
            self._dictionary = raw[-_DICTIONARY_BYTES:]
        deflater = zlib.compressobj(zdict=self._dictionary)
        return (replace(entry, message=None), deflater.compress(raw) + deflater.flush(),
                self._dictionary)

    def decision(self, kind: ExchangeKind, *, message: bytes | None, rule: str | None = None,
                 found: str | None = None, facts: dict[str, str] | None = None) -> Exchange:
        """A console or STS decision: accepted (no ``rule``), or refused by ``rule`` having
        found ``found``; the trace lists the checks made."""
        return self.record(kind, Outcome.REFUSED if rule is not None else Outcome.ACCEPTED,
                           message=message, rule=rule, detail=found,
                           checks=checks_before(rule, found, kind=kind), facts=facts)

    def entries(self, *, user: str | None = None, kind: str | None = None) -> list[Exchange]:
        """Oldest first; only ``user``'s, only of ``kind`` (an ``ExchangeKind`` value)."""
        if kind is not None and kind not in {k.value for k in ExchangeKind}:
            raise ValueError(f"unknown exchange kind {kind!r} (expected one of: "
                             f"{', '.join(k.value for k in ExchangeKind)})")
        with self._lock:
            entries = list(self._entries)
        return [_unpacked(*packed) for packed in entries
                if (user is None or packed[0].user == user)
                and (kind is None or packed[0].kind == kind)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._senders.clear()
            self._dictionary = None


def _unpacked(entry: Exchange, deflated: bytes | None, dictionary: bytes) -> Exchange:
    if deflated is None:
        return entry
    inflater = zlib.decompressobj(zdict=dictionary)
    raw = inflater.decompress(deflated) + inflater.flush()
    return replace(entry, message=raw.decode("utf-8"))


def _text(message: bytes | None) -> str | None:
    if message is None:
        return None
    if len(message) <= MAX_MESSAGE_BYTES:
        return message.decode("utf-8", errors="replace")
    kept = message[:MAX_MESSAGE_BYTES].decode("utf-8", errors="ignore")  # no split character
    return kept + f"... ({len(message) - len(kept.encode('utf-8'))} more bytes)"
