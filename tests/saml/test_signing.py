"""The signer (``idp.saml.signing``) and the text-built Response (``render_response``).

Oracles: signxml (as the signer it replaced, and its verifier), the xmlsec1 CLI and pysaml2.
RSASSA-PKCS1-v1_5 is deterministic, so a signature over the same canonical bytes with the same
key is the same bytes: equal output means equal canonicalization, digest and placement.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import itertools
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree
from signxml import XMLVerifier  # type: ignore[attr-defined]
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner
from signxml.util import strip_pem_header
from signxml.verifier import SignatureConfiguration

from idp.keys import KeyPair
from idp.saml import assertions
from idp.saml.assertions import (
    Attribute,
    AuthnInfo,
    ResponseSpec,
    build_assertion,
    build_envelope,
    build_response,
    render_response,
)
from idp.saml.constants import AuthnContextClass, NameIDFormat
from idp.saml.signing import (
    Digest,
    SignatureAlgorithm,
    SigningPolicy,
    certificate_text,
    sign_element,
    sign_in_place,
    signature_text,
)
from idp.xml import to_bytes
from tests.support import oracles
from tests.support.builders import identity_provider

SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"
SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
XMLSEC1 = shutil.which("xmlsec1")

POLICIES = [
    pytest.param(SigningPolicy(signature_algorithm=sig, digest=digest),
                 id=f"{sig.value.rsplit('#', 1)[1]}/{digest.value.rsplit('#', 1)[1]}")
    for sig in SignatureAlgorithm for digest in Digest
]
SHAPES = [
    pytest.param(SigningPolicy(), id="assertion"),
    pytest.param(SigningPolicy(sign_assertion=False, sign_response=True), id="response"),
    pytest.param(SigningPolicy(sign_response=True), id="both"),
]


def spec(now: dt.datetime, **changes: object) -> ResponseSpec:
    base = ResponseSpec(
        issuer="http://idp.test/idp/metadata",
        destination="https://signin.aws.amazon.com/saml",
        audience="urn:amazon:webservices",
        name_id="0d1f5c2e-2f7a-5b4e-9c3d-1a2b3c4d5e6f",
        name_id_format=NameIDFormat.PERSISTENT,
        sp_name_qualifier="urn:amazon:webservices",
        authn=AuthnInfo(instant=now - dt.timedelta(minutes=3), session_index="_s1",
                        context=AuthnContextClass.PASSWORD,
                        session_not_on_or_after=now + dt.timedelta(hours=8)),
        now=now,
        attributes=(
            Attribute("https://aws.amazon.com/SAML/Attributes/Role",
                      ("arn:aws:iam::111122223333:role/ReadOnly,"
                       "arn:aws:iam::111122223333:saml-provider/CorpIdP",
                       "arn:aws:iam::444455556666:role/Developer,"
                       "arn:aws:iam::444455556666:saml-provider/CorpIdP"), "Role"),
            Attribute("https://aws.amazon.com/SAML/Attributes/RoleSessionName",
                      ("bob@corp.example",), "RoleSessionName"),
        ),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=123456)


@pytest.fixture
def fixed_ids(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """``new_id`` made deterministic; calling the fixture's value restarts the sequence."""
    def restart() -> None:
        counter = itertools.count()
        monkeypatch.setattr(assertions, "new_id", lambda: f"_id{next(counter):04d}")
    restart()
    return restart


