"""``idp.compat.signin``: how a vendor surface signs a user in (the directory's own login
policy), carries the login and the pending code step between requests (sealed tokens honoured
exactly while the IdP's own session would be), and answers with the IdP's signed Response for
AWS."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pyotp
import pytest
from lxml import etree

from idp.authn.login import (
    BAD_CREDENTIALS,
    STEP_ALREADY_USED,
    Authenticator,
    LoggedIn,
    MfaStep,
    OtpNeeded,
    Principal,
    Refused,
    Throttled,
    new_principal,
)
from idp.authn.throttle import LoginThrottle, ThrottlePolicy
from idp.authn.totp import TotpGuard
from idp.aws.vocabulary import AWS_SIGN_IN_URLS
from idp.clock import Clock, FixedClock, SettableClock
from idp.compat.signin import LOGIN, MFA_STEP, VendorSignIn
from idp.compat.tokens import Sealer
from idp.directory import Directory
from idp.errors import FatalRequestError, MalformedRequest, NoAwsRole
from idp.keys import KeyPair
from idp.saml.constants import NS, AuthnContextClass
from idp.settings import Settings
from idp.store import StateStore
from idp.web.runtime import Runtime
from tests.support import builders
from tests.support.demo import AWS_ACS, BOB_ROLE, CAROL_SECRET, ROLE_ATTR, edited_demo
from tests.support.sts import assume_role_params

SECRET = "vendor-surface-secret"
LIFETIME = 3600
ADDRESS = "192.0.2.10"


@dataclass
class World:
    """What the IdP shares between its processes: keys, clock, state store, session secret."""

    settings: Settings
    keypair: KeyPair
    clock: FixedClock
    store: StateStore

    def sign_in(self, directory: Directory, *, per_user: int = 3) -> VendorSignIn:
        """A worker's ``VendorSignIn`` over ``directory`` (as ``Runtime._build`` wires it)."""
        clock: Clock = self.clock
        authenticator = Authenticator(
            directory, TotpGuard(clock, self.store), clock,
            throttle=LoginThrottle(self.store, ThrottlePolicy(per_user=per_user,
                                                              per_address=50)),
            session_lifetime=LIFETIME, store=self.store)
        return VendorSignIn(
            authenticator=authenticator,
            identity_provider=builders.identity_provider(self.settings, directory,
                                                         self.keypair, clock),
            sealer=Sealer(SECRET, clock, self.store), clock=clock, session_lifetime=LIFETIME)


@pytest.fixture
def world(settings, keypair, clock, store) -> World:
    return World(settings, keypair, clock, store)


@pytest.fixture
def vendor(world, directory) -> VendorSignIn:
    return world.sign_in(directory)


def code(clock: FixedClock, *, later: int = 0) -> str:
    return str(pyotp.TOTP(CAROL_SECRET).at(clock.now().timestamp() + later))


def logged_in(vendor: VendorSignIn, username: str = "bob") -> Principal:
    outcome = vendor.submit(username, f"{username}-password", None, ADDRESS)
    assert isinstance(outcome, LoggedIn), outcome
    return outcome.principal


def without(user: str):
    def edit(data):
        del data["users"][user]
    return edit


def with_mfa(user: str):
    def edit(data):
        data["users"][user]["totp_secret"] = CAROL_SECRET
    return edit


# --- names and passwords -----------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["bob", "CORP\\bob", "bob@corp.example", "Bob@Corp.Example",
                                 "bob@CORP"])
def test_every_spelling_signs_bob_in_as_bob(vendor, raw):
    assert vendor.username(raw) == "bob"
    outcome = vendor.submit(raw, "bob-password", None, ADDRESS)
    assert isinstance(outcome, LoggedIn)
    assert outcome.principal.username == "bob" and not outcome.principal.mfa


@pytest.mark.parametrize(("raw", "password"), [
    ("bob", "alice-password"), ("CORP\\bob", "nope"), ("mallory", "bob-password"),
    ("mallory@corp.example", "bob-password"), ("bob", "")])
def test_failures_say_nothing_about_who_exists(vendor, raw, password):
    outcome = vendor.submit(raw, password, None, ADDRESS)
    assert isinstance(outcome, Refused)
    assert outcome.message in (BAD_CREDENTIALS, "Enter your username and password.")
    if password:
        assert outcome.message == BAD_CREDENTIALS


