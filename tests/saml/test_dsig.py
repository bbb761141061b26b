"""The enveloped-signature verifier (``idp.saml.dsig``) on its own and against signxml.

* a genuine signature verifies, and what it returns is the digested canonical form (no
  comments, no Signature, nothing unsigned);
* one flipped bit in the DigestValue, the SignatureValue, the signed content or SignedInfo is
  ``signature-invalid``; a certificate the provider does not hold is too, whatever KeyInfo says;
* signatures made by signxml and by libxmlsec (the xmlsec1 library: InclusiveNamespaces
  PrefixList on either C14N, text after the Signature, SHA-1 digests for a SHA-1 provider)
  verify (interop). signxml's own verifier refuses any InclusiveNamespaces (its schema check
  does not know the element): the one place where the decision deliberately differs;
* the caller's tree is left exactly as it was, on success and on failure;
* over the attack corpus (``tests.vectors.attacks``), a sweep of bit flips and mutations of
  every node of the Signature, the decision is the one the signxml-based verifier (signxml
  called directly, here: ``SignxmlVerifier``) makes.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any, Final

import pytest
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import XMLVerifier

import idp.saml.validation
from idp.aws.params import decode_saml_assertion
from idp.clock import FixedClock
from idp.errors import Rule, SamlValidationError
from idp.keys import KeyPair
from idp.saml import dsig
from idp.saml.algorithms import EXC_C14N, LEGACY, STRICT
from idp.saml.validation import TrustedIssuer, VerifiedAssertion, verify_response
from idp.settings import Settings
from idp.xml import parse
from tests.support import builders
from tests.support.saml import DS, SAML, assertion_of, decode
from tests.vectors.attacks import VECTORS, Keys, _xmlsec_sign, stage

EC: Final = "{http://www.w3.org/2001/10/xml-exc-c14n#}"


# --- helpers ----------------------------------------------------------------------------------


def signature_of(el: etree._Element) -> etree._Element:
    sig = el.find(f"{DS}Signature")
    assert sig is not None
    return sig


def parts_of(xml: bytes, policy: Any = STRICT) -> dsig.SignatureParts:
    """The Assertion's signature of a Response, read as ``verify_response`` reads it."""
    root = parse(xml)
    assertion = assertion_of(root)
    return dsig.read_signature(signature_of(assertion), assertion, policy)


def flip(text: str) -> str:
    """The base64 ``text`` with one bit of its first byte flipped (still valid base64)."""
    raw = bytearray(base64.b64decode("".join(text.split())))
    raw[0] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def signxml_sign(root: etree._Element, keys: KeyPair, *, c14n_transform: bool = True) -> None:
    """Sign root's Assertion with signxml itself (Signature right after the Issuer), in place."""
    assertion = assertion_of(root)
    for old in assertion.findall(f"{DS}Signature"):
        assertion.remove(old)
    issuer = assertion.find(f"{SAML}Issuer")
    assert issuer is not None
    issuer.addnext(etree.Element(f"{DS}Signature", Id="placeholder", nsmap={"ds": DS[1:-1]}))
    signer = XMLSigner(c14n_algorithm=EXC_C14N, signature_algorithm=SignatureMethod.RSA_SHA256,
                       digest_algorithm=DigestAlgorithm.SHA256)
    signed = signer.sign(assertion, key=keys.private_key, cert=keys.cert_pem,
                         reference_uri=assertion.get("ID"), id_attribute="ID",
                         exclude_c14n_transform_element=not c14n_transform)
    root.replace(assertion, signed)


def xmlsec_sign(root: etree._Element, keys: KeyPair, *, tail: str | None = None,
                c14n_prefixes: list[str] | None = None) -> None:
    """libxmlsec signs root's Assertion in place: the Signature after the Issuer, followed by
    ``tail`` text, with ``c14n_prefixes`` as SignedInfo's InclusiveNamespaces PrefixList."""
    import xmlsec

    assertion = assertion_of(root)
    for old in assertion.findall(f"{DS}Signature"):
        assertion.remove(old)
    template = xmlsec.template.create(assertion, xmlsec.constants.TransformExclC14N,
                                      xmlsec.constants.TransformRsaSha256, ns="ds")
    if c14n_prefixes is not None:
        method = template.find(f"{DS}SignedInfo/{DS}CanonicalizationMethod")
        xmlsec.template.transform_add_c14n_inclusive_namespaces(method, c14n_prefixes)
    issuer = assertion.find(f"{SAML}Issuer")
    assert issuer is not None
    issuer.addnext(template)
    template.tail = tail
    ref = xmlsec.template.add_reference(template, xmlsec.constants.TransformSha256,
                                        uri=f"#{assertion.get('ID')}")
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(template))
    pem = keys.private_key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
    key = xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(keys.cert_pem.encode(), xmlsec.constants.KeyDataFormatPem)
    ctx = xmlsec.SignatureContext()
    ctx.key = key
    ctx.register_id(assertion, "ID")
    ctx.sign(template)


