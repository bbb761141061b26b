"""Two ``idp serve`` processes on different ports share one real Redis (``--state
redis://...``) and act as one simulator: a client alternating between them request by request
goes through login, console, STS and GetCallerIdentity; one-time use holds across them; an IAM
change on one is seen by the other; Redis stopped mid-run gives clear 503 answers (never a
500, never an assertion accepted twice) and the processes recover by themselves.

Each process has a data folder of its own, so nothing can be shared through SQLite by
accident: whatever they agree on went through Redis.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import httpx2
import pyotp
import pytest

from tests.support.demo import (
    BOB_EMAIL,
    CAROL_SECRET,
    PROD_ADMIN,
    PROD_PROVIDER,
    READ_ONLY,
)
from tests.support.faults import REQUEST_TIMEOUT, FaultServer, serve, shutdown
from tests.support.http import login, sso_assertion
from tests.support.redis_server import RedisServer
from tests.support.server import free_port
from tests.support.sts import NO_RETRY, clean_aws_environment, session_client, sts_client

pytestmark = pytest.mark.live

BOB_ARN = f"arn:aws:sts::111122223333:assumed-role/ReadOnly/{BOB_EMAIL}"
RACERS = 8


@dataclass(frozen=True)
class Pair:
    """Two processes serving one base URL (the first one's) from one Redis."""

    a: FaultServer
    b: FaultServer
    redis: RedisServer

    @property
    def url(self) -> str:
        return self.a.url

    @property
    def servers(self) -> tuple[FaultServer, FaultServer]:
        return (self.a, self.b)

    def output(self) -> str:
        return self.a.output() + self.b.output()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    workdir = tmp_path_factory.mktemp("redis-pair")
    redis = RedisServer(workdir / "redis")
    redis.start()
    port_a, port_b = free_port(), free_port()
    base = f"http://127.0.0.1:{port_a}"
    flags = ("--state", redis.url(), "--base-url", base)
    certs = workdir / "certs"
    servers: list[FaultServer] = []
    try:
        for name, port in (("a", port_a), ("b", port_b)):
            servers.append(serve(workdir / name, certs, workdir / name / "data", port=port,
                                 extra_args=flags))
        yield Pair(servers[0], servers[1], redis)
    finally:
        codes = [shutdown(server) for server in servers]
        redis.stop()
    assert codes == [0, 0], "\n".join(s.output() for s in servers)
    for server in servers:
        assert "Traceback" not in server.output(), server.output()


@pytest.fixture(autouse=True)
def _no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_aws_environment(monkeypatch, tmp_path)


class Alternating(httpx2.BaseTransport):
    """Sends request n to the n-th port in turn, whatever port the URL names (a browser
    behind a round-robin proxy)."""

    def __init__(self, ports: tuple[int, ...]) -> None:
        self._ports = itertools.cycle(ports)
        self._inner = httpx2.HTTPTransport()
        self.seen: Counter[int] = Counter()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self._ports)
        request.url = request.url.copy_with(port=port)
        self.seen[port] += 1
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def browser(pair: Pair) -> Iterator[tuple[httpx2.Client, Alternating]]:
    transport = Alternating((pair.a.port, pair.b.port))
    with httpx2.Client(base_url=pair.url, transport=transport,
                       timeout=REQUEST_TIMEOUT) as client:
        yield client, transport


def test_a_whole_flow_alternating_between_the_processes(
        pair: Pair, browser: tuple[httpx2.Client, Alternating]) -> None:
    client, transport = browser
    for round_ in range(2):
        assertion = sso_assertion(client, "bob")  # round 0: the login page; then the session
        signed = client.post("/aws/saml", data={"SAMLResponse": assertion, "RelayState": ""})
        assert signed.status_code == 303, f"round {round_}: {signed.text[:800]}"
        console = client.get(signed.headers["location"])
        assert console.status_code == 200 and BOB_ARN in console.text, console.text[:800]
        result = sts_client(f"{pair.b.url}/aws/sts").assume_role_with_saml(
            RoleArn=READ_ONLY, PrincipalArn=PROD_PROVIDER,
            SAMLAssertion=sso_assertion(client, "bob"))
        for server in (pair.a, pair.b, pair.a):
            identity = session_client(f"{server.url}/aws/sts", result["Credentials"])
            assert identity.get_caller_identity()["Arn"] == BOB_ARN
    assert transport.seen[pair.a.port] >= 3 and transport.seen[pair.b.port] >= 3, transport.seen


