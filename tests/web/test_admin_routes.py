"""The admin API (``idp.web.admin_routes``), in process: every endpoint's answer and its main
refusals, the bearer token on every route, and refusals that change nothing.

Each test gets its own app (``idp serve --admin`` as ``create_app`` builds it) on a copy of
the session's key pair, a fresh data folder and a real-time ``SettableClock``, so key
rollovers, clock moves and edits never leak between tests.
"""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import json
import re
import shutil
import stat
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import pytest
from lxml import etree
from starlette.testclient import TestClient

from idp.clock import SettableClock
from idp.saml.constants import SAML
from idp.settings import Settings
from idp.web import admin_routes
from idp.web.admin_routes import ENDPOINTS, TOKEN_FILENAME, issue_token
from idp.web.app import create_app
from tests.support.demo import (
    ADMIN,
    AWS_ENTITY_ID,
    BASE_URL,
    DEV,
    DEVELOPER,
    PROD,
    PROD_PROVIDER,
    READ_ONLY,
    ROLE_ATTR,
    STS_URL,
)
from tests.support.http import auto_post, login

STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
DS_CERT = "{http://www.w3.org/2000/09/xmldsig#}X509Certificate"
APP_SP = "https://app.example.test/saml"
SP_METADATA = f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    entityID="{APP_SP}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService index="0" Location="https://app.example.test/acs"
      Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"""


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def make_admin_app(certs_dir: Path, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``create_app`` with ``admin=True`` (keyword arguments: other Settings fields): its own
    copy of the keys, data folder and clock."""
    apps: list[Any] = []

    def make(**overrides: Any) -> Any:
        certs = tmp_path / "certs"
        if not certs.exists():
            shutil.copytree(certs_dir, certs)
        settings = Settings(base_url=BASE_URL, certs_dir=certs, data_dir=tmp_path / "data",
                            admin=True).with_overrides(**overrides)
        app = create_app(settings, clock=SettableClock())
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.state.runtime.close()


@pytest.fixture
def admin_app(make_admin_app: Callable[..., Any]) -> Any:
    return make_admin_app()


@pytest.fixture
def anonymous(admin_app: Any) -> Iterator[TestClient]:
    """A client of the admin app that sends no token."""
    with TestClient(admin_app, base_url=BASE_URL) as client:
        yield client


@pytest.fixture
def api(admin_app: Any) -> Iterator[TestClient]:
    """A client that sends the admin token on every request."""
    headers = {"Authorization": f"Bearer {admin_app.state.admin_token}"}
    with TestClient(admin_app, base_url=BASE_URL, headers=headers) as client:
        yield client