def test_every_spelling_of_a_user_shares_one_throttling_budget(vendor):
    """Three failures (this policy) under three spellings, and bob waits even with the right
    password under a fourth; alice does not."""
    for raw in ("bob", "CORP\\bob", "bob@corp.example"):
        assert isinstance(vendor.submit(raw, "wrong", None, ADDRESS), Refused)
    blocked = vendor.submit("BOB@corp.example", "bob-password", None, ADDRESS)
    assert isinstance(blocked, Throttled) and blocked.retry_after >= 1
    assert isinstance(vendor.submit("alice", "alice-password", None, ADDRESS), LoggedIn)


def test_a_success_clears_the_users_count(vendor):
    for _ in range(2):
        vendor.submit("CORP\\bob", "wrong", None, ADDRESS)
    assert isinstance(vendor.submit("bob@corp.example", "bob-password", None, ADDRESS),
                      LoggedIn)
    for _ in range(2):
        vendor.submit("bob", "wrong", None, ADDRESS)
    assert isinstance(vendor.submit("bob", "bob-password", None, ADDRESS), LoggedIn)


# --- the code step ---------------------------------------------------------------------------


def test_a_totp_user_is_asked_for_a_code_then_signs_in_with_only_the_code(vendor, clock):
    first = vendor.submit("carol@corp.example", "carol-password", None, ADDRESS)
    assert isinstance(first, OtpNeeded) and first.step.username == "carol"
    token = vendor.seal_step(first.step)
    step = vendor.open_step(token)
    assert step == first.step
    second = vendor.submit("", "", f" {code(clock)} ", ADDRESS, step=step)
    assert isinstance(second, LoggedIn)
    assert second.principal.username == "carol" and second.principal.mfa


def test_password_and_code_together_sign_in_at_once(vendor, clock):
    outcome = vendor.submit("CORP\\carol", "carol-password", code(clock), ADDRESS)
    assert isinstance(outcome, LoggedIn) and outcome.principal.mfa


def test_the_code_step_is_for_its_own_user_whatever_name_comes_with_it(vendor, clock):
    first = vendor.submit("carol", "carol-password", None, ADDRESS)
    assert isinstance(first, OtpNeeded)
    outcome = vendor.submit("alice", "", code(clock), ADDRESS, step=first.step)
    assert isinstance(outcome, LoggedIn) and outcome.principal.username == "carol"


def test_a_wrong_code_keeps_the_step_open(vendor):
    first = vendor.submit("carol", "carol-password", None, ADDRESS)
    assert isinstance(first, OtpNeeded)
    token = vendor.seal_step(first.step)
    wrong = vendor.submit("", "", "000000", ADDRESS, step=vendor.open_step(token))
    assert isinstance(wrong, Refused) and wrong.mfa_step
    assert vendor.open_step(token) == first.step


def test_a_finished_step_cannot_be_finished_again(vendor, clock):
    """The step token is single-use once it signed someone in, on any worker."""
    first = vendor.submit("carol", "carol-password", None, ADDRESS)
    assert isinstance(first, OtpNeeded)
    token = vendor.seal_step(first.step)
    step = vendor.open_step(token)
    assert isinstance(vendor.submit("", "", code(clock), ADDRESS, step=step), LoggedIn)
    assert vendor.open_step(token) is None
    again = vendor.submit("", "", code(clock, later=30), ADDRESS, step=step)
    assert isinstance(again, Refused) and again.message == STEP_ALREADY_USED


def test_a_step_lasts_five_minutes(vendor, clock):
    first = vendor.submit("carol", "carol-password", None, ADDRESS)
    assert isinstance(first, OtpNeeded)
    token = vendor.seal_step(first.step)
    clock.advance(299)
    assert vendor.open_step(token) == first.step
    clock.advance(1)
    assert vendor.open_step(token) is None


def test_step_and_login_tokens_are_not_interchangeable(vendor):
    first = vendor.submit("carol", "carol-password", None, ADDRESS)
    assert isinstance(first, OtpNeeded)
    step_token = vendor.seal_step(first.step)
    login_token = vendor.seal_login(logged_in(vendor))
    assert vendor.open_login(step_token) is None
    assert vendor.open_step(login_token) is None
    assert vendor.sealer.open(MFA_STEP, step_token) is not None
    assert vendor.sealer.open(LOGIN, login_token) is not None


@pytest.mark.parametrize("token", [None, "", "x.y", 7, b"a.b"])
def test_garbage_step_and_login_tokens_are_nothing(vendor, token):
    assert vendor.open_step(token) is None
    assert vendor.open_login(token) is None
    vendor.end_login(token)  # no error, nothing signed out


def test_a_forged_step_for_another_user_is_refused(vendor, clock):
    """Only the IdP's key makes step tokens: a step sealed by another install is nothing."""
    step = MfaStep(username="carol", started=clock.now(), id="forged")
    other = Sealer("another-install", clock)
    assert vendor.open_step(other.seal(MFA_STEP, step.to_json(), 300)) is None


