"""SP-side verification of a SAML Response: a pipeline of named checks, each raising one error.

The order is the simulator's own hardening, after the W3C "XML Signature Best Practices" note
and Somorovsky et al., "On Breaking SAML" (USENIX Security 2012): parse once (hardened) →
structure → signature shape and algorithm allow-lists (before any digest is computed) →
cryptographic verification with the *provider's* certificates only (KeyInfo ignored) → SAML
semantics read **only** from the verified element (``VerifyResult.signed_xml``).

Every failure is a ``SamlValidationError`` whose ``rule`` is one of ``Rule``; callers (the
console, the STS) map rules to their own wording.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from lxml import etree
from signxml.exceptions import InvalidInput, InvalidSignature
from signxml.verifier import XMLVerifier

from idp.clock import parse_instant
from idp.errors import Rule, SamlValidationError, XMLError
from idp.saml.algorithms import ENVELOPED, EXC_C14N, LEGACY, STRICT, AlgorithmPolicy
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


def _fail(rule: Rule, message: str, hint: str | None = None) -> SamlValidationError:
    return SamlValidationError(rule, message, hint=hint)


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


def _count_local(root: etree._Element, name: str) -> int:
    """Elements with this local name in *any* namespace (foreign-namespace decoys count)."""
    return sum(1 for el in root.iter() if isinstance(el.tag, str)
               and etree.QName(el).localname == name)


def _check_structure(root: etree._Element) -> etree._Element:
    """One Response, exactly one Assertion (a direct child), no decoys, unique IDs."""
    if root.tag != f"{SAMLP}Response":
        raise _fail(Rule.STRUCTURE, f"the document is a {etree.QName(root).localname}, "
                    "not a samlp:Response", "POST the whole <samlp:Response>, base64-encoded")
    if root.get("Version") != "2.0" or not root.get("ID"):
        raise _fail(Rule.STRUCTURE, "the Response needs Version=\"2.0\" and an ID")
    if _count_local(root, "EncryptedAssertion"):
        raise _fail(Rule.STRUCTURE, "encrypted assertions are not supported by this simulator",
                    "configure the IdP not to encrypt assertions for this SP")
    assertions = root.findall(f"{SAML}Assertion")
    if len(assertions) != 1 or _count_local(root, "Assertion") != 1:
        raise _fail(Rule.STRUCTURE, f"the Response must contain exactly one Assertion "
                    f"(found {_count_local(root, 'Assertion')}, {len(assertions)} as direct "
                    "children in the SAML namespace)")
    if _count_local(root, "Response") != 1:
        raise _fail(Rule.STRUCTURE, "a second element named Response is nested in the document")
    ids = [el.get("ID") for el in root.iter() if isinstance(el.tag, str) and el.get("ID")]
    if len(ids) != len(set(ids)):
        raise _fail(Rule.STRUCTURE, "two elements share the same ID")
    return assertions[0]


def check_status(root: etree._Element) -> None:
    """Refuse a Response whose top-level status is not Success (``Rule.STATUS``).

    ``verify_response`` runs it too; the console runs it first, so that an IdP's NoPassive or
    AuthnFailed answer is diagnosed as such rather than as a missing Role attribute. A document
    that is not a ``samlp:Response`` has no status to judge (the structure check refuses it).
    """
    if root.tag != f"{SAMLP}Response":
        return
    code = root.find(f"{SAMLP}Status/{SAMLP}StatusCode")
    value = code.get("Value") if code is not None else None
    if value != StatusCode.SUCCESS.value:
        sub = code.find(f"{SAMLP}StatusCode") if code is not None else None
        detail = f" / {sub.get('Value')}" if sub is not None else ""
        message = root.findtext(f"{SAMLP}Status/{SAMLP}StatusMessage")
        raise _fail(Rule.STATUS, f"the IdP answered with status {value}{detail}"
                    + (f": {message}" if message else ""))


# --- signatures -------------------------------------------------------------------------------


def _children(el: etree._Element) -> list[etree._Element]:
    """Every child node, comments and PIs included (they have no business in signatures)."""
    return list(el)


def _is_base64(text: str) -> bool:
    compact = "".join(text.split())
    try:
        return bool(compact) and bool(base64.b64decode(compact, validate=True))
    except (binascii.Error, ValueError):
        return False


def _check_signature_shape(sig: etree._Element, parent: etree._Element, trust: TrustedIssuer
                           ) -> None:
    """The one layout we accept; anything else is refused before a digest is computed."""
    what = etree.QName(parent).localname
    kids = _children(sig)
    names = [etree.QName(k).localname if isinstance(k.tag, str) else "#other" for k in kids]
    if names not in (["SignedInfo", "SignatureValue"], ["SignedInfo", "SignatureValue", "KeyInfo"]):
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {what} signature has unexpected children: "
                    f"{', '.join(names)} (no Object, Manifest or second SignedInfo allowed)")
    signed_info = kids[0]
    info = [etree.QName(k).localname if isinstance(k.tag, str) else "#other"
            for k in _children(signed_info)]
    if info != ["CanonicalizationMethod", "SignatureMethod", "Reference"]:
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {what} signature's SignedInfo must hold exactly "
                    f"one Reference (found: {', '.join(info)})")
    signature_value = kids[1]
    if len(signature_value) or not _is_base64(signature_value.text or ""):
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {what} signature's SignatureValue must be "
                    "non-empty base64 text (no comments or elements inside)")
    c14n, method, reference = _children(signed_info)
    if c14n.get("Algorithm") != EXC_C14N:
        raise _fail(Rule.SIGNATURE_ALGORITHM, f"canonicalization {c14n.get('Algorithm')} is not "
                    "accepted; use exclusive C14N without comments", "xml-exc-c14n#")
    accepted = trust.algorithms
    if not accepted.accepts_signature_method(method.get("Algorithm")) or len(method):
        raise _fail(Rule.SIGNATURE_ALGORITHM, f"signature method {method.get('Algorithm')} is "
                    "not accepted", "sign with RSA-SHA256 (SHA-1 only if the provider allows it)")
    if reference.get("URI") != f"#{parent.get('ID')}":
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {what} signature references "
                    f"{reference.get('URI')!r}, not its own element #{parent.get('ID')}")
    ref_kids = _children(reference)
    ref_names = [etree.QName(k).localname if isinstance(k.tag, str) else "#other"
                 for k in ref_kids]
    if ref_names != ["Transforms", "DigestMethod", "DigestValue"]:
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {what} signature's Reference has unexpected "
                    f"children: {', '.join(ref_names)}")
    transforms, digest, digest_value = ref_kids
    algorithms = [t.get("Algorithm") for t in transforms if isinstance(t.tag, str)]
    if len(transforms) != len(algorithms) or algorithms not in (
        [ENVELOPED], [ENVELOPED, EXC_C14N]
    ):
        raise _fail(Rule.SIGNATURE_ALGORITHM, f"transforms {algorithms} are not accepted "
                    "(only enveloped-signature then exclusive C14N)")
    if not accepted.accepts_digest(digest.get("Algorithm")):
        raise _fail(Rule.SIGNATURE_ALGORITHM, f"digest {digest.get('Algorithm')} is not accepted",
                    "use SHA-256 digests")
    if len(digest_value):
        raise _fail(Rule.SIGNATURE_SHAPE, "DigestValue must be plain text (no comments or "
                    "elements inside)")


def _own_signature(el: etree._Element) -> etree._Element | None:
    sigs = el.findall(f"{DS}Signature")
    if len(sigs) > 1:
        raise _fail(Rule.SIGNATURE_SHAPE, f"the {etree.QName(el).localname} has two signatures")
    if sigs:
        issuer = el.find(f"{SAML}Issuer")
        if issuer is None or sigs[0].getprevious() is not issuer:
            raise _fail(Rule.SIGNATURE_SHAPE, "a signature must come right after the Issuer")
    return sigs[0] if sigs else None


def _verify(el: etree._Element, trust: TrustedIssuer) -> etree._Element:
    """Cryptographic check with the provider's certificates; returns the signed element."""
    config = trust.algorithms.signxml_configuration(ignore_ambiguous_key_info=True)
    # Verify the element on its own: exclusive C14N makes that exact, and it pins which
    # ds:Signature is checked (signxml would otherwise take the first in document order).
    standalone = etree.tostring(el)
    for pem in trust.certificates:
        try:
            result = XMLVerifier().verify(standalone, x509_cert=pem, id_attribute="ID",
                                          expect_config=config)
        except (InvalidSignature, InvalidInput, ValueError, TypeError, etree.LxmlError):
            # signxml lets TypeError (empty SignatureValue) and lxml's DocumentInvalid (schema)
            # escape on hostile input: each is a failed verification, never a server error.
            continue
        signed = result.signed_xml if not isinstance(result, list) else None
        if signed is None or signed.tag != el.tag or signed.get("ID") != el.get("ID"):
            raise _fail(Rule.SIGNATURE_SHAPE, "the signature does not cover its own element")
        return signed
    raise _fail(Rule.SIGNATURE_INVALID, f"the {etree.QName(el).localname} signature does not "
                f"verify with the {len(trust.certificates)} certificate(s) in the provider's "
                "metadata", "upload the IdP's current metadata to the SAML provider")


