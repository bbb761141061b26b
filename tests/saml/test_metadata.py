"""The IdP metadata (/idp/metadata) is schema-valid SAML 2.0 that independent SPs can import.

Also covers the key store behind it: key sizes, rotation (both certificates published,
current first) and private key file modes.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from idp.clock import parse_instant
from idp.errors import KeyStoreError
from idp.keys import KeyStore
from idp.settings import Settings
from tests.support.builders import identity_provider
from tests.support.demo import AWS_ACS, BASE_URL, IDP_ENTITY_ID, SSO_URL

REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
NSMAP = {"md": MD, "ds": DS}
SIGNING_CERTS = (
    "md:IDPSSODescriptor/md:KeyDescriptor[@use='signing']/ds:KeyInfo/ds:X509Data/"
    "ds:X509Certificate"
)


def _schema_dir() -> Path:
    spec = importlib.util.find_spec("onelogin.saml2")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "schemas"


@pytest.fixture(scope="module")
def metadata_schema() -> etree.XMLSchema:
    """SAML 2.0 metadata XSD as python3-saml ships it (imports xmldsig/xenc from beside it)."""
    return etree.XMLSchema(etree.parse(str(_schema_dir() / "saml-schema-metadata-2.0.xsd")))


def signing_certs(root: etree._Element) -> list[str]:
    return ["".join((el.text or "").split()) for el in root.xpath(SIGNING_CERTS, namespaces=NSMAP)]


@pytest.fixture
def metadata_response(client):
    return client.get("/idp/metadata")


def test_metadata_endpoint_serves_xml(metadata_response):
    """GET /idp/metadata answers 200 with a SAML metadata media type."""
    assert metadata_response.status_code == 200
    assert metadata_response.headers["content-type"].startswith("application/samlmetadata+xml")


def test_metadata_is_utf8_without_bom(metadata_response):
    """The document starts with a UTF-8 XML declaration and carries no byte-order mark."""
    body = metadata_response.content
    assert not body.startswith(b"\xef\xbb\xbf")
    assert re.match(rb"""<\?xml version=["']1\.0["'] encoding=["']UTF-8["']\s*\?>""", body)
    body.decode("utf-8")


def test_metadata_validates_against_saml_schema(metadata_response, metadata_schema):
    """The metadata validates against saml-schema-metadata-2.0.xsd."""
    doc = etree.fromstring(metadata_response.content)
    assert metadata_schema.validate(doc), metadata_schema.error_log


def test_metadata_entity_id_and_valid_until(metadata_response, clock):
    """entityID is the /idp/metadata URL and validUntil lies 365 days after the clock's now."""
    root = etree.fromstring(metadata_response.content)
    assert root.tag == f"{{{MD}}}EntityDescriptor"
    assert root.get("entityID") == IDP_ENTITY_ID
    valid_until = parse_instant(root.get("validUntil"))
    assert valid_until == clock.now() + dt.timedelta(days=365)
    assert valid_until > dt.datetime.now(dt.UTC) + dt.timedelta(days=364)


def test_metadata_idp_descriptor(metadata_response):
    """The IDPSSODescriptor names SAML 2.0, both SSO bindings at /idp/sso and NameID formats."""
    root = etree.fromstring(metadata_response.content)
    (descriptor,) = root.findall("md:IDPSSODescriptor", NSMAP)
    assert "urn:oasis:names:tc:SAML:2.0:protocol" in descriptor.get(
        "protocolSupportEnumeration"
    ).split()
    services = {
        (s.get("Binding"), s.get("Location"))
        for s in descriptor.findall("md:SingleSignOnService", NSMAP)
    }
    assert services == {(REDIRECT, SSO_URL), (POST, SSO_URL)}
    formats = [el.text for el in descriptor.findall("md:NameIDFormat", NSMAP)]
    assert "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" in formats
    assert "urn:oasis:names:tc:SAML:2.0:nameid-format:transient" in formats
    assert "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" in formats
    assert len(formats) == len(set(formats))


def test_metadata_publishes_signing_certificate(metadata_response, keypair):
    """The only signing KeyDescriptor carries the IdP's current certificate."""
    root = etree.fromstring(metadata_response.content)
    assert signing_certs(root) == [keypair.cert_b64]
    descriptors = root.findall("md:IDPSSODescriptor/md:KeyDescriptor", NSMAP)
    assert [d.get("use") for d in descriptors] == ["signing"]


def test_rotation_publishes_current_then_previous(tmp_path, client_factory, metadata_schema):
    """After KeyStore.rotate both certificates are published, the new current one first."""
    certs = tmp_path / "certs"
    store = KeyStore(certs)
    old = store.create(IDP_ENTITY_ID)
    new = store.rotate(IDP_ENTITY_ID)
    assert [p.cert_b64 for p in store.published()] == [new.cert_b64, old.cert_b64]

    body = client_factory(certs_dir=certs).get("/idp/metadata").content
    root = etree.fromstring(body)
    assert signing_certs(root) == [new.cert_b64, old.cert_b64]
    assert metadata_schema.validate(root), metadata_schema.error_log


