"""Fault injection: the Response the IdP would have sent, broken in exactly one way on purpose.

A user proves that *their* service provider refuses a broken or hostile IdP by asking the
simulator to emit one. ``build_faulty_response`` takes what the IdP was about to sign (a
``ResponseSpec``, its key pair and the SP's ``SigningPolicy``) and returns the
``<samlp:Response>`` with one defect; everything else is exactly as in a genuine Response and
signed as the policy says, unless the fault is about signing. Framework-free and clock-free:
every instant comes from ``spec.now``.

What each fault breaks, and the SP rule it tests:

=====================  =========================================================================
fault                  what a conforming SP must refuse (public source)
=====================  =========================================================================
expired                SubjectConfirmationData/Conditions NotOnOrAfter passed (SAML Core
                       §2.4.1.2, §2.5.1.2; Profiles §4.1.4.2)
not-yet-valid          Conditions NotBefore / IssueInstant in the future (Core §2.5.1.2)
wrong-audience         AudienceRestriction naming another SP (Core §2.5.1.4)
wrong-recipient        bearer Recipient not this ACS (Profiles §4.1.4.2)
wrong-destination      Response Destination not this ACS (Core §3.2.2; Bindings §3.5.5.2)
unsigned               no signature at all (Profiles §4.1.3.5: over HTTP-POST each assertion
                       MUST be protected by a digital signature)
tampered               a signed claim changed after signing (XML Signature Core §3.2.1,
                       reference validation)
unknown-key            signed by a key outside the IdP's metadata (Metadata §2.4.1.1)
sha1                   RSA-SHA1 / SHA-1 (RFC 6194; NIST SP 800-131A Rev. 2 disallows SHA-1
                       for signature generation)
duplicate-assertion    two Assertions in one Response (Somorovsky et al. 2012)
xsw                    signature wrapping, XSW4: the signed Assertion hidden in a forged one's
                       Advice (Somorovsky et al., "On Breaking SAML: Be Whoever You Want to
                       Be", USENIX Security 2012)
missing-role           no https://aws.amazon.com/SAML/Attributes/Role (IAM User Guide,
                       "Configure SAML assertions for the authentication response")
bad-role-session-name  RoleSessionName outside [\\w+=,.@-]{2,64} (STS API Reference,
                       AssumeRoleWithSAML)
replay                 the previous Response sent again (Profiles §4.1.4.5); built by the
                       caller, which re-sends what it sent last
wrong-in-response-to   InResponseTo naming a request the SP never issued (Profiles §4.1.4.2,
                       §4.1.5)
=====================  =========================================================================

``FAULT_RULES`` says which ``idp.errors.Rule`` the simulator's own AWS side (console twin and
STS, ``idp.aws``) refuses each with, with its default provider settings; ``DESCRIPTIONS`` is
one line per fault for ``--help``, docs and the admin API.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from lxml import etree

from idp.aws.vocabulary import SESSION_NAME_PATTERN, AwsAttribute
from idp.errors import Rule
from idp.keys import KeyPair
from idp.saml.assertions import (
    Attribute,
    ResponseSpec,
    build_assertion,
    build_envelope,
    build_response,
    new_id,
)
from idp.saml.constants import SAML
from idp.saml.signing import Digest, SignatureAlgorithm, SigningPolicy, sign_element

__all__ = [
    "AWS_ONLY",
    "BAD_SESSION_NAME",
    "DESCRIPTIONS",
    "FAULT_RULES",
    "FORGED_SUBJECT",
    "MARGIN",
    "OTHER_AUDIENCE",
    "STS_ACCEPTS",
    "WRONG_DESTINATION_URL",
    "WRONG_RECIPIENT_URL",
    "Fault",
    "build_faulty_response",
    "parse_fault",
]


class Fault(StrEnum):
    """One way to break a Response on purpose (the value is the name users type)."""

    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    WRONG_AUDIENCE = "wrong-audience"
    WRONG_RECIPIENT = "wrong-recipient"
    WRONG_DESTINATION = "wrong-destination"
    UNSIGNED = "unsigned"
    TAMPERED = "tampered"
    UNKNOWN_KEY = "unknown-key"
    SHA1 = "sha1"
    DUPLICATE_ASSERTION = "duplicate-assertion"
    XSW = "xsw"
    MISSING_ROLE = "missing-role"
    BAD_ROLE_SESSION_NAME = "bad-role-session-name"
    REPLAY = "replay"
    WRONG_IN_RESPONSE_TO = "wrong-in-response-to"


#: Faults about AWS's own attributes: a generic SP has no such rule.
AWS_ONLY: Final = frozenset({Fault.MISSING_ROLE, Fault.BAD_ROLE_SESSION_NAME})
#: Faults AWS's STS lets through, as the simulated STS does (the console twin refuses them):
#: an InResponseTo (ECP clients redeem the answer to their own AuthnRequest) and, in the
#: default replay mode (``idp.aws.replay``), an assertion redeemed before.
STS_ACCEPTS: Final = frozenset({Fault.WRONG_IN_RESPONSE_TO, Fault.REPLAY})

#: The rule the simulator's console twin and STS refuse each fault with (default provider
#: settings: SHA-1 not allowed; STS lets ``STS_ACCEPTS`` through). ``missing-role`` is the
#: STS rule (AccessDenied: no role pair to assume); the console diagnoses the same Response
#: earlier, from the unverified document, as ``role-attribute``.
FAULT_RULES: Final[Mapping[Fault, Rule]] = MappingProxyType({
    Fault.EXPIRED: Rule.EXPIRED,
    Fault.NOT_YET_VALID: Rule.NOT_YET_VALID,
    Fault.WRONG_AUDIENCE: Rule.AUDIENCE,
    Fault.WRONG_RECIPIENT: Rule.RECIPIENT,
    Fault.WRONG_DESTINATION: Rule.DESTINATION,
    Fault.UNSIGNED: Rule.SIGNATURE_MISSING,
    Fault.TAMPERED: Rule.SIGNATURE_INVALID,
    Fault.UNKNOWN_KEY: Rule.SIGNATURE_INVALID,
    Fault.SHA1: Rule.SIGNATURE_ALGORITHM,
    Fault.DUPLICATE_ASSERTION: Rule.STRUCTURE,
    Fault.XSW: Rule.STRUCTURE,
    Fault.MISSING_ROLE: Rule.ROLE_ATTRIBUTE,
    Fault.BAD_ROLE_SESSION_NAME: Rule.ROLE_SESSION_NAME,
    Fault.REPLAY: Rule.REPLAY,
    Fault.WRONG_IN_RESPONSE_TO: Rule.IN_RESPONSE_TO,
})

#: Where the wrong values point: reserved ``.invalid`` names (RFC 2606), never a real SP.
OTHER_AUDIENCE: Final = "https://other-sp.invalid/metadata"
WRONG_RECIPIENT_URL: Final = "https://recipient.invalid/saml/acs"
WRONG_DESTINATION_URL: Final = "https://destination.invalid/saml/acs"
#: The identity the ``tampered`` and ``xsw`` faults try to sign in as.
FORGED_SUBJECT: Final = "admin@forged.invalid"
#: A RoleSessionName AWS refuses: a space and ``!`` are outside its pattern.
BAD_SESSION_NAME: Final = "bad session name!"
#: How far beyond the clock skew ``expired`` and ``not-yet-valid`` move the instants.
MARGIN: Final = dt.timedelta(hours=1)

DESCRIPTIONS: Final[Mapping[Fault, str]] = MappingProxyType({
    Fault.EXPIRED: "issued so long ago that SubjectConfirmationData and Conditions NotOnOrAfter "
                   "passed an hour beyond the clock skew; signed and otherwise valid",
    Fault.NOT_YET_VALID: "issued an hour beyond the clock skew in the future: Conditions "
                         "NotBefore and IssueInstant not reached yet; signed",
    Fault.WRONG_AUDIENCE: f"the Audience is another SP's entity ID ({OTHER_AUDIENCE}); signed",
    Fault.WRONG_RECIPIENT: "the bearer SubjectConfirmationData Recipient is another URL "
                           f"({WRONG_RECIPIENT_URL}); Destination stays right; signed",
    Fault.WRONG_DESTINATION: "the Response Destination is another URL "
                             f"({WRONG_DESTINATION_URL}); Recipient stays right; signed",
    Fault.UNSIGNED: "no signature anywhere (neither the Response nor the Assertion)",
    Fault.TAMPERED: f"signed, then the Assertion's NameID changed to {FORGED_SUBJECT}, so the "
                    "digest no longer matches",
    Fault.UNKNOWN_KEY: "signed with a key pair that is not in the IdP's metadata (its own "
                       "certificate in KeyInfo)",
    Fault.SHA1: "signed with RSA-SHA1 and SHA-1 digests (deprecated, collision-prone)",
    Fault.DUPLICATE_ASSERTION: "two separately signed Assertions with different IDs in one "
                               "Response",
    Fault.XSW: f"signature wrapping (XSW4): an unsigned forged Assertion for {FORGED_SUBJECT} "
               "with the genuine signed one hidden in its Advice",
    Fault.MISSING_ROLE: f"no {AwsAttribute.ROLE.value} attribute (AWS only); signed",
    Fault.BAD_ROLE_SESSION_NAME: f"RoleSessionName is {BAD_SESSION_NAME!r}, outside AWS's "
                                 f"{SESSION_NAME_PATTERN} (AWS only); signed",
    Fault.REPLAY: "the previous Response to the same SP, sent again unchanged",
    Fault.WRONG_IN_RESPONSE_TO: "InResponseTo on the Response and SubjectConfirmationData "
                                "names a request the SP never issued; signed",
})


def parse_fault(name: str) -> Fault:
    """The fault called ``name`` (``not-yet-valid``; case, spaces and ``_`` for ``-`` are
    forgiven). ``ValueError`` with a one-line message listing the valid names otherwise."""
    key = name.strip().lower().replace("_", "-")
    try:
        return Fault(key)
    except ValueError:
        valid = ", ".join(f.value for f in Fault)
        raise ValueError(f"unknown fault {name!r}; valid faults: {valid}") from None


# --- building -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Inputs:
    spec: ResponseSpec
    keys: KeyPair
    policy: SigningPolicy
    foreign_keys: Callable[[], KeyPair]
    aws: bool


def _assemble(assertion_spec: ResponseSpec, envelope_spec: ResponseSpec, keys: KeyPair,
              policy: SigningPolicy) -> etree._Element:
    """``build_response``, with the Assertion and the Response wrapper from separate specs."""
    assertion = build_assertion(assertion_spec)
    if policy.sign_assertion:
        assertion = sign_element(assertion, keys, policy)
    root = build_envelope(envelope_spec, assertion)
    return sign_element(root, keys, policy) if policy.sign_response else root


def _shifted(spec: ResponseSpec, by: dt.timedelta) -> ResponseSpec:
    """The same login as if the IdP's clock were ``by`` off: every instant moves together."""
    authn = dataclasses.replace(spec.authn, instant=spec.authn.instant + by,
                                session_not_on_or_after=spec.authn.session_not_on_or_after + by)
    return dataclasses.replace(spec, now=spec.now + by, authn=authn)


