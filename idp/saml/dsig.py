"""The one XML signature a SAML service provider accepts, read and verified without a framework.

The layout (SAML Core §5.4; W3C XML Signature 1.1 §4 and §6.6.4; W3C Exclusive XML
Canonicalization 1.0) is a ``ds:Signature`` that is a direct child of the element it signs, with

* ``SignedInfo``: ``CanonicalizationMethod`` (exclusive C14N *without* comments),
  ``SignatureMethod`` (RSA PKCS#1 v1.5 with SHA-2, SHA-1 only for a provider configured for
  it) and exactly one ``Reference`` whose ``URI`` is ``#`` + the signed element's own ``ID``;
* the ``Reference``'s transforms: enveloped-signature, optionally followed by exclusive C14N;
  either C14N may carry an ``ec:InclusiveNamespaces PrefixList`` (Exclusive C14N §3), which
  is honoured, as libxmlsec (xmlsec1) honours it (signxml's schema check refuses the element);
* ``SignatureValue`` and ``DigestValue`` as plain base64 text, and an optional ``KeyInfo``
  that is never read for a key.

``read_signature`` checks that layout and the caller's algorithm allow-lists *before* anything
is canonicalized or digested; ``Verifier.verify`` then does XML Signature 1.1 §3.2 core
validation for exactly that layout, with the W3C note "XML Signature Best Practices" applied:

* the key is one of the provider's certificates, never one from ``KeyInfo`` ("establish trust
  in the verification key"); each PEM is parsed once and cached;
* no transform other than the two above ("avoid XSLT transforms", "avoid or limit XPath
  transforms"), and every algorithm is checked against the allow-list before any work;
* the signature over ``SignedInfo`` is checked first, and only then is the ``Reference``
  canonicalized and digested ("for a signer whose key is unknown, do no more than verify
  the signature"): a forged document costs one small C14N and one RSA operation; a
  ``PrefixList`` names at most ``MAX_INCLUSIVE_PREFIXES`` prefixes;
* the digest is compared in constant time (``hmac.compare_digest``);
* "see what is signed": the returned element is parsed (with the package's hardened parser)
  from the very canonical bytes that were digested, so a reader of claims never sees a
  comment, an unsigned sibling or text the signature did not cover.

Canonicalizing the signed element detaches its ``ds:Signature`` for that one call and puts it
back: the tree comes back as it was, but one tree must not be verified by two threads at once
(every caller parses its own).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod

from idp.errors import Rule, SamlValidationError, XMLError
from idp.saml.algorithms import ENVELOPED, EXC_C14N, AlgorithmPolicy
from idp.saml.constants import DS
from idp.xml import parse

__all__ = ["SignatureParts", "Verified", "Verifier", "read_signature"]

_DS: Final = DS
#: ``ec:InclusiveNamespaces`` (Exclusive XML Canonicalization 1.0 §3).
_INCLUSIVE_NAMESPACES: Final = "{http://www.w3.org/2001/10/xml-exc-c14n#}InclusiveNamespaces"
_SIGNATURE_CHILDREN: Final = (
    (f"{_DS}SignedInfo", f"{_DS}SignatureValue"),
    (f"{_DS}SignedInfo", f"{_DS}SignatureValue", f"{_DS}KeyInfo"),
)
_SIGNED_INFO_CHILDREN: Final = (
    f"{_DS}CanonicalizationMethod", f"{_DS}SignatureMethod", f"{_DS}Reference")
_REFERENCE_CHILDREN: Final = (f"{_DS}Transforms", f"{_DS}DigestMethod", f"{_DS}DigestValue")
_TRANSFORM: Final = f"{_DS}Transform"
_X509_DATA: Final = f"{_DS}X509Data"
_X509_CERTIFICATE: Final = f"{_DS}X509Certificate"
#: What XML Signature 1.1 §4.5 lets KeyInfo hold in the xmldsig namespace (other namespaces:
#: anything, as the schema's ``##other`` wildcard does; no namespace: nothing).
_KEY_INFO_CHILDREN: Final = frozenset(f"{_DS}{name}" for name in (
    "KeyName", "KeyValue", "RetrievalMethod", "X509Data", "PGPData", "SPKIData", "MgmtData"))
#: What §4.5.4 lets X509Data hold in the xmldsig namespace.
_X509_DATA_CHILDREN: Final = frozenset(f"{_DS}{name}" for name in (
    "X509IssuerSerial", "X509SKI", "X509SubjectName", "X509Certificate", "X509CRL"))
#: The most prefixes one PrefixList may name. Real signers name a handful (``xs``, ``xsi``,
#: ``saml``, ``#default``); libxml2's C14N costs grow with elements x prefixes, so an
#: unbounded list would let an unsigned document buy seconds of CPU.
MAX_INCLUSIVE_PREFIXES: Final = 16
#: XML's whitespace (XML 1.0 §2.3 ``S``): str.split() and str.strip() take far more (U+00A0,
#: U+2028, ...), which no XML Signature processor treats as whitespace.
_XML_SPACE: Final = " \t\r\n"
_DROP_XML_SPACE: Final = str.maketrans("", "", _XML_SPACE)
#: An ``Id`` attribute's value: an NCName (XML Signature 1.1 §4 declares ``Id`` as ``ID``).
_NCNAME: Final = re.compile(r"[^\W\d][\w.\-]*")
#: A PrefixList token: ``#default`` or an XML namespace prefix (an NCName).
_PREFIX: Final = re.compile(r"#default|" + _NCNAME.pattern)

#: Digest URI -> hash (XML Signature 1.1 §6.2; RFC 6931 for the ``xmldsig-more`` URIs). Only
#: what the caller's ``AlgorithmPolicy`` also accepts is ever used.
_DIGESTS: Final[dict[str, Callable[[bytes], hashlib._Hash]]] = {
    DigestAlgorithm.SHA1.value: hashlib.sha1,
    DigestAlgorithm.SHA256.value: hashlib.sha256,
    DigestAlgorithm.SHA384.value: hashlib.sha384,
    DigestAlgorithm.SHA512.value: hashlib.sha512,
}
#: SignatureMethod URI -> hash of RSASSA-PKCS1-v1_5 (XML Signature 1.1 §6.4.2; RFC 6931).
_RSA_METHODS: Final[dict[str, Callable[[], hashes.HashAlgorithm]]] = {
    SignatureMethod.RSA_SHA1.value: hashes.SHA1,
    SignatureMethod.RSA_SHA256.value: hashes.SHA256,
    SignatureMethod.RSA_SHA384.value: hashes.SHA384,
    SignatureMethod.RSA_SHA512.value: hashes.SHA512,
}
_PEM_HEADER: Final = "-----BEGIN CERTIFICATE-----"


def _fail(rule: Rule, message: str, hint: str | None = None) -> SamlValidationError:
    return SamlValidationError(rule, message, hint=hint)


def _local(node: etree._Element) -> str:
    """The local name of an element, ``#other`` for a comment (what the messages show)."""
    tag = node.tag
    return tag[tag.rfind("}") + 1:] if isinstance(tag, str) else "#other"