def test_pysaml2_loads_metadata_from_endpoint(metadata_response, keypair):
    """pysaml2's MetadataStore loads /idp/metadata and finds both SSO locations and the cert."""
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.config import SPConfig

    cfg = SPConfig()
    cfg.load({
        "entityid": "urn:amazon:webservices",
        "service": {"sp": {"endpoints": {"assertion_consumer_service": [
            (AWS_ACS, BINDING_HTTP_POST)
        ]}}},
        "metadata": {"inline": [metadata_response.content.decode("utf-8")]},
    })
    mds = cfg.metadata
    assert list(mds.identity_providers()) == [IDP_ENTITY_ID]
    for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
        locations = [s["location"] for s in mds.single_sign_on_service(IDP_ENTITY_ID, binding)]
        assert locations == [SSO_URL], binding
    certs = mds.certs(IDP_ENTITY_ID, "idpsso", use="signing")
    assert ["".join(c[1].split()) for c in certs] == [keypair.cert_b64]


def test_default_key_is_rsa_2048(tmp_path):
    """KeyStore.create makes an RSA-2048 key whose certificate carries the same public key."""
    pair = KeyStore(tmp_path / "certs").create(IDP_ENTITY_ID)
    assert isinstance(pair.private_key, rsa.RSAPrivateKey)
    assert pair.key_size == 2048
    assert pair.certificate.public_key().public_numbers() == (
        pair.private_key.public_key().public_numbers()
    )


@pytest.mark.parametrize("key_size", [3072, 4096])
def test_larger_keys_when_requested(tmp_path, settings, directory, clock, key_size):
    """3072- and 4096-bit keys are made on request, reload at that size and are published."""
    certs = tmp_path / "certs"
    created = KeyStore(certs).create(IDP_ENTITY_ID, key_size=key_size)
    loaded = KeyStore(certs).load()
    assert created.key_size == loaded.key_size == key_size
    assert loaded.certificate.public_key().key_size == key_size

    idp = identity_provider(
        Settings(base_url=BASE_URL, certs_dir=certs, key_size=key_size),
        directory, KeyStore(certs).published(), clock,
    )
    assert signing_certs(etree.fromstring(idp.metadata())) == [created.cert_b64]


def test_unsupported_key_size_is_refused(tmp_path):
    """A key size outside 2048/3072/4096 is refused and writes no key."""
    certs = tmp_path / "certs"
    with pytest.raises(KeyStoreError):
        KeyStore(certs).create(IDP_ENTITY_ID, key_size=1024)
    assert not (certs / "signing.key").exists()


def test_private_key_files_are_owner_only(tmp_path):
    """Private key files (current and previous) are mode 0600 inside a 0700 folder."""
    certs = tmp_path / "certs"
    store = KeyStore(certs)
    store.create(IDP_ENTITY_ID)
    store.rotate(IDP_ENTITY_ID)
    store.session_secret()
    assert stat.S_IMODE(certs.stat().st_mode) == 0o700
    for name in ("signing.key", "previous.key", "session.key"):
        assert stat.S_IMODE((certs / name).stat().st_mode) == 0o600, name
    for name in ("signing.crt", "previous.crt"):
        assert not stat.S_IMODE((certs / name).stat().st_mode) & 0o022, name


def test_shipped_aws_sp_metadata_has_awss_structure(metadata_schema):
    """metadata/aws-signin-metadata.xml is schema-valid AWS SP metadata (§7.3 of the reference)."""
    path = Path(__file__).resolve().parents[2] / "metadata" / "aws-signin-metadata.xml"
    root = etree.parse(str(path)).getroot()
    metadata_schema.assertValid(root)
    md = "urn:oasis:names:tc:SAML:2.0:metadata"
    assert root.get("entityID") == "urn:amazon:webservices"
    sp = root.find(f"{{{md}}}SPSSODescriptor")
    assert sp.get("WantAssertionsSigned") == "true"
    acs = sp.findall(f"{{{md}}}AssertionConsumerService")
    assert len(acs) == 27
    assert acs[0].get("Location") == "https://signin.aws.amazon.com/saml"
    assert acs[0].get("isDefault") == "true"
    assert len(sp.findall(f"{{{md}}}NameIDFormat")) == 8
    required = {a.get("Name") for a in sp.iter(f"{{{md}}}RequestedAttribute")
                if a.get("isRequired") == "true"}
    assert required == {"https://aws.amazon.com/SAML/Attributes/Role",
                        "https://aws.amazon.com/SAML/Attributes/RoleSessionName"}


def test_metadata_meets_aws_import_limits(metadata_response):
    """AWS CreateSAMLProvider: 1,000..10,000,000 characters; certificate key >= 1024 bits."""
    import base64

    from cryptography import x509

    assert 1000 <= len(metadata_response.text) <= 10_000_000
    root = etree.fromstring(metadata_response.content)
    for b64 in signing_certs(root):
        cert = x509.load_der_x509_certificate(base64.b64decode(b64))
        assert cert.public_key().key_size >= 1024
        oids = [ext.oid for ext in cert.extensions]
        assert len(oids) == len(set(oids)), "AWS refuses repeated certificate extensions"
