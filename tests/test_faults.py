"""Fault injection (``idp.faults``): each fault is refused, by the simulator and by others.

Every fault starts from bob's genuine Response (``tests.support.saml.respond``) and the spec it
was built from (``tests.support.specs.spec_of``), signed as the AWS SP's policy says. For each
fault (replay is the caller's: it re-sends a previous Response):

* the simulator's own AWS side refuses it with ``FAULT_RULES[fault]``: the in-process STS
  (``Sts.assume_role_with_saml``, with AWS's code, status and message, as
  ``tests/aws/test_sts.py`` drives the attack corpus), ``AwsFederation`` (``verify``, then
  ``assume`` for the AWS attribute rules) and the console twin (``select_roles`` /
  ``open_session``);
* an independent SP refuses it: python3-saml in strict mode, and pysaml2 where it refuses too
  (where it does not, the test says so); for the two AWS-only faults, which a generic SP has no
  rule for, the oracles accept the signature and the test reads the broken attribute from what
  they parsed;
* it is broken in exactly one way: undoing that one change gives the genuine Response back.

The control (the same spec built without a fault) is accepted by all of them, so every
refusal here can fail.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from typing import Final

import pytest
from lxml import etree

from idp.aws.console import open_session, select_roles
from idp.aws.errors import AwsError
from idp.aws.federation import AwsFederation
from idp.aws.sts import Sts
from idp.clock import FixedClock, parse_instant
from idp.directory import Directory
from idp.errors import Rule, SamlValidationError
from idp.faults import (
    AWS_ONLY,
    BAD_SESSION_NAME,
    DESCRIPTIONS,
    FAULT_RULES,
    FORGED_SUBJECT,
    OTHER_AUDIENCE,
    STS_ACCEPTS,
    WRONG_DESTINATION_URL,
    WRONG_RECIPIENT_URL,
    Fault,
    build_faulty_response,
    parse_fault,
)
from idp.keys import KeyPair
from idp.saml.assertions import ResponseSpec, build_envelope, build_response
from idp.saml.signing import SigningPolicy
from idp.saml.validation import TrustedIssuer, verify_response
from idp.settings import Settings
from idp.sso import IdentityProvider
from idp.store import StateStore
from idp.xml import to_bytes
from tests.support import builders
from tests.support.demo import (
    AWS_ACS,
    AWS_ENTITY_ID,
    BOB_EMAIL,
    BOB_ROLE,
    PROD_PROVIDER,
    READ_ONLY,
    ROLE_ATTR,
    SESSION_NAME_ATTR,
)
from tests.support.oracles import IdpMetadata, pysaml2, python3_saml, read_metadata
from tests.support.saml import DS, SAML, assertion_of, attribute, decode, encode, respond
from tests.support.specs import comparable, spec_of
from tests.support.sts import assume_role_params
from tests.vectors.attacks import VERIFIER_RULES, Keys

#: Every fault but replay (which the caller builds by re-sending its previous Response).
BUILT: Final = [f for f in Fault if f is not Fault.REPLAY]
#: The faults a generic SP has a rule for.
GENERIC: Final = [f for f in BUILT if f not in AWS_ONLY]
#: The AuthnRequest ID the oracle SPs are waiting for (the faulty Response answers another).
OUTSTANDING: Final = "_outstanding-request-1"
#: AWS's RoleSessionName pattern as the STS API Reference (AssumeRoleWithSAML) documents it.
AWS_SESSION_NAME: Final = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)

#: What the STS answers: (code, HTTP status, message, exact message?).
STS_ANSWERS: Final[dict[Fault, tuple[str, int, str, bool]]] = {
    Fault.EXPIRED: ("ExpiredTokenException", 400, "SubjectConfirmationData NotOnOrAfter",
                    False),
    Fault.NOT_YET_VALID: ("InvalidIdentityToken", 400, "Conditions NotBefore", False),
    Fault.WRONG_AUDIENCE: ("InvalidIdentityToken", 400,
                           "Response does not contain the required audience.", True),
    Fault.WRONG_RECIPIENT: ("InvalidIdentityToken", 400,
                            f"Recipient {WRONG_RECIPIENT_URL} does not match this endpoint",
                            True),
    Fault.WRONG_DESTINATION: ("InvalidIdentityToken", 400,
                              f"Destination {WRONG_DESTINATION_URL} does not match this "
                              "endpoint", True),
    Fault.UNSIGNED: ("InvalidIdentityToken", 400, "Response signature invalid", True),
    Fault.TAMPERED: ("InvalidIdentityToken", 400, "Response signature invalid", True),
    Fault.UNKNOWN_KEY: ("InvalidIdentityToken", 400, "Response signature invalid", True),
    Fault.SHA1: ("InvalidIdentityToken", 400, "Response signature invalid", True),
    Fault.DUPLICATE_ASSERTION: ("InvalidIdentityToken", 400, "exactly one Assertion", False),
    Fault.XSW: ("InvalidIdentityToken", 400, "exactly one Assertion", False),
    Fault.MISSING_ROLE: ("AccessDenied", 403, "Not authorized to perform sts:AssumeRoleWithSAML",
                         True),
    Fault.BAD_ROLE_SESSION_NAME: ("InvalidIdentityToken", 400,
                                  "RoleSessionName in AuthnResponse must match "
                                  "[a-zA-Z_0-9+=,.@-]{2,64}", True),
    Fault.WRONG_IN_RESPONSE_TO: ("InvalidIdentityToken", 400, "never sends AuthnRequests",
                                 False),
}


#: python3-saml 1.16 (strict, wantAssertionsSigned, rejectDeprecatedAlgorithm, waiting for
#: ``OUTSTANDING``): its exact error (``{irt}``: the Response's InResponseTo).
PYTHON3_SAML_ERRORS: Final[dict[Fault, str]] = {
    Fault.EXPIRED: "Could not validate timestamp: expired. Check system clock.",
    Fault.NOT_YET_VALID: "Could not validate timestamp: not yet valid. Check system clock.",
    Fault.WRONG_AUDIENCE: f"{AWS_ENTITY_ID} is not a valid audience for this Response",
    Fault.WRONG_RECIPIENT: "A valid SubjectConfirmation was not found on this Response",
    Fault.WRONG_DESTINATION: f"The response was received at {AWS_ACS} instead of "
                             f"{WRONG_DESTINATION_URL}",
    Fault.UNSIGNED: "The Assertion of the Response is not signed and the SP require it",
    Fault.TAMPERED: "Signature validation failed. SAML Response rejected",
    Fault.UNKNOWN_KEY: "Signature validation failed. SAML Response rejected",
    Fault.SHA1: "Deprecated signature algorithm found: "
                "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    Fault.DUPLICATE_ASSERTION: "SAML Response must contain 1 assertion",
    Fault.XSW: "SAML Response must contain 1 assertion",
    Fault.WRONG_IN_RESPONSE_TO: "The InResponseTo of the Response: {irt}, does not match the "
                                f"ID of the AuthNRequest sent by the SP: {OUTSTANDING}",
}

#: pysaml2 7.5 (want_assertions_signed, unsolicited Responses allowed, as for IdP-initiated
#: SSO): the start of its refusal, or ``None`` where it accepts.
PYSAML2_ERRORS: Final[dict[Fault, str | None]] = {
    Fault.EXPIRED: "ResponseLifetimeExceed: Can't use response, too old",
    Fault.NOT_YET_VALID: "ToEarly: Can't use response yet",
    Fault.WRONG_AUDIENCE: "Exception: AudienceRestrictions conditions not satisfied!",
    Fault.WRONG_RECIPIENT: "VerificationError: No valid recipient",
    Fault.WRONG_DESTINATION: f"destination '{WRONG_DESTINATION_URL}' not in return addresses",
    Fault.UNSIGNED: "SignatureError: Signature missing for assertion",
    Fault.TAMPERED: "SignatureError: Failed to verify signature",
    Fault.UNKNOWN_KEY: "SignatureError: Failed to verify signature",
    # pysaml2 has no deprecated-algorithm switch: it verifies RSA-SHA1 / SHA-1 and accepts.
    Fault.SHA1: None,
    Fault.DUPLICATE_ASSERTION: "InvalidAssertion: Invalid number of assertions in Response: 2",
    # It reads the direct Assertion (the forged one) and finds it unsigned.
    Fault.XSW: "SignatureError: Signature missing for assertion",
    # With unsolicited Responses allowed, any InResponseTo passes; see the solicited test.
    Fault.WRONG_IN_RESPONSE_TO: None,
}


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def idp(settings: Settings, directory: Directory, keypair: KeyPair,
        clock: FixedClock) -> IdentityProvider:
    return builders.identity_provider(settings, directory, keypair, clock)


@pytest.fixture
def genuine(idp: IdentityProvider) -> etree._Element:
    """bob's genuine Response, exactly as the IdP posts it to the AWS SP."""
    return decode(respond(idp, "bob").saml_value)