def _with_attribute(spec: ResponseSpec, name: str, values: tuple[str, ...] | None
                    ) -> ResponseSpec:
    """``spec`` with attribute ``name`` set to ``values`` (appended if absent; None: removed)."""
    kept: list[Attribute] = []
    found = False
    for attribute in spec.attributes:
        if attribute.name != name:
            kept.append(attribute)
        elif values is not None and not found:
            kept.append(dataclasses.replace(attribute, values=values))
        found = found or attribute.name == name
    if values is not None and not found:
        kept.append(Attribute(name, values))
    return dataclasses.replace(spec, attributes=tuple(kept))


def _expired(i: _Inputs) -> etree._Element:
    """Issued ``lifetime + skew + MARGIN`` ago: every NotOnOrAfter is ``skew + MARGIN`` past."""
    by = dt.timedelta(seconds=i.spec.lifetime + i.spec.skew) + MARGIN
    return build_response(_shifted(i.spec, -by), i.keys, i.policy)


def _not_yet_valid(i: _Inputs) -> etree._Element:
    """Issued ``2 * skew + MARGIN`` ahead: NotBefore (``now - skew``) is ``skew + MARGIN`` ahead."""
    by = dt.timedelta(seconds=2 * i.spec.skew) + MARGIN
    return build_response(_shifted(i.spec, by), i.keys, i.policy)


