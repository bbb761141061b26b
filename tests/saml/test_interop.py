"""Independent validators (pysaml2, python3-saml, the xmlsec1 CLI) accept what the IdP emits.

Every check trusts only the certificate found in the IdP's *published metadata*, so what is
tested is the metadata an SP would import, not the key store behind it. pysaml2 and
python3-saml are imported inside the tests: they are slow to import and only oracles here.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from idp.directory import Directory
from idp.sso import IdentityProvider
from tests.support.builders import identity_provider
from tests.support.demo import (
    AWS_ACS,
    AWS_ENTITY_ID,
    BOB_ROLE,
    IDP_ENTITY_ID,
    ROLE_ATTR,
    SSO_URL,
    edited_demo,
)
from tests.support.http import auto_post, login
from tests.support.saml import respond

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
NSMAP = {"saml": SAML, "samlp": SAMLP, "md": MD, "ds": DS}
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

XMLSEC1 = shutil.which("xmlsec1")


# --- helpers -----------------------------------------------------------------------------------


def metadata_cert_b64(metadata: bytes) -> str:
    """The first signing certificate the metadata publishes, as base64 DER (no whitespace)."""
    root = etree.fromstring(metadata)
    certs = root.xpath(
        "md:IDPSSODescriptor/md:KeyDescriptor[@use='signing']/ds:KeyInfo/ds:X509Data/"
        "ds:X509Certificate/text()",
        namespaces=NSMAP,
    )
    assert certs, "metadata publishes no signing certificate"
    return "".join(str(certs[0]).split())


def metadata_cert_pem(metadata: bytes) -> str:
    body = metadata_cert_b64(metadata)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def xmlsec_verify(
    xml: bytes, cert_pem: str, workdir: Path, *, node_xpath: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``xmlsec1 --verify`` with the metadata certificate as the only trust anchor."""
    assert XMLSEC1 is not None, "the xmlsec1 binary is needed (apt-get install xmlsec1)"
    cert = workdir / "idp-metadata.crt"
    cert.write_text(cert_pem, "ascii")
    doc = workdir / "response.xml"
    doc.write_bytes(xml)
    argv = [
        XMLSEC1, "--verify", "--pubkey-cert-pem", str(cert),
        "--id-attr:ID", f"{SAML}:Assertion",
        "--id-attr:ID", f"{SAMLP}:Response",
    ]
    if node_xpath is not None:
        argv += ["--node-xpath", node_xpath]
    return subprocess.run([*argv, str(doc)], capture_output=True, text=True, timeout=30,
                          check=False)


ASSERTION_SIGNATURE = (
    "/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']"
)
RESPONSE_SIGNATURE = "/*[local-name()='Response']/*[local-name()='Signature']"


def respond_for(idp: IdentityProvider, username: str = "bob",
                sp_entity_id: str | None = None) -> str:
    """The base64 SAMLResponse of an IdP-initiated login of ``username`` (no HTTP)."""
    return respond(idp, username, sp=sp_entity_id).saml_value


def directory_with(*service_providers: dict[str, object]) -> Directory:
    """The demo directory with these ``service_providers``."""
    return edited_demo(lambda demo: demo.update(service_providers=list(service_providers)))


BOTH_SIGNED = {"entity_id": AWS_ENTITY_ID, "acs_urls": [AWS_ACS], "sign_response": True,
               "sign_assertion": True}


def roles_of(tree: etree._Element) -> list[str]:
    return [
        str(v) for v in tree.xpath(
            f"//saml:Attribute[@Name='{ROLE_ATTR}']/saml:AttributeValue/text()", namespaces=NSMAP
        )
    ]


# --- pysaml2 ------------------------------------------------------------------------------------


def pysaml2_client(metadata: bytes, *, want_response_signed: bool = False) -> Any:
    from saml2 import BINDING_HTTP_POST
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

    cfg = SPConfig()
    cfg.load({
        "entityid": AWS_ENTITY_ID,
        "service": {"sp": {
            "endpoints": {"assertion_consumer_service": [(AWS_ACS, BINDING_HTTP_POST)]},
            "want_assertions_signed": True,
            "want_response_signed": want_response_signed,
            "allow_unsolicited": True,
        }},
        "metadata": {"inline": [metadata.decode("utf-8")]},
        "xmlsec_binary": XMLSEC1,
    })
    return Saml2Client(config=cfg)


def pysaml2_parse(metadata: bytes, saml_response: str, **kwargs: Any) -> Any:
    from saml2 import BINDING_HTTP_POST

    client = pysaml2_client(metadata, **kwargs)
    return client.parse_authn_request_response(
        saml_response, BINDING_HTTP_POST, outstanding=None,
        conv_info={"entity_id": AWS_ENTITY_ID},
    )


