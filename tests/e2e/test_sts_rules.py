"""Every AssumeRoleWithSAML rule of the mock STS, through real boto3 against ``idp serve``.

Responses are built and signed outside the server with its own key (``ResponseFactory``), then
edited and re-signed so that exactly one rule fails. Each refusal is checked as botocore sees
it: error Code, HTTP status, Message, and no credentials.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

import botocore.exceptions
import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from idp.keys import KeyPair
from idp.saml.signing import Digest, SignatureAlgorithm, SigningPolicy
from tests.e2e.server import LiveServer
from tests.e2e.sts_support import (
    ADMIN,
    ALICE,
    ATTR,
    DEV_PROVIDER,
    DEVELOPER,
    DS,
    HTTP_TIMEOUT,
    PROD_PROVIDER,
    READ_ONLY,
    ROLE_ATTR,
    SAML,
    SAMLP,
    SESSION_NAME_ATTR,
    ResponseFactory,
    assertion_of,
    attribute,
    decode,
    now,
    remove_attribute,
    set_attribute,
    set_instant,
    sts_client,
)
from tests.support import redirect_value

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_aws_config")]

NOT_AUTHORIZED = "Not authorized to perform sts:AssumeRoleWithSAML"
SIGNATURE_INVALID = "Response signature invalid"


@pytest.fixture
def sts(server: LiveServer) -> Any:
    return sts_client(f"{server.url}/aws/sts")


def assume(sts: Any, assertion: str, role: str = ADMIN, provider: str = PROD_PROVIDER,
           **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = sts.assume_role_with_saml(
        RoleArn=role, PrincipalArn=provider, SAMLAssertion=assertion, **extra)
    return result


def refused(sts: Any, assertion: str, *, code: str, status: int, message: str | None = None,
            contains: str | None = None, role: str = ADMIN, provider: str = PROD_PROVIDER,
            **extra: Any) -> dict[str, Any]:
    """Call AssumeRoleWithSAML, require a ClientError with this code/status/message."""
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        assume(sts, assertion, role, provider, **extra)
    response: dict[str, Any] = caught.value.response
    error = response["Error"]
    assert error["Code"] == code, error
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status, response
    assert response["ResponseMetadata"].get("RetryAttempts", 0) == 0
    assert error["Type"] == "Sender"
    if message is not None:
        assert error["Message"] == message
    if contains is not None:
        assert contains in error["Message"], error["Message"]
    assert "Credentials" not in response
    assert response["ResponseMetadata"]["RequestId"]
    return response


def expires_in(result: dict[str, Any]) -> float:
    expiration: dt.datetime = result["Credentials"]["Expiration"]
    return (expiration - dt.datetime.now(dt.UTC)).total_seconds()


def session_name(result: dict[str, Any]) -> str:
    arn: str = result["AssumedRoleUser"]["Arn"]
    return arn.rsplit("/", 1)[1]


def attacker_keypair() -> KeyPair:
    """A fresh RSA key and self-signed certificate the provider has never seen."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    when = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(when - dt.timedelta(days=1))
        .not_valid_after(when + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return KeyPair(private_key=key, certificate=cert)


# --- transport --------------------------------------------------------------------------------


def test_not_base64(sts: Any) -> None:
    """A SAMLAssertion that is not base64 is InvalidIdentityToken 400."""
    refused(sts, "this is not base64!", code="InvalidIdentityToken", status=400,
            message="Invalid SAML response: not valid base64")


def test_deflated_assertion(sts: Any, factory: ResponseFactory) -> None:
    """A raw-DEFLATE Response (the Redirect encoding) is never inflated: InvalidIdentityToken."""
    xml = base64.b64decode(factory.build())
    refused(sts, redirect_value(xml), code="InvalidIdentityToken", status=400,
            message="Invalid SAML response: not XML")


def test_unknown_provider(sts: Any, factory: ResponseFactory) -> None:
    """A PrincipalArn naming no SAML provider gives AWS's documented text."""
    refused(sts, factory.build(), code="InvalidIdentityToken", status=400,
            message="Specified provider doesn't exist.",
            provider="arn:aws:iam::111122223333:saml-provider/NoSuchIdP")


# --- XML and structure ------------------------------------------------------------------------


def test_doctype_with_entity(sts: Any, factory: ResponseFactory) -> None:
    """A document with a DOCTYPE and an internal entity is refused before anything else."""
    xml = base64.b64decode(factory.build())
    evil = (b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x "alice@corp.example">]>\n' + xml)
    refused(sts, base64.b64encode(evil).decode(), code="InvalidIdentityToken", status=400,
            contains="DOCTYPE")


def test_two_assertions(sts: Any, factory: ResponseFactory) -> None:
    """A Response carrying a second (signed, genuine) Assertion is refused as malformed."""
    other = assertion_of(decode(factory.build("bob")))

    def add(root: etree._Element) -> None:
        root.append(other)

    refused(sts, factory.mutate(factory.build(), add, resign=False),
            code="InvalidIdentityToken", status=400, contains="exactly one Assertion")


# --- signatures ------------------------------------------------------------------------------


def test_signature_stripped(sts: Any, factory: ResponseFactory) -> None:
    """An unsigned Assertion is 'Response signature invalid'."""

    def strip(root: etree._Element) -> None:
        assertion = assertion_of(root)
        for sig in assertion.findall(f"{DS}Signature"):
            assertion.remove(sig)

    stripped = factory.mutate(factory.build(), strip, resign=False)
    assert factory.failing_rule(stripped) == "signature-missing"
    refused(sts, stripped, code="InvalidIdentityToken", status=400, message=SIGNATURE_INVALID)


def test_garbage_signature_value(sts: Any, factory: ResponseFactory) -> None:
    """A SignatureValue that is random bytes does not verify."""

    def garble(root: etree._Element) -> None:
        value = assertion_of(root).find(f"{DS}Signature/{DS}SignatureValue")
        assert value is not None
        value.text = base64.b64encode(bytes(range(256))).decode()

    garbled = factory.mutate(factory.build(), garble, resign=False)
    assert factory.failing_rule(garbled) == "signature-invalid"
    refused(sts, garbled, code="InvalidIdentityToken", status=400, message=SIGNATURE_INVALID)


def test_signed_by_another_key(sts: Any, factory: ResponseFactory) -> None:
    """A valid signature by a key not in the provider's metadata (KeyInfo ignored)."""
    forged = factory.mutate(factory.build(), lambda root: None, keys=attacker_keypair())
    assert factory.failing_rule(forged) == "signature-invalid"
    refused(sts, forged, code="InvalidIdentityToken", status=400, message=SIGNATURE_INVALID)


def test_sha1_signature_refused(sts: Any, factory: ResponseFactory) -> None:
    """RSA-SHA1 with SHA-1 digests is refused when the provider does not allow SHA-1."""
    sha1 = SigningPolicy(signature_algorithm=SignatureAlgorithm.RSA_SHA1, digest=Digest.SHA1)
    legacy = factory.mutate(factory.build(), lambda root: None, policy=sha1)
    assert factory.failing_rule(legacy) == "signature-algorithm"
    refused(sts, legacy, code="InvalidIdentityToken", status=400, message=SIGNATURE_INVALID)


def test_resigned_response_is_accepted(sts: Any, factory: ResponseFactory) -> None:
    """Control: a Response re-signed by ``mutate`` with no edit is accepted."""
    resigned = factory.mutate(factory.build(), lambda root: None)
    assert factory.failing_rule(resigned) is None
    result = assume(sts, resigned)
    assert session_name(result) == ALICE


# --- SAML semantics -------------------------------------------------------------------------


def test_wrong_issuer(sts: Any, factory: ResponseFactory) -> None:
    """An Issuer other than the provider's entityID (signed as such)."""

    def reissue(root: etree._Element) -> None:
        for issuer in (root.find(f"{SAML}Issuer"), assertion_of(root).find(f"{SAML}Issuer")):
            assert issuer is not None
            issuer.text = "https://evil.example/idp"

    refused(sts, factory.mutate(factory.build(), reissue), code="InvalidIdentityToken",
            status=400, message="Issuer not present in specified provider")


def test_wrong_audience(sts: Any, factory: ResponseFactory) -> None:
    """An AudienceRestriction naming only another SP."""

    def audience(root: etree._Element) -> None:
        el = assertion_of(root).find(f"{SAML}Conditions/{SAML}AudienceRestriction/{SAML}Audience")
        assert el is not None
        el.text = "https://other-sp.example/metadata"

    refused(sts, factory.mutate(factory.build(), audience), code="InvalidIdentityToken",
            status=400, message="Response does not contain the required audience.")


def test_wrong_recipient(sts: Any, factory: ResponseFactory) -> None:
    """A SubjectConfirmationData Recipient that is not a sign-in endpoint."""

    def recipient(root: etree._Element) -> None:
        data = assertion_of(root).find(
            f"{SAML}Subject/{SAML}SubjectConfirmation/{SAML}SubjectConfirmationData")
        assert data is not None
        data.set("Recipient", "https://other-sp.example/acs")

    refused(sts, factory.mutate(factory.build(), recipient), code="InvalidIdentityToken",
            status=400, contains="Recipient https://other-sp.example/acs")


def test_wrong_destination(sts: Any, factory: ResponseFactory) -> None:
    """A Response Destination that is not a sign-in endpoint."""

    def destination(root: etree._Element) -> None:
        root.set("Destination", "https://other-sp.example/acs")

    refused(sts, factory.mutate(factory.build(), destination), code="InvalidIdentityToken",
            status=400, contains="Destination https://other-sp.example/acs")


def test_status_not_success(sts: Any, factory: ResponseFactory) -> None:
    """A Response whose top-level StatusCode is Responder."""

    def responder(root: etree._Element) -> None:
        code = root.find(f"{SAMLP}Status/{SAMLP}StatusCode")
        assert code is not None
        code.set("Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")

    refused(sts, factory.mutate(factory.build(), responder), code="InvalidIdentityToken",
            status=400, contains="urn:oasis:names:tc:SAML:2.0:status:Responder")


@pytest.mark.parametrize("where", ["SubjectConfirmationData", "Conditions"])
def test_expired(sts: Any, factory: ResponseFactory, where: str) -> None:
    """A NotOnOrAfter in the past (beyond the skew) is ExpiredTokenException."""
    path = {"SubjectConfirmationData": f"{SAML}Subject/{SAML}SubjectConfirmation/"
                                       f"{SAML}SubjectConfirmationData",
            "Conditions": f"{SAML}Conditions"}[where]

    def expire(root: etree._Element) -> None:
        el = assertion_of(root).find(path)
        assert el is not None
        set_instant(el, "NotOnOrAfter", now() - dt.timedelta(minutes=3))

    refused(sts, factory.mutate(factory.build(), expire), code="ExpiredTokenException",
            status=400, contains=f"{where} NotOnOrAfter")


def test_issued_ten_minutes_ago(sts: Any, factory: ResponseFactory) -> None:
    """An Assertion issued 10 minutes ago (still within its validity window) is stale."""

    def old(root: etree._Element) -> None:
        set_instant(assertion_of(root), "IssueInstant", now() - dt.timedelta(minutes=10))

    refused(sts, factory.mutate(factory.build(), old), code="ExpiredTokenException",
            status=400, message="Token must be redeemed within 5 minutes of issuance")


def test_not_yet_valid(sts: Any, factory: ResponseFactory) -> None:
    """A Response built 10 minutes in the future (NotBefore ahead of the server's clock)."""
    future = factory.build(at=now() + dt.timedelta(minutes=10))
    refused(sts, future, code="InvalidIdentityToken", status=400, contains="in the future")


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


# --- roles ------------------------------------------------------------------------------------


def test_role_not_in_assertion(sts: Any, factory: ResponseFactory) -> None:
    """Bob's assertion (ReadOnly only) cannot assume Admin."""
    refused(sts, factory.build("bob"), code="AccessDenied", status=403, message=NOT_AUTHORIZED,
            role=ADMIN, provider=PROD_PROVIDER)


def test_role_pair_from_other_account(sts: Any, factory: ResponseFactory) -> None:
    """Admin (111122223333) paired with the 444455556666 provider is no pair in the Role."""
    refused(sts, factory.build(), code="AccessDenied", status=403, message=NOT_AUTHORIZED,
            role=ADMIN, provider=DEV_PROVIDER)


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
        f"arn:aws:sts::444455556666:assumed-role/Developer/{ALICE}")


