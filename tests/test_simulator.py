"""``idp.Simulator`` as a test suite uses it: through this package's own pytest plugin.

Every test talks to a real server thread over HTTP (boto3 for STS), so what passes here is what
a user's test sees. ``saml_idp`` is the plugin's session-wide simulator, reset after each test.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from lxml import etree

from idp import Simulator
from idp.clock import SettableClock
from idp.errors import AuthnFailed, ConfigError, DirectoryEditError, FatalRequestError
from idp.faults import FAULT_RULES, STS_ACCEPTS, Fault
from idp.settings import Settings
from idp.simulator import SimulatorError
from tests.support.demo import (
    ADMIN,
    BOB_EMAIL,
    DEVELOPER,
    PROD,
    PROD_PROVIDER,
    READ_ONLY,
)
from tests.support.sts import session_client, sts_client

pytestmark = pytest.mark.usefixtures("no_aws_config")

MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"


def assume(sim: Simulator, saml_response: str, role: str = READ_ONLY,
           provider: str = PROD_PROVIDER) -> dict[str, Any]:
    result: dict[str, Any] = sts_client(sim.sts_endpoint).assume_role_with_saml(
        RoleArn=role, PrincipalArn=provider, SAMLAssertion=saml_response)
    return result


def refused(sim: Simulator, saml_response: str, **kwargs: str) -> tuple[str, str]:
    """The STS error (code, the exchange log's rule) for a Response STS must refuse."""
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        assume(sim, saml_response, **kwargs)
    decision = sim.exchanges(kind="sts")[-1]
    assert not decision.accepted
    return caught.value.response["Error"]["Code"], str(decision.rule)


def certificates(metadata: bytes) -> list[str]:
    root = etree.fromstring(metadata)
    return [c.text or "" for c in root.iter(f"{DS}X509Certificate")]


# --- where it is -------------------------------------------------------------------------------


def test_endpoints_derive_from_a_free_loopback_port(saml_idp: Simulator) -> None:
    assert saml_idp.base_url.startswith("http://127.0.0.1:")
    assert saml_idp.sts_endpoint == saml_idp.base_url + "/aws/sts"
    assert saml_idp.entity_id == saml_idp.base_url + "/idp/metadata"
    root = etree.fromstring(saml_idp.metadata_xml)
    assert root.get("entityID") == saml_idp.entity_id
    assert root.find(f"{MD}IDPSSODescriptor") is not None


def test_two_simulators_share_nothing(saml_idp: Simulator,
                                      saml_idp_factory: Callable[..., Simulator]) -> None:
    other = saml_idp_factory()
    assert other.base_url != saml_idp.base_url
    assert certificates(other.metadata_xml) != certificates(saml_idp.metadata_xml)
    # A Response from one IdP is not trusted by the other's AWS side.
    code, rule = refused(other, saml_idp.mint("bob"))
    assert (code, rule) == ("InvalidIdentityToken", "signature-invalid")


# --- signing in ------------------------------------------------------------------------------


def test_login_returns_the_response_and_working_credentials(saml_idp: Simulator) -> None:
    login = saml_idp.login("bob", "bob-password")
    assert login.roles == (READ_ONLY,) and login.role == READ_ONLY
    assert etree.fromstring(base64.b64decode(login.saml_response)).tag.endswith("Response")
    assert login.assertion_xml.startswith("<saml:Assertion")
    credentials = login.credentials
    assert credentials.access_key_id.startswith("ASIA")
    assert credentials["AccessKeyId"] == credentials.access_key_id
    assert credentials.expiration > dt.datetime.now(dt.UTC)
    identity = saml_idp.boto3_session("bob").client("sts").get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{PROD}:assumed-role/ReadOnly/{BOB_EMAIL}"


def test_login_checks_the_password(saml_idp: Simulator) -> None:
    with pytest.raises(AuthnFailed):
        saml_idp.login("bob", "wrong")
    with pytest.raises(AuthnFailed):
        saml_idp.login("nobody", "nobody-password")


def test_several_roles_need_a_choice(saml_idp: Simulator) -> None:
    login = saml_idp.login("alice")
    assert set(login.roles) == {ADMIN, READ_ONLY, DEVELOPER}
    with pytest.raises(SimulatorError, match="pass role="):
        _ = login.credentials
    chosen = saml_idp.login("alice", role="Developer")
    assert chosen.role == DEVELOPER and chosen.credentials.session_token
    with pytest.raises(SimulatorError, match="no role"):
        saml_idp.login("alice", role="Nope")


def test_a_totp_user_needs_the_right_code_when_one_is_given(saml_idp: Simulator) -> None:
    assert saml_idp.login("carol", "carol-password").role == ADMIN  # the harness vouches
    with pytest.raises(AuthnFailed):
        saml_idp.login("carol", "carol-password", otp="000000")


def test_mint_restricts_the_role_and_names_the_user(saml_idp: Simulator) -> None:
    root = etree.fromstring(base64.b64decode(saml_idp.mint("alice", role="ReadOnly")))
    values = [v.text for v in root.iter(f"{SAML}AttributeValue")
              if v.getparent().get("Name", "").endswith("/Role")]  # type: ignore[union-attr]
    assert values == [f"{READ_ONLY},{PROD_PROVIDER}"]
    with pytest.raises(FatalRequestError, match="not in the directory"):
        saml_idp.mint("nobody")


# --- the clock -------------------------------------------------------------------------------


def test_moving_the_clock_expires_a_minted_response_at_sts(saml_idp: Simulator) -> None:
    fresh = saml_idp.mint("bob")
    stale = saml_idp.mint("bob")
    assume(saml_idp, fresh)
    saml_idp.clock.advance(400)  # past NotOnOrAfter (300 s) and the 60 s skew
    code, rule = refused(saml_idp, stale)
    assert code == "ExpiredTokenException" and rule in ("expired", "stale")


def test_moving_the_clock_expires_credentials_at_get_caller_identity(
        saml_idp: Simulator) -> None:
    client = saml_idp.boto3_session("bob").client("sts")
    client.get_caller_identity()
    saml_idp.clock.advance(3601)  # the default session is one hour
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.get_caller_identity()
    assert caught.value.response["Error"]["Code"] == "ExpiredToken"


def test_a_frozen_clock_issues_at_its_instant(saml_idp_factory: Callable[..., Simulator]
                                              ) -> None:
    at = dt.datetime(2031, 5, 1, 9, 30, tzinfo=dt.UTC)
    sim = saml_idp_factory(clock=at)
    root = etree.fromstring(base64.b64decode(sim.mint("bob")))
    assert root.get("IssueInstant") == "2031-05-01T09:30:00.000Z"
    # Both sides follow it: STS accepts what was issued "now", and the credentials expire an
    # hour later in simulated time although boto3 signs with the real time.
    login = sim.login("bob")
    assert login.credentials.expiration == at + dt.timedelta(hours=1)
    sim.clock.advance(3601)
    sim.boto3_session("bob").client("sts").get_caller_identity()  # a new login works...
    with pytest.raises(botocore.exceptions.ClientError, match="ExpiredToken"):
        session_client(sim.sts_endpoint, login.credentials).get_caller_identity()  # ...not old


def test_reset_restores_the_clock(saml_idp: Simulator) -> None:
    saml_idp.clock.freeze(dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
    saml_idp.reset()
    assert not saml_idp.clock.frozen
    assert abs((saml_idp.clock.now() - dt.datetime.now(dt.UTC)).total_seconds()) < 5


# --- runtime directory edits -----------------------------------------------------------------


def test_a_user_added_at_runtime_gets_credentials(saml_idp: Simulator) -> None:
    saml_idp.add_user("erin", password="erin-secret", email="erin@corp.example",
                      roles=["ReadOnly"], attributes={"department": "QA"})
    login = saml_idp.login("erin", "erin-secret")
    assert login.role == READ_ONLY
    assert "erin@corp.example" in login.assertion_xml
    saml_idp.remove_user("erin")
    with pytest.raises(AuthnFailed):
        saml_idp.login("erin", "erin-secret")


def test_a_refused_edit_changes_nothing(saml_idp: Simulator) -> None:
    before = saml_idp.runtime.directory
    with pytest.raises(DirectoryEditError, match="no account defines a role named Nope"):
        saml_idp.add_user("erin", roles=["Nope"])
    with pytest.raises(DirectoryEditError, match="has no '@'"):
        saml_idp.add_user("erin", email="not-an-email")
    with pytest.raises(DirectoryEditError, match="already exists"):
        saml_idp.add_user("bob")
    with pytest.raises(DirectoryEditError, match="ambiguous"):
        saml_idp.add_role("ReadOnly", account="444455556666")
        saml_idp.add_user("erin", roles=["ReadOnly"])
    assert saml_idp.runtime.directory.user("erin") is None
    assert before.users.keys() <= saml_idp.runtime.directory.users.keys()


def test_a_new_role_can_be_granted_and_assumed(saml_idp: Simulator) -> None:
    arn = saml_idp.add_role("Auditor", max_session_duration=7200, users=["bob"])
    assert arn == f"arn:aws:iam::{PROD}:role/Auditor"
    assert saml_idp.login("bob", role="Auditor").role == arn
    saml_idp.revoke_role("bob", "Auditor")
    assert arn not in saml_idp.login("bob").roles


def test_a_service_provider_from_metadata(saml_idp: Simulator) -> None:
    metadata = b"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
        entityID="https://app.example.test/saml">
      <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
        <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
        <md:AssertionConsumerService index="1" Location="https://app.example.test/acs2"
          Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"/>
        <md:AssertionConsumerService index="0" Location="https://app.example.test/acs"
          Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"/>
      </md:SPSSODescriptor>
    </md:EntityDescriptor>"""
    entity = saml_idp.add_service_provider(metadata)
    login = saml_idp.login("bob", sp=entity)
    root = etree.fromstring(login.response_xml.encode())
    assert root.get("Destination") == "https://app.example.test/acs"
    assert root.findtext(f".//{SAML}Audience") == entity
    assert root.findtext(f".//{SAML}NameID") == BOB_EMAIL
    assert login.roles == ()
    with pytest.raises(SimulatorError, match="not AWS"):
        _ = login.credentials
    with pytest.raises(DirectoryEditError, match="SPSSODescriptor"):
        saml_idp.add_service_provider(b"<x/>")


def test_a_custom_directory_as_a_mapping(saml_idp_factory: Callable[..., Simulator]) -> None:
    sim = saml_idp_factory({
        "accounts": {"999988887777": {"saml_provider": "Okta", "roles": {"Deployer": {}}}},
        "users": {"zoe": {"password": "zoe-pw", "email": "zoe@x.example",
                          "roles": ["arn:aws:iam::999988887777:role/Deployer"]}},
    })
    assert sim.login("zoe", "zoe-pw").credentials.access_key_id


# --- faults and the exchange log -------------------------------------------------------------


def test_sts_takes_a_response_with_in_response_to_as_aws_does(saml_idp: Simulator) -> None:
    """ECP clients (awscli-login) redeem the answer to their own AuthnRequest at STS."""
    assume(saml_idp, saml_idp.mint("bob", fault="wrong-in-response-to"))


@pytest.mark.parametrize("fault", [f for f in Fault if f not in STS_ACCEPTS])
def test_every_fault_is_refused_by_sts_with_its_rule(saml_idp: Simulator, fault: Fault) -> None:
    broken = saml_idp.mint("bob", fault=fault)
    _code, rule = refused(saml_idp, broken)
    assert rule == FAULT_RULES[fault].value
    sent, decided = saml_idp.exchanges(user="bob")[-2:]
    assert sent.kind == "response" and sent.fault == fault.value
    assert decided.kind == "sts" and decided.user == "bob" and decided.rule == rule
    assert decided.checks[-1].rule == rule and not decided.checks[-1].passed
    assert all(check.passed for check in decided.checks[:-1])


def test_replay_resends_the_last_response_which_sts_takes_again_by_default(
        saml_idp: Simulator) -> None:
    """AWS's default (``idp.aws.replay``): STS redeems an assertion again while it is valid."""
    first = saml_idp.mint("bob")
    assume(saml_idp, first)
    again = saml_idp.mint("bob", fault="replay")
    assert again == first
    assume(saml_idp, again)


def test_strict_replay_protection_refuses_the_replay_at_sts() -> None:
    with Simulator(settings=Settings(replay_protection="strict")) as sim:
        first = sim.mint("bob")
        assume(sim, first)
        again = sim.mint("bob", fault="replay")
        assert refused(sim, again) == ("InvalidIdentityToken", "replay")


def test_injected_faults_reach_the_next_responses_only(saml_idp: Simulator) -> None:
    saml_idp.inject_fault("wrong-audience", count=1)
    with pytest.raises(SimulatorError, match="InvalidIdentityToken"):
        saml_idp.login("bob")
    assert saml_idp.login("bob").credentials  # the next one is genuine
    saml_idp.inject_fault("unsigned", sp="urn:amazon:webservices", count=None)
    for _ in range(2):
        with pytest.raises(SimulatorError, match="Response signature invalid"):
            saml_idp.login("bob")
    saml_idp.clear_faults()
    assert saml_idp.login("bob").credentials
    with pytest.raises(SimulatorError, match="valid faults"):
        saml_idp.inject_fault("bogus")


def test_the_exchange_log_filters_by_user_and_kind(saml_idp: Simulator) -> None:
    saml_idp.login("bob")
    saml_idp.login("alice", role="Developer")
    kinds = [(e.kind, e.user, e.outcome) for e in saml_idp.exchanges()]
    assert kinds == [("response", "bob", "sent"), ("sts", "bob", "accepted"),
                     ("response", "alice", "sent"), ("sts", "alice", "accepted")]
    accepted = saml_idp.exchanges(user="alice", kind="sts")[0]
    assert accepted.facts["role"] == DEVELOPER
    assert accepted.message is not None and "<saml:Assertion" in accepted.message
    assert accepted.to_json()["checks"][0] == {"rule": "saml-response", "passed": True,
                                               "found": None}
    with pytest.raises(ValueError, match="unknown exchange kind"):
        saml_idp.exchanges(kind="nope")


# --- keys and reset --------------------------------------------------------------------------


def test_key_rollover_keeps_old_key_responses_valid_until_retirement(
        saml_idp: Simulator) -> None:
    original = certificates(saml_idp.metadata_xml)
    old_a, old_b = saml_idp.mint("bob"), saml_idp.mint("bob")
    saml_idp.add_key()
    assert len(certificates(saml_idp.metadata_xml)) == 2
    assume(saml_idp, saml_idp.mint("bob"))  # still signed by the old key
    saml_idp.promote_key()
    new = saml_idp.mint("bob")
    assume(saml_idp, new)
    assume(saml_idp, old_a)  # the old key is still published, so still trusted
    saml_idp.retire_key()
    assert certificates(saml_idp.metadata_xml) != original
    assert len(certificates(saml_idp.metadata_xml)) == 1
    code, rule = refused(saml_idp, old_b)
    assert code == "InvalidIdentityToken" and rule.startswith("signature")
    saml_idp.reset()
    assert certificates(saml_idp.metadata_xml) == original


def test_reset_forgets_edits_faults_exchanges_and_redeemed_assertions(
        saml_idp: Simulator) -> None:
    saml_idp.add_user("erin", roles=["ReadOnly"])
    saml_idp.inject_fault("expired", count=5)
    redeemed = saml_idp.mint("bob")
    saml_idp.clear_faults()
    redeemed = saml_idp.mint("bob")
    assume(saml_idp, redeemed)
    saml_idp.reset()
    assert saml_idp.runtime.directory.user("erin") is None
    assert saml_idp.exchanges() == []
    assert saml_idp.runtime.faults.planned() == []
    assume(saml_idp, redeemed)  # the one-time-use record is gone too


# --- life cycle --------------------------------------------------------------------------------


def test_close_stops_the_server_and_removes_its_folders() -> None:
    sim = Simulator().start()
    folder = sim.settings.certs_dir.parent
    assert (sim.settings.certs_dir / "signing.key").stat().st_mode & 0o777 == 0o600
    sim.close()
    assert not folder.exists()
    with pytest.raises(SimulatorError, match="not running"):
        _ = sim.base_url


def test_the_async_context_manager() -> None:
    import asyncio

    found: list[str] = []

    async def main() -> None:
        async with Simulator() as sim:
            found.append(sim.login("bob").credentials.access_key_id)

    # Sync Playwright may hold an event loop in this thread: run ours in another.
    thread = threading.Thread(target=lambda: asyncio.run(main()))
    thread.start()
    thread.join(30)
    assert found and found[0].startswith("ASIA")


def test_a_settable_clock_can_be_passed_in() -> None:
    clock = SettableClock(offset=-86400)
    with Simulator(clock=clock) as sim:
        assert sim.clock is clock
        assert abs(sim.clock.offset + 86400) < 5
        assert sim.login("bob").credentials.expiration < dt.datetime.now(dt.UTC)


@pytest.mark.saml_idp(clock=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
def test_the_marker_gives_a_test_its_own_simulator(saml_idp: Simulator,
                                                    aws_credentials: Callable[..., Any],
                                                    boto3_session: Callable[..., Any]) -> None:
    assert saml_idp.clock.now() == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert aws_credentials("bob").expiration.year == 2030
    assert boto3_session("alice", role="Admin").client("sts").get_caller_identity()["Arn"] \
        .endswith("assumed-role/Admin/alice@corp.example")


# --- what an adversarial review found ----------------------------------------------------------


def test_the_clock_refuses_to_leave_a_hundred_years_and_stays_put(saml_idp: Simulator) -> None:
    before = saml_idp.clock.now()
    for seconds in (3e11, -3e11, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="100 years"):
            saml_idp.clock.advance(seconds)
    with pytest.raises(ValueError, match="100 years"):
        saml_idp.clock.freeze(dt.datetime(9999, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(TypeError, match="number of seconds"):
        saml_idp.clock.advance(None)  # type: ignore[arg-type]
    assert abs((saml_idp.clock.now() - before).total_seconds()) < 5
    assert saml_idp.login("bob").credentials  # still serving


def test_replay_never_resends_another_users_response(saml_idp: Simulator) -> None:
    saml_idp.mint("alice", role="Admin")
    saml_idp.inject_fault("replay")
    login = saml_idp.login("bob", "bob-password")
    assert login.role == READ_ONLY
    assert "alice" not in login.assertion_xml


def test_an_aws_only_fault_waits_for_a_response_to_aws(saml_idp: Simulator) -> None:
    app = saml_idp.add_service_provider(entity_id="https://app.example.test/saml",
                                        acs_urls="https://app.example.test/acs")
    saml_idp.inject_fault("missing-role")
    assert saml_idp.login("bob", sp=app).saml_response  # not broken, plan kept
    assert refused(saml_idp, saml_idp.mint("bob")) == ("AccessDenied", "role-attribute")
    with pytest.raises(SimulatorError, match="applies only to AWS"):
        saml_idp.inject_fault("missing-role", sp=app)


def test_an_otp_without_a_password_is_refused(saml_idp: Simulator) -> None:
    with pytest.raises(SimulatorError, match="pass the password too"):
        saml_idp.login("carol", otp="000000")


def test_one_string_is_one_role(saml_idp: Simulator) -> None:
    saml_idp.add_user("erin", roles="ReadOnly")
    assert saml_idp.login("erin").role == READ_ONLY


def test_a_base_url_port_can_be_used_again_at_once(tmp_path: Any) -> None:
    from tests.support.server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    for _ in range(2):
        with Simulator(base_url=url) as sim:
            assert sim.base_url == url
            assert sim.login("bob").credentials  # leaves connections in TIME_WAIT
    with pytest.raises(SimulatorError, match="has a path"):
        Simulator(base_url=url + "/prefix").start()
    with pytest.raises(ConfigError, match="users must be a mapping"):
        Simulator({"users": 5}, base_url=url).start()
    with Simulator(base_url=url) as sim:  # the failed start let the port go
        assert sim.base_url == url


# --- what a second review found ----------------------------------------------------------------


def test_authn_requests_are_logged_received_or_refused_with_why(saml_idp: Simulator) -> None:
    import urllib.error
    import urllib.parse
    import urllib.request

    from tests.support.http import authn_request, redirect_value

    def send(**overrides: str | None) -> None:
        xml = authn_request(saml_idp.clock,
                            **{"Destination": f"{saml_idp.base_url}/idp/sso", **overrides})
        query = urllib.parse.urlencode({"SAMLRequest": redirect_value(xml)})
        try:
            urllib.request.urlopen(f"{saml_idp.base_url}/idp/sso?{query}", timeout=10)
        except urllib.error.HTTPError:
            pass

    send()
    send(issuer="urn:not-registered")
    send(Destination="https://elsewhere.invalid/sso")
    logged = saml_idp.exchanges(kind="authn-request")
    assert [(e.outcome, e.sp) for e in logged] == [
        ("received", "urn:amazon:webservices"), ("refused", None),
        ("refused", "urn:amazon:webservices")]
    assert "urn:not-registered" in str(logged[1].detail)
    assert "Destination" in str(logged[2].detail) and logged[2].message


def test_replay_resends_the_last_genuine_response_not_a_broken_one(saml_idp: Simulator) -> None:
    genuine = saml_idp.mint("bob")
    expired = saml_idp.mint("bob", fault="expired")
    again = saml_idp.mint("bob", fault="replay")
    assert again == genuine != expired


def test_a_relative_config_keeps_working_after_a_chdir(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from idp.directory import demo_yaml

    project = tmp_path / "project"
    project.mkdir()
    (project / "dir.yaml").write_text(demo_yaml())
    monkeypatch.chdir(tmp_path)
    with Simulator("project/dir.yaml") as sim:
        monkeypatch.chdir("/")
        sim.add_user("erin", roles="ReadOnly")
        sim.reset()
        assert sim.login("bob").credentials


def test_boto3_session_ignores_an_ambient_profile(saml_idp: Simulator,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "a-profile-that-does-not-exist")
    client = saml_idp.boto3_session("bob").client("sts")
    assert client.get_caller_identity()["Arn"].endswith("assumed-role/ReadOnly/bob@corp.example")


def test_iam_session_signs_as_an_iam_user_at_sts_and_iam(saml_idp: Simulator) -> None:
    """The demo's IAM users (fixed keys) sign STS and IAM calls; a user made through the IAM
    API gets a session too, from the key the API made."""
    ops = saml_idp.iam_session("ops")
    assert ops.client("sts").get_caller_identity()["Arn"] == \
        "arn:aws:iam::444455556666:user/ops"
    admin = saml_idp.iam_session("admin", account="111122223333")
    iam = admin.client("iam")
    iam.create_user(UserName="erin")
    iam.create_access_key(UserName="erin")
    assert saml_idp.iam_session("erin").client("sts").get_caller_identity()["Arn"] == \
        "arn:aws:iam::111122223333:user/erin"
    assert saml_idp.iam_endpoint == saml_idp.sts_endpoint.replace("/aws/sts", "/aws/iam")


def test_iam_session_says_which_user_it_cannot_find(saml_idp: Simulator) -> None:
    with pytest.raises(SimulatorError, match="no IAM user 'nobody'"):
        saml_idp.iam_session("nobody")
    with pytest.raises(SimulatorError, match="pass account="):
        saml_idp.iam_session("admin")
    with pytest.raises(SimulatorError, match="no IAM user 'ops' in 111122223333"):
        saml_idp.iam_session("ops", account="111122223333")


def test_base_url_rules(saml_idp_factory: Callable[..., Simulator]) -> None:
    with pytest.raises(SimulatorError, match="give its port"):
        Simulator(base_url="http://localhost").start()
    with pytest.raises(SimulatorError, match="invalid port"):
        Simulator(base_url="http://127.0.0.1:99999").start()
    public = saml_idp_factory(base_url="https://idp.example.test")
    assert public.entity_id == "https://idp.example.test/idp/metadata"
    assert public.sts_endpoint.startswith("http://127.0.0.1:")  # where this process reaches it
    assert public.login("bob").credentials


@pytest.mark.parametrize(("call", "message"), [
    (lambda sim: sim.grant_role("bob", 5), "role must be a string"),
    (lambda sim: sim.add_role("R", trust_policy="x"), "trust_policy must be a mapping"),
    (lambda sim: sim.add_service_provider(5), "metadata_xml must be"),
    (lambda sim: sim.add_user("u", attributes={"x": 5}), "attribute x must be"),
    (lambda sim: sim.add_service_provider(entity_id="https://a.test", acs_urls=["https://a.test/"],
                                          session_duration=object()), "cannot"),
])
def test_wrong_types_are_clear_errors(saml_idp: Simulator, call: Callable[[Simulator], Any],
                                      message: str) -> None:
    with pytest.raises((SimulatorError, DirectoryEditError), match=message):
        call(saml_idp)


def test_a_clock_that_is_not_a_clock_is_refused() -> None:
    with pytest.raises(SimulatorError, match="clock must be"):
        Simulator(clock="2030-01-01").start()  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a datetime"):
        SettableClock().freeze("2030-01-01T00:00:00Z")  # type: ignore[arg-type]


def test_a_code_for_the_simulated_time_signs_a_totp_user_in(saml_idp: Simulator) -> None:
    """As the README says: with a moved clock, a code computed for sim.clock.now() works and
    one computed from the machine's clock does not."""
    import pyotp

    from tests.support.demo import CAROL_SECRET

    saml_idp.clock.advance(3600)
    with pytest.raises(AuthnFailed):
        saml_idp.login("carol", "carol-password", otp=pyotp.TOTP(CAROL_SECRET).now())
    code = pyotp.TOTP(CAROL_SECRET).at(saml_idp.clock.now())
    assert saml_idp.login("carol", "carol-password", otp=code).role == ADMIN


def test_directory_edits_keep_iam_changes_and_reset_discards_them(
        saml_idp: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    """A role added while serving joins the IAM state; users made through the IAM API stay.
    reset() goes back to the file, quietly."""
    iam = saml_idp.iam_session("admin", account="111122223333").client("iam")
    iam.create_user(UserName="erin")
    arn = saml_idp.add_role("Auditor", account="111122223333", users=["bob"])
    assert iam.get_role(RoleName="Auditor")["Role"]["Arn"] == arn
    assert iam.get_user(UserName="erin")["User"]["UserName"] == "erin"
    assert "starting IAM over" not in caplog.text
    saml_idp.reset()
    with pytest.raises(botocore.exceptions.ClientError, match="NoSuchEntity"):
        iam.get_user(UserName="erin")
    assert "starting IAM over" not in caplog.text


# --- OpenID Connect workload tokens ----------------------------------------------------------


def _jwks(sim: Simulator) -> dict[str, Any]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{sim.base_url}/oidc/jwks", timeout=10) as response:
        keys: dict[str, Any] = json.load(response)
    return keys


def test_token_is_signed_by_the_simulators_oidc_issuer(saml_idp: Simulator) -> None:
    from tests.oidc.support import verify

    assert saml_idp.oidc_issuer == f"{saml_idp.base_url}/oidc"
    token = saml_idp.token("system:serviceaccount:prod:deployer", "sts.amazonaws.com",
                           ttl=120, claims={"amr": ["mfa"]})
    claims = verify(token, _jwks(saml_idp), audience="sts.amazonaws.com",
                    issuer=saml_idp.oidc_issuer)
    assert claims["sub"] == "system:serviceaccount:prod:deployer"
    assert claims["exp"] - claims["iat"] == 120 and claims["amr"] == ["mfa"]
    several = saml_idp.token("ci", ["a", "b"])
    assert verify(several, _jwks(saml_idp), audience="a",
                  issuer=saml_idp.oidc_issuer)["aud"] == ["a", "b"]


def test_token_follows_the_simulated_clock(saml_idp_factory: Callable[..., Simulator]) -> None:
    import jwt

    at = dt.datetime(2031, 5, 1, 9, 30, tzinfo=dt.UTC)
    sim = saml_idp_factory(clock=at)
    claims = jwt.decode(sim.token("s", "a"), options={"verify_signature": False})
    assert claims["iat"] == int(at.timestamp()) and claims["exp"] == claims["iat"] + 3600


def test_write_token_makes_a_0600_file_without_a_newline(saml_idp: Simulator,
                                                         tmp_path: Path) -> None:
    import stat

    path = saml_idp.write_token(tmp_path / "sub" / "token.jwt", "deployer", "sts.amazonaws.com")
    assert path == tmp_path / "sub" / "token.jwt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_text("ascii")
    assert content.count(".") == 2 and content == content.strip()


@pytest.mark.parametrize(("call", "message"), [
    (lambda sim: sim.token("", "a"), "subject"),
    (lambda sim: sim.token("s", []), "audience"),
    (lambda sim: sim.token("s", "a", ttl=0), "lifetime"),
    (lambda sim: sim.token("s", "a", ttl=86_401), "lifetime"),
    (lambda sim: sim.token(5, "a"), "sub must be a string"),
    (lambda sim: sim.token("s", "a", claims=[("x", 1)]), "claims must be a mapping"),
    (lambda sim: sim.token("s", "a", claims={"x": object()}), "JSON"),
])
def test_token_refusals_are_simulator_errors(saml_idp: Simulator,
                                             call: Callable[[Simulator], Any],
                                             message: str) -> None:
    with pytest.raises(SimulatorError, match=message):
        call(saml_idp)


def test_workload_env_names_the_twins_of_an_instance_and_a_task(saml_idp: Simulator) -> None:
    base = saml_idp.sts_endpoint.removesuffix("/aws/sts")
    assert saml_idp.workload_env("i-0123456789abcdef0") == {
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"{base}/imds/i-0123456789abcdef0",
        "AWS_ENDPOINT_URL_STS": f"{base}/aws/sts"}
    assert saml_idp.workload_env("billing-task") == {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{base}/ecs/billing-task/credentials",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "billing-task-token",
        "AWS_ENDPOINT_URL_STS": f"{base}/aws/sts"}
    with pytest.raises(SimulatorError, match="no instance or task 'i-0ffffffffffffffff'"):
        saml_idp.workload_env("i-0ffffffffffffffff")


def test_rotating_the_oidc_key_keeps_old_tokens_valid_until_reset(saml_idp: Simulator) -> None:
    import jwt

    before = saml_idp.token("deployer", "sts.amazonaws.com")
    old_kid = jwt.get_unverified_header(before)["kid"]
    saml_idp.rotate_oidc_key()
    after = saml_idp.token("deployer", "sts.amazonaws.com")
    new_kid = jwt.get_unverified_header(after)["kid"]
    assert new_kid != old_kid
    assert [k["kid"] for k in _jwks(saml_idp)["keys"]] == [new_kid, old_kid]
    saml_idp.reset()
    assert [k["kid"] for k in _jwks(saml_idp)["keys"]] == [old_kid]