def pysaml2_roles(resp: Any) -> list[str]:
    return [
        v.text
        for statement in resp.assertion.attribute_statement
        for attribute in statement.attribute
        if attribute.name == ROLE_ATTR
        for v in attribute.attribute_value
    ]


def test_pysaml2_parses_bobs_response(settings, directory, keypair, clock):
    """pysaml2 as the AWS SP verifies bob's Response with our metadata and reads NameID and Role."""
    idp = identity_provider(settings, directory, keypair, clock)
    resp = pysaml2_parse(idp.metadata(), respond_for(idp))

    assert resp.issuer() == IDP_ENTITY_ID
    assert resp.assertion.issuer.text == IDP_ENTITY_ID
    name_id = resp.assertion.subject.name_id
    assert name_id.format == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    assert name_id.text and name_id.text == resp.name_id.text
    assert pysaml2_roles(resp) == [BOB_ROLE]


def test_pysaml2_accepts_response_posted_over_http(client):
    """pysaml2 accepts the form an HTTP login on /idp/init posts, trusting /idp/metadata."""
    metadata = client.get("/idp/metadata").content
    posted = auto_post(login(client, "/idp/init", "bob", "bob-password").text)
    assert posted.action == AWS_ACS

    resp = pysaml2_parse(metadata, posted.saml_response)

    assert pysaml2_roles(resp) == [BOB_ROLE]
    assert resp.name_id.text == "".join(
        posted.tree.find(".//saml:Subject/saml:NameID", NSMAP).itertext()
    )


def test_pysaml2_rejects_tampered_response(settings, directory, keypair, clock):
    """pysaml2 refuses bob's Response once a Role value is changed after signing."""
    from saml2.sigver import SignatureError

    idp = identity_provider(settings, directory, keypair, clock)
    xml = base64.b64decode(respond_for(idp))
    tampered = xml.replace(b"role/ReadOnly,", b"role/Admin,")
    assert tampered != xml

    with pytest.raises(SignatureError):
        pysaml2_parse(idp.metadata(), base64.b64encode(tampered).decode("ascii"))


def test_pysaml2_accepts_signed_response_and_assertion(settings, keypair, clock):
    """pysaml2 with want_response_signed accepts a Response signed on both levels."""
    directory = directory_with(BOTH_SIGNED)
    idp = identity_provider(settings, directory, keypair, clock)
    resp = pysaml2_parse(idp.metadata(), respond_for(idp), want_response_signed=True)
    assert pysaml2_roles(resp) == [BOB_ROLE]


# --- python3-saml --------------------------------------------------------------------------------

ONELOGIN_REQUEST = {
    "https": "off",
    "http_host": "idp.test",
    "script_name": "/aws/saml",
    "server_port": 80,
    "get_data": {},
    "post_data": {},
}


def onelogin_response(metadata: bytes, saml_response: str, *, want_messages_signed: bool) -> Any:
    from onelogin.saml2.response import OneLogin_Saml2_Response
    from onelogin.saml2.settings import OneLogin_Saml2_Settings

    sp_settings = OneLogin_Saml2_Settings({
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": AWS_ENTITY_ID,
            "assertionConsumerService": {"url": AWS_ACS, "binding": POST_BINDING},
            "NameIDFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        },
        "idp": {
            "entityId": IDP_ENTITY_ID,
            "singleSignOnService": {
                "url": SSO_URL,
                "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
            },
            "x509cert": metadata_cert_b64(metadata),
        },
        "security": {
            "wantAssertionsSigned": True,
            "wantMessagesSigned": want_messages_signed,
            "rejectDeprecatedAlgorithm": True,
        },
    }, sp_validation_only=True)
    return OneLogin_Saml2_Response(sp_settings, saml_response)


def test_python3_saml_strict_accepts_bobs_response(settings, directory, keypair, clock):
    """python3-saml in strict mode validates bob's Response (schema, signature, audience, times)."""
    idp = identity_provider(settings, directory, keypair, clock)
    response = onelogin_response(idp.metadata(), respond_for(idp), want_messages_signed=False)

    assert response.is_valid(dict(ONELOGIN_REQUEST), request_id=None, raise_exceptions=False), (
        response.get_error()
    )
    assert response.get_error() is None
    assert response.get_issuers() == [IDP_ENTITY_ID]
    assert response.get_attributes()[ROLE_ATTR] == [BOB_ROLE]
    assert response.get_nameid_format() == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"


def test_python3_saml_strict_accepts_signed_response_and_assertion(settings, keypair, clock):
    """python3-saml with wantMessagesSigned accepts a Response signed on both levels."""
    directory = directory_with(BOTH_SIGNED)
    idp = identity_provider(settings, directory, keypair, clock)
    response = onelogin_response(idp.metadata(), respond_for(idp), want_messages_signed=True)

    assert response.is_valid(dict(ONELOGIN_REQUEST), request_id=None, raise_exceptions=False), (
        response.get_error()
    )
    assert response.get_error() is None
    assert response.get_attributes()[ROLE_ATTR] == [BOB_ROLE]


