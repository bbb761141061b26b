"""The console session: what the browser carries after sign-in, and how it ends.

The session is a signed cookie (``itsdangerous``, keyed by the install's session secret)
holding the STS credentials and what the console page shows; nothing is stored per session on
the server except a sign-out. Every page load re-checks the credentials with the credential
issuer, so a session ends when they expire. Signing out claims the access key ID in the shared
``StateStore`` (all workers, across restarts), so a copy of the cookie taken before sign-out
does not work either. The sign-out form carries a token bound to the session, so another site
cannot sign the user out.

A session is a sign-in plus, after a switch role, the current role::

    sign-in    the credentials of the identity that signed in: an IAM user's session
               (``/aws/signin``, ``user_arn`` set, ``mfa`` when a code was given) or the SAML
               role session (``/aws/saml``, ``name_id``/``issuer``); they end the session
    role       the switched-to role's credentials and how the navigation bar shows it
    history    the last five roles switched to (account, role, display name, colour)

AWS console sessions last at most 12 hours (IAM User Guide, "Enable SAML 2.0 federated
principals to access the AWS Management Console"; "Switch from a user to an IAM role
(console)": "IAM user sessions are 12 hours by default"); the credentials' expiration decides
sooner. "The last several roles that you used appear on the menu" (same page): five here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any, Final

from itsdangerous import BadData, URLSafeTimedSerializer

from idp.aws.credentials import CredentialIssuer, SessionClaims
from idp.aws.errors import AwsError
from idp.clock import Clock
from idp.store import StateStore

__all__ = [
    "MAX_COOKIE_BYTES",
    "MAX_HISTORY",
    "MAX_SESSION_SECONDS",
    "ConsoleSession",
    "ConsoleSessions",
    "RoleLink",
    "SwitchedRole",
]

#: The longest a console session can last (12 hours), plus a little slack for clocks.
MAX_SESSION_SECONDS: Final = 43_200 + 300
_SALT: Final = "aws-console"
_CSRF_SALT: Final = "aws-console-csrf"
_SIGNED_OUT: Final = "console-logout"
#: Browsers keep a cookie of at most 4096 bytes, name and value together (RFC 6265 §6.1).
MAX_COOKIE_BYTES: Final = 4000
#: What the console shows of the NameID and issuer: a real IdP may send long values, and the
#: cookie must stay within ``MAX_COOKIE_BYTES`` whatever a signed assertion holds.
MAX_SHOWN_CHARS: Final = 256
#: Roles remembered for one-click switching.
MAX_HISTORY: Final = 5


def _shown(value: str | None) -> str | None:
    if value is None or len(value) <= MAX_SHOWN_CHARS:
        return value
    return value[:MAX_SHOWN_CHARS - 1] + "\u2026"


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _instant(value: object) -> dt.datetime:
    when = dt.datetime.fromisoformat(_text(value))
    if when.tzinfo is None:
        raise ValueError("naive time")
    return when


@dataclass(frozen=True)
class RoleLink:
    """A role the console can switch to in one click, as the navigation bar shows it."""

    account: str
    """The account ID."""
    role_name: str
    """``[PATH/]NAME``."""
    display_name: str
    color: str | None = None
    """Six lower-case hex digits."""

    def same_role(self, other: RoleLink) -> bool:
        return self.account == other.account and self.role_name.lower() == (
            other.role_name.lower())

    def to_json(self) -> list[str | None]:
        return [self.account, self.role_name, self.display_name, self.color]

    @classmethod
    def from_json(cls, data: object) -> RoleLink:
        if not isinstance(data, list) or len(data) != 4:
            raise TypeError("not a role link")
        return cls(account=_text(data[0]), role_name=_text(data[1]),
                   display_name=_text(data[2]), color=_optional_text(data[3]))


@dataclass(frozen=True)
class SwitchedRole:
    """The role the console is in after a switch: its credentials and how it is shown."""

    access_key_id: str
    session_token: str
    expires: dt.datetime
    link: RoleLink

    def to_json(self) -> dict[str, Any]:
        return {"k": self.access_key_id, "t": self.session_token,
                "e": self.expires.isoformat(), "l": self.link.to_json()}

    @classmethod
    def from_json(cls, data: object) -> SwitchedRole:
        if not isinstance(data, dict):
            raise TypeError("not a role")
        return cls(access_key_id=_text(data["k"]), session_token=_text(data["t"]),
                   expires=_instant(data["e"]), link=RoleLink.from_json(data["l"]))


@dataclass(frozen=True)
class ConsoleSession:
    """One signed-in console, as its cookie says."""

    access_key_id: str
    """The sign-in credentials (an IAM user's session or the SAML role session)."""
    session_token: str
    expires: dt.datetime
    """When the sign-in ends (the sign-in credentials' expiration)."""
    name_id: str | None = None
    """The SAML NameID the user signed in with."""
    issuer: str | None = None
    """The IdP that signed the assertion."""
    account_alias: str | None = None
    """The sign-in account's alias."""
    deep_link: str | None = None
    """The console page RelayState asked for, if not the home page."""
    user_arn: str | None = None
    """The IAM user who signed in at ``/aws/signin`` (``None``: a SAML sign-in)."""
    mfa: bool = False
    """The sign-in used an MFA code."""
    role: SwitchedRole | None = None
    """The role switched to, if any."""
    history: tuple[RoleLink, ...] = ()
    """The last roles switched to, most recent first."""

    @property
    def iam_user(self) -> bool:
        return self.user_arn is not None

    @property
    def user_name(self) -> str | None:
        """The IAM user's name (what "Back to …" names)."""
        return self.user_arn.rsplit("/", 1)[-1] if self.user_arn else None

    @property
    def current_credentials(self) -> tuple[str, str]:
        """The key ID and token the console acts with now (the role's after a switch)."""
        if self.role is not None:
            return self.role.access_key_id, self.role.session_token
        return self.access_key_id, self.session_token

    def switched(self, role: SwitchedRole) -> ConsoleSession:
        """In ``role`` now, remembered first in the history (once, at most five)."""
        history = (role.link, *(h for h in self.history if not h.same_role(role.link)))
        return replace(self, role=role, history=history[:MAX_HISTORY])

    def back(self) -> ConsoleSession:
        """Back to the signed-in identity; the history stays."""
        return replace(self, role=None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "access_key_id": self.access_key_id, "session_token": self.session_token,
            "expires": self.expires.isoformat(), "name_id": self.name_id,
            "issuer": self.issuer, "account_alias": self.account_alias,
            "deep_link": self.deep_link}
        if self.user_arn is not None:
            data["user_arn"] = self.user_arn
        if self.mfa:
            data["mfa"] = True
        if self.role is not None:
            data["role"] = self.role.to_json()
        if self.history:
            data["history"] = [h.to_json() for h in self.history]
        return data

    @classmethod
    def from_json(cls, data: object) -> ConsoleSession | None:
        """The session in a cookie we wrote, or ``None`` for anything else."""
        if not isinstance(data, dict):
            return None
        try:
            role = data.get("role")
            history = data.get("history") or []
            if not isinstance(history, list) or not isinstance(data.get("mfa", False), bool):
                return None
            return cls(access_key_id=_text(data["access_key_id"]),
                       session_token=_text(data["session_token"]),
                       expires=_instant(data["expires"]),
                       name_id=_optional_text(data.get("name_id")),
                       issuer=_optional_text(data.get("issuer")),
                       account_alias=_optional_text(data.get("account_alias")),
                       deep_link=_optional_text(data.get("deep_link")),
                       user_arn=_optional_text(data.get("user_arn")),
                       mfa=bool(data.get("mfa", False)),
                       role=None if role is None else SwitchedRole.from_json(role),
                       history=tuple(RoleLink.from_json(h) for h in history[:MAX_HISTORY]))
        except (KeyError, TypeError, ValueError):
            return None


class ConsoleSessions:
    """Seal, open and end console sessions."""

    def __init__(self, secret: str, *, store: StateStore, credentials: CredentialIssuer,
                 clock: Clock) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self._csrf = URLSafeTimedSerializer(secret, salt=_CSRF_SALT)
        self._store = store
        self._credentials = credentials
        self._clock = clock

    def sign_in_user(self, *, user_arn: str, user_id: str, account_alias: str | None,
                     mfa_at: dt.datetime | None, duration: int) -> ConsoleSession:
        """A new console session for an IAM user: ``GetSessionToken``-like credentials for
        ``duration`` seconds, which carry ``aws:MultiFactorAuthPresent`` (``mfa_at``)."""
        credentials, _ = self._credentials.issue_user_session(user_arn, user_id, duration,
                                                              mfa_at=mfa_at)
        return ConsoleSession(access_key_id=credentials.access_key_id,
                              session_token=credentials.session_token,
                              expires=credentials.expiration, account_alias=account_alias,
                              user_arn=user_arn, mfa=mfa_at is not None)

    def seal(self, session: ConsoleSession) -> tuple[str, int]:
        """The cookie value and its max-age in seconds (until the sign-in expires).

        The value always fits a browser cookie: long NameIDs and issuers are shortened for
        display; what does not fit goes, least useful first: the oldest roles of the history,
        then the deep link. A session that still does not fit is ``ValueError``.
        """
        remaining = int((session.expires - self._clock.now()).total_seconds())
        session = replace(session, name_id=_shown(session.name_id),
                          issuer=_shown(session.issuer))
        value = self._serializer.dumps(session.to_json())
        while len(value) > MAX_COOKIE_BYTES and (session.history or session.deep_link):
            if session.history:
                session = replace(session, history=session.history[:-1])
            else:
                session = replace(session, deep_link=None)
            value = self._serializer.dumps(session.to_json())
        if len(value) > MAX_COOKIE_BYTES:
            raise ValueError(f"a console session needs {len(value)} bytes of cookie")
        return value, max(remaining, 0)

    def open(self, cookie: str | None) -> ConsoleSession | None:
        """The session in a cookie: signed by us, not too old, not signed out; else ``None``."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=MAX_SESSION_SECONDS)
        except BadData:
            return None
        session = ConsoleSession.from_json(data)
        if session is None or self._store.claimed(_SIGNED_OUT, session.access_key_id):
            return None
        return session

    def _resolve(self, access_key_id: str, session_token: str) -> SessionClaims | None:
        try:
            return self._credentials.resolve(access_key_id, session_token)
        except AwsError:
            return None

    def claims(self, session: ConsoleSession) -> SessionClaims | None:
        """Who the sign-in credentials speak for, while they are valid."""
        return self._resolve(session.access_key_id, session.session_token)

    def role_claims(self, session: ConsoleSession) -> SessionClaims | None:
        """Who the switched-to role's credentials speak for, while they are valid."""
        if session.role is None:
            return None
        return self._resolve(session.role.access_key_id, session.role.session_token)

    def secret_access_key(self, session: ConsoleSession) -> str:
        """The secret key of the credentials the console acts with now."""
        return self._credentials.secret_for(session.current_credentials[0])

    def csrf_token(self, session: ConsoleSession) -> str:
        """The console forms' token (sign-out, switch role, back), bound to the sign-in."""
        return self._csrf.dumps(session.access_key_id)

    def check_csrf(self, session: ConsoleSession, token: object) -> bool:
        if not isinstance(token, str) or len(token) > 512:
            return False
        try:
            return bool(self._csrf.loads(token) == session.access_key_id)
        except BadData:
            return False

    def end(self, session: ConsoleSession) -> None:
        """Sign out on the server: the cookie stops working everywhere, copies included
        (the sign-in and the role alike)."""
        self._store.claim(_SIGNED_OUT, session.access_key_id, session.expires)
        if session.role is not None:
            self._store.claim(_SIGNED_OUT, session.role.access_key_id, session.role.expires)
