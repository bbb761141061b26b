"""The SAML verifier (``idp.saml.validation.verify_response``) against the attack corpus,
in-process.

Every vector of ``tests.vectors.attacks`` starts from bob's genuine signed Response and is
decoded exactly as the STS decodes ``SAMLAssertion`` (``idp.aws.params.decode_saml_assertion``),
then verified with what the SAML provider trusts and the policy ``AwsFederation.verify`` sets
(``tests.support.builders``). The vector's console expectation says where it must stop:

* a verifier rule (``Rule.XML`` … ``Rule.IN_RESPONSE_TO``): ``verify_response`` raises
  ``SamlValidationError`` with exactly that rule;
* ``base64`` or ``ValidationError``: decoding the parameter fails, before any XML is read;
* anything else (role pair, replay, session name, provider …, or an accepted sign-in): the
  verifier accepts it, and hands on the claims as signed (comment injection yields the full
  signed value, never the text before the comment).

The same vectors through the whole STS API: ``tests/aws/test_sts.py``; end to end through
boto3 and the console: ``tests/attacks``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

import pytest

from idp.aws.errors import AwsError
from idp.aws.params import decode_saml_assertion
from idp.clock import FixedClock
from idp.directory import Directory
from idp.errors import Rule, SamlValidationError
from idp.keys import KeyPair
from idp.saml.validation import VerifiedAssertion, verify_response
from idp.settings import Settings
from tests.support import builders
from tests.support.demo import (
    BOB_ROLE,
    DEVELOPER,
    PROD_PROVIDER,
    ROLE_ATTR,
    SESSION_NAME_ATTR,
    SOURCE_IDENTITY_ATTR,
)
from tests.support.saml import decode
from tests.vectors.attacks import (
    ATTACKER_NAME,
    CLONE_ROLE,
    OTHER_ACCOUNT,
    VECTORS,
    ConsoleRefusal,
    Keys,
    stage,
)

#: What the verifier must hand on for the vectors it accepts, where the value is the point:
#: claim (see ``claims``) -> expected value.
EXPECTED_CLAIMS: Final[Mapping[str, Mapping[str, object]]] = {
    "comment_in_name_id": {"name_id": ATTACKER_NAME},
    "comment_in_role_session_name": {SESSION_NAME_ATTR: (ATTACKER_NAME,)},
    "comment_in_role": {ROLE_ATTR: (CLONE_ROLE,)},
    "role_pair_cross_account": {ROLE_ATTR: (f"{DEVELOPER},{PROD_PROVIDER}",)},
    "role_pair_unknown_account": {ROLE_ATTR: (
        f"arn:aws:iam::{OTHER_ACCOUNT}:role/Admin,"
        f"arn:aws:iam::{OTHER_ACCOUNT}:saml-provider/CorpIdP",)},
    "role_session_name_space": {SESSION_NAME_ATTR: ("bob smith",)},
    "role_session_name_one_char": {SESSION_NAME_ATTR: ("b",)},
    "role_session_name_too_long": {SESSION_NAME_ATTR: ("b" * 65,)},
    "role_session_name_missing": {SESSION_NAME_ATTR: None},
    "source_identity_aws_prefix": {SOURCE_IDENTITY_ATTR: ("aws:x",)},
    "source_identity_space": {SOURCE_IDENTITY_ATTR: ("bob smith",)},
    "session_not_on_or_after_passed": {"session_ended": True},
}


def claims(verified: VerifiedAssertion, now: dt.datetime) -> dict[str, Any]:
    """The claims ``EXPECTED_CLAIMS`` speaks of, read from what the verifier returned."""
    found: dict[str, Any] = {
        "name_id": verified.name_id,
        "in_response_to": verified.in_response_to,
        "session_ended": (verified.session_not_on_or_after is not None
                          and verified.session_not_on_or_after <= now),
    }
    for name in (ROLE_ATTR, SESSION_NAME_ATTR, SOURCE_IDENTITY_ATTR):
        found[name] = verified.attributes.get(name)
    return found


@pytest.fixture
def verify(settings: Settings, keypair: KeyPair, clock: FixedClock) -> Any:
    """``verify_response`` as ``AwsFederation.verify`` calls it for the demo's providers."""
    trust = builders.trusted_issuer(settings, keypair)
    policy = builders.validation_policy(settings, clock)

    def run(xml: bytes) -> VerifiedAssertion:
        return verify_response(xml, trust=trust, policy=policy)
    return run


def test_trust_is_what_the_saml_provider_holds(settings: Settings, directory: Directory,
                                              keypair: KeyPair, clock: FixedClock) -> None:
    """Control: the trust used here is exactly the demo provider's (so the verdicts carry)."""
    federation = builders.federation(settings, directory, keypair, clock)
    provider = federation.iam.saml_provider(PROD_PROVIDER)
    assert provider is not None
    assert provider.trust == builders.trusted_issuer(settings, keypair)


def test_genuine_response_verifies(verify: Any, bob_saml: str) -> None:
    """Control: bob's untouched Response passes, with his signed NameID and Role."""
    verified = verify(decode_saml_assertion(bob_saml))
    name_id = decode(bob_saml).findtext(".//{*}Subject/{*}NameID")
    assert verified.name_id == name_id
    assert verified.attributes[ROLE_ATTR] == (BOB_ROLE,)
    assert verified.signed == "assertion"


def test_every_accepted_claim_names_an_accepted_vector() -> None:
    """``EXPECTED_CLAIMS`` names only vectors the verifier accepts (no typo hides a check)."""
    assert {name for name in EXPECTED_CLAIMS if stage(VECTORS[name]) != "accepted"} == set()
    assert set(EXPECTED_CLAIMS) <= set(VECTORS)


@pytest.mark.parametrize("name", list(VECTORS))
def test_verifier_on_each_vector(name: str, verify: Any, bob_saml: str, attack_keys: Keys,
                                 clock: FixedClock) -> None:
    """The vector fails with its exact verifier rule, fails to decode, or passes as signed."""
    vector = VECTORS[name]
    attack = vector.mutator(bob_saml, attack_keys)
    where = stage(vector)
    if where == "decode":
        assert isinstance(vector.console, ConsoleRefusal)
        with pytest.raises(AwsError) as refused:
            decode_saml_assertion(attack.saml)
        if vector.console.rule == Rule.BASE64:
            assert refused.value.rule is Rule.BASE64
        else:
            assert refused.value.code == vector.console.rule
        return
    xml = decode_saml_assertion(attack.saml)
    if where == "verifier":
        assert isinstance(vector.console, ConsoleRefusal)
        with pytest.raises(SamlValidationError) as failed:
            verify(xml)
        assert failed.value.rule is Rule(vector.console.rule), failed.value.message
        return
    verified = verify(xml)
    expected = dict(EXPECTED_CLAIMS.get(name, {}))
    expected.setdefault("name_id", verify(decode_saml_assertion(bob_saml)).name_id)
    found = claims(verified, clock.now())
    assert {key: found[key] for key in expected} == expected