def refused(response: Any, status: int, field: str | None = None) -> str:
    """Assert the refusal shape; return its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"error", "field"}, body
    assert body["field"] == field, body
    assert isinstance(body["error"], str) and body["error"] and "\n" not in body["error"]
    assert "Traceback" not in response.text
    return str(body["error"])


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    return response.json()


def state(api: TestClient) -> dict[str, Any]:
    """Everything the API can change, as the API reports it (``now`` left out: it ticks)."""
    clock = ok(api.get("/api/clock"))
    return {
        "users": ok(api.get("/api/users")),
        "roles": ok(api.get("/api/roles")),
        "sps": ok(api.get("/api/service-providers")),
        "keys": ok(api.get("/api/keys")),
        "faults": ok(api.get("/api/faults"))["faults"],
        "frozen": clock["frozen"],
        "offset": round(clock["offset_seconds"]),
        "sent": [e["id"] for e in ok(api.get("/api/exchanges"))["exchanges"]],
    }


def decoded(saml_response: str) -> etree._Element:
    return etree.fromstring(base64.b64decode(saml_response))


def role_values(saml_response: str) -> list[str]:
    root = decoded(saml_response)
    return [str(v.text) for a in root.iter(f"{SAML}Attribute") if a.get("Name") == ROLE_ATTR
            for v in a.iter(f"{SAML}AttributeValue")]


def assume(client: TestClient, saml_response: str, role: str, provider: str) -> Any:
    return client.post(STS_URL, data={
        "Action": "AssumeRoleWithSAML", "Version": "2011-06-15", "RoleArn": role,
        "PrincipalArn": provider, "SAMLAssertion": saml_response})


def sts_code(response: Any) -> str:
    return str(etree.fromstring(response.content).findtext(f"{STS_NS}Error/{STS_NS}Code"))


# --- the token ----------------------------------------------------------------------------------


def test_token_file_is_written_0600_and_matches(admin_app: Any, tmp_path: Path) -> None:
    path = tmp_path / "data" / TOKEN_FILENAME
    assert path.read_text("ascii") == admin_app.state.admin_token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(admin_app.state.admin_token) >= 43  # 32 random bytes, base64url


def test_every_start_issues_a_new_token_and_creates_the_folder_0700(tmp_path: Path) -> None:
    folder = tmp_path / "fresh" / "data"
    first, second = issue_token(folder), issue_token(folder)
    assert first != second
    assert (folder / TOKEN_FILENAME).read_text("ascii") == second
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / TOKEN_FILENAME).stat().st_mode) == 0o600
    assert not [p for p in folder.iterdir() if p.name != TOKEN_FILENAME]  # no temp file left


def test_the_api_is_off_without_admin(certs_dir: Path, tmp_path: Path) -> None:
    settings = Settings(base_url=BASE_URL, certs_dir=certs_dir, data_dir=tmp_path / "data")
    app = create_app(settings, clock=SettableClock())
    try:
        with TestClient(app, base_url=BASE_URL) as client:
            assert client.get("/api").status_code == 404
            assert client.get("/api/users").status_code == 404
        assert not (tmp_path / "data" / TOKEN_FILENAME).exists()
        assert not hasattr(app.state, "admin_token")
    finally:
        app.state.runtime.close()


#: For each endpoint: the URL to call and a body that would change something if accepted.
SAMPLES: dict[tuple[str, str], tuple[str, dict[str, Any] | None]] = {
    ("POST", "/api/users"): ("/api/users", {"name": "mallory", "password": "pw",
                                            "roles": ["Admin"]}),
    ("GET", "/api/users/{name}"): ("/api/users/bob", None),
    ("DELETE", "/api/users/{name}"): ("/api/users/bob", None),
    ("POST", "/api/users/{name}/roles"): ("/api/users/bob/roles", {"role": "Admin"}),
    ("DELETE", "/api/users/{name}/roles"): ("/api/users/alice/roles", {"role": ADMIN}),
    ("POST", "/api/roles"): ("/api/roles", {"name": "Backdoor"}),
    ("POST", "/api/service-providers"): ("/api/service-providers",
                                         {"entity_id": "https://evil.test",
                                          "acs_urls": ["https://evil.test/acs"]}),
    ("POST", "/api/clock"): ("/api/clock", {"advance": 86400}),
    ("POST", "/api/faults"): ("/api/faults", {"fault": "unsigned", "count": 5}),
    ("POST", "/api/mint"): ("/api/mint", {"user": "bob"}),
}


def sample(endpoint: admin_routes.Endpoint) -> tuple[str, dict[str, Any] | None]:
    return SAMPLES.get((endpoint.method, endpoint.path), (endpoint.path, None))


BAD_AUTHORIZATION = {
    "missing": None,
    "wrong token": "Bearer not-the-token",
    "other scheme": "Basic YWRtaW46YWRtaW4=",
    "bare scheme": "Bearer",
    "token without scheme": "TOKEN",
}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
@pytest.mark.parametrize("authorization", BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION)
def test_every_route_needs_the_token_and_changes_nothing_without_it(
        endpoint: admin_routes.Endpoint, authorization: str | None, anonymous: TestClient,
        api: TestClient, admin_app: Any) -> None:
    if authorization == "TOKEN":
        authorization = admin_app.state.admin_token
    before = state(api)
    url, body = sample(endpoint)
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = anonymous.request(endpoint.method, url, json=body, headers=headers)
    refused(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert state(api) == before


def test_the_right_token_with_the_scheme_in_another_case_is_accepted(
        anonymous: TestClient, admin_app: Any) -> None:
    token = admin_app.state.admin_token
    assert anonymous.get("/api", headers={"Authorization": f"bearer {token}"}).status_code == 200
    refused(anonymous.get("/api", headers={"Authorization": f"Bearer {token}x"}), 401)
    refused(anonymous.get("/api", headers={"Authorization": f"Bearer {token[:-1]}"}), 401)


def test_unknown_paths_need_the_token_before_they_are_404(anonymous: TestClient,
                                                          api: TestClient) -> None:
    refused(anonymous.get("/api/nothing-here"), 401)
    assert "GET /api" in refused(api.get("/api/nothing-here"), 404)
    refused(api.post("/api/users/bob/roles/extra", json={}), 404)


def test_the_token_is_checked_before_the_body_is_read(anonymous: TestClient) -> None:
    """An unauthenticated 2 MiB body is refused 401, not 413: nothing was read."""
    response = anonymous.post("/api/users", content=b"x" * (2 * 1024 * 1024),
                              headers={"Content-Type": "application/json"})
    refused(response, 401)


# --- protocol: methods, bodies, shapes ----------------------------------------------------------


def test_index_lists_every_endpoint(api: TestClient) -> None:
    listed = ok(api.get("/api"))["endpoints"]
    assert [(e["method"], e["path"]) for e in listed] == [(e.method, e.path) for e in ENDPOINTS]
    assert ok(api.get("/api/")) == ok(api.get("/api"))


def test_wrong_method_is_405_json_with_allow(api: TestClient) -> None:
    response = api.put("/api/users", json={})
    refused(response, 405)
    assert response.headers["allow"] == "GET, HEAD, POST"
    response = api.delete("/api/keys")
    refused(response, 405)
    assert response.headers["allow"] == "GET, HEAD, POST"
    refused(api.request("BREW", "/api/clock"), 405)
    assert api.request("OPTIONS", "/api/reset").headers["allow"] == "POST"


def test_head_and_trailing_slash(api: TestClient) -> None:
    assert api.head("/api/users").status_code == 200
    assert ok(api.get("/api/users/")) == ok(api.get("/api/users"))


@pytest.mark.parametrize(("body", "content_type", "status", "field"), [
    (b"[1, 2]", "application/json", 400, None),
    (b'"name"', "application/json", 400, None),
    (b"{not json", "application/json", 400, None),
    (b'{"name": "a", "name": "b", "password": "p"}', "application/json", 400, "name"),
    (b'{"name": "x", "password": "p", "attributes": {"n": NaN}}', "application/json", 400,
     None),
    (b'{"name": "x", "password": "p", "attributes": {"n": 1e999}}', "application/json", 400,
     None),
    (b'{"name": "x\\ud800", "password": "p"}', "application/json", 400, None),
    (b"\xff\xfe{}", "application/json", 400, None),
    (b"[" * 100_000, "application/json", 400, None),
    (b'{"name": "x", "password": "p"}', "text/plain", 415, None),
    (b'{"name": "x", "password": "p"}', "", 415, None),
    (b'{"name": "x", "password": "p"}', "application/json; charset=latin-1", 415, None),
    (SP_METADATA.encode(), "application/samlmetadata+xml", 415, None),
])
def test_bodies_are_json_objects_parsed_strictly(api: TestClient, body: bytes,
                                                 content_type: str, status: int,
                                                 field: str | None) -> None:
    before = state(api)
    headers = {"Content-Type": content_type} if content_type else {}
    refused(api.post("/api/users", content=body, headers=headers), status, field)
    assert state(api) == before


def test_bodies_are_bounded(api: TestClient) -> None:
    big = json.dumps({"name": "x", "password": "p", "display_name": "a" * (1024 * 1024)})
    refused(api.post("/api/users", content=big, headers={"Content-Type": "application/json"}),
            413)


async def asgi_post(app: Any, path: str, headers: dict[str, str],
                    receive: Callable[[], Awaitable[dict[str, Any]]]
                    ) -> tuple[int, dict[str, str], bytes]:
    """One POST straight through the ASGI app, with the server's side played by ``receive``."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "server": ("idp.test", 80),
             "client": ("127.0.0.1", 5555),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return (sent[0]["status"], {k.decode(): v.decode() for k, v in sent[0]["headers"]}, body)