@pytest.fixture
def spec(genuine: etree._Element) -> ResponseSpec:
    return spec_of(genuine)


@pytest.fixture
def policy(directory: Directory) -> SigningPolicy:
    """How the IdP signs for AWS (the SP's configured policy)."""
    sp = directory.service_provider(AWS_ENTITY_ID)
    assert sp is not None
    return sp.signing


@pytest.fixture
def metadata(idp: IdentityProvider) -> IdpMetadata:
    """What the oracle SPs import: the IdP's published metadata."""
    return read_metadata(idp.metadata())


@pytest.fixture
def sts(settings: Settings, directory: Directory, keypair: KeyPair, clock: FixedClock,
        store: StateStore) -> Sts:
    """The STS API with replay protection on (a fresh state file per test)."""
    return builders.sts(settings, directory, keypair, clock, replay=store)


@pytest.fixture
def federation(settings: Settings, directory: Directory, keypair: KeyPair,
               clock: FixedClock) -> AwsFederation:
    return builders.federation(settings, directory, keypair, clock)


@pytest.fixture
def broken(spec: ResponseSpec, keypair: KeyPair, policy: SigningPolicy,
           attack_keys: Keys) -> Callable[..., etree._Element]:
    """``broken(fault)``: bob's Response with ``fault``; the foreign key is the attacker's
    (generated once per session)."""
    def build(fault: Fault, *, with_spec: ResponseSpec | None = None,
              with_policy: SigningPolicy | None = None) -> etree._Element:
        return build_faulty_response(fault, with_spec or spec, keypair, with_policy or policy,
                                     foreign_keys=lambda: attack_keys.attacker, aws=True)
    return build