# --- the sealed login --------------------------------------------------------------------------


def test_a_sealed_login_opens_to_the_same_principal(vendor):
    principal = logged_in(vendor)
    assert vendor.open_login(vendor.seal_login(principal)) == principal


def test_a_sealed_mfa_login_stays_valid(vendor, clock):
    outcome = vendor.submit("carol", "carol-password", code(clock), ADDRESS)
    assert isinstance(outcome, LoggedIn)
    assert vendor.open_login(vendor.seal_login(outcome.principal)) == outcome.principal


def test_a_sealed_login_lasts_the_session_lifetime(vendor, clock):
    token = vendor.seal_login(logged_in(vendor))
    clock.advance(LIFETIME - 1)
    assert vendor.open_login(token) is not None
    clock.advance(1)
    assert vendor.open_login(token) is None


def test_a_sealed_login_ends_when_the_user_leaves_the_directory(world, vendor):
    token = vendor.seal_login(logged_in(vendor))
    after_edit = world.sign_in(edited_demo(without("bob")))
    assert after_edit.open_login(token) is None


def test_a_sealed_login_ends_when_the_user_gains_mfa(world, vendor):
    token = vendor.seal_login(logged_in(vendor))
    after_edit = world.sign_in(edited_demo(with_mfa("bob")))
    assert after_edit.open_login(token) is None


def test_signing_out_ends_the_login_and_every_copy_on_every_worker(world, vendor, directory):
    principal = logged_in(vendor)
    token = vendor.seal_login(principal)
    copy = vendor.seal_login(principal)
    other_worker = world.sign_in(directory)
    vendor.end_login(token)
    assert vendor.open_login(token) is None
    assert other_worker.open_login(copy) is None
    assert vendor.authenticator.current(principal.to_json()) is None  # the IdP's own, too


def test_the_idps_own_sign_out_ends_the_sealed_login(vendor):
    principal = logged_in(vendor)
    token = vendor.seal_login(principal)
    vendor.authenticator.sign_out(principal)
    assert vendor.open_login(token) is None


def test_signing_out_one_login_leaves_another(vendor):
    first, second = logged_in(vendor), logged_in(vendor)
    vendor.end_login(vendor.seal_login(first))
    assert vendor.open_login(vendor.seal_login(second)) == second


def test_a_sign_out_while_the_login_was_not_honoured_still_counts(world, vendor, directory):
    """bob signs out while his login is not honoured (he gained MFA meanwhile); when his MFA
    is removed again, the login he signed out of must not come back."""
    token = vendor.seal_login(logged_in(vendor))
    with_mfa_now = world.sign_in(edited_demo(with_mfa("bob")))
    with_mfa_now.end_login(token)
    back_to_before = world.sign_in(directory)
    assert back_to_before.open_login(token) is None


def test_a_sealed_login_of_another_install_is_nothing(vendor, clock):
    principal = logged_in(vendor)
    forged = Sealer("another-install", clock).seal(LOGIN, principal.to_json(), LIFETIME)
    assert vendor.open_login(forged) is None


def test_a_sealed_login_survives_a_restart_of_the_simulator(settings, tmp_path, clock):
    """The login cookie is sealed with the install's session secret: a restarted simulator
    (same certs and data folders) still honours it; a runtime edit removing the user ends
    it."""
    settings = settings.with_overrides(data_dir=tmp_path / "data")
    first = Runtime(settings, clock=SettableClock(source=clock))
    try:
        token = first.services.vendor_sign_in.seal_login(logged_in(
            first.services.vendor_sign_in))
    finally:
        first.close()
    second = Runtime(settings, clock=SettableClock(source=clock))
    try:
        opened = second.services.vendor_sign_in.open_login(token)
        assert opened is not None and opened.username == "bob"
        second.edit(lambda document, _directory: document.without_user("bob"))
        assert second.services.vendor_sign_in.open_login(token) is None
    finally:
        second.close()


# --- the Response for AWS ----------------------------------------------------------------------


def _tree(form) -> etree._Element:
    return etree.fromstring(base64.b64decode(form.saml_value))


def _confirmation(root: etree._Element) -> etree._Element:
    found = root.find("saml:Assertion/saml:Subject/saml:SubjectConfirmation/"
                      "saml:SubjectConfirmationData", NS)
    assert found is not None
    return found


