"""The ECP core (``idp.compat.ecp``): reading awscli-login's SOAP AuthnRequest, HTTP Basic,
signing in by credentials or by the sealed cookie, and the envelope that answers.

Requests are built the way ``awscli_login/saml.py`` (``authn_request``) builds them, with lxml
and the same prefixes; the answer is read back the way its ``parse_soap_response`` reads it
and redeemed at the in-process STS, an independent check of the signature after embedding.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pyotp
import pytest
from lxml import etree

from idp.authn.login import Authenticator, Principal, new_principal
from idp.authn.throttle import LoginThrottle, ThrottlePolicy
from idp.authn.totp import TotpGuard
from idp.compat import ecp
from idp.compat.signin import VendorSignIn
from idp.compat.tokens import Sealer
from idp.exchanges import ExchangeKind, ExchangeLog, Outcome
from idp.saml.constants import AuthnContextClass, NameIDFormat
from idp.sso import IdentityProvider
from tests.support import builders
from tests.support.demo import (
    AWS_ACS,
    BASE_URL,
    BOB_ROLE,
    CAROL_SECRET,
    PROD_PROVIDER,
    READ_ONLY,
    ROLE_ATTR,
    edited_demo,
)
from tests.support.sts import assume_role_params

#: awscli-login's prefixes (``awscli_login/saml.py``, ``ns``).
NS = {
    "S": "http://schemas.xmlsoap.org/soap/envelope/",
    "saml2": "urn:oasis:names:tc:SAML:2.0:assertion",
    "saml2p": "urn:oasis:names:tc:SAML:2.0:protocol",
}
SOAP = "{" + NS["S"] + "}"
SAML2 = "{" + NS["saml2"] + "}"
SAML2P = "{" + NS["saml2p"] + "}"
ECP_URL = f"{BASE_URL}/idp/profile/SAML2/SOAP/ECP"
ENDPOINTS = frozenset({ECP_URL})
SIGN_IN = "https://signin.aws.amazon.com/saml"
ADDRESS = "192.0.2.7"
OTHER_SP = "https://sp.example/metadata"


def instant(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def authn_envelope(clock: Any, *, request_id: str = "_0123456789ABCDEF0123456789ABCDEF",
                   issuer: str | None = "urn:amazon:webservices",
                   header: etree._Element | None = None, extra: tuple[etree._Element, ...] = (),
                   **overrides: str | None) -> bytes:
    """awscli-login's ``authn_request()``, with attributes overridden (``None`` drops one)."""
    envelope = etree.Element(SOAP + "Envelope", nsmap=NS)
    if header is not None:
        envelope.append(header)
    body = etree.SubElement(envelope, SOAP + "Body")
    attrs: dict[str, str | None] = {
        "AssertionConsumerServiceURL": SIGN_IN,
        "ID": request_id,
        "IssueInstant": instant(clock.now()),
        "ProtocolBinding": "urn:oasis:names:tc:SAML:2.0:bindings:PAOS",
        "Version": "2.0",
        **overrides,
    }
    request = etree.SubElement(body, SAML2P + "AuthnRequest",
                               {k: v for k, v in attrs.items() if v is not None})
    if issuer is not None:
        etree.SubElement(request, SAML2 + "Issuer").text = issuer
    for element in extra:
        request.append(element)
    return etree.tostring(envelope)


def extract(soap: bytes) -> str:
    """awscli-login's ``parse_soap_response``: the Response element, re-serialised, base64."""
    response = etree.fromstring(soap).find("S:Body/saml2p:Response", NS)
    assert response is not None
    return base64.b64encode(etree.tostring(response)).decode("us-ascii")


@pytest.fixture
def exchanges(clock) -> ExchangeLog:
    return ExchangeLog(clock)


@pytest.fixture
def idp(settings, directory, keypair, clock, exchanges) -> IdentityProvider:
    built = builders.identity_provider(settings, directory, keypair, clock)
    built.exchanges = exchanges
    return built


