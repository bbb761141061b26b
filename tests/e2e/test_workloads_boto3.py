"""Roles for workloads with an unmodified boto3 and its default credential chain: only
environment variables point it at the instance metadata twin or the container credentials
twin (``tests.support.workload``), against real servers (the in-process ``Simulator`` and
the ``idp serve`` process).

Time: the long-running program (``BotoWorkload``) runs under libfaketime; the simulator runs
on a ``SettableClock`` whose underlying real clock is the program's (``ClientWall``: real time
plus the program's offset). Moving that wall moves both: the simulated time (credential
expiry, rotation) and the time SigV4 timestamps are checked against (``idp.aws.sigv4`` checks
a request's time against the real clock, so moving only ``sim.clock`` would make the program's
signatures "not yet current").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from idp.simulator import Simulator
from tests.support.demo import DEV, PROD, READ_ONLY, demo_text
from tests.support.server import running_server
from tests.support.workload import BotoWorkload, ClientWall, workload_clock, workload_env

pytestmark = pytest.mark.live

INSTANCE = "i-0123456789abcdef0"
TASK = "billing-task"
FAR, FAR_V1 = "i-0abc9999", "i-0abc8888"
CHAINING = ("The requested DurationSeconds exceeds the 1 hour session limit for roles "
            "assumed by role chaining.")

#: One call with the default chain, then ``sts.assume_role`` for each ``ROLE,DURATION``
#: argument; every failure is reported as JSON (including at client creation, where botocore
#: raises for container credentials it cannot fetch).
ONE_SHOT = r"""
import json, sys
import boto3, botocore.exceptions

def error(exc):
    if isinstance(exc, botocore.exceptions.ClientError):
        return {"error": exc.response["Error"]["Code"],
                "message": exc.response["Error"].get("Message", "")}
    return {"error": type(exc).__name__, "message": str(exc)}

try:
    sts = boto3.Session().client("sts")
    identity = sts.get_caller_identity()
    answer = {"Arn": identity["Arn"], "UserId": identity["UserId"]}
    for spec in sys.argv[1:]:
        role, _, duration = spec.partition(",")
        extra = {"DurationSeconds": int(duration)} if duration else {}
        try:
            got = sts.assume_role(RoleArn=role, RoleSessionName="chained", **extra)
            answer[spec] = {"Arn": got["AssumedRoleUser"]["Arn"],
                            "Expiration": got["Credentials"]["Expiration"].isoformat()}
        except Exception as exc:
            answer[spec] = error(exc)
    print(json.dumps(answer))
except Exception as exc:
    print(json.dumps(error(exc)))
"""


def imds_env(base: str, instance: str = INSTANCE, **extra: str) -> dict[str, str]:
    return {"AWS_EC2_METADATA_SERVICE_ENDPOINT": f"{base}/imds/{instance}", **extra}


def ecs_env(base: str, token: str | None = "billing-task-token") -> dict[str, str]:  # noqa: S107
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{base}/ecs/{TASK}/credentials"}
    if token is not None:
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = token
    return env


def one_shot(base: str, folder: Path, env: Mapping[str, str], *args: str) -> dict[str, Any]:
    """Run ``ONE_SHOT`` in a clean environment; its JSON answer."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", ONE_SHOT, *args], capture_output=True,
                          text=True, env=workload_env(base, folder, env), cwd=folder,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


@contextlib.contextmanager
def workload(base: str, folder: Path, env: Mapping[str, str]) -> Iterator[BotoWorkload]:
    program = BotoWorkload(base, folder, env)
    try:
        yield program
    finally:
        try:
            program.close()
        except ValueError:
            # BotoWorkload.close closes stdin before communicate(), which then fails to flush
            # it; the program has its end of input and exits: reap it.
            process = program._process
            process.wait(timeout=10)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


def directory(edit: Any = None) -> dict[str, Any]:
    """The demo directory as a mapping for ``Simulator(config)``, after ``edit``."""
    data: dict[str, Any] = yaml.safe_load(demo_text(edit))
    return data


def trust_only(data: dict[str, Any], account: str, role: str, service: str) -> None:
    data["accounts"][account]["roles"][role]["trust_policy"] = {
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}


@pytest.fixture
def wall() -> ClientWall:
    return ClientWall()


@pytest.fixture
def sim(wall: ClientWall) -> Iterator[Simulator]:
    with Simulator(clock=workload_clock(wall)) as simulator:
        yield simulator


# --- the two flows ----------------------------------------------------------------------


def test_an_instance_role_through_the_metadata_service(sim, tmp_path):
    base = sim.base_url
    with workload(base, tmp_path / "w", imds_env(base)) as program:
        answer = program.call()
    assert answer["Arn"] == f"arn:aws:sts::{PROD}:assumed-role/WebServer/{INSTANCE}"
    assert answer["UserId"].endswith(f":{INSTANCE}") and answer["UserId"].startswith("AROA")
    assert answer["Account"] == PROD and answer["AccessKeyId"].startswith("ASIA")


def test_a_task_role_through_the_container_endpoint(sim, tmp_path):
    base = sim.base_url
    with workload(base, tmp_path / "w", ecs_env(base)) as program:
        answer = program.call()
    assert answer["Arn"] == f"arn:aws:sts::{DEV}:assumed-role/Billing/{TASK}"
    assert answer["Account"] == DEV