def sts_refusal(sts: Sts, root: etree._Element) -> AwsError | None:
    """The STS's error for ``AssumeRoleWithSAML`` of bob's ReadOnly role, or None."""
    try:
        sts.assume_role_with_saml(assume_role_params(encode(root)))
    except AwsError as exc:
        return exc
    return None


def federation_rule(federation: AwsFederation, root: etree._Element) -> Rule | None:
    """The rule ``AwsFederation`` refuses with (``verify``, then ``assume``), or None."""
    provider = federation.iam.saml_provider(PROD_PROVIDER)
    assert provider is not None
    try:
        verified = federation.verify(to_bytes(root), provider)
        federation.assume(verified, READ_ONLY, duration=3600)
    except SamlValidationError as exc:
        return exc.rule
    except AwsError as exc:
        return exc.rule
    return None


def console_rule(federation: AwsFederation, root: etree._Element) -> Rule | None:
    """The rule the console twin's sign-in (POST /aws/saml, then ReadOnly) refuses with."""
    try:
        open_session(federation, select_roles(federation, encode(root)), READ_ONLY)
    except SamlValidationError as exc:
        return exc.rule
    except AwsError as exc:
        return exc.rule
    return None


def verifier_rule(federation: AwsFederation, root: etree._Element) -> Rule | None:
    """The verifier's own verdict (``AwsFederation.verify``), or None when it accepts."""
    provider = federation.iam.saml_provider(PROD_PROVIDER)
    assert provider is not None
    try:
        federation.verify(to_bytes(root), provider)
    except SamlValidationError as exc:
        return exc.rule
    return None