def test_a_body_that_stalls_is_408_json_and_changes_nothing(
        make_admin_app: Callable[..., Any]) -> None:
    app = make_admin_app(body_timeout=1)
    given = False

    async def stall() -> dict[str, Any]:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": b'{"name": "erin", ', "more_body": True}
        await anyio.sleep(3600)
        raise AssertionError("unreachable")

    headers = {"Authorization": f"Bearer {app.state.admin_token}",
               "Content-Type": "application/json"}
    # On an event loop of its own, in a thread of its own (the browser tests' Playwright
    # keeps a loop running in the main thread).
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        status, answer, body = pool.submit(anyio.run, asgi_post, app, "/api/users", headers,
                                           stall).result()
    assert status == 408 and answer["connection"] == "close"
    assert json.loads(body)["field"] is None
    assert app.state.runtime.directory.user("erin") is None


def test_a_bug_is_a_json_500_without_a_traceback(api: TestClient, admin_app: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(admin_app.state.runtime, "reset", broken)
    message = refused(api.post("/api/reset"), 500)
    assert "secret internals" not in message


def test_query_parameters_are_strict(api: TestClient) -> None:
    refused(api.get("/api/exchanges?who=bob"), 400, "who")
    refused(api.get("/api/exchanges?user=bob&user=alice"), 400, "user")
    refused(api.get("/api/exchanges?user="), 400, "user")
    refused(api.get("/api/users?name=bob"), 400, "name")


# --- users ----------------------------------------------------------------------------------------


def test_users_are_listed_without_secrets(api: TestClient) -> None:
    users = {u["name"]: u for u in ok(api.get("/api/users"))["users"]}
    assert set(users) == {"alice", "bob", "carol", "dave"}
    assert users["bob"]["effective_roles"] == [READ_ONLY]
    assert users["carol"]["mfa"] is True and users["bob"]["mfa"] is False
    text = api.get("/api/users").text
    assert "pbkdf2" not in text and "MNQXE33M" not in text and "password" not in text
    assert ok(api.get("/api/users/alice"))["user"]["email"] == "alice@corp.example"
    refused(api.get("/api/users/zed"), 404, "name")
    refused(api.get("/api/users/z%0Aed%00"), 404, "name")  # still one line


def test_add_a_user_who_then_signs_in_and_gets_credentials(api: TestClient) -> None:
    created = ok(api.post("/api/users", json={
        "name": "erin", "password": "erin-pw", "email": "erin@corp.example",
        "display_name": "Erin", "roles": ["Developer", READ_ONLY],
        "attributes": {"department": "qa", "teams": ["a", "b"]}}), 201)["user"]
    assert created["name"] == "erin"
    assert created["roles"] == [DEVELOPER, READ_ONLY]
    assert created["attributes"] == {"department": ["qa"], "teams": ["a", "b"]}
    assert ok(api.get("/api/users/erin"))["user"] == created

    # The real browser flow: log in at /idp/init, post the Response to the STS.
    posted = auto_post(login(api, "/idp/init", "erin", "erin-pw").text)
    answer = assume(api, posted.saml_response, READ_ONLY, PROD_PROVIDER)
    assert answer.status_code == 200, answer.text
    assert b"assumed-role/ReadOnly/erin@corp.example" in answer.content


def test_a_user_with_mfa_and_tags_defaults(api: TestClient) -> None:
    user = ok(api.post("/api/users", json={
        "name": "fay", "password": "pw", "totp_secret": "MNQXE33MFVSGK3LPFV2G65DQFVVWK6JB",
        "principal_tags": {"Project": "blue"}, "groups": None}), 201)["user"]
    assert user["mfa"] is True and user["principal_tags"] == {"Project": "blue"}
    assert user["email"] == "fay@example.test" and user["display_name"] == "fay"
    assert "MNQXE33M" not in api.get("/api/users/fay").text


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "erin", "password": "pw", "roles": ["NoSuchRole"]}, "roles"),
    ({"name": "erin", "password": "pw", "roles": ["arn:aws:iam::111122223333:role/Nope"]},
     "roles"),
    ({"name": "erin", "password": "pw", "email": "not-an-email"}, None),
    ({"name": "erin", "password": "pw", "groups": ["no-such-group"]}, None),
    ({"name": "erin", "password": "pw", "totp_secret": "short"}, None),
    ({"name": "bob", "password": "pw"}, "name"),
    ({"name": "erin"}, "password"),
    ({"password": "pw"}, "name"),
    ({"name": "  ", "password": "pw"}, "name"),
    ({"name": "erin", "password": "pw", "admin": True}, "admin"),
    ({"name": "erin", "password": 123}, "password"),
    ({"name": "erin", "password": "pw", "roles": "Admin"}, "roles"),
    ({"name": "erin", "password": "pw", "attributes": {"a": 1}}, "attributes"),
    ({"name": "erin", "password": "pw", "principal_tags": {"a": ["x"]}}, "principal_tags"),
])
def test_a_refused_user_add_changes_nothing(api: TestClient, body: dict[str, Any],
                                           field: str | None) -> None:
    before = state(api)
    refused(api.post("/api/users", json=body), 400, field)
    assert state(api) == before