def pretty(xml: bytes) -> etree._Element:
    """The Response re-indented, its Assertion unsigned (to be signed in this layout)."""
    root = etree.fromstring(xml, etree.XMLParser(remove_blank_text=True))
    assertion = assertion_of(root)
    for sig in assertion.findall(f"{DS}Signature"):
        assertion.remove(sig)
    etree.indent(root)
    return etree.fromstring(etree.tostring(root))


class SignxmlVerifier:
    """The verifier before ``idp.saml.dsig``: signxml on the element serialized alone (kept
    here as the oracle; what ``idp.saml.validation._verify`` did)."""

    def verify(self, parts: dsig.SignatureParts, *, certificates: tuple[str, ...]
               ) -> dsig.Verified:
        config = STRICT.signxml_configuration(ignore_ambiguous_key_info=True)
        standalone = etree.tostring(parts.element)
        for pem in certificates:
            try:
                result = XMLVerifier().verify(standalone, x509_cert=pem, id_attribute="ID",
                                              expect_config=config)
            except (InvalidSignature, InvalidInput, ValueError, TypeError, etree.LxmlError):
                continue
            return dsig.Verified(canonical=result.signed_data, element=result.signed_xml)
        raise SamlValidationError(Rule.SIGNATURE_INVALID, "signxml refused the signature")


Outcome = tuple[str, Any]


def decide(run: Callable[[bytes], VerifiedAssertion], xml: bytes) -> Outcome:
    try:
        return ("accepted", run(xml))
    except SamlValidationError as exc:
        return ("refused", exc.rule)


@pytest.fixture
def trust(settings: Settings, keypair: KeyPair) -> TrustedIssuer:
    return builders.trusted_issuer(settings, keypair)


@pytest.fixture
def verify(settings: Settings, trust: TrustedIssuer, clock: FixedClock
           ) -> Callable[[bytes], VerifiedAssertion]:
    policy = builders.validation_policy(settings, clock)

    def run(xml: bytes) -> VerifiedAssertion:
        return verify_response(xml, trust=trust, policy=policy)
    return run


@pytest.fixture
def bob(bob_saml: str) -> bytes:
    return decode_saml_assertion(bob_saml)


def refused_with(verify: Callable[[bytes], VerifiedAssertion], root: etree._Element) -> Rule:
    with pytest.raises(SamlValidationError) as refused:
        verify(etree.tostring(root))
    return refused.value.rule


# --- a genuine signature ------------------------------------------------------------------------


def test_genuine_signature_verifies_and_returns_the_digested_bytes(bob: bytes,
                                                                  keypair: KeyPair) -> None:
    parts = parts_of(bob)
    verified = dsig.Verifier().verify(parts, certificates=(keypair.cert_pem,))
    import hashlib
    assert hashlib.sha256(verified.canonical).digest() == parts.digest_value
    assert etree.tostring(verified.element, method="c14n", exclusive=True) == verified.canonical
    assert verified.element.tag == f"{SAML}Assertion"
    assert verified.element.find(f".//{DS}Signature") is None


def test_verify_response_reads_claims_from_the_canonical_tree(verify: Any, bob: bytes) -> None:
    verified = verify(bob)
    assert verified.signed == "assertion"
    assert verified.name_id == decode(base64.b64encode(bob).decode()).findtext(
        f".//{SAML}Subject/{SAML}NameID")


def test_comment_in_signed_text_is_gone_from_what_is_returned(bob: bytes,
                                                             keypair: KeyPair) -> None:
    """A comment added after signing is outside the digest and absent from the result."""
    name_id = parse(bob).findtext(f".//{SAML}NameID")
    assert name_id
    xml = bob.replace(f">{name_id}<".encode(), f">{name_id[:3]}<!--x-->{name_id[3:]}<".encode())
    verified = dsig.Verifier().verify(parts_of(xml), certificates=(keypair.cert_pem,))
    found = verified.element.find(f"{SAML}Subject/{SAML}NameID")
    assert found is not None and found.text == name_id and len(found) == 0


