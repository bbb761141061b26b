"""Build ``<samlp:Response>`` / ``<saml:Assertion>`` trees (SAML Core §2, §3.3.3).

Pure construction from frozen specs, with lxml: the fixed part of each message is a prebuilt
skeleton tree, copied and filled in per message. Signing is ``idp.saml.signing``;
``build_response`` composes both according to a ``SigningPolicy``, signing the freshly built
elements in place (no copies, no re-parsing). ``build_assertion`` (the unsigned Assertion) and
``build_envelope`` (the unsigned Success Response around given Assertions) are its two halves,
for callers that must assemble a Response differently (``idp.faults`` breaks one on purpose).

``render_response`` is what the SSO step sends: ``build_response`` serialized. For the usual
Response (only the Assertion signed, every value plain text) it writes those same bytes from
text templates instead of a tree; a value with anything XML would escape or refuse sends the
Response through the tree (see ``_UNSAFE``), so no value is ever escaped by hand.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

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
from idp.saml.signing import SigningPolicy, sign_in_place, signature_text
from idp.xml import to_bytes

__all__ = [
    "Attribute",
    "AuthnInfo",
    "ResponseSpec",
    "build_assertion",
    "build_envelope",
    "build_response",
    "build_status_response",
    "new_id",
    "render_response",
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


# Skeletons copied for every message (one C-level copy instead of a dozen element
# constructions); every value in them is overwritten before use. Attribute order in the
# skeletons is the order written on the wire. Only ever read after import, which lxml allows
# from any thread.

_RESPONSE_ROOT: Final = etree.Element(
    f"{SAMLP}Response", nsmap={"samlp": NS["samlp"], "saml": NS["saml"]},
    attrib={"ID": "", "Version": "2.0", "IssueInstant": "", "Destination": ""})
etree.SubElement(_RESPONSE_ROOT, f"{SAML}Issuer")

_SUCCESS_ROOT: Final = copy.deepcopy(_RESPONSE_ROOT)
etree.SubElement(etree.SubElement(_SUCCESS_ROOT, f"{SAMLP}Status"), f"{SAMLP}StatusCode",
                 Value=StatusCode.SUCCESS.value)


def _assertion_skeleton() -> etree._Element:
    a = etree.Element(f"{SAML}Assertion",
                      nsmap={"saml": NS["saml"], "xs": NS["xs"], "xsi": NS["xsi"]},
                      attrib={"ID": "", "Version": "2.0", "IssueInstant": ""})
    _el(a, "saml", "Issuer")
    subject = _el(a, "saml", "Subject")
    _el(subject, "saml", "NameID", Format="")
    confirmation = _el(subject, "saml", "SubjectConfirmation", Method=ConfirmationMethod.BEARER)
    _el(confirmation, "saml", "SubjectConfirmationData", NotOnOrAfter="", Recipient="")
    conditions = _el(a, "saml", "Conditions", NotBefore="", NotOnOrAfter="")
    _el(_el(conditions, "saml", "AudienceRestriction"), "saml", "Audience")
    statement = _el(a, "saml", "AuthnStatement", AuthnInstant="", SessionIndex="",
                    SessionNotOnOrAfter="")
    _el(_el(statement, "saml", "AuthnContext"), "saml", "AuthnContextClassRef")
    return a


_ASSERTION: Final = _assertion_skeleton()
_ATTRIBUTE_STATEMENT: Final = f"{SAML}AttributeStatement"
_ATTRIBUTE: Final = f"{SAML}Attribute"
_ATTRIBUTE_VALUE: Final = f"{SAML}AttributeValue"
_XS_STRING: Final = {f"{XSI}type": "xs:string"}


def _response_root(issuer: str, destination: str, now: dt.datetime,
                   in_response_to: str | None, *, success: bool = False) -> etree._Element:
    """``<samlp:Response>`` with its Issuer (and, if ``success``, its Success Status)."""
    root = copy.deepcopy(_SUCCESS_ROOT if success else _RESPONSE_ROOT)
    root.set("ID", new_id())
    root.set("IssueInstant", format_instant(now))
    root.set("Destination", destination)
    if in_response_to is not None:
        root.set("InResponseTo", in_response_to)
    root[0].text = issuer
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
    """The Assertion: the skeleton copied, its values set, the attributes added."""
    not_after = format_instant(spec.now + dt.timedelta(seconds=spec.lifetime))
    a = copy.deepcopy(_ASSERTION)
    a.set("ID", new_id())
    a.set("IssueInstant", format_instant(spec.now))
    issuer, subject, conditions, statement = a
    issuer.text = spec.issuer
    name_id, confirmation = subject
    name_id.text = spec.name_id
    name_id.set("Format", spec.name_id_format.value)
    if spec.sp_name_qualifier:
        name_id.set("SPNameQualifier", spec.sp_name_qualifier)
    data = confirmation[0]
    data.set("NotOnOrAfter", not_after)
    data.set("Recipient", spec.destination)
    if spec.in_response_to is not None:
        data.set("InResponseTo", spec.in_response_to)
    conditions.set("NotBefore", format_instant(spec.now - dt.timedelta(seconds=spec.skew)))
    conditions.set("NotOnOrAfter", not_after)
    conditions[0][0].text = spec.audience
    authn = spec.authn
    statement.set("AuthnInstant", format_instant(authn.instant))
    statement.set("SessionIndex", authn.session_index)
    statement.set("SessionNotOnOrAfter", format_instant(authn.session_not_on_or_after))
    statement[0][0].text = authn.context.value
    if spec.attributes:
        attributes = etree.SubElement(a, _ATTRIBUTE_STATEMENT)
        for attribute in spec.attributes:
            el = etree.SubElement(attributes, _ATTRIBUTE, Name=attribute.name,
                                  NameFormat=attribute.name_format)
            if attribute.friendly_name:
                el.set("FriendlyName", attribute.friendly_name)
            for value in attribute.values:
                etree.SubElement(el, _ATTRIBUTE_VALUE, attrib=_XS_STRING).text = value
    return a


def build_assertion(spec: ResponseSpec) -> etree._Element:
    """The unsigned ``<saml:Assertion>`` ``spec`` describes, with a fresh ID on every call."""
    return _assertion(spec)


def build_envelope(spec: ResponseSpec, *assertions: etree._Element) -> etree._Element:
    """The unsigned Success ``<samlp:Response>`` for ``spec`` (ID, IssueInstant, Destination,
    InResponseTo, Issuer, Status) holding ``assertions``, in order, as they are."""
    root = _response_root(spec.issuer, spec.destination, spec.now, spec.in_response_to,
                          success=True)
    for assertion in assertions:
        root.append(assertion)
    return root


def build_response(spec: ResponseSpec, keys: KeyPair, policy: SigningPolicy) -> etree._Element:
    """A Success Response with one Assertion, signed as ``policy`` says."""
    assertion = build_assertion(spec)
    if policy.sign_assertion:
        sign_in_place(assertion, keys, policy)
    root = build_envelope(spec, assertion)
    if policy.sign_response:
        sign_in_place(root, keys, policy)
    return root


# --- the same Response as text ----------------------------------------------------------------
#
# ``render_response`` writes what ``to_bytes(build_response(spec, keys, policy))`` writes, byte
# for byte, without building a tree: the Assertion once as its Exclusive C14N form (W3C
# Exclusive XML Canonicalization 1.0 §3: namespace declarations where first visibly used,
# attributes sorted, empty elements as start/end tag pairs) for the digest, and once as lxml
# serializes it inside the Response. Only values that neither form escapes are written this
# way (``_UNSAFE``); a Response with any other value is built as a tree.
# tests/saml/test_signing.py holds the two paths to the same bytes.

#: Characters XML escapes somewhere (``& < > "``; ``\t \n \r`` in attributes, ``\r`` in text)
#: or refuses (other C0 controls, lone surrogates, U+FFFE/U+FFFF); DEL and C1 out of caution.
_UNSAFE: Final = re.compile("[&<>\"\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SAML_NS: Final = f'xmlns:saml="{NS["saml"]}"'
_XSI_NS: Final = f'xmlns:xsi="{NS["xsi"]}"'
_VALUE_C14N: Final = f'<saml:AttributeValue {_XSI_NS} xsi:type="xs:string">'
_VALUE_WIRE: Final = '<saml:AttributeValue xsi:type="xs:string">'
_VALUE_END: Final = "</saml:AttributeValue>"


def _plain(*values: str | None) -> bool:
    """Whether every value goes into XML as it is (see ``_UNSAFE``)."""
    try:
        joined = "".join("" if value is None else value for value in values)
    except TypeError:  # not text: let lxml say what is wrong
        return False
    return _UNSAFE.search(joined) is None


#: ``_attribute_texts`` of recent attribute tuples, by identity (the IdP hands out the same
#: tuple for the same user and SP), each with its tuple so an ``id`` is never reused meanwhile.
_ATTRIBUTE_TEXTS: dict[int, tuple[Sequence[Attribute], tuple[str, str] | None]] = {}
_ATTRIBUTE_TEXTS_MAX: Final = 1024


def _attribute_texts(attributes: Sequence[Attribute]) -> tuple[str, str] | None:
    """``_attributes_text(attributes)``, or ``None`` if a value is not plain."""
    key = id(attributes)
    known = _ATTRIBUTE_TEXTS.get(key)
    if known is not None and known[0] is attributes:
        return known[1]
    values = [v for a in attributes for v in (a.name, a.friendly_name, *a.values)]
    texts = _attributes_text(attributes) if _plain(*values) else None
    # Only what cannot change is remembered: tuples of (frozen) Attributes of tuples.
    if type(attributes) is tuple and all(type(a.values) is tuple for a in attributes):
        if len(_ATTRIBUTE_TEXTS) >= _ATTRIBUTE_TEXTS_MAX:
            _ATTRIBUTE_TEXTS.clear()
        _ATTRIBUTE_TEXTS[key] = (attributes, texts)
    return texts


def _attributes_text(attributes: Sequence[Attribute]) -> tuple[str, str]:
    """The AttributeStatement: (exclusive C14N form, serialized form)."""
    if not attributes:
        return "", ""
    c14n = ["<saml:AttributeStatement>"]
    wire = ["<saml:AttributeStatement>"]
    for attribute in attributes:
        name = f'Name="{attribute.name}" NameFormat="{attribute.name_format}"'
        if attribute.friendly_name:
            c14n.append(f'<saml:Attribute FriendlyName="{attribute.friendly_name}" {name}>')
            wire.append(f'<saml:Attribute {name} FriendlyName="{attribute.friendly_name}"')
        else:
            c14n.append(f"<saml:Attribute {name}>")
            wire.append(f"<saml:Attribute {name}")
        if attribute.values:
            c14n.append("".join(f"{_VALUE_C14N}{v}{_VALUE_END}" for v in attribute.values))
            wire.append(">" + "".join(f"{_VALUE_WIRE}{v}{_VALUE_END}" for v in attribute.values)
                        + "</saml:Attribute>")
        else:
            wire.append("/>")
        c14n.append("</saml:Attribute>")
    c14n.append("</saml:AttributeStatement>")
    wire.append("</saml:AttributeStatement>")
    return "".join(c14n), "".join(wire)


def _response_text(spec: ResponseSpec, keys: KeyPair, policy: SigningPolicy,
                   attributes: tuple[str, str]) -> bytes:
    attributes_c14n, attributes_wire = attributes
    assertion_id = new_id()
    now = format_instant(spec.now)
    not_after = format_instant(spec.now + dt.timedelta(seconds=spec.lifetime))
    not_before = format_instant(spec.now - dt.timedelta(seconds=spec.skew))
    name_id = f'<saml:NameID Format="{spec.name_id_format.value}"'
    if spec.sp_name_qualifier:
        name_id += f' SPNameQualifier="{spec.sp_name_qualifier}"'
    name_id += f">{spec.name_id}</saml:NameID>"
    confirmation = f'<saml:SubjectConfirmation Method="{ConfirmationMethod.BEARER.value}">'
    window = f'NotOnOrAfter="{not_after}" Recipient="{spec.destination}"'
    in_response_to = (f' InResponseTo="{spec.in_response_to}"'
                      if spec.in_response_to is not None else "")
    authn = spec.authn
    rest = (f'<saml:Conditions NotBefore="{not_before}" NotOnOrAfter="{not_after}">'
            f"<saml:AudienceRestriction><saml:Audience>{spec.audience}</saml:Audience>"
            "</saml:AudienceRestriction></saml:Conditions>"
            f'<saml:AuthnStatement AuthnInstant="{format_instant(authn.instant)}" '
            f'SessionIndex="{authn.session_index}" '
            f'SessionNotOnOrAfter="{format_instant(authn.session_not_on_or_after)}">'
            "<saml:AuthnContext><saml:AuthnContextClassRef>"
            f"{authn.context.value}</saml:AuthnContextClassRef></saml:AuthnContext>"
            "</saml:AuthnStatement>")
    issuer = f"<saml:Issuer>{spec.issuer}</saml:Issuer>"
    canonical = (
        f'<saml:Assertion {_SAML_NS} ID="{assertion_id}" IssueInstant="{now}" Version="2.0">'
        f"{issuer}<saml:Subject>{name_id}{confirmation}"
        f"<saml:SubjectConfirmationData{in_response_to} {window}>"
        "</saml:SubjectConfirmationData></saml:SubjectConfirmation></saml:Subject>"
        f"{rest}{attributes_c14n}</saml:Assertion>"
    )
    signature = signature_text(assertion_id, canonical.encode(), keys, policy)
    response = (
        f'<samlp:Response xmlns:samlp="{NS["samlp"]}" {_SAML_NS} ID="{new_id()}" '
        f'Version="2.0" IssueInstant="{now}" Destination="{spec.destination}"'
        f"{in_response_to}>{issuer}<samlp:Status>"
        f'<samlp:StatusCode Value="{StatusCode.SUCCESS.value}"/></samlp:Status>'
        f'<saml:Assertion xmlns:xs="{NS["xs"]}" {_XSI_NS} ID="{assertion_id}" Version="2.0" '
        f'IssueInstant="{now}">{issuer}{signature}<saml:Subject>{name_id}{confirmation}'
        f"<saml:SubjectConfirmationData {window}{in_response_to}/></saml:SubjectConfirmation>"
        f"</saml:Subject>{rest}{attributes_wire}</saml:Assertion></samlp:Response>"
    )
    return response.encode()


def render_response(spec: ResponseSpec, keys: KeyPair, policy: SigningPolicy) -> bytes:
    """``to_bytes(build_response(spec, keys, policy))``: the Response as sent, serialized.

    The usual case (the Assertion signed, the Response not, every value plain text: what AWS
    gets) is written directly as text, one canonicalization and one digest from the signature;
    anything else is built as a tree.
    """
    if policy.sign_assertion and not policy.sign_response:
        authn = spec.authn
        attributes = _attribute_texts(spec.attributes)
        if attributes is not None and _plain(
                spec.issuer, spec.destination, spec.audience, spec.name_id,
                spec.name_id_format.value, spec.sp_name_qualifier, spec.in_response_to,
                authn.session_index, authn.context.value):
            return _response_text(spec, keys, policy, attributes)
    return to_bytes(build_response(spec, keys, policy))


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
    sign_in_place(root, keys, policy)
    return root
