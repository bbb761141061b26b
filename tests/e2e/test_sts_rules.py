"""AssumeRoleWithSAML rules of the mock STS that no attack vector covers, through real boto3
against ``idp serve``: the provider lookup, durations, session policies, role order, the trust
policy's extra actions, and at least one refusal of each AWS error shape (code + HTTP status).

What the attack corpus covers (signatures, structure, XML, times, audience, recipient,
destination, issuer, role pairs, RoleSessionName, SourceIdentity, replay) is checked per vector
in-process (``tests/aws/test_sts.py``, ``tests/saml/test_validation.py``) and end to end
through boto3 (``tests/attacks/test_corpus_sts.py``). Responses are built and signed outside
the server with its own key (``ResponseFactory``), then edited and re-signed so that exactly
one rule fails. Each refusal is checked as botocore sees it: error Code, HTTP status, Message,
and no credentials.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

import botocore.exceptions
import httpx2
import pytest
from lxml import etree

from tests.support.demo import (
    ADMIN,
    ALICE_EMAIL,
    DEV_PROVIDER,
    DEVELOPER,
    PRINCIPAL_TAG_PREFIX,
    PROD_PROVIDER,
    READ_ONLY,
    ROLE_ATTR,
    SESSION_DURATION_ATTR,
    SOURCE_IDENTITY_ATTR,
)
from tests.support.saml import SAML, assertion_of, attribute, now, set_attribute, set_instant
from tests.support.server import LiveServer
from tests.support.sts import HTTP_TIMEOUT, ResponseFactory, sts_client

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_aws_config")]

NOT_AUTHORIZED = "Not authorized to perform sts:AssumeRoleWithSAML"


@pytest.fixture
def sts(server: LiveServer) -> Any:
    return sts_client(f"{server.url}/aws/sts")


def assume(sts: Any, assertion: str, role: str = ADMIN, provider: str = PROD_PROVIDER,
           **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = sts.assume_role_with_saml(
        RoleArn=role, PrincipalArn=provider, SAMLAssertion=assertion, **extra)
    return result


def refused(sts: Any, assertion: str, *, code: str, status: int, message: str,
            role: str = ADMIN, provider: str = PROD_PROVIDER, **extra: Any) -> dict[str, Any]:
    """Call AssumeRoleWithSAML, require a ClientError with this code/status/message."""
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        assume(sts, assertion, role, provider, **extra)
    response: dict[str, Any] = caught.value.response
    error = response["Error"]
    assert error["Code"] == code, error
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status, response
    assert response["ResponseMetadata"].get("RetryAttempts", 0) == 0
    assert error["Type"] == "Sender"
    assert error["Message"] == message
    assert "Credentials" not in response
    assert response["ResponseMetadata"]["RequestId"]
    return response


def expires_in(result: dict[str, Any]) -> float:
    expiration: dt.datetime = result["Credentials"]["Expiration"]
    return (expiration - dt.datetime.now(dt.UTC)).total_seconds()


def session_name(result: dict[str, Any]) -> str:
    arn: str = result["AssumedRoleUser"]["Arn"]
    return arn.rsplit("/", 1)[1]


# --- the provider ----------------------------------------------------------------------------


def test_unknown_provider(sts: Any, factory: ResponseFactory) -> None:
    """A PrincipalArn naming no SAML provider gives AWS's documented text."""
    refused(sts, factory.build(), code="InvalidIdentityToken", status=400,
            message="Specified provider doesn't exist.",
            provider="arn:aws:iam::111122223333:saml-provider/NoSuchIdP")


# --- the signed Response ---------------------------------------------------------------------


def test_resigned_response_is_accepted(sts: Any, factory: ResponseFactory) -> None:
    """Control: a Response re-signed by ``mutate`` with no edit is accepted."""
    resigned = factory.mutate(factory.build(), lambda root: None)
    assert factory.failing_rule(resigned) is None
    result = assume(sts, resigned)
    assert session_name(result) == ALICE_EMAIL


def test_issued_ten_minutes_ago(sts: Any, factory: ResponseFactory) -> None:
    """An Assertion issued 10 minutes ago (still within its validity window) is stale."""

    def old(root: etree._Element) -> None:
        set_instant(assertion_of(root), "IssueInstant", now() - dt.timedelta(minutes=10))

    refused(sts, factory.mutate(factory.build(), old), code="ExpiredTokenException",
            status=400, message="Token must be redeemed within 5 minutes of issuance")


def test_no_name_id(sts: Any, factory: ResponseFactory) -> None:
    """An Assertion without a NameID is AccessDenied 403 (AWS troubleshooting page)."""

    def drop(root: etree._Element) -> None:
        subject = assertion_of(root).find(f"{SAML}Subject")
        assert subject is not None
        name_id = subject.find(f"{SAML}NameID")
        assert name_id is not None
        subject.remove(name_id)

    refused(sts, factory.mutate(factory.build(), drop), code="AccessDenied", status=403,
            message=NOT_AUTHORIZED)


# --- roles -----------------------------------------------------------------------------------


