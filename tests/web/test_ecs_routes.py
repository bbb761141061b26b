"""``GET /ecs/TASK_ID/credentials``: the container credentials twin over HTTP (TestClient):
the agent's document, the authorization token, its refusals, other paths and methods, and
limits."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from idp.clock import FixedClock
from idp.web.state import Services
from tests.aws.iam.inproc import ADMINS, IamClient
from tests.support.demo import DEV, edited_demo

TASK = "billing-task"
URL = f"/ecs/{TASK}/credentials"
GOOD = {"Authorization": "billing-task-token"}
BILLING = f"arn:aws:iam::{DEV}:role/Billing"


def _more_tasks(data: dict[str, Any]) -> None:
    data["tasks"].update({
        "open-task": {"account": DEV, "role": "Billing"},
        "latin-task": {"account": DEV, "role": "Billing", "authorization_token": "t\u00f6ken"},
    })


@pytest.fixture
def client(client_factory: Callable[..., TestClient]) -> TestClient:
    return client_factory(directory_override=edited_demo(_more_tasks))


def agent_error(response: Any, code: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "HTTPErrorCode"}
    assert (body["code"], body["HTTPErrorCode"]) == (code, 400)
    return body


def test_the_task_roles_credentials(client, clock: FixedClock):
    response = client.get(URL, headers=GOOD)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["RoleArn", "AccessKeyId", "SecretAccessKey", "Token", "AccountId",
                          "Expiration"]
    assert (body["RoleArn"], body["AccountId"]) == (BILLING, DEV)
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", body["AccessKeyId"])
    expires = dt.datetime.strptime(body["Expiration"], "%Y-%m-%dT%H:%M:%SZ")
    assert expires == (clock.now() + dt.timedelta(hours=6)).replace(microsecond=0,
                                                                    tzinfo=None)
    services: Services = client.app.state.runtime.services  # type: ignore[attr-defined]
    claims = services.workloads.credentials.resolve(body["AccessKeyId"], body["Token"])
    assert claims.assumed_role_arn == f"arn:aws:sts::{DEV}:assumed-role/Billing/{TASK}"
    assert client.get(URL, headers=GOOD).json() == body
    clock.advance(5 * 3600)
    assert client.get(URL, headers=GOOD).json()["AccessKeyId"] != body["AccessKeyId"]


def test_a_missing_token_is_refused(client):
    body = agent_error(client.get(URL), "InvalidRequestException")
    assert body["message"] == "Authorization token cannot be empty"
    agent_error(client.get(URL, headers={"Authorization": ""}), "InvalidRequestException")


@pytest.mark.parametrize("value", ["billing-task-tokeN", "Bearer billing-task-token",
                                   "billing-task-token2", "billing", "x" * 9000,
                                   "billing-task-token\t"])
def test_a_wrong_token_is_refused(client, value):
    body = agent_error(client.get(URL, headers={"Authorization": value}),
                       "InvalidTokenException")
    assert body["message"] == "The specified authorization token is invalid."


def test_the_token_is_compared_as_latin_1_bytes(client):
    latin = {"Authorization": "t\u00f6ken".encode("latin-1")}
    utf8 = {"Authorization": "t\u00f6ken".encode()}
    assert client.get("/ecs/latin-task/credentials",
                      headers=latin).status_code == 200  # type: ignore[arg-type]
    assert client.get("/ecs/latin-task/credentials",
                      headers=utf8).status_code == 200  # type: ignore[arg-type]
    agent_error(client.get("/ecs/latin-task/credentials", headers={"Authorization": "token"}),
                "InvalidTokenException")


def test_a_task_without_token_needs_none(client):
    assert client.get("/ecs/open-task/credentials").status_code == 200
    assert client.get("/ecs/open-task/credentials", headers=GOOD).status_code == 200


@pytest.mark.parametrize("task", ["nope", "Billing-Task", "billing-task.", "x" * 5000,
                                  "%00", "billing-task%20"])
def test_an_unknown_task_is_invalid_id(client, task):
    body = agent_error(client.get(f"/ecs/{task}/credentials", headers=GOOD),
                       "InvalidIdInRequest")
    assert body["message"] == "CredentialsV2Request: ID not found"


def test_a_refused_role_is_no_credentials_associated(client, caplog):
    iam = IamClient(client, *ADMINS["dev"])
    iam.call("UpdateAssumeRolePolicy", RoleName="Billing", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                                "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    with caplog.at_level(logging.WARNING, logger="idp.workloads"):
        body = agent_error(client.get(URL, headers=GOOD), "NoCredentialsAssociated")
    assert body["message"] == (
        f"CredentialsV2Request: ECS was unable to assume the role '{BILLING}' that was "
        "provided for this task. Please verify that the role being passed has the proper "
        "trust relationship and permissions and that your IAM user has permissions to pass "
        "this role.")
    assert "ecs-tasks.amazonaws.com" in caplog.text and BILLING in caplog.text
    # The token is still checked first.
    agent_error(client.get(URL), "InvalidRequestException")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405(client, method):
    response = client.request(method, URL, headers=GOOD)
    assert (response.status_code, response.text) == (405, "Method Not Allowed\n")
    assert response.headers["allow"] == "GET, HEAD"


def test_head_is_answered(client):
    assert client.head(URL, headers=GOOD).status_code == 200


@pytest.mark.parametrize("path", ["/ecs", "/ecs/", f"/ecs/{TASK}", f"/ecs/{TASK}/",
                                  f"/ecs/{TASK}/credentials/", f"/ecs/{TASK}/credentials%0A",
                                  f"/ecs/{TASK}/credentials/x", "/ecs/v2/credentials/x/y"])
def test_other_paths_are_404(client, path):
    response = client.get(path, headers=GOOD)
    assert (response.status_code, response.text) == (404, "404 page not found\n")


def test_security_headers(client):
    response = client.get(URL, headers=GOOD)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
