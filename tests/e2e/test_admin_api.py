"""The admin API against a real ``idp serve --admin`` process (one per module).

Another language's test suite drives the simulator this way: read the token (banner or
``data/admin-token``), add a user who then signs in through the real HTTP flow and gets STS
credentials, roll the signing key over while Responses signed with the old key are in flight,
move the clock, plan faults that reach the next browser SSO Response. Every test starts from
``POST /api/reset``.
"""

from __future__ import annotations

import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from lxml import etree

from tests.support.http import auto_post, login
from tests.support.server import LiveServer, child_env, free_port, idp_command, running_server

pytestmark = pytest.mark.live

TIMEOUT = 20.0
STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
DS_CERT = "{http://www.w3.org/2000/09/xmldsig#}X509Certificate"
PROD = "111122223333"
READ_ONLY = f"arn:aws:iam::{PROD}:role/ReadOnly"
PROD_PROVIDER = f"arn:aws:iam::{PROD}:saml-provider/CorpIdP"
DEVELOPER = "arn:aws:iam::444455556666:role/Developer"
DEV_PROVIDER = "arn:aws:iam::444455556666:saml-provider/CorpIdP"
BANNER_TOKEN = re.compile(r"Admin token \(Authorization: Bearer\): (\S+)")


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    """``idp serve --admin`` (demo directory, fresh keys; data in WORKDIR/data)."""
    workdir = tmp_path_factory.mktemp("admin-api")
    with running_server(workdir, extra_args=["--admin"]) as live:
        yield live, workdir


@pytest.fixture(scope="module")
def token(admin_server: tuple[LiveServer, Path]) -> str:
    live, workdir = admin_server
    found = BANNER_TOKEN.search(live.output())
    assert found, live.output()
    token_file = workdir / "data" / "admin-token"
    assert token_file.read_text("ascii") == found[1]
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    return found[1]


