"""AssumeRole's rules, one by one, against the demo IAM state (in process, fixed clock)."""

from __future__ import annotations

import json

import pyotp
import pytest

from idp.aws.assume_role import (
    CHAINING_MESSAGE,
    MAX_DURATION_MESSAGE,
    MFA_BOTH_MESSAGE,
    MFA_INVALID_MESSAGE,
    AssumeRoleRequest,
    RoleAssumption,
)
from idp.aws.callers import Callers
from idp.aws.credentials import CredentialIssuer
from idp.aws.errors import AwsError
from idp.aws.iam import Iam
from idp.aws.mfa import MfaCodes
from idp.aws.principals import CallerKind
from tests.support.builders import CREDENTIAL_SECRET
from tests.support.demo import OPS_MFA, OPS_SEED

PROD, DEV, VENDOR = "111122223333", "444455556666", "999988887777"
DEPLOYER = f"arn:aws:iam::{DEV}:role/Deployer"
READ_ONLY = f"arn:aws:iam::{PROD}:role/ReadOnly"
BREAK_GLASS = f"arn:aws:iam::{PROD}:role/BreakGlass"
VENDOR_AUDIT = f"arn:aws:iam::{PROD}:role/VendorAudit"


@pytest.fixture
def iam(directory, settings, keypair, store, clock) -> Iam:
    return Iam(directory, settings.entity_id, (keypair,), store=store, clock=clock)


@pytest.fixture
def issuer(clock):
    return CredentialIssuer(CREDENTIAL_SECRET, clock)


@pytest.fixture
def callers(iam, issuer, clock):
    return Callers(iam, issuer, clock)


@pytest.fixture
def roles(iam, issuer, store, clock):
    return RoleAssumption(iam, issuer, MfaCodes(clock, store), clock)


def user(callers, key_id):
    return callers._long_term(key_id)[1]


@pytest.fixture
def ops(callers):
    return user(callers, "AKIAOPSUSEREXAMPLE00")


@pytest.fixture
def auditor(callers):
    return user(callers, "AKIAVENDORAUDITOR000")


def code_at(clock, seed=OPS_SEED, offset=0):
    return pyotp.TOTP(seed).at(clock.now().timestamp() + offset)


def refused(call, code, message=None):
    with pytest.raises(AwsError) as info:
        call()
    assert info.value.code == code
    if message is not None:
        assert info.value.message == message
    return info.value


def denied(caller, action, resource):
    return (f"User: {caller.arn} is not authorized to perform: {action} on resource: "
            f"{resource}")


def test_user_assumes_deployer_same_account(roles, ops, clock):
    result = roles.assume_role(ops, AssumeRoleRequest(DEPLOYER, "build"))
    assert result.caller.arn == f"arn:aws:sts::{DEV}:assumed-role/Deployer/build"
    assert result.caller.user_id.startswith("AROA") and result.caller.user_id.endswith(":build")
    assert result.caller.kind is CallerKind.ROLE_SESSION
    assert (result.credentials.expiration - clock.now()).total_seconds() == 3600
    assert result.packed_policy_size is None
    assert result.caller.mfa_authenticated_at is None


def test_missing_role_is_access_denied(roles, ops):
    arn = f"arn:aws:iam::{PROD}:role/Nope"
    refused(lambda: roles.assume_role(ops, AssumeRoleRequest(arn, "s1")), "AccessDenied",
            denied(ops, "sts:AssumeRole", arn))


def test_break_glass_refused_without_mfa(roles, ops):
    error = refused(lambda: roles.assume_role(ops, AssumeRoleRequest(BREAK_GLASS, "s1")),
                    "AccessDenied", denied(ops, "sts:AssumeRole", BREAK_GLASS))
    assert error.http_status == 403


def test_break_glass_with_code_once(roles, ops, clock):
    code = code_at(clock)
    request = AssumeRoleRequest(BREAK_GLASS, "s1", serial_number=OPS_MFA, token_code=code)
    result = roles.assume_role(ops, request)
    assert result.caller.mfa_authenticated_at == clock.now()
    refused(lambda: roles.assume_role(ops, request), "AccessDenied", MFA_INVALID_MESSAGE)
    # The previous step's code is older than the one used: refused too.
    refused(lambda: roles.assume_role(ops, AssumeRoleRequest(
        BREAK_GLASS, "s1", serial_number=OPS_MFA, token_code=code_at(clock, offset=-30))),
        "AccessDenied", MFA_INVALID_MESSAGE)
    clock.advance(30)
    assert roles.assume_role(ops, AssumeRoleRequest(
        BREAK_GLASS, "s2", serial_number=OPS_MFA, token_code=code_at(clock)))