@pytest.fixture
def sign_in(idp, clock, store) -> VendorSignIn:
    authenticator = Authenticator(
        idp.directory, TotpGuard(clock, store), clock,
        throttle=LoginThrottle(store, ThrottlePolicy(per_user=3, per_address=50)),
        session_lifetime=3600, store=store)
    return VendorSignIn(authenticator=authenticator, identity_provider=idp,
                        sealer=Sealer("test-secret", clock, store), clock=clock,
                        session_lifetime=3600)


def read(idp: IdentityProvider, body: bytes) -> ecp.EcpRequest | ecp.SoapFault:
    return ecp.read_request(body, idp, endpoints=ENDPOINTS)


def fault(idp: IdentityProvider, body: bytes) -> ecp.SoapFault:
    result = read(idp, body)
    assert isinstance(result, ecp.SoapFault), result
    return result


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def code(clock: Any, offset: int = 0) -> str:
    return pyotp.TOTP(CAROL_SECRET).at(clock.now() + dt.timedelta(seconds=offset))


def login(sign_in: VendorSignIn, username: str, password: str, *, passcode: str | None = None,
          cookie: str | None = None, address: str = ADDRESS
          ) -> ecp.SignedIn | ecp.Denied:
    return ecp.authenticate(sign_in, authorization=basic(username, password), cookie=cookie,
                            passcode=passcode, address=address)


# --- reading the request ------------------------------------------------------------------------


def test_awscli_logins_request_is_accepted(idp, clock):
    request = read(idp, authn_envelope(clock))
    assert request == ecp.EcpRequest(id="_0123456789ABCDEF0123456789ABCDEF", acs_url=SIGN_IN)


def test_the_request_is_logged_as_received_and_a_refusal_with_its_reason(idp, clock,
                                                                          exchanges):
    read(idp, authn_envelope(clock))
    read(idp, authn_envelope(clock, AssertionConsumerServiceURL="https://evil.example/acs"))
    received, refused = exchanges.entries()[-2:]
    assert received.kind is ExchangeKind.AUTHN_REQUEST and received.outcome is Outcome.RECEIVED
    assert received.sp == "urn:amazon:webservices"
    assert refused.outcome is Outcome.REFUSED and "evil.example" in (refused.detail or "")


@pytest.mark.parametrize("acs", [
    SIGN_IN,
    "https://us-east-2.signin.aws.amazon.com/saml",
    AWS_ACS,  # the AWS SP's own registered ACS (the console twin)
])
def test_aws_sign_in_urls_and_registered_acs_urls_are_allowed(idp, clock, acs):
    request = read(idp, authn_envelope(clock, AssertionConsumerServiceURL=acs))
    assert isinstance(request, ecp.EcpRequest) and request.acs_url == acs


def test_no_acs_url_means_the_sps_default_and_an_index_names_one(idp, clock):
    assert read(idp, authn_envelope(clock, AssertionConsumerServiceURL=None)).acs_url == AWS_ACS
    indexed = read(idp, authn_envelope(clock, AssertionConsumerServiceURL=None,
                                       AssertionConsumerServiceIndex="0"))
    assert indexed.acs_url == AWS_ACS
    assert "Index" in fault(idp, authn_envelope(clock, AssertionConsumerServiceIndex="0")).message
    assert "not registered" in fault(idp, authn_envelope(
        clock, AssertionConsumerServiceURL=None, AssertionConsumerServiceIndex="7")).message


@pytest.mark.parametrize("acs", [
    "https://evil.example/saml",
    "http://signin.aws.amazon.com/saml",
    "https://signin.aws.amazon.com/saml/",
    "https://signin.aws.amazon.com.evil.example/saml",
])
def test_an_acs_url_aws_would_not_receive_at_is_refused(idp, clock, acs):
    refused = fault(idp, authn_envelope(clock, AssertionConsumerServiceURL=acs))
    assert refused.code is ecp.FaultCode.CLIENT and refused.http_status == 400
    assert "not an assertion consumer service" in refused.message


