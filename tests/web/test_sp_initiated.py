"""SP-initiated SSO at /idp/sso, driven by pysaml2 as an independent service provider.

pysaml2 builds every AuthnRequest (HTTP-Redirect and HTTP-POST, signed and unsigned) and
validates every Response, so these tests check interoperability, not our own round trip.
"""

from __future__ import annotations

import base64
import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import lxml.html
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.response import StatusInvalidNameidPolicy, StatusNoPassive
from saml2.saml import (
    NAMEID_FORMAT_EMAILADDRESS,
    NAMEID_FORMAT_PERSISTENT,
    NAMEID_FORMAT_TRANSIENT,
)
from starlette.testclient import TestClient

from idp.clock import FixedClock
from idp.directory import Directory
from idp.saml.constants import NS
from tests.support.demo import IDP_ENTITY_ID, SSO_URL, edited_demo
from tests.support.http import PostedResponse, auto_post, csrf, login, pending_id

SP_ENTITY = "https://sp.test/metadata"
ACS = "https://sp.test/acs"
ACS2 = "https://sp.test/acs2"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
KERBEROS = "urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos"
STATUS = "urn:oasis:names:tc:SAML:2.0:status:"

pytestmark = pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="needs xmlsec1")


# --- SP key pairs ----------------------------------------------------------------------------


def _write_keypair(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed RSA-2048 certificate and its key, as PEM files pysaml2 can sign with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path = folder / f"{name}.key"
    cert_path = folder / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@pytest.fixture(scope="module")
def sp_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """The registered SP's key pair and a rogue one the IdP has never seen."""
    folder = tmp_path_factory.mktemp("sp-keys")
    return {name: _write_keypair(folder, name) for name in ("sp", "rogue")}


# --- the IdP with a test SP, and pysaml2 as that SP ------------------------------------------


def _directory(*service_providers: dict[str, Any]) -> Directory:
    return edited_demo(lambda demo: demo.update(service_providers=list(service_providers)))


def _sp_entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "entity_id": SP_ENTITY,
        "acs_urls": [ACS],
        "name_id_format": "persistent",
        "release": ["email", "display_name", "groups"],
    }
    entry.update(overrides)
    return entry


@pytest.fixture
def make_idp(client_factory: Callable[..., TestClient]) -> Callable[..., TestClient]:
    def make(*service_providers: dict[str, Any]) -> TestClient:
        sps = service_providers or (_sp_entry(),)
        return client_factory(directory_override=_directory(*sps))

    return make


def _sp(
    client: TestClient,
    *,
    entityid: str = SP_ENTITY,
    acs_urls: tuple[str, ...] = (ACS,),
    keys: tuple[Path, Path] | None = None,
) -> Saml2Client:
    """A pysaml2 SP trusting the IdP's published metadata (and signing if given keys)."""
    metadata = client.get("/idp/metadata")
    assert metadata.status_code == 200
    sp_section: dict[str, Any] = {
        "endpoints": {"assertion_consumer_service": [(url, BINDING_HTTP_POST) for url in acs_urls]},
        "want_response_signed": False,
        "want_assertions_signed": True,
        "allow_unsolicited": False,
        "authn_requests_signed": keys is not None,
        "signing_algorithm": RSA_SHA256,
        "digest_algorithm": SHA256,
    }
    config: dict[str, Any] = {
        "entityid": entityid,
        "service": {"sp": sp_section},
        "metadata": {"inline": [metadata.text]},
        "xmlsec_binary": shutil.which("xmlsec1"),
    }
    if keys is not None:
        config["key_file"], config["cert_file"] = str(keys[0]), str(keys[1])
    cfg = SPConfig()
    cfg.load(config)
    return Saml2Client(config=cfg)


@pytest.fixture
def idp(make_idp: Callable[..., TestClient]) -> TestClient:
    """The IdP with the plain test SP registered (unsigned requests, persistent NameID)."""
    return make_idp()


@pytest.fixture
def sp(idp: TestClient) -> Saml2Client:
    return _sp(idp)


# --- sending requests ------------------------------------------------------------------------


def _redirect_url(http_info: dict[str, Any]) -> str:
    """The path and query of pysaml2's Redirect-binding Location header."""
    location = dict(http_info["headers"])["Location"]
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == SSO_URL
    return f"{parts.path}?{parts.query}"


def _post_fields(http_info: dict[str, Any]) -> dict[str, str]:
    """SAMLRequest and RelayState out of pysaml2's HTTP-POST binding page."""
    page = lxml.html.fromstring(http_info["data"])
    (form,) = page.xpath("//form")
    assert form.get("action") == SSO_URL
    return {i.get("name"): i.get("value") for i in form.xpath(".//input[@name]")}


