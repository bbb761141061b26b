"""The sign-in state machine the login page drives: password, code, throttling, sessions."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest

from idp.authn.login import (
    STEP_ALREADY_USED,
    Authenticator,
    LoggedIn,
    LoginAttempt,
    MfaStep,
    OtpNeeded,
    Principal,
    Refused,
    Throttled,
)
from idp.authn.throttle import LoginThrottle, ThrottlePolicy
from idp.authn.totp import TotpGuard
from idp.errors import AuthnFailed, MfaRequired
from idp.saml.constants import AuthnContextClass
from tests.support.demo import CAROL_SECRET


@pytest.fixture
def login(directory, clock, store) -> Authenticator:
    return Authenticator(directory, TotpGuard(clock, store), clock,
                         throttle=LoginThrottle(store, ThrottlePolicy(per_user=3, per_address=5)),
                         session_lifetime=3600, store=store)


def attempt(username: str, password: str = "", otp: str | None = None, *,
            address: str = "192.0.2.1", step: MfaStep | None = None) -> LoginAttempt:
    return LoginAttempt(username=username, password=password, otp=otp, address=address,
                        mfa_step=step)


def test_password_only_user_logs_in(login):
    outcome = login.submit(attempt("bob", "bob-password"))
    assert isinstance(outcome, LoggedIn)
    assert outcome.principal.username == "bob" and not outcome.principal.mfa


def test_mfa_user_is_asked_for_a_code_then_only_the_code(login, clock):
    """The password step is remembered; the second form carries only the code."""
    first = login.submit(attempt("carol", "carol-password"))
    assert isinstance(first, OtpNeeded) and first.step.username == "carol"
    step = login.pending_mfa(first.step.to_json())
    assert step == first.step
    code = pyotp.TOTP(CAROL_SECRET).at(clock.now())
    second = login.submit(attempt("", otp=code, step=step))
    assert isinstance(second, LoggedIn) and second.principal.mfa


def test_a_password_step_signs_in_once_even_when_two_codes_race(login, directory, clock,
                                                                 store):
    """Two code-only submissions of one step (a copied cookie), each with a valid code (steps
    t and t+1), on two workers: the step is single-use, so exactly one signs in."""
    first = login.submit(attempt("carol", "carol-password"))
    assert isinstance(first, OtpNeeded)
    other_worker = Authenticator(directory, TotpGuard(clock, store), clock,
                                 session_lifetime=3600, store=store)
    totp = pyotp.TOTP(CAROL_SECRET)
    step_a = login.pending_mfa(first.step.to_json())
    step_b = other_worker.pending_mfa(first.step.to_json())  # both read it before either ends
    assert step_a is not None and step_b is not None
    now = clock.now()
    a = login.submit(attempt("", otp=totp.at(now), step=step_a))
    b = other_worker.submit(attempt("", otp=totp.at(now + dt.timedelta(seconds=30)),
                                    step=step_b))
    assert isinstance(a, LoggedIn)
    assert isinstance(b, Refused) and b.message == STEP_ALREADY_USED
    assert login.pending_mfa(first.step.to_json()) is None


def test_a_wrong_code_keeps_the_code_step(login, clock):
    step = MfaStep(username="carol", started=clock.now())
    outcome = login.submit(attempt("carol", otp="000000", step=step))
    assert isinstance(outcome, Refused)
    assert outcome.mfa_step and outcome.username == "carol"


def test_the_code_step_expires_after_five_minutes(login, clock):
    first = login.submit(attempt("carol", "carol-password"))
    assert isinstance(first, OtpNeeded)
    clock.advance(301)
    assert login.pending_mfa(first.step.to_json()) is None


def test_failures_never_say_whether_the_user_exists(login):
    wrong = login.submit(attempt("bob", "nope"))
    unknown = login.submit(attempt("nobody", "bob-password"))
    assert isinstance(wrong, Refused) and isinstance(unknown, Refused)
    assert wrong.message == unknown.message == "Invalid username or password."


def test_throttled_per_user_even_with_the_right_password(login):
    """After 3 failures (this policy) bob waits, whatever he types, until the window passes."""
    for _ in range(3):
        assert isinstance(login.submit(attempt("bob", "nope")), Refused)
    blocked = login.submit(attempt("bob", "bob-password"))
    assert isinstance(blocked, Throttled) and 1 <= blocked.retry_after <= 301
    assert isinstance(login.submit(attempt("alice", "alice-password")), LoggedIn)


def test_throttled_per_address(login):
    for name in ("u1", "u2", "u3", "u4", "u5"):
        login.submit(attempt(name, "nope", address="198.51.100.7"))
    assert isinstance(login.submit(attempt("bob", "bob-password", address="198.51.100.7")),
                      Throttled)
    assert isinstance(login.submit(attempt("bob", "bob-password")), LoggedIn)


def test_a_success_clears_the_user_count(login):
    for _ in range(2):
        login.submit(attempt("bob", "nope"))
    assert isinstance(login.submit(attempt("bob", "bob-password")), LoggedIn)
    for _ in range(2):
        login.submit(attempt("bob", "nope"))
    assert isinstance(login.submit(attempt("bob", "bob-password")), LoggedIn)


def test_session_principal_round_trips_and_expires(login, clock):
    outcome = login.submit(attempt("bob", "bob-password"))
    assert isinstance(outcome, LoggedIn)
    data = outcome.principal.to_json()
    assert login.current(data) == outcome.principal
    clock.advance(3600)
    assert login.current(data) is None


def test_sign_out_ends_that_login_for_every_copy_and_worker(login, directory, clock, store):
    """After ``sign_out`` the principal's cookie value is refused, also by another
    Authenticator on the same state file (another worker); other logins of the user live on."""
    first = login.submit(attempt("bob", "bob-password"))
    second = login.submit(attempt("bob", "bob-password"))
    assert isinstance(first, LoggedIn) and isinstance(second, LoggedIn)
    login.sign_out(first.principal)
    other_worker = Authenticator(directory, TotpGuard(clock, store), clock,
                                 session_lifetime=3600, store=store)
    for authenticator in (login, other_worker):
        assert authenticator.current(first.principal.to_json()) is None
        assert authenticator.current(second.principal.to_json()) == second.principal


@pytest.mark.parametrize("data", [None, "bob", {}, {"username": "bob"},
                                  {"username": "bob", "instant": "yesterday", "mfa": False,
                                   "session_index": "_x"}])
def test_a_session_value_we_did_not_write_is_no_principal(login, data):
    assert login.current(data) is None
    assert Principal.from_json(data) is None


def test_a_principal_without_mfa_does_not_count_for_an_mfa_user(login, clock):
    """A cookie from before carol had TOTP (or forged without it) is not a session for her."""
    forged = Principal(username="carol", instant=clock.now(), mfa=False, session_index="_x")
    assert login.current(forged.to_json()) is None


# --- authenticate(): the credentials step itself ------------------------------------------


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


def test_wrong_password_with_a_valid_code_does_not_burn_the_code(directory, clock, store):
    """The code is only consumed after the password is right."""
    login = Authenticator(directory, TotpGuard(clock, store), clock)
    code = pyotp.TOTP(CAROL_SECRET).at(clock.now())
    with pytest.raises(AuthnFailed, match="Invalid username or password"):
        login.authenticate("carol", "nope", code)
    assert login.authenticate("carol", "carol-password", code).mfa


def test_huge_usernames_are_throttled_without_growing_the_state_file(login, store):
    """Failed logins with 250 KB usernames: counted per username as usual, in a few bytes each
    (they used to add ~0.5 MB each to the state file, kept for 24 hours)."""
    import sqlite3  # only this test looks inside the file

    def pages() -> int:
        with sqlite3.connect(store.path) as conn:
            count: int = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.close()
        return count

    huge = "m" * (250 * 1024)
    before = pages()
    for _ in range(3):
        assert isinstance(login.submit(attempt(huge + "a", "nope", address="198.51.100.9")),
                          Refused)
    assert isinstance(login.submit(attempt(huge + "a", "nope", address="198.51.100.9")),
                      Throttled)
    assert isinstance(login.submit(attempt(huge + "b", "nope", address="198.51.100.9")),
                      Refused), "another long username has its own count"
    assert pages() - before <= 2
