"""Enveloped XML signatures over SAML messages: exclusive C14N, RSA, SHA-256 by default.

The ``<ds:Signature>`` goes right after the element's ``<saml:Issuer>`` (the schema puts it
there, SAML Core §5.4.1, and python3-saml validates the schema) and references the element by
its ``ID`` (SAML Core §5.4.2). It is built here directly, as XML Signature Syntax and
Processing (W3C, second edition) §3.1 "Signature Generation" describes:

1. reference generation (§3.1.1): the element canonicalized with Exclusive XML
   Canonicalization 1.0 (W3C, without comments), *before* the signature is inserted, which is
   exactly what the enveloped-signature transform (§6.6.4) gives a verifier after it removes
   the signature again; its digest goes into ``<ds:DigestValue>``;
2. signature generation (§3.1.2): ``<ds:SignedInfo>``, canonicalized with the same algorithm,
   is signed with RSASSA-PKCS1-v1_5 (RFC 8017 §8.2; the algorithm URIs are XML-DSig §6.4.2 and
   RFC 6931 §2.3.2) and the base64 value goes into ``<ds:SignatureValue>``;
3. ``<ds:KeyInfo>`` carries the signing certificate (``<ds:X509Data>``, §4.4.4), its base64
   lines exactly as the PEM file has them.

What does not change per message (the algorithm URIs, the certificate text) is a prebuilt
``<ds:Signature>`` per (certificate, algorithms), copied for each signature: one
canonicalization of the element, one digest, one small canonicalization of ``SignedInfo`` and
the RSA operation are all that each signature costs. The private key is the one loaded at
start-up (``idp.keys``); nothing here parses a key.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from lxml import etree

from idp.keys import KeyPair
from idp.saml.constants import DS, NS, SAML

__all__ = [
    "Digest",
    "SignatureAlgorithm",
    "SigningPolicy",
    "certificate_text",
    "sign_element",
    "sign_in_place",
    "signature_text",
]


class _ByFragment(StrEnum):
    """Also accept the short name after ``#`` (``rsa-sha256``, ``sha512``) when parsing."""

    @classmethod
    def _missing_(cls, value: object) -> _ByFragment | None:
        if isinstance(value, str):
            for member in cls:
                if member.value.rsplit("#", 1)[-1] == value.lower():
                    return member
        return None


class SignatureAlgorithm(_ByFragment):
    """Signature methods the IdP will sign with (XMLDSig §6.4.2 / RFC 6931 §2.3.2 URIs)."""

    RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    RSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
    RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
    RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"  # legacy SPs only, never a default


class Digest(_ByFragment):
    """Digest methods for references (XMLDSig §6.2, XML Encryption §5.7.2, RFC 6931 §2.1.3)."""

    SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
    SHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
    SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
    SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"  # legacy SPs only, never a default


@dataclass(frozen=True)
class SigningPolicy:
    """What to sign and how, per service provider. Defaults are what AWS expects."""

    sign_assertion: bool = True
    """Sign the ``<saml:Assertion>`` (AWS's metadata says ``WantAssertionsSigned="true"``)."""
    sign_response: bool = False
    """Also (or instead) sign the outer ``<samlp:Response>``."""
    signature_algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA_SHA256
    digest: Digest = Digest.SHA256

    def __post_init__(self) -> None:
        if not (self.sign_assertion or self.sign_response):
            raise ValueError("at least one of sign_assertion / sign_response must be true")

    @property
    def uses_sha1(self) -> bool:
        return (
            self.signature_algorithm is SignatureAlgorithm.RSA_SHA1 or self.digest is Digest.SHA1
        )


#: Exclusive XML Canonicalization 1.0, without comments (W3C Recommendation, 2002).
_EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
#: XML-DSig §6.6.4.
_ENVELOPED_SIGNATURE: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