def _tags(el: etree._Element) -> tuple[object, ...]:
    """The tag of every child node: comments and PIs have non-string tags, so never match."""
    return tuple([child.tag for child in el])


@functools.lru_cache(maxsize=16)
def _accepted(policy: AlgorithmPolicy) -> tuple[frozenset[str], frozenset[str]]:
    """The signature-method and digest URIs that ``policy`` accepts *and* this module verifies."""
    return (frozenset(uri for uri in _RSA_METHODS if policy.accepts_signature_method(uri)),
            frozenset(uri for uri in _DIGESTS if policy.accepts_digest(uri)))


def _base64(text: str | None) -> bytes | None:
    """Strict base64 (whitespace allowed between characters), or ``None``."""
    compact = (text or "").translate(_DROP_XML_SPACE)
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded or None


@dataclass(frozen=True, slots=True)
class SignatureParts:
    """One signature in the accepted layout, read once (``read_signature``)."""

    element: etree._Element
    """The signed element: the signature's parent, the target of its one Reference."""
    signature: etree._Element
    signed_info: etree._Element
    c14n_prefixes: tuple[str, ...] | None
    """``InclusiveNamespaces/@PrefixList`` of SignedInfo's CanonicalizationMethod, if any."""
    signature_method: str
    signature_value: bytes
    reference_prefixes: tuple[str, ...] | None
    """``InclusiveNamespaces/@PrefixList`` of the Reference's exclusive C14N transform."""
    digest_method: str
    digest_value: bytes

    @property
    def what(self) -> str:
        return _local(self.element)