def test_role_pair_in_provider_role_order(sts: Any, factory: ResponseFactory) -> None:
    """Role values written provider-first (ADFS style) are accepted."""

    def flip(root: etree._Element) -> None:
        role = attribute(root, ROLE_ATTR)
        assert role is not None
        values = [v.text or "" for v in role]
        assert values and all(v.count(",") == 1 for v in values)
        set_attribute(root, ROLE_ATTR, *(",".join(reversed(v.split(","))) for v in values))

    result = assume(sts, factory.mutate(factory.build(), flip), DEVELOPER, DEV_PROVIDER)
    assert result["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::444455556666:assumed-role/Developer/{ALICE_EMAIL}")


# --- the trust policy's extra actions --------------------------------------------------------


def test_source_identity_needs_trust_policy(sts: Any, factory: ResponseFactory) -> None:
    """A valid SourceIdentity needs sts:SetSourceIdentity, which the default policy lacks."""
    with_source = factory.mutate(factory.build(),
                                 lambda r: set_attribute(r, SOURCE_IDENTITY_ATTR, "alice"))
    refused(sts, with_source, code="AccessDenied", status=403, message=NOT_AUTHORIZED)


def test_principal_tag_needs_tag_session(sts: Any, factory: ResponseFactory) -> None:
    """A PrincipalTag needs sts:TagSession, which the default trust policy lacks."""
    tagged = factory.mutate(factory.build(),
                            lambda r: set_attribute(r, PRINCIPAL_TAG_PREFIX + "team", "platform"))
    refused(sts, tagged, code="AccessDenied", status=403, message=NOT_AUTHORIZED)


# --- durations --------------------------------------------------------------------------------


def test_duration_above_role_maximum(sts: Any, factory: ResponseFactory) -> None:
    """7200 s on ReadOnly (MaxSessionDuration 3600): AWS's documented ValidationError."""
    refused(sts, factory.build(), code="ValidationError", status=400,
            message="The requested DurationSeconds exceeds the MaxSessionDuration set for "
                    "this role.", role=READ_ONLY, DurationSeconds=7200)


def test_duration_above_api_maximum(sts: Any, server: LiveServer,
                                    factory: ResponseFactory) -> None:
    """43201 s is ValidationError 400, whether botocore sends it or the request is raw."""
    message = ("1 validation error detected: Value '43201' at 'durationSeconds' failed to "
               "satisfy constraint: Member must have value less than or equal to 43200")
    try:
        refused(sts, factory.build(), code="ValidationError", status=400, message=message,
                DurationSeconds=43201)
    except botocore.exceptions.ParamValidationError:
        pass  # older botocore checks the maximum client-side; the raw POST below still runs
    body = urlencode({"Action": "AssumeRoleWithSAML", "Version": "2011-06-15",
                      "RoleArn": ADMIN, "PrincipalArn": PROD_PROVIDER,
                      "SAMLAssertion": factory.build(), "DurationSeconds": "43201"})
    raw = httpx2.post(f"{server.url}/aws/sts", content=body, timeout=HTTP_TIMEOUT,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert raw.status_code == 400
    root = etree.fromstring(raw.content)
    ns = {"s": "https://sts.amazonaws.com/doc/2011-06-15/"}
    assert root.findtext("s:Error/s:Code", namespaces=ns) == "ValidationError"
    assert root.findtext("s:Error/s:Message", namespaces=ns) == message
    assert root.findtext("s:RequestId", namespaces=ns) == raw.headers["x-amzn-RequestId"]
    assert b"Credentials" not in raw.content


def test_duration_within_admin_maximum(sts: Any, factory: ResponseFactory) -> None:
    """7200 s on Admin (MaxSessionDuration 43200) is granted in full."""
    result = assume(sts, factory.build(), DurationSeconds=7200)
    assert 7200 - 60 <= expires_in(result) <= 7200 + 5


def test_session_duration_attribute_shortens(sts: Any, factory: ResponseFactory) -> None:
    """A SessionDuration attribute of 1800 caps a 7200 s request at 1800 s."""
    short = factory.mutate(factory.build(),
                           lambda r: set_attribute(r, SESSION_DURATION_ATTR, "1800"))
    result = assume(sts, short, DurationSeconds=7200)
    assert 1800 - 60 <= expires_in(result) <= 1800 + 5


# --- session policies ------------------------------------------------------------------------


def test_policy_not_json(sts: Any, factory: ResponseFactory) -> None:
    """A session Policy that is not JSON is MalformedPolicyDocument."""
    refused(sts, factory.build(), code="MalformedPolicyDocument", status=400,
            message="The policy is not in the valid JSON format.", Policy="{not json")


def test_valid_policy_reports_packed_size(sts: Any, factory: ResponseFactory) -> None:
    """A valid session Policy is accepted and PackedPolicySize is reported (a percentage)."""
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    result = assume(sts, factory.build(), Policy=policy)
    assert isinstance(result["PackedPolicySize"], int)
    assert 1 <= result["PackedPolicySize"] <= 100

