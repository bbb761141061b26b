"""Signing in: password, then a one-time code for MFA users, with throttling; a ``Principal``.

The state machine, framework-free (the login route only parses the form and renders)::

    submit(LoginAttempt)
      ├── too many recent failures for this user or address   → Throttled(retry_after)
      ├── password right, user has TOTP, no code yet           → OtpNeeded(MfaStep)
      ├── (MfaStep pending, code only)  code right             → LoggedIn(Principal)
      ├── password right, code right or no TOTP                → LoggedIn(Principal)
      └── anything wrong                                       → Refused(message)

A failure never says whether the user exists. A pending ``MfaStep`` lasts 5 minutes or until
it is used; a ``Principal`` lasts the IdP session lifetime and ends early if the user leaves
the directory, gains MFA, signs out or signs in again. Both travel in the signed session
cookie as ``to_json()`` / ``from_json()``; their ends are recorded in the shared
``StateStore`` (by random ids: the step's ``id``, the principal's ``session_index``), so they
hold for copies of the cookie, on every worker, across restarts.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Final

from idp.authn.throttle import LoginThrottle
from idp.authn.totp import TotpGuard
from idp.clock import Clock, format_instant, parse_instant
from idp.directory.model import Directory, User
from idp.directory.passwords import verify_password
from idp.errors import AuthnFailed, MfaRequired
from idp.saml.constants import AuthnContextClass
from idp.store import StateStore

__all__ = [
    "BAD_CREDENTIALS",
    "STEP_ALREADY_USED",
    "Authenticator",
    "LoggedIn",
    "LoginAttempt",
    "LoginOutcome",
    "MfaStep",
    "OtpNeeded",
    "Principal",
    "Refused",
    "Throttled",
    "new_principal",
]

log = logging.getLogger("idp.authn")

BAD_CREDENTIALS: Final = "Invalid username or password."
STEP_ALREADY_USED: Final = "This sign-in step was already completed. Sign in again."
#: How long a password-verified user has to enter the TOTP code.
MFA_STEP_SECONDS: Final = 300
#: StateStore namespace of IdP logins ended by signing out (keyed by session index).
_SIGNED_OUT: Final = "idp-logout"
#: StateStore namespace of MFA steps that can no longer be finished (keyed by step id).
_MFA_STEP_ENDED: Final = "idp-mfa-step"


@dataclass(frozen=True)
class Principal:
    """A successful login."""

    username: str
    instant: dt.datetime
    mfa: bool
    session_index: str

    def context(self, *, secure_transport: bool) -> AuthnContextClass:
        if self.mfa:
            return AuthnContextClass.MFA
        if secure_transport:
            return AuthnContextClass.PASSWORD_PROTECTED_TRANSPORT
        return AuthnContextClass.PASSWORD

    def to_json(self) -> dict[str, Any]:
        return {"username": self.username, "instant": format_instant(self.instant),
                "mfa": self.mfa, "session_index": self.session_index}

    @classmethod
    def from_json(cls, data: object) -> Principal | None:
        """The principal a session cookie holds, or ``None`` if it is not one we wrote."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(username=str(data["username"]), instant=parse_instant(str(data["instant"])),
                       mfa=bool(data["mfa"]), session_index=str(data["session_index"]))
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True)
class MfaStep:
    """A user who passed the password step and still owes a one-time code.

    ``id`` is random: finishing or abandoning the step ends it on the server, so a copy of the
    cookie taken meanwhile cannot finish it again with only a code.
    """

    username: str
    started: dt.datetime
    id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"username": self.username, "at": format_instant(self.started), "id": self.id}

    @classmethod
    def from_json(cls, data: object) -> MfaStep | None:
        if not isinstance(data, dict):
            return None
        try:
            step = cls(username=str(data["username"]), started=parse_instant(str(data["at"])),
                       id=str(data["id"]))
        except (KeyError, ValueError):
            return None
        return step if step.id else None


@dataclass(frozen=True)
class LoginAttempt:
    """What a login form submitted, and from where."""

    username: str
    password: str
    otp: str | None
    address: str
    """The client address, for per-address throttling."""
    mfa_step: MfaStep | None = None
    """A password step this browser already passed (then only the code is needed)."""


@dataclass(frozen=True)
class LoggedIn:
    principal: Principal


@dataclass(frozen=True)
class OtpNeeded:
    """Password accepted; ask for the one-time code (remember ``step`` meanwhile)."""

    step: MfaStep
    message: str


@dataclass(frozen=True)
class Refused:
    message: str
    username: str
    """The username to show back on the form."""
    mfa_step: bool
    """The form should still ask only for the code."""


@dataclass(frozen=True)
class Throttled:
    retry_after: int
    """Seconds until the next attempt is allowed."""


LoginOutcome = LoggedIn | OtpNeeded | Refused | Throttled


def check_password(directory: Directory, username: str, password: str) -> User:
    """The user, or ``AuthnFailed`` with a message that never says whether the user exists."""
    user = directory.user(username)
    ok = verify_password(password, user.password_hash if user else None)
    if user is None or not ok:
        raise AuthnFailed(BAD_CREDENTIALS)
    return user


def check_second_factor(user: User, otp: str | None, guard: TotpGuard) -> bool:
    """True if a code was needed and accepted, False if the user has no MFA."""
    if user.totp_secret is None:
        return False
    if not otp:
        raise MfaRequired("Enter the 6-digit code from your authenticator app.")
    problem = guard.check(user.username, user.totp_secret, otp)
    if problem == "reused":
        raise AuthnFailed("That one-time code was already used. Wait for the next code.")
    if problem is not None:
        raise AuthnFailed("The one-time code is not correct.")
    return True


