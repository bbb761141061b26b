"""Who signed a request: long-term keys from the IAM state, temporary keys from their token."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from idp.aws.callers import Callers, merge_tags
from idp.aws.credentials import CredentialIssuer
from idp.aws.errors import AwsError
from idp.aws.iam import Iam
from idp.aws.principals import CallerKind
from idp.aws.sigv4 import SignedRequest
from idp.clock import FixedClock
from tests.support.builders import CREDENTIAL_SECRET
from tests.support.demo import OPS

URL = "http://idp.test/aws/sts"
BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
DEV_ADMIN = ("AKIADEVADMINEXAMPLE0", "devAdmin/DemoSecretAccessKey/00000000000")
DEPLOYER = "arn:aws:iam::444455556666:role/Deployer"


@pytest.fixture
def iam(directory, settings, keypair, store, clock) -> Iam:
    return Iam(directory, settings.entity_id, (keypair,), store=store, clock=clock)


@pytest.fixture
def issuer(clock) -> CredentialIssuer:
    return CredentialIssuer(CREDENTIAL_SECRET, clock)


@pytest.fixture
def callers(iam, issuer, clock) -> Callers:
    return Callers(iam, issuer, clock)


def signed(key: str, secret: str, token: str | None = None, *, service: str = "sts",
           region: str = "us-east-1", url: str = URL) -> SignedRequest:
    request = AWSRequest(method="POST", url=url, data=BODY,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(key, secret, token), service, region).add_auth(request)
    headers = [("Host", urlsplit(url).netloc), *request.headers.items()]
    return SignedRequest(method="POST", url=url, headers=headers, body=BODY)


def code(excinfo: Any) -> tuple[str, int]:
    return excinfo.value.code, excinfo.value.http_status


def test_long_term_key_is_the_user(callers):
    caller = callers.authenticate(signed(*OPS), service="sts")
    assert caller.kind is CallerKind.USER
    assert caller.arn == "arn:aws:iam::444455556666:user/ops"
    assert caller.user_id.startswith("AIDA") and len(caller.user_id) == 21
    assert caller.account == "444455556666"
    assert caller.user_name == "ops"
    assert not caller.temporary
    assert "aws:multifactorauthpresent" not in caller.context(caller_now(callers))


def caller_now(callers):
    return callers.clock.now()


def test_iam_service_scope(callers):
    """boto3 signs IAM with service ``iam``: accepted for service="iam", refused for sts."""
    assert callers.authenticate(signed(*OPS, service="iam"), service="iam").user_name == "ops"
    with pytest.raises(AwsError) as info:
        callers.authenticate(signed(*OPS, service="iam"), service="sts")
    assert code(info) == ("SignatureDoesNotMatch", 403)


def test_wrong_secret_does_not_match(callers):
    with pytest.raises(AwsError) as info:
        callers.authenticate(signed(OPS[0], "x" * 40), service="sts")
    assert code(info) == ("SignatureDoesNotMatch", 403)


def test_unknown_key_is_invalid_client_token(callers):
    with pytest.raises(AwsError) as info:
        callers.authenticate(signed("AKIAUNKNOWNKEY000000", "x" * 40), service="sts")
    assert code(info) == ("InvalidClientTokenId", 403)
    assert info.value.message == "The security token included in the request is invalid."


def _edit_user(iam, account, name, edit):
    def change(doc, _state):
        edit(doc["accounts"][account]["users"], name)
    iam.change(change)


def test_inactive_key_is_refused_at_once(callers, iam):
    callers.authenticate(signed(*OPS), service="sts")

    def deactivate(users, name):
        for key in users[name]["access_keys"]:
            key["active"] = False
    _edit_user(iam, "444455556666", "ops", deactivate)
    with pytest.raises(AwsError) as info:
        callers.authenticate(signed(*OPS), service="sts")
    assert code(info) == ("InvalidClientTokenId", 403)


def test_deleted_user_key_and_sessions_stop_at_once(callers, iam, issuer):
    user = iam.state().account("444455556666").user("ops")
    creds, _ = issuer.issue_user_session(user.arn, user.id, 3600)
    assert callers.resolve_temporary(creds.access_key_id, creds.session_token).kind \
        is CallerKind.USER_SESSION
    _edit_user(iam, "444455556666", "ops", lambda users, name: users.pop(name))
    for request in (signed(*OPS), signed(creds.access_key_id, creds.secret_access_key,
                                          creds.session_token)):
        with pytest.raises(AwsError) as info:
            callers.authenticate(request, service="sts")
        assert code(info) == ("InvalidClientTokenId", 403)


def test_role_session_caller(callers, issuer):
    creds, _ = issuer.issue(DEPLOYER, "build-7", 3600, source_identity="ops",
                            tags=(("Team", "blue"),), transitive_tag_keys=("Team",),
                            session_policy='{"Version":"2012-10-17","Statement":[]}')
    caller = callers.authenticate(
        signed(creds.access_key_id, creds.secret_access_key, creds.session_token),
        service="sts")
    assert caller.kind is CallerKind.ROLE_SESSION
    assert caller.arn == "arn:aws:sts::444455556666:assumed-role/Deployer/build-7"
    assert caller.user_id.endswith(":build-7") and caller.user_id.startswith("AROA")
    assert caller.role_arn == DEPLOYER
    assert caller.source_identity == "ops"
    assert caller.principal_tags == (("Team", "blue"),)
    assert caller.transitive_tag_keys == ("Team",)
    assert caller.chained_limit
    assert caller.mfa_authenticated_at is None
    assert caller.session_policy == '{"Version":"2012-10-17","Statement":[]}'
    context = caller.context(caller_now(callers))
    assert context["aws:multifactorauthpresent"] == ("false",)
    assert context["aws:principalarn"] == (DEPLOYER,)


def test_expired_session_is_expired_token_403(callers, issuer, clock: FixedClock):
    creds, _ = issuer.issue(DEPLOYER, "s1", 900)
    clock.advance(900)
    with pytest.raises(AwsError) as info:
        callers.authenticate(
            signed(creds.access_key_id, creds.secret_access_key, creds.session_token),
            service="sts")
    assert code(info) == ("ExpiredToken", 403)


def test_session_without_mfa_cannot_call_iam(callers, iam, issuer, clock):
    user = iam.state().account("444455556666").user("ops")
    plain, _ = issuer.issue_user_session(user.arn, user.id, 3600)
    with pytest.raises(AwsError) as info:
        callers.authenticate(signed(plain.access_key_id, plain.secret_access_key,
                                    plain.session_token, service="iam"), service="iam")
    assert code(info) == ("InvalidClientTokenId", 403)
    # The same credentials work for STS, and MFA-backed ones for IAM.
    assert callers.authenticate(signed(plain.access_key_id, plain.secret_access_key,
                                       plain.session_token), service="sts").user_name == "ops"
    with_mfa, _ = issuer.issue_user_session(user.arn, user.id, 3600, mfa_at=clock.now())
    caller = callers.authenticate(signed(with_mfa.access_key_id, with_mfa.secret_access_key,
                                         with_mfa.session_token, service="iam"), service="iam")
    assert caller.kind is CallerKind.USER_SESSION
    assert caller.context(clock.now())["aws:multifactorauthpresent"] == ("true",)


def test_temporary_key_without_token_is_invalid(callers, issuer):
    creds, _ = issuer.issue(DEPLOYER, "s1", 900)
    with pytest.raises(AwsError) as info:
        callers.authenticate(signed(creds.access_key_id, creds.secret_access_key),
                             service="sts")
    assert code(info) == ("InvalidClientTokenId", 403)


def test_merge_tags_session_over_principal_ignoring_case():
    assert merge_tags((("team", "a"), ("Env", "prod")), (("Team", "b"),)) == (
        ("Env", "prod"), ("Team", "b"))


def test_a_long_term_key_with_a_session_token_is_refused(callers):
    """A session token belongs with temporary keys only; AWS refuses it with an AKIA key."""
    with pytest.raises(AwsError) as info:
        callers.authenticate(signed("AKIAOPSUSEREXAMPLE00",
                                    "opsUser/DemoSecretAccessKey/000000000000", token="x" * 40),
                             service="sts")
    assert code(info) == ("InvalidClientTokenId", 403)
