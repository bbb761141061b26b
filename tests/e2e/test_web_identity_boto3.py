"""AssumeRoleWithWebIdentity end to end: an unmodified boto3 program finding its role through
``AWS_WEB_IDENTITY_TOKEN_FILE`` and ``AWS_ROLE_ARN`` (the EKS "IAM roles for service accounts"
flow), its refresh after the session expires on the simulator's clock, the AWS CLI, and boto3's
own ``assume_role_with_web_identity`` against the simulator's live STS (demo directory:
role CiDeploy in 444455556666 trusts the simulator's own issuer for one service account)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from idp import Simulator
from tests.aws.oidc_keys_server import running_issuer
from tests.aws.web_identity_tokens import TokenSigner, claims
from tests.support.aws_cli import aws, aws_json, clean_env
from tests.support.sts import sts_client
from tests.support.workload import BotoWorkload, ClientWall, workload_clock

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_aws_config")]

DEV = "444455556666"
CI_DEPLOY = f"arn:aws:iam::{DEV}:role/CiDeploy"
SERVICE_ACCOUNT = "system:serviceaccount:prod:deployer"
AUDIENCE = "sts.amazonaws.com"
ASSUMED = f"arn:aws:sts::{DEV}:assumed-role/CiDeploy/"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


def token_of(sim: Simulator, sub: str = SERVICE_ACCOUNT, aud: str = AUDIENCE, **kw: Any) -> str:
    token: str = sim.runtime.services.oidc.workload_token(sub, aud, **kw)
    return token


def token_file(folder: Path, token: str) -> Path:
    """The file a kubelet projects: the token, no final newline."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "token"
    path.write_text(token)
    return path


def workload_env(path: Path, role: str = CI_DEPLOY) -> dict[str, str]:
    return {"AWS_WEB_IDENTITY_TOKEN_FILE": str(path), "AWS_ROLE_ARN": role}


def decisions(sim: Simulator) -> list[Any]:
    return sim.runtime.services.exchanges.entries(kind="web-identity")


# --------------------------------------------------------------------------- (a) the EKS flow


def test_an_unmodified_boto3_program_gets_the_role_from_the_token_file(sim, tmp_path):
    path = token_file(tmp_path, token_of(sim))
    before = len(decisions(sim))
    with BotoWorkload(sim.base_url, tmp_path / "workload", workload_env(path)) as program:
        answer = program.call()
        again = program.call()
    assert answer["Arn"].startswith(ASSUMED + "botocore-session-"), answer
    assert answer["Account"] == DEV and answer["AccessKeyId"].startswith("ASIA")
    assert again["AccessKeyId"] == answer["AccessKeyId"]  # botocore keeps its credentials
    accepted = decisions(sim)[before:]
    assert len(accepted) == 1 and accepted[0].accepted
    assert accepted[0].facts["subject"] == SERVICE_ACCOUNT
    assert accepted[0].facts["provider"] == sim.runtime.services.oidc.issuer


# --------------------------------------------------------------------------- (b) refresh