def test_remove_a_user(api: TestClient) -> None:
    assert ok(api.delete("/api/users/bob")) == {"deleted": "bob"}
    refused(api.get("/api/users/bob"), 404, "name")
    refused(api.delete("/api/users/bob"), 404, "name")
    refused(api.delete("/api/users/bob", params={"force": "1"}), 400, "force")


# --- grants -----------------------------------------------------------------------------------


def test_grant_and_revoke_a_role(api: TestClient) -> None:
    user = ok(api.post("/api/users/bob/roles", json={"role": "Developer"}))["user"]
    assert user["roles"] == [DEVELOPER]  # bob's ReadOnly comes from a group
    assert user["effective_roles"] == [READ_ONLY, DEVELOPER]
    saml = ok(api.post("/api/mint", json={"user": "bob", "role": "Developer"}))["saml_response"]
    assert [v.split(",")[0] for v in role_values(saml)] == [DEVELOPER]

    user = ok(api.request("DELETE", f"/api/users/bob/roles?role={quote(DEVELOPER)}"))["user"]
    assert DEVELOPER not in user["effective_roles"]
    ok(api.post("/api/users/bob/roles", json={"role": ADMIN}))
    user = ok(api.request("DELETE", "/api/users/bob/roles", json={"role": "Admin"}))["user"]
    assert ADMIN not in user["effective_roles"]


def test_grant_refusals_name_the_input(api: TestClient) -> None:
    before = state(api)
    refused(api.post("/api/users/zed/roles", json={"role": "Admin"}), 404, "name")
    refused(api.post("/api/users/bob/roles", json={"role": "Nope"}), 400, "role")
    refused(api.post("/api/users/bob/roles", json={}), 400, "role")
    refused(api.post("/api/users/bob/roles", json={"role": ["Admin"]}), 400, "role")
    refused(api.request("DELETE", "/api/users/bob/roles", json={"role": DEVELOPER}), 404,
            "role")
    refused(api.request("DELETE", f"/api/users/bob/roles?role={quote(READ_ONLY)}",
                        json={"role": READ_ONLY}), 400, "role")
    refused(api.request("DELETE", "/api/users/bob/roles"), 400, "role")
    assert state(api) == before


def test_an_ambiguous_role_name_is_refused(api: TestClient) -> None:
    ok(api.post("/api/roles", json={"name": "Admin", "account": DEV}), 201)
    message = refused(api.post("/api/users/bob/roles", json={"role": "Admin"}), 400, "role")
    assert "ambiguous" in message


# --- roles ----------------------------------------------------------------------------------------