def _prefixes(method: etree._Element, what: str, where: str) -> tuple[str, ...] | None:
    """The PrefixList of a C14N method (Exclusive C14N §3): nothing, or one InclusiveNamespaces."""
    kids = list(method)
    if not kids:
        return None
    inclusive = kids[0]
    prefix_list = inclusive.get("PrefixList")
    if (len(kids) != 1 or inclusive.tag != _INCLUSIVE_NAMESPACES or len(inclusive)
            or prefix_list is None):
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {what} signature's {where} may only hold one "
                    "ec:InclusiveNamespaces with a PrefixList (found: "
                    f"{', '.join(_local(k) for k in kids)})")
    tokens = tuple(prefix_list.split())
    if len(set(tokens)) > MAX_INCLUSIVE_PREFIXES or len(tokens) > 2 * MAX_INCLUSIVE_PREFIXES:
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {what} signature's {where} has a PrefixList "
                    f"of {len(tokens)} prefixes; at most {MAX_INCLUSIVE_PREFIXES} are accepted")
    if not all(_PREFIX.fullmatch(token) for token in tokens):
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {what} signature's {where} has a PrefixList "
                    f"that is not a list of namespace prefixes: {prefix_list!r}")
    return tokens or None


def read_signature(sig: etree._Element, parent: etree._Element, accepted: AlgorithmPolicy
                   ) -> SignatureParts:
    """The one layout we accept; anything else is refused before a digest is computed.

    ``Rule.SIGNATURE_SHAPE`` for the layout, ``Rule.SIGNATURE_ALGORITHM`` for a method,
    transform or digest outside ``accepted`` (checked in that order, element by element).
    """
    what = _local(parent)
    methods, digests = _accepted(accepted)
    kids = list(sig)
    tags = _tags(sig)
    if tags not in _SIGNATURE_CHILDREN:
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {what} signature has unexpected children: "
                    f"{', '.join(_local(k) for k in kids)} (no Object, Manifest or second "
                    "SignedInfo allowed; every child in the xmldsig namespace)")
    signed_info, signature_value = kids[0], kids[1]
    if _tags(signed_info) != _SIGNED_INFO_CHILDREN:
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {what} signature's SignedInfo must hold exactly "
                    "one Reference (found: "
                    f"{', '.join(_local(k) for k in signed_info)})")
    raw_signature = None if len(signature_value) else _base64(signature_value.text)
    if raw_signature is None:
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {what} signature's SignatureValue must be "
                    "non-empty base64 text (no comments or elements inside)")
    c14n, method, reference = signed_info
    if c14n.get("Algorithm") != EXC_C14N:
        raise _fail(Rule.SIGNATURE_ALGORITHM, f"canonicalization {c14n.get('Algorithm')} is not "
                    "accepted; use exclusive C14N without comments", "xml-exc-c14n#")
    method_uri = method.get("Algorithm")
    if method_uri not in methods or len(method):
        raise _fail(Rule.SIGNATURE_ALGORITHM, f"signature method {method_uri} is "
                    "not accepted", "sign with RSA-SHA256 (SHA-1 only if the provider allows it)")
    if not parent.get("ID") or reference.get("URI") != f"#{parent.get('ID')}":
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {what} signature references "
                    f"{reference.get('URI')!r}, not its own element #{parent.get('ID')}")
    if _tags(reference) != _REFERENCE_CHILDREN:
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {what} signature's Reference has unexpected "
                    f"children: {', '.join(_local(k) for k in reference)}")
    transforms, digest, digest_value = reference
    steps = list(transforms)
    algorithms = [t.get("Algorithm") for t in steps if isinstance(t.tag, str)]
    if len(steps) != len(algorithms) or algorithms not in ([ENVELOPED], [ENVELOPED, EXC_C14N]):
        raise _fail(Rule.SIGNATURE_ALGORITHM, f"transforms {algorithms} are not accepted "
                    "(only enveloped-signature then exclusive C14N)")
    digest_uri = digest.get("Algorithm")
    if digest_uri not in digests:
        raise _fail(Rule.SIGNATURE_ALGORITHM, f"digest {digest_uri} is not accepted",
                    "use SHA-256 digests")
    if len(digest_value):
        raise _fail(Rule.SIGNATURE_SHAPE, "DigestValue must be plain text (no comments or "
                    "elements inside)")
    # Beyond the names: each Transform is a ds:Transform, the enveloped one and DigestMethod are
    # empty, and the C14N steps hold at most their InclusiveNamespaces.
    if any(t.tag != _TRANSFORM for t in steps) or len(steps[0]) or len(digest):
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {what} signature's Transform or DigestMethod "
                    "has unexpected content")
    raw_digest = _base64(digest_value.text)
    if raw_digest is None:
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {what} signature's DigestValue must be "
                    "non-empty base64 text")
    return SignatureParts(
        element=parent, signature=sig, signed_info=signed_info,
        c14n_prefixes=_prefixes(c14n, what, "CanonicalizationMethod") if len(c14n) else None,
        signature_method=str(method_uri), signature_value=raw_signature,
        reference_prefixes=(_prefixes(steps[1], what, "exclusive C14N transform")
                            if len(steps) == 2 and len(steps[1]) else None),
        digest_method=str(digest_uri), digest_value=raw_digest,
    )