def test_an_unknown_issuer_and_another_registered_sp_are_refused(settings, keypair, clock):
    def add_sp(demo: dict[str, Any]) -> None:
        demo["service_providers"] = [{"entity_id": OTHER_SP,
                                      "acs_urls": ["https://sp.example/acs"]}]

    idp = builders.identity_provider(settings, edited_demo(add_sp), keypair, clock)
    assert "not registered" in fault(idp, authn_envelope(clock, issuer="urn:nobody")).message
    other = fault(idp, authn_envelope(clock, issuer=OTHER_SP,
                                      AssertionConsumerServiceURL="https://sp.example/acs"))
    assert "answers urn:amazon:webservices only" in other.message


def test_a_request_without_issuer_is_refused(idp, clock):
    assert "no Issuer" in fault(idp, authn_envelope(clock, issuer=None)).message


@pytest.mark.parametrize("binding", [
    "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
    "urn:oasis:names:tc:SAML:2.0:bindings:SOAP",
    "",
])
def test_a_binding_other_than_paos_is_refused(idp, clock, binding):
    assert "not PAOS" in fault(idp, authn_envelope(clock, ProtocolBinding=binding)).message


def test_no_binding_is_accepted(idp, clock):
    assert isinstance(read(idp, authn_envelope(clock, ProtocolBinding=None)), ecp.EcpRequest)


def test_a_stale_or_future_issue_instant_is_refused(idp, clock):
    now = clock.now()
    stale = authn_envelope(clock, IssueInstant=instant(now - dt.timedelta(hours=1, seconds=1)))
    assert "more than an hour old" in fault(idp, stale).message
    future = authn_envelope(clock, IssueInstant=instant(now + dt.timedelta(seconds=61)))
    assert "in the future" in fault(idp, future).message
    skewed = authn_envelope(clock, IssueInstant=instant(now + dt.timedelta(seconds=59)))
    assert isinstance(read(idp, skewed), ecp.EcpRequest)
    assert "dateTime" in fault(idp, authn_envelope(clock, IssueInstant="yesterday")).message


def test_destination_must_be_this_endpoint_when_given(idp, clock):
    assert isinstance(read(idp, authn_envelope(clock, Destination=ECP_URL)), ecp.EcpRequest)
    assert "Destination" in fault(idp, authn_envelope(clock, Destination=f"{BASE_URL}/idp/sso"
                                                      )).message


@pytest.mark.parametrize(("change", "expected"), [
    ({"Version": "1.1"}, "Version must be 2.0"),
    ({"ID": None}, "no ID"),
    ({"ID": "_" + "x" * 300}, "characters long"),
    ({"ForceAuthn": "maybe"}, "xs:boolean"),
])
def test_an_authn_request_saml_refuses_is_a_client_fault(idp, clock, change, expected):
    assert expected in fault(idp, authn_envelope(clock, **change)).message


def test_force_authn_is_carried(idp, clock):
    assert read(idp, authn_envelope(clock, ForceAuthn="true")).force_authn


def name_id_policy(fmt: str) -> etree._Element:
    return etree.Element(SAML2P + "NameIDPolicy", Format=fmt)


def requested_context(*classes: str) -> etree._Element:
    element = etree.Element(SAML2P + "RequestedAuthnContext")
    for value in classes:
        etree.SubElement(element, SAML2 + "AuthnContextClassRef").text = value
    return element


def test_name_id_formats_the_answer_cannot_carry_are_refused(idp, clock):
    for fmt in (NameIDFormat.UNSPECIFIED, NameIDFormat.PERSISTENT):
        body = authn_envelope(clock, extra=(name_id_policy(fmt.value),))
        assert isinstance(read(idp, body), ecp.EcpRequest)
    refused = fault(idp, authn_envelope(clock, extra=(name_id_policy(NameIDFormat.EMAIL),)))
    assert "NameID" in refused.message