def test_list_and_add_roles(api: TestClient) -> None:
    roles = {r["arn"]: r for r in ok(api.get("/api/roles"))["roles"]}
    assert set(roles) == {ADMIN, READ_ONLY, DEVELOPER, f"arn:aws:iam::{PROD}:role/BreakGlass",
                          f"arn:aws:iam::{PROD}:role/VendorAudit",
                          f"arn:aws:iam::{DEV}:role/Deployer",
                          f"arn:aws:iam::{PROD}:role/WebServer",
                          f"arn:aws:iam::{DEV}:role/Billing",
                          f"arn:aws:iam::{DEV}:role/CiDeploy"}
    assert roles[ADMIN]["max_session_duration"] == 43200
    assert roles[ADMIN]["provider_arn"] == PROD_PROVIDER
    assert roles[ADMIN]["trust_policy"]["Statement"][0]["Action"] == "sts:AssumeRoleWithSAML"

    role = ok(api.post("/api/roles", json={"name": "Auditor", "max_session_duration": 7200,
                                           "path": "/audit/"}), 201)["role"]
    assert role["arn"] == f"arn:aws:iam::{PROD}:role/audit/Auditor"
    assert role["account"] == PROD and role["max_session_duration"] == 7200
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::999988887777:saml-provider/"
                                                       "CorpIdP"},
        "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"]}]}
    role = ok(api.post("/api/roles", json={"name": "Ops", "account": "999988887777",
                                           "trust_policy": policy}), 201)["role"]
    assert role["arn"] == "arn:aws:iam::999988887777:role/Ops"
    assert role["trust_policy"] == policy
    ok(api.post("/api/users/bob/roles", json={"role": role["arn"]}))


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "Admin"}, "name"),
    ({}, "name"),
    ({"name": "X", "account": "123"}, "account"),
    ({"name": "X", "account": 111122223333}, "account"),
    ({"name": "X", "max_session_duration": 60}, None),
    ({"name": "X", "max_session_duration": "3600"}, "max_session_duration"),
    ({"name": "X", "path": "no-slashes"}, None),
    ({"name": "bad name!"}, None),
    ({"name": "X", "trust_policy": "allow everyone"}, "trust_policy"),
    ({"name": "X", "trust_policy": {"Statement": [{"Effect": "Maybe"}]}}, None),
    ({"name": "X", "users": "bob"}, "users"),
    ({"name": "X", "users": ["nobody"]}, "users"),
])
def test_a_refused_role_add_changes_nothing(api: TestClient, body: dict[str, Any],
                                           field: str | None) -> None:
    before = state(api)
    status = 404 if body.get("users") == ["nobody"] else 400
    refused(api.post("/api/roles", json=body), status, field)
    assert state(api) == before


def test_a_role_can_be_granted_as_it_is_added(api: TestClient) -> None:
    role = ok(api.post("/api/roles", json={"name": "Auditor", "users": ["bob"]}), 201)["role"]
    assert role["arn"] == "arn:aws:iam::111122223333:role/Auditor"
    assert role["arn"] in ok(api.get("/api/users/bob"))["user"]["roles"]


# --- service providers ------------------------------------------------------------------------


def test_service_providers_from_fields_json_metadata_and_raw_metadata(api: TestClient) -> None:
    listed = ok(api.get("/api/service-providers"))["service_providers"]
    assert [sp["entity_id"] for sp in listed] == [AWS_ENTITY_ID]

    answer = ok(api.post("/api/service-providers", json={
        "entity_id": "https://crm.example.test", "acs_urls": ["https://crm.example.test/acs"],
        "name_id_format": "email", "sign_response": True, "release": ["email"]}), 201)
    assert answer["replaced"] is False
    sp = answer["service_provider"]
    assert sp["sign_response"] is True and sp["signature_algorithm"] == "rsa-sha256"
    assert sp["name_id_format"].endswith("emailAddress")
    again = ok(api.post("/api/service-providers", json={
        "entity_id": "https://crm.example.test", "acs_urls": ["https://crm.example.test/2"]}))
    assert again["replaced"] is True
    assert again["service_provider"]["acs_urls"] == ["https://crm.example.test/2"]

    sp = ok(api.post("/api/service-providers", json={"metadata_xml": SP_METADATA,
                                                     "release": ["email"]}), 201)
    assert sp["service_provider"]["entity_id"] == APP_SP
    assert sp["service_provider"]["acs_urls"] == ["https://app.example.test/acs"]
    assert sp["service_provider"]["release"] == ["email"]

    raw = SP_METADATA.replace(APP_SP, "https://raw.example.test")
    for content_type in ("application/samlmetadata+xml", "application/xml; charset=utf-8"):
        answer = api.post("/api/service-providers", content=raw.encode(),
                          headers={"Content-Type": content_type})
        assert answer.status_code in (200, 201), answer.text
    entities = [s["entity_id"] for s in ok(api.get("/api/service-providers"))
                ["service_providers"]]
    assert sorted(entities) == sorted([AWS_ENTITY_ID, "https://crm.example.test", APP_SP,
                                       "https://raw.example.test"])

    saml = ok(api.post("/api/mint", json={"user": "bob", "sp": APP_SP}))
    assert saml["acs_url"] == "https://app.example.test/acs"
    assert decoded(saml["saml_response"]).get("Destination") == "https://app.example.test/acs"