def test_wrong_code_and_wrong_device(roles, ops, auditor, clock):
    good = code_at(clock)
    wrong = "000000" if good != "000000" else "111111"
    refused(lambda: roles.assume_role(ops, AssumeRoleRequest(
        BREAK_GLASS, "s1", serial_number=OPS_MFA, token_code=wrong)),
        "AccessDenied", MFA_INVALID_MESSAGE)
    # Someone else's device is not the caller's.
    refused(lambda: roles.assume_role(auditor, AssumeRoleRequest(
        VENDOR_AUDIT, "s1", external_id="vendor-7f3a", serial_number=OPS_MFA,
        token_code=good)), "AccessDenied", MFA_INVALID_MESSAGE)


@pytest.mark.parametrize("serial, code", [(OPS_MFA, None), (None, "123456")])
def test_serial_and_code_come_together(roles, ops, serial, code):
    refused(lambda: roles.assume_role(ops, AssumeRoleRequest(
        BREAK_GLASS, "s1", serial_number=serial, token_code=code)),
        "AccessDenied", MFA_BOTH_MESSAGE)


@pytest.mark.parametrize("external_id, ok", [("vendor-7f3a", True), ("vendor-7f3b", False),
                                             (None, False)])
def test_external_id(roles, auditor, external_id, ok):
    request = AssumeRoleRequest(VENDOR_AUDIT, "audit", external_id=external_id)
    if ok:
        assert roles.assume_role(auditor, request).caller.arn.endswith("VendorAudit/audit")
    else:
        refused(lambda: roles.assume_role(auditor, request), "AccessDenied",
                denied(auditor, "sts:AssumeRole", VENDOR_AUDIT))


def test_identity_policy_needed_cross_account(roles, callers):
    dev_admin = user(callers, "AKIADEVADMINEXAMPLE0")
    error = refused(lambda: roles.assume_role(dev_admin, AssumeRoleRequest(
        VENDOR_AUDIT, "x1", external_id="vendor-7f3a")), "AccessDenied")
    assert "sts:AssumeRole" in error.message


def _set_trust(iam, account, role, statement):
    def edit(doc, _state):
        doc["accounts"][account]["roles"][role]["trust_policy"] = json.dumps(
            {"Version": "2012-10-17", "Statement": [statement]})
    iam.change(edit)


def _drop_policies(iam, account, user_name):
    def edit(doc, _state):
        doc["accounts"][account]["users"][user_name]["policies"] = {}
    iam.change(edit)


def test_same_account_trust_naming_the_user_needs_no_identity_policy(roles, iam, callers):
    _drop_policies(iam, DEV, "ops")
    ops = user(callers, "AKIAOPSUSEREXAMPLE00")
    # The trust names the account only: the identity policy is needed, and is gone.
    refused(lambda: roles.assume_role(ops, AssumeRoleRequest(DEPLOYER, "s1")), "AccessDenied",
            denied(ops, "sts:AssumeRole", DEPLOYER))
    _set_trust(iam, DEV, "Deployer", {"Effect": "Allow", "Action": "sts:AssumeRole",
                                      "Principal": {"AWS": f"arn:aws:iam::{DEV}:user/ops"}})
    assert roles.assume_role(ops, AssumeRoleRequest(DEPLOYER, "s1"))