def test_one_assertion_raced_at_both_consoles_signs_in_once(
        pair: Pair, browser: tuple[httpx2.Client, Alternating]) -> None:
    client, _ = browser
    barrier = threading.Barrier(RACERS, timeout=30)

    def post(port: int, assertion: str) -> int:
        with httpx2.Client(timeout=REQUEST_TIMEOUT) as racer:
            barrier.wait()
            return racer.post(f"http://127.0.0.1:{port}/aws/saml",
                              data={"SAMLResponse": assertion, "roleIndex": READ_ONLY}
                              ).status_code

    for round_ in range(3):
        assertion = sso_assertion(client, "bob")
        ports = [pair.a.port, pair.b.port] * (RACERS // 2)
        with ThreadPoolExecutor(max_workers=RACERS) as pool:
            codes = list(pool.map(post, ports, [assertion] * RACERS))
        assert sorted(codes) == [303] + [400] * (RACERS - 1), f"round {round_}: {codes}"


def test_a_totp_code_works_once_across_the_processes(pair: Pair) -> None:
    code = pyotp.TOTP(CAROL_SECRET).now()
    with httpx2.Client(base_url=pair.a.url, timeout=REQUEST_TIMEOUT) as first:
        page = login(first, "/idp/init", "carol", "carol-password", otp=code)
        assert page.status_code == 200, page.text[:800]
    with httpx2.Client(base_url=pair.b.url, timeout=REQUEST_TIMEOUT) as second:
        page = login(second, "/idp/init", "carol", "carol-password", otp=code)
        assert page.status_code == 401 and "already used" in page.text, page.text[:800]


def iam(url: str) -> Any:
    return boto3.session.Session().client(
        "iam", endpoint_url=f"{url}/aws/iam", region_name="us-east-1", config=NO_RETRY,
        aws_access_key_id=PROD_ADMIN[0], aws_secret_access_key=PROD_ADMIN[1])


def test_an_iam_change_on_one_process_is_seen_by_the_other(pair: Pair) -> None:
    trust = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
             '{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}')
    iam(pair.a.url).create_role(RoleName="SharedByRedis",
                                AssumeRolePolicyDocument=trust)
    got = iam(pair.b.url).get_role(RoleName="SharedByRedis")
    assert got["Role"]["Arn"] == "arn:aws:iam::111122223333:role/SharedByRedis"
    iam(pair.b.url).delete_role(RoleName="SharedByRedis")
    with pytest.raises(botocore.exceptions.ClientError, match="NoSuchEntity"):
        iam(pair.a.url).get_role(RoleName="SharedByRedis")


def test_redis_stopped_mid_run_gives_clear_errors_then_recovers(
        pair: Pair, browser: tuple[httpx2.Client, Alternating]) -> None:
    client, _ = browser
    redeemed = sso_assertion(client, "bob")
    spare = sso_assertion(client, "bob")
    first = client.post("/aws/saml", data={"SAMLResponse": redeemed, "roleIndex": READ_ONLY})
    assert first.status_code == 303, first.text[:800]
    pair.redis.stop()
    try:
        for server in pair.servers:
            # The browser side: a readable page, 503, never a 500 or a sign-in.
            page = httpx2.post(f"{server.url}/aws/saml", timeout=REQUEST_TIMEOUT,
                               data={"SAMLResponse": spare, "roleIndex": READ_ONLY})
            assert page.status_code == 503, page.text[:800]
            assert "Simulator state unavailable" in page.text, page.text[:800]
            assert "Traceback" not in page.text
            login_page = httpx2.get(f"{server.url}/idp/init", timeout=REQUEST_TIMEOUT,
                                    follow_redirects=True)
            assert login_page.status_code in (200, 503), login_page.text[:300]
            # The AWS side: AWS's error shape.
            with pytest.raises(botocore.exceptions.ClientError) as caught:
                sts_client(f"{server.url}/aws/sts").assume_role_with_saml(
                    RoleArn=READ_ONLY, PrincipalArn=PROD_PROVIDER, SAMLAssertion=spare)
            error = caught.value.response
            assert error["ResponseMetadata"]["HTTPStatusCode"] == 503, error
            assert error["Error"]["Code"] == "ServiceUnavailable", error
            with pytest.raises(botocore.exceptions.ClientError) as caught:
                iam(server.url).list_roles()
            assert caught.value.response["Error"]["Code"] == "ServiceUnavailable"
    finally:
        pair.redis.start()
    # Back, with nothing forgotten: the redeemed assertion stays redeemed (Redis's AOF), the
    # spare one (refused only because Redis was away) now signs in, on either process.
    for server in pair.servers:
        again = httpx2.post(f"{server.url}/aws/saml", timeout=REQUEST_TIMEOUT,
                            data={"SAMLResponse": redeemed, "roleIndex": READ_ONLY})
        assert again.status_code == 400 and "already" in again.text, again.text[:800]
    signed = httpx2.post(f"{pair.b.url}/aws/saml", timeout=REQUEST_TIMEOUT,
                         data={"SAMLResponse": spare, "roleIndex": READ_ONLY})
    assert signed.status_code == 303, signed.text[:800]
    result = sts_client(f"{pair.a.url}/aws/sts").assume_role_with_saml(
        RoleArn=READ_ONLY, PrincipalArn=PROD_PROVIDER, SAMLAssertion=sso_assertion(client, "bob"))
    identity = session_client(f"{pair.b.url}/aws/sts", result["Credentials"])
    assert identity.get_caller_identity()["Arn"] == BOB_ARN
