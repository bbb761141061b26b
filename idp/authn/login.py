"""Check a login against the directory and say who logged in and how (a ``Principal``)."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from idp.authn.passwords import verify_password
from idp.authn.totp import TotpGuard
from idp.clock import Clock
from idp.directory.model import Directory, User
from idp.errors import AuthnFailed
from idp.saml.constants import AuthnContextClass

__all__ = [
    "MfaRequired", "Principal", "authenticate", "check_password", "check_second_factor",
    "new_principal",
]

BAD_CREDENTIALS = "Invalid username or password."


class MfaRequired(AuthnFailed):
    """Password accepted; the user must now give a one-time code."""

    title = "One-time code required"


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


def authenticate(
    directory: Directory, username: str, password: str, otp: str | None,
    *, guard: TotpGuard, clock: Clock,
) -> Principal:
    """Password then, for MFA users, TOTP. Raises ``AuthnFailed`` / ``MfaRequired``."""
    user = check_password(directory, username, password)
    mfa = check_second_factor(user, otp, guard)
    return new_principal(user, mfa=mfa, clock=clock)


def new_principal(user: User, *, mfa: bool, clock: Clock) -> Principal:
    return Principal(
        username=user.username, instant=clock.now(), mfa=mfa,
        session_index="_" + secrets.token_hex(16),
    )