def test_python3_saml_rejects_tampered_nameid(settings, directory, keypair, clock):
    """python3-saml refuses bob's Response once its NameID is changed after signing."""
    idp = identity_provider(settings, directory, keypair, clock)
    xml = base64.b64decode(respond_for(idp))
    name_id = etree.fromstring(xml).find(".//saml:Subject/saml:NameID", NSMAP)
    original = f">{name_id.text}<".encode()
    tampered = xml.replace(original, b">attacker<")
    assert tampered != xml

    response = onelogin_response(
        idp.metadata(), base64.b64encode(tampered).decode("ascii"), want_messages_signed=False
    )
    assert not response.is_valid(dict(ONELOGIN_REQUEST), request_id=None, raise_exceptions=False)
    assert response.get_error()


# --- xmlsec1 CLI ----------------------------------------------------------------------------------


def test_xmlsec1_verifies_response_with_metadata_cert(client, tmp_path):
    """xmlsec1 verifies the posted Response with only the certificate from /idp/metadata."""
    cert_pem = metadata_cert_pem(client.get("/idp/metadata").content)
    posted = auto_post(login(client, "/idp/init", "bob", "bob-password").text)

    result = xmlsec_verify(posted.xml, cert_pem, tmp_path)

    assert result.returncode == 0, result.stderr
    assert "OK" in result.stderr


@pytest.mark.parametrize("what", ["nameid", "role"])
def test_xmlsec1_rejects_tampered_response(settings, directory, keypair, clock, tmp_path, what):
    """xmlsec1 refuses the Response once the NameID or a Role value is changed after signing."""
    idp = identity_provider(settings, directory, keypair, clock)
    cert_pem = metadata_cert_pem(idp.metadata())
    xml = base64.b64decode(respond_for(idp))
    assert xmlsec_verify(xml, cert_pem, tmp_path).returncode == 0

    tree = etree.fromstring(xml)
    if what == "nameid":
        target = tree.find(".//saml:Subject/saml:NameID", NSMAP)
        target.text = "attacker"
    else:
        target = tree.find(f".//saml:Attribute[@Name='{ROLE_ATTR}']/saml:AttributeValue", NSMAP)
        target.text = target.text.replace("role/ReadOnly", "role/Admin")
    tampered = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")

    result = xmlsec_verify(tampered, cert_pem, tmp_path)
    assert result.returncode != 0, result.stderr


def test_xmlsec1_rejects_other_key(settings, directory, keypair, clock, tmp_path):
    """xmlsec1 refuses the Response when trusting a certificate the IdP does not publish."""
    from idp.keys import KeyStore

    other = KeyStore(tmp_path / "other").create("http://other.test/idp/metadata")
    idp = identity_provider(settings, directory, keypair, clock)
    xml = base64.b64decode(respond_for(idp))

    result = xmlsec_verify(xml, other.cert_pem, tmp_path)
    assert result.returncode != 0, result.stderr


# --- signing options ------------------------------------------------------------------------------

SIG_URIS = {
    "rsa-sha1": "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "rsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "rsa-sha384": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "rsa-sha512": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
}
DIGEST_URIS = {
    "sha1": "http://www.w3.org/2000/09/xmldsig#sha1",
    "sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
    "sha384": "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "sha512": "http://www.w3.org/2001/04/xmlenc#sha512",
}
SP_ENTITY_ID = "https://sp.example.test/metadata"
SP_ACS = "https://sp.example.test/acs"


def signature_of(element: etree._Element) -> etree._Element:
    """The element's own enveloped signature, checked to sit right after its Issuer."""
    assert element[0].tag == f"{{{SAML}}}Issuer"
    signature = element[1]
    assert signature.tag == f"{{{DS}}}Signature"
    assert len(element.findall(f"{{{DS}}}Signature")) == 1
    references = signature.findall("ds:SignedInfo/ds:Reference", NSMAP)
    assert [r.get("URI") for r in references] == [f"#{element.get('ID')}"]
    return signature


def assert_uris(signature: etree._Element, sig: str, digest: str) -> None:
    signed_info = signature.find("ds:SignedInfo", NSMAP)
    assert signed_info.find("ds:CanonicalizationMethod", NSMAP).get("Algorithm") == EXC_C14N
    assert signed_info.find("ds:SignatureMethod", NSMAP).get("Algorithm") == SIG_URIS[sig]
    reference = signed_info.find("ds:Reference", NSMAP)
    transforms = [
        t.get("Algorithm") for t in reference.findall("ds:Transforms/ds:Transform", NSMAP)
    ]
    assert transforms == [ENVELOPED, EXC_C14N]
    assert reference.find("ds:DigestMethod", NSMAP).get("Algorithm") == DIGEST_URIS[digest]