def _continued(username: str, password: str, step: MfaStep | None) -> MfaStep | None:
    """The pending password step this submission continues: no password, and the username
    left out or repeated. ``None`` when it is a fresh sign-in."""
    if not password and step is not None and username in ("", step.username):
        return step
    return None


def new_principal(user: User, *, mfa: bool, clock: Clock) -> Principal:
    return Principal(
        username=user.username, instant=clock.now(), mfa=mfa,
        session_index="_" + secrets.token_hex(16),
    )


class Authenticator:
    """The login policy for one directory: credentials, second factor, throttling, sessions."""

    def __init__(self, directory: Directory, guard: TotpGuard, clock: Clock, *,
                 throttle: LoginThrottle | None = None, session_lifetime: int = 8 * 3600,
                 store: StateStore | None = None) -> None:
        self.directory = directory
        self._guard = guard
        self._clock = clock
        self._throttle = throttle
        self._store = store  # what must end on the server: signed-out logins, used MFA steps
        self._session_lifetime = dt.timedelta(seconds=session_lifetime)

    def authenticate(self, username: str, password: str, otp: str | None, *,
                     mfa_step: MfaStep | None = None) -> Principal:
        """Password then, for MFA users, TOTP. Raises ``AuthnFailed`` / ``MfaRequired``.

        With a pending ``mfa_step`` and no password, only the code is checked, for the user
        who passed the password step (the form may repeat the username or leave it out).
        """
        continued = _continued(username, password, mfa_step)
        if continued is not None:
            user = self.directory.user(continued.username)
            if user is None:
                raise AuthnFailed(BAD_CREDENTIALS)
        else:
            if not username or not password:
                raise AuthnFailed("Enter your username and password.")
            user = check_password(self.directory, username, password)
        mfa = check_second_factor(user, otp, self._guard)
        return new_principal(user, mfa=mfa, clock=self._clock)

    def submit(self, attempt: LoginAttempt) -> LoginOutcome:
        """One form submission, throttled: what to show or do next."""
        step = attempt.mfa_step
        continued = _continued(attempt.username, attempt.password, step)
        username = continued.username if continued is not None else attempt.username
        user_key = (attempt.username or (step.username if step else "")).lower()
        if self._throttle is not None:
            wait = self._throttle.wait(user_key, attempt.address)
            if wait is not None:
                log.info("sign-in throttled for %r from %s: %d s to wait", user_key[:64],
                         attempt.address, wait)
                return Throttled(retry_after=wait)
        try:
            principal = self.authenticate(attempt.username, attempt.password, attempt.otp,
                                          mfa_step=step)
        except MfaRequired as exc:
            return OtpNeeded(step=MfaStep(username=username, started=self._clock.now(),
                                          id=secrets.token_urlsafe(16)),
                             message=str(exc))
        except AuthnFailed as exc:
            if self._throttle is not None:
                self._throttle.failed(user_key, attempt.address)
            log.info("sign-in refused for %r from %s: %s", username[:64], attempt.address, exc)
            return Refused(message=str(exc), username=username,
                           mfa_step=step is not None and username == step.username)
        if continued is not None and not self.end_mfa_step(continued):
            # Another request finished this very step first (two codes raced on a copied
            # cookie): the step is single-use, so this one does not sign in.
            return Refused(message=STEP_ALREADY_USED, username=username, mfa_step=False)
        if continued is None and step is not None:
            self.end_mfa_step(step)  # superseded by a fresh password login
        if self._throttle is not None:
            self._throttle.succeeded(user_key)
        return LoggedIn(principal)

    def pending_mfa(self, data: object) -> MfaStep | None:
        """The session's pending password step, while it is fresh (5 minutes)."""
        step = MfaStep.from_json(data)
        if step is None:
            return None
        if (self._clock.now() - step.started).total_seconds() > MFA_STEP_SECONDS:
            return None
        if self.mfa_step_ended(step):
            return None
        return step

    def mfa_step_ended(self, step: MfaStep) -> bool:
        """Whether ``step`` was already ended (used, superseded or abandoned), anywhere."""
        return self._store is not None and self._store.claimed(_MFA_STEP_ENDED, step.id)

    def end_mfa_step(self, step: MfaStep) -> bool:
        """The step can no longer be finished, from any copy of the cookie, on any worker.

        True for the one caller that ended it (atomically, across workers); False if it had
        already ended. Without a shared store, always True.
        """
        if self._store is None:
            return True
        return self._store.claim(_MFA_STEP_ENDED, step.id,
                                 step.started + dt.timedelta(seconds=MFA_STEP_SECONDS))

    def current(self, data: object) -> Principal | None:
        """The session's principal while the IdP session lasts and the user still qualifies."""
        principal = Principal.from_json(data)
        if principal is None:
            return None
        user = self.directory.user(principal.username)
        if (self._clock.now() >= principal.instant + self._session_lifetime or user is None
                or (user.has_mfa and not principal.mfa)):
            return None
        if self._store is not None and self._store.claimed(_SIGNED_OUT, principal.session_index):
            return None
        return principal

    def sign_out(self, principal: Principal) -> None:
        """End this login everywhere: ``current`` refuses it from now on, copies included.

        Needs the shared ``store``; without one, only the cookie is cleared.
        """
        if self._store is not None:
            self._store.claim(_SIGNED_OUT, principal.session_index,
                              principal.instant + self._session_lifetime)
