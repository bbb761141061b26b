"""The console session: what the browser carries after sign-in, and how it ends.

The session is a signed cookie (``itsdangerous``, keyed by the install's session secret)
holding the STS credentials and what the console page shows; nothing is stored per session on
the server except a sign-out. Every page load re-checks the credentials with the credential
issuer, so a session ends when they expire. Signing out claims the access key ID in the shared
``StateStore`` (all workers, across restarts), so a copy of the cookie taken before sign-out
does not work either. The sign-out form carries a token bound to the session, so another site
cannot sign the user out.

AWS console sessions last at most 12 hours (IAM User Guide, "Enable SAML 2.0 federated
principals to access the AWS Management Console"); the credentials' expiration decides sooner.
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

__all__ = ["MAX_COOKIE_BYTES", "MAX_SESSION_SECONDS", "ConsoleSession", "ConsoleSessions"]

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


def _shown(value: str | None) -> str | None:
    if value is None or len(value) <= MAX_SHOWN_CHARS:
        return value
    return value[:MAX_SHOWN_CHARS - 1] + "\u2026"


@dataclass(frozen=True)
class ConsoleSession:
    """One signed-in console, as its cookie says."""

    access_key_id: str
    session_token: str
    expires: dt.datetime
    name_id: str | None = None
    """The SAML NameID the user signed in with."""
    issuer: str | None = None
    """The IdP that signed the assertion."""
    account_alias: str | None = None
    deep_link: str | None = None
    """The console page RelayState asked for, if not the home page."""

    def to_json(self) -> dict[str, Any]:
        return {"access_key_id": self.access_key_id, "session_token": self.session_token,
                "expires": self.expires.isoformat(), "name_id": self.name_id,
                "issuer": self.issuer, "account_alias": self.account_alias,
                "deep_link": self.deep_link}

    @classmethod
    def from_json(cls, data: object) -> ConsoleSession | None:
        """The session in a cookie we wrote, or ``None`` for anything else."""
        if not isinstance(data, dict):
            return None
        try:
            expires = dt.datetime.fromisoformat(str(data["expires"]))
            session = cls(access_key_id=data["access_key_id"],
                          session_token=data["session_token"], expires=expires,
                          name_id=data.get("name_id"), issuer=data.get("issuer"),
                          account_alias=data.get("account_alias"),
                          deep_link=data.get("deep_link"))
        except (KeyError, TypeError, ValueError):
            return None
        texts = (session.access_key_id, session.session_token)
        optional = (session.name_id, session.issuer, session.account_alias, session.deep_link)
        if not all(isinstance(v, str) for v in texts) or expires.tzinfo is None or not all(
                v is None or isinstance(v, str) for v in optional):
            return None
        return session


class ConsoleSessions:
    """Seal, open and end console sessions."""

    def __init__(self, secret: str, *, store: StateStore, credentials: CredentialIssuer,
                 clock: Clock) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self._csrf = URLSafeTimedSerializer(secret, salt=_CSRF_SALT)
        self._store = store
        self._credentials = credentials
        self._clock = clock

    def seal(self, session: ConsoleSession) -> tuple[str, int]:
        """The cookie value and its max-age in seconds (until the credentials expire).

        The value always fits a browser cookie: long NameIDs and issuers are shortened for
        display, and a deep link that does not fit is dropped (the console home opens).
        """
        remaining = int((session.expires - self._clock.now()).total_seconds())
        session = replace(session, name_id=_shown(session.name_id),
                          issuer=_shown(session.issuer))
        value = self._serializer.dumps(session.to_json())
        if len(value) > MAX_COOKIE_BYTES and session.deep_link is not None:
            value = self._serializer.dumps(replace(session, deep_link=None).to_json())
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

    def claims(self, session: ConsoleSession) -> SessionClaims | None:
        """Who the session's credentials speak for, while they are valid."""
        try:
            return self._credentials.resolve(session.access_key_id, session.session_token)
        except AwsError:
            return None

    def secret_access_key(self, session: ConsoleSession) -> str:
        return self._credentials.secret_for(session.access_key_id)

    def csrf_token(self, session: ConsoleSession) -> str:
        """The sign-out form's token, bound to this session."""
        return self._csrf.dumps(session.access_key_id)

    def check_csrf(self, session: ConsoleSession, token: object) -> bool:
        if not isinstance(token, str):
            return False
        try:
            return bool(self._csrf.loads(token) == session.access_key_id)
        except BadData:
            return False

    def end(self, session: ConsoleSession) -> None:
        """Sign out on the server: the cookie stops working everywhere, copies included."""
        self._store.claim(_SIGNED_OUT, session.access_key_id, session.expires)