def test_requested_contexts_are_checked_as_at_the_sso_endpoint(idp, clock):
    unknown = authn_envelope(clock, extra=(requested_context("urn:example:retina-scan"),))
    assert "can be satisfied" in fault(idp, unknown).message
    mfa = read(idp, authn_envelope(clock, extra=(requested_context(AuthnContextClass.MFA),)))
    assert mfa.wants_mfa
    password = read(idp, authn_envelope(clock, extra=(
        requested_context(AuthnContextClass.PASSWORD_PROTECTED_TRANSPORT),)))
    assert not password.wants_mfa


# --- the envelope -------------------------------------------------------------------------------


def test_a_soap_1_2_envelope_is_a_version_mismatch(idp, clock):
    body = authn_envelope(clock).replace(NS["S"].encode(),
                                         b"http://www.w3.org/2003/05/soap-envelope")
    refused = fault(idp, body)
    assert refused.code is ecp.FaultCode.VERSION_MISMATCH and refused.http_status == 400
    assert "soap-envelope is not SOAP 1.1's" in refused.message


def test_an_unknown_header_block_that_must_be_understood_is_refused(idp, clock):
    header = etree.Element(SOAP + "Header")
    block = etree.SubElement(header, "{urn:example}Ticket")
    block.set(SOAP + "mustUnderstand", "1")
    assert fault(idp, authn_envelope(clock, header=header)).code is ecp.FaultCode.MUST_UNDERSTAND
    block.set(SOAP + "actor", "urn:example:someone-else")  # not addressed to the IdP
    assert isinstance(read(idp, authn_envelope(clock, header=header)), ecp.EcpRequest)
    block.attrib.pop(SOAP + "actor")
    block.set(SOAP + "mustUnderstand", "0")  # optional blocks are ignored
    assert isinstance(read(idp, authn_envelope(clock, header=header)), ecp.EcpRequest)


@pytest.mark.parametrize("body", [
    b"<Envelope/>",  # no namespace: neither a SOAP envelope nor a version mismatch here
    b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"/>',
    b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body/></S:Envelope>',
    b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>hello'
    b"</S:Body></S:Envelope>",
    b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body/><S:Body/>'
    b"</S:Envelope>",
    b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>'
    b'<p:LogoutRequest xmlns:p="urn:oasis:names:tc:SAML:2.0:protocol"/></S:Body></S:Envelope>',
    b'<p:AuthnRequest xmlns:p="urn:oasis:names:tc:SAML:2.0:protocol"/>',
])
def test_anything_but_one_authn_request_in_a_soap_body_is_a_client_fault(idp, body):
    refused = fault(idp, body)
    assert refused.code is ecp.FaultCode.CLIENT and refused.http_status == 400


def test_two_authn_requests_in_one_body_are_refused(idp, clock):
    root = etree.fromstring(authn_envelope(clock))
    body = root.find("S:Body", NS)
    body.append(etree.fromstring(etree.tostring(body[0])))
    assert "one samlp:AuthnRequest" in fault(idp, etree.tostring(root)).message


@pytest.mark.parametrize("body", [
    b"",
    b"not xml",
    b'<?xml version="1.0"?><!DOCTYPE S [<!ENTITY x "boom">]><S:Envelope '
    b'xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"/>',
    b'<!DOCTYPE S [<!ENTITY % p SYSTEM "file:///dev/zero"> %p;]><S/>',
    "<S/>".encode("utf-16"),
    b'<?xml version="1.0" encoding="ISO-8859-1"?><S/>',
    b"<S>" + b"x" * (ecp.MAX_ENVELOPE_BYTES + 1) + b"</S>",
])
def test_unacceptable_xml_is_a_client_fault(idp, body):
    refused = fault(idp, body)
    assert refused.code is ecp.FaultCode.CLIENT and "not acceptable XML" in refused.message


def test_entities_are_never_expanded_in_the_authn_request(idp, clock):
    body = authn_envelope(clock).replace(b"urn:amazon:webservices", b"&xxe;")
    body = b'<!DOCTYPE S:Envelope [<!ENTITY xxe "urn:amazon:webservices">]>' + body
    assert "DOCTYPE" in fault(idp, body).message


