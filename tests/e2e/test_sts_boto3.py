"""The mock STS through real boto3: sign in over HTTP, AssumeRoleWithSAML, GetCallerIdentity.

Everything runs against ``idp serve`` processes on loopback ports; botocore's own serializer,
signer and parser are the client. Also: SigV4 failures, the Query-protocol errors, the
response shape against botocore's model, and stateless credentials across processes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore
import botocore.config
import botocore.exceptions
import botocore.session
import httpx2
import pytest
from lxml import etree

from tests.support.demo import ADMIN, ALICE_EMAIL, DEV, DEV_PROVIDER, DEVELOPER, PROD_PROVIDER
from tests.support.http import auto_post, login
from tests.support.saml import decode
from tests.support.server import LiveServer, running_server
from tests.support.sts import HTTP_TIMEOUT, ResponseFactory, session_client, sts_client

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_aws_config")]

STS_NS = {"s": "https://sts.amazonaws.com/doc/2011-06-15/"}
DEV_ARN = f"arn:aws:sts::{DEV}:assumed-role/Developer/{ALICE_EMAIL}"


@pytest.fixture
def endpoint(server: LiveServer) -> str:
    return f"{server.url}/aws/sts"


@pytest.fixture
def browser_client(server: LiveServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.url, timeout=HTTP_TIMEOUT) as client:
        yield client


def sign_in(client: httpx2.Client) -> str:
    """The SAMLResponse alice's browser would POST (logging in only if there is no session)."""
    page = client.get("/idp/init", follow_redirects=True)
    if "/idp/login" in str(page.url):
        page = login(client, "/idp/init", "alice", "alice-password")
    assert page.status_code == 200, page.text[:500]
    return auto_post(page.text).saml_response


def assume_developer(endpoint: str, assertion: str) -> dict[str, Any]:
    result: dict[str, Any] = sts_client(endpoint).assume_role_with_saml(
        RoleArn=DEVELOPER, PrincipalArn=DEV_PROVIDER, SAMLAssertion=assertion)
    return result


def check_caller(endpoint: str | None, credentials: dict[str, Any], arn: str, account: str,
                 user_id: str) -> None:
    identity = session_client(endpoint, credentials).get_caller_identity()
    assert identity["Arn"] == arn
    assert identity["Account"] == account
    assert identity["UserId"] == user_id
    headers = identity["ResponseMetadata"]["HTTPHeaders"]
    assert identity["ResponseMetadata"]["RequestId"] == headers["x-amzn-requestid"]