_SIGNATURE_HASHES: Final[dict[SignatureAlgorithm, hashes.HashAlgorithm]] = {
    SignatureAlgorithm.RSA_SHA256: hashes.SHA256(),
    SignatureAlgorithm.RSA_SHA384: hashes.SHA384(),
    SignatureAlgorithm.RSA_SHA512: hashes.SHA512(),
    SignatureAlgorithm.RSA_SHA1: hashes.SHA1(),  # noqa: S303 (only when a config asks for it)
}
_DIGESTS: Final[dict[Digest, Callable[[bytes], hashlib._Hash]]] = {
    Digest.SHA256: hashlib.sha256,
    Digest.SHA384: hashlib.sha384,
    Digest.SHA512: hashlib.sha512,
    Digest.SHA1: hashlib.sha1,
}
_PADDING: Final = PKCS1v15()
_PEM_HEADER: Final = "-----BEGIN CERTIFICATE-----"
_PEM_FOOTER: Final = "-----END CERTIFICATE-----"


def certificate_text(certificate: x509.Certificate) -> str:
    """``<ds:X509Certificate>``'s text: the PEM body, 64-character lines, each ending ``\\n``
    (base64 ignores the line breaks; XML-DSig §4.4.4 allows them)."""
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    body = pem.split(_PEM_HEADER, 1)[1].split(_PEM_FOOTER, 1)[0]
    return body.replace("\r", "").lstrip("\n")


