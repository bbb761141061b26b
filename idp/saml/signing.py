"""Signing SAML messages with signxml: enveloped, exclusive C14N, SHA-256 by default.

The signature goes right after the element's ``<saml:Issuer>`` (the schema puts it there and
python3-saml validates the schema), via signxml's ``<ds:Signature Id="placeholder"/>`` hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from idp.keys import KeyPair
from idp.saml.constants import DS, NS, SAML

__all__ = ["Digest", "SignatureAlgorithm", "SigningPolicy", "sign_element"]


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
    """Signature methods the IdP will sign with (XMLDSig / RFC 6931 URIs)."""

    RSA_SHA256 = SignatureMethod.RSA_SHA256.value
    RSA_SHA384 = SignatureMethod.RSA_SHA384.value
    RSA_SHA512 = SignatureMethod.RSA_SHA512.value
    RSA_SHA1 = SignatureMethod.RSA_SHA1.value  # legacy SPs only, never a default


class Digest(_ByFragment):
    """Digest methods for references."""

    SHA256 = DigestAlgorithm.SHA256.value
    SHA384 = DigestAlgorithm.SHA384.value
    SHA512 = DigestAlgorithm.SHA512.value
    SHA1 = DigestAlgorithm.SHA1.value  # legacy SPs only, never a default


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


class _Signer(XMLSigner):
    # signxml refuses SHA-1 unless the subclass opts in; we only reach here with SHA-1 when a
    # config asked for it explicitly (SigningPolicy.uses_sha1).
    def check_deprecated_methods(self) -> None:
        return None


def sign_element(element: etree._Element, keys: KeyPair, policy: SigningPolicy) -> etree._Element:
    """Return a signed copy of ``element`` (a Response or Assertion with an ``ID``).

    The ``ds:Signature`` lands right after the element's ``saml:Issuer``.
    """
    element_id = element.get("ID")
    if not element_id:
        raise ValueError("element to sign has no ID")
    issuer = element.find(f"{SAML}Issuer")
    placeholder = etree.Element(
        f"{DS}Signature", Id="placeholder", nsmap={"ds": NS["ds"]}
    )
    if issuer is not None:
        issuer.addnext(placeholder)
    else:
        element.insert(0, placeholder)
    signer_cls = _Signer if policy.uses_sha1 else XMLSigner
    signer = signer_cls(
        signature_algorithm=SignatureMethod(policy.signature_algorithm.value),
        digest_algorithm=DigestAlgorithm(policy.digest.value),
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signer.namespaces = {"ds": NS["ds"]}
    signed: etree._Element = signer.sign(
        element,
        key=keys.private_key,
        cert=[keys.certificate],
        reference_uri=f"#{element_id}",
        id_attribute="ID",
    )
    return signed