def test_the_response_goes_to_the_console_twin_by_default(vendor):
    form = vendor.aws_response(logged_in(vendor))
    assert form.action == AWS_ACS and form.saml_field == "SAMLResponse"
    root = _tree(form)
    assert root.get("Destination") == AWS_ACS
    assert _confirmation(root).get("Recipient") == AWS_ACS
    assert root.get("InResponseTo") is None and _confirmation(root).get("InResponseTo") is None
    values = [v.text for v in root.iterfind(
        f".//saml:Attribute[@Name='{ROLE_ATTR}']/saml:AttributeValue", NS)]
    assert values == [BOB_ROLE]


@pytest.mark.parametrize("acs_url", [
    "https://signin.aws.amazon.com/saml",
    "https://signin.aws.amazon.com/static/saml",
    "https://us-east-2.signin.aws.amazon.com/saml",
    AWS_ACS,
])
def test_the_response_goes_to_an_aws_sign_in_url_and_sts_takes_it(world, vendor, directory,
                                                                   acs_url):
    assert acs_url == AWS_ACS or acs_url in AWS_SIGN_IN_URLS
    form = vendor.aws_response(logged_in(vendor), acs_url=acs_url)
    root = _tree(form)
    assert form.action == root.get("Destination") == acs_url
    assert _confirmation(root).get("Recipient") == acs_url
    sts = builders.sts(world.settings, directory, world.keypair, world.clock,
                       replay=world.store)
    result = sts.assume_role_with_saml(assume_role_params(form.saml_value))
    assert result.credentials.access_key_id.startswith("ASIA")
    assert result.audience == acs_url


def test_an_acs_the_directory_registers_for_aws_is_allowed(world):
    extra = "https://aws-gateway.corp.example/saml"

    def edit(data):
        data["service_providers"] = [{"entity_id": "urn:amazon:webservices",
                                      "acs_urls": [AWS_ACS, extra]}]

    vendor = world.sign_in(edited_demo(edit))
    form = vendor.aws_response(logged_in(vendor), acs_url=extra)
    assert form.action == _tree(form).get("Destination") == extra


@pytest.mark.parametrize("acs_url", [
    "https://evil.example/saml",
    "http://signin.aws.amazon.com/saml",
    "https://signin.aws.amazon.com/saml/",
    "https://signin.aws.amazon.com/other",
    "https://signin.aws.amazon.com.evil.example/saml",
    "https://SIGNIN.aws.amazon.com/saml?x=1",
    "http://idp.test/aws/sts",
    "",
])
def test_any_other_acs_is_refused(vendor, acs_url):
    with pytest.raises(MalformedRequest):
        vendor.aws_response(logged_in(vendor), acs_url=acs_url)


def test_in_response_to_is_set_on_the_response_and_its_confirmation(world, vendor, directory):
    form = vendor.aws_response(logged_in(vendor), acs_url="https://signin.aws.amazon.com/saml",
                               in_response_to="_ecp-request-7")
    root = _tree(form)
    assert root.get("InResponseTo") == "_ecp-request-7"
    assert _confirmation(root).get("InResponseTo") == "_ecp-request-7"
    sts = builders.sts(world.settings, directory, world.keypair, world.clock)
    assert sts.assume_role_with_saml(assume_role_params(form.saml_value)).credentials


def test_relay_state_rides_along_and_a_foreign_one_is_refused(vendor):
    principal = logged_in(vendor)
    form = vendor.aws_response(principal, relay_state="https://console.aws.amazon.com/s3/")
    assert form.relay_state == "https://console.aws.amazon.com/s3/"
    with pytest.raises(MalformedRequest):
        vendor.aws_response(principal, relay_state="https://evil.example/")


def test_the_authn_context_says_how_the_user_signed_in(vendor, clock):
    carol = vendor.submit("carol", "carol-password", code(clock), ADDRESS)
    assert isinstance(carol, LoggedIn)
    for principal, context in ((carol.principal, AuthnContextClass.MFA),
                               (logged_in(vendor), AuthnContextClass.PASSWORD)):
        ref = _tree(vendor.aws_response(principal)).find(".//saml:AuthnContextClassRef", NS)
        assert ref is not None and ref.text == context.value


def test_a_user_without_roles_gets_no_aws_response(vendor):
    with pytest.raises(NoAwsRole):
        vendor.aws_response(logged_in(vendor, "dave"))


def test_a_user_who_left_the_directory_gets_no_response(world, vendor, clock):
    principal = logged_in(vendor)
    after_edit = world.sign_in(edited_demo(without("bob")))
    with pytest.raises(FatalRequestError):
        after_edit.aws_response(principal)
    ghost = new_principal(vendor.directory.user("bob"), mfa=False, clock=clock)
    with pytest.raises(FatalRequestError):
        after_edit.aws_response(ghost)