def _ds(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{DS}{tag}", attrib=attrs)


def _build_template(certificate: x509.Certificate, policy: SigningPolicy) -> etree._Element:
    """A ``<ds:Signature>`` with everything but the reference URI, digest and value."""
    signature = etree.Element(f"{DS}Signature", nsmap={"ds": NS["ds"]})
    signed_info = _ds(signature, "SignedInfo")
    _ds(signed_info, "CanonicalizationMethod", Algorithm=_EXC_C14N)
    _ds(signed_info, "SignatureMethod", Algorithm=policy.signature_algorithm.value)
    reference = _ds(signed_info, "Reference", URI="")
    transforms = _ds(reference, "Transforms")
    _ds(transforms, "Transform", Algorithm=_ENVELOPED_SIGNATURE)
    _ds(transforms, "Transform", Algorithm=_EXC_C14N)
    _ds(reference, "DigestMethod", Algorithm=policy.digest.value)
    _ds(reference, "DigestValue")
    _ds(signature, "SignatureValue")
    key_info = _ds(signature, "KeyInfo")
    x509_data = _ds(key_info, "X509Data")
    _ds(x509_data, "X509Certificate").text = certificate_text(certificate)
    return signature


@dataclass(frozen=True)
class _Template:
    """One (certificate, signature method, digest)'s ``<ds:Signature>``: as a tree to copy,
    and as the text around the three values that change, both as lxml writes them."""

    tree: etree._Element
    signed_info: tuple[str, str, str]
    """Exclusive C14N of ``SignedInfo``: before the reference ID, before the digest, after."""
    wire: tuple[str, str, str, str]
    """``etree.tostring`` of the signature: before the ID, before the digest, before the
    signature value, after it."""


_ID_MARK: Final = "_ID-MARK_"
_DIGEST_MARK: Final = "DIGEST-MARK"
_VALUE_MARK: Final = "VALUE-MARK"


def _split(text: str, *marks: str) -> list[str]:
    out: list[str] = []
    for mark in marks:
        head, found, text = text.partition(mark)
        if not found or mark in text:  # pragma: no cover (the markers are ours)
            raise AssertionError(f"signature template lost its {mark}")
        out.append(head)
    out.append(text)
    return out


def _build(certificate: x509.Certificate, policy: SigningPolicy) -> _Template:
    tree = _build_template(certificate, policy)
    # The texts are lxml's own renderings of a marked copy, so the text path can never
    # disagree with the tree path (tests/saml/test_signing.py compares them too).
    marked = copy.deepcopy(tree)
    marked[0][2].set("URI", "#" + _ID_MARK)
    marked[0][2][2].text = _DIGEST_MARK
    marked[1].text = _VALUE_MARK
    head, middle, tail = _split(_c14n(marked[0]).decode("utf-8"), _ID_MARK, _DIGEST_MARK)
    w1, w2, w3, w4 = _split(etree.tostring(marked, encoding="unicode"),
                            _ID_MARK, _DIGEST_MARK, _VALUE_MARK)
    return _Template(tree, (head, middle, tail), (w1, w2, w3, w4))


#: Prebuilt signatures by (certificate, signature method, digest). Keyed by the certificate's
#: ``id`` (Rust objects take no weak references), with the certificate kept alongside so the
#: id cannot be reused while the entry lives. Templates are only ever read (copied) after they
#: are built, which lxml allows from any thread.
_TEMPLATES: dict[tuple[int, SignatureAlgorithm, Digest],
                 tuple[x509.Certificate, _Template]] = {}
_TEMPLATES_MAX: Final = 64
_TEMPLATES_LOCK: Final = threading.Lock()


def _template(certificate: x509.Certificate, policy: SigningPolicy) -> _Template:
    key = (id(certificate), policy.signature_algorithm, policy.digest)
    entry = _TEMPLATES.get(key)
    if entry is not None and entry[0] is certificate:
        return entry[1]
    template = _build(certificate, policy)
    with _TEMPLATES_LOCK:
        if len(_TEMPLATES) >= _TEMPLATES_MAX:
            _TEMPLATES.clear()
        _TEMPLATES[key] = (certificate, template)
    return template


#: The IDs ``signature_text`` splices into its templates: nothing XML escapes, in attributes
#: or text, either way it is written (digests and values are base64: never escaped either).
_PLAIN_ID: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def signature_text(element_id: str, canonical: bytes, keys: KeyPair,
                   policy: SigningPolicy) -> str:
    """The ``<ds:Signature>`` for the element with ID ``element_id`` whose exclusive canonical
    form, *without* this signature, is ``canonical``: as ``etree.tostring`` writes the
    signature ``sign_in_place`` inserts, for whoever writes the element as text.

    ``element_id`` must be an NCName of ASCII letters, digits, ``_ . -`` (``new_id`` makes
    those): ``ValueError`` otherwise.
    """
    if _PLAIN_ID.fullmatch(element_id) is None:
        raise ValueError(f"ID {element_id!r} is not a plain NCName")
    template = _template(keys.certificate, policy)
    digest = base64.b64encode(_DIGESTS[policy.digest](canonical).digest()).decode("ascii")
    head, middle, tail = template.signed_info
    signed_info = f"{head}{element_id}{middle}{digest}{tail}".encode()
    value = keys.private_key.sign(signed_info, _PADDING,
                                  _SIGNATURE_HASHES[policy.signature_algorithm])
    w1, w2, w3, w4 = template.wire
    return f"{w1}{element_id}{w2}{digest}{w3}{base64.b64encode(value).decode('ascii')}{w4}"


def _c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def sign_in_place(element: etree._Element, keys: KeyPair, policy: SigningPolicy) -> None:
    """Sign ``element`` (a Response or Assertion with an ``ID``) itself: its ``ds:Signature``
    is inserted right after its ``saml:Issuer`` (first child if it has none).

    For elements just built: whatever ``element`` already contains (including other
    signatures) is covered by the digest. ``sign_element`` leaves its argument untouched.
    """
    element_id = element.get("ID")
    if not element_id:
        raise ValueError("element to sign has no ID")
    digest = _DIGESTS[policy.digest](_c14n(element)).digest()
    signature = copy.deepcopy(_template(keys.certificate, policy).tree)
    signed_info = signature[0]
    reference = signed_info[2]
    reference.set("URI", "#" + element_id)
    reference[2].text = base64.b64encode(digest).decode("ascii")
    # Exclusive C14N renders SignedInfo the same whether or not it is in the document yet.
    value = keys.private_key.sign(_c14n(signed_info), _PADDING,
                                  _SIGNATURE_HASHES[policy.signature_algorithm])
    signature[1].text = base64.b64encode(value).decode("ascii")
    issuer = element.find(f"{SAML}Issuer")
    if issuer is not None:
        issuer.addnext(signature)
    else:
        element.insert(0, signature)


def sign_element(element: etree._Element, keys: KeyPair, policy: SigningPolicy) -> etree._Element:
    """Return a signed copy of ``element`` (a Response or Assertion with an ``ID``); the
    element itself is left as it was.

    The ``ds:Signature`` lands right after the copy's ``saml:Issuer``; the copy is the root of
    its own document, without ``element``'s tail text.
    """
    if not element.get("ID"):
        raise ValueError("element to sign has no ID")
    signed = copy.deepcopy(element)
    signed.tail = None
    sign_in_place(signed, keys, policy)
    return signed