def test_the_callers_tree_is_left_as_it_was(bob: bytes, keypair: KeyPair) -> None:
    """The Signature is detached for one C14N call only; success or failure, it is back."""
    for xml in (bob, bob.replace(b"urn:amazon:webservices<", b"urn:amazon:webservicez<")):
        root = parse(xml)
        before = etree.tostring(root)
        assertion = assertion_of(root)
        parts = dsig.read_signature(signature_of(assertion), assertion, STRICT)
        try:
            dsig.Verifier().verify(parts, certificates=(keypair.cert_pem,))
        except SamlValidationError:
            assert xml is not bob
        assert etree.tostring(root) == before
        assert parts.signature.getparent() is assertion


# --- one flipped bit -----------------------------------------------------------------------------


def test_flipped_digest_value_is_invalid(verify: Any, bob: bytes) -> None:
    root = parse(bob)
    value = signature_of(assertion_of(root)).find(f"{DS}SignedInfo/{DS}Reference/{DS}DigestValue")
    assert value is not None and value.text
    value.text = flip(value.text)
    assert refused_with(verify, root) is Rule.SIGNATURE_INVALID


def test_flipped_signature_value_is_invalid(verify: Any, bob: bytes) -> None:
    root = parse(bob)
    value = signature_of(assertion_of(root)).find(f"{DS}SignatureValue")
    assert value is not None and value.text
    value.text = flip(value.text)
    assert refused_with(verify, root) is Rule.SIGNATURE_INVALID


def test_changed_signed_content_is_invalid(verify: Any, bob: bytes) -> None:
    root = parse(bob)
    audience = assertion_of(root).find(f".//{SAML}Audience")
    assert audience is not None and audience.text
    audience.text = audience.text[:-1] + chr(ord(audience.text[-1]) ^ 0x01)
    assert refused_with(verify, root) is Rule.SIGNATURE_INVALID


def test_changed_signed_info_is_invalid(verify: Any, bob: bytes) -> None:
    root = parse(bob)
    signed_info = signature_of(assertion_of(root)).find(f"{DS}SignedInfo")
    assert signed_info is not None
    signed_info.set("Id", "changed")
    assert refused_with(verify, root) is Rule.SIGNATURE_INVALID


def test_whitespace_in_base64_values_is_fine(verify: Any, bob: bytes) -> None:
    root = parse(bob)
    value = signature_of(assertion_of(root)).find(f"{DS}SignatureValue")
    assert value is not None and value.text
    value.text = "\n".join(value.text[i:i + 64] for i in range(0, len(value.text), 64))
    assert verify(etree.tostring(root)).signed == "assertion"


# --- keys: only the provider's ---------------------------------------------------------------


def test_certificate_not_in_the_trust_is_invalid(bob: bytes, attack_keys: Keys) -> None:
    with pytest.raises(SamlValidationError) as refused:
        dsig.Verifier().verify(parts_of(bob), certificates=(attack_keys.attacker.cert_pem,))
    assert refused.value.rule is Rule.SIGNATURE_INVALID


def test_any_trusted_certificate_will_do(bob: bytes, keypair: KeyPair,
                                         attack_keys: Keys) -> None:
    """Rollover: the provider holds an old and the current certificate, in either order."""
    for certificates in ((attack_keys.attacker.cert_pem, keypair.cert_pem),
                         (keypair.cert_pem, attack_keys.attacker.cert_pem)):
        dsig.Verifier().verify(parts_of(bob), certificates=certificates)


def test_key_info_is_never_used(bob: bytes, keypair: KeyPair, attack_keys: Keys) -> None:
    """KeyInfo naming the attacker's certificate changes nothing: the trust decides."""
    root = parse(bob)
    cert = signature_of(assertion_of(root)).find(f".//{DS}X509Certificate")
    assert cert is not None
    cert.text = "".join(attack_keys.attacker.cert_pem.splitlines()[1:-1])
    xml = etree.tostring(root)
    dsig.Verifier().verify(parts_of(xml), certificates=(keypair.cert_pem,))
    with pytest.raises(SamlValidationError):
        dsig.Verifier().verify(parts_of(xml), certificates=(attack_keys.attacker.cert_pem,))


