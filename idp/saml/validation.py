"""SP-side verification of a SAML Response: a pipeline of named checks, each raising one error.

The order is the simulator's own hardening, after the W3C "XML Signature Best Practices" note
and Somorovsky et al., "On Breaking SAML" (USENIX Security 2012): parse once (hardened) →
structure → signature shape and algorithm allow-lists (before any digest is computed) →
cryptographic verification with the *provider's* certificates only (KeyInfo ignored;
``idp.saml.dsig``) → SAML semantics read **only** from the verified element: the tree parsed
back from the canonical bytes the signature's digest covers.

Every failure is a ``SamlValidationError`` whose ``rule`` is one of ``Rule``; callers (the
console, the STS) map rules to their own wording.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, cast

from lxml import etree

from idp.clock import parse_instant
from idp.errors import Rule, SamlValidationError, XMLError
from idp.saml import dsig
from idp.saml.algorithms import LEGACY, STRICT, AlgorithmPolicy
from idp.saml.constants import DS, SAML, SAMLP, ConfirmationMethod, StatusCode
from idp.xml import parse, text_of

__all__ = [
    "TrustedIssuer",
    "ValidationPolicy",
    "VerifiedAssertion",
    "check_status",
    "parse_response",
    "verify_response",
]


#: The cryptographic verifier (``idp.saml.dsig.Verifier``), one instance per signature checked,
#: under the name the attack tests replace to prove every allow-list runs before it.
XMLVerifier = dsig.Verifier


def _fail(rule: Rule, message: str, hint: str | None = None) -> SamlValidationError:
    return SamlValidationError(rule, message, hint=hint)


def _child(el: etree._Element, tag: str) -> etree._Element | None:
    """The first child element named ``tag`` (``el.find(tag)`` without an ElementPath)."""
    for child in el.iterchildren(tag):
        return child
    return None


@dataclass(frozen=True)
class TrustedIssuer:
    """What an SP trusts about one IdP: its entityID and signing certificates (PEM)."""

    entity_id: str
    certificates: tuple[str, ...]
    allow_sha1: bool = False
    """Accept RSA-SHA1 / SHA-1 (legacy IdPs); never MD5 or HMAC."""
    require_assertion_signed: bool = False
    """Refuse a Response whose Assertion is not signed itself (AWS's metadata wants it)."""
    require_response_signed: bool = False
    """Refuse a Response that is not signed as a whole."""

    @property
    def algorithms(self) -> AlgorithmPolicy:
        return LEGACY if self.allow_sha1 else STRICT


@dataclass(frozen=True)
class ValidationPolicy:
    """The SP's side of the checks: where it lives, what it is called, how lenient with time."""

    now: dt.datetime
    accepted_recipients: frozenset[str]
    accepted_audiences: frozenset[str]
    skew: int = 60
    max_age: int | None = 300
    """Seconds an assertion may be old (AWS: 5 minutes); ``None`` disables the check."""
    expected_in_response_to: str | None = None
    """The ID of the AuthnRequest this Response must answer (SP-initiated), if any."""
    unsolicited_only: bool = False
    """This SP never sends AuthnRequests (AWS sign-in and STS), so every Response it gets is
    unsolicited and must carry no ``InResponseTo`` (SAML Profiles §4.1.5)."""


@dataclass(frozen=True)
class VerifiedAssertion:
    """Claims read from the verified Assertion only. Nothing here came from unsigned XML."""

    assertion_id: str
    issuer: str
    issue_instant: dt.datetime
    name_id: str
    name_id_format: str
    recipient: str
    audiences: tuple[str, ...]
    not_on_or_after: dt.datetime
    session_not_on_or_after: dt.datetime | None
    authn_instant: dt.datetime | None
    in_response_to: str | None
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    signed: str = "assertion"
    """Which signature(s) covered it: ``assertion``, ``response`` or ``both``."""


# --- structure --------------------------------------------------------------------------------


def parse_response(xml: bytes) -> etree._Element:
    """The one hardened parse (``idp.xml.parse``), failing as the verifier's ``xml`` rule.

    Parse once and hand the tree to ``verify_response`` for every provider to check against.
    """
    try:
        return parse(xml)
    except XMLError as exc:
        raise _fail(Rule.XML, f"the SAMLResponse is not acceptable XML: {exc}",
                    "serialize the Response as UTF-8, with no DOCTYPE") from None


#: Local names counted in *any* namespace (or none): foreign-namespace decoys count too.
_COUNTED: Final = ("Assertion", "Response", "Signature", "EncryptedAssertion")
_COUNTED_TAGS: Final = tuple(f"{{*}}{name}" for name in _COUNTED)
#: Every non-empty ``ID`` attribute (no namespace) in the subtree, the root's included.
_IDS: Final = etree.XPath("descendant-or-self::*/@ID", smart_strings=False)


@dataclass(frozen=True, slots=True)
class _Structure:
    assertion: etree._Element
    signatures: int
    """Elements named Signature anywhere, in any namespace."""


def _count_local(root: etree._Element) -> dict[str, int]:
    """Elements with each ``_COUNTED`` local name in *any* namespace: one walk, in libxml2."""
    counts = dict.fromkeys(_COUNTED, 0)
    for el in root.iter(*_COUNTED_TAGS):
        tag = el.tag
        counts[tag[tag.rfind("}") + 1:]] += 1
    return counts


def _check_structure(root: etree._Element) -> _Structure:
    """One Response, exactly one Assertion (a direct child), no decoys, unique IDs."""
    if root.tag != f"{SAMLP}Response":
        raise _fail(Rule.STRUCTURE, f"the document is a {etree.QName(root).localname}, "
                    "not a samlp:Response", "POST the whole <samlp:Response>, base64-encoded")
    if root.get("Version") != "2.0" or not root.get("ID"):
        raise _fail(Rule.STRUCTURE, "the Response needs Version=\"2.0\" and an ID")
    counts = _count_local(root)
    if counts["EncryptedAssertion"]:
        raise _fail(Rule.STRUCTURE, "encrypted assertions are not supported by this simulator",
                    "configure the IdP not to encrypt assertions for this SP")
    assertions = list(root.iterchildren(f"{SAML}Assertion"))
    if len(assertions) != 1 or counts["Assertion"] != 1:
        raise _fail(Rule.STRUCTURE, f"the Response must contain exactly one Assertion "
                    f"(found {counts['Assertion']}, {len(assertions)} as direct "
                    "children in the SAML namespace)")
    if counts["Response"] != 1:
        raise _fail(Rule.STRUCTURE, "a second element named Response is nested in the document")
    ids = [value for value in cast(list[str], _IDS(root)) if value]
    if len(ids) != len(set(ids)):
        raise _fail(Rule.STRUCTURE, "two elements share the same ID")
    return _Structure(assertions[0], counts["Signature"])


def check_status(root: etree._Element) -> None:
    """Refuse a Response whose top-level status is not Success (``Rule.STATUS``).

    ``verify_response`` runs it too; the console runs it first, so that an IdP's NoPassive or
    AuthnFailed answer is diagnosed as such rather than as a missing Role attribute. A document
    that is not a ``samlp:Response`` has no status to judge (the structure check refuses it).
    """
    if root.tag != f"{SAMLP}Response":
        return
    status = _child(root, f"{SAMLP}Status")
    code = _child(status, f"{SAMLP}StatusCode") if status is not None else None
    value = code.get("Value") if code is not None else None
    if value != StatusCode.SUCCESS.value:
        sub = code.find(f"{SAMLP}StatusCode") if code is not None else None
        detail = f" / {sub.get('Value')}" if sub is not None else ""
        message = root.findtext(f"{SAMLP}Status/{SAMLP}StatusMessage")
        raise _fail(Rule.STATUS, f"the IdP answered with status {value}{detail}"
                    + (f": {message}" if message else ""))


# --- signatures -------------------------------------------------------------------------------


def _own_signature(el: etree._Element) -> etree._Element | None:
    sigs = list(el.iterchildren(f"{DS}Signature"))
    if len(sigs) > 1:
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {etree.QName(el).localname} has two signatures")
    if sigs:
        issuer = _child(el, f"{SAML}Issuer")
        if issuer is None or sigs[0].getprevious() is not issuer:
            raise _fail(Rule.SIGNATURE_SHAPE, "a signature must come right after the Issuer")
    return sigs[0] if sigs else None


def _verify(parts: dsig.SignatureParts, trust: TrustedIssuer) -> etree._Element:
    """Cryptographic check with the provider's certificates; returns the signed element, parsed
    back from the canonical bytes its digest covers (nothing unsigned, no comments)."""
    signed = XMLVerifier().verify(parts, certificates=trust.certificates).element
    el = parts.element
    if signed.tag != el.tag or signed.get("ID") != el.get("ID"):
        raise _fail(Rule.SIGNATURE_SHAPE, "the signature does not cover its own element")
    return signed


def _verified_assertion(root: etree._Element, structure: _Structure,
                        trust: TrustedIssuer) -> tuple[etree._Element, str]:
    assertion = structure.assertion
    response_sig = _own_signature(root)
    assertion_sig = _own_signature(assertion)
    if structure.signatures != (response_sig is not None) + (assertion_sig is not None):
        raise _fail(Rule.SIGNATURE_SHAPE, "a signature sits somewhere other than directly in "
                    "the Response or the Assertion")
    if assertion_sig is None and (response_sig is None or trust.require_assertion_signed):
        raise _fail(Rule.SIGNATURE_MISSING, "the Assertion is not signed",
                    "AWS expects a signed Assertion (WantAssertionsSigned=\"true\")")
    if response_sig is None and trust.require_response_signed:
        raise _fail(Rule.SIGNATURE_MISSING, "the Response is not signed, and this provider "
                    "requires a signed Response", "sign the Response as well as the Assertion")
    # Every shape and algorithm check, for both signatures, before anything is digested.
    accepted = trust.algorithms
    response_parts = (dsig.read_signature(response_sig, root, accepted)
                      if response_sig is not None else None)
    assertion_parts = (dsig.read_signature(assertion_sig, assertion, accepted)
                       if assertion_sig is not None else None)
    verified_response = _verify(response_parts, trust) if response_parts is not None else None
    if assertion_parts is not None:
        signed = _verify(assertion_parts, trust)
        return signed, "both" if verified_response is not None else "assertion"
    assert verified_response is not None
    inner = list(verified_response.iterchildren(f"{SAML}Assertion"))
    if len(inner) != 1:
        raise _fail(Rule.STRUCTURE, "the signed Response does not hold exactly one Assertion")
    return inner[0], "response"


# --- semantics (read from the verified element only) ------------------------------------------


def _instant(el: etree._Element, name: str, rule: Rule) -> dt.datetime:
    value = el.get(name)
    try:
        return parse_instant(value or "")
    except ValueError:
        raise _fail(rule, f"{etree.QName(el).localname}/@{name} is missing or not a dateTime "
                    f"({value!r})") from None


def _check_time(policy: ValidationPolicy, el: etree._Element, what: str) -> dt.datetime:
    skew = dt.timedelta(seconds=policy.skew)
    not_after = _instant(el, "NotOnOrAfter", Rule.CONFIRMATION)
    if el.get("NotBefore") is not None:
        not_before = _instant(el, "NotBefore", Rule.NOT_YET_VALID)
        if policy.now + skew < not_before:
            raise _fail(Rule.NOT_YET_VALID, f"{what} NotBefore {el.get('NotBefore')} is in the "
                        f"future (now {policy.now:%Y-%m-%dT%H:%M:%SZ}, skew {policy.skew} s)",
                        "check the IdP's clock")
    if policy.now - skew >= not_after:
        raise _fail(Rule.EXPIRED, f"{what} NotOnOrAfter {el.get('NotOnOrAfter')} has passed "
                    f"(now {policy.now:%Y-%m-%dT%H:%M:%SZ}, skew {policy.skew} s)",
                    "sign in again; the assertion is only valid for a few minutes")
    return not_after


def _subject(assertion: etree._Element, policy: ValidationPolicy
             ) -> tuple[etree._Element, str, dt.datetime, str | None]:
    subject = _child(assertion, f"{SAML}Subject")
    name_id = _child(subject, f"{SAML}NameID") if subject is not None else None
    if subject is None or name_id is None or not text_of(name_id).strip():
        raise _fail(Rule.SUBJECT, "the Assertion has no Subject with a NameID",
                    "AWS refuses assertions without a NameID")
    confirmations = list(subject.iterchildren(f"{SAML}SubjectConfirmation"))
    bearer = [c for c in confirmations if c.get("Method") == ConfirmationMethod.BEARER.value]
    if len(confirmations) != 1 or len(bearer) != 1:
        raise _fail(Rule.CONFIRMATION, f"there must be exactly one bearer SubjectConfirmation "
                    f"(found {len(confirmations)}, {len(bearer)} bearer)")
    data = _child(bearer[0], f"{SAML}SubjectConfirmationData")
    if data is None or data.get("Recipient") is None or data.get("NotOnOrAfter") is None:
        raise _fail(Rule.CONFIRMATION, "SubjectConfirmationData needs both Recipient and "
                    "NotOnOrAfter")
    recipient = str(data.get("Recipient"))
    if recipient not in policy.accepted_recipients:
        raise _fail(Rule.RECIPIENT, f"Recipient {recipient} does not match this endpoint",
                    "set the ACS URL to one of: " + ", ".join(sorted(policy.accepted_recipients)))
    not_after = _check_time(policy, data, "SubjectConfirmationData")
    return name_id, recipient, not_after, data.get("InResponseTo")


def _conditions(assertion: etree._Element, policy: ValidationPolicy) -> tuple[str, ...]:
    conditions = _child(assertion, f"{SAML}Conditions")
    if conditions is None:
        raise _fail(Rule.AUDIENCE, "the Assertion has no Conditions, so no audience")
    if conditions.get("NotOnOrAfter") is not None:
        _check_time(policy, conditions, "Conditions")
    elif conditions.get("NotBefore") is not None:
        not_before = _instant(conditions, "NotBefore", Rule.NOT_YET_VALID)
        if policy.now + dt.timedelta(seconds=policy.skew) < not_before:
            raise _fail(Rule.NOT_YET_VALID, "Conditions NotBefore is in the future")
    restrictions = list(conditions.iterchildren(f"{SAML}AudienceRestriction"))
    audiences: list[str] = []
    for restriction in restrictions:
        values = [text_of(a).strip() for a in restriction.iterchildren(f"{SAML}Audience")]
        audiences.extend(values)
        if not policy.accepted_audiences.intersection(values):
            break
    else:
        if restrictions:
            return tuple(audiences)
    raise _fail(Rule.AUDIENCE, f"no accepted audience (found: {', '.join(audiences) or 'none'})",
                "the audience must be urn:amazon:webservices (or the sign-in URL)")


def _attributes(assertion: etree._Element) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for statement in assertion.iterchildren(f"{SAML}AttributeStatement"):
        for attr in statement.iterchildren(f"{SAML}Attribute"):
            name = attr.get("Name") or ""
            values = tuple([text_of(v).strip()
                            for v in attr.iterchildren(f"{SAML}AttributeValue")])
            out[name] = out.get(name, ()) + values
    return out


def _check_in_response_to(root: etree._Element, confirmation: str | None,
                          policy: ValidationPolicy) -> None:
    """``InResponseTo`` on the Response and on the bearer SubjectConfirmationData.

    SAML Profiles §4.1.5: "An unsolicited <Response> MUST NOT contain an InResponseTo
    attribute, nor should any bearer <SubjectConfirmationData> elements contain one." An SP
    that never sends AuthnRequests (``unsolicited_only``) refuses either; an SP waiting for
    one request's answer (``expected_in_response_to``) needs the confirmation to name it.
    """
    if policy.unsolicited_only:
        found = {where: value for where, value in (
            ("the Response", root.get("InResponseTo")),
            ("the bearer SubjectConfirmationData", confirmation)) if value is not None}
        if found:
            raise _fail(Rule.IN_RESPONSE_TO, f"{' and '.join(found)} carr"
                        f"{'y' if len(found) > 1 else 'ies'} InResponseTo "
                        f"{', '.join(sorted(set(found.values())))}, but this SP never sends "
                        "AuthnRequests: every Response it accepts is unsolicited",
                        "AWS sign-in is IdP-initiated only: send the Response without "
                        "InResponseTo (SAML Profiles 4.1.5: an unsolicited Response MUST NOT "
                        "contain one); start the sign-in at the IdP, not with an AuthnRequest")
    if policy.expected_in_response_to is not None and (
            confirmation != policy.expected_in_response_to):
        raise _fail(Rule.IN_RESPONSE_TO, f"InResponseTo {confirmation} does not match the "
                    f"request {policy.expected_in_response_to}")


def verify_response(xml: bytes | etree._Element, *, trust: TrustedIssuer,
                    policy: ValidationPolicy) -> VerifiedAssertion:
    """Run every check; return claims read only from the verified Assertion.

    ``xml`` is the raw document or the tree ``parse_response`` made of it (not modified here).
    """
    root = parse_response(xml) if isinstance(xml, bytes) else xml
    structure = _check_structure(root)
    check_status(root)
    signed, how = _verified_assertion(root, structure, trust)
    issuer = _child(signed, f"{SAML}Issuer")
    issuer_value = text_of(issuer).strip() if issuer is not None else ""
    if issuer_value != trust.entity_id:
        raise _fail(Rule.ISSUER, f"Issuer {issuer_value or '(none)'} is not the provider's "
                    f"entityID {trust.entity_id}",
                    "upload this IdP's metadata to the SAML provider the Role attribute names")
    response_issuer = _child(root, f"{SAML}Issuer")
    if response_issuer is not None and text_of(response_issuer).strip() != trust.entity_id:
        # SAML Profiles §4.1.4.2: the Response's Issuer, when present, MUST be the IdP's.
        raise _fail(Rule.ISSUER, f"the Response's Issuer {text_of(response_issuer).strip()} "
                    f"is not the provider's entityID {trust.entity_id}",
                    "the Response and its Assertion must both name this IdP as Issuer")
    destination = root.get("Destination")
    if destination is not None and destination not in policy.accepted_recipients:
        raise _fail(Rule.DESTINATION, f"Destination {destination} does not match this endpoint",
                    "post the Response to the URL in its Destination")
    name_id, recipient, not_after, in_response_to = _subject(signed, policy)
    audiences = _conditions(signed, policy)
    issued = _instant(signed, "IssueInstant", Rule.STRUCTURE)
    skew = dt.timedelta(seconds=policy.skew)
    if issued > policy.now + skew:
        raise _fail(Rule.NOT_YET_VALID, "the Assertion's IssueInstant is in the future",
                    "check the IdP's clock")
    if policy.max_age is not None and issued < policy.now - dt.timedelta(
            seconds=policy.max_age) - skew:
        raise _fail(Rule.STALE, f"the Assertion was issued at {signed.get('IssueInstant')}, "
                    f"more than {policy.max_age // 60} minutes ago", "sign in again")
    _check_in_response_to(root, in_response_to, policy)
    statement = _child(signed, f"{SAML}AuthnStatement")
    session_end = (_instant(statement, "SessionNotOnOrAfter", Rule.STRUCTURE)
                   if statement is not None and statement.get("SessionNotOnOrAfter") else None)
    authn_instant = (_instant(statement, "AuthnInstant", Rule.STRUCTURE)
                     if statement is not None and statement.get("AuthnInstant") else None)
    return VerifiedAssertion(
        assertion_id=str(signed.get("ID")),
        issuer=issuer_value,
        issue_instant=issued,
        name_id=text_of(name_id).strip(),
        name_id_format=name_id.get("Format")
        or "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        recipient=recipient,
        audiences=audiences,
        not_on_or_after=not_after,
        session_not_on_or_after=session_end,
        authn_instant=authn_instant,
        in_response_to=in_response_to,
        attributes=_attributes(signed),
        signed=how,
    )