def test_a_trust_naming_the_user_never_overrides_the_users_own_deny(roles, iam, callers):
    """The same-account trust stands in for a missing Allow, not for an explicit Deny."""
    def deny(doc, _state):
        doc["accounts"][DEV]["users"]["ops"]["policies"] = {"NoRoles": json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*"}]})}
    iam.change(deny)
    _set_trust(iam, DEV, "Deployer", {"Effect": "Allow", "Action": "sts:AssumeRole",
                                      "Principal": {"AWS": f"arn:aws:iam::{DEV}:user/ops"}})
    ops = user(callers, "AKIAOPSUSEREXAMPLE00")
    with pytest.raises(AwsError) as raised:
        roles.assume_role(ops, AssumeRoleRequest(DEPLOYER, "s1"))
    assert raised.value.message == denied(ops, "sts:AssumeRole", DEPLOYER)
    assert "explicit Deny" in (raised.value.detail or "")


def test_explicit_deny_in_trust_wins(roles, iam, ops):
    def edit(doc, _state):
        trust = json.loads(doc["accounts"][DEV]["roles"]["Deployer"]["trust_policy"])
        trust["Statement"].append({"Effect": "Deny", "Action": "sts:AssumeRole",
                                   "Principal": {"AWS": f"arn:aws:iam::{DEV}:user/ops"}})
        doc["accounts"][DEV]["roles"]["Deployer"]["trust_policy"] = json.dumps(trust)
    iam.change(edit)
    refused(lambda: roles.assume_role(ops, AssumeRoleRequest(DEPLOYER, "s1")), "AccessDenied")


def test_chaining_to_read_only_and_the_one_hour_cap(roles, ops):
    deployer = roles.assume_role(ops, AssumeRoleRequest(DEPLOYER, "build")).caller
    refused(lambda: roles.assume_role(deployer, AssumeRoleRequest(
        READ_ONLY, "chain", duration=7200)), "ValidationError", CHAINING_MESSAGE)
    result = roles.assume_role(deployer, AssumeRoleRequest(READ_ONLY, "chain", duration=3600))
    assert result.caller.arn == f"arn:aws:sts::{PROD}:assumed-role/ReadOnly/chain"
    # ops has no grant on ReadOnly (and ReadOnly does not trust ops).
    refused(lambda: roles.assume_role(ops, AssumeRoleRequest(READ_ONLY, "x1")), "AccessDenied")


def test_max_session_duration(roles, ops, iam):
    refused(lambda: roles.assume_role(ops, AssumeRoleRequest(DEPLOYER, "s1", duration=7200)),
            "ValidationError", MAX_DURATION_MESSAGE)

    def edit(doc, _state):
        doc["accounts"][DEV]["roles"]["Deployer"]["max_session_duration"] = 43200
    iam.change(edit)
    assert roles.assume_role(ops, AssumeRoleRequest(DEPLOYER, "s1", duration=43200))


def test_user_session_counts_as_chaining(roles, ops):
    session = roles.session_token(ops, duration=None, serial_number=None,
                                  token_code=None).caller
    refused(lambda: roles.assume_role(session, AssumeRoleRequest(
        DEPLOYER, "s1", duration=3601)), "ValidationError", CHAINING_MESSAGE)


def test_mfa_session_satisfies_break_glass_without_code(roles, ops, clock):
    plain = roles.session_token(ops, duration=None, serial_number=None, token_code=None).caller
    refused(lambda: roles.assume_role(plain, AssumeRoleRequest(BREAK_GLASS, "s1")),
            "AccessDenied")
    mfa = roles.session_token(ops, duration=None, serial_number=OPS_MFA,
                              token_code=code_at(clock)).caller
    result = roles.assume_role(mfa, AssumeRoleRequest(BREAK_GLASS, "s1"))
    assert result.caller.mfa_authenticated_at is not None


def test_role_session_mfa_does_not_reach_a_chained_trust(roles, iam, ops, clock):
    """A role assumed with MFA cannot chain into an MFA-conditioned role without a new code."""
    _set_trust(iam, PROD, "BreakGlass", {
        "Effect": "Allow", "Action": ["sts:AssumeRole"],
        "Principal": {"AWS": [f"arn:aws:iam::{DEV}:root"]},
        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}})

    def grant(doc, _state):
        doc["accounts"][DEV]["roles"]["Deployer"]["policies"]["Glass"] = json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": BREAK_GLASS}]})
    iam.change(grant)
    deployer = roles.assume_role(ops, AssumeRoleRequest(
        DEPLOYER, "s1", serial_number=OPS_MFA, token_code=code_at(clock))).caller
    assert deployer.mfa_authenticated_at is not None
    refused(lambda: roles.assume_role(deployer, AssumeRoleRequest(BREAK_GLASS, "s2")),
            "AccessDenied", denied(deployer, "sts:AssumeRole", BREAK_GLASS))