def test_a_certificate_outside_its_validity_is_not_used(bob: bytes, keypair: KeyPair) -> None:
    """As signxml required of a pinned certificate: valid at the time of verification."""
    later = keypair.certificate.not_valid_after_utc + dt.timedelta(days=1)
    with pytest.raises(SamlValidationError) as refused:
        dsig.Verifier().verify(parts_of(bob), certificates=(keypair.cert_pem,), now=later)
    assert refused.value.rule is Rule.SIGNATURE_INVALID


def test_unusable_trusted_certificates_verify_nothing(bob: bytes) -> None:
    with pytest.raises(SamlValidationError) as refused:
        dsig.Verifier().verify(parts_of(bob), certificates=("not a certificate", ""))
    assert refused.value.rule is Rule.SIGNATURE_INVALID


def test_each_certificate_is_parsed_once(keypair: KeyPair) -> None:
    first = dsig._trusted_key(keypair.cert_pem)
    assert first is not None and dsig._trusted_key(keypair.cert_pem) is first


# --- the layout ----------------------------------------------------------------------------------


def test_signed_info_in_another_namespace_is_refused(verify: Any, bob: bytes) -> None:
    root = parse(bob)
    signed_info = signature_of(assertion_of(root)).find(f"{DS}SignedInfo")
    assert signed_info is not None
    signed_info.tag = "{urn:not:xmldsig}SignedInfo"
    assert refused_with(verify, root) is Rule.SIGNATURE_SHAPE


@pytest.mark.parametrize("value", ["", "!!", "AAAA!!"])
def test_digest_value_must_be_base64(verify: Any, bob: bytes, value: str) -> None:
    root = parse(bob)
    digest = signature_of(assertion_of(root)).find(f".//{DS}DigestValue")
    assert digest is not None
    digest.text = value
    assert refused_with(verify, root) is Rule.SIGNATURE_SHAPE


@pytest.mark.parametrize("content", [
    f'<ec:InclusiveNamespaces xmlns:ec="{EC[1:-1]}"/>',
    f'<ec:InclusiveNamespaces xmlns:ec="{EC[1:-1]}" PrefixList="a:b"/>',
    '<Other PrefixList="xs"/>',
    "<!-- a comment -->",
])
def test_c14n_methods_hold_only_a_prefix_list(verify: Any, bob: bytes, content: str) -> None:
    for where in (f"{DS}SignedInfo/{DS}CanonicalizationMethod",
                  f"{DS}SignedInfo/{DS}Reference/{DS}Transforms/{DS}Transform[2]"):
        root = parse(bob)
        method = signature_of(assertion_of(root)).find(where)
        assert method is not None
        method.append(etree.fromstring(f"<x>{content}</x>")[0] if not content.startswith("<!")
                      else etree.Comment(" a comment "))
        assert refused_with(verify, root) is Rule.SIGNATURE_SHAPE


def test_signed_element_needs_its_own_id(bob: bytes, keypair: KeyPair) -> None:
    """No ID, no reference to it: a ``URI="#None"`` cannot stand for an element without one."""
    root = parse(bob)
    assertion = assertion_of(root)
    reference = signature_of(assertion).find(f"{DS}SignedInfo/{DS}Reference")
    assert reference is not None
    del assertion.attrib["ID"]
    reference.set("URI", "#None")
    with pytest.raises(SamlValidationError) as refused:
        dsig.read_signature(signature_of(assertion), assertion, STRICT)
    assert refused.value.rule is Rule.SIGNATURE_SHAPE


def test_empty_key_info_is_invalid(verify: Any, bob: bytes) -> None:
    root = parse(bob)
    key_info = signature_of(assertion_of(root)).find(f"{DS}KeyInfo")
    assert key_info is not None
    for child in list(key_info):
        key_info.remove(child)
    assert refused_with(verify, root) is Rule.SIGNATURE_INVALID


def test_relative_namespace_uri_is_refused_not_a_crash(verify: Any, bob: bytes,
                                                       keypair: KeyPair) -> None:
    """libxml2's C14N refuses a relative namespace URI: a refusal, never a C14NError."""
    root = parse(bob)
    etree.SubElement(assertion_of(root), "{relative/uri}Extra")
    assert refused_with(verify, root) is Rule.SIGNATURE_INVALID