def _one(el: etree._Element, path: str) -> etree._Element:
    found = el.find(path)
    assert found is not None, path
    return found


SUBJECT_DATA: Final = f"{SAML}Subject/{SAML}SubjectConfirmation/{SAML}SubjectConfirmationData"


# --- the tables -----------------------------------------------------------------------------


def test_fault_names_are_the_pinned_contract() -> None:
    assert [f.value for f in Fault] == [
        "expired", "not-yet-valid", "wrong-audience", "wrong-recipient", "wrong-destination",
        "unsigned", "tampered", "unknown-key", "sha1", "duplicate-assertion", "xsw",
        "missing-role", "bad-role-session-name", "replay", "wrong-in-response-to"]


def test_every_fault_has_a_rule_and_a_one_line_description() -> None:
    assert set(FAULT_RULES) == set(Fault) == set(DESCRIPTIONS)
    assert FAULT_RULES[Fault.REPLAY] is Rule.REPLAY
    for fault, text in DESCRIPTIONS.items():
        assert text.strip() and "\n" not in text and len(text) <= 160, fault


@pytest.mark.parametrize("fault", list(Fault))
def test_parse_fault_round_trips(fault: Fault) -> None:
    assert parse_fault(fault.value) is fault
    assert parse_fault(f" {fault.name} ") is fault  # NOT_YET_VALID: case and _ forgiven


def test_unknown_fault_names_every_valid_one_on_one_line() -> None:
    with pytest.raises(ValueError, match="unknown fault 'expird'") as caught:
        parse_fault("expird")
    message = str(caught.value)
    assert "\n" not in message
    assert all(f.value in message for f in Fault)


def test_replay_is_not_built_here(broken: Callable[..., etree._Element]) -> None:
    with pytest.raises(ValueError, match="re-send the previous Response"):
        broken(Fault.REPLAY)


@pytest.mark.parametrize("fault", sorted(AWS_ONLY))
def test_aws_only_faults_refuse_other_sps(fault: Fault, spec: ResponseSpec, keypair: KeyPair,
                                          policy: SigningPolicy) -> None:
    with pytest.raises(ValueError, match="applies only to AWS"):
        build_faulty_response(fault, spec, keypair, policy, foreign_keys=_never, aws=False)


def _never() -> KeyPair:
    raise AssertionError("foreign_keys() called for a fault that does not need it")


@pytest.mark.parametrize("fault", [f for f in BUILT if f is not Fault.UNKNOWN_KEY])
def test_only_unknown_key_asks_for_the_foreign_key(fault: Fault, spec: ResponseSpec,
                                                   keypair: KeyPair,
                                                   policy: SigningPolicy) -> None:
    """Generating an RSA key is slow: only ``unknown-key`` calls ``foreign_keys()``."""
    build_faulty_response(fault, spec, keypair, policy, foreign_keys=_never, aws=True)


# --- the control ------------------------------------------------------------------------------


def test_control_the_unbroken_response_is_accepted_everywhere(
        genuine: etree._Element, spec: ResponseSpec, keypair: KeyPair, policy: SigningPolicy,
        sts: Sts, federation: AwsFederation, metadata: IdpMetadata) -> None:
    """The spec rebuilds exactly what the IdP sent, and every judge below accepts it."""
    rebuilt = build_response(spec, keypair, policy)
    assert comparable(rebuilt) == comparable(genuine)
    assert rebuilt.get("InResponseTo") is None  # IdP-initiated, as AWS gets it
    result = sts.assume_role_with_saml(assume_role_params(encode(rebuilt)))
    assert result.claims.session_name == BOB_EMAIL
    assert federation_rule(federation, rebuilt) is None
    assert console_rule(federation, rebuilt) is None
    for verdict in (python3_saml(encode(rebuilt), metadata, request_id=OUTSTANDING),
                    pysaml2(encode(rebuilt), metadata)):
        assert verdict.accepted, verdict.error
        assert verdict.name_id == spec.name_id
        assert verdict.attributes[ROLE_ATTR] == (BOB_ROLE,)
        assert verdict.attributes[SESSION_NAME_ATTR] == (BOB_EMAIL,)
        assert AWS_SESSION_NAME.fullmatch(BOB_EMAIL)