@pytest.mark.parametrize("flow", ["instance", "task"])
def test_botocore_refreshes_on_the_simulators_clock(sim, wall, tmp_path, flow):
    base = sim.base_url
    env = imds_env(base) if flow == "instance" else ecs_env(base)
    with workload(base, tmp_path / "w", env) as program:
        first = program.call()
        assert "error" not in first, first
        for step in (3 * 3600, 3600):  # 4 h in: still the same credentials
            wall.advance(step)
            program.advance(step)
            assert program.call()["AccessKeyId"] == first["AccessKeyId"]
        wall.advance(2 * 3600 + 60)  # past the 6 h expiry
        program.advance(2 * 3600 + 60)
        second = program.call()
        assert "error" not in second, second
        assert second["AccessKeyId"] != first["AccessKeyId"]
        assert second["Arn"] == first["Arn"]
        wall.advance(5 * 3600)  # the new ones last 6 h from their issue
        program.advance(5 * 3600)
        assert program.call()["AccessKeyId"] == second["AccessKeyId"]


# --- refusals ---------------------------------------------------------------------------


def test_no_credentials_when_ec2_may_not_assume_the_role(tmp_path):
    config = directory(lambda d: trust_only(d, PROD, "WebServer", "lambda.amazonaws.com"))
    with Simulator(config) as sim:
        base = sim.base_url
        with workload(base, tmp_path / "w", imds_env(base)) as program:
            answer = program.call()
    assert answer["error"] == "NoCredentialsError", answer


def test_an_error_when_ecs_may_not_assume_the_role(tmp_path):
    config = directory(lambda d: trust_only(d, DEV, "Billing", "ec2.amazonaws.com"))
    with Simulator(config) as sim:
        answer = one_shot(sim.base_url, tmp_path / "w", ecs_env(sim.base_url))
    assert answer["error"] == "CredentialRetrievalError", answer
    assert "400" in answer["message"] and "NoCredentialsAssociated" in answer["message"]


@pytest.mark.parametrize(("token", "code"), [("wrong-token", "InvalidTokenException"),
                                             (None, "InvalidRequestException")])
def test_an_error_with_a_wrong_or_missing_container_token(sim, tmp_path, token, code):
    answer = one_shot(sim.base_url, tmp_path / "w", ecs_env(sim.base_url, token))
    assert answer["error"] == "CredentialRetrievalError", answer
    assert code in answer["message"]


def test_an_unknown_instance_or_task_gives_no_credentials(sim, tmp_path):
    base = sim.base_url
    answer = one_shot(base, tmp_path / "i", imds_env(base, "i-0fffffff"))
    assert answer["error"] == "NoCredentialsError", answer
    answer = one_shot(base, tmp_path / "t", {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{base}/ecs/nope/credentials"})
    assert answer["error"] == "CredentialRetrievalError"
    assert "InvalidIdInRequest" in answer["message"]


# --- chaining ---------------------------------------------------------------------------


def test_instance_credentials_chain_into_assume_role_for_at_most_an_hour(sim, tmp_path):
    base = sim.base_url
    answer = one_shot(base, tmp_path / "w", imds_env(base), f"{READ_ONLY},",
                      f"{READ_ONLY},7200")
    assert answer["Arn"] == f"arn:aws:sts::{PROD}:assumed-role/WebServer/{INSTANCE}"
    chained = answer[f"{READ_ONLY},"]
    assert chained["Arn"] == f"arn:aws:sts::{PROD}:assumed-role/ReadOnly/chained"
    expires = dt.datetime.fromisoformat(chained["Expiration"])
    assert expires - sim.clock.now() <= dt.timedelta(hours=1)
    assert answer[f"{READ_ONLY},7200"] == {"error": "ValidationError", "message": CHAINING}


# --- the hop limit, against the real ``idp serve`` --------------------------------------


def test_beyond_the_hop_limit_imdsv2_gives_no_credentials(tmp_path):
    """``hops: 2`` with ``hop_limit: 1``: the token never arrives, botocore times out
    (``AWS_METADATA_SERVICE_TIMEOUT=1``) and falls back to IMDSv1, which ``required``
    refuses; the same instance with ``optional`` works through that fallback."""
    def edit(data: dict[str, Any]) -> None:
        data["instances"][FAR] = {"account": PROD, "role": "WebServer", "hops": 2,
                                  "hop_limit": 1}
        data["instances"][FAR_V1] = {**data["instances"][FAR], "http_tokens": "optional"}

    config = tmp_path / "directory.yaml"
    config.write_text(demo_text(edit), encoding="utf-8")
    with running_server(tmp_path / "server", extra_args=["--config", str(config)]) as server:
        base = server.url
        started = time.monotonic()
        refused = one_shot(base, tmp_path / "far", imds_env(
            base, FAR, AWS_METADATA_SERVICE_TIMEOUT="1"))
        took = time.monotonic() - started
        served = one_shot(base, tmp_path / "v1", imds_env(
            base, FAR_V1, AWS_METADATA_SERVICE_TIMEOUT="1"))
        near = one_shot(base, tmp_path / "near", imds_env(base))
        output = server.output()
    assert refused["error"] == "NoCredentialsError", refused
    assert took >= 1  # botocore waited for a token answer that never came
    assert served["Arn"] == f"arn:aws:sts::{PROD}:assumed-role/WebServer/{FAR_V1}"
    assert near["Arn"] == f"arn:aws:sts::{PROD}:assumed-role/WebServer/{INSTANCE}"
    assert "Traceback" not in output and " 500 " not in output


def test_both_flows_against_idp_serve(tmp_path):
    with running_server(tmp_path / "server") as server:
        base = server.url
        instance = one_shot(base, tmp_path / "i", imds_env(base))
        task = one_shot(base, tmp_path / "t", ecs_env(base))
    assert instance["Arn"] == f"arn:aws:sts::{PROD}:assumed-role/WebServer/{INSTANCE}"
    assert task["Arn"] == f"arn:aws:sts::{DEV}:assumed-role/Billing/{TASK}"