# --- interop: signxml and libxmlsec -----------------------------------------------------------


def test_signxml_signature_verifies(verify: Any, bob: bytes, keypair: KeyPair) -> None:
    root = parse(bob)
    signxml_sign(root, keypair)
    assert verify(etree.tostring(root)).signed == "assertion"


def test_signxml_signature_without_c14n_transform_verifies(verify: Any, bob: bytes,
                                                           keypair: KeyPair) -> None:
    root = parse(bob)
    signxml_sign(root, keypair, c14n_transform=False)
    transforms = signature_of(assertion_of(root)).findall(f".//{DS}Transform")
    assert len(transforms) == 1
    assert verify(etree.tostring(root)).signed == "assertion"


def test_xmlsec_signature_verifies(verify: Any, bob: bytes, keypair: KeyPair) -> None:
    root = parse(bob)
    _xmlsec_sign(root, keypair, digest="TransformSha256")
    assert verify(etree.tostring(root)).signed == "assertion"


def test_xmlsec_prefix_list_is_honoured(verify: Any, bob: bytes, keypair: KeyPair) -> None:
    import xmlsec

    def exc_c14n_with_prefixes(ref: etree._Element) -> None:
        transform = xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
        xmlsec.template.transform_add_c14n_inclusive_namespaces(transform, ["samlp"])

    root = parse(bob)
    _xmlsec_sign(root, keypair, digest="TransformSha256", extra_transform=exc_c14n_with_prefixes)
    assert verify(etree.tostring(root)).signed == "assertion"
    # and the PrefixList is what made it verify: without it the digest differs
    inclusive = signature_of(assertion_of(root)).find(f".//{EC}InclusiveNamespaces")
    assert inclusive is not None
    inclusive.getparent().remove(inclusive)  # type: ignore[union-attr]
    assert refused_with(verify, root) is Rule.SIGNATURE_INVALID


def test_xmlsec_signed_info_prefix_list_is_honoured(verify: Any, bob: bytes,
                                                    keypair: KeyPair) -> None:
    """SignedInfo canonicalized with ``samlp`` (declared on the Response) in its PrefixList:
    its canonical form declares samlp, so ignoring the PrefixList would break the signature."""
    root = parse(bob)
    xmlsec_sign(root, keypair, c14n_prefixes=["samlp"])
    assert signature_of(assertion_of(root)).find(
        f"{DS}SignedInfo/{DS}CanonicalizationMethod/{EC}InclusiveNamespaces") is not None
    assert verify(etree.tostring(root)).signed == "assertion"
    for el in root.iter(f"{EC}InclusiveNamespaces"):
        el.set("PrefixList", "xs")  # the signed SignedInfo changed: no longer verifies
    assert refused_with(verify, root) is Rule.SIGNATURE_INVALID


def test_xmlsec_pretty_printed_signature_with_a_tail_verifies(verify: Any, bob: bytes,
                                                              keypair: KeyPair) -> None:
    """The text after the Signature stays in the enveloped node set (XML Signature §6.6.4)."""
    root = pretty(bob)
    xmlsec_sign(root, keypair, tail="\n    ")
    assert signature_of(assertion_of(root)).tail == "\n    "
    assert verify(etree.tostring(root)).signed == "assertion"


def test_sha1_digest_only_for_a_sha1_provider(settings: Settings, keypair: KeyPair,
                                              clock: FixedClock, bob: bytes) -> None:
    root = parse(bob)
    _xmlsec_sign(root, keypair, digest="TransformSha1")
    xml = etree.tostring(root)
    policy = builders.validation_policy(settings, clock)
    strict = builders.trusted_issuer(settings, keypair)
    with pytest.raises(SamlValidationError) as refused:
        verify_response(xml, trust=strict, policy=policy)
    assert refused.value.rule is Rule.SIGNATURE_ALGORITHM
    legacy = TrustedIssuer(strict.entity_id, strict.certificates, allow_sha1=True)
    assert legacy.algorithms is LEGACY
    assert verify_response(xml, trust=legacy, policy=policy).signed == "assertion"


# --- the same decisions as signxml ------------------------------------------------------------


