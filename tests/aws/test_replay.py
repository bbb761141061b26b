"""Replay protection (``idp.aws.replay``): how often one assertion is redeemed in each mode,
and its entry in the state file stays bounded."""

from __future__ import annotations

import pytest
from lxml import etree

from idp.aws.console import open_session, select_roles
from idp.aws.errors import AwsError
from idp.aws.federation import AwsFederation
from idp.aws.replay import ReplayMode
from idp.aws.sts import Sts
from idp.clock import FixedClock
from idp.directory import Directory
from idp.errors import Rule, SamlValidationError
from idp.keys import KeyPair
from idp.settings import Settings
from idp.store import StateStore
from tests.support import builders
from tests.support.saml import SAML, assertion_of, resigned
from tests.support.sts import assume_role_params

READ_ONLY = "arn:aws:iam::111122223333:role/ReadOnly"


@pytest.fixture(params=list(ReplayMode))
def mode(request: pytest.FixtureRequest) -> ReplayMode:
    return ReplayMode(request.param)


@pytest.fixture
def federation(settings: Settings, directory: Directory, keypair: KeyPair, clock: FixedClock,
               store: StateStore, mode: ReplayMode) -> AwsFederation:
    return builders.federation(settings, directory, keypair, clock, replay=store,
                               replay_mode=mode)


def _sts(federation: AwsFederation, saml: str) -> str:
    """An AssumeRoleWithSAML call: the access key, or the refusal's rule."""
    try:
        return Sts(federation).assume_role_with_saml(
            assume_role_params(saml)).credentials.access_key_id
    except AwsError as exc:
        assert exc.rule is not None
        return exc.rule.value


def _console(federation: AwsFederation, saml: str) -> str:
    """A console sign-in (role page, then the role): the access key, or the refusal's rule."""
    try:
        selection = select_roles(federation, saml)
        return open_session(federation, selection, READ_ONLY).credentials.access_key_id
    except (AwsError, SamlValidationError) as exc:
        assert exc.rule is not None
        return exc.rule.value


#: (first, second) surface → what the second redemption gets in each mode.
EXPECTED = {
    ("sts", "sts"): {ReplayMode.AWS: "ok", ReplayMode.STRICT: Rule.REPLAY, ReplayMode.OFF: "ok"},
    ("console", "sts"): {ReplayMode.AWS: "ok", ReplayMode.STRICT: Rule.REPLAY,
                         ReplayMode.OFF: "ok"},
    ("sts", "console"): {ReplayMode.AWS: "ok", ReplayMode.STRICT: Rule.REPLAY,
                         ReplayMode.OFF: "ok"},
    ("console", "console"): {ReplayMode.AWS: Rule.REPLAY, ReplayMode.STRICT: Rule.REPLAY,
                             ReplayMode.OFF: "ok"},
}


@pytest.mark.parametrize(("first", "second"), list(EXPECTED))
def test_second_redemption(federation: AwsFederation, mode: ReplayMode, bob_saml: str,
                           first: str, second: str) -> None:
    """aws: the console takes an assertion once and never consumes it for STS, which takes it
    again (aws-adfs posts to the sign-in page, then STS; gimme-aws-creds calls STS per role).
    strict: once in all. off: never tracked."""
    redeem = {"sts": _sts, "console": _console}
    assert redeem[first](federation, bob_saml).startswith("ASIA")
    outcome = redeem[second](federation, bob_saml)
    expected = EXPECTED[(first, second)][mode]
    if expected == "ok":
        assert outcome.startswith("ASIA"), outcome
    else:
        assert outcome == Rule.REPLAY.value


@pytest.mark.parametrize("reuse_mode", [ReplayMode.AWS, ReplayMode.OFF])
def test_sts_reuse_gets_fresh_credentials(settings: Settings, directory: Directory,
                                          keypair: KeyPair, clock: FixedClock,
                                          store: StateStore, bob_saml: str,
                                          reuse_mode: ReplayMode) -> None:
    """Each STS redemption that is allowed is a new role session (new keys)."""
    federation = builders.federation(settings, directory, keypair, clock, replay=store,
                                     replay_mode=reuse_mode)
    keys = {_sts(federation, bob_saml) for _ in range(3)}
    assert len(keys) == 3 and all(k.startswith("ASIA") for k in keys)


def test_strict_message_names_the_mode(settings: Settings, directory: Directory,
                                       keypair: KeyPair, clock: FixedClock, store: StateStore,
                                       bob_saml: str) -> None:
    sts = builders.sts(settings, directory, keypair, clock, replay=store,
                       replay_mode=ReplayMode.STRICT)
    sts.assume_role_with_saml(assume_role_params(bob_saml))
    with pytest.raises(AwsError) as info:
        sts.assume_role_with_saml(assume_role_params(bob_saml))
    assert str(info.value) == "SAML assertion has already been used"
    assert info.value.hint is not None and "strict" in info.value.hint


def test_far_future_not_on_or_after_does_not_overflow(settings: Settings, directory: Directory,
                                                      keypair: KeyPair, clock: FixedClock,
                                                      store: StateStore, bob_saml: str) -> None:
    """NotOnOrAfter 9999-12-31 (signed) gives credentials, and the replay entry stays bounded."""
    sts = builders.sts(settings, directory, keypair, clock, replay=store,
                       replay_mode=ReplayMode.STRICT)

    def change(root: etree._Element) -> None:
        for el in assertion_of(root).iter(f"{SAML}SubjectConfirmationData", f"{SAML}Conditions"):
            el.set("NotOnOrAfter", "9999-12-31T23:59:59Z")
    saml = resigned(bob_saml, keypair, change)
    first = sts.assume_role_with_saml(assume_role_params(saml))
    assert first.credentials.access_key_id.startswith("ASIA")
    with pytest.raises(AwsError) as info:
        sts.assume_role_with_saml(assume_role_params(saml))
    assert "already been used" in str(info.value)