# --- HTTP Basic ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "expected"), [
    (basic("bob", "bob-password"), ("bob", "bob-password")),
    (basic("bob", "pa:ss:word"), ("bob", "pa:ss:word")),
    (basic("CORP\\bob", "p"), ("CORP\\bob", "p")),
    (basic("bøb", "pässwörd"), ("bøb", "pässwörd")),
    (basic("", ""), ("", "")),
    ("bAsIc " + base64.b64encode(b"bob:x").decode(), ("bob", "x")),
    ("Basic   " + base64.b64encode(b"bob:x").decode() + "  ", ("bob", "x")),
])
def test_basic_credentials_are_decoded(header, expected):
    credentials = ecp.parse_basic(header)
    assert credentials is not None
    assert (credentials.username, credentials.password) == expected


@pytest.mark.parametrize("header", [
    "",
    "Basic",
    "Basic ",
    "Bearer " + base64.b64encode(b"bob:x").decode(),
    "Basic " + base64.b64encode(b"bob").decode(),  # no colon
    "Basic not*base64",
    "Basic " + base64.b64encode(b"bob:x").decode()[:-1],  # bad padding
    "Basic " + base64.b64encode(b"b\xffob:x").decode(),  # not UTF-8
    "Basic " + base64.b64encode(b"bob:x\x00y").decode(),  # a control character
    "Basic " + base64.b64encode(b"bob:x").decode() + " extra",
    "Basic " + base64.b64encode(b"bob:" + b"x" * 4000).decode(),  # too long
])
def test_malformed_basic_credentials_are_none(header):
    assert ecp.parse_basic(header) is None


# --- signing in ---------------------------------------------------------------------------------


def test_bob_signs_in_and_gets_a_sealed_login(sign_in):
    outcome = login(sign_in, "bob", "bob-password")
    assert isinstance(outcome, ecp.SignedIn) and outcome.principal.username == "bob"
    assert sign_in.open_login(outcome.cookie) == outcome.principal


@pytest.mark.parametrize("name", ["CORP\\bob", "bob@corp.example", "bob@CORP"])
def test_domain_and_email_spellings_name_bob(sign_in, name):
    outcome = login(sign_in, name, "bob-password")
    assert isinstance(outcome, ecp.SignedIn) and outcome.principal.username == "bob"


@pytest.mark.parametrize(("username", "password"), [
    ("bob", "wrong"), ("mallory", "bob-password"), ("bob", ""), ("", "")])
def test_wrong_credentials_are_denied_alike(sign_in, username, password):
    outcome = login(sign_in, username, password)
    assert isinstance(outcome, ecp.Denied) and outcome.http_status == 401
    assert outcome.retry_after is None


def test_carol_needs_the_passcode_header(sign_in, clock):
    missing = login(sign_in, "carol", "carol-password")
    assert isinstance(missing, ecp.Denied) and missing.http_status == 401
    assert "X-Shibboleth-Duo-Passcode" in missing.message
    wrong = login(sign_in, "carol", "carol-password", passcode="000000"
                  if code(clock) != "000000" else "111111")
    assert isinstance(wrong, ecp.Denied) and "not correct" in wrong.message
    right = login(sign_in, "carol", "carol-password", passcode=code(clock))
    assert isinstance(right, ecp.SignedIn) and right.principal.mfa
    reused = login(sign_in, "carol", "carol-password", passcode=code(clock))
    assert isinstance(reused, ecp.Denied) and "already used" in reused.message


def test_the_passcode_alone_never_signs_carol_in(sign_in, clock):
    outcome = login(sign_in, "carol", "", passcode=code(clock))
    assert isinstance(outcome, ecp.Denied)


def test_an_oversized_passcode_is_a_wrong_one(sign_in, clock):
    outcome = login(sign_in, "carol", "carol-password", passcode=code(clock) + " " * 100)
    assert isinstance(outcome, ecp.Denied) and "not correct" in outcome.message