def _grant_ops(iam, *actions):
    def edit(doc, _state):
        doc["accounts"][DEV]["users"]["ops"]["policies"]["Extra"] = json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": list(actions), "Resource": DEPLOYER}]})
    iam.change(edit)


def test_tags_need_tag_session_and_carry_when_transitive(roles, iam, callers, auditor):
    ops = user(callers, "AKIAOPSUSEREXAMPLE00")
    request = AssumeRoleRequest(DEPLOYER, "s1", tags=(("Team", "blue"), ("Env", "dev")),
                                transitive_tag_keys=("Team",))
    # The trust names the account: the identity policy must allow sts:TagSession too.
    refused(lambda: roles.assume_role(ops, request), "AccessDenied",
            denied(ops, "sts:TagSession", DEPLOYER))
    _grant_ops(iam, "sts:TagSession")
    tagged = roles.assume_role(ops, request)
    assert tagged.packed_policy_size is not None
    chained = roles.assume_role(tagged.caller, AssumeRoleRequest(READ_ONLY, "s2"))
    assert ("Team", "blue") in chained.caller.principal_tags
    assert ("Env", "dev") not in chained.caller.principal_tags
    assert chained.caller.transitive_tag_keys == ("Team",)
    # A transitive key cannot be set again down the chain.
    refused(lambda: roles.assume_role(tagged.caller, AssumeRoleRequest(
        READ_ONLY, "s3", tags=(("team", "red"),))), "AccessDenied")
    # VendorAudit's trust does not allow sts:TagSession.
    refused(lambda: roles.assume_role(auditor, AssumeRoleRequest(
        VENDOR_AUDIT, "s1", external_id="vendor-7f3a", tags=(("a", "b"),))),
        "AccessDenied", denied(auditor, "sts:TagSession", VENDOR_AUDIT))


def test_source_identity_is_set_once_and_carries(roles, iam, callers, auditor):
    ops = user(callers, "AKIAOPSUSEREXAMPLE00")
    refused(lambda: roles.assume_role(ops, AssumeRoleRequest(
        DEPLOYER, "s1", source_identity="ops")), "AccessDenied",
        denied(ops, "sts:SetSourceIdentity", DEPLOYER))
    _grant_ops(iam, "sts:SetSourceIdentity")
    first = roles.assume_role(ops, AssumeRoleRequest(DEPLOYER, "s1", source_identity="ops"))
    assert first.caller.source_identity == "ops"
    chained = roles.assume_role(first.caller, AssumeRoleRequest(READ_ONLY, "s2"))
    assert chained.caller.source_identity == "ops"
    same = roles.assume_role(first.caller, AssumeRoleRequest(READ_ONLY, "s3",
                                                             source_identity="ops"))
    assert same.caller.source_identity == "ops"
    refused(lambda: roles.assume_role(first.caller, AssumeRoleRequest(
        READ_ONLY, "s4", source_identity="mallory")), "AccessDenied",
        denied(first.caller, "sts:SetSourceIdentity", READ_ONLY))
    refused(lambda: roles.assume_role(auditor, AssumeRoleRequest(
        VENDOR_AUDIT, "s1", external_id="vendor-7f3a", source_identity="aud")),
        "AccessDenied", denied(auditor, "sts:SetSourceIdentity", VENDOR_AUDIT))


def test_session_policy_narrows_chained_calls(roles, ops):
    deny_all = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]})
    narrowed = roles.assume_role(ops, AssumeRoleRequest(DEPLOYER, "s1", policy=deny_all))
    assert narrowed.caller.session_policy == deny_all
    assert narrowed.packed_policy_size is not None
    refused(lambda: roles.assume_role(narrowed.caller, AssumeRoleRequest(READ_ONLY, "s2")),
            "AccessDenied")


def test_console_switch_uses_user_name_and_remaining_time(roles, ops, issuer, callers, clock):
    user_arn = ops.arn
    creds, _ = issuer.issue_user_session(user_arn, ops.user_id, 1800, mfa_at=clock.now())
    signed_in = callers.resolve_temporary(creds.access_key_id, creds.session_token)
    result = roles.assume_role(signed_in, AssumeRoleRequest(BREAK_GLASS, "ignored"),
                               console=True)
    assert result.caller.arn == f"arn:aws:sts::{PROD}:assumed-role/BreakGlass/ops"
    assert (result.credentials.expiration - clock.now()).total_seconds() == 1800