def _prepare(sp: Saml2Client, binding: str, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    kwargs.setdefault("relay_state", "rs-123")
    return sp.prepare_for_authenticate(entityid=IDP_ENTITY_ID, binding=binding, **kwargs)


def _send(client: TestClient, binding: str, http_info: dict[str, Any]):
    """Deliver a prepared AuthnRequest to /idp/sso without following redirects."""
    if binding == BINDING_HTTP_REDIRECT:
        return client.get(_redirect_url(http_info), follow_redirects=False)
    return client.post("/idp/sso", data=_post_fields(http_info), follow_redirects=False)


def _log_in_from(client: TestClient, first, username: str, password: str):
    """``first`` redirected to the login page: log in there and follow back through SSO."""
    assert first.status_code == 303, first.text[:500]
    location = first.headers["location"]
    assert urlsplit(location).path == "/idp/login"
    page = client.get(location)
    assert page.status_code == 200
    data = {"username": username, "password": password, "pending": pending_id(location),
            "csrf_token": csrf(page.text)}
    return client.post("/idp/login", data=data, follow_redirects=True)


def _sign_in(
    client: TestClient, sp: Saml2Client, binding: str, username: str = "bob", **kwargs: Any
) -> tuple[str, PostedResponse]:
    """Send a fresh AuthnRequest, log in, return the request id and the posted Response."""
    reqid, http_info = _prepare(sp, binding, **kwargs)
    final = _log_in_from(
        client, _send(client, binding, http_info), username, f"{username}-password"
    )
    assert final.status_code == 200, final.text[:500]
    return reqid, auto_post(final.text)


def _accept(sp: Saml2Client, posted: PostedResponse, reqid: str) -> Any:
    """pysaml2's full validation of the Response, as the SP that sent ``reqid``."""
    return sp.parse_authn_request_response(
        posted.saml_response, BINDING_HTTP_POST, outstanding={reqid: "/"},
        conv_info={"entity_id": SP_ENTITY},
    )


def _status_codes(posted: PostedResponse) -> list[str]:
    return [el.get("Value") for el in posted.tree.iterfind(".//samlp:StatusCode", NS)]


def _is_signed(posted: PostedResponse) -> bool:
    return posted.tree.find("ds:Signature", NS) is not None


# --- 1, 2: unsigned requests over both bindings ----------------------------------------------


def test_redirect_binding_unsigned_request_round_trip(idp: TestClient, sp: Saml2Client) -> None:
    """An unsigned HTTP-Redirect AuthnRequest from pysaml2 gets a Response pysaml2 accepts."""
    reqid, http_info = _prepare(sp, BINDING_HTTP_REDIRECT)
    final = login(idp, _redirect_url(http_info), "bob", "bob-password")
    assert final.status_code == 200, final.text[:500]
    posted = auto_post(final.text)

    assert posted.action == ACS
    assert posted.relay_state == "rs-123"
    assert posted.tree.get("InResponseTo") == reqid
    assert posted.tree.get("Destination") == ACS
    resp = _accept(sp, posted, reqid)
    assert resp.in_response_to == reqid
    assert resp.name_id.format == NAMEID_FORMAT_PERSISTENT
    assert resp.name_id.sp_name_qualifier == SP_ENTITY
    assert resp.name_id.text
    assert posted.attribute("email") == ["bob@corp.example"]


def test_post_binding_unsigned_request_round_trip(idp: TestClient, sp: Saml2Client) -> None:
    """An unsigned HTTP-POST AuthnRequest from pysaml2 gets a Response pysaml2 accepts."""
    reqid, http_info = _prepare(sp, BINDING_HTTP_POST)
    fields = _post_fields(http_info)
    assert fields["RelayState"] == "rs-123"
    first = idp.post("/idp/sso", data=fields, follow_redirects=False)
    final = _log_in_from(idp, first, "bob", "bob-password")
    assert final.status_code == 200, final.text[:500]
    posted = auto_post(final.text)

    assert posted.action == ACS
    assert posted.relay_state == "rs-123"
    assert posted.tree.get("InResponseTo") == reqid
    resp = _accept(sp, posted, reqid)
    assert resp.name_id.format == NAMEID_FORMAT_PERSISTENT


# --- 3: signed requests ------------------------------------------------------------------------


@pytest.fixture
def signing_idp(make_idp: Callable[..., TestClient], sp_keys) -> TestClient:
    """The IdP with the test SP registered as requiring signed AuthnRequests."""
    cert_pem = sp_keys["sp"][1].read_text("ascii")
    return make_idp(_sp_entry(want_authn_requests_signed=True, certificates=[cert_pem]))


def _signed(binding: str, sp: Saml2Client, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    return _prepare(sp, binding, sign=True, sigalg=RSA_SHA256, digest_alg=SHA256, **kwargs)


def test_signed_redirect_request_is_accepted(signing_idp: TestClient, sp_keys) -> None:
    """A Redirect request signed over the query string (RSA-SHA256) is verified and answered."""
    sp = _sp(signing_idp, keys=sp_keys["sp"])
    reqid, http_info = _signed(BINDING_HTTP_REDIRECT, sp)
    query = parse_qs(urlsplit(_redirect_url(http_info)).query)
    assert query["SigAlg"] == [RSA_SHA256]
    assert "Signature" in query

    final = _log_in_from(
        signing_idp, _send(signing_idp, BINDING_HTTP_REDIRECT, http_info), "bob", "bob-password"
    )
    posted = auto_post(final.text)
    assert posted.tree.get("InResponseTo") == reqid
    assert posted.relay_state == "rs-123"
    _accept(sp, posted, reqid)


def test_signed_post_request_is_accepted(signing_idp: TestClient, sp_keys) -> None:
    """A POST request with an enveloped XML signature made by xmlsec1 is verified and answered."""
    sp = _sp(signing_idp, keys=sp_keys["sp"])
    reqid, http_info = _signed(BINDING_HTTP_POST, sp)
    xml = base64.b64decode(_post_fields(http_info)["SAMLRequest"])
    assert b"Signature" in xml

    final = _log_in_from(
        signing_idp, _send(signing_idp, BINDING_HTTP_POST, http_info), "bob", "bob-password"
    )
    posted = auto_post(final.text)
    assert posted.tree.get("InResponseTo") == reqid
    _accept(sp, posted, reqid)


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_unsigned_request_to_signing_sp_is_refused(signing_idp: TestClient, binding: str) -> None:
    """An unsigned request from an SP that must sign is refused with a 403 page, never answered."""
    sp = _sp(signing_idp)
    _reqid, http_info = _prepare(sp, binding)
    response = _send(signing_idp, binding, http_info)
    assert response.status_code == 403
    assert "requires signed AuthnRequests" in response.text
    assert "SAMLResponse" not in response.text


def _tamper_signature(url: str) -> str:
    path, _, query = url.partition("?")
    parts = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "Signature":
            raw = bytearray(base64.b64decode(unquote(value)))
            raw[len(raw) // 2] ^= 0x01
            value = quote(base64.b64encode(bytes(raw)).decode("ascii"), safe="")
        parts.append(f"{name}={value}")
    return f"{path}?{'&'.join(parts)}"


def test_redirect_request_with_altered_signature_is_refused(
    signing_idp: TestClient, sp_keys
) -> None:
    """A Redirect request whose Signature parameter was changed by one bit is refused 403."""
    sp = _sp(signing_idp, keys=sp_keys["sp"])
    _reqid, http_info = _signed(BINDING_HTTP_REDIRECT, sp)
    response = signing_idp.get(_tamper_signature(_redirect_url(http_info)), follow_redirects=False)
    assert response.status_code == 403
    assert "signature does not verify" in response.text


def test_redirect_request_with_changed_relay_state_is_refused(
    signing_idp: TestClient, sp_keys
) -> None:
    """Changing RelayState after signing breaks the query signature, so the request is refused."""
    sp = _sp(signing_idp, keys=sp_keys["sp"])
    _reqid, http_info = _signed(BINDING_HTTP_REDIRECT, sp)
    url = _redirect_url(http_info)
    assert "RelayState=rs-123" in url
    response = signing_idp.get(url.replace("RelayState=rs-123", "RelayState=rs-999"),
                               follow_redirects=False)
    assert response.status_code == 403
    assert "signature does not verify" in response.text


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_request_signed_by_another_key_is_refused(
    signing_idp: TestClient, sp_keys, binding: str
) -> None:
    """A correctly formed signature by a key not registered for the SP is refused 403."""
    rogue = _sp(signing_idp, keys=sp_keys["rogue"])
    _reqid, http_info = _signed(binding, rogue)
    response = _send(signing_idp, binding, http_info)
    assert response.status_code == 403
    assert "SAMLResponse" not in response.text


@pytest.mark.parametrize("smuggled", ["SAMLRequest", "SAML%52equest", "RelayState"])
def test_redirect_signature_covers_the_values_acted_on(
    signing_idp: TestClient, sp_keys, smuggled: str
) -> None:
    """A second (or name-encoded) parameter appended to a signed Redirect URL is refused."""
    signer = _sp(signing_idp, keys=sp_keys["sp"])
    _reqid, http_info = _signed(BINDING_HTTP_REDIRECT, signer)
    if smuggled == "RelayState":
        extra = quote("https://evil.test/", safe="")
    else:
        # An unsigned request of the attacker's choosing from the same (signing) SP.
        _evil_id, evil_info = _prepare(_sp(signing_idp), BINDING_HTTP_REDIRECT, force_authn="true")
        extra = quote(parse_qs(urlsplit(_redirect_url(evil_info)).query)["SAMLRequest"][0], safe="")
    url = f"{_redirect_url(http_info)}&{smuggled}={extra}"
    response = signing_idp.get(url, follow_redirects=False)
    assert response.status_code in (400, 403), response.headers.get("location")


# --- 4: ForceAuthn ------------------------------------------------------------------------------


def test_force_authn_asks_for_login_again(
    idp: TestClient, sp: Saml2Client, clock: FixedClock
) -> None:
    """With a live session a plain request is answered at once, but ForceAuthn means log in."""
    _sign_in(idp, sp, BINDING_HTTP_REDIRECT)
    clock.advance(30)

    reqid, http_info = _prepare(sp, BINDING_HTTP_REDIRECT)
    answered = _send(idp, BINDING_HTTP_REDIRECT, http_info)
    assert answered.status_code == 200
    posted = auto_post(answered.text)
    assert posted.tree.get("InResponseTo") == reqid
    _accept(sp, posted, reqid)

    clock.advance(30)
    reqid, http_info = _prepare(sp, BINDING_HTTP_REDIRECT, force_authn="true")
    assert b'ForceAuthn="true"' in _inflate_redirect(http_info)
    forced = _send(idp, BINDING_HTTP_REDIRECT, http_info)
    assert forced.status_code == 303
    assert urlsplit(forced.headers["location"]).path == "/idp/login"

    final = _log_in_from(idp, forced, "bob", "bob-password")
    posted = auto_post(final.text)
    assert posted.tree.get("InResponseTo") == reqid
    resp = _accept(sp, posted, reqid)
    authn_instant = resp.assertion.authn_statement[0].authn_instant
    assert authn_instant.startswith(clock.now().strftime("%Y-%m-%dT%H:%M:%S"))


def _inflate_redirect(http_info: dict[str, Any]) -> bytes:
    import zlib

    query = parse_qs(urlsplit(_redirect_url(http_info)).query)
    return zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -zlib.MAX_WBITS)


# --- 5: IsPassive -------------------------------------------------------------------------------


def test_is_passive_without_session_gets_no_passive(idp: TestClient, sp: Saml2Client) -> None:
    """IsPassive with nobody signed in is answered at the ACS with a signed NoPassive status."""
    reqid, http_info = _prepare(sp, BINDING_HTTP_REDIRECT, is_passive="true")
    response = _send(idp, BINDING_HTTP_REDIRECT, http_info)
    assert response.status_code == 200, response.text[:500]
    posted = auto_post(response.text)

    assert posted.action == ACS
    assert posted.relay_state == "rs-123"
    assert posted.tree.get("InResponseTo") == reqid
    assert _status_codes(posted) == [STATUS + "Responder", STATUS + "NoPassive"]
    assert posted.tree.find("saml:Assertion", NS) is None
    assert _is_signed(posted)
    with pytest.raises(StatusNoPassive):
        _accept(sp, posted, reqid)


def test_is_passive_with_session_gets_success(idp: TestClient, sp: Saml2Client) -> None:
    """IsPassive with a live session is answered with a normal Success response, no login page."""
    _sign_in(idp, sp, BINDING_HTTP_REDIRECT)
    reqid, http_info = _prepare(sp, BINDING_HTTP_REDIRECT, is_passive="true")
    response = _send(idp, BINDING_HTTP_REDIRECT, http_info)
    assert response.status_code == 200, response.text[:500]
    posted = auto_post(response.text)
    assert _status_codes(posted) == [STATUS + "Success"]
    resp = _accept(sp, posted, reqid)
    assert resp.name_id.format == NAMEID_FORMAT_PERSISTENT


# --- 6: NameIDPolicy ----------------------------------------------------------------------------


def test_name_id_policy_email(idp: TestClient, sp: Saml2Client) -> None:
    """Requesting emailAddress yields the user's email with that Format."""
    reqid, posted = _sign_in(
        idp, sp, BINDING_HTTP_REDIRECT, nameid_format=NAMEID_FORMAT_EMAILADDRESS
    )
    resp = _accept(sp, posted, reqid)
    assert resp.name_id.format == NAMEID_FORMAT_EMAILADDRESS
    assert resp.name_id.text == "bob@corp.example"


def test_name_id_policy_transient(idp: TestClient, sp: Saml2Client) -> None:
    """Requesting transient yields a fresh opaque identifier each time."""
    reqid, posted = _sign_in(idp, sp, BINDING_HTTP_REDIRECT, nameid_format=NAMEID_FORMAT_TRANSIENT)
    resp = _accept(sp, posted, reqid)
    assert resp.name_id.format == NAMEID_FORMAT_TRANSIENT
    assert resp.name_id.text not in ("bob", "bob@corp.example")
    assert resp.name_id.sp_name_qualifier is None

    reqid2, http_info = _prepare(sp, BINDING_HTTP_REDIRECT, nameid_format=NAMEID_FORMAT_TRANSIENT)
    again = auto_post(_send(idp, BINDING_HTTP_REDIRECT, http_info).text)
    resp2 = _accept(sp, again, reqid2)
    assert resp2.name_id.format == NAMEID_FORMAT_TRANSIENT
    assert resp2.name_id.text != resp.name_id.text


def test_name_id_policy_unsupported_format(idp: TestClient, sp: Saml2Client) -> None:
    """An unsupported NameID format gets InvalidNameIDPolicy at the ACS, with no assertion."""
    reqid, http_info = _prepare(sp, BINDING_HTTP_REDIRECT, nameid_format=KERBEROS)
    response = _send(idp, BINDING_HTTP_REDIRECT, http_info)
    assert response.status_code == 200, response.text[:500]
    posted = auto_post(response.text)

    assert posted.action == ACS
    assert posted.tree.get("InResponseTo") == reqid
    assert _status_codes(posted) == [STATUS + "Responder", STATUS + "InvalidNameIDPolicy"]
    assert posted.tree.find("saml:Assertion", NS) is None
    assert _is_signed(posted)
    with pytest.raises(StatusInvalidNameidPolicy):
        _accept(sp, posted, reqid)


# --- 7: ACS URL and Issuer checks ---------------------------------------------------------------


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_unregistered_acs_url_is_refused(idp: TestClient, binding: str) -> None:
    """An AssertionConsumerServiceURL not registered for the SP gets a 403 page naming it."""
    evil = "https://evil.test/steal"
    sp = _sp(idp, acs_urls=(ACS, evil))
    _reqid, http_info = _prepare(sp, binding, assertion_consumer_service_url=evil)
    response = _send(idp, binding, http_info)
    assert response.status_code == 403
    assert evil in response.text
    assert "SAMLResponse" not in response.text


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_unknown_issuer_is_refused(idp: TestClient, binding: str) -> None:
    """An AuthnRequest from an Issuer the directory does not list gets a 403 page."""
    stranger = _sp(idp, entityid="https://stranger.test/metadata")
    _reqid, http_info = _prepare(stranger, binding)
    response = _send(idp, binding, http_info)
    assert response.status_code == 403
    assert "Unknown service provider" in response.text
    assert "https://stranger.test/metadata" in response.text


@pytest.fixture
def two_acs_idp(make_idp: Callable[..., TestClient]) -> TestClient:
    return make_idp(_sp_entry(acs_urls=[ACS, ACS2]))


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST])
def test_registered_alternative_acs_url_is_honoured(two_acs_idp: TestClient, binding: str) -> None:
    """A second registered ACS URL requested by the SP is where the Response is posted."""
    sp = _sp(two_acs_idp, acs_urls=(ACS, ACS2))
    reqid, posted = _sign_in(two_acs_idp, sp, binding, assertion_consumer_service_url=ACS2)
    assert posted.action == ACS2
    assert posted.tree.get("Destination") == ACS2
    assert posted.tree.find(".//saml:SubjectConfirmationData", NS).get("Recipient") == ACS2
    resp = _accept(sp, posted, reqid)
    assert resp.name_id.format == NAMEID_FORMAT_PERSISTENT

    # Without an explicit URL the SP's first (default) ACS is used.
    reqid, http_info = _prepare(sp, binding)
    default = auto_post(_send(two_acs_idp, binding, http_info).text)
    assert default.action == ACS
