"""AuthnRequest: parse (SAML Core §3.4.1) and check against the SP registry.

``parse_authn_request`` reads only what the IdP acts on; ``resolve_acs`` and
``check_post_signature`` are the named checks the SSO endpoint runs, each raising one error.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from lxml import etree
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.verifier import XMLVerifier

from idp.clock import parse_instant
from idp.errors import (
    MalformedRequest,
    RequestSignatureError,
    UnknownServiceProvider,
    UnregisteredACS,
    XMLError,
)
from idp.saml.constants import DS, SAML, SAMLP, Binding
from idp.saml.providers import ServiceProvider
from idp.saml.status import UnsupportedBinding
from idp.xml import parse, text_of

__all__ = ["MAX_REQUEST_ID", "AuthnRequest", "check_post_signature", "check_protocol_binding",
           "parse_authn_request", "resolve_acs", "resolve_sp"]

#: Longest AuthnRequest ID accepted. SAML Core §1.3.4 only requires enough randomness (at
#: least 128 bits); real SPs send 33-45 characters.
MAX_REQUEST_ID: Final = 256
#: xs:ID is an NCName (XML Namespaces §3): a letter or ``_`` first, then letters, digits,
#: ``.``, ``-`` and ``_`` (Unicode letters included); no spaces, no colons.
_NCNAME: Final = re.compile(r"[^\W\d][\w.\-]*")


@dataclass(frozen=True)
class AuthnRequest:
    """The parts of an ``<samlp:AuthnRequest>`` the IdP acts on."""

    id: str
    issuer: str
    issue_instant: dt.datetime
    destination: str | None = None
    acs_url: str | None = None
    acs_index: int | None = None
    protocol_binding: str | None = None
    force_authn: bool = False
    is_passive: bool = False
    name_id_format: str | None = None
    requested_contexts: tuple[str, ...] = ()
    has_signature: bool = False


def _bool(value: str | None, name: str) -> bool:
    if value is None:
        return False
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise MalformedRequest(f"AuthnRequest {name}={value!r} is not an xs:boolean")


def parse_authn_request(xml: bytes) -> tuple[AuthnRequest, etree._Element]:
    """Parse once with the hardened parser; return the request and its tree."""
    try:
        root = parse(xml)
    except XMLError as exc:
        raise MalformedRequest(f"SAMLRequest: {exc}") from None
    if root.tag != f"{SAMLP}AuthnRequest":
        raise MalformedRequest(f"expected a samlp:AuthnRequest, got {etree.QName(root).localname}")
    if root.get("Version") != "2.0":
        raise MalformedRequest(f"AuthnRequest Version must be 2.0, not {root.get('Version')!r}")
    request_id = root.get("ID")
    if not request_id:
        raise MalformedRequest("AuthnRequest has no ID")
    if len(request_id) > MAX_REQUEST_ID:
        raise MalformedRequest(
            f"AuthnRequest ID is {len(request_id)} characters long; this IdP accepts at most "
            f"{MAX_REQUEST_ID} (the ID is kept while the user signs in and returned as "
            "InResponseTo)")
    if not _NCNAME.fullmatch(request_id):
        raise MalformedRequest(
            f"AuthnRequest ID {request_id[:64]!r} is not an XML ID (SAML Core §1.3.4: xs:ID, "
            "a name that starts with a letter or '_' and has no spaces or colons)")
    issuer_el = root.find(f"{SAML}Issuer")
    if issuer_el is None or not text_of(issuer_el).strip():
        raise MalformedRequest("AuthnRequest has no Issuer, so the service provider is unknown")
    try:
        issue_instant = parse_instant(root.get("IssueInstant") or "")
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 shifted out of range
        raise MalformedRequest("AuthnRequest IssueInstant is missing or not a dateTime") from None
    index_text = root.get("AssertionConsumerServiceIndex")
    try:
        acs_index = int(index_text) if index_text is not None else None
    except ValueError:
        raise MalformedRequest("AssertionConsumerServiceIndex is not a number") from None
    policy = root.find(f"{SAMLP}NameIDPolicy")
    contexts = root.findall(f"{SAMLP}RequestedAuthnContext/{SAML}AuthnContextClassRef")
    request = AuthnRequest(
        id=request_id,
        issuer=text_of(issuer_el).strip(),
        issue_instant=issue_instant,
        destination=root.get("Destination"),
        acs_url=root.get("AssertionConsumerServiceURL"),
        acs_index=acs_index,
        protocol_binding=root.get("ProtocolBinding"),
        force_authn=_bool(root.get("ForceAuthn"), "ForceAuthn"),
        is_passive=_bool(root.get("IsPassive"), "IsPassive"),
        name_id_format=policy.get("Format") if policy is not None else None,
        requested_contexts=tuple(text_of(c).strip() for c in contexts),
        has_signature=root.find(f"{DS}Signature") is not None,
    )
    return request, root


def resolve_sp(entity_id: str, registry: Mapping[str, ServiceProvider]) -> ServiceProvider:
    sp = registry.get(entity_id)
    if sp is None:
        raise UnknownServiceProvider(
            f"The service provider {entity_id!r} is not registered with this IdP. "
            "Add it under service_providers in the directory file."
        )
    return sp


def resolve_acs(request: AuthnRequest, sp: ServiceProvider) -> str:
    """Where the response goes: the requested ACS if registered, else the SP's default.

    SAML Core §3.4.1: the URL and the index are mutually exclusive; a URL that is not one
    registered for the SP is refused, never trusted (it would leak the assertion).
    """
    if request.acs_url is not None and request.acs_index is not None:
        raise MalformedRequest(
            "AuthnRequest has both AssertionConsumerServiceURL and ...Index; SAML allows one"
        )
    if request.acs_url is not None:
        if request.acs_url not in sp.acs_urls:
            raise UnregisteredACS(
                f"AssertionConsumerServiceURL {request.acs_url!r} is not registered for "
                f"{sp.entity_id}. Registered: {', '.join(sp.acs_urls)}"
            )
        return request.acs_url
    if request.acs_index is not None:
        if not 0 <= request.acs_index < len(sp.acs_urls):
            raise UnregisteredACS(
                f"AssertionConsumerServiceIndex {request.acs_index} is not registered for "
                f"{sp.entity_id} (it has {len(sp.acs_urls)} ACS URL(s), indexes from 0)"
            )
        return sp.acs_urls[request.acs_index]
    return sp.default_acs


def check_protocol_binding(protocol_binding: str | None) -> None:
    """The IdP answers over HTTP-POST only (what AWS and browsers use)."""
    if protocol_binding not in (None, Binding.POST.value):
        raise UnsupportedBinding(f"this IdP answers over HTTP-POST only, not {protocol_binding}")


def check_post_signature(root: etree._Element, sp: ServiceProvider) -> None:
    """Verify an enveloped ``ds:Signature`` over the whole AuthnRequest (POST binding)."""
    if root.find(f"{DS}Signature") is None:
        raise RequestSignatureError("this service provider requires signed AuthnRequests")
    config = sp.algorithms.signxml_configuration()
    for pem in sp.certificates:
        try:
            result = XMLVerifier().verify(
                root, x509_cert=pem, id_attribute="ID", expect_config=config
            )
        except (InvalidSignature, InvalidInput, ValueError, TypeError, etree.DocumentInvalid):
            # signxml lets ValueError (non-ASCII SignatureValue), TypeError (empty one) and
            # DocumentInvalid (its XMLDSig schema check, e.g. an empty <ds:KeyInfo/>) escape:
            # each is a failed verification, never a server error.
            continue
        signed = result.signed_xml if not isinstance(result, list) else None
        if signed is None or signed.tag != root.tag or signed.get("ID") != root.get("ID"):
            raise RequestSignatureError("the signature does not cover the AuthnRequest itself")
        return
    raise RequestSignatureError("AuthnRequest signature does not verify with the SP's certificate")
