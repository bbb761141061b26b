"""Our STS XML read back by botocore's own Query parser (an independent oracle)."""

from __future__ import annotations

import datetime as dt
import uuid

import botocore.session
import pytest
from botocore.parsers import QueryParser
from lxml import etree

from idp.aws import errors as aws_errors
from idp.aws.credentials import CredentialIssuer
from idp.aws.trust import name_qualifier
from idp.aws.wire import (
    STS_NAMESPACE,
    AssumeRoleWithSamlResult,
    assume_role_with_saml_response,
    error_response,
    get_caller_identity_response,
    new_request_id,
)

ROLE = "arn:aws:iam::123456789012:role/TestSaml"
ISSUER = "http://idp.test/idp/metadata"
REQUEST_ID = "c6104cbe-af31-11e0-8154-cbc7ccf896c7"


@pytest.fixture(scope="module")
def sts_model():
    return botocore.session.get_session().get_service_model("sts")


def parse(sts_model, operation, xml, status=200):
    shape = sts_model.operation_model(operation).output_shape
    return QueryParser().parse({"body": xml, "headers": {}, "status_code": status}, shape)


@pytest.fixture
def issued(clock):
    return CredentialIssuer(b"s" * 32, clock).issue(ROLE, "alice", 3600, source_identity="alice")


def make_result(issued, **overrides):
    creds, claims = issued
    fields = {
        "credentials": creds, "claims": claims, "audience": "https://signin.aws.amazon.com/saml",
        "issuer": ISSUER, "subject": "alice@example.com", "subject_type": "persistent",
        "name_qualifier": name_qualifier(ISSUER, "123456789012", "DemoIdP"),
        "source_identity": "alice", "packed_policy_size": 6,
    }
    fields.update(overrides)
    return AssumeRoleWithSamlResult(**fields)


def test_assume_role_with_saml_round_trips(sts_model, issued):
    """Every field of AssumeRoleWithSAMLResult comes back from botocore's parser unchanged."""
    result = make_result(issued)
    parsed = parse(sts_model, "AssumeRoleWithSAML",
                   assume_role_with_saml_response(result, REQUEST_ID))
    creds, claims = issued
    assert parsed["Credentials"] == {
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key,
        "SessionToken": creds.session_token,
        "Expiration": creds.expiration,
    }
    assert parsed["AssumedRoleUser"] == {"AssumedRoleId": claims.assumed_role_id,
                                         "Arn": claims.assumed_role_arn}
    assert parsed["Audience"] == "https://signin.aws.amazon.com/saml"
    assert parsed["Issuer"] == ISSUER
    assert parsed["Subject"] == "alice@example.com"
    assert parsed["SubjectType"] == "persistent"
    assert parsed["NameQualifier"] == result.name_qualifier
    assert parsed["SourceIdentity"] == "alice"
    assert parsed["PackedPolicySize"] == 6
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID


def test_optional_fields_are_omitted(sts_model, issued):
    """Without SourceIdentity or PackedPolicySize the elements are absent, as AWS sends them."""
    xml = assume_role_with_saml_response(
        make_result(issued, source_identity=None, packed_policy_size=None), REQUEST_ID)
    parsed = parse(sts_model, "AssumeRoleWithSAML", xml)
    assert "SourceIdentity" not in parsed
    assert "PackedPolicySize" not in parsed
    assert b"SourceIdentity" not in xml


def test_document_shape(issued):
    """Root and children are in the STS namespace with no prefix; expiration is ISO-8601 Z."""
    xml = assume_role_with_saml_response(make_result(issued), REQUEST_ID)
    root = etree.fromstring(xml)
    assert root.tag == f"{{{STS_NAMESPACE}}}AssumeRoleWithSAMLResponse"
    assert root.nsmap == {None: STS_NAMESPACE}
    assert xml.count(b"xmlns") == 1
    ns = {"s": STS_NAMESPACE}
    expiration = root.findtext("s:AssumeRoleWithSAMLResult/s:Credentials/s:Expiration",
                               namespaces=ns)
    assert expiration == issued[0].expiration.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert root.findtext("s:ResponseMetadata/s:RequestId", namespaces=ns) == REQUEST_ID


def test_text_is_escaped(sts_model, issued):
    """Markup characters in values are escaped by lxml, not interpreted."""
    xml = assume_role_with_saml_response(make_result(issued, subject="<a&b>"), REQUEST_ID)
    assert parse(sts_model, "AssumeRoleWithSAML", xml)["Subject"] == "<a&b>"