def _verified_assertion(root: etree._Element, assertion: etree._Element,
                        trust: TrustedIssuer) -> tuple[etree._Element, str]:
    response_sig = _own_signature(root)
    assertion_sig = _own_signature(assertion)
    if _count_local(root, "Signature") != (response_sig is not None) + (assertion_sig is not None):
        raise _fail(Rule.SIGNATURE_SHAPE, "a signature sits somewhere other than directly in "
                    "the Response or the Assertion")
    if assertion_sig is None and (response_sig is None or trust.require_assertion_signed):
        raise _fail(Rule.SIGNATURE_MISSING, "the Assertion is not signed",
                    "AWS expects a signed Assertion (WantAssertionsSigned=\"true\")")
    if response_sig is None and trust.require_response_signed:
        raise _fail(Rule.SIGNATURE_MISSING, "the Response is not signed, and this provider "
                    "requires a signed Response", "sign the Response as well as the Assertion")
    for sig, el in ((response_sig, root), (assertion_sig, assertion)):
        if sig is not None:
            _check_signature_shape(sig, el, trust)
    verified_response = _verify(root, trust) if response_sig is not None else None
    if assertion_sig is not None:
        signed = _verify(assertion, trust)
        return signed, "both" if verified_response is not None else "assertion"
    assert verified_response is not None
    inner = verified_response.findall(f"{SAML}Assertion")
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
    subject = assertion.find(f"{SAML}Subject")
    name_id = subject.find(f"{SAML}NameID") if subject is not None else None
    if subject is None or name_id is None or not text_of(name_id).strip():
        raise _fail(Rule.SUBJECT, "the Assertion has no Subject with a NameID",
                    "AWS refuses assertions without a NameID")
    confirmations = subject.findall(f"{SAML}SubjectConfirmation")
    bearer = [c for c in confirmations if c.get("Method") == ConfirmationMethod.BEARER.value]
    if len(confirmations) != 1 or len(bearer) != 1:
        raise _fail(Rule.CONFIRMATION, f"there must be exactly one bearer SubjectConfirmation "
                    f"(found {len(confirmations)}, {len(bearer)} bearer)")
    data = bearer[0].find(f"{SAML}SubjectConfirmationData")
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
    conditions = assertion.find(f"{SAML}Conditions")
    if conditions is None:
        raise _fail(Rule.AUDIENCE, "the Assertion has no Conditions, so no audience")
    if conditions.get("NotOnOrAfter") is not None:
        _check_time(policy, conditions, "Conditions")
    elif conditions.get("NotBefore") is not None:
        not_before = _instant(conditions, "NotBefore", Rule.NOT_YET_VALID)
        if policy.now + dt.timedelta(seconds=policy.skew) < not_before:
            raise _fail(Rule.NOT_YET_VALID, "Conditions NotBefore is in the future")
    restrictions = conditions.findall(f"{SAML}AudienceRestriction")
    audiences: list[str] = []
    for restriction in restrictions:
        values = [text_of(a).strip() for a in restriction.findall(f"{SAML}Audience")]
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
    for attr in assertion.iterfind(f"{SAML}AttributeStatement/{SAML}Attribute"):
        name = attr.get("Name") or ""
        values = tuple(text_of(v).strip() for v in attr.findall(f"{SAML}AttributeValue"))
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
    assertion = _check_structure(root)
    check_status(root)
    signed, how = _verified_assertion(root, assertion, trust)
    issuer = signed.find(f"{SAML}Issuer")
    issuer_value = text_of(issuer).strip() if issuer is not None else ""
    if issuer_value != trust.entity_id:
        raise _fail(Rule.ISSUER, f"Issuer {issuer_value or '(none)'} is not the provider's "
                    f"entityID {trust.entity_id}",
                    "upload this IdP's metadata to the SAML provider the Role attribute names")
    response_issuer = root.find(f"{SAML}Issuer")
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
    statement = signed.find(f"{SAML}AuthnStatement")
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
