"""The console's IAM-user sign-in policy and switch-role parameters (``idp.aws.signin``),
without HTTP: the demo's IAM state, a real state store, the real MFA checker."""

from __future__ import annotations

import pyotp
import pytest

from idp.authn.throttle import LoginThrottle, ThrottlePolicy
from idp.aws.iam import Iam
from idp.aws.mfa import MfaCodes
from idp.aws.signin import (
    BAD_CREDENTIALS,
    IamSignIn,
    MfaNeeded,
    MfaPending,
    PasswordAttempt,
    Refused,
    SignedIn,
    SwitchRequest,
    Throttled,
    find_account,
    parse_switch,
)
from tests.support.demo import DEV, IDP_ENTITY_ID, OPS_SEED, PROD


@pytest.fixture
def iam(directory, keypair, store, clock) -> Iam:
    return Iam(directory, IDP_ENTITY_ID, (keypair,), store=store, clock=clock)


@pytest.fixture
def policy(iam, store, clock) -> IamSignIn:
    throttle = LoginThrottle(store, ThrottlePolicy(window=300, per_user=3, per_address=5))
    return IamSignIn(iam.state(), throttle=throttle, store=store, clock=clock)


def attempt(account: str, user: str, password: str, address: str = "10.0.0.1"):
    return PasswordAttempt(account=account, user_name=user, password=password, address=address)


# --- accounts --------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    (DEV, DEV), ("4444-5555-6666", DEV), ("corp-dev", DEV), ("Corp-Dev", DEV),
    (" corp-prod ", PROD), ("vendor", "999988887777"),
])
def test_accounts_are_found_by_id_or_alias(iam, text, expected):
    found = find_account(iam.state(), text)
    assert found is not None and found.id == expected


FULLWIDTH_DEV = "\uff14" * 4 + "\uff15" * 4 + "\uff16" * 4  # 444455556666, full-width


@pytest.mark.parametrize("text", ["", "000000000000", "44445555666", "4444-55556666",
                                  "corp", "x" * 64, "corp-dev\x00", FULLWIDTH_DEV])
def test_anything_else_is_no_account(iam, text):
    assert find_account(iam.state(), text) is None


# --- password and MFA ------------------------------------------------------------------------


def test_a_user_without_mfa_signs_in_with_the_password(policy):
    outcome = policy.password_step(attempt("corp-dev", "ADMIN", "admin-password"))
    assert isinstance(outcome, SignedIn)
    assert outcome.user.arn == f"arn:aws:iam::{DEV}:user/admin"  # IAM's spelling
    assert outcome.mfa_at is None


@pytest.mark.parametrize(("account", "user", "password"), [
    ("corp-dev", "admin", "admin-passwor"), ("corp-dev", "admin", "ADMIN-PASSWORD"),
    ("corp-dev", "ghost", "admin-password"), ("nowhere", "admin", "admin-password"),
    ("corp-dev", "admin", "admin-password" + "x" * 200), ("corp-dev", "a" * 65, "p"),
])
def test_wrong_credentials_get_one_answer(policy, account, user, password):
    outcome = policy.password_step(attempt(account, user, password))
    assert outcome == Refused(BAD_CREDENTIALS)


def test_empty_fields_are_asked_for(policy):
    outcome = policy.password_step(attempt("", "admin", "admin-password"))
    assert isinstance(outcome, Refused) and "Enter" in outcome.message


def test_an_mfa_user_owes_a_code_then_signs_in_once(policy, clock, iam, store):
    outcome = policy.password_step(attempt("corp-dev", "ops", "ops-password"))
    assert isinstance(outcome, MfaNeeded)
    assert [d.serial for d in outcome.devices] == [f"arn:aws:iam::{DEV}:mfa/ops"]
    step = policy.pending(outcome.pending.to_json())
    assert step == outcome.pending
    mfa = MfaCodes(clock, store)
    code = pyotp.TOTP(OPS_SEED).at(clock.now())
    done = policy.mfa_step(step, None, code, "10.0.0.1", mfa.check)
    assert isinstance(done, SignedIn) and done.mfa_at == clock.now()
    assert policy.pending(step.to_json()) is None, "the step is over"
    again = policy.mfa_step(step, None, code, "10.0.0.1", mfa.check)
    assert isinstance(again, Refused)


def test_the_device_must_be_the_users(policy, clock, store):
    outcome = policy.password_step(attempt("corp-dev", "ops", "ops-password"))
    assert isinstance(outcome, MfaNeeded)
    code = pyotp.TOTP(OPS_SEED).at(clock.now())
    other = policy.mfa_step(outcome.pending, f"arn:aws:iam::{PROD}:mfa/ops", code,
                            "10.0.0.1", MfaCodes(clock, store).check)
    assert other == Refused("Choose the MFA device you are using.", mfa_step=True)


def test_a_reused_code_says_so(policy, clock, store, iam):
    mfa = MfaCodes(clock, store)
    code = pyotp.TOTP(OPS_SEED).at(clock.now())
    device = iam.state().account(DEV).mfa_of("ops")[0]
    assert mfa.check(device, code) is None  # used elsewhere (an API call) first
    outcome = policy.password_step(attempt("corp-dev", "ops", "ops-password"))
    assert isinstance(outcome, MfaNeeded)
    refused = policy.mfa_step(outcome.pending, None, code, "10.0.0.1", mfa.check)
    assert isinstance(refused, Refused) and "already used" in refused.message
    assert refused.mfa_step


