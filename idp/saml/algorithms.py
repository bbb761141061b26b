"""Which XML-signature algorithms a verifier accepts: one policy for every signature we check.

Three places verify signatures: AuthnRequests over HTTP-Redirect (``SigAlg``, SAML Bindings
§3.4.4.1), AuthnRequests over HTTP-POST (an enveloped ``ds:Signature``), and Responses at the
console and STS (``idp.saml.validation``). They all ask ``AlgorithmPolicy``:

* RSA-SHA256/384/512 signatures and SHA-256/384/512 digests (XML Signature 1.1 §6, RFC 6931
  for the ``xmldsig-more`` URIs);
* RSA-SHA1 and SHA-1 only when the peer is configured for it (``allow_sha1``): XML Signature
  1.1 §6.4.2 and §6.2.1 deprecate them for new signatures;
* never MD5, HMAC, DSA or ECDSA; canonicalization is exclusive C14N without comments, and the
  only transforms are enveloped-signature then exclusive C14N (SAML Core §5.4.3, §5.4.4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives import hashes
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.verifier import SignatureConfiguration

__all__ = ["ENVELOPED", "EXC_C14N", "LEGACY", "STRICT", "AlgorithmPolicy"]

#: Exclusive XML Canonicalization 1.0, without comments (SAML Core §5.4.3).
EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
#: The enveloped-signature transform (XML Signature §6.6.4; SAML Core §5.4.4).
ENVELOPED: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

_SHA2_METHODS: Final[Mapping[SignatureMethod, Callable[[], hashes.HashAlgorithm]]] = {
    SignatureMethod.RSA_SHA256: hashes.SHA256,
    SignatureMethod.RSA_SHA384: hashes.SHA384,
    SignatureMethod.RSA_SHA512: hashes.SHA512,
}
_SHA2_DIGESTS: Final = frozenset(
    {DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512}
)


@dataclass(frozen=True)
class AlgorithmPolicy:
    """The signature methods and digests one verifier accepts."""

    allow_sha1: bool = False
    """Also accept RSA-SHA1 and SHA-1 (legacy peers that name it in their configuration)."""

    @property
    def signature_methods(self) -> frozenset[SignatureMethod]:
        methods = set(_SHA2_METHODS)
        if self.allow_sha1:
            methods.add(SignatureMethod.RSA_SHA1)
        return frozenset(methods)

    @property
    def digests(self) -> frozenset[DigestAlgorithm]:
        return _SHA2_DIGESTS | {DigestAlgorithm.SHA1} if self.allow_sha1 else _SHA2_DIGESTS

    def accepts_signature_method(self, uri: str | None) -> bool:
        return any(method.value == uri for method in self.signature_methods)

    def accepts_digest(self, uri: str | None) -> bool:
        return any(digest.value == uri for digest in self.digests)

    def redirect_hash(self, sig_alg: str) -> hashes.HashAlgorithm | None:
        """The hash behind an HTTP-Redirect ``SigAlg`` URI (RSA PKCS#1 v1.5), or ``None``."""
        for method, hash_cls in _SHA2_METHODS.items():
            if method.value == sig_alg:
                return hash_cls()
        if self.allow_sha1 and sig_alg == SignatureMethod.RSA_SHA1.value:
            return hashes.SHA1()  # noqa: S303 - only for a peer configured for SHA-1
        return None

    def signxml_configuration(self, *, ignore_ambiguous_key_info: bool = False
                              ) -> SignatureConfiguration:
        """signxml's check of the same allow-lists, with exactly one ``Reference``."""
        return SignatureConfiguration(
            signature_methods=self.signature_methods,
            digest_algorithms=self.digests,
            expect_references=1,
            ignore_ambiguous_key_info=ignore_ambiguous_key_info,
        )


#: SHA-2 only: every default.
STRICT: Final = AlgorithmPolicy()
#: SHA-2 plus SHA-1, for a peer whose configuration names SHA-1.
LEGACY: Final = AlgorithmPolicy(allow_sha1=True)
