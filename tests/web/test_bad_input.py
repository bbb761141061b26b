"""Bad input at the SSO endpoints: each case gets a clear 4xx page or a SAML error status.

Never a 500, never a traceback, and never a Success response.
"""

from __future__ import annotations

import base64
import datetime as dt
import zlib
from urllib.parse import urlencode

import pytest
from lxml import etree

from idp.clock import format_instant
from idp.saml.constants import NS
from tests.support.http import authn_request, auto_post, csrf, redirect_value

SSO = "/idp/sso"


def get_sso(client, value: str, **extra: str):
    return client.get(f"{SSO}?{urlencode({'SAMLRequest': value, **extra})}")


def assert_page(response, status: int, text: str) -> None:
    assert response.status_code == status, response.text[:800]
    assert text in response.text, response.text[:1500]
    assert "Traceback" not in response.text
    assert "SAMLResponse" not in response.text


def test_well_formed_request_reaches_the_login_page(client, clock):
    """Control case: the request builder produces something the IdP accepts."""
    value = redirect_value(authn_request(clock))
    response = client.get(f"{SSO}?{urlencode({'SAMLRequest': value})}", follow_redirects=False)
    assert response.status_code == 303


def test_sso_without_saml_request(client):
    """GET /idp/sso with nothing → 400 page."""
    assert_page(client.get(SSO), 400, "no SAMLRequest")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("%%%not-base64%%%", "not valid base64"),
        (base64.b64encode(b"<samlp:AuthnRequest/>").decode(), "not DEFLATE-compressed"),
        (base64.b64encode(zlib.compress(b"x" * 100)[:10]).decode(), "DEFLATE"),
    ],
    ids=["bad-base64", "not-deflated", "truncated-deflate"],
)
def test_undecodable_redirect_requests(client, value, message):
    """Bad base64 or DEFLATE is a 400 page saying which."""
    assert_page(get_sso(client, value), 400, message)


def test_deflate_bomb_is_stopped(client):
    """A request that inflates past the cap is refused without inflating it all."""
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    value = base64.b64encode(bomb.compress(b"<a>" + b" " * 20_000_000) + bomb.flush()).decode()
    assert_page(get_sso(client, value), 400, "inflates past")


def test_oversized_request_is_refused(client_factory):
    """An encoded SAMLRequest over max_request_bytes is refused before decoding."""
    client = client_factory(max_request_bytes=1000)
    assert_page(get_sso(client, "A" * 2000), 400, "the limit is 1000")


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (b"<a><b></a>", "not well-formed XML"),
        (b'<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>', "DTDs and entities are refused"),
        (b"<x/>", "expected a samlp:AuthnRequest"),
        (b"\xef\xbb\xbf<x/>", "byte-order mark"),
    ],
    ids=["not-well-formed", "doctype", "wrong-root", "bom"],
)
def test_unacceptable_xml(client, xml, message):
    """Malformed or dangerous XML is a 400 page naming the problem."""
    assert_page(get_sso(client, redirect_value(xml)), 400, message)


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"issuer": None}, 400, "has no Issuer"),
        ({"issuer": "https://evil.example/sp"}, 403, "is not registered with this IdP"),
        ({"AssertionConsumerServiceURL": "https://evil.example/acs"}, 403,
         "is not registered for urn:amazon:webservices"),
        ({"AssertionConsumerServiceIndex": "7"}, 403, "AssertionConsumerServiceIndex 7"),
        ({"AssertionConsumerServiceIndex": "0",
          "AssertionConsumerServiceURL": "http://idp.test/aws/saml"}, 400, "SAML allows one"),
        ({"Version": "1.1"}, 400, "Version must be 2.0"),
        ({"ID": None}, 400, "has no ID"),
        ({"ID": "a b"}, 400, "is not an XML ID"),
        ({"ID": "1abc"}, 400, "is not an XML ID"),
        ({"ID": "_a:b"}, 400, "is not an XML ID"),
        ({"IssueInstant": "yesterday"}, 400, "not a dateTime"),
        ({"Destination": "https://other.example/sso"}, 400, "is not the SingleSignOnService"),
        ({"ForceAuthn": "maybe"}, 400, "not an xs:boolean"),
    ],
    ids=["no-issuer", "unknown-sp", "unregistered-acs", "bad-acs-index", "url-and-index",
         "version", "no-id", "id-with-space", "id-with-digit-first", "id-with-colon",
         "bad-instant", "wrong-destination", "bad-boolean"],
)
def test_requests_the_idp_must_not_answer(client, clock, overrides, status, message):
    """Each refusal is a page, never a Response to an ACS we cannot trust."""
    xml = authn_request(clock, **overrides)
    assert_page(get_sso(client, redirect_value(xml)), status, message)