def signxml_reference(element: etree._Element, keys: KeyPair,
                      policy: SigningPolicy) -> etree._Element:
    """How ``sign_element`` signed before: signxml, a placeholder after the Issuer."""
    issuer = element.find(f"{SAML}Issuer")
    placeholder = etree.Element(f"{DS}Signature", Id="placeholder",
                                nsmap={"ds": DS[1:-1]})
    if issuer is not None:
        issuer.addnext(placeholder)
    else:
        element.insert(0, placeholder)

    class Signer(XMLSigner):
        def check_deprecated_methods(self) -> None:
            return None

    signer = Signer(signature_algorithm=SignatureMethod(policy.signature_algorithm.value),
                    digest_algorithm=DigestAlgorithm(policy.digest.value),
                    c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    signer.namespaces = {"ds": DS[1:-1]}
    signed: etree._Element = signer.sign(element, key=keys.private_key, cert=[keys.certificate],
                                         reference_uri=f"#{element.get('ID')}",
                                         id_attribute="ID")
    return signed


def signxml_verify(xml: bytes, keys: KeyPair, policy: SigningPolicy,
                   xpath: str) -> etree._Element:
    """signxml's verification of the one signature at ``xpath`` (its parent verified on its
    own: signxml checks the first signature it finds); the signed element."""
    root = etree.fromstring(xml)
    found = root.xpath(xpath)
    assert isinstance(found, list) and len(found) == 1
    signature = found[0]
    assert isinstance(signature, etree._Element)
    parent = signature.getparent()
    assert parent is not None
    config = SignatureConfiguration(
        signature_methods=frozenset({SignatureMethod(policy.signature_algorithm.value)}),
        digest_algorithms=frozenset({DigestAlgorithm(policy.digest.value)}))
    result = XMLVerifier().verify(etree.tostring(parent), x509_cert=keys.certificate,
                                  id_attribute="ID", expect_config=config)
    signed: etree._Element = result.signed_xml  # type: ignore[union-attr]
    assert signed.get("ID") == parent.get("ID")
    return signed


ASSERTION_SIGNATURE = ("/*[local-name()='Response']/*[local-name()='Assertion']"
                       "/*[local-name()='Signature']")
RESPONSE_SIGNATURE = "/*[local-name()='Response']/*[local-name()='Signature']"


def xmlsec1(xml: bytes, keys: KeyPair, tmp: Path, node_xpath: str) -> None:
    assert XMLSEC1 is not None, "the xmlsec1 binary is needed (apt-get install xmlsec1)"
    cert, doc = tmp / "idp.crt", tmp / "doc.xml"
    cert.write_text(keys.cert_pem, "ascii")
    doc.write_bytes(xml)
    done = subprocess.run(
        [XMLSEC1, "--verify", "--pubkey-cert-pem", str(cert),
         "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
         "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response",
         "--node-xpath", node_xpath, str(doc)],
        capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr


# --- the signer against signxml, the signer it replaced ------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_sign_element_writes_what_signxml_wrote(keypair, now, policy, fixed_ids):
    """Same bytes as signxml's enveloped signature with the placeholder after the Issuer:
    canonicalization, digest, SignedInfo, placement and KeyInfo all as before."""
    ours = sign_element(build_assertion(spec(now)), keypair, policy)
    fixed_ids()
    theirs = signxml_reference(build_assertion(spec(now)), keypair, policy)
    assert etree.tostring(ours) == etree.tostring(theirs)


@pytest.mark.parametrize("policy", SHAPES)
def test_build_response_writes_what_signxml_wrote(keypair, now, policy, fixed_ids):
    """Signed Assertion, signed Response or both: the whole Response as signxml made it."""
    ours = to_bytes(build_response(spec(now), keypair, policy))
    fixed_ids()
    assertion = build_assertion(spec(now))
    if policy.sign_assertion:
        assertion = signxml_reference(assertion, keypair, policy)
    root = build_envelope(spec(now), assertion)
    if policy.sign_response:
        root = signxml_reference(root, keypair, policy)
    assert ours == to_bytes(root)


def test_certificate_is_written_as_signxml_wrote_it(keypair):
    """The PEM body lines, newlines kept (what Responses carried before)."""
    assert certificate_text(keypair.certificate) == strip_pem_header(keypair.cert_pem)
    assert "".join(certificate_text(keypair.certificate).split()) == keypair.cert_b64


def test_signature_follows_the_issuer_or_comes_first(keypair, now):
    signed = sign_element(build_assertion(spec(now)), keypair, SigningPolicy())
    assert signed[0].tag == f"{SAML}Issuer" and signed[1].tag == f"{DS}Signature"
    element = etree.Element(f"{SAMLP}Response", ID="_r")
    etree.SubElement(element, f"{SAMLP}Status")
    signed = sign_element(element, keypair, SigningPolicy())
    assert [child.tag for child in signed] == [f"{DS}Signature", f"{SAMLP}Status"]
    signxml_verify(etree.tostring(signed), keypair, SigningPolicy(),
                   "/*/*[local-name()='Signature']")
    xmlsec_free = etree.tostring(signed)
    assert xmlsec_free.count(b"<ds:Signature ") == 1


def test_sign_element_leaves_its_argument_alone_and_signs_twice_independently(keypair, now):
    assertion = build_assertion(spec(now))
    before = etree.tostring(assertion)
    policy = SigningPolicy()
    first, second = sign_element(assertion, keypair, policy), sign_element(assertion, keypair,
                                                                          policy)
    assert etree.tostring(assertion) == before
    assert first is not second and first is not assertion
    assert etree.tostring(first) == etree.tostring(second)  # PKCS#1 v1.5 is deterministic
    for signed in (first, second):
        assert len(signed.findall(f"{DS}Signature")) == 1
        response = build_envelope(spec(now), signed)
        signxml_verify(to_bytes(response), keypair, policy, ASSERTION_SIGNATURE)
    first.find(f"{SAML}Subject/{SAML}NameID").text = "someone-else"  # type: ignore[union-attr]
    signxml_verify(to_bytes(build_envelope(spec(now), second)), keypair, policy,
                   ASSERTION_SIGNATURE)


def test_sign_element_refuses_an_element_without_id(keypair):
    with pytest.raises(ValueError, match="no ID"):
        sign_element(etree.Element(f"{SAML}Assertion"), keypair, SigningPolicy())
    with pytest.raises(ValueError, match="no ID"):
        sign_in_place(etree.Element(f"{SAML}Assertion"), keypair, SigningPolicy())


def test_signing_an_element_inside_a_document(keypair, now):
    """A nested element (an Assertion inside a Response) signs as it would on its own."""
    root = build_envelope(spec(now), build_assertion(spec(now)))
    signed = sign_element(root[2], keypair, SigningPolicy())
    assert signed.getparent() is None and signed.tail is None
    root.replace(root[2], signed)
    signxml_verify(to_bytes(root), keypair, SigningPolicy(), ASSERTION_SIGNATURE)


def test_signing_from_many_threads(keypair, now):
    """Templates are shared between threads; every signature still verifies."""
    policy = SigningPolicy(signature_algorithm=SignatureAlgorithm.RSA_SHA512,
                           digest=Digest.SHA384)
    results: list[bytes] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(10):
                results.append(to_bytes(build_response(spec(now), keypair, policy)))
                results.append(render_response(spec(now), keypair, policy))
        except BaseException as exc:  # pragma: no cover (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 80
    for xml in results:
        signxml_verify(xml, keypair, policy, ASSERTION_SIGNATURE)


# --- independent verifiers ------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_every_algorithm_verifies_with_signxml_and_xmlsec1(keypair, now, tmp_path, policy):
    for xml in (render_response(spec(now), keypair, policy),
                to_bytes(build_response(spec(now), keypair, policy))):
        signxml_verify(xml, keypair, policy, ASSERTION_SIGNATURE)
        xmlsec1(xml, keypair, tmp_path, ASSERTION_SIGNATURE)


@pytest.mark.parametrize("policy", SHAPES)
def test_every_shape_verifies_with_signxml_and_xmlsec1(keypair, now, tmp_path, policy,
                                                      text_path):
    xml = render_response(spec(now), keypair, policy)
    assert bool(text_path) == (policy == SigningPolicy())
    if policy.sign_assertion:
        signxml_verify(xml, keypair, policy, ASSERTION_SIGNATURE)
        xmlsec1(xml, keypair, tmp_path, ASSERTION_SIGNATURE)
    if policy.sign_response:
        signxml_verify(xml, keypair, policy, RESPONSE_SIGNATURE)
        xmlsec1(xml, keypair, tmp_path, RESPONSE_SIGNATURE)


@pytest.mark.parametrize("algorithm", [SignatureAlgorithm.RSA_SHA256,
                                       SignatureAlgorithm.RSA_SHA384,
                                       SignatureAlgorithm.RSA_SHA512])
def test_pysaml2_accepts_what_the_idp_posts(settings, directory, keypair, clock, algorithm):
    """pysaml2 (with xmlsec1) as AWS, trusting only the metadata, for each SHA-2 method."""
    aws = directory.service_providers["urn:amazon:webservices"]
    policy = SigningPolicy(signature_algorithm=algorithm,
                           digest=Digest(algorithm.value.rsplit("-", 1)[1]))
    edited = dataclasses.replace(directory, service_providers={
        **directory.service_providers, aws.entity_id: dataclasses.replace(aws, signing=policy)})
    idp = identity_provider(settings, edited, keypair, clock)
    pending, _ = idp.idp_initiated(None, None)
    user = idp.directory.user("bob")
    assert user is not None
    from idp.authn.login import new_principal
    form = idp.respond(pending, new_principal(user, mfa=False, clock=clock))
    verdict = oracles.pysaml2(form.saml_value, oracles.read_metadata(idp.metadata()))
    assert verdict.accepted, verdict.error
    signature = etree.fromstring(base64.b64decode(form.saml_value)).find(
        f"{SAML}Assertion/{DS}Signature")
    assert signature is not None
    assert signature.find(f"{DS}SignedInfo/{DS}SignatureMethod").get(  # type: ignore[union-attr]
        "Algorithm") == algorithm.value


# --- the text path against the tree path ----------------------------------------------------------


def _variants(now: dt.datetime) -> Iterator[ResponseSpec]:
    base = spec(now)
    yield base
    yield dataclasses.replace(base, in_response_to="_req-1.a", sp_name_qualifier=None)
    yield dataclasses.replace(base, in_response_to="", attributes=())
    yield dataclasses.replace(base, name_id_format=NameIDFormat.TRANSIENT, issuer="")
    yield dataclasses.replace(base, attributes=(
        Attribute("mail", ("bob@corp.example", "")),
        Attribute("urn:oid:0.9.2342.19200300.100.1.3", ()),
        Attribute("displayName", ("Bøb Ünïcødé 😀 'quoted'",), "Name"),
    ))
    yield dataclasses.replace(base, now=now.astimezone(dt.timezone(dt.timedelta(hours=5))))


@pytest.fixture
def text_path(monkeypatch: pytest.MonkeyPatch) -> list[ResponseSpec]:
    """The specs ``render_response`` wrote as text (not as a tree)."""
    written: list[ResponseSpec] = []
    original = assertions._response_text

    def spy(spec: ResponseSpec, *args: object) -> bytes:
        written.append(spec)
        return original(spec, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(assertions, "_response_text", spy)
    return written


@pytest.mark.parametrize("policy", POLICIES)
def test_text_path_writes_the_tree_paths_bytes(keypair, now, policy, fixed_ids, text_path):
    for variant in _variants(now):
        for _ in range(2):  # the second time with the attributes' texts remembered
            fixed_ids()
            text = render_response(variant, keypair, policy)
            assert text_path.pop() is variant
            fixed_ids()
            assert text == to_bytes(build_response(variant, keypair, policy))


def test_attributes_in_a_list_are_not_remembered(keypair, now, fixed_ids):
    """A list can change between two Responses; its texts are worked out each time."""
    attributes = [Attribute("mail", ("a@corp.example",))]
    variant = spec(now, attributes=attributes)
    first = render_response(variant, keypair, SigningPolicy())
    attributes[0] = Attribute("mail", ("b@corp.example",))
    second = render_response(variant, keypair, SigningPolicy())
    assert b"a@corp.example" in first and b"b@corp.example" in second


@pytest.mark.parametrize("changes", [
    {"name_id": "a&b"}, {"name_id": "a<b"}, {"name_id": "a>b"}, {"destination": 'x"y'},
    {"audience": "line\nbreak"}, {"issuer": "tab\there"}, {"name_id": "cr\rhere"},
    {"attributes": (Attribute("x", ("\x85",)),)},
], ids=lambda changes: repr(changes)[:20])
def test_values_that_need_escaping_go_through_the_tree(keypair, now, tmp_path, fixed_ids,
                                                       text_path, changes):
    variant = spec(now, **changes)
    fixed_ids()
    xml = render_response(variant, keypair, SigningPolicy())
    assert not text_path
    fixed_ids()
    assert xml == to_bytes(build_response(variant, keypair, SigningPolicy()))
    signxml_verify(xml, keypair, SigningPolicy(), ASSERTION_SIGNATURE)
    xmlsec1(xml, keypair, tmp_path, ASSERTION_SIGNATURE)


@pytest.mark.parametrize("value", ["nul\x00", "bell\x07", "lone \ud800 surrogate", "\ufffe"])
def test_invalid_xml_text_is_still_refused(keypair, now, value):
    with pytest.raises(ValueError):
        render_response(spec(now, name_id=value), keypair, SigningPolicy())
    with pytest.raises(ValueError):
        render_response(spec(now, attributes=(Attribute("x", (value,)),)), keypair,
                        SigningPolicy())


def test_signature_text_takes_only_plain_ids(keypair):
    with pytest.raises(ValueError, match="plain NCName"):
        signature_text('_a"b', b"<x></x>", keypair, SigningPolicy())