def test_console_cannot_switch_to_external_id_roles(roles, auditor, issuer, callers, clock):
    creds, _ = issuer.issue_user_session(auditor.arn, auditor.user_id, 3600)
    signed_in = callers.resolve_temporary(creds.access_key_id, creds.session_token)
    error = refused(lambda: roles.assume_role(signed_in, AssumeRoleRequest(
        VENDOR_AUDIT, "x1", external_id="vendor-7f3a"), console=True), "AccessDenied")
    assert "ExternalId" in (error.hint or "")


# --- found by review: what a session may do stays bounded -----------------------------------

def _iam_allowed(iam, caller, clock, action="iam:CreateUser", resource="*"):
    from idp.aws.authorization import decide

    return decide(iam.state(), caller, action, resource, now=clock.now()).allowed


def test_policy_arns_alone_leave_the_session_nothing(roles, ops, iam, clock):
    """No managed policies exist here: a session scoped by PolicyArns alone may do nothing
    (failing closed), one with an inline Policy what that policy allows."""
    scoped = roles.assume_role(ops, AssumeRoleRequest(
        DEPLOYER, "s", policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",))).caller
    assert not _iam_allowed(iam, scoped, clock, "sts:AssumeRole", READ_ONLY)
    both = roles.assume_role(ops, AssumeRoleRequest(
        DEPLOYER, "s", policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Action":"sts:AssumeRole","Resource":"*"}]}',
        policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",))).caller
    assert _iam_allowed(iam, both, clock, "sts:AssumeRole", READ_ONLY)


def test_a_session_policy_still_narrows_when_the_trust_names_the_role(roles, ops, iam):
    """A same-account trust naming the caller's role stands in for the identity policy's
    Allow, not for the session policy's limits."""
    _set_trust(iam, DEV, "Developer", {"Effect": "Allow", "Action": "sts:AssumeRole",
                                       "Principal": {"AWS": DEPLOYER}})
    deny_all = ('{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*",'
                '"Resource":"*"}]}')
    narrowed = roles.assume_role(ops, AssumeRoleRequest(DEPLOYER, "s", policy=deny_all)).caller
    developer = f"arn:aws:iam::{DEV}:role/Developer"
    refused(lambda: roles.assume_role(narrowed, AssumeRoleRequest(developer, "hop")),
            "AccessDenied", denied(narrowed, "sts:AssumeRole", developer))
    free = roles.assume_role(ops, AssumeRoleRequest(DEPLOYER, "s")).caller
    assert roles.assume_role(free, AssumeRoleRequest(developer, "hop"))


def _recreate_user(iam, account, name):
    def edit(doc, _state):
        users = doc["accounts"][account]["users"]
        body = users.pop(name)
        users[name] = {**body, "id": "AIDA" + "RECREATED" + "X" * 8, "access_keys": []}
    iam.change(edit)


def test_a_user_deleted_and_created_again_does_not_inherit_old_sessions(roles, ops, iam,
                                                                         callers):
    session = roles.session_token(ops, duration=None, serial_number=None, token_code=None)
    key = session.credentials
    assert callers.resolve_temporary(key.access_key_id, key.session_token).arn == ops.arn
    _recreate_user(iam, DEV, "ops")
    refused(lambda: callers.resolve_temporary(key.access_key_id, key.session_token),
            "InvalidClientTokenId")


def test_a_role_deleted_and_created_again_gives_old_sessions_nothing(roles, ops, iam, clock):
    deployer = roles.assume_role(ops, AssumeRoleRequest(DEPLOYER, "s")).caller
    assert _iam_allowed(iam, deployer, clock, "sts:AssumeRole", READ_ONLY)

    def recreate(doc, _state):
        doc["accounts"][DEV]["roles"]["Deployer"]["id"] = "AROA" + "RECREATED" + "X" * 8
    iam.change(recreate)
    assert not _iam_allowed(iam, deployer, clock, "sts:AssumeRole", READ_ONLY)
    fresh = roles.assume_role(ops, AssumeRoleRequest(DEPLOYER, "s")).caller
    assert fresh.user_id.startswith("AROARECREATED")
    assert _iam_allowed(iam, fresh, clock, "sts:AssumeRole", READ_ONLY)
