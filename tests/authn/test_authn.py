"""Passwords and TOTP: right answers pass, wrong and replayed ones do not, users stay secret."""

from __future__ import annotations

import pyotp
import pytest

from idp.authn.login import Authenticator
from idp.authn.totp import TotpGuard
from idp.directory.passwords import hash_password, is_hash, verify_password
from idp.errors import AuthnFailed, MfaRequired
from idp.saml.constants import AuthnContextClass
from tests.support.demo import CAROL_SECRET


def test_password_hash_round_trip_and_salting():
    """Hashes verify, differ per call (salted), and reject the wrong password."""
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first != second and is_hash(first)
    assert verify_password("s3cret", first)
    assert not verify_password("s3cret ", first)
    assert not verify_password("s3cret", None)
    assert not verify_password("s3cret", "not-a-hash")


def test_unknown_user_and_wrong_password_get_the_same_message(directory, clock, store):
    """Login failures never reveal whether the user exists."""
    guard = TotpGuard(clock, store)
    messages = set()
    for username, password in [("bob", "wrong"), ("nobody", "bob-password")]:
        with pytest.raises(AuthnFailed) as info:
            Authenticator(directory, guard, clock).authenticate(username, password, None)
        messages.add(str(info.value))
    assert messages == {"Invalid username or password."}


def test_password_login_is_password_context(directory, clock, store):
    """bob's login is password-only: PasswordProtectedTransport over TLS, Password otherwise."""
    principal = Authenticator(directory, TotpGuard(clock, store), clock).authenticate(
        "bob", "bob-password", None)
    assert not principal.mfa
    secure = principal.context(secure_transport=True)
    assert secure is AuthnContextClass.PASSWORD_PROTECTED_TRANSPORT
    assert principal.context(secure_transport=False) is AuthnContextClass.PASSWORD


def test_carol_needs_a_correct_unused_totp_code(directory, clock, store):
    """MFA: no code asks for one, a wrong code fails, the right one works once, then refuses."""
    login = Authenticator(directory, TotpGuard(clock, store), clock)
    with pytest.raises(MfaRequired):
        login.authenticate("carol", "carol-password", None)
    code = pyotp.TOTP(CAROL_SECRET).at(clock.now())
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with pytest.raises(AuthnFailed, match="not correct"):
        login.authenticate("carol", "carol-password", wrong)
    principal = login.authenticate("carol", "carol-password", code)
    assert principal.mfa and principal.context(secure_transport=False) is AuthnContextClass.MFA
    with pytest.raises(AuthnFailed, match="already used"):
        login.authenticate("carol", "carol-password", code)
    clock.advance(30)
    fresh = pyotp.TOTP(CAROL_SECRET).at(clock.now())
    assert login.authenticate("carol", "carol-password", fresh).mfa


def test_totp_accepts_one_step_of_drift_but_not_two(clock, store):
    """RFC 6238 §5.2: the previous step is still accepted; older ones are not."""
    guard = TotpGuard(clock, store)
    old = pyotp.TOTP(CAROL_SECRET).at(clock.now())
    clock.advance(30)
    assert guard.check("u1", CAROL_SECRET, old) is None
    clock.advance(60)
    assert guard.check("u2", CAROL_SECRET, old) == "invalid"
    assert guard.check("u3", CAROL_SECRET, "12ab56") == "invalid"


def test_wrong_password_with_a_valid_code_does_not_burn_the_code(directory, clock, store):
    """The code is only consumed after the password is right."""
    login = Authenticator(directory, TotpGuard(clock, store), clock)
    code = pyotp.TOTP(CAROL_SECRET).at(clock.now())
    with pytest.raises(AuthnFailed, match="Invalid username or password"):
        login.authenticate("carol", "nope", code)
    assert login.authenticate("carol", "carol-password", code).mfa