# --- the simulator refuses each ---------------------------------------------------------------


@pytest.mark.parametrize("fault", BUILT)
def test_simulator_refuses(fault: Fault, broken: Callable[..., etree._Element], sts: Sts,
                           federation: AwsFederation) -> None:
    """STS answers AWS's error with rule ``FAULT_RULES[fault]``; ``AwsFederation`` and the
    console twin refuse with it too."""
    root = broken(fault)
    rule = FAULT_RULES[fault]
    error = sts_refusal(sts, root)
    if fault in STS_ACCEPTS:  # AWS's STS tolerates it; the console twin does not
        assert error is None, error
        assert console_rule(federation, root) is rule
        return
    assert error is not None, f"STS accepted {fault}"
    code, status, message, exact = STS_ANSWERS[fault]
    assert (error.rule, error.code, error.http_status, error.fault_type) == (
        rule, code, status, "Sender"), error.message
    assert error.message == message if exact else message in error.message, error.message
    assert federation_rule(federation, root) is rule
    assert verifier_rule(federation, root) is (rule if rule in VERIFIER_RULES else None)
    assert console_rule(federation, root) is FAULT_RULES[fault]


POLICIES: Final = {
    "both-signed": SigningPolicy(sign_assertion=True, sign_response=True),
    "response-signed": SigningPolicy(sign_assertion=False, sign_response=True),
}


@pytest.mark.parametrize("fault", BUILT)
@pytest.mark.parametrize("name", list(POLICIES))
def test_simulator_refuses_whatever_the_signing_policy(
        fault: Fault, name: str, broken: Callable[..., etree._Element], spec: ResponseSpec,
        keypair: KeyPair, federation: AwsFederation) -> None:
    """An SP that signs the Response (too) gets the same faults, refused by the same rules."""
    policy = POLICIES[name]
    assert federation_rule(federation, build_response(spec, keypair, policy)) is None
    judge = console_rule if fault in STS_ACCEPTS else federation_rule
    assert judge(federation, broken(fault, with_policy=policy)) is FAULT_RULES[fault]


# --- independent SPs refuse each --------------------------------------------------------------


@pytest.mark.parametrize("fault", GENERIC)
def test_python3_saml_refuses(fault: Fault, broken: Callable[..., etree._Element],
                              metadata: IdpMetadata) -> None:
    root = broken(fault)
    verdict = python3_saml(encode(root), metadata, request_id=OUTSTANDING)
    assert not verdict.accepted, f"python3-saml accepted {fault}"
    assert verdict.error == PYTHON3_SAML_ERRORS[fault].format(irt=root.get("InResponseTo"))


@pytest.mark.parametrize("fault", GENERIC)
def test_pysaml2(fault: Fault, broken: Callable[..., etree._Element],
                 metadata: IdpMetadata) -> None:
    """pysaml2 refuses all but two (each accepted on the record, so a change shows up)."""
    verdict = pysaml2(encode(broken(fault)), metadata)
    expected = PYSAML2_ERRORS[fault]
    if expected is None:
        assert verdict.accepted, verdict.error
    else:
        assert not verdict.accepted, f"pysaml2 accepted {fault}"
        assert verdict.error is not None and verdict.error.startswith(expected), verdict.error


def test_wrong_in_response_to_answers_no_request_the_sp_sent(
        spec: ResponseSpec, keypair: KeyPair, policy: SigningPolicy,
        broken: Callable[..., etree._Element], metadata: IdpMetadata) -> None:
    """SP-initiated: pysaml2 and python3-saml waiting for ``OUTSTANDING`` accept its answer
    and refuse the same Response answering an ID they never issued."""
    solicited = dataclasses.replace(spec, in_response_to=OUTSTANDING)
    waiting = {OUTSTANDING: "/"}
    answer = encode(build_response(solicited, keypair, policy))
    assert pysaml2(answer, metadata, outstanding=waiting, allow_unsolicited=False).accepted
    assert python3_saml(answer, metadata, request_id=OUTSTANDING).accepted
    root = broken(Fault.WRONG_IN_RESPONSE_TO, with_spec=solicited)
    irt = root.get("InResponseTo")
    assert irt and irt != OUTSTANDING
    assert _one(assertion_of(root), SUBJECT_DATA).get("InResponseTo") == irt
    verdict = pysaml2(encode(root), metadata, outstanding=waiting, allow_unsolicited=False)
    assert not verdict.accepted
    assert verdict.error == f"UnsolicitedResponse: Unsolicited response: {irt}"
    assert python3_saml(encode(root), metadata, request_id=OUTSTANDING).error == (
        PYTHON3_SAML_ERRORS[Fault.WRONG_IN_RESPONSE_TO].format(irt=irt))


