"""``idp.compat.forms``: reading AD FS and Shibboleth form posts, and Shibboleth flow keys."""

from __future__ import annotations

import pytest

from idp.compat.forms import (
    FLOW,
    FLOW_SECONDS,
    AdfsCredentials,
    AdfsPasscode,
    AdfsReauthentication,
    FlowKeys,
    read_adfs,
    read_shibboleth,
)
from idp.compat.names import MAX_NAME_CHARS
from idp.compat.tokens import Sealer

USER_BOX = "ctl00$ContentPlaceHolder1$UsernameTextBox"
PASSWORD_BOX = "ctl00$ContentPlaceHolder1$PasswordTextBox"


# --- AD FS -------------------------------------------------------------------------------------


def test_aws_adfs_credentials_are_a_sign_in():
    """aws-adfs's second POST: UserName, Password, AuthMethod=FormsAuthentication."""
    post = read_adfs({"UserName": " CORP\\bob ", "Password": "pw",
                      "AuthMethod": "FormsAuthentication"})
    assert post == AdfsCredentials(username="CORP\\bob", password="pw", passcode=None)


def test_awsprocesscreds_fills_the_ctl00_boxes_and_leaves_the_visible_ones_empty():
    """awsprocesscreds posts every input of the page; only the ctl00 boxes carry values."""
    post = read_adfs({"UserName": "", "Password": "", "AuthMethod": "FormsAuthentication",
                      USER_BOX: "bob@corp.example", PASSWORD_BOX: "pw"})
    assert post == AdfsCredentials(username="bob@corp.example", password="pw", passcode=None)


def test_a_password_alone_is_still_a_sign_in_attempt():
    """Half a credential is an attempt (refused and counted), never a cookie re-auth."""
    assert isinstance(read_adfs({"Password": "pw"}), AdfsCredentials)
    assert isinstance(read_adfs({"UserName": "bob"}), AdfsCredentials)


def test_a_passcode_posted_with_the_password_is_kept():
    post = read_adfs({"UserName": "carol", "Password": "pw", "Passcode": " 123456 "})
    assert isinstance(post, AdfsCredentials) and post.passcode == "123456"


def test_aws_adfs_first_post_is_a_cookie_reauthentication():
    """aws-adfs's first POST carries only AuthMethod=FormsAuthentication."""
    assert read_adfs({"AuthMethod": "FormsAuthentication"}) == AdfsReauthentication()
    assert read_adfs({}) == AdfsReauthentication()
    assert read_adfs({"UserName": "  ", "Password": None}) == AdfsReauthentication()


@pytest.mark.parametrize(("fields", "expected"), [
    ({"AuthMethod": "SecurIDAuthentication", "Context": "ctx", "Passcode": "123456"},
     AdfsPasscode(context="ctx", passcode="123456")),  # aws-adfs's RSA step
    ({"Passcode": "-"}, AdfsPasscode(context=None, passcode="-")),  # samlkeygen, no MFA
    ({"AuthMethod": "SecurIDAuthentication", "Context": "ctx"},
     AdfsPasscode(context="ctx", passcode="")),  # the code left empty
    ({"AuthMethod": "SecurIDAuthentication"}, AdfsPasscode(context=None, passcode="")),
])
def test_second_factor_posts(fields, expected):
    assert read_adfs(fields) == expected


def test_an_overlong_user_name_is_kept_whole_so_it_names_nobody():
    """Never cut: a cut name could become a real one (``idp.compat.names`` refuses it)."""
    raw = "bob" + " " * MAX_NAME_CHARS + "x"
    post = read_adfs({"UserName": raw, "Password": "pw"})
    assert isinstance(post, AdfsCredentials) and post.username == raw


# --- Shibboleth --------------------------------------------------------------------------------


def test_shibboleth_fields():
    assert read_shibboleth({"j_username": " bob ", "j_password": "pw", "submit": "Login"}) \
        .username == "bob"
    post = read_shibboleth({"j_otp": " 123456 "})
    assert (post.username, post.password, post.otp) == ("", "", "123456")
    assert read_shibboleth({"j_otp": "  "}).otp is None
    assert len(read_shibboleth({"j_username": "x" * 9999}).username) == 9999


@pytest.fixture
def keys(clock, store) -> FlowKeys:
    return FlowKeys(Sealer("secret", clock, store))


def test_a_key_opens_for_its_session_until_redeemed_once(keys):
    """peek does not use the key up; redeem works once; then neither opens it."""
    binding = FlowKeys.new_binding()
    key = keys.issue(binding)
    assert keys.peek(key, binding) is not None
    assert keys.peek(key, binding) is not None
    flow = keys.redeem(key, binding)
    assert flow is not None and flow.mfa_step is None
    assert keys.redeem(key, binding) is None
    assert keys.peek(key, binding) is None


def test_a_key_carries_the_pending_mfa_step(keys):
    binding = FlowKeys.new_binding()
    flow = keys.redeem(keys.issue(binding, "sealed-step"), binding)
    assert flow is not None and flow.mfa_step == "sealed-step"


def test_another_sessions_key_is_refused_and_not_used_up(keys):
    """A stolen key posted from another session fails, and still works for its owner."""
    mine, theirs = FlowKeys.new_binding(), FlowKeys.new_binding()
    key = keys.issue(mine)
    assert keys.peek(key, theirs) is None
    assert keys.redeem(key, theirs) is None
    assert keys.redeem(key, None) is None
    assert keys.redeem(key, "") is None
    assert keys.redeem(key, "é") is None  # non-ASCII: a refusal, not a crash
    assert keys.redeem(key, mine) is not None


def test_a_key_shows_nothing_of_the_session_binding(keys):
    binding = FlowKeys.new_binding()
    assert binding not in keys.issue(binding)


def test_forged_tampered_and_oversize_keys_are_refused(clock, store, keys):
    binding = FlowKeys.new_binding()
    key = keys.issue(binding)
    body, mac = key.split(".")
    other = FlowKeys(Sealer("another install", clock, store)).issue(binding)
    for bad in (f"{body}.{mac[:-2]}AA", f"{body[:-2]}AA.{mac}", other, "", "x" * 5000, None,
                12, "a.b.c"):
        assert keys.peek(bad, binding) is None
        assert keys.redeem(bad, binding) is None


def test_a_token_sealed_for_another_purpose_is_not_a_key(clock, store, keys):
    binding = FlowKeys.new_binding()
    login = Sealer("secret", clock, store).seal("login", {"b": binding}, 60)
    assert keys.redeem(login, binding) is None
    assert FLOW != "login"


def test_a_key_expires(clock, keys):
    binding = FlowKeys.new_binding()
    key = keys.issue(binding)
    clock.advance(FLOW_SECONDS)
    assert keys.peek(key, binding) is None
    assert keys.redeem(key, binding) is None
