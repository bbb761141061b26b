"""``POST /aws/sts`` for IAM users: AssumeRole, GetSessionToken, GetAccessKeyInfo and
GetCallerIdentity signed by botocore's own signer, through the app (TestClient), with the
exchange log's record of each AssumeRole decision."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pyotp
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from lxml import etree

from tests.support.demo import BASE_URL, OPS

NS = {"s": "https://sts.amazonaws.com/doc/2011-06-15/"}
URL = f"{BASE_URL}/aws/sts"
DEV = "444455556666"
DEPLOYER = f"arn:aws:iam::{DEV}:role/Deployer"
BREAK_GLASS = "arn:aws:iam::111122223333:role/BreakGlass"


def post(client, params, key=OPS, token=None, *, service="sts"):
    body = urlencode({"Version": "2011-06-15", **params}).encode()
    request = AWSRequest(method="POST", url=URL, data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(key[0], key[1], token), service, "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    headers["Host"] = urlsplit(URL).netloc
    return client.post("/aws/sts", content=body, headers=headers)


def text(response, path):
    return etree.fromstring(response.content).findtext(path, namespaces=NS)


def exchanges(client):
    return [e for e in client.app.state.runtime.services.exchanges.entries(kind="assume-role")]


def test_user_get_caller_identity(client):
    response = post(client, {"Action": "GetCallerIdentity"})
    assert response.status_code == 200, response.text
    assert text(response, ".//s:Arn") == f"arn:aws:iam::{DEV}:user/ops"
    assert text(response, ".//s:UserId").startswith("AIDA")
    assert text(response, ".//s:Account") == DEV


def test_assume_role_success_is_logged(client):
    response = post(client, {"Action": "AssumeRole", "RoleArn": DEPLOYER,
                             "RoleSessionName": "web"})
    assert response.status_code == 200, response.text
    arn = text(response, ".//s:AssumedRoleUser/s:Arn")
    assert arn == f"arn:aws:sts::{DEV}:assumed-role/Deployer/web"
    key = text(response, ".//s:Credentials/s:AccessKeyId")
    facts = exchanges(client)[-1].facts
    assert facts["assumed_role"] == arn and facts["access_key_id"] == key
    assert facts["caller"] == f"arn:aws:iam::{DEV}:user/ops"
    # The new credentials sign the next call.
    secret = text(response, ".//s:Credentials/s:SecretAccessKey")
    token = text(response, ".//s:Credentials/s:SessionToken")
    identity = post(client, {"Action": "GetCallerIdentity"}, (key, secret), token)
    assert text(identity, ".//s:Arn") == arn


def test_assume_role_refusal_is_logged_with_code(client):
    response = post(client, {"Action": "AssumeRole", "RoleArn": BREAK_GLASS,
                             "RoleSessionName": "web"})
    assert response.status_code == 403
    assert text(response, ".//s:Error/s:Code") == "AccessDenied"
    entry = exchanges(client)[-1]
    assert entry.facts["code"] == "AccessDenied" and entry.rule == "trust-policy"
    # The trace lists AssumeRole's own checks, the failing one last.
    assert [(c.rule, c.passed) for c in entry.checks] == [
        ("mfa", True), ("role-missing", True), ("source-identity", True), ("tags", True),
        ("trust-policy", False)]


@pytest.mark.parametrize("params, code, status", [
    ({"Action": "AssumeRole", "RoleArn": DEPLOYER}, "MissingParameter", 400),
    ({"Action": "AssumeRole", "RoleArn": DEPLOYER, "RoleSessionName": "x" * 65},
     "ValidationError", 400),
    ({"Action": "GetSessionToken", "DurationSeconds": "abc"}, "ValidationError", 400),
    ({"Action": "GetAccessKeyInfo", "AccessKeyId": "short"}, "ValidationError", 400),
    ({"Action": "GetAccessKeyInfo", "AccessKeyId": "AKIAUNKNOWNUNKNOWN00"}, "NoSuchEntity",
     404),
])
def test_bad_input_is_a_4xx(client, params, code, status):
    response = post(client, params)
    assert (response.status_code, text(response, ".//s:Error/s:Code")) == (status, code)


def test_unknown_key_and_wrong_service(client):
    response = post(client, {"Action": "GetCallerIdentity"}, ("AKIANOSUCHKEY0000000", "x" * 40))
    assert (response.status_code, text(response, ".//s:Error/s:Code")) == (
        403, "InvalidClientTokenId")
    response = post(client, {"Action": "GetCallerIdentity"}, service="iam")
    assert (response.status_code, text(response, ".//s:Error/s:Code")) == (
        403, "SignatureDoesNotMatch")


def test_get_session_token_and_access_key_info(client, clock):
    code = pyotp.TOTP("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").at(clock.now())
    response = post(client, {"Action": "GetSessionToken", "DurationSeconds": "900",
                             "SerialNumber": f"arn:aws:iam::{DEV}:mfa/ops",
                             "TokenCode": code})
    assert response.status_code == 200, response.text
    key = text(response, ".//s:Credentials/s:AccessKeyId")
    assert key.startswith("ASIA")
    info = post(client, {"Action": "GetAccessKeyInfo", "AccessKeyId": key})
    assert text(info, ".//s:Account") == DEV