def _wrong_audience(i: _Inputs) -> etree._Element:
    return build_response(dataclasses.replace(i.spec, audience=OTHER_AUDIENCE), i.keys, i.policy)


def _wrong_recipient(i: _Inputs) -> etree._Element:
    elsewhere = dataclasses.replace(i.spec, destination=WRONG_RECIPIENT_URL)
    return _assemble(elsewhere, i.spec, i.keys, i.policy)


def _wrong_destination(i: _Inputs) -> etree._Element:
    elsewhere = dataclasses.replace(i.spec, destination=WRONG_DESTINATION_URL)
    return _assemble(i.spec, elsewhere, i.keys, i.policy)


def _unsigned(i: _Inputs) -> etree._Element:
    return build_envelope(i.spec, build_assertion(i.spec))


def _tampered(i: _Inputs) -> etree._Element:
    """Signed as the policy says, then the NameID inside the signed Assertion rewritten."""
    root = build_response(i.spec, i.keys, i.policy)
    name_id = root.find(f"{SAML}Assertion/{SAML}Subject/{SAML}NameID")
    if name_id is None:  # build_assertion always writes one
        raise ValueError("the Response has no NameID to tamper with")
    name_id.text = FORGED_SUBJECT if name_id.text != FORGED_SUBJECT else FORGED_SUBJECT + "2"
    return root


