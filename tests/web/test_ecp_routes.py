"""``POST /idp/profile/SAML2/SOAP/ECP`` (``--compat ecp``) as awscli-login 1.0 uses it.

The request is built as ``awscli_login/saml.py`` (``authn_request``) builds it, posted as its
``saml_login`` posts it (``Content-Type: text/xml``, HTTP Basic, the Duo headers of
``config.py``), and the answer is read as ``raise_if_saml_failed`` and
``parse_soap_response`` read it: the Response element re-serialised out of the envelope is
redeemed at the app's own STS. Then everything that must not work: wrong or missing
credentials and codes, dead cookies, requests the IdP refuses (always a SOAP fault, never a
5xx), throttling, the surface switched off.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyotp
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree
from starlette.testclient import TestClient

from idp.web.app import create_app
from tests.support.asgi import CHUNK, Feed, call, endless, run
from tests.support.demo import (
    ADMIN,
    AWS_ACS,
    CAROL_SECRET,
    DEV_PROVIDER,
    DEVELOPER,
    PROD_PROVIDER,
    READ_ONLY,
)
from tests.support.ecp import ECP, NS, SIGN_IN, SOAP, authn_request

SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
ECP_NS = "urn:oasis:names:tc:SAML:2.0:profiles:SSO:ecp"
STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
#: ``saml_login``'s session headers (the stray ``charset`` header is the tool's own).
HEADERS = {"Content-Type": "text/xml", "charset": "utf-8"}


@pytest.fixture
def ecp_client(client_factory: Callable[..., TestClient]) -> TestClient:
    return client_factory(compat="ecp")


def request_id_of(envelope: bytes) -> str:
    return str(etree.fromstring(envelope).find("S:Body/saml2p:AuthnRequest", NS).get("ID"))


def post(client: TestClient, body: bytes, *, auth: tuple[str, str] | None = None,
         headers: dict[str, str] | None = None) -> Any:
    return client.post(ECP, content=body, auth=auth, headers={**HEADERS, **(headers or {})})


def succeeded(soap: bytes) -> bool:
    """``raise_if_saml_failed`` (awscli_login/saml.py), as a boolean."""
    return etree.fromstring(soap).find(
        'S:Body/saml2p:Response/saml2p:Status/saml2p:StatusCode[@Value="' + SUCCESS + '"]',
        NS) is not None


def extract(soap: bytes) -> str:
    """``parse_soap_response``: the Response element, re-serialised with lxml, base64."""
    response = etree.fromstring(soap).find("S:Body/saml2p:Response", NS)
    assert response is not None
    return base64.b64encode(etree.tostring(response)).decode("us-ascii")


def redeem(client: TestClient, saml: str, role: str, provider: str) -> etree._Element:
    answer = client.post("/aws/sts", data={
        "Action": "AssumeRoleWithSAML", "Version": "2011-06-15", "RoleArn": role,
        "PrincipalArn": provider, "SAMLAssertion": saml})
    assert answer.status_code == 200, answer.text
    root = etree.fromstring(answer.content)
    assert root.findtext(f".//{STS_NS}Credentials/{STS_NS}AccessKeyId", "").startswith("ASIA")
    return root


def assumed_role(root: etree._Element) -> str:
    return str(root.findtext(f".//{STS_NS}AssumedRoleUser/{STS_NS}Arn"))


def fault_of(response: Any) -> tuple[str, str]:
    """(faultcode, faultstring) of a SOAP 1.1 fault answer, checking its shape."""
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    fault = etree.fromstring(response.content).find("S:Body/S:Fault", NS)
    assert fault is not None, response.text
    assert etree.fromstring(response.content).find("S:Body/saml2p:Response", NS) is None
    return str(fault.findtext("faultcode")), str(fault.findtext("faultstring"))


def code(clock: Any) -> str:
    return pyotp.TOTP(CAROL_SECRET).at(clock.now())


def wrong_code(clock: Any) -> str:
    return "000000" if code(clock) != "000000" else "111111"


# --- awscli-login's way ---------------------------------------------------------------------


def test_a_disabled_surface_answers_a_soap_fault_not_a_page(client_factory, clock):
    answer = post(client_factory(), authn_request(clock), auth=("bob", "bob-password"))
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/xml")
    assert "--compat ecp" in fault_of(answer)[1]


def test_bob_gets_the_ecp_envelope_and_redeems_it_at_sts(ecp_client, clock):
    body = authn_request(clock)
    answer = post(ecp_client, body, auth=("bob", "bob-password"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/xml; charset=utf-8"
    assert succeeded(answer.content)
    root = etree.fromstring(answer.content)
    block = root.find(f"S:Header/{{{ECP_NS}}}Response", NS)
    assert block is not None
    assert block.get(SOAP + "mustUnderstand") == "1"
    assert block.get(SOAP + "actor") == "http://schemas.xmlsoap.org/soap/actor/next"
    assert block.get("AssertionConsumerServiceURL") == SIGN_IN
    response = root.find("S:Body/saml2p:Response", NS)
    assert response.get("InResponseTo") == request_id_of(body)
    assert response.get("Destination") == SIGN_IN
    sts = redeem(ecp_client, extract(answer.content), READ_ONLY, PROD_PROVIDER)
    assert assumed_role(sts).endswith(":assumed-role/ReadOnly/bob@corp.example")


def test_the_session_cookie_is_httponly_strict_and_scoped_to_the_endpoint(ecp_client, clock):
    answer = post(ecp_client, authn_request(clock), auth=("bob", "bob-password"))
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("idp_ecp_session=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "max-age", "samesite"} <= attributes
    assert f"Path={ECP}" in cookie and "SameSite=strict" in cookie
    assert "secure" not in attributes  # plain http: the cookie must come back over it


@pytest.mark.parametrize("client_url", ["https://idp.test", "http://idp.test"])
def test_over_https_the_cookie_is_secure(settings, directory, clock, client_url):
    """An https base URL makes the cookie Secure, also behind a TLS-terminating proxy that
    forwards plain HTTP (as the other surfaces' cookies)."""
    app = create_app(settings.with_overrides(compat="ecp", base_url="https://idp.test"),
                     directory=directory, clock=clock)
    with TestClient(app, base_url=client_url) as client:
        answer = post(client, authn_request(clock), auth=("bob", "bob-password"))
        assert answer.status_code == 200
        assert "; secure" in answer.headers["set-cookie"].lower()
        if client_url.startswith("https"):
            again = post(client, authn_request(clock))  # the cookie goes back over https
            assert again.status_code == 200 and succeeded(again.content)


def test_alice_redeems_any_of_her_three_roles(ecp_client, clock):
    answer = post(ecp_client, authn_request(clock), auth=("alice", "alice-password"))
    assert answer.status_code == 200
    sts = redeem(ecp_client, extract(answer.content), DEVELOPER, DEV_PROVIDER)
    assert assumed_role(sts).endswith(":assumed-role/Developer/alice@corp.example")


@pytest.mark.parametrize("name", ["CORP\\bob", "bob@corp.example"])
def test_domain_and_email_user_names_name_bob(ecp_client, clock, name):
    answer = post(ecp_client, authn_request(clock), auth=(name, "bob-password"))
    assert answer.status_code == 200 and succeeded(answer.content)


def test_carol_sends_her_code_in_the_duo_passcode_header(ecp_client, clock):
    """awscli-login's ``factor = passcode``: both spellings of both headers are sent."""
    passcode = code(clock)
    answer = post(ecp_client, authn_request(clock), auth=("carol", "carol-password"), headers={
        "X-Shiboleth-Duo-Factor": "passcode", "X-Shibboleth-Duo-Factor": "passcode",
        "X-Shiboleth-Duo-Passcode": passcode, "X-Shibboleth-Duo-Passcode": passcode})
    assert answer.status_code == 200, answer.text
    sts = redeem(ecp_client, extract(answer.content), ADMIN, PROD_PROVIDER)
    assert assumed_role(sts).endswith(":assumed-role/Admin/carol@corp.example")


def test_the_misspelt_passcode_header_alone_also_works(ecp_client, clock):
    answer = post(ecp_client, authn_request(clock), auth=("carol", "carol-password"),
                  headers={"X-Shiboleth-Duo-Passcode": code(clock)})
    assert answer.status_code == 200


def test_carol_without_a_code_is_told_to_send_one(ecp_client, clock):
    answer = post(ecp_client, authn_request(clock), auth=("carol", "carol-password"))
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith('Basic realm="ECP"')
    faultcode, message = fault_of(answer)
    assert faultcode == "S:Client" and "X-Shibboleth-Duo-Passcode" in message


def test_carol_with_a_wrong_or_reused_code_is_refused(ecp_client, clock):
    wrong = post(ecp_client, authn_request(clock), auth=("carol", "carol-password"),
                 headers={"X-Shibboleth-Duo-Passcode": wrong_code(clock)})
    assert wrong.status_code == 401 and "not correct" in fault_of(wrong)[1]
    headers = {"X-Shibboleth-Duo-Passcode": code(clock)}
    first = post(ecp_client, authn_request(clock), auth=("carol", "carol-password"),
                 headers=headers)
    assert first.status_code == 200
    ecp_client.cookies.clear()
    reused = post(ecp_client, authn_request(clock), auth=("carol", "carol-password"),
                  headers=headers)
    assert reused.status_code == 401 and "already used" in fault_of(reused)[1]


def test_refresh_with_the_cookie_alone_answers_the_new_request(ecp_client, clock):
    """awscli-login's ``refresh``: the saved cookie jar, no Basic credentials."""
    assert post(ecp_client, authn_request(clock), auth=("bob", "bob-password")).status_code == 200
    clock.advance(600)
    body = authn_request(clock)
    again = post(ecp_client, body)
    assert again.status_code == 200 and succeeded(again.content)
    response = etree.fromstring(again.content).find("S:Body/saml2p:Response", NS)
    assert response.get("InResponseTo") == request_id_of(body)
    assert "set-cookie" not in again.headers
    redeem(ecp_client, extract(again.content), READ_ONLY, PROD_PROVIDER)


def test_refresh_keeps_carols_mfa_login(ecp_client, clock):
    assert post(ecp_client, authn_request(clock), auth=("carol", "carol-password"),
                headers={"X-Shibboleth-Duo-Passcode": code(clock)}).status_code == 200
    assert post(ecp_client, authn_request(clock)).status_code == 200


def test_a_forged_cookie_is_refused_and_cleared(ecp_client, clock):
    ecp_client.cookies.set("idp_ecp_session", "eyJmb3JnZWQiOnRydWV9.AAAA", domain="idp.test",
                           path=ECP)
    answer = post(ecp_client, authn_request(clock))
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Basic ")
    assert "expired or ended" in fault_of(answer)[1]
    cleared = answer.headers["set-cookie"]
    assert cleared.startswith("idp_ecp_session=") and "Max-Age=0" in cleared


def test_an_expired_cookie_is_refused(ecp_client, clock):
    assert post(ecp_client, authn_request(clock), auth=("bob", "bob-password")).status_code == 200
    clock.advance(8 * 3600 + 1)  # the IdP session lifetime
    assert post(ecp_client, authn_request(clock)).status_code == 401


def test_no_credentials_is_a_basic_challenge_without_a_response(ecp_client, clock):
    answer = post(ecp_client, authn_request(clock))
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Basic realm="ECP", charset="UTF-8"'
    assert fault_of(answer)[0] == "S:Client"


@pytest.mark.parametrize("auth", [("bob", "wrong"), ("mallory", "bob-password"), ("bob", "")])
def test_bad_credentials_are_a_401_challenge(ecp_client, clock, auth):
    answer = post(ecp_client, authn_request(clock), auth=auth)
    assert answer.status_code == 401 and "www-authenticate" in answer.headers
    assert "set-cookie" not in answer.headers
    fault_of(answer)


@pytest.mark.parametrize("authorization", [
    "Basic", "Basic !!!", "Bearer abc", "Basic " + base64.b64encode(b"bob").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "Basic " + "QUFB" * 2000,
])
def test_malformed_authorization_is_a_401_challenge(ecp_client, clock, authorization):
    answer = post(ecp_client, authn_request(clock), headers={"Authorization": authorization})
    assert answer.status_code == 401 and "www-authenticate" in answer.headers
    assert "not HTTP Basic" in fault_of(answer)[1]


def test_repeated_bad_passwords_are_throttled_with_retry_after(ecp_client, clock):
    for _ in range(10):  # the login throttle's per-user budget
        assert post(ecp_client, authn_request(clock), auth=("bob", "x")).status_code == 401
    throttled = post(ecp_client, authn_request(clock), auth=("bob", "bob-password"))
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert "Too many failed sign-in attempts" in fault_of(throttled)[1]


def test_a_user_without_roles_gets_a_403_fault(ecp_client, clock):
    answer = post(ecp_client, authn_request(clock), auth=("dave", "dave-password"))
    assert answer.status_code == 403
    faultcode, message = fault_of(answer)
    assert faultcode == "S:Client" and "role" in message.lower()


def test_the_paos_media_type_is_accepted_too(ecp_client, clock):
    answer = post(ecp_client, authn_request(clock), auth=("bob", "bob-password"),
                  headers={"Content-Type": "application/vnd.paos+xml; charset=utf-8"})
    assert answer.status_code == 200


def test_the_registered_acs_is_answered_too(ecp_client, clock):
    answer = post(ecp_client, authn_request(clock, AssertionConsumerServiceURL=AWS_ACS),
                  auth=("bob", "bob-password"))
    assert answer.status_code == 200
    response = etree.fromstring(answer.content).find("S:Body/saml2p:Response", NS)
    assert response.get("Destination") == AWS_ACS


# --- refused requests: a SOAP fault, 400, never a 5xx -----------------------------------------


def stale(clock: Any) -> str:
    return (clock.now() - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(("change", "expected"), [
    ({"issuer": "https://sp.example/metadata"}, "not registered"),
    ({"AssertionConsumerServiceURL": "https://evil.example/saml"},
     "not an assertion consumer service"),
    ({"ProtocolBinding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"}, "not PAOS"),
    ({"IssueInstant": "STALE"}, "more than an hour old"),
    ({"Destination": "https://evil.example/ecp"}, "Destination"),
])
def test_requests_the_idp_refuses_are_client_faults(ecp_client, clock, change, expected):
    change = {k: stale(clock) if v == "STALE" else v for k, v in change.items()}
    answer = post(ecp_client, authn_request(clock, **change), auth=("bob", "bob-password"))
    assert answer.status_code == 400
    faultcode, message = fault_of(answer)
    assert faultcode == "S:Client" and expected in message
    assert "set-cookie" not in answer.headers


def test_a_refused_request_costs_no_login_attempt_and_no_code(ecp_client, clock):
    """The request is checked before the credentials: carol's code is not burnt."""
    passcode = {"X-Shibboleth-Duo-Passcode": code(clock)}
    bad = post(ecp_client, authn_request(clock, ProtocolBinding="urn:x"),
               auth=("carol", "carol-password"), headers=passcode)
    assert bad.status_code == 400
    good = post(ecp_client, authn_request(clock), auth=("carol", "carol-password"),
                headers=passcode)
    assert good.status_code == 200


@pytest.mark.parametrize("body", [
    b"",
    b"username=bob&password=bob-password",
    b'{"soap": false}',
    b"<html><body>hi</body></html>",
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
    b"<lolz>&lol2;</lolz>",
    b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>',
    b'<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope"><S:Body/></S:Envelope>',
    "<S/>".encode("utf-16"),
])
def test_bodies_that_are_not_an_ecp_request_are_client_faults(ecp_client, body):
    answer = post(ecp_client, body, auth=("bob", "bob-password"))
    assert answer.status_code == 400
    faultcode, _message = fault_of(answer)
    assert faultcode in ("S:Client", "S:VersionMismatch")


def test_a_doctype_in_the_envelope_is_refused(ecp_client, clock):
    body = authn_request(clock).replace(b"urn:amazon:webservices", b"&aws;")
    body = b'<!DOCTYPE S:Envelope [<!ENTITY aws "urn:amazon:webservices">]>' + body
    answer = post(ecp_client, body, auth=("bob", "bob-password"))
    assert answer.status_code == 400 and "DOCTYPE" in fault_of(answer)[1]


@pytest.mark.parametrize("content_type", [
    "application/x-www-form-urlencoded", "application/json", "application/soap+xml", ""])
def test_other_content_types_are_client_faults(ecp_client, clock, content_type):
    answer = ecp_client.post(ECP, content=authn_request(clock), auth=("bob", "bob-password"),
                             headers={"Content-Type": content_type})
    assert answer.status_code == 400 and "text/xml" in fault_of(answer)[1]


def test_an_oversize_body_is_a_client_fault(ecp_client, clock):
    padding = b"<!--" + b"x" * (64 * 1024) + b"-->"
    body = authn_request(clock).replace(b"<S:Body>", b"<S:Body>" + padding)
    answer = post(ecp_client, body, auth=("bob", "bob-password"))
    assert answer.status_code == 400 and "larger than 65536 bytes" in fault_of(answer)[1]


def test_an_oversize_body_is_refused_while_it_streams(ecp_client):
    """No Content-Length (chunked): counted as it arrives."""
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"<" * 1024

    answer = ecp_client.post(ECP, content=chunks(), headers=HEADERS,
                             auth=("bob", "bob-password"))
    assert answer.status_code == 400 and "larger than" in fault_of(answer)[1]


XML_HEADERS = {"Content-Type": "text/xml"}


def test_an_endless_body_stops_at_the_limit(ecp_client):
    """Counted as it streams: at most the limit plus one chunk is ever pulled."""
    feed = Feed(endless())
    status, headers, xml = run(lambda: call(ecp_client.app, feed, ECP, XML_HEADERS))
    assert status == 400 and headers["content-type"] == "text/xml; charset=utf-8"
    assert b"<faultcode>S:Client</faultcode>" in xml
    assert feed.pulled <= 64 * 1024 + CHUNK


def test_a_stalled_body_is_a_408_fault_and_the_connection_closes(client_factory):
    app = client_factory(compat="ecp", body_timeout=1).app
    started = time.monotonic()
    status, headers, xml = run(lambda: call(app, Feed([b"<S:Env"], then="stall"), ECP,
                                            XML_HEADERS))
    assert 1 <= time.monotonic() - started < 3
    assert status == 408 and headers["connection"] == "close"
    assert b"<faultcode>S:Client</faultcode>" in xml and b"did not arrive" in xml


def test_a_client_gone_mid_body_is_no_traceback(ecp_client, caplog):
    caplog.set_level(logging.DEBUG)
    status, _, _ = run(lambda: call(ecp_client.app, Feed([b"<S:"], then="disconnect"), ECP,
                                    XML_HEADERS))
    assert status == 400
    assert all(r.exc_info is None for r in caplog.records)


def test_get_is_405_with_allow_post(ecp_client):
    answer = ecp_client.get(ECP)
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    fault_of(answer)


def test_the_surface_is_404_when_not_enabled(client, clock):
    assert post(client, authn_request(clock), auth=("bob", "bob-password")).status_code == 404
    assert client.get(ECP).status_code == 404


def test_no_page_of_this_surface_is_html(ecp_client, clock):
    """Nothing here is for a browser: every answer is XML (scrapers never read HTML here)."""
    for answer in (post(ecp_client, authn_request(clock)),
                   post(ecp_client, b"x", auth=("bob", "x")),
                   post(ecp_client, authn_request(clock), auth=("bob", "bob-password"))):
        assert answer.headers["content-type"].startswith("text/xml")
        assert not re.search(rb"<html", answer.content, re.IGNORECASE)


# --- fuzz -----------------------------------------------------------------------------------


FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
#: A valid request (the test clock starts at the real time), so mutations reach the login.
_TEMPLATE = (b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>'
             b'<p:AuthnRequest xmlns:p="urn:oasis:names:tc:SAML:2.0:protocol" '
             b'xmlns:a="urn:oasis:names:tc:SAML:2.0:assertion" ID="_1" Version="2.0" '
             b'IssueInstant="' + dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
             + b'" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:PAOS" '
             b'AssertionConsumerServiceURL="https://signin.aws.amazon.com/saml">'
             b"<a:Issuer>urn:amazon:webservices</a:Issuer></p:AuthnRequest></S:Body>"
             b"</S:Envelope>")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """The template with a slice replaced by random bytes."""
    start = draw(st.integers(0, len(_TEMPLATE)))
    end = draw(st.integers(start, min(len(_TEMPLATE), start + 40)))
    return _TEMPLATE[:start] + draw(st.binary(max_size=40)) + _TEMPLATE[end:]


bodies = st.binary(max_size=300) | mutated()
authorizations = (st.none()
                  | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
                  | st.binary(max_size=60).map(
                      lambda b: "Basic " + base64.b64encode(b).decode("ascii")))


@FUZZ
@given(body=bodies, authorization=authorizations,
       passcode=st.none() | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                                    max_size=20))
def test_fuzzed_bodies_and_headers_never_get_a_5xx(ecp_client, body, authorization, passcode):
    headers = dict(HEADERS)
    if authorization is not None:
        headers["Authorization"] = authorization
    if passcode is not None:
        headers["X-Shibboleth-Duo-Passcode"] = passcode
    answer = ecp_client.post(ECP, content=body, headers=headers)
    assert answer.status_code < 500, answer.text
    event(f"status {answer.status_code}")
    assert answer.headers["content-type"] == "text/xml; charset=utf-8"
    assert "Traceback" not in answer.text