def test_get_caller_identity_round_trips(sts_model, issued):
    """GetCallerIdentity gives the assumed-role ARN, AROA…:session and account."""
    _, claims = issued
    parsed = parse(sts_model, "GetCallerIdentity",
                   get_caller_identity_response(claims, REQUEST_ID))
    assert parsed["Arn"] == "arn:aws:sts::123456789012:assumed-role/TestSaml/alice"
    assert parsed["UserId"] == claims.assumed_role_id
    assert parsed["UserId"].startswith("AROA")
    assert parsed["Account"] == "123456789012"
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID


@pytest.mark.parametrize(("code", "status", "message"), [
    ("InvalidIdentityToken", 400, "Response signature invalid"),
    ("AccessDenied", 403, "Not authorized to perform sts:AssumeRoleWithSAML"),
    ("InvalidClientTokenId", 403, "The security token included in the request is invalid."),
])
def test_errors_parse(sts_model, code, status, message):
    """An ErrorResponse parses to Error.Code/Message/Type and the RequestId."""
    error = getattr(aws_errors, code)(message)
    assert (error.code, error.http_status) == (code, status)
    xml = error_response(error, REQUEST_ID)
    parsed = parse(sts_model, "AssumeRoleWithSAML", xml, status=status)
    assert parsed["Error"] == {"Type": "Sender", "Code": code, "Message": message}
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID


def test_error_request_id_is_a_direct_child():
    """RequestId sits directly under ErrorResponse; a server fault is Type Receiver."""
    xml = error_response(aws_errors.InternalFailure("x"), "r-1")
    root = etree.fromstring(xml)
    assert [etree.QName(child).localname for child in root] == ["Error", "RequestId"]
    assert root.findtext(f"{{{STS_NAMESPACE}}}Error/{{{STS_NAMESPACE}}}Type") == "Receiver"


def test_new_request_id_is_a_uuid4():
    """Request IDs are fresh UUID4 strings."""
    first, second = new_request_id(), new_request_id()
    assert uuid.UUID(first).version == 4
    assert first != second


def test_expiration_is_written_in_utc(sts_model, issued):
    """An expiration given in another zone is written in UTC with Z."""
    creds, claims = issued
    local = creds.expiration.astimezone(dt.timezone(dt.timedelta(hours=5)))
    shifted = type(creds)(creds.access_key_id, creds.secret_access_key, creds.session_token,
                          local)
    xml = assume_role_with_saml_response(make_result((shifted, claims)), REQUEST_ID)
    assert creds.expiration.strftime("%Y-%m-%dT%H:%M:%SZ").encode() in xml


# --- signed operations (users and role sessions) -----------------------------------------

def _role_caller(issued):
    from idp.aws.callers import caller_of
    from idp.aws.iam.model import IamState
    creds, claims = issued
    return creds, caller_of(claims, IamState(accounts={}))


def test_assume_role_response_round_trips(sts_model, issued):
    from idp.aws.wire import assume_role_response
    creds, caller = _role_caller(issued)
    parsed = parse(sts_model, "AssumeRole",
                   assume_role_response(creds, caller, 7, REQUEST_ID))
    assert parsed["AssumedRoleUser"] == {"Arn": caller.arn, "AssumedRoleId": caller.user_id}
    assert parsed["Credentials"]["AccessKeyId"] == creds.access_key_id
    assert parsed["Credentials"]["SessionToken"] == creds.session_token
    assert parsed["PackedPolicySize"] == 7
    assert parsed["SourceIdentity"] == "alice"
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID
    bare = parse(sts_model, "AssumeRole", assume_role_response(creds, caller, None, REQUEST_ID))
    assert "PackedPolicySize" not in bare


def test_user_identity_session_token_and_key_info_round_trip(sts_model, issued):
    from idp.aws.principals import Caller, CallerKind
    from idp.aws.wire import (
        caller_identity_response,
        get_access_key_info_response,
        get_session_token_response,
    )
    user = Caller(kind=CallerKind.USER, account="444455556666",
                  arn="arn:aws:iam::444455556666:user/ops", user_id="AIDAEXAMPLEEXAMPLE123",
                  access_key_id="AKIAOPSUSEREXAMPLE00", user_name="ops")
    parsed = parse(sts_model, "GetCallerIdentity", caller_identity_response(user, REQUEST_ID))
    assert (parsed["Arn"], parsed["UserId"], parsed["Account"]) == (
        user.arn, user.user_id, user.account)
    creds, _ = issued
    parsed = parse(sts_model, "GetSessionToken", get_session_token_response(creds, REQUEST_ID))
    assert parsed["Credentials"]["SecretAccessKey"] == creds.secret_access_key
    parsed = parse(sts_model, "GetAccessKeyInfo",
                   get_access_key_info_response("111122223333", REQUEST_ID))
    assert parsed["Account"] == "111122223333"