def _unknown_key(i: _Inputs) -> etree._Element:
    return build_response(i.spec, i.foreign_keys(), i.policy)


def _sha1(i: _Inputs) -> etree._Element:
    legacy = dataclasses.replace(i.policy, signature_algorithm=SignatureAlgorithm.RSA_SHA1,
                                 digest=Digest.SHA1)
    return build_response(i.spec, i.keys, legacy)


def _duplicate_assertion(i: _Inputs) -> etree._Element:
    """Two Assertions from the same spec (each its own fresh ID), each signed as the policy
    says, in one Response (signed as a whole if the policy says so)."""
    assertions = [build_assertion(i.spec) for _ in range(2)]
    if i.policy.sign_assertion:
        assertions = [sign_element(a, i.keys, i.policy) for a in assertions]
    root = build_envelope(i.spec, *assertions)
    return sign_element(root, i.keys, i.policy) if i.policy.sign_response else root


def _xsw(i: _Inputs) -> etree._Element:
    """XSW4 of Somorovsky et al., "On Breaking SAML: Be Whoever You Want to Be" (USENIX
    Security 2012), as SAMLRaider catalogues it, made schema-valid.

    The Response's one direct Assertion is a forged, unsigned copy (a new ID, NameID
    ``FORGED_SUBJECT`` and, for AWS, that RoleSessionName); the genuine Assertion, signed by
    the IdP (with the policy's algorithms, even if the policy signs only the Response), sits
    inside the forged one's ``<saml:Advice>``, which may hold Assertions (SAML Core §2.6.1).
    An SP that verifies "the element the Reference points to" by ID, then reads claims from
    ``/Response/Assertion``, signs in the forged subject. The Response itself is left
    unsigned: an IdP signature over the forged content would make it genuine.
    """
    genuine = sign_element(build_assertion(i.spec), i.keys,
                           dataclasses.replace(i.policy, sign_assertion=True,
                                               sign_response=False))
    forged_spec = dataclasses.replace(i.spec, name_id=FORGED_SUBJECT)
    if i.aws:
        forged_spec = _with_attribute(forged_spec, AwsAttribute.ROLE_SESSION_NAME,
                                      (FORGED_SUBJECT,))
    forged = build_assertion(forged_spec)
    conditions = forged.find(f"{SAML}Conditions")
    if conditions is None:  # build_assertion always writes one
        raise ValueError("the forged Assertion has no Conditions")
    advice = etree.Element(f"{SAML}Advice")
    advice.append(genuine)
    conditions.addnext(advice)
    return build_envelope(i.spec, forged)


