"""GetSessionToken: IAM users' long-term keys only, durations, MFA, and what the session is."""

from __future__ import annotations

import pyotp
import pytest

from idp.aws.assume_role import SESSION_TOKEN_MFA_MESSAGE, AssumeRoleRequest, RoleAssumption
from idp.aws.callers import Callers
from idp.aws.credentials import CredentialIssuer
from idp.aws.errors import AwsError
from idp.aws.iam import Iam
from idp.aws.mfa import MfaCodes
from idp.aws.params import get_session_token_params
from idp.aws.principals import CallerKind
from tests.support.builders import CREDENTIAL_SECRET
from tests.support.demo import OPS_MFA
from tests.support.demo import OPS_SEED as SEED

DEV = "444455556666"


@pytest.fixture
def setup(directory, settings, keypair, store, clock):
    iam = Iam(directory, settings.entity_id, (keypair,), store=store, clock=clock)
    issuer = CredentialIssuer(CREDENTIAL_SECRET, clock)
    return Callers(iam, issuer, clock), RoleAssumption(iam, issuer, MfaCodes(clock, store),
                                                       clock)


def token(roles, caller, **kwargs):
    return roles.session_token(caller, duration=kwargs.get("duration"),
                               serial_number=kwargs.get("serial"),
                               token_code=kwargs.get("code"))


def test_default_is_twelve_hours_without_mfa(setup, clock):
    callers, roles = setup
    ops = callers._long_term("AKIAOPSUSEREXAMPLE00")[1]
    result = token(roles, ops)
    assert (result.credentials.expiration - clock.now()).total_seconds() == 43200
    assert result.caller.kind is CallerKind.USER_SESSION
    assert result.caller.arn == f"arn:aws:iam::{DEV}:user/ops"
    assert result.caller.user_id == ops.user_id
    assert result.caller.mfa_authenticated_at is None
    resolved = callers.resolve_temporary(result.credentials.access_key_id,
                                         result.credentials.session_token)
    assert resolved.arn == ops.arn and resolved.chained_limit


def test_with_mfa(setup, clock):
    callers, roles = setup
    ops = callers._long_term("AKIAOPSUSEREXAMPLE00")[1]
    code = pyotp.TOTP(SEED).at(clock.now())
    result = token(roles, ops, duration=129600, serial=OPS_MFA, code=code)
    assert result.caller.mfa_authenticated_at == clock.now()
    assert (result.credentials.expiration - clock.now()).total_seconds() == 129600
    with pytest.raises(AwsError) as info:
        token(roles, ops, serial=OPS_MFA, code=code)
    assert (info.value.code, info.value.message) == ("AccessDenied", SESSION_TOKEN_MFA_MESSAGE)
    assert "code.  Please" in SESSION_TOKEN_MFA_MESSAGE


def test_another_users_device_is_refused(setup, clock):
    callers, roles = setup
    admin = callers._long_term("AKIADEVADMINEXAMPLE0")[1]
    with pytest.raises(AwsError) as info:
        token(roles, admin, serial=OPS_MFA, code=pyotp.TOTP(SEED).at(clock.now()))
    assert info.value.message == SESSION_TOKEN_MFA_MESSAGE


def test_session_credentials_are_refused(setup):
    callers, roles = setup
    ops = callers._long_term("AKIAOPSUSEREXAMPLE00")[1]
    for caller in (token(roles, ops).caller, roles.assume_role(
            ops, AssumeRoleRequest(f"arn:aws:iam::{DEV}:role/Deployer", "s1")).caller):
        with pytest.raises(AwsError) as info:
            token(roles, caller)
        assert (info.value.code, info.value.http_status, info.value.message) == (
            "AccessDenied", 403, "Cannot call GetSessionToken with session credentials")


@pytest.mark.parametrize("value, message", [
    ("899", "Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have "
            "value greater than or equal to 900"),
    ("129601", "Value '129601' at 'durationSeconds' failed to satisfy constraint: Member must "
               "have value less than or equal to 129600"),
])
def test_duration_range(value, message):
    with pytest.raises(AwsError) as info:
        get_session_token_params({"DurationSeconds": value})
    assert info.value.message == f"1 validation error detected: {message}"
    assert get_session_token_params({"DurationSeconds": "129600"}).duration == 129600