def test_the_aws_sp_can_put_the_provider_first(api: TestClient) -> None:
    """``role_value_order`` round-trips through the API and changes what the IdP sends."""
    answer = ok(api.post("/api/service-providers", json={
        "entity_id": AWS_ENTITY_ID, "acs_urls": ["http://idp.test/aws/saml"],
        "role_value_order": "provider,role"}))
    assert answer["service_provider"]["role_value_order"] == "provider,role"
    saml = ok(api.post("/api/mint", json={"user": "bob"}))
    values = [v.text for v in decoded(saml["saml_response"]).iter("{*}AttributeValue")]
    assert ("arn:aws:iam::111122223333:saml-provider/CorpIdP,"
            "arn:aws:iam::111122223333:role/ReadOnly") in values
    refused = api.post("/api/service-providers", json={
        "entity_id": AWS_ENTITY_ID, "acs_urls": ["http://idp.test/aws/saml"],
        "role_value_order": "role"})
    assert refused.status_code == 400 and "role_value_order" in refused.text


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"metadata_xml": "<x/>"}, 400, "metadata_xml"),
    ({"metadata_xml": "<!DOCTYPE x [<!ENTITY e 'e'>]><x>&e;</x>"}, 400, "metadata_xml"),
    ({"metadata_xml": SP_METADATA, "entity_id": "https://x.test"}, 400, "metadata_xml"),
    ({}, 400, "entity_id"),
    ({"entity_id": "https://x.test"}, 400, "acs_urls"),
    ({"entity_id": "https://x.test", "acs_urls": "https://x.test/acs"}, 400, "acs_urls"),
    ({"entity_id": "https://x.test", "acs_urls": ["ftp://x.test/acs"]}, 400, None),
    ({"entity_id": "https://x.test", "acs_urls": ["https://x.test/acs"],
      "certificates": ["certs/signing.key"]}, 400, "certificates"),
    ({"entity_id": "https://x.test", "acs_urls": ["https://x.test/acs"],
      "sign_response": "yes"}, 400, "sign_response"),
    ({"entity_id": "https://x.test", "acs_urls": ["https://x.test/acs"],
      "signature_algorithm": "md5"}, 400, None),
    ({"entity_id": "https://x.test", "acs_urls": ["https://x.test/acs"], "colour": "red"},
     400, "colour"),
])
def test_a_refused_service_provider_changes_nothing(api: TestClient, body: dict[str, Any],
                                                   status: int, field: str | None) -> None:
    before = state(api)
    refused(api.post("/api/service-providers", json=body), status, field)
    assert state(api) == before


def test_raw_metadata_that_is_not_sp_metadata_is_refused(api: TestClient) -> None:
    refused(api.post("/api/service-providers", content=b"<x/>",
                     headers={"Content-Type": "application/samlmetadata+xml"}),
            400, "metadata_xml")


# --- keys -----------------------------------------------------------------------------------------


def metadata_certificates(client: TestClient) -> list[str]:
    root = etree.fromstring(client.get("/idp/metadata").content)
    return ["".join(str(c.text).split()) for c in root.iter(DS_CERT)]