@pytest.fixture
def old_verify(verify: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[bytes], Outcome]:
    """``verify_response`` with signxml as its cryptographic verifier (the old path)."""
    def run(xml: bytes) -> Outcome:
        with monkeypatch.context() as patch:
            patch.setattr(idp.saml.validation, "XMLVerifier", SignxmlVerifier)
            return decide(verify, xml)
    return run


@pytest.mark.parametrize("name", [n for n in VECTORS if stage(VECTORS[n]) != "decode"])
def test_corpus_decision_is_signxmls(name: str, verify: Any, old_verify: Any, bob_saml: str,
                                     attack_keys: Keys) -> None:
    """Each attack vector: refused with the same rule, or accepted with the same claims."""
    xml = decode_saml_assertion(VECTORS[name].mutator(bob_saml, attack_keys).saml)
    new = decide(verify, xml)
    assert new == old_verify(xml)
    if stage(VECTORS[name]) == "verifier":
        assert new[0] == "refused"


def byte_flips(xml: bytes) -> Iterator[bytes]:
    """The genuine Response with one bit changed, every seventh byte across the document."""
    for index in range(0, len(xml), 7):
        yield xml[:index] + bytes([xml[index] ^ 0x02]) + xml[index + 1:]


def test_byte_flips_decided_as_signxml_decides(verify: Any, old_verify: Any, bob: bytes) -> None:
    """Accepted exactly when signxml accepts (same claims); a refusal is never an exception
    other than ``SamlValidationError``."""
    differences = []
    for xml in byte_flips(bob):
        new, old = decide(verify, xml), old_verify(xml)
        if new[0] != old[0] or (new[0] == "accepted" and new != old):
            differences.append((xml, new, old))
    assert differences == []


def signature_mutants(xml: bytes) -> Iterator[tuple[str, bytes]]:
    """The genuine Response with one node of the Assertion's Signature removed, duplicated,
    preceded by a comment or text, given an extra attribute, or moved to another namespace."""
    count = sum(1 for _ in signature_of(assertion_of(parse(xml))).iter())
    edits: dict[str, Callable[[etree._Element], None]] = {
        "remove": lambda el: el.getparent().remove(el),  # type: ignore[union-attr]
        "duplicate": lambda el: el.addnext(copy.deepcopy(el)),
        "comment": lambda el: el.addprevious(etree.Comment("c")),
        "text": _text_before,
        "attribute": lambda el: el.set("Extra", "x"),
        "namespace": lambda el: setattr(el, "tag", "{urn:other}" + etree.QName(el).localname),
    }
    for index in range(count):
        for name, edit in edits.items():
            root = parse(xml)
            el = list(signature_of(assertion_of(root)).iter())[index]
            if el.getparent() is None and name in ("remove", "duplicate", "comment", "text"):
                continue
            if name in ("remove", "duplicate", "comment", "text") and el.tag == f"{DS}Signature":
                continue
            edit(el)
            yield f"{name} {etree.QName(el).localname}", etree.tostring(root)


def _text_before(el: etree._Element) -> None:
    previous, parent = el.getprevious(), el.getparent()
    if previous is not None:
        previous.tail = (previous.tail or "") + "text"
    elif parent is not None:
        parent.text = (parent.text or "") + "text"


def test_signature_mutants_decided_as_signxml_decides(verify: Any, old_verify: Any,
                                                      bob: bytes) -> None:
    differences = []
    for what, xml in signature_mutants(bob):
        new, old = decide(verify, xml), old_verify(xml)
        if new[0] != old[0] or (new[0] == "accepted" and new != old):
            differences.append((what, new, old))
    assert differences == []


def test_both_signed_decided_as_signxml_decides(settings: Settings, directory: Any,
                                                keypair: KeyPair, clock: FixedClock,
                                                verify: Any, old_verify: Any) -> None:
    """A Response signed as a whole *and* in its Assertion (two verifications, one order)."""
    from tests.saml.test_interop import BOTH_SIGNED, directory_with
    from tests.support.saml import respond

    idp_ = builders.identity_provider(settings, directory_with(BOTH_SIGNED), keypair, clock)
    xml = base64.b64decode(respond(idp_).saml_value)
    new = decide(verify, xml)
    assert new[0] == "accepted" and new[1].signed == "both"
    assert new == old_verify(xml)
    root = parse(xml)
    value = signature_of(root).find(f"{DS}SignatureValue")
    assert value is not None and value.text
    value.text = flip(value.text)
    tampered = etree.tostring(root)
    assert decide(verify, tampered) == old_verify(tampered) == ("refused",
                                                                Rule.SIGNATURE_INVALID)