def test_repeated_bad_passwords_are_throttled_with_retry_after(sign_in):
    for _ in range(3):
        assert login(sign_in, "bob", "wrong").http_status == 401
    throttled = login(sign_in, "CORP\\bob", "bob-password")  # the right one, too late
    assert isinstance(throttled, ecp.Denied) and throttled.http_status == 429
    assert throttled.retry_after is not None and throttled.retry_after > 0


def test_malformed_authorization_is_denied_without_counting_as_a_failure(sign_in):
    for _ in range(5):
        outcome = ecp.authenticate(sign_in, authorization="Basic ???", cookie=None,
                                   passcode=None, address=ADDRESS)
        assert isinstance(outcome, ecp.Denied) and "not HTTP Basic" in outcome.message
    assert isinstance(login(sign_in, "bob", "bob-password"), ecp.SignedIn)


def test_the_cookie_alone_signs_in_again(sign_in):
    first = login(sign_in, "bob", "bob-password")
    again = ecp.authenticate(sign_in, authorization=None, cookie=first.cookie, passcode=None,
                             address=ADDRESS)
    assert again == ecp.SignedIn(first.principal, cookie=None)


def test_force_authn_needs_credentials_even_with_a_cookie(sign_in):
    first = login(sign_in, "bob", "bob-password")
    outcome = ecp.authenticate(sign_in, authorization=None, cookie=first.cookie, passcode=None,
                               address=ADDRESS, force_authn=True)
    assert isinstance(outcome, ecp.Denied) and "ForceAuthn" in outcome.message


def test_forged_expired_and_signed_out_cookies_are_denied_and_forgotten(sign_in, clock):
    first = login(sign_in, "bob", "bob-password")
    body, mac = first.cookie.split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    for cookie in (forged, "garbage", "x" * 5000, ""):
        denied = ecp.authenticate(sign_in, authorization=None, cookie=cookie, passcode=None,
                                  address=ADDRESS)
        assert isinstance(denied, ecp.Denied) and denied.forget_cookie
    clock.advance(3600)
    expired = ecp.authenticate(sign_in, authorization=None, cookie=first.cookie, passcode=None,
                               address=ADDRESS)
    assert isinstance(expired, ecp.Denied) and expired.forget_cookie
    second = login(sign_in, "bob", "bob-password")
    sign_in.end_login(second.cookie)
    ended = ecp.authenticate(sign_in, authorization=None, cookie=second.cookie, passcode=None,
                             address=ADDRESS)
    assert isinstance(ended, ecp.Denied)


def test_credentials_win_over_a_valid_cookie(sign_in):
    first = login(sign_in, "bob", "bob-password")
    wrong = login(sign_in, "alice", "wrong", cookie=first.cookie)
    assert isinstance(wrong, ecp.Denied)
    alice = login(sign_in, "alice", "alice-password", cookie=first.cookie)
    assert isinstance(alice, ecp.SignedIn) and alice.principal.username == "alice"


def test_nothing_is_a_challenge(sign_in):
    outcome = ecp.authenticate(sign_in, authorization=None, cookie=None, passcode=None,
                               address=ADDRESS)
    assert outcome == ecp.Denied("Send the username and password with HTTP Basic "
                                 "authentication.")


# --- the answer ---------------------------------------------------------------------------------


def principal(sign_in: VendorSignIn, username: str, *, mfa: bool = False) -> Principal:
    user = sign_in.directory.user(username)
    assert user is not None
    return new_principal(user, mfa=mfa, clock=sign_in.clock)


def answered(sign_in: VendorSignIn, request: ecp.EcpRequest, username: str = "bob") -> bytes:
    soap = ecp.answer(sign_in, request, principal(sign_in, username))
    assert isinstance(soap, bytes), soap
    return soap