def test_missing_role_is_signed_and_roleless_for_a_generic_sp(
        broken: Callable[..., etree._Element], metadata: IdpMetadata) -> None:
    """A generic SP has no AWS rule: it accepts the signature, and what it parsed has no Role
    attribute (everything else intact)."""
    b64 = encode(broken(Fault.MISSING_ROLE))
    for verdict in (python3_saml(b64, metadata, request_id=OUTSTANDING), pysaml2(b64, metadata)):
        assert verdict.accepted, verdict.error
        assert ROLE_ATTR not in verdict.attributes
        assert verdict.attributes[SESSION_NAME_ATTR] == (BOB_EMAIL,)


def test_bad_role_session_name_is_signed_and_breaks_aws_pattern_for_a_generic_sp(
        broken: Callable[..., etree._Element], metadata: IdpMetadata) -> None:
    """A generic SP has no AWS rule: it accepts the signature; the RoleSessionName it parsed
    breaks AWS's documented pattern (the genuine one matches it: see the control)."""
    b64 = encode(broken(Fault.BAD_ROLE_SESSION_NAME))
    for verdict in (python3_saml(b64, metadata, request_id=OUTSTANDING), pysaml2(b64, metadata)):
        assert verdict.accepted, verdict.error
        assert verdict.attributes[SESSION_NAME_ATTR] == (BAD_SESSION_NAME,)
        assert AWS_SESSION_NAME.fullmatch(BAD_SESSION_NAME) is None
        assert verdict.attributes[ROLE_ATTR] == (BOB_ROLE,)


# --- broken in exactly one way ---------------------------------------------------------------

_TIMES: Final = (
    ("IssueInstant", "."), ("IssueInstant", f"{SAML}Assertion"),
    ("NotOnOrAfter", f"{SAML}Assertion/{SUBJECT_DATA}"),
    ("NotBefore", f"{SAML}Assertion/{SAML}Conditions"),
    ("NotOnOrAfter", f"{SAML}Assertion/{SAML}Conditions"),
    ("AuthnInstant", f"{SAML}Assertion/{SAML}AuthnStatement"),
    ("SessionNotOnOrAfter", f"{SAML}Assertion/{SAML}AuthnStatement"),
)


def _times_back(root: etree._Element, genuine: etree._Element) -> None:
    for name, path in _TIMES:
        _one(root, path).set(name, str(_one(genuine, path).get(name)))