# --- the adversarial review's findings -----------------------------------------------------------


def test_a_prefix_list_names_at_most_sixteen_prefixes(verify: Any, bob: bytes) -> None:
    """libxml2's exclusive C14N costs elements x prefixes: a long PrefixList on a forged
    document once bought a minute of CPU per request. Sixteen verify; seventeen are refused
    before anything is canonicalized."""
    for count, allowed in ((16, True), (17, False)):
        root = parse(bob)
        transform = signature_of(assertion_of(root)).find(
            f"{DS}SignedInfo/{DS}Reference/{DS}Transforms/{DS}Transform[2]")
        assert transform is not None
        etree.SubElement(transform, f"{EC}InclusiveNamespaces",
                         PrefixList=" ".join(f"p{i}" for i in range(count)))
        with pytest.raises(SamlValidationError) as refused:
            verify(etree.tostring(root))
        # The PrefixList is not in the signed SignedInfo, so 16 fail the signature instead.
        assert refused.value.rule is (Rule.SIGNATURE_INVALID if allowed
                                      else Rule.SIGNATURE_SHAPE), refused.value


def test_a_forged_signature_is_refused_before_the_element_is_canonicalized(
        bob: bytes, keypair: KeyPair, monkeypatch: pytest.MonkeyPatch) -> None:
    """The signature over SignedInfo is checked first: a document nobody trusted signed
    never has its (attacker-sized) element canonicalized and digested."""
    root = parse(bob)
    value = signature_of(assertion_of(root)).find(f"{DS}SignatureValue")
    assert value is not None and value.text
    value.text = flip(value.text)
    parts = parts_of(etree.tostring(root))
    canonicalized: list[object] = []
    real = dsig._enveloped_c14n
    monkeypatch.setattr(dsig, "_enveloped_c14n",
                        lambda p: canonicalized.append(p) or real(p))
    with pytest.raises(SamlValidationError) as refused:
        dsig.Verifier().verify(parts, certificates=(keypair.cert_pem,))
    assert refused.value.rule is Rule.SIGNATURE_INVALID and canonicalized == []
    dsig.Verifier().verify(parts_of(bob), certificates=(keypair.cert_pem,))
    assert len(canonicalized) == 1  # a genuine one is, once


@pytest.mark.parametrize("edit", [
    "key-info-unknown-ds-child", "key-info-no-namespace-child", "empty-key-value",
    "x509-data-unknown-ds-child", "empty-issuer-serial", "subject-name-with-element",
    "nbsp-in-signature-value", "line-separator-between-children", "signature-id-not-ncname",
])
def test_unsigned_signature_parts_follow_the_schema(verify: Any, bob: bytes, edit: str) -> None:
    """What signxml's schema check refused stays refused (none of it is digested, but a
    verifier that accepts junk in a signature invites the next parser differential)."""
    root = parse(bob)
    sig = signature_of(assertion_of(root))
    key_info = sig.find(f"{DS}KeyInfo")
    x509 = sig.find(f"{DS}KeyInfo/{DS}X509Data")
    value = sig.find(f"{DS}SignatureValue")
    assert key_info is not None and x509 is not None and value is not None and value.text
    if edit == "key-info-unknown-ds-child":
        etree.SubElement(key_info, f"{DS}Bogus")
    elif edit == "key-info-no-namespace-child":
        etree.SubElement(key_info, "Bogus")
    elif edit == "empty-key-value":
        etree.SubElement(key_info, f"{DS}KeyValue")
    elif edit == "x509-data-unknown-ds-child":
        etree.SubElement(x509, f"{DS}Bogus")
    elif edit == "empty-issuer-serial":
        etree.SubElement(x509, f"{DS}X509IssuerSerial")
    elif edit == "subject-name-with-element":
        etree.SubElement(etree.SubElement(x509, f"{DS}X509SubjectName"), f"{DS}X")
    elif edit == "nbsp-in-signature-value":
        value.text = value.text[:8] + "\u00a0" + value.text[8:]
    elif edit == "line-separator-between-children":
        sig[0].tail = "\u2028"
    else:
        sig.set("Id", "1-not-a-name")
    assert refused_with(verify, root) in (Rule.SIGNATURE_INVALID, Rule.SIGNATURE_SHAPE)