def fingerprint_of(cert_b64: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_der_x509_certificate(base64.b64decode(cert_b64))
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def test_key_rollover(api: TestClient) -> None:
    keys = ok(api.get("/api/keys"))["keys"]
    assert [(k["slot"], k["signing"], k["published"]) for k in keys] == [
        ("signing", True, True)]
    old = keys[0]["sha256_fingerprint"]
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", old)
    assert dt.datetime.fromisoformat(keys[0]["not_after"]) > dt.datetime.now(dt.UTC)
    assert [fingerprint_of(c) for c in metadata_certificates(api)] == [old]

    refused(api.post("/api/keys/promote"), 409)
    refused(api.post("/api/keys/retire"), 409)

    staged = ok(api.post("/api/keys"), 201)
    new = staged["key"]["sha256_fingerprint"]
    assert staged["key"]["slot"] == "next" and not staged["key"]["signing"]
    assert [(k["slot"], k["sha256_fingerprint"]) for k in staged["keys"]] == [
        ("signing", old), ("next", new)]
    assert [fingerprint_of(c) for c in metadata_certificates(api)] == [old, new]
    assert "already staged" in refused(api.post("/api/keys"), 409)

    promoted = ok(api.post("/api/keys/promote", json={}))
    assert promoted["key"]["sha256_fingerprint"] == new
    assert [(k["slot"], k["sha256_fingerprint"]) for k in promoted["keys"]] == [
        ("signing", new), ("previous", old)]
    assert [fingerprint_of(c) for c in metadata_certificates(api)] == [new, old]
    saml = ok(api.post("/api/mint", json={"user": "bob"}))["saml_response"]
    signed_with = "".join(str(decoded(saml).findtext(f".//{DS_CERT}")).split())
    assert fingerprint_of(signed_with) == new

    retired = ok(api.post("/api/keys/retire"))
    assert retired["key"] == {**retired["key"], "slot": "retired", "published": False,
                              "sha256_fingerprint": old}
    assert [k["sha256_fingerprint"] for k in retired["keys"]] == [new]
    assert [fingerprint_of(c) for c in metadata_certificates(api)] == [new]
    refused(api.post("/api/keys/retire"), 409)
    refused(api.post("/api/keys", json={"size": 4096}), 400, "size")


def test_an_old_key_response_is_accepted_until_the_key_is_retired(api: TestClient) -> None:
    first, second = (ok(api.post("/api/mint", json={"user": "bob"}))["saml_response"]
                     for _ in range(2))
    ok(api.post("/api/keys"), 201)
    ok(api.post("/api/keys/promote"))
    assert assume(api, first, READ_ONLY, PROD_PROVIDER).status_code == 200
    ok(api.post("/api/keys/retire"))
    answer = assume(api, second, READ_ONLY, PROD_PROVIDER)
    assert answer.status_code == 400 and sts_code(answer) == "InvalidIdentityToken"
    last = ok(api.get("/api/exchanges", params={"kind": "sts"}))["exchanges"][-1]
    assert last["rule"] == "signature-invalid"


# --- clock ----------------------------------------------------------------------------------------


def test_clock_freeze_advance_resume(api: TestClient) -> None:
    clock = ok(api.get("/api/clock"))
    assert clock["frozen"] is False and abs(clock["offset_seconds"]) < 5
    frozen = ok(api.post("/api/clock", json={"freeze": "2030-01-01T00:00:00Z"}))
    assert frozen["now"] == "2030-01-01T00:00:00.000Z" and frozen["frozen"] is True
    moved = ok(api.post("/api/clock", json={"advance": 90.5}))
    assert moved["now"] == "2030-01-01T00:01:30.500Z"
    assert ok(api.post("/api/clock", json={"advance": -30}))["now"] == "2030-01-01T00:01:00.500Z"
    assert ok(api.post("/api/clock", json={"freeze": "2030-06-01T02:00:00+02:00"}))["now"] == (
        "2030-06-01T00:00:00.000Z")
    resumed = ok(api.post("/api/clock", json={"resume": True}))
    assert resumed["frozen"] is False and resumed["offset_seconds"] > 3600
    assert ok(api.post("/api/clock", json={"freeze": True}))["frozen"] is True


@pytest.mark.parametrize(("body", "field"), [
    ({"freeze": "2030-01-01T00:00:00"}, "freeze"),
    ({"freeze": "next tuesday"}, "freeze"),
    ({"freeze": False}, "freeze"),
    ({"freeze": "3030-01-01T00:00:00Z"}, "freeze"),
    ({"advance": "3600"}, "advance"),
    ({"advance": True}, "advance"),
    ({"advance": 10 ** 12}, "advance"),
    ({"resume": False}, "resume"),
    ({"advance": 1, "resume": True}, "resume"),
    ({}, None),
    ({"rewind": 5}, "rewind"),
])
def test_clock_refusals(api: TestClient, body: dict[str, Any], field: str | None) -> None:
    before = state(api)
    refused(api.post("/api/clock", json=body), 400, field)
    assert state(api) == before


def test_an_advanced_clock_expires_a_minted_response(api: TestClient) -> None:
    saml = ok(api.post("/api/mint", json={"user": "bob"}))["saml_response"]
    ok(api.post("/api/clock", json={"advance": 3600}))
    answer = assume(api, saml, READ_ONLY, PROD_PROVIDER)
    assert answer.status_code == 400 and sts_code(answer) == "ExpiredTokenException"


# --- faults, exchanges, mint ------------------------------------------------------------------


def test_faults_plan_and_clear(api: TestClient) -> None:
    listed = ok(api.get("/api/faults"))
    assert listed["faults"] == []
    names = {f["name"]: f for f in listed["available"]}
    assert names["expired"]["rule"] == "expired" and names["expired"]["description"]

    added = ok(api.post("/api/faults", json={"fault": "Not_Yet_Valid"}), 201)
    assert added["fault"] == {"fault": "not-yet-valid", "sp": None, "remaining": 1}
    ok(api.post("/api/faults", json={"fault": "unsigned", "sp": AWS_ENTITY_ID, "count": None}),
       201)
    ok(api.post("/api/faults", json={"fault": "xsw", "sp": AWS_ENTITY_ID, "count": 3}), 201)
    faults = ok(api.get("/api/faults"))["faults"]
    assert [(f["fault"], f["remaining"]) for f in faults] == [
        ("not-yet-valid", 1), ("unsigned", None), ("xsw", 3)]

    ok(api.post("/api/mint", json={"user": "bob"}))
    sent = ok(api.get("/api/exchanges", params={"kind": "response"}))["exchanges"]
    assert sent[-1]["fault"] == "not-yet-valid"
    assert [f["fault"] for f in ok(api.get("/api/faults"))["faults"]] == ["unsigned", "xsw"]

    assert ok(api.request("DELETE", "/api/faults?sp=https://other.test"))["faults"] != []
    assert ok(api.request("DELETE", f"/api/faults?sp={AWS_ENTITY_ID}"))["faults"] == []
    ok(api.post("/api/faults", json={"fault": "expired", "count": 2}), 201)
    assert ok(api.request("DELETE", "/api/faults"))["faults"] == []


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"fault": "melted"}, 400, "fault"),
    ({}, 400, "fault"),
    ({"fault": "expired", "count": 0}, 400, "count"),
    ({"fault": "expired", "count": "2"}, 400, "count"),
    ({"fault": "expired", "count": None}, 400, "count"),
    ({"fault": "expired", "sp": "https://nobody.test"}, 404, "sp"),
    ({"fault": "expired", "when": "now"}, 400, "when"),
])
def test_fault_refusals(api: TestClient, body: dict[str, Any], status: int,
                        field: str | None) -> None:
    before = state(api)
    refused(api.post("/api/faults", json=body), status, field)
    assert state(api) == before