def expect_client_error(call: Any, code: str, status: int) -> dict[str, Any]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    response: dict[str, Any] = caught.value.response
    assert response["Error"]["Code"] == code, response["Error"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert response["ResponseMetadata"]["RequestId"] == (
        response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"])
    return response


# --- end to end ----------------------------------------------------------------------------


def test_sign_in_over_http_then_assume_role(server: LiveServer, endpoint: str,
                                           browser_client: httpx2.Client) -> None:
    """Alice logs in over HTTP, boto3 assumes Developer, every result field is as AWS's."""
    assertion = sign_in(browser_client)
    name_id = "".join(decode(assertion).find(
        ".//{urn:oasis:names:tc:SAML:2.0:assertion}NameID").itertext())
    issuer = f"{server.url}/idp/metadata"
    started = dt.datetime.now(dt.UTC)
    result = assume_developer(endpoint, assertion)

    creds = result["Credentials"]
    assert re.fullmatch(r"ASIA[A-Z0-9]{16}", creds["AccessKeyId"])
    assert len(creds["SecretAccessKey"]) == 40
    assert creds["SessionToken"] and len(creds["SessionToken"]) <= 4096
    remaining = (creds["Expiration"] - started).total_seconds()
    assert 3600 - 5 <= remaining <= 3600 + 5
    user = result["AssumedRoleUser"]
    assert user["Arn"] == DEV_ARN
    assert re.fullmatch(r"AROA[A-Z0-9]{17}:alice@corp\.example", user["AssumedRoleId"])
    assert result["Audience"] == f"{server.url}/aws/saml"
    assert result["Issuer"] == issuer
    assert result["Subject"] == name_id
    assert result["SubjectType"] == "persistent"
    expected_qualifier = base64.b64encode(
        hashlib.sha1(f"{issuer}444455556666/CorpIdP".encode(), usedforsecurity=False).digest()
    ).decode()
    assert result["NameQualifier"] == expected_qualifier
    assert "PackedPolicySize" not in result and "SourceIdentity" not in result
    metadata = result["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == 200
    assert metadata["RequestId"] == metadata["HTTPHeaders"]["x-amzn-requestid"]
    assert metadata["HTTPHeaders"]["content-type"].startswith("text/xml")

    check_caller(endpoint, creds, DEV_ARN, DEV, user["AssumedRoleId"])

    # A second sign-in (the session cookie spares the password) gives a fresh assertion:
    # new keys, the same role unique ID.
    again = assume_developer(endpoint, sign_in(browser_client))
    assert again["AssumedRoleUser"]["AssumedRoleId"] == user["AssumedRoleId"]
    assert again["Credentials"]["AccessKeyId"] != creds["AccessKeyId"]


def test_endpoint_from_environment(server: LiveServer, endpoint: str,
                                   factory: ResponseFactory,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_ENDPOINT_URL_STS instead of endpoint_url reaches the mock for both operations."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", endpoint)
    client = sts_client(None)
    assert client.meta.endpoint_url == endpoint
    result = client.assume_role_with_saml(RoleArn=DEVELOPER, PrincipalArn=DEV_PROVIDER,
                                          SAMLAssertion=factory.build())
    user = result["AssumedRoleUser"]
    assert user["Arn"] == DEV_ARN
    check_caller(None, result["Credentials"], DEV_ARN, DEV, user["AssumedRoleId"])


def test_trailing_slash_endpoint(server: LiveServer, factory: ResponseFactory) -> None:
    """endpoint_url …/aws/sts/ (what other clients post to) works, SigV4 included."""
    slash = f"{server.url}/aws/sts/"
    result = assume_developer(slash, factory.build())
    user = result["AssumedRoleUser"]
    check_caller(slash, result["Credentials"], DEV_ARN, DEV, user["AssumedRoleId"])


# --- GetCallerIdentity and Query-protocol failures -----------------------------------------


@pytest.fixture
def developer_credentials(endpoint: str, factory: ResponseFactory) -> dict[str, Any]:
    credentials: dict[str, Any] = assume_developer(endpoint, factory.build())["Credentials"]
    return credentials


def test_tampered_session_token(endpoint: str, developer_credentials: dict[str, Any]) -> None:
    """A session token with one byte changed is InvalidClientTokenId 403."""
    token = base64.b64decode(developer_credentials["SessionToken"])
    middle = len(token) // 2
    tampered = token[:middle] + bytes([token[middle] ^ 0x01]) + token[middle + 1:]
    creds = dict(developer_credentials, SessionToken=base64.b64encode(tampered).decode())
    response = expect_client_error(session_client(endpoint, creds).get_caller_identity,
                                   "InvalidClientTokenId", 403)
    assert response["Error"]["Message"] == "The security token included in the request is invalid."


def test_wrong_secret(endpoint: str, developer_credentials: dict[str, Any]) -> None:
    """Signing with another secret key is SignatureDoesNotMatch 403."""
    creds = dict(developer_credentials, SecretAccessKey="x" * 40)
    response = expect_client_error(session_client(endpoint, creds).get_caller_identity,
                                   "SignatureDoesNotMatch", 403)
    assert response["Error"]["Message"].startswith(
        "The request signature we calculated does not match the signature you provided.")


def test_unsigned_get_caller_identity(endpoint: str) -> None:
    """GetCallerIdentity without an Authorization header is MissingAuthenticationToken 403."""
    unsigned = sts_client(endpoint, config=botocore.config.Config(
        signature_version=botocore.UNSIGNED, retries={"max_attempts": 0}))
    response = expect_client_error(unsigned.get_caller_identity,
                                   "MissingAuthenticationToken", 403)
    assert response["Error"]["Message"] == "Request is missing Authentication Token"


def raw_error(response: httpx2.Response) -> tuple[str | None, str | None]:
    """(Code, Message) of an ErrorResponse; checks the RequestId and the header agree."""
    assert response.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(response.content)
    assert root.tag == "{https://sts.amazonaws.com/doc/2011-06-15/}ErrorResponse"
    assert root.findtext("s:Error/s:Type", namespaces=STS_NS) == "Sender"
    request_id = root.findtext("s:RequestId", namespaces=STS_NS)
    assert request_id and request_id == response.headers["x-amzn-RequestId"]
    return (root.findtext("s:Error/s:Code", namespaces=STS_NS),
            root.findtext("s:Error/s:Message", namespaces=STS_NS))


def test_unknown_action(endpoint: str) -> None:
    """Action=Nope is InvalidAction 400, an XML ErrorResponse with x-amzn-RequestId."""
    response = httpx2.post(endpoint, data={"Action": "Nope", "Version": "2011-06-15"},
                           timeout=HTTP_TIMEOUT)
    assert response.status_code == 400
    code, message = raw_error(response)
    assert code == "InvalidAction"
    assert message and "Nope" in message


def test_missing_action(endpoint: str) -> None:
    """A POST without Action is MissingAction 400."""
    response = httpx2.post(endpoint, data={"Version": "2011-06-15"}, timeout=HTTP_TIMEOUT)
    assert response.status_code == 400
    code, _message = raw_error(response)
    assert code == "MissingAction"


# --- response shape ------------------------------------------------------------------------


def test_result_keys_are_members_of_botocore_output_shape(endpoint: str,
                                                         factory: ResponseFactory) -> None:
    """Every AssumeRoleWithSAMLResult element (raw and parsed) is a member of botocore's shape."""
    model = botocore.session.get_session().get_service_model("sts")
    members = set(model.operation_model("AssumeRoleWithSAML").output_shape.members)
    policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
    result = sts_client(endpoint).assume_role_with_saml(
        RoleArn=ADMIN, PrincipalArn=PROD_PROVIDER, SAMLAssertion=factory.build(), Policy=policy)
    parsed = set(result) - {"ResponseMetadata"}
    assert parsed <= members, parsed - members
    assert {"Credentials", "AssumedRoleUser", "PackedPolicySize", "Subject", "SubjectType",
            "Issuer", "Audience", "NameQualifier"} <= parsed

    raw = httpx2.post(endpoint, timeout=HTTP_TIMEOUT, data={
        "Action": "AssumeRoleWithSAML", "Version": "2011-06-15", "RoleArn": ADMIN,
        "PrincipalArn": PROD_PROVIDER, "SAMLAssertion": factory.build()})
    assert raw.status_code == 200
    root = etree.fromstring(raw.content)
    assert root.tag == "{https://sts.amazonaws.com/doc/2011-06-15/}AssumeRoleWithSAMLResponse"
    body = root.find("s:AssumeRoleWithSAMLResult", STS_NS)
    assert body is not None
    names = {etree.QName(child).localname for child in body}
    assert names <= members, names - members
    shapes = model.operation_model("AssumeRoleWithSAML").output_shape.members
    for nested in ("Credentials", "AssumedRoleUser"):
        element = body.find(f"s:{nested}", STS_NS)
        assert element is not None
        assert {etree.QName(c).localname for c in element} == set(shapes[nested].members)
    assert root.findtext("s:ResponseMetadata/s:RequestId", namespaces=STS_NS) == (
        raw.headers["x-amzn-RequestId"])


# --- stateless credentials across processes -------------------------------------------------


def test_credentials_survive_a_restart(tmp_path: Path) -> None:
    """Credentials from one process verify on a new process started on the same certs dir."""
    certs = tmp_path / "certs"
    with running_server(tmp_path / "first", certs) as first:
        endpoint = f"{first.url}/aws/sts"
        result = assume_developer(endpoint, ResponseFactory(first.url, certs).build())
        check_caller(endpoint, result["Credentials"], DEV_ARN, DEV,
                     result["AssumedRoleUser"]["AssumedRoleId"])
    assert first.process.poll() is not None
    with running_server(tmp_path / "second", certs) as second:
        check_caller(f"{second.url}/aws/sts", result["Credentials"], DEV_ARN, DEV,
                     result["AssumedRoleUser"]["AssumedRoleId"])


def test_credentials_verify_on_a_sibling_process(tmp_path: Path) -> None:
    """Two processes sharing a certs dir verify each other's credentials (stateless tokens)."""
    certs = tmp_path / "certs"
    with running_server(tmp_path / "a", certs) as a, running_server(tmp_path / "b", certs) as b:
        assert a.process.poll() is None and b.process.poll() is None
        from_a = assume_developer(f"{a.url}/aws/sts", ResponseFactory(a.url, certs).build())
        from_b = assume_developer(f"{b.url}/aws/sts", ResponseFactory(b.url, certs).build())
        for result, other in ((from_a, b), (from_b, a)):
            check_caller(f"{other.url}/aws/sts", result["Credentials"], DEV_ARN, DEV,
                         result["AssumedRoleUser"]["AssumedRoleId"])