def test_a_stale_or_forged_step_is_none(policy, clock):
    outcome = policy.password_step(attempt("corp-dev", "ops", "ops-password"))
    assert isinstance(outcome, MfaNeeded)
    for data in (None, "x", {"account": DEV}, {**outcome.pending.to_json(), "id": ""},
                 {**outcome.pending.to_json(), "at": "yesterday"}):
        assert policy.pending(data) is None
    clock.advance(301)
    assert policy.pending(outcome.pending.to_json()) is None


def test_failures_are_throttled_per_account_and_user(policy):
    for _ in range(3):
        assert isinstance(policy.password_step(attempt("corp-dev", "admin", "bad")), Refused)
    outcome = policy.password_step(attempt("corp-dev", "admin", "admin-password"))
    assert isinstance(outcome, Throttled) and outcome.retry_after > 0
    # the same user name by account ID counts as the same key; another account does not
    assert isinstance(policy.password_step(attempt(DEV, "Admin", "admin-password")),
                      Throttled)
    assert isinstance(policy.password_step(attempt("corp-prod", "admin", "admin-password",
                                                   "10.0.0.2")), SignedIn)


def test_failures_are_throttled_per_address(policy):
    for i in range(5):
        policy.password_step(attempt("corp-dev", f"user{i}", "bad", "10.9.9.9"))
    outcome = policy.password_step(attempt("corp-prod", "admin", "admin-password",
                                           "10.9.9.9"))
    assert isinstance(outcome, Throttled)


def test_wrong_codes_count_as_failures(policy, clock, store):
    mfa = MfaCodes(clock, store)
    outcome = policy.password_step(attempt("corp-dev", "ops", "ops-password"))
    assert isinstance(outcome, MfaNeeded)
    for _ in range(3):
        policy.mfa_step(outcome.pending, None, "000000", "10.0.0.1", mfa.check)
    code = pyotp.TOTP(OPS_SEED).at(clock.now())
    assert isinstance(policy.mfa_step(outcome.pending, None, code, "10.0.0.1", mfa.check),
                      Throttled)


def test_mfa_pending_round_trips():
    import datetime as dt

    step = MfaPending(account_id=DEV, user_name="ops",
                      started=dt.datetime(2030, 1, 1, tzinfo=dt.UTC), id="abc")
    assert MfaPending.from_json(step.to_json()) == step


# --- switch-role parameters ------------------------------------------------------------------


def test_a_full_switch_link_is_parsed():
    parsed = parse_switch("Corp-Prod", "devops/Authorizer", " Prod auth ", "FF9900")
    assert parsed == SwitchRequest(account="corp-prod", role_name="devops/Authorizer",
                                   display_name="Prod auth", color="ff9900")
    assert parsed.role_arn(PROD) == f"arn:aws:iam::{PROD}:role/devops/Authorizer"


def test_defaults_and_leading_slash():
    parsed = parse_switch("1111-2222-3333", "/Admin", None, None)
    assert parsed == SwitchRequest(account=PROD, role_name="Admin",
                                   display_name=f"Admin @ {PROD}", color=None)


@pytest.mark.parametrize(("account", "role", "display", "color", "says"), [
    ("", "Admin", "", "", "account ID"),
    ("not an alias!", "Admin", "", "", "12-digit"),
    ("-corp", "Admin", "", "", "12-digit"),
    ("corp-prod", "", "", "", "role name"),
    ("corp-prod", "a" * 65, "", "", "64"),
    ("corp-prod", "p" * 40 + "/" + "n" * 24, "", "", "64"),
    ("corp-prod", "Admin<script>", "", "", "letters, digits"),
    ("corp-prod", "dev//Admin", "", "", "path"),
    ("corp-prod", "dev ops/Admin", "", "", "path"),
    ("corp-prod", "Admin", "d" * 65, "", "display name"),
    ("corp-prod", "Admin", "tab\there", "", "control"),
    ("corp-prod", "Admin", "", "#ff9900", "6 hexadecimal"),
    ("corp-prod", "Admin", "", "red", "6 hexadecimal"),
    ("corp-prod", "Admin", "", "ff990", "6 hexadecimal"),
    ("corp-prod", "Admin", "", "ff9900;x", "6 hexadecimal"),
])
def test_bad_parameters_are_explained(account, role, display, color, says):
    problems = parse_switch(account, role, display, color)
    assert isinstance(problems, list) and problems
    assert any(says in p for p in problems), problems


def test_a_path_and_name_of_exactly_64_characters_is_fine():
    role = "p" * 39 + "/" + "n" * 24
    assert len(role) == 64
    assert isinstance(parse_switch("corp-prod", role, None, None), SwitchRequest)


def test_a_display_name_keeps_what_it_says():
    """Escaping is the page's job: the value is kept as given (within 64 printable)."""
    parsed = parse_switch("corp-prod", "Admin", '<img src=x onerror="alert(1)">', None)
    assert isinstance(parsed, SwitchRequest)
    assert parsed.display_name == '<img src=x onerror="alert(1)">'


def test_display_names_take_any_printable_text_and_refuse_controls():
    """A newer emoji (Unicode 15, unknown to older tables) is text; a bidi override, a line
    separator or a control character is not."""
    assert not isinstance(parse_switch("corp-prod", "Admin", "prod \U0001FAE8", None), list)
    for bad in ("a\u202eb", "a\u2028b", "a\x07b"):
        assert isinstance(parse_switch("corp-prod", "Admin", bad, None), list), bad