def test_exchanges_by_user_and_kind(api: TestClient) -> None:
    ok(api.post("/api/mint", json={"user": "bob"}))
    ok(api.post("/api/mint", json={"user": "alice", "role": "Developer"}))
    bob = ok(api.get("/api/exchanges", params={"user": "bob", "kind": "response"}))["exchanges"]
    assert [(e["user"], e["kind"], e["outcome"]) for e in bob] == [("bob", "response", "sent")]
    assert "<saml:Assertion" in bob[0]["message"] or "Assertion" in bob[0]["message"]
    assert len(ok(api.get("/api/exchanges"))["exchanges"]) == 2
    assert ok(api.get("/api/exchanges", params={"kind": "sts"}))["exchanges"] == []
    assert "authn-request" in refused(api.get("/api/exchanges?kind=bogus"), 400, "kind")
    newest = ok(api.get("/api/exchanges", params={"limit": "1"}))["exchanges"]
    assert [e["user"] for e in newest] == ["alice"]
    for limit in ("0", "1001", "x", "²", "-1"):
        refused(api.get("/api/exchanges", params={"limit": limit}), 400, "limit")


def test_mint(api: TestClient) -> None:
    answer = ok(api.post("/api/mint", json={"user": "alice", "role": DEVELOPER}))
    assert answer["user"] == "alice" and answer["sp"] == AWS_ENTITY_ID
    assert answer["acs_url"] == f"{BASE_URL}/aws/saml"
    assert role_values(answer["saml_response"]) == [
        f"{DEVELOPER},arn:aws:iam::{DEV}:saml-provider/CorpIdP"]
    broken = ok(api.post("/api/mint", json={"user": "bob", "fault": "unsigned"}))
    assert b"SignatureValue" not in base64.b64decode(broken["saml_response"])


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"user": "zed"}, 404, "user"),
    ({}, 400, "user"),
    ({"user": "bob", "sp": "https://nobody.test"}, 404, "sp"),
    ({"user": "bob", "role": "Admin"}, 409, "role"),
    ({"user": "dave"}, 409, "user"),
    ({"user": "bob", "fault": "melted"}, 400, "fault"),
    ({"user": "bob", "role": 7}, 400, "role"),
])
def test_mint_refusals(api: TestClient, body: dict[str, Any], status: int,
                       field: str | None) -> None:
    refused(api.post("/api/mint", json=body), status, field)


def test_token_is_a_workload_jwt_of_the_oidc_issuer(api: TestClient) -> None:
    import jwt

    answer = ok(api.post("/api/token", json={
        "sub": "system:serviceaccount:prod:deployer", "aud": "sts.amazonaws.com", "ttl": 600,
        "claims": {"amr": ["mfa"]}}))
    assert answer["issuer"] == f"{BASE_URL}/oidc" and answer["expires_in"] == 600
    keys = api.get("/oidc/jwks").json()
    kid = jwt.get_unverified_header(answer["token"])["kid"]
    (key,) = [k for k in keys["keys"] if k["kid"] == kid]
    claims = jwt.decode(answer["token"], jwt.PyJWK(key).key, algorithms=["RS256"],
                        audience="sts.amazonaws.com", issuer=f"{BASE_URL}/oidc",
                        options={"verify_exp": False, "verify_iat": False,
                                 "verify_nbf": False})
    assert claims["sub"] == "system:serviceaccount:prod:deployer" and claims["amr"] == ["mfa"]
    assert claims["exp"] - claims["iat"] == 600
    several = ok(api.post("/api/token", json={"sub": "ci", "aud": ["a", "b"]}))
    assert jwt.decode(several["token"], options={"verify_signature": False})["aud"] == ["a", "b"]


@pytest.mark.parametrize(("body", "field"), [
    ({"aud": "a"}, "sub"),
    ({"sub": "s"}, "aud"),
    ({"sub": "s", "aud": []}, "aud"),
    ({"sub": "s", "aud": [1]}, "aud"),
    ({"sub": "s", "aud": "a", "ttl": 0}, "ttl"),
    ({"sub": "s", "aud": "a", "ttl": 86_401}, "ttl"),
    ({"sub": "s", "aud": "a", "ttl": "60"}, "ttl"),
    ({"sub": "s", "aud": "a", "claims": ["x"]}, "claims"),
    ({"sub": "s", "aud": "a", "colour": "red"}, "colour"),
])
def test_token_refusals(api: TestClient, body: dict[str, Any], field: str | None) -> None:
    refused(api.post("/api/token", json=body), 400, field)


# --- reset ----------------------------------------------------------------------------------------


def test_reset_goes_back_to_the_start(api: TestClient) -> None:
    before = state(api)
    ok(api.post("/api/users", json={"name": "erin", "password": "pw"}), 201)
    ok(api.post("/api/roles", json={"name": "Auditor"}), 201)
    ok(api.post("/api/keys"), 201)
    ok(api.post("/api/clock", json={"advance": 7200}))
    ok(api.post("/api/faults", json={"fault": "expired", "count": 3}), 201)
    ok(api.post("/api/mint", json={"user": "bob"}))
    assert state(api) != before
    assert ok(api.post("/api/reset")) == {"reset": True}
    assert state(api) == before


def test_sign_in_keeps_working_alongside_the_api(api: TestClient,
                                                 admin_app: Any) -> None:
    """The browser routes are unchanged by ``--admin``: bob signs in and gets credentials."""
    posted = auto_post(login(api, "/idp/init", "bob", "bob-password").text)
    assert assume(api, posted.saml_response, READ_ONLY, PROD_PROVIDER).status_code == 200