def test_the_answer_is_the_ecp_envelope_with_the_response_to_the_request(sign_in):
    request = ecp.EcpRequest(id="_REQ42", acs_url=SIGN_IN)
    root = etree.fromstring(answered(sign_in, request))
    assert root.tag == SOAP + "Envelope"
    header_block = root.find("S:Header/{urn:oasis:names:tc:SAML:2.0:profiles:SSO:ecp}Response",
                             NS)
    assert header_block is not None
    assert dict(header_block.attrib) == {
        SOAP + "mustUnderstand": "1",
        SOAP + "actor": "http://schemas.xmlsoap.org/soap/actor/next",
        "AssertionConsumerServiceURL": SIGN_IN,
    }
    response = root.find("S:Body/saml2p:Response", NS)
    assert response is not None and len(root.find("S:Body", NS)) == 1
    assert response.get("InResponseTo") == "_REQ42"
    assert response.get("Destination") == SIGN_IN
    assert root.find("S:Body/saml2p:Response/saml2p:Status/saml2p:StatusCode[@Value="
                     "'urn:oasis:names:tc:SAML:2.0:status:Success']", NS) is not None
    confirmation = response.find(".//saml2:SubjectConfirmationData", NS)
    assert confirmation.get("Recipient") == SIGN_IN
    assert confirmation.get("InResponseTo") == "_REQ42"
    roles = [v.text for v in response.iterfind(
        f".//saml2:Attribute[@Name='{ROLE_ATTR}']/saml2:AttributeValue", NS)]
    assert roles == [BOB_ROLE]


def test_the_extracted_response_redeems_at_sts(sign_in, settings, directory, keypair, clock):
    """The signature survives embedding and awscli-login's re-serialisation."""
    soap = answered(sign_in, ecp.EcpRequest(id="_REQ43", acs_url=SIGN_IN))
    sts = builders.sts(settings, directory, keypair, clock)
    result = sts.assume_role_with_saml(assume_role_params(extract(soap), READ_ONLY,
                                                          PROD_PROVIDER))
    assert result.credentials.access_key_id.startswith("ASIA")
    assert result.claims.assumed_role_arn.endswith("assumed-role/ReadOnly/bob@corp.example")


def test_the_signed_bytes_are_the_ones_the_idp_signed(sign_in):
    """Exclusive C14N of the Assertion is the same inside the envelope and out of it."""
    form = sign_in.aws_response(principal(sign_in, "bob"), acs_url=SIGN_IN, in_response_to="_X")
    original = etree.fromstring(base64.b64decode(form.saml_value))
    soap = ecp.response_envelope(base64.b64decode(form.saml_value), SIGN_IN)
    embedded = etree.fromstring(soap).find("S:Body/saml2p:Response", NS)
    for path in (".", "saml2:Assertion"):
        want = etree.tostring(original.find(path, NS), method="c14n", exclusive=True)
        got = etree.tostring(embedded.find(path, NS), method="c14n", exclusive=True)
        assert want == got


def test_a_user_without_aws_roles_gets_a_403_fault(sign_in):
    outcome = ecp.answer(sign_in, ecp.EcpRequest(id="_R", acs_url=SIGN_IN),
                         principal(sign_in, "dave"))
    assert isinstance(outcome, ecp.SoapFault) and outcome.http_status == 403
    assert outcome.code is ecp.FaultCode.CLIENT


def test_an_mfa_request_is_answered_only_for_an_mfa_login(sign_in):
    request = ecp.EcpRequest(id="_R", acs_url=SIGN_IN, wants_mfa=True)
    refused = ecp.answer(sign_in, request, principal(sign_in, "bob"))
    assert isinstance(refused, ecp.SoapFault) and "MFA" in refused.message
    assert isinstance(ecp.answer(sign_in, request, principal(sign_in, "carol", mfa=True)),
                      bytes)


def test_a_fault_is_a_soap_1_1_fault_with_xml_safe_text():
    soap = ecp.fault_envelope(ecp.SoapFault(ecp.FaultCode.MUST_UNDERSTAND, "bad \x00\x1b <x>"))
    root = etree.fromstring(soap)
    element = root.find("S:Body/S:Fault", NS)
    assert element is not None
    assert element.findtext("faultcode") == "S:MustUnderstand"
    assert element.findtext("faultstring") == "bad \ufffd\ufffd <x>"
    assert soap.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
