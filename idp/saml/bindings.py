"""SAML HTTP bindings (SAML Bindings §3.4 Redirect, §3.5 POST), framework-free.

Inbound: decode an AuthnRequest from either binding and check a Redirect-binding signature
over the raw query string. Outbound: the auto-submitting POST form, as a value the web layer
renders.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote_plus

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from idp.errors import MalformedRequest, RequestSignatureError
from idp.saml.algorithms import AlgorithmPolicy

__all__ = [
    "MAX_INFLATED_BYTES",
    "PostForm",
    "decode_base64",
    "decode_post",
    "decode_redirect",
    "raw_params",
    "verify_redirect_signature",
]

#: A DEFLATE bomb stops here: no AuthnRequest needs more.
MAX_INFLATED_BYTES: Final = 128 * 1024



@dataclass(frozen=True)
class PostForm:
    """An HTTP-POST binding message: the page auto-submits ``fields`` to ``action``."""

    action: str
    saml_field: str
    """``SAMLResponse`` or ``SAMLRequest``."""
    saml_value: str
    relay_state: str | None = None


def decode_base64(value: str, *, max_bytes: int) -> bytes:
    """Strict base64 (whitespace tolerated, nothing else)."""
    if len(value) > max_bytes:
        raise MalformedRequest(f"SAML message is {len(value)} bytes; the limit is {max_bytes}")
    compact = "".join(value.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedRequest("SAML message is not valid base64") from None


def decode_redirect(value: str, *, max_bytes: int) -> bytes:
    """HTTP-Redirect: base64 of raw DEFLATE (RFC 1951) — Bindings §3.4.4.1."""
    raw = decode_base64(value, max_bytes=max_bytes)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        xml = inflater.decompress(raw, MAX_INFLATED_BYTES)
    except zlib.error:
        raise MalformedRequest(
            "SAMLRequest is not DEFLATE-compressed (the Redirect binding requires raw DEFLATE)"
        ) from None
    if inflater.unconsumed_tail:
        raise MalformedRequest(f"SAMLRequest inflates past {MAX_INFLATED_BYTES} bytes")
    if not inflater.eof:
        raise MalformedRequest("SAMLRequest DEFLATE stream is truncated")
    return xml


def decode_post(value: str, *, max_bytes: int) -> bytes:
    """HTTP-POST: plain base64 of the XML — Bindings §3.5.4."""
    raw = decode_base64(value, max_bytes=max_bytes)
    if not raw.lstrip().startswith(b"<"):
        raise MalformedRequest(
            "SAMLRequest is not XML after base64 decoding (the POST binding does not deflate)"
        )
    return raw


#: Parameters of the Redirect binding; each may appear at most once (Bindings §3.4.4.1).
_BINDING_PARAMS: Final = frozenset(
    {"SAMLRequest", "SAMLResponse", "RelayState", "SigAlg", "Signature"}
)


def raw_params(raw_query: str) -> dict[str, str]:
    """Query parameters as sent (values still URL-encoded), keyed by their *decoded* names.

    A repeated binding parameter is refused: otherwise the signature could be checked over
    one copy while the request is read from another.
    """
    out: dict[str, str] = {}
    for part in raw_query.split("&"):
        raw_name, _, value = part.partition("=")
        name = unquote_plus(raw_name)
        if not name:
            continue
        if name in out:
            if name in _BINDING_PARAMS:
                raise MalformedRequest(f"the query repeats the {name} parameter")
            continue
        out[name] = value
    return out


def verify_redirect_signature(
    raw_query: str, certificates: tuple[str, ...], *, algorithms: AlgorithmPolicy
) -> None:
    """Check ``Signature`` over ``SAMLRequest=…&RelayState=…&SigAlg=…`` (Bindings §3.4.4.1).

    The octets signed are the parameters *as they appear in the URL*, so the raw query string
    is used, never a re-encoding of decoded values.
    """
    params = raw_params(raw_query)
    if "Signature" not in params or "SigAlg" not in params:
        raise RequestSignatureError("this service provider requires signed AuthnRequests")
    sig_alg = unquote_plus(params["SigAlg"])
    digest = algorithms.redirect_hash(sig_alg)
    if digest is None:
        raise RequestSignatureError(f"signature algorithm {sig_alg!r} is not accepted")
    signed = "&".join(
        f"{name}={params[name]}" for name in ("SAMLRequest", "RelayState", "SigAlg")
        if name in params
    ).encode("ascii")
    try:
        signature = base64.b64decode(unquote_plus(params["Signature"]), validate=True)
    except (binascii.Error, ValueError):
        raise RequestSignatureError("Signature parameter is not base64") from None
    for pem in certificates:
        public_key = x509.load_pem_x509_certificate(pem.encode("ascii")).public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            continue
        try:
            public_key.verify(signature, signed, padding.PKCS1v15(), digest)
        except InvalidSignature:
            continue
        return
    raise RequestSignatureError("AuthnRequest signature does not verify with the SP's certificate")