def _undo(fault: Fault, root: etree._Element, genuine: etree._Element) -> None:
    """Undo ``fault``'s one change in ``root`` (signatures aside: ``comparable`` drops them)."""
    assertion = assertion_of(root)
    if fault in (Fault.EXPIRED, Fault.NOT_YET_VALID):
        _times_back(root, genuine)
    elif fault is Fault.WRONG_AUDIENCE:
        path = f"{SAML}Conditions/{SAML}AudienceRestriction/{SAML}Audience"
        assert _one(assertion, path).text == OTHER_AUDIENCE
        _one(assertion, path).text = _one(assertion_of(genuine), path).text
    elif fault is Fault.WRONG_RECIPIENT:
        assert root.get("Destination") == genuine.get("Destination")
        assert _one(assertion, SUBJECT_DATA).get("Recipient") == WRONG_RECIPIENT_URL
        _one(assertion, SUBJECT_DATA).set("Recipient", str(genuine.get("Destination")))
    elif fault is Fault.WRONG_DESTINATION:
        assert _one(assertion, SUBJECT_DATA).get("Recipient") == genuine.get("Destination")
        assert root.get("Destination") == WRONG_DESTINATION_URL
        root.set("Destination", str(genuine.get("Destination")))
    elif fault is Fault.TAMPERED:
        name_id = _one(assertion, f"{SAML}Subject/{SAML}NameID")
        assert name_id.text == FORGED_SUBJECT
        name_id.text = _one(assertion_of(genuine), f"{SAML}Subject/{SAML}NameID").text
    elif fault is Fault.DUPLICATE_ASSERTION:
        second = root.findall(f"{SAML}Assertion")[1]
        assert second.get("ID") != assertion.get("ID")
        root.remove(second)
    elif fault is Fault.MISSING_ROLE:
        assert attribute(root, ROLE_ATTR) is None
        role = attribute(genuine, ROLE_ATTR)
        assert role is not None
        _one(assertion, f"{SAML}AttributeStatement").insert(0, copy.deepcopy(role))
    elif fault is Fault.BAD_ROLE_SESSION_NAME:
        value = _one(root, f".//{SAML}Attribute[@Name='{SESSION_NAME_ATTR}']/"
                           f"{SAML}AttributeValue")
        assert value.text == BAD_SESSION_NAME
        value.text = BOB_EMAIL
    elif fault is Fault.WRONG_IN_RESPONSE_TO:
        del root.attrib["InResponseTo"]
        del _one(assertion, SUBJECT_DATA).attrib["InResponseTo"]
    # unsigned, unknown-key, sha1: only the signatures differ.


@pytest.mark.parametrize("fault", [f for f in BUILT if f is not Fault.XSW])
def test_broken_in_exactly_one_way(fault: Fault, broken: Callable[..., etree._Element],
                                   genuine: etree._Element) -> None:
    """Undoing the fault's one change gives the genuine Response back (IDs and signatures
    aside), so nothing else differs."""
    root = broken(fault)
    assert comparable(root) != comparable(genuine) or fault in (
        Fault.UNSIGNED, Fault.UNKNOWN_KEY, Fault.SHA1)
    _undo(fault, root, genuine)
    assert comparable(root) == comparable(genuine)


def test_tampered_was_signed_before_the_change(broken: Callable[..., etree._Element],
                                               genuine: etree._Element,
                                               federation: AwsFederation) -> None:
    """Put the NameID back and the IdP's signature verifies again."""
    root = broken(Fault.TAMPERED)
    assert verifier_rule(federation, root) is Rule.SIGNATURE_INVALID
    _undo(Fault.TAMPERED, root, genuine)
    assert verifier_rule(federation, root) is None


@pytest.mark.parametrize("fault", [Fault.EXPIRED, Fault.NOT_YET_VALID])
def test_time_faults_are_valid_at_their_own_instant(
        fault: Fault, broken: Callable[..., etree._Element], settings: Settings,
        directory: Directory, keypair: KeyPair, clock: FixedClock) -> None:
    """Signed and otherwise valid: an SP whose clock reads the Response's IssueInstant takes
    it; ours, at the real instant, is more than the skew away from its window."""
    root = broken(fault)
    issued = parse_instant(str(assertion_of(root).get("IssueInstant")))
    skew = dt.timedelta(seconds=settings.clock_skew)
    if fault is Fault.EXPIRED:
        not_after = parse_instant(str(_one(assertion_of(root), SUBJECT_DATA).get("NotOnOrAfter")))
        assert not_after < clock.now() - skew
    else:
        not_before = parse_instant(str(_one(assertion_of(root), f"{SAML}Conditions")
                                       .get("NotBefore")))
        assert not_before > clock.now() + skew
    then = builders.federation(settings, directory, keypair, FixedClock(issued))
    assert federation_rule(then, root) is None


