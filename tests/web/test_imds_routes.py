"""``/imds/INSTANCE_ID/...``: the instance metadata twin over HTTP (Starlette's TestClient):
tokens and their bounds, every status, the documents, optional mode, refusals, the hop limit,
and limits on what a request may carry."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from idp.aws.imds import HOLD_SECONDS, MAX_PATH_CHARS, MetadataService
from idp.aws.workloads import Workloads
from idp.clock import FixedClock
from idp.web.state import Services
from tests.aws.iam.inproc import ADMINS, IamClient
from tests.support.demo import PROD, edited_demo

INSTANCE = "i-0123456789abcdef0"
BASE = f"/imds/{INSTANCE}"
CREDS = f"{BASE}/latest/meta-data/iam/security-credentials/"
TTL = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN = "X-aws-ec2-metadata-token"
AWS_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
#: Other instances: no role; v1 allowed; a container on bridge networking (hop limit 1).
OTHER, OPTIONAL, FAR = "i-0abc1234", "i-0abc5678", "i-0abc9999"
UNAUTHORIZED = ("EC2 cannot assume the role WebServer.  Please see documentation at "
                "http://docs.amazonwebservices.com/IAM/latest/UserGuide/"
                "RolesTroubleshooting.html.")


def _more_instances(data: dict[str, Any]) -> None:
    data["instances"].update({
        OTHER: {"account": PROD, "region": "eu-west-1", "availability_zone": "eu-west-1c"},
        OPTIONAL: {"account": PROD, "role": "WebServer", "http_tokens": "optional",
                   "instance_profile": "web-profile"},
        FAR: {"account": PROD, "role": "WebServer", "hops": 2, "hop_limit": 1,
              "http_tokens": "optional"},
    })


@pytest.fixture
def client(client_factory: Callable[..., TestClient]) -> TestClient:
    return client_factory(directory_override=edited_demo(_more_instances))


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.runtime.services  # type: ignore[attr-defined]
    return services


def token(client: TestClient, instance: str = INSTANCE, ttl: str = "21600") -> str:
    response = client.put(f"/imds/{instance}/latest/api/token", headers={TTL: ttl})
    assert response.status_code == 200, response.text
    return response.text


def get(client: TestClient, path: str, instance: str = INSTANCE, **headers: str) -> Any:
    if "token" not in headers:
        headers = {TOKEN: token(client, instance), **headers}
    else:
        headers = {TOKEN: headers.pop("token"), **headers}
    return client.get(f"/imds/{instance}/{path}", headers=headers)


def is_error_page(response: Any, status: int, reason: str) -> bool:
    return (response.status_code == status
            and response.headers["content-type"].startswith("text/html")
            and f"<title>{status} - {reason}</title>" in response.text
            and f"<h1>{status} - {reason}</h1>" in response.text)


# --- tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", ["1", "21600", "300", "00060"])
def test_a_token_for_every_ttl_in_range(client, ttl):
    response = client.put(f"{BASE}/latest/api/token", headers={TTL: ttl})
    assert response.status_code == 200
    assert response.headers[TTL] == str(int(ttl))
    assert response.headers["content-type"].startswith("text/plain")
    assert re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", response.text)
    assert get(client, "latest/meta-data/instance-id", token=response.text).text == INSTANCE


@pytest.mark.parametrize("ttl", ["0", "21601", "-1", "+5", " 5", "5 ", "1e3", "abc", "",
                                 "9" * 20, "1.5", "\u0661"])
def test_a_ttl_out_of_range_or_not_a_number_is_400(client, ttl):
    response = client.put(f"{BASE}/latest/api/token",
                          headers={TTL: ttl.encode("utf-8")})  # type: ignore[dict-item]
    assert is_error_page(response, 400, "Bad Request")


def test_a_token_request_without_ttl_is_400(client):
    assert is_error_page(client.put(f"{BASE}/latest/api/token"), 400, "Bad Request")


def test_a_token_request_through_a_proxy_is_403(client):
    response = client.put(f"{BASE}/latest/api/token",
                          headers={TTL: "60", "X-Forwarded-For": "10.0.0.1"})
    assert is_error_page(response, 403, "Forbidden")


@pytest.mark.parametrize("path", ["2021-03-23/api/token", "1.0/api/token"])
def test_a_versioned_token_path_is_403(client, path):
    assert is_error_page(client.put(f"{BASE}/{path}", headers={TTL: "60"}), 403, "Forbidden")


@pytest.mark.parametrize("path", ["latest/meta-data/", "latest/api/token/", "latest/api", ""])
def test_a_put_elsewhere_is_405(client, path):
    response = client.put(f"{BASE}/{path}", headers={TTL: "60"})
    assert is_error_page(response, 405, "Method Not Allowed")
    assert response.headers["allow"] == "GET, HEAD"


def test_the_token_path_takes_put_only(client):
    response = get(client, "latest/api/token")
    assert is_error_page(response, 405, "Method Not Allowed")
    assert response.headers["allow"] == "PUT"


@pytest.mark.parametrize("method", ["POST", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405(client, method):
    response = client.request(method, f"{BASE}/latest/meta-data/", headers={TTL: "60"})
    assert is_error_page(response, 405, "Method Not Allowed")
    assert response.headers["allow"] == "GET, HEAD, PUT"


def test_tokens_expire_on_the_simulators_clock(client, clock: FixedClock):
    short = token(client, ttl="60")
    clock.advance(59)
    assert get(client, "latest/meta-data/instance-id", token=short).status_code == 200
    clock.advance(1)
    assert is_error_page(get(client, "latest/meta-data/instance-id", token=short), 401,
                         "Unauthorized")


def test_a_token_is_not_valid_before_it_was_issued(client, clock: FixedClock):
    fresh = token(client)
    clock.advance(-5)
    assert get(client, "latest/meta-data/instance-id", token=fresh).status_code == 401


def test_a_token_is_valid_for_its_instance_only(client):
    theirs = token(client, OPTIONAL)
    assert get(client, "latest/meta-data/instance-id", token=theirs).status_code == 401
    assert get(client, "latest/meta-data/instance-id", OPTIONAL,
               token=theirs).text == OPTIONAL


def test_tokens_sealed_with_another_secret_are_refused(client):
    workloads = services_of(client).workloads
    elsewhere = MetadataService(Workloads(workloads.directory, workloads.iam,
                                          workloads.credentials, workloads.clock,
                                          b"another simulator's own secret!!"))
    instance = workloads.instance(INSTANCE)
    assert instance is not None
    assert get(client, "latest/meta-data/", token=elsewhere.new_token(instance, 60)) \
        .status_code == 401
    here = MetadataService(workloads)
    assert get(client, "latest/meta-data/", token=here.new_token(instance, 60)) \
        .status_code == 200


@pytest.mark.parametrize("bad", ["", "x", "A" * 68, "A" * 129, "not base64!", "\u00e9",
                                 "AQAAAAB" + "=" * 60])
def test_a_malformed_token_is_401(client, bad):
    response = client.get(f"{BASE}/latest/meta-data/",
                          headers={TOKEN: bad.encode("utf-8")})  # type: ignore[dict-item]
    assert is_error_page(response, 401, "Unauthorized")


def test_a_tampered_token_is_401(client):
    good = token(client)
    flipped = ("B" if good[5] != "B" else "C").join((good[:5], good[6:]))
    assert get(client, "latest/meta-data/", token=flipped).status_code == 401


# --- IMDSv2 required, IMDSv1 optional ---------------------------------------------------


def test_required_mode_refuses_tokenless_gets(client):
    response = client.get(f"{CREDS}WebServer")
    assert is_error_page(response, 401, "Unauthorized")
    assert client.get(f"{BASE}/latest/meta-data/").status_code == 401


def test_optional_mode_serves_tokenless_gets_but_checks_a_token_given(client):
    response = client.get(f"/imds/{OPTIONAL}/latest/meta-data/iam/security-credentials/")
    assert (response.status_code, response.text) == (200, "WebServer")
    assert client.get(f"/imds/{OPTIONAL}/latest/meta-data/",
                      headers={TOKEN: "bogus"}).status_code == 401
    assert get(client, "latest/meta-data/instance-id", OPTIONAL).text == OPTIONAL


# --- documents --------------------------------------------------------------------------


def test_the_role_name_alone_without_newline(client):
    response = get(client, "latest/meta-data/iam/security-credentials/")
    assert (response.status_code, response.text) == (200, "WebServer")
    assert get(client, "latest/meta-data/iam/security-credentials").text == "WebServer"


def test_the_credentials_document(client, clock: FixedClock):
    response = get(client, "latest/meta-data/iam/security-credentials/WebServer")
    assert response.status_code == 200
    assert response.text.startswith('{\n  "Code" : "Success",\n')
    body = json.loads(response.text)
    assert list(body) == ["Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey",
                          "Token", "Expiration"]
    assert (body["Code"], body["Type"]) == ("Success", "AWS-HMAC")
    assert AWS_TIME.fullmatch(body["LastUpdated"]) and AWS_TIME.fullmatch(body["Expiration"])
    issued = dt.datetime.strptime(body["LastUpdated"], "%Y-%m-%dT%H:%M:%SZ")
    expires = dt.datetime.strptime(body["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
    assert expires - issued == dt.timedelta(hours=6)
    assert issued == clock.now().replace(microsecond=0, tzinfo=None)
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", body["AccessKeyId"])
    assert len(body["SecretAccessKey"]) == 40
    claims = services_of(client).workloads.credentials.resolve(body["AccessKeyId"], body["Token"])
    assert claims.assumed_role_arn == \
        f"arn:aws:sts::{PROD}:assumed-role/WebServer/{INSTANCE}"
    # Served unchanged until the rotation point, new credentials after it.
    again = json.loads(get(client, "latest/meta-data/iam/security-credentials/WebServer").text)
    assert again == body
    clock.advance(5 * 3600)
    rotated = json.loads(get(client,
                             "latest/meta-data/iam/security-credentials/WebServer").text)
    assert rotated["AccessKeyId"] != body["AccessKeyId"]


@pytest.mark.parametrize("path", ["ReadOnly", "webserver", "WebServer/", "WebServer/x",
                                  "WebServer%0A", "WebServer%2F"])
def test_another_role_name_is_404(client, path):
    response = get(client, f"latest/meta-data/iam/security-credentials/{path}")
    assert is_error_page(response, 404, "Not Found")


def test_iam_info(client):
    body = json.loads(get(client, "latest/meta-data/iam/info").text)
    assert list(body) == ["Code", "LastUpdated", "InstanceProfileArn", "InstanceProfileId"]
    assert body["Code"] == "Success"
    assert body["InstanceProfileArn"] == f"arn:aws:iam::{PROD}:instance-profile/WebServer"
    assert re.fullmatch(r"AIPA[A-Z2-7]{17}", body["InstanceProfileId"])
    assert json.loads(get(client, "latest/meta-data/iam/info").text)["InstanceProfileId"] == \
        body["InstanceProfileId"]
    named = json.loads(get(client, "latest/meta-data/iam/info", OPTIONAL).text)
    assert named["InstanceProfileArn"] == f"arn:aws:iam::{PROD}:instance-profile/web-profile"
    assert named["InstanceProfileId"] != body["InstanceProfileId"]


def test_the_instance_identity_document(client, clock: FixedClock):
    response = get(client, "latest/dynamic/instance-identity/document")
    body = json.loads(response.text)
    assert body == {
        "accountId": PROD, "architecture": "x86_64", "availabilityZone": "us-east-1a",
        "billingProducts": None, "devpayProductCodes": None, "marketplaceProductCodes": None,
        "imageId": "ami-0123456789abcdef0", "instanceId": INSTANCE, "instanceType": "t3.micro",
        "kernelId": None, "pendingTime": body["pendingTime"], "privateIp": "10.0.0.10",
        "ramdiskId": None, "region": "us-east-1", "version": "2017-09-30"}
    assert AWS_TIME.fullmatch(body["pendingTime"])
    assert get(client, "latest/dynamic/").text == "instance-identity/"
    assert get(client, "latest/dynamic/instance-identity/").text == "document"


@pytest.mark.parametrize(("path", "text"), [
    ("latest/meta-data/instance-id", INSTANCE),
    ("latest/meta-data/instance-type", "t3.micro"),
    ("latest/meta-data/ami-id", "ami-0123456789abcdef0"),
    ("latest/meta-data/local-ipv4", "10.0.0.10"),
    ("latest/meta-data/placement/region", "us-east-1"),
    ("latest/meta-data/placement/availability-zone", "us-east-1a"),
    ("latest/meta-data/placement/", "availability-zone\nregion"),
    ("latest/meta-data/iam/", "info\nsecurity-credentials/"),
    ("latest/meta-data/", "ami-id\niam/\ninstance-id\ninstance-type\nlocal-ipv4\nplacement/"),
    ("latest/meta-data", "ami-id\niam/\ninstance-id\ninstance-type\nlocal-ipv4\nplacement/"),
    ("latest/", "dynamic\nmeta-data"),
    ("latest", "dynamic\nmeta-data"),
    ("", "latest"),
    ("2021-03-23/meta-data/instance-id", INSTANCE),
])
def test_metadata_items(client, path, text):
    response = get(client, path)
    assert (response.status_code, response.text) == (200, text)
    assert response.headers["content-type"].startswith("text/plain")


def test_the_root_without_slash(client):
    response = client.get(BASE, headers={TOKEN: token(client)})
    assert (response.status_code, response.text) == (200, "latest")


def test_an_instance_without_role_has_no_iam(client):
    assert get(client, "latest/meta-data/", OTHER).text == \
        "ami-id\ninstance-id\ninstance-type\nlocal-ipv4\nplacement/"
    for path in ("iam", "iam/", "iam/security-credentials/", "iam/info",
                 "iam/security-credentials/WebServer"):
        assert is_error_page(get(client, f"latest/meta-data/{path}", OTHER), 404, "Not Found")
    assert get(client, "latest/meta-data/placement/availability-zone", OTHER).text == \
        "eu-west-1c"


@pytest.mark.parametrize("path", ["latest/meta-data/nope", "latest/user-data", "latest/x",
                                  "meta-data/", "2021-3-23/meta-data/", "latest/dynamic/x",
                                  "latest/meta-data/placement/x", "latest/meta-data/iam/x",
                                  "latest/meta-data/ami-id/"])
def test_unknown_paths_are_404(client, path):
    assert is_error_page(get(client, path), 404, "Not Found")


@pytest.mark.parametrize("instance", ["i-ffffffff", "i-0123456789ABCDEF0", "nope", "x" * 500])
def test_an_unknown_instance_is_404_for_every_method(client, instance):
    assert is_error_page(client.get(f"/imds/{instance}/latest/meta-data/"), 404, "Not Found")
    assert is_error_page(client.put(f"/imds/{instance}/latest/api/token", headers={TTL: "60"}),
                         404, "Not Found")


def test_head_is_answered_like_get(client):
    response = client.head(f"{BASE}/latest/meta-data/instance-id",
                           headers={TOKEN: token(client)})
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(INSTANCE))


# --- refusals ---------------------------------------------------------------------------


def test_a_refused_role_is_200_with_assume_role_unauthorized_access(client, caplog):
    iam = IamClient(client, *ADMINS["prod"])
    iam.call("UpdateAssumeRolePolicy", RoleName="WebServer", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                                "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    with caplog.at_level(logging.WARNING, logger="idp.workloads"):
        response = get(client, "latest/meta-data/iam/security-credentials/WebServer")
    assert response.status_code == 200
    body = json.loads(response.text)
    assert list(body) == ["Code", "Message", "LastUpdated"]
    assert (body["Code"], body["Message"]) == ("AssumeRoleUnauthorizedAccess", UNAUTHORIZED)
    assert AWS_TIME.fullmatch(body["LastUpdated"])
    assert "AccessKeyId" not in response.text
    assert "ec2.amazonaws.com" in caplog.text and "role/WebServer" in caplog.text
    info = json.loads(get(client, "latest/meta-data/iam/info").text)
    assert info["Code"] == "AssumeRoleUnauthorizedAccess"
    # The name is still listed: the instance profile still has the role.
    assert get(client, "latest/meta-data/iam/security-credentials/").text == "WebServer"


# --- the hop limit ----------------------------------------------------------------------


def test_beyond_the_hop_limit_the_token_answer_never_arrives(client, caplog):
    """The TestClient cannot give up, so the held request is released after the cap; a
    real client has timed out by then (tests/e2e/test_workloads_boto3.py)."""
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="idp.workloads"):
        response = client.put(f"/imds/{FAR}/latest/api/token", headers={TTL: "60"})
    assert time.monotonic() - started >= HOLD_SECONDS - 0.1
    assert is_error_page(response, 403, "Forbidden")
    assert "dropped by the hop limit" in caplog.text
    # GET answers are not limited: IMDSv1 still works in optional mode.
    assert client.get(f"/imds/{FAR}/latest/meta-data/instance-id").text == FAR


# --- limits -----------------------------------------------------------------------------


def test_a_path_too_long_is_404(client):
    path = "latest/meta-data/" + "a" * MAX_PATH_CHARS
    assert is_error_page(get(client, path), 404, "Not Found")


def test_a_ttl_header_too_long_is_400(client):
    response = client.put(f"{BASE}/latest/api/token", headers={TTL: "0" * 100 + "60"})
    assert is_error_page(response, 400, "Bad Request")


def test_a_token_header_too_long_is_401(client):
    assert get(client, "latest/meta-data/", token=token(client) + "A" * 200).status_code == 401


def test_security_headers_on_every_answer(client):
    for response in (client.get(f"{BASE}/latest/meta-data/"),
                     get(client, "latest/meta-data/instance-id")):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