def test_stale_and_future_requests(client, clock):
    """IssueInstant older than an hour, or ahead beyond the skew, is refused."""
    old = format_instant(clock.now() - dt.timedelta(hours=2))
    assert_page(get_sso(client, redirect_value(authn_request(clock, IssueInstant=old))),
                400, "more than an hour old")
    ahead = format_instant(clock.now() + dt.timedelta(minutes=10))
    assert_page(get_sso(client, redirect_value(authn_request(clock, IssueInstant=ahead))),
                400, "in the future")


def test_post_binding_rejects_deflated_and_missing_fields(client, clock):
    """POST binding: plain base64 only; a missing field is a 400 page."""
    deflated = redirect_value(authn_request(clock))
    assert_page(client.post(SSO, data={"SAMLRequest": deflated}), 400, "does not deflate")
    assert_page(client.post(SSO, data={"RelayState": "x"}), 400, "no SAMLRequest field")


def test_oversized_form_is_refused(client):
    """A POST body above the form limit is refused from its Content-Length."""
    assert_page(client.post(SSO, content=b"SAMLRequest=" + b"A" * 300_000,
                            headers={"content-type": "application/x-www-form-urlencoded"}),
                400, "larger than")


def test_unsupported_protocol_binding_is_answered_with_a_saml_status(client, clock):
    """ProtocolBinding=Artifact → a signed Response with UnsupportedBinding, no assertion."""
    xml = authn_request(
        clock, ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact")
    posted = auto_post(get_sso(client, redirect_value(xml)).text)
    tree = posted.tree
    codes = [c.get("Value") for c in tree.iterfind(".//samlp:StatusCode", NS)]
    assert codes == ["urn:oasis:names:tc:SAML:2.0:status:Requester",
                     "urn:oasis:names:tc:SAML:2.0:status:UnsupportedBinding"]
    assert tree.find("saml:Assertion", NS) is None
    assert tree.get("InResponseTo") == "_req1"
    assert tree.find("ds:Signature", NS) is not None


def test_requested_authn_context_we_cannot_meet(client, clock):
    """An unknown RequestedAuthnContext class → NoAuthnContext status posted back."""
    root = etree.fromstring(authn_request(clock))
    rac = etree.SubElement(root, f"{{{NS['samlp']}}}RequestedAuthnContext")
    etree.SubElement(rac, f"{{{NS['saml']}}}AuthnContextClassRef").text = "urn:example:smartcard"
    posted = auto_post(get_sso(client, redirect_value(etree.tostring(root))).text)
    assert b"urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext" in posted.xml
    assert b"Assertion" not in posted.xml


def test_unknown_resume_step(client):
    """Resuming a step that does not exist (or was used) → 400 page, start again."""
    assert_page(client.get(f"{SSO}?resume=nope"), 400, "expired or was already completed")


def test_idp_init_refusals(client):
    """Unknown sp= → 403; a RelayState over 2048 characters → 400."""
    assert_page(client.get("/idp/init?sp=https%3A%2F%2Fnope.example"), 403,
                "is not registered")
    assert_page(client.get("/idp/init?RelayState=" + "x" * 2049), 400, "RelayState is longer")


def test_empty_login_post_is_a_clear_401(client):
    """Posting an empty login form asks for username and password."""
    page = client.get("/idp/login")
    response = client.post("/idp/login", data={"csrf_token": csrf(page.text)})
    assert response.status_code == 401
    assert "Enter your username and password." in response.text


def test_wrong_methods_and_paths_are_4xx(client):
    """Unknown paths and methods answer 404/405, not 500."""
    assert client.get("/idp/nope").status_code == 404
    assert client.delete(SSO).status_code == 405


@pytest.mark.parametrize("relay", [
    "https://evil.example/", "//evil.example/x", "javascript:alert(1)",
    "https://console.aws.amazon.com.evil.example/", "http://console.aws.amazon.com/",
])
def test_idp_initiated_relay_state_is_no_open_redirect(client, relay):
    """IdP-initiated RelayState must be relative, the SP's own host, or an AWS console URL."""
    assert_page(client.get("/idp/init", params={"RelayState": relay}), 400,
                "is not a target this IdP sends users to")


@pytest.mark.parametrize("relay", [
    "/aws/console/s3", "https://console.aws.amazon.com/ec2/home",
    "https://eu-west-1.console.aws.amazon.com/", "http://idp.test/aws/console", "opaque-state",
])
def test_idp_initiated_relay_state_allowed_targets(client, relay):
    """Relative paths, the ACS host and AWS consoles are fine (login comes next)."""
    assert client.get("/idp/init", params={"RelayState": relay},
                      follow_redirects=False).status_code == 303