def test_unknown_key_is_a_good_signature_by_another_key(
        broken: Callable[..., etree._Element], attack_keys: Keys, settings: Settings,
        clock: FixedClock) -> None:
    """Signed with the foreign key, whose certificate is in KeyInfo: it verifies with that
    certificate (and only that one)."""
    root = broken(Fault.UNKNOWN_KEY)
    cert = _one(assertion_of(root), f"{DS}Signature/{DS}KeyInfo/{DS}X509Data/"
                                    f"{DS}X509Certificate").text or ""
    assert "".join(cert.split()) in attack_keys.attacker.cert_pem.replace("\n", "")
    trust = TrustedIssuer(entity_id=settings.entity_id,
                          certificates=(attack_keys.attacker.cert_pem,))
    policy = builders.validation_policy(settings, clock)
    assert verify_response(to_bytes(root), trust=trust, policy=policy).name_id


def test_sha1_is_a_good_signature_with_a_deprecated_algorithm(
        broken: Callable[..., etree._Element], settings: Settings, keypair: KeyPair,
        clock: FixedClock) -> None:
    """RSA-SHA1 with SHA-1 digests, by the IdP's key: a provider allowing SHA-1 accepts it."""
    root = broken(Fault.SHA1)
    signature = _one(assertion_of(root), f"{DS}Signature/{DS}SignedInfo")
    assert _one(signature, f"{DS}SignatureMethod").get("Algorithm") == (
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1")
    assert _one(signature, f"{DS}Reference/{DS}DigestMethod").get("Algorithm") == (
        "http://www.w3.org/2000/09/xmldsig#sha1")
    trust = dataclasses.replace(builders.trusted_issuer(settings, keypair), allow_sha1=True)
    assert verify_response(to_bytes(root), trust=trust,
                           policy=builders.validation_policy(settings, clock)).name_id


def test_unsigned_has_no_signature_anywhere(broken: Callable[..., etree._Element]) -> None:
    assert not list(broken(Fault.UNSIGNED).iter(f"{DS}Signature"))


def test_duplicate_assertion_holds_two_genuinely_signed_assertions(
        broken: Callable[..., etree._Element], spec: ResponseSpec,
        federation: AwsFederation) -> None:
    """Each of the two verifies on its own: only their being together is wrong."""
    assertions = broken(Fault.DUPLICATE_ASSERTION).findall(f"{SAML}Assertion")
    assert len(assertions) == 2 and assertions[0].get("ID") != assertions[1].get("ID")
    for assertion in assertions:
        assert verifier_rule(federation, build_envelope(spec, copy.deepcopy(assertion))) is None


def test_xsw_hides_the_signed_assertion_in_the_forged_ones_advice(
        broken: Callable[..., etree._Element], spec: ResponseSpec,
        federation: AwsFederation) -> None:
    """XSW4, schema-valid: the Response's Assertion is forged and unsigned; the genuine one,
    still verifying on its own, sits in the forged one's Advice."""
    from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

    root = broken(Fault.XSW)
    assert not isinstance(
        OneLogin_Saml2_XML.validate_xml(to_bytes(root), "saml-schema-protocol-2.0.xsd"), str)
    assert root.find(f"{DS}Signature") is None
    (forged,) = root.findall(f"{SAML}Assertion")
    assert forged.find(f"{DS}Signature") is None
    assert _one(forged, f"{SAML}Subject/{SAML}NameID").text == FORGED_SUBJECT
    session_name = f"{SAML}AttributeStatement/{SAML}Attribute[@Name='{SESSION_NAME_ATTR}']"
    assert _one(forged, f"{session_name}/{SAML}AttributeValue").text == FORGED_SUBJECT
    hidden = _one(forged, f"{SAML}Advice/{SAML}Assertion")
    assert hidden.get("ID") != forged.get("ID")
    assert _one(hidden, f"{SAML}Subject/{SAML}NameID").text == spec.name_id
    alone = build_envelope(spec, copy.deepcopy(hidden))
    assert verifier_rule(federation, alone) is None


def test_faulty_responses_decode_as_posted(broken: Callable[..., etree._Element]) -> None:
    """Serialized as the IdP posts them (``to_bytes``), every fault parses back unchanged."""
    for fault in BUILT:
        root = broken(fault)
        again = decode(base64.b64encode(to_bytes(root)).decode())
        assert comparable(again) == comparable(root), fault