def test_default_signing_is_rsa_sha256_exclusive_c14n(settings, directory, keypair, clock,
                                                      tmp_path):
    """By default only the Assertion is signed, with RSA-SHA256, SHA-256 and exclusive C14N."""
    idp = identity_provider(settings, directory, keypair, clock)
    xml = base64.b64decode(respond_for(idp))
    tree = etree.fromstring(xml)

    assert tree.find("ds:Signature", NSMAP) is None
    assertion = tree.find("saml:Assertion", NSMAP)
    assert_uris(signature_of(assertion), "rsa-sha256", "sha256")
    assert not [uri for uri in tree.xpath("//@Algorithm") if "sha1" in uri]

    result = xmlsec_verify(xml, metadata_cert_pem(idp.metadata()), tmp_path)
    assert result.returncode == 0, result.stderr


SIGNING_CASES = [
    pytest.param({"sign_response": True, "sign_assertion": True}, "rsa-sha256", "sha256",
                 id="response-and-assertion"),
    pytest.param({"sign_response": True, "sign_assertion": False}, "rsa-sha256", "sha256",
                 id="response-only"),
    pytest.param({"signature_algorithm": "rsa-sha384", "digest_algorithm": "sha384"},
                 "rsa-sha384", "sha384", id="rsa-sha384"),
    pytest.param({"signature_algorithm": "rsa-sha512", "digest_algorithm": "sha512"},
                 "rsa-sha512", "sha512", id="rsa-sha512"),
    pytest.param({"signature_algorithm": "rsa-sha1", "digest_algorithm": "sha1"},
                 "rsa-sha1", "sha1", id="legacy-rsa-sha1"),
    pytest.param({"sign_response": True, "signature_algorithm": "rsa-sha512",
                  "digest_algorithm": "sha384"}, "rsa-sha512", "sha384", id="mixed-both-signed"),
]


@pytest.mark.parametrize(("options", "sig", "digest"), SIGNING_CASES)
def test_configured_signing_options(settings, keypair, clock, tmp_path, options, sig, digest):
    """Each SP signing policy yields the asked-for URIs and signatures xmlsec1 verifies."""
    directory = directory_with({"entity_id": SP_ENTITY_ID, "acs_urls": [SP_ACS], **options})
    idp = identity_provider(settings, directory, keypair, clock)
    xml = base64.b64decode(respond_for(idp, sp_entity_id=SP_ENTITY_ID))
    tree = etree.fromstring(xml)
    assert tree.get("Destination") == SP_ACS
    cert_pem = metadata_cert_pem(idp.metadata())

    sign_response = options.get("sign_response", False)
    sign_assertion = options.get("sign_assertion", True)
    assertion = tree.find("saml:Assertion", NSMAP)
    if sign_response:
        assert_uris(signature_of(tree), sig, digest)
        result = xmlsec_verify(xml, cert_pem, tmp_path, node_xpath=RESPONSE_SIGNATURE)
        assert result.returncode == 0, result.stderr
    else:
        assert tree.find("ds:Signature", NSMAP) is None
    if sign_assertion:
        assert_uris(signature_of(assertion), sig, digest)
        result = xmlsec_verify(xml, cert_pem, tmp_path, node_xpath=ASSERTION_SIGNATURE)
        assert result.returncode == 0, result.stderr
    else:
        assert assertion.find("ds:Signature", NSMAP) is None


def test_sha1_is_never_a_default(settings, keypair, clock):
    """An SP that names no algorithms gets SHA-256 even when another SP is configured for SHA-1."""
    directory = directory_with(
        {"entity_id": SP_ENTITY_ID, "acs_urls": [SP_ACS], "signature_algorithm": "rsa-sha1",
         "digest_algorithm": "sha1"},
        {"entity_id": "https://modern.example.test",
         "acs_urls": ["https://modern.example.test/acs"]})
    idp = identity_provider(settings, directory, keypair, clock)
    expectations = (
        (AWS_ENTITY_ID, "sha256"),
        ("https://modern.example.test", "sha256"),
        (SP_ENTITY_ID, "sha1"),
    )
    for entity_id, expected in expectations:
        tree = etree.fromstring(base64.b64decode(respond_for(idp, sp_entity_id=entity_id)))
        signature = signature_of(tree.find("saml:Assertion", NSMAP))
        method = signature.find("ds:SignedInfo/ds:Reference/ds:DigestMethod", NSMAP)
        assert method.get("Algorithm") == DIGEST_URIS[expected], entity_id