# --- the provider's keys, parsed once --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _TrustedKey:
    key: rsa.RSAPublicKey
    not_before: dt.datetime
    not_after: dt.datetime


@functools.lru_cache(maxsize=256)
def _trusted_key(pem: str) -> _TrustedKey | None:
    """The RSA key of one trusted certificate (PEM, or bare base64 as metadata carries it).

    Cached by the PEM text: a provider's certificates are parsed once, not per Response.
    ``None``: not an RSA certificate (it can verify nothing we accept).
    """
    text = pem.strip()
    if not text.startswith(_PEM_HEADER):
        text = f"{_PEM_HEADER}\n{text}\n-----END CERTIFICATE-----"
    try:
        cert = x509.load_pem_x509_certificate(text.encode("ascii"))
        key = cert.public_key()
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm):
        return None
    if not isinstance(key, rsa.RSAPublicKey):
        return None
    return _TrustedKey(key, cert.not_valid_before_utc, cert.not_valid_after_utc)


# --- verification ----------------------------------------------------------------------------


def _c14n(el: etree._Element, prefixes: tuple[str, ...] | None) -> bytes:
    """Exclusive XML Canonicalization 1.0 without comments of ``el`` in its document context.

    libxml2 refuses some documents (a relative namespace URI, Exclusive C14N §2.2 via C14N 1.0
    §2): no signature over them can be checked, so that is ``Rule.SIGNATURE_INVALID``.
    """
    try:
        return etree.tostring(el, method="c14n", exclusive=True, with_comments=False,
                              inclusive_ns_prefixes=list(prefixes) if prefixes else None)
    except etree.LxmlError as exc:
        raise _fail(Rule.SIGNATURE_INVALID, f"the signed {_local(el)} cannot be canonicalized "
                    f"(exclusive C14N): {exc}") from None


def _enveloped_c14n(parts: SignatureParts) -> bytes:
    """The Reference's octets: the element minus its own ds:Signature (XML Signature 1.1
    §6.6.4), canonicalized (exclusive C14N, without comments).

    The signature is detached for the one C14N call and put back exactly where it was, in a
    ``finally``: the text after it (its tail) stays in the node set, as the enveloped transform
    removes only the Signature element and its descendants.
    """
    el, sig = parts.element, parts.signature
    index = el.index(sig)
    previous = sig.getprevious()
    tail = sig.tail
    saved = previous.tail if previous is not None else el.text
    el.remove(sig)  # lxml moves the tail with the element; the tail is not the Signature's
    try:
        if tail:
            if previous is not None:
                previous.tail = (saved or "") + tail
            else:
                el.text = (saved or "") + tail
        return _c14n(el, parts.reference_prefixes)
    finally:
        if previous is not None:
            previous.tail = saved
        else:
            el.text = saved
        el.insert(index, sig)


def _blank(text: str | None) -> bool:
    return text is None or not text.strip(_XML_SPACE)


def _ids_valid(*elements: etree._Element) -> bool:
    """Only an ``Id`` attribute, and an NCName if present."""
    for el in elements:
        if any(name != "Id" for name in el.attrib):
            return False
        value = el.get("Id")
        if value is not None and not _NCNAME.fullmatch(value):
            return False
    return True


