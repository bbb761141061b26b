"""Build ``<samlp:Response>`` / ``<saml:Assertion>`` trees (SAML Core §2, §3.3.3).

Pure construction from frozen specs, with lxml builders (never string templates). Signing is
``idp.saml.signing``; ``build_response`` composes both according to a ``SigningPolicy``.
``build_assertion`` (the unsigned Assertion) and ``build_envelope`` (the unsigned Success
Response around given Assertions) are its two halves, for callers that must assemble a
Response differently (``idp.faults`` breaks one on purpose).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from lxml import etree

from idp.clock import format_instant
from idp.keys import KeyPair
from idp.saml.constants import (
    NS,
    SAML,
    SAMLP,
    XSI,
    AuthnContextClass,
    ConfirmationMethod,
    NameIDFormat,
    StatusCode,
)
from idp.saml.signing import SigningPolicy, sign_element

__all__ = [
    "Attribute",
    "AuthnInfo",
    "ResponseSpec",
    "build_assertion",
    "build_envelope",
    "build_response",
    "build_status_response",
    "new_id",
]

_URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
_BASIC_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"


def new_id() -> str:
    """A fresh xs:ID (NCName: must not start with a digit)."""
    return "_" + secrets.token_hex(20)


@dataclass(frozen=True)
class Attribute:
    """One ``<saml:Attribute>``; ``name_format`` defaults by the shape of the name."""

    name: str
    values: tuple[str, ...]
    friendly_name: str | None = None

    @property
    def name_format(self) -> str:
        return _URI_FORMAT if ":" in self.name else _BASIC_FORMAT


@dataclass(frozen=True)
class AuthnInfo:
    """What the AuthnStatement says about the login."""

    instant: dt.datetime
    session_index: str
    context: AuthnContextClass
    session_not_on_or_after: dt.datetime


@dataclass(frozen=True)
class ResponseSpec:
    """Everything a successful Response says; times are computed from ``now``."""

    issuer: str
    destination: str
    audience: str
    name_id: str
    name_id_format: NameIDFormat
    authn: AuthnInfo
    now: dt.datetime
    lifetime: int = 300
    skew: int = 60
    in_response_to: str | None = None
    sp_name_qualifier: str | None = None
    attributes: Sequence[Attribute] = field(default_factory=tuple)


def _el(parent: etree._Element, ns: str, tag: str, text: str | None = None,
        **attrs: str) -> etree._Element:
    child = etree.SubElement(parent, f"{{{NS[ns]}}}{tag}", attrib=attrs)
    if text is not None:
        child.text = text
    return child


def _response_root(issuer: str, destination: str, now: dt.datetime,
                   in_response_to: str | None) -> etree._Element:
    root = etree.Element(
        f"{SAMLP}Response",
        nsmap={"samlp": NS["samlp"], "saml": NS["saml"]},
        ID=new_id(),
        Version="2.0",
        IssueInstant=format_instant(now),
        Destination=destination,
    )
    if in_response_to is not None:
        root.set("InResponseTo", in_response_to)
    _el(root, "saml", "Issuer", issuer)
    return root


def _status(parent: etree._Element, code: StatusCode, sub: StatusCode | None = None,
            message: str | None = None) -> None:
    status = _el(parent, "samlp", "Status")
    top = _el(status, "samlp", "StatusCode", Value=code.value)
    if sub is not None:
        _el(top, "samlp", "StatusCode", Value=sub.value)
    if message:
        _el(status, "samlp", "StatusMessage", message)


def _assertion(spec: ResponseSpec) -> etree._Element:
    not_before = spec.now - dt.timedelta(seconds=spec.skew)
    not_after = spec.now + dt.timedelta(seconds=spec.lifetime)
    a = etree.Element(
        f"{SAML}Assertion",
        nsmap={"saml": NS["saml"], "xs": NS["xs"], "xsi": NS["xsi"]},
        ID=new_id(),
        Version="2.0",
        IssueInstant=format_instant(spec.now),
    )
    _el(a, "saml", "Issuer", spec.issuer)
    subject = _el(a, "saml", "Subject")
    name_id = _el(subject, "saml", "NameID", spec.name_id, Format=spec.name_id_format.value)
    if spec.sp_name_qualifier:
        name_id.set("SPNameQualifier", spec.sp_name_qualifier)
    confirmation = _el(subject, "saml", "SubjectConfirmation", Method=ConfirmationMethod.BEARER)
    data = _el(confirmation, "saml", "SubjectConfirmationData",
               NotOnOrAfter=format_instant(not_after), Recipient=spec.destination)
    if spec.in_response_to is not None:
        data.set("InResponseTo", spec.in_response_to)
    conditions = _el(a, "saml", "Conditions", NotBefore=format_instant(not_before),
                     NotOnOrAfter=format_instant(not_after))
    restriction = _el(conditions, "saml", "AudienceRestriction")
    _el(restriction, "saml", "Audience", spec.audience)
    statement = _el(a, "saml", "AuthnStatement",
                    AuthnInstant=format_instant(spec.authn.instant),
                    SessionIndex=spec.authn.session_index,
                    SessionNotOnOrAfter=format_instant(spec.authn.session_not_on_or_after))
    context = _el(statement, "saml", "AuthnContext")
    _el(context, "saml", "AuthnContextClassRef", spec.authn.context.value)
    if spec.attributes:
        attributes = _el(a, "saml", "AttributeStatement")
        for attribute in spec.attributes:
            el = _el(attributes, "saml", "Attribute", Name=attribute.name,
                     NameFormat=attribute.name_format)
            if attribute.friendly_name:
                el.set("FriendlyName", attribute.friendly_name)
            for value in attribute.values:
                v = _el(el, "saml", "AttributeValue", value)
                v.set(f"{XSI}type", "xs:string")
    return a


def build_assertion(spec: ResponseSpec) -> etree._Element:
    """The unsigned ``<saml:Assertion>`` ``spec`` describes, with a fresh ID on every call."""
    return _assertion(spec)


def build_envelope(spec: ResponseSpec, *assertions: etree._Element) -> etree._Element:
    """The unsigned Success ``<samlp:Response>`` for ``spec`` (ID, IssueInstant, Destination,
    InResponseTo, Issuer, Status) holding ``assertions``, in order, as they are."""
    root = _response_root(spec.issuer, spec.destination, spec.now, spec.in_response_to)
    _status(root, StatusCode.SUCCESS)
    for assertion in assertions:
        root.append(assertion)
    return root


def build_response(spec: ResponseSpec, keys: KeyPair, policy: SigningPolicy) -> etree._Element:
    """A Success Response with one Assertion, signed as ``policy`` says."""
    assertion = build_assertion(spec)
    if policy.sign_assertion:
        assertion = sign_element(assertion, keys, policy)
    root = build_envelope(spec, assertion)
    if policy.sign_response:
        root = sign_element(root, keys, policy)
    return root


def build_status_response(
    *,
    issuer: str,
    destination: str,
    now: dt.datetime,
    status: StatusCode,
    sub_status: StatusCode | None,
    message: str | None,
    in_response_to: str | None,
    keys: KeyPair,
    policy: SigningPolicy,
) -> etree._Element:
    """A non-Success Response (no Assertion), always signed so the SP can trust the status."""
    root = _response_root(issuer, destination, now, in_response_to)
    _status(root, status, sub_status, message)
    return sign_element(root, keys, policy)