# --- RoleSessionName, SourceIdentity, tags --------------------------------------------------


def test_role_session_name_missing(sts: Any, factory: ResponseFactory) -> None:
    """No RoleSessionName attribute: AWS's documented InvalidIdentityToken text."""
    missing = factory.mutate(factory.build(), lambda r: remove_attribute(r, SESSION_NAME_ATTR))
    refused(sts, missing, code="InvalidIdentityToken", status=400,
            message="RoleSessionName is required in AuthnResponse")


def test_role_session_name_invalid(sts: Any, factory: ResponseFactory) -> None:
    """A RoleSessionName with a space: AWS's documented pattern message."""
    spaced = factory.mutate(factory.build(),
                            lambda r: set_attribute(r, SESSION_NAME_ATTR, "alice smith"))
    refused(sts, spaced, code="InvalidIdentityToken", status=400,
            message="RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}")


def test_comment_injection_in_session_name(sts: Any, factory: ResponseFactory) -> None:
    """``alice@corp.example<!---->.evil`` signed as such yields the full name, never 'alice…'."""

    def inject(root: etree._Element) -> None:
        el = set_attribute(root, SESSION_NAME_ATTR, "placeholder")
        value = el.find(f"{SAML}AttributeValue")
        assert value is not None
        value.text = ALICE
        comment = etree.Comment("")
        comment.tail = ".evil"
        value.append(comment)

    injected = factory.mutate(factory.build(), inject)  # signed after the comment went in
    assert b"alice@corp.example<!---->.evil" in base64.b64decode(injected)
    result = assume(sts, injected)
    assert session_name(result) == "alice@corp.example.evil"
    assert result["AssumedRoleUser"]["AssumedRoleId"].endswith(":alice@corp.example.evil")