def _refresh(sim: Simulator, wall: ClientWall,
             folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """First call, then an hour and a bit later on both clocks (the kubelet has rewritten
    the token file meanwhile), the next call: both answers. The simulator runs on the
    workload's real clock (``workload_clock``), so moving ``wall`` moves both its simulated
    time and the time it checks SigV4 signatures against."""
    path = token_file(folder, token_of(sim))
    with BotoWorkload(sim.base_url, folder / "workload", workload_env(path)) as program:
        first = program.call()
        assert first["Arn"].startswith(ASSUMED), first
        wall.advance(3700)
        program.advance(3700)
        path.write_text(token_of(sim))
        return first, program.call()


def test_botocore_refreshes_with_the_rewritten_token_after_expiry(tmp_path):
    """botocore sees its session expire (on its faked clock) and calls
    AssumeRoleWithWebIdentity again with the file's new token: a new session."""
    wall = ClientWall()
    with Simulator(clock=workload_clock(wall)) as sim:
        first, _ = _refresh(sim, wall, tmp_path)
        issued = [(d.accepted, d.facts.get("access_key_id")) for d in decisions(sim)]
    assert len(issued) == 2 and all(accepted for accepted, _ in issued)
    assert issued[0][1] == first["AccessKeyId"]
    assert issued[1][1] is not None and issued[1][1].startswith("ASIA")
    assert issued[1][1] != first["AccessKeyId"]


def test_the_refreshed_session_answers_get_caller_identity(tmp_path):
    wall = ClientWall()
    with Simulator(clock=workload_clock(wall)) as sim:
        first, second = _refresh(sim, wall, tmp_path)
    assert second.get("Arn", "").startswith(ASSUMED), second
    assert second["AccessKeyId"].startswith("ASIA")
    assert second["AccessKeyId"] != first["AccessKeyId"]


def test_a_stale_token_file_cannot_refresh(tmp_path):
    """No kubelet: after two hours the file still holds the first (one-hour) token, which STS
    refuses as expired, and botocore reports it."""
    with Simulator() as sim:
        path = token_file(tmp_path, token_of(sim))
        with BotoWorkload(sim.base_url, tmp_path / "workload", workload_env(path)) as program:
            assert program.call()["Arn"].startswith(ASSUMED)
            sim.clock.advance(7200)
            program.advance(7200)
            answer = program.call()
        assert answer["error"] == "ExpiredTokenException", answer
        assert answer["message"].startswith("Token expired: current date/time ")


# --------------------------------------------------------------------------- (c) refusals


@pytest.mark.parametrize(("sub", "aud", "code", "message"), [
    ("system:serviceaccount:prod:intruder", AUDIENCE, "AccessDenied",
     "Not authorized to perform sts:AssumeRoleWithWebIdentity"),
    (SERVICE_ACCOUNT, "my-web-app", "InvalidIdentityToken", "Incorrect token audience"),
])
def test_the_workload_sees_awss_refusals(sim, tmp_path, sub, aud, code, message):
    path = token_file(tmp_path, token_of(sim, sub, aud))
    with BotoWorkload(sim.base_url, tmp_path / "workload", workload_env(path)) as program:
        answer = program.call()
    assert answer == {"error": code, "message": message}
    refusal = decisions(sim)[-1]
    assert not refusal.accepted and refusal.facts["code"] == code
    assert (sub if code == "AccessDenied" else aud) in (refusal.detail or "")


# --------------------------------------------------------------------------- (d) the AWS CLI


def test_the_aws_cli_with_a_file_token_keeping_its_newline(sim, tmp_path):
    """``file://`` keeps the file's final newline; STS takes the token without it."""
    (tmp_path / "token").write_text(token_of(sim) + "\n")
    answer = aws_json(["sts", "assume-role-with-web-identity", "--region", "us-east-1",
                       "--endpoint-url", sim.sts_endpoint, "--role-arn", CI_DEPLOY,
                       "--role-session-name", "cli-deploy",
                       "--web-identity-token", "file://token"], clean_env(tmp_path), tmp_path)
    assert answer["AssumedRoleUser"]["Arn"] == ASSUMED + "cli-deploy"  # type: ignore[index]
    assert answer["SubjectFromWebIdentityToken"] == SERVICE_ACCOUNT
    assert answer["Provider"] == sim.runtime.services.oidc.issuer
    assert answer["Audience"] == AUDIENCE


def test_the_aws_cli_refuses_with_awss_code(sim, tmp_path):
    (tmp_path / "token").write_text(token_of(sim, aud="my-web-app"))
    done = aws(["sts", "assume-role-with-web-identity", "--region", "us-east-1",
                "--endpoint-url", sim.sts_endpoint, "--role-arn", CI_DEPLOY,
                "--role-session-name", "cli-deploy", "--web-identity-token", "file://token"],
               clean_env(tmp_path), tmp_path)
    assert done.returncode != 0
    assert ("An error occurred (InvalidIdentityToken) when calling the "
            "AssumeRoleWithWebIdentity operation: Incorrect token audience") in done.stderr


def test_the_aws_cli_env_flow_of_the_readme(sim, tmp_path):
    """``AWS_WEB_IDENTITY_TOKEN_FILE=… AWS_ROLE_ARN=… AWS_ENDPOINT_URL_STS=… aws sts
    get-caller-identity``."""
    path = token_file(tmp_path, token_of(sim))
    env = clean_env(tmp_path) | workload_env(path) | {
        "AWS_ENDPOINT_URL_STS": sim.sts_endpoint, "AWS_DEFAULT_REGION": "us-east-1"}
    identity = aws_json(["sts", "get-caller-identity"], env, tmp_path)
    assert str(identity["Arn"]).startswith(ASSUMED)


# --------------------------------------------------------------------------- (e) boto3's client


def test_boto3_assume_role_with_web_identity_result(sim):
    client = sts_client(sim.sts_endpoint)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:List*", "Resource": "*"}]})
    result = client.assume_role_with_web_identity(
        RoleArn=CI_DEPLOY, RoleSessionName="deploy-1", WebIdentityToken=token_of(sim),
        DurationSeconds=900, Policy=policy)
    assert result["SubjectFromWebIdentityToken"] == SERVICE_ACCOUNT
    assert result["Provider"] == sim.runtime.services.oidc.issuer
    assert result["Audience"] == AUDIENCE
    assert result["AssumedRoleUser"]["Arn"] == ASSUMED + "deploy-1"
    assert result["AssumedRoleUser"]["AssumedRoleId"].startswith("AROA")
    assert result["AssumedRoleUser"]["AssumedRoleId"].endswith(":deploy-1")
    assert 0 < result["PackedPolicySize"] <= 100
    expires = result["Credentials"]["Expiration"] - sim.clock.now()
    assert abs(expires.total_seconds() - 900) < 60
    assert "Authorization" not in result["ResponseMetadata"]["HTTPHeaders"]
    session = sts_client(sim.sts_endpoint,
                         aws_access_key_id=result["Credentials"]["AccessKeyId"],
                         aws_secret_access_key=result["Credentials"]["SecretAccessKey"],
                         aws_session_token=result["Credentials"]["SessionToken"])
    assert session.get_caller_identity()["Arn"] == ASSUMED + "deploy-1"


def test_boto3_sees_each_refusal_as_a_4xx_client_error(sim):
    client = sts_client(sim.sts_endpoint)
    cases = [
        (token_of(sim, ttl=1), "ExpiredTokenException", dt.timedelta(minutes=6)),
        ("not.a.jwt-at-all", "InvalidIdentityToken", None),
    ]
    for token, code, later in cases:
        if later is not None:
            sim.clock.advance(later.total_seconds())
        try:
            with pytest.raises(botocore.exceptions.ClientError) as info:
                client.assume_role_with_web_identity(
                    RoleArn=CI_DEPLOY, RoleSessionName="s1", WebIdentityToken=token)
        finally:
            if later is not None:
                sim.clock.advance(-later.total_seconds())
        error = info.value.response
        assert error["Error"]["Code"] == code
        assert 400 <= error["ResponseMetadata"]["HTTPStatusCode"] < 500


# --------------------------------------------------------------------------- another issuer


def test_a_loopback_issuers_keys_are_fetched_over_http(tmp_path):
    """Another IdP on this machine (discovery + JWKS on a loopback port): the live STS reads
    its keys over HTTP, as AWS reads a real IdP's."""
    signer = TokenSigner()
    with running_issuer() as issuer:
        issuer.serve_keys(signer.jwks)
        host_path = issuer.issuer.split("://", 1)[1]
        directory = {"accounts": {"123456789012": {
            "roles": {"Gitlab": {"trust_policy": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated":
                              f"arn:aws:iam::123456789012:oidc-provider/{host_path}"},
                "Condition": {"StringLike": {f"{host_path}:sub": "project_path:group/*"}}}]}}},
            "oidc_providers": [{"url": issuer.issuer, "client_ids": ["sts.amazonaws.com"]}]}}}
        with Simulator(directory) as sim:
            now = int(sim.clock.now().timestamp())
            token = signer.sign(claims(issuer.issuer, now, sub="project_path:group/app"))
            result = sts_client(sim.sts_endpoint).assume_role_with_web_identity(
                RoleArn="arn:aws:iam::123456789012:role/Gitlab", RoleSessionName="pipeline",
                WebIdentityToken=token)
        assert result["Provider"] == issuer.issuer
        assert issuer.hits[issuer.jwks_path] == 1