def _missing_role(i: _Inputs) -> etree._Element:
    return build_response(_with_attribute(i.spec, AwsAttribute.ROLE, None), i.keys, i.policy)


def _bad_role_session_name(i: _Inputs) -> etree._Element:
    spec = _with_attribute(i.spec, AwsAttribute.ROLE_SESSION_NAME, (BAD_SESSION_NAME,))
    return build_response(spec, i.keys, i.policy)


def _wrong_in_response_to(i: _Inputs) -> etree._Element:
    """InResponseTo (Response and SubjectConfirmationData) set to a fresh, never-issued ID."""
    never_issued = new_id()
    while never_issued == i.spec.in_response_to:  # pragma: no cover (160 random bits)
        never_issued = new_id()
    spec = dataclasses.replace(i.spec, in_response_to=never_issued)
    return build_response(spec, i.keys, i.policy)


_BUILDERS: Final[Mapping[Fault, Callable[[_Inputs], etree._Element]]] = MappingProxyType({
    Fault.EXPIRED: _expired,
    Fault.NOT_YET_VALID: _not_yet_valid,
    Fault.WRONG_AUDIENCE: _wrong_audience,
    Fault.WRONG_RECIPIENT: _wrong_recipient,
    Fault.WRONG_DESTINATION: _wrong_destination,
    Fault.UNSIGNED: _unsigned,
    Fault.TAMPERED: _tampered,
    Fault.UNKNOWN_KEY: _unknown_key,
    Fault.SHA1: _sha1,
    Fault.DUPLICATE_ASSERTION: _duplicate_assertion,
    Fault.XSW: _xsw,
    Fault.MISSING_ROLE: _missing_role,
    Fault.BAD_ROLE_SESSION_NAME: _bad_role_session_name,
    Fault.WRONG_IN_RESPONSE_TO: _wrong_in_response_to,
})


def build_faulty_response(fault: Fault, spec: ResponseSpec, keys: KeyPair,
                          policy: SigningPolicy, *, foreign_keys: Callable[[], KeyPair],
                          aws: bool) -> etree._Element:
    """The Response the IdP would have sent (``build_response(spec, keys, policy)``), broken
    in exactly the one way ``fault`` names.

    ``foreign_keys()`` returns a key pair that is *not* in the IdP's metadata; it is called
    only for ``unknown-key`` (the caller caches it: RSA generation is slow). ``aws`` says the
    SP is AWS (``urn:amazon:webservices``). ``ValueError`` for ``replay`` (the caller re-sends
    its previous Response instead) and for an AWS-only fault when ``aws`` is false.
    """
    fault = Fault(fault)
    if fault is Fault.REPLAY:
        raise ValueError("the replay fault is not built: re-send the previous Response to the "
                         "same SP")
    if fault in AWS_ONLY and not aws:
        raise ValueError(f"the {fault.value} fault applies only to AWS (urn:amazon:webservices), "
                         "whose Role and RoleSessionName attributes it breaks")
    return _BUILDERS[fault](_Inputs(spec, keys, policy, foreign_keys, aws))