def _key_info_valid(key_info: etree._Element) -> bool:
    """KeyInfo's children as §4.5 allows (never used for a key, but a schema-validating
    processor such as signxml refuses anything else, so this one does too)."""
    found = False
    for child in key_info:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        found = True
        if (tag.startswith(_DS) and tag not in _KEY_INFO_CHILDREN) or not tag.startswith("{"):
            return False
        if tag == f"{_DS}KeyValue" and not any(isinstance(c.tag, str) for c in child):
            return False
        if tag != _X509_DATA:
            continue
        parts = [c for c in child if isinstance(c.tag, str)]
        if (not parts or child.attrib or not _blank(child.text)
                or not all(_blank(c.tail) for c in child)):
            return False
        for part in parts:
            name = part.tag
            if not name.startswith("{") or (name.startswith(_DS)
                                            and name not in _X509_DATA_CHILDREN):
                return False
            if name == _X509_CERTIFICATE and (
                    len(part) or part.attrib or _base64(part.text) is None):
                return False
            if name == f"{_DS}X509IssuerSerial" and not any(
                    isinstance(c.tag, str) for c in part):
                return False
            if name == f"{_DS}X509SubjectName" and len(part):
                return False
    return found


def _schema_valid(sig: etree._Element) -> bool:
    """What the XML Signature schema (XML Signature 1.1 §4) asks of the parts of a Signature
    that are neither signed nor otherwise checked: ``Id`` as the only attribute of Signature,
    SignatureValue and KeyInfo, no text between Signature's children, and a KeyInfo with at
    least one element whose ``X509Data`` hold elements only (at least one, no attribute, no
    text) and whose ``X509Certificate`` values are base64 without attributes (§4.5, §4.5.4).
    KeyInfo is never used for a key; a processor that validates the schema (signxml) refuses
    such a signature, so this one does too.
    """
    kids = list(sig)
    if (not _ids_valid(sig, kids[1], *kids[2:3]) or not _blank(sig.text)
            or not all(_blank(k.tail) for k in kids)):
        return False
    return len(kids) < 3 or _key_info_valid(kids[2])


@dataclass(frozen=True, slots=True)
class Verified:
    """What a signature covers, and nothing else."""

    canonical: bytes
    """The exclusive-C14N octets of the signed element (the digested bytes)."""
    element: etree._Element
    """Those octets parsed again: read claims from here only (no comments, nothing unsigned)."""


class Verifier:
    """XML Signature core validation (XML Signature 1.1 §3.2) of one ``SignatureParts``."""

    def verify(self, parts: SignatureParts, *, certificates: Sequence[str],
               now: dt.datetime | None = None) -> Verified:
        """Verify with the provider's ``certificates`` only; ``Rule.SIGNATURE_INVALID`` if not.

        ``now`` (default: the wall clock) must fall in a certificate's validity period for it
        to count, as signxml requires of a pinned certificate.
        """
        what = parts.what
        invalid = _fail(Rule.SIGNATURE_INVALID, f"the {what} signature does not verify with "
                        f"the {len(certificates)} certificate(s) in the provider's metadata",
                        "upload the IdP's current metadata to the SAML provider")
        if not _schema_valid(parts.signature):
            raise invalid
        # Signature validation (§3.2.2) first: the canonical SignedInfo, in its document
        # context, against the provider's keys. Only a SignedInfo one of them signed gets its
        # Reference canonicalized and digested, so an unsigned document costs one small C14N
        # and one RSA operation, never the C14N of the whole element.
        signed_info = _c14n(parts.signed_info, parts.c14n_prefixes)
        algorithm = _RSA_METHODS[parts.signature_method]()
        when = now or dt.datetime.now(dt.UTC)
        for pem in certificates:
            trusted = _trusted_key(pem)
            if trusted is None or not trusted.not_before <= when <= trusted.not_after:
                continue
            try:
                trusted.key.verify(parts.signature_value, signed_info, padding.PKCS1v15(),
                                   algorithm)
            except (InvalidSignature, ValueError, UnsupportedAlgorithm):
                continue
            break
        else:
            raise invalid
        # Reference validation (§3.2.1): digest the canonical octets of the element itself.
        canonical = _enveloped_c14n(parts)
        digest = _DIGESTS[parts.digest_method](canonical).digest()
        if not hmac.compare_digest(digest, parts.digest_value):
            raise _fail(Rule.SIGNATURE_INVALID, f"the {what} signature does not verify: the "
                        f"digest of the signed {what} is not its DigestValue (it was changed "
                        "after signing)", "nothing may change a signed element after signing")
        try:
            element = parse(canonical, max_bytes=max(len(canonical), 1))
        except XMLError as exc:  # canonical XML always parses; never trust it if not
            raise _fail(Rule.SIGNATURE_INVALID, f"the signed {what} cannot be read back from "
                        f"its canonical form: {exc}") from None
        return Verified(canonical=canonical, element=element)