@pytest.fixture
def api(admin_server: tuple[LiveServer, Path], token: str) -> Iterator[httpx2.Client]:
    """An authenticated client; the simulator is reset before each test."""
    live, _ = admin_server
    with httpx2.Client(base_url=live.url, timeout=TIMEOUT,
                       headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.post("/api/reset").json() == {"reset": True}
        yield client


@pytest.fixture
def browser(admin_server: tuple[LiveServer, Path]) -> Iterator[httpx2.Client]:
    """A cookie-keeping client with no admin token, as a browser is."""
    live, _ = admin_server
    with httpx2.Client(base_url=live.url, timeout=TIMEOUT) as client:
        yield client


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def assume(client: httpx2.Client, saml_response: str, role: str = READ_ONLY,
           provider: str = PROD_PROVIDER) -> Any:
    return client.post("/aws/sts", data={
        "Action": "AssumeRoleWithSAML", "Version": "2011-06-15", "RoleArn": role,
        "PrincipalArn": provider, "SAMLAssertion": saml_response})


def sts_error(response: Any) -> str:
    return str(etree.fromstring(response.content).findtext(f"{STS_NS}Error/{STS_NS}Code"))


def last_sts_rule(api: httpx2.Client) -> str | None:
    return ok(api.get("/api/exchanges", params={"kind": "sts"}))["exchanges"][-1]["rule"]


def mint(api: httpx2.Client, user: str = "bob", **fields: Any) -> str:
    return str(ok(api.post("/api/mint", json={"user": user, **fields}))["saml_response"])


def metadata_certificates(client: httpx2.Client) -> list[str]:
    root = etree.fromstring(client.get("/idp/metadata").content)
    return ["".join(str(c.text).split()) for c in root.iter(DS_CERT)]


def browser_sign_in(browser: httpx2.Client, user: str, password: str) -> str:
    """The real flow: /idp/init, the login form, the auto-POST page's SAMLResponse."""
    page = login(browser, "/idp/init", user, password)
    assert page.status_code == 200, page.text[:500]
    return auto_post(page.text).saml_response


# --- the token ------------------------------------------------------------------------------------


def test_without_the_token_the_api_answers_401(browser: httpx2.Client, token: str) -> None:
    for method, path in (("GET", "/api"), ("GET", "/api/users"), ("POST", "/api/reset"),
                         ("POST", "/api/keys"), ("GET", "/api/nothing")):
        response = browser.request(method, path)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert set(response.json()) == {"error", "field"}
    wrong = browser.get("/api/users", headers={"Authorization": f"Bearer {token[::-1]}"})
    assert wrong.status_code == 401
    assert browser.get("/api", headers={"Authorization": f"Bearer {token}"}).status_code == 200


# --- a user added over the API signs in for real -------------------------------------------------


def test_an_added_user_signs_in_and_gets_credentials(api: httpx2.Client,
                                                     browser: httpx2.Client) -> None:
    ok(api.post("/api/users", json={"name": "erin", "password": "erin-pw",
                                    "email": "erin@corp.example", "roles": ["Developer"]}), 201)
    saml = browser_sign_in(browser, "erin", "erin-pw")
    answer = assume(browser, saml, DEVELOPER, DEV_PROVIDER)
    assert answer.status_code == 200, answer.text
    root = etree.fromstring(answer.content)
    assert root.findtext(f".//{STS_NS}Credentials/{STS_NS}AccessKeyId")
    assert root.findtext(f".//{STS_NS}AssumedRoleUser/{STS_NS}Arn") == (
        "arn:aws:sts::444455556666:assumed-role/Developer/erin@corp.example")

    # Refused edits change nothing: the same name again, a role nobody defines.
    assert ok(api.post("/api/users", json={"name": "erin", "password": "x"}), 400)[
        "field"] == "name"
    assert ok(api.post("/api/users", json={"name": "fay", "password": "x",
                                           "roles": ["Nope"]}), 400)["field"] == "roles"
    assert api.get("/api/users/fay").status_code == 404


# --- key rollover ---------------------------------------------------------------------------------


def test_key_rollover_keeps_old_responses_until_retirement(api: httpx2.Client,
                                                           browser: httpx2.Client) -> None:
    old = metadata_certificates(browser)
    assert len(old) == 1
    first, second = mint(api), mint(api)  # both signed with the old key (one-time use is on)

    staged = ok(api.post("/api/keys"), 201)
    assert [k["slot"] for k in staged["keys"]] == ["signing", "next"]
    assert len(metadata_certificates(browser)) == 2
    promoted = ok(api.post("/api/keys/promote"))
    assert [k["slot"] for k in promoted["keys"]] == ["signing", "previous"]
    during = metadata_certificates(browser)
    assert len(during) == 2 and during[1] == old[0] and during[0] != old[0]

    accepted = assume(browser, first)  # signed with the previous key, still published
    assert accepted.status_code == 200, accepted.text
    fresh = assume(browser, mint(api))  # signed with the new key
    assert fresh.status_code == 200, fresh.text

    ok(api.post("/api/keys/retire"))
    after = metadata_certificates(browser)
    assert after == [during[0]]
    refused = assume(browser, second)  # the old key is no longer trusted
    assert refused.status_code == 400, refused.text
    assert sts_error(refused) == "InvalidIdentityToken"
    assert last_sts_rule(api) == "signature-invalid"
    assert ok(api.post("/api/keys/retire"), 409)["field"] is None


# --- the clock ------------------------------------------------------------------------------------


def test_advancing_the_clock_expires_a_minted_response(api: httpx2.Client,
                                                       browser: httpx2.Client) -> None:
    saml = mint(api)
    clock = ok(api.post("/api/clock", json={"advance": 3600}))
    assert clock["offset_seconds"] >= 3599 and clock["frozen"] is False
    refused = assume(browser, saml)
    assert refused.status_code == 400, refused.text
    assert sts_error(refused) == "ExpiredTokenException"
    assert last_sts_rule(api) == "expired"
    assert ok(api.post("/api/clock", json={"freeze": "2030-01-01T00:00:00"}), 400)[
        "field"] == "freeze"


# --- faults ---------------------------------------------------------------------------------------


def test_a_planned_fault_reaches_the_next_browser_response(api: httpx2.Client,
                                                           browser: httpx2.Client) -> None:
    ok(api.post("/api/faults", json={"fault": "expired", "sp": "urn:amazon:webservices"}), 201)
    saml = browser_sign_in(browser, "bob", "bob-password")
    assert ok(api.get("/api/faults"))["faults"] == []  # used up
    sent = ok(api.get("/api/exchanges", params={"user": "bob", "kind": "response"}))
    assert sent["exchanges"][-1]["fault"] == "expired"
    refused = assume(browser, saml)
    assert refused.status_code == 400 and sts_error(refused) == "ExpiredTokenException"
    assert last_sts_rule(api) == "expired"

    # The next one is genuine again (a fresh browser: a new login).
    browser.cookies.clear()
    genuine = assume(browser, browser_sign_in(browser, "bob", "bob-password"))
    assert genuine.status_code == 200, genuine.text


# --- one worker only ------------------------------------------------------------------------------


def test_admin_with_two_workers_fails_at_start(tmp_path: Path) -> None:
    result = subprocess.run(
        idp_command("serve", "--admin", "--workers", "2", "--host", "127.0.0.1",
                    "--port", str(free_port()), "--certs-dir", str(tmp_path / "certs")),
        capture_output=True, text=True, timeout=30, env=child_env(), cwd=tmp_path, check=False)
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("idp: error: "), result.stderr
    assert "one worker" in lines[0]
    assert not (tmp_path / "data" / "admin-token").exists()


def test_the_log_holds_no_traceback_no_password_and_the_token_once(
        admin_server: tuple[LiveServer, Path], token: str, api: httpx2.Client) -> None:
    ok(api.post("/api/users", json={"name": "gil", "password": "gil-secret-pw"}), 201)
    output = admin_server[0].output()
    assert "Traceback" not in output
    assert "gil-secret-pw" not in output
    assert output.count(token) == 1  # the banner only
    assert "admin POST /api/users -> 201" in output