def test_source_identity_with_aws_prefix(sts: Any, factory: ResponseFactory) -> None:
    """SourceIdentity ``aws:x`` is refused with the documented message."""
    bad = factory.mutate(factory.build(),
                         lambda r: set_attribute(r, ATTR + "SourceIdentity", "aws:x"))
    refused(sts, bad, code="InvalidIdentityToken", status=400,
            message='Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64} and not begin '
                    'with "aws:"')


def test_source_identity_needs_trust_policy(sts: Any, factory: ResponseFactory) -> None:
    """A valid SourceIdentity needs sts:SetSourceIdentity, which the default policy lacks."""
    with_source = factory.mutate(factory.build(),
                                 lambda r: set_attribute(r, ATTR + "SourceIdentity", "alice"))
    refused(sts, with_source, code="AccessDenied", status=403, message=NOT_AUTHORIZED)


def test_principal_tag_needs_tag_session(sts: Any, factory: ResponseFactory) -> None:
    """A PrincipalTag needs sts:TagSession, which the default trust policy lacks."""
    tagged = factory.mutate(factory.build(),
                            lambda r: set_attribute(r, ATTR + "PrincipalTag:team", "platform"))
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
                           lambda r: set_attribute(r, ATTR + "SessionDuration", "1800"))
    result = assume(sts, short, DurationSeconds=7200)
    assert 1800 - 60 <= expires_in(result) <= 1800 + 5


# --- replay and session policies --------------------------------------------------------------


def test_replay_is_refused(sts: Any, factory: ResponseFactory) -> None:
    """The same assertion redeemed twice: the second call is InvalidIdentityToken."""
    assertion = factory.build()
    assume(sts, assertion)
    refused(sts, assertion, code="InvalidIdentityToken", status=400, contains="already been used")


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

