"""``idp serve --workers 2``: flows hop between worker processes and one-time use is shared.

Clients here keep no connection alive, so every request is a new connection that the kernel
hands to whichever worker accepts it first. The workers share the session and STS secrets
(certs folder) and the replay / one-time-code state (data folder).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import botocore.exceptions
import httpx2
import pyotp
import pytest

from tests.support.demo import (
    ADMIN,
    ALICE_EMAIL,
    CAROL_SECRET,
    DEV,
    DEV_PROVIDER,
    DEVELOPER,
    PROD_PROVIDER,
    READ_ONLY,
)
from tests.support.faults import (
    FaultServer,
    connections_by_worker,
    fresh_client,
    rss_bytes,
    serving,
    tree_pids,
    worker_pids,
)
from tests.support.http import auto_post, login, sso_assertion
from tests.support.sts import clean_aws_environment, session_client, sts_client

pytestmark = pytest.mark.live

DEV_ARN = f"arn:aws:sts::{DEV}:assumed-role/Developer/{ALICE_EMAIL}"
#: Same assertion sent this many times at once.
RACERS = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultServer]:
    workdir = tmp_path_factory.mktemp("workers")
    # Strict replay protection (one redemption in all): the shared one-time guarantee is
    # what these races test; the default lets STS redeem an assertion again (idp.aws.replay).
    with serving(workdir, workdir / "certs", workdir / "data", workers=2,
                 env={"IDP_REPLAY_PROTECTION": "strict"}) as live:
        yield live
    assert "Traceback" not in live.output(), live.output()


@pytest.fixture(autouse=True)
def _no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_aws_environment(monkeypatch, tmp_path)


@pytest.fixture
def browser(server: FaultServer) -> Iterator[httpx2.Client]:
    """Cookies kept, connections not: each request may reach either worker."""
    with fresh_client(server.url, keepalive=False) as client:
        yield client


def signed_in(browser: httpx2.Client, user: str = "alice") -> str:
    """Log ``user`` in (or reuse the session) and return the auto-POSTed SAMLResponse."""
    return sso_assertion(browser, user)


def test_two_worker_processes(server: FaultServer) -> None:
    """The server runs two distinct worker processes beside its supervisor."""
    workers = worker_pids(server.process.pid)
    assert len(workers) == 2 and server.process.pid not in workers
    assert rss_bytes(tree_pids(server.process.pid)) > rss_bytes(workers) > 0


def test_connections_reach_both_workers(server: FaultServer) -> None:
    """New connections are accepted by both workers (seen in /proc: who holds which socket)."""
    workers = worker_pids(server.process.pid)
    clients: list[httpx2.Client] = []
    try:
        for _ in range(24):  # bounded: stop as soon as each worker holds two connections
            client = fresh_client(server.url)  # keeps its one connection open
            clients.append(client)
            assert client.get("/healthz").status_code == 200
            held = connections_by_worker(workers, server.port)
            if min(held.values()) >= 2:
                break
        assert min(held.values()) >= 2, f"connections held per worker: {held}"
        assert sum(held.values()) == len(clients), held
    finally:
        for client in clients:
            client.close()


def test_login_role_choice_and_sts_hop_between_workers(server: FaultServer,
                                                      browser: httpx2.Client) -> None:
    """Login, console role choice, STS and GetCallerIdentity all work over new connections."""
    for round_ in range(3):
        assertion = signed_in(browser)  # round 0: the login steps; then the session
        choose = browser.post("/aws/saml", data={"SAMLResponse": assertion, "RelayState": ""})
        assert choose.status_code == 200, choose.text[:800]
        offered = re.findall(r'name="roleIndex" value="([^"]+)"', choose.text)
        assert sorted(offered) == sorted([ADMIN, READ_ONLY, DEVELOPER])
        signed = browser.post("/aws/saml", data={"SAMLResponse": assertion, "RelayState": "",
                                                 "roleIndex": DEVELOPER})
        assert signed.status_code == 303, signed.text[:800]
        console = browser.get(signed.headers["location"])
        assert console.status_code == 200, f"round {round_}: {console.text[:800]}"
        assert DEV_ARN in console.text

        endpoint = f"{server.url}/aws/sts"
        result = sts_client(endpoint).assume_role_with_saml(
            RoleArn=DEVELOPER, PrincipalArn=DEV_PROVIDER, SAMLAssertion=signed_in(browser))
        identity = session_client(endpoint, result["Credentials"])
        for _ in range(4):  # GetCallerIdentity from new connections
            assert identity.get_caller_identity()["Arn"] == DEV_ARN


def race(server: FaultServer, assertion: str, console_share: int = 0) -> list[str]:
    """Send one assertion ``RACERS`` times at once (new connections); each outcome."""
    endpoint = f"{server.url}/aws/sts"
    clients = [sts_client(endpoint) for _ in range(RACERS - console_share)]
    browsers = [fresh_client(server.url, keepalive=False) for _ in range(console_share)]
    barrier = threading.Barrier(RACERS, timeout=30)

    def via_sts(client: Any) -> str:
        barrier.wait()
        try:
            client.assume_role_with_saml(RoleArn=READ_ONLY, PrincipalArn=PROD_PROVIDER,
                                         SAMLAssertion=assertion)
        except botocore.exceptions.ClientError as exc:
            error = exc.response["Error"]
            return f"sts {exc.response['ResponseMetadata']['HTTPStatusCode']} " \
                f"{error['Code']}: {error['Message']}"
        return "ok"

    def via_console(client: httpx2.Client) -> str:
        barrier.wait()
        response = client.post("/aws/saml", data={"SAMLResponse": assertion,
                                                  "roleIndex": READ_ONLY})
        if response.status_code == 303:
            return "ok"
        replay = "already" in response.text
        return f"console {response.status_code}{' already used' if replay else ''}"

    try:
        with ThreadPoolExecutor(max_workers=RACERS) as pool:
            futures = [pool.submit(via_sts, c) for c in clients]
            futures += [pool.submit(via_console, b) for b in browsers]
            return [f.result(timeout=60) for f in futures]
    finally:
        for b in browsers:
            b.close()


def test_replay_cache_is_shared_under_a_race(server: FaultServer,
                                            browser: httpx2.Client) -> None:
    """One assertion sent 8 times at once to STS (and the console) succeeds exactly once."""
    refused = "sts 400 InvalidIdentityToken: SAML assertion has already been used"
    for round_ in range(3):
        outcomes = race(server, signed_in(browser, "bob"))
        assert outcomes.count("ok") == 1, f"round {round_}: {outcomes}"
        assert outcomes.count(refused) == RACERS - 1, f"round {round_}: {outcomes}"
    # The console's sign-in and the STS share one replay cache too.
    outcomes = race(server, signed_in(browser, "bob"), console_share=RACERS // 2)
    assert outcomes.count("ok") == 1, outcomes
    assert all(o in ("ok", refused, "console 400 already used") for o in outcomes), outcomes


def test_totp_code_is_single_use_across_workers(server: FaultServer) -> None:
    """Carol's TOTP code works once; replaying it from new connections is always refused."""
    code = pyotp.TOTP(CAROL_SECRET).now()
    with fresh_client(server.url, keepalive=False) as first:
        page = login(first, "/idp/init", "carol", "carol-password", otp=code)
        assert page.status_code == 200, page.text[:800]
        assert auto_post(page.text).saml_response
    for attempt in range(4):  # under the per-user throttle (10 failures / 5 min)
        with fresh_client(server.url, keepalive=False) as again:
            page = login(again, "/idp/init", "carol", "carol-password", otp=code)
            assert page.status_code == 401, f"attempt {attempt}: {page.text[:800]}"
            assert "already used" in page.text


def test_idp_sign_out_holds_in_every_worker(server: FaultServer, browser: httpx2.Client) -> None:
    """Signed out on one worker, a copy of the cookie taken before is refused by all of them
    (new connections each time, so both workers answer some)."""
    signed_in(browser, "bob")
    stolen = dict(browser.cookies)
    page = browser.get("/idp/logout")
    token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
    assert token, page.text[:800]
    assert browser.post("/idp/logout", data={"csrf_token": token[1]}).status_code == 303
    for attempt in range(8):
        with fresh_client(server.url, keepalive=False) as thief:
            thief.cookies.update(stolen)
            again = thief.get("/idp/init")
            assert again.status_code == 303, f"attempt {attempt}: {again.text[:300]}"
            assert again.headers["location"].startswith("/idp/login"), attempt
