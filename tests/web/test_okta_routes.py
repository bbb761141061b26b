"""The Okta-compatible surface over HTTP (``--compat okta``): whole sign-ins the way each Okta
tool drives them, redeemed at the app's own STS, and every way they are refused."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyotp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from starlette.testclient import TestClient

from idp.clock import FixedClock
from idp.compat.okta import APP_PATH, AWS_SIGN_IN, MAX_BODY_BYTES
from idp.directory import Directory
from idp.settings import Settings
from idp.web.app import create_app
from tests.support.asgi import CHUNK, Feed, call, endless, run
from tests.support.demo import (
    ADMIN,
    BASE_URL,
    CAROL_SECRET,
    DEV_PROVIDER,
    DEVELOPER,
    PROD_PROVIDER,
    READ_ONLY,
)
from tests.support.http import auto_post
from tests.support.scrapers import assert_scrapable

APP_LINK = BASE_URL + APP_PATH
STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
JSON = {"Accept": "application/json"}


@pytest.fixture
def okta(client_factory) -> TestClient:
    return client_factory(compat="okta")


def code_at(clock, offset: int = 0) -> str:
    return str(pyotp.TOTP(CAROL_SECRET).at(clock.now() + dt.timedelta(seconds=offset)))


def wrong_code(clock) -> str:
    valid = {code_at(clock, offset) for offset in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222") if c not in valid)


def okta_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["errorCode"] == body["errorLink"] == code
    assert set(body) == {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}
    assert response.headers["x-okta-request-id"] == body["errorId"]
    return body


def authn(client: TestClient, username: str, password: str | None = None) -> Any:
    return client.post("/api/v1/authn", headers=JSON, json={
        "username": username, "password": password or f"{username}-password"})


def success(client: TestClient, username: str) -> str:
    response = authn(client, username)
    assert response.status_code == 200 and response.json()["status"] == "SUCCESS", response.text
    return str(response.json()["sessionToken"])


def carol_token(client: TestClient, clock, field: str = "passCode") -> str:
    first = authn(client, "carol").json()
    assert first["status"] == "MFA_REQUIRED"
    href = first["_embedded"]["factors"][0]["_links"]["verify"]["href"]
    done = client.post(href + "?rememberDevice=false", json={"stateToken": first["stateToken"],
                                                             field: code_at(clock)})
    assert done.status_code == 200 and done.json()["status"] == "SUCCESS", done.text
    return str(done.json()["sessionToken"])


def assume(client: TestClient, saml: str, role: str = READ_ONLY,
           provider: str = PROD_PROVIDER) -> str:
    """Redeem the SAMLResponse at the app's STS; the assumed role's ARN."""
    response = client.post("/aws/sts", data={
        "Action": "AssumeRoleWithSAML", "Version": "2011-06-15", "RoleArn": role,
        "PrincipalArn": provider, "SAMLAssertion": saml})
    assert response.status_code == 200, response.text
    tree = etree.fromstring(response.content)
    assert tree.findtext(f".//{STS_NS}AccessKeyId")
    assert tree.findtext(f".//{STS_NS}SecretAccessKey")
    return str(tree.findtext(f".//{STS_NS}AssumedRoleUser/{STS_NS}Arn"))


def cookie_attributes(header: str) -> set[str]:
    """A Set-Cookie header's attributes (after the value), lower-cased."""
    return {part.strip().lower() for part in header.split(";")[1:]}


def audit(html: str, *, answer: bool) -> list[dict[str, Any]]:
    """Assert the page is scrapeable; an answer page's first form posts SAMLResponse to AWS."""
    forms = assert_scrapable(html, answer=answer, acs=AWS_SIGN_IN if answer else None)
    if not answer:
        assert "SAMLResponse" not in html
    return forms


# --- discovery and the surface switch ----------------------------------------------------------


def test_organization_is_classic(okta):
    response = okta.get("/.well-known/okta-organization")
    assert response.status_code == 200
    assert response.json()["pipeline"] == "v1"
    assert response.json()["_links"]["organization"]["href"] == BASE_URL


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/.well-known/okta-organization"), ("POST", "/api/v1/authn"),
    ("POST", "/api/v1/authn/factors/uft1/verify"), ("POST", "/api/v1/sessions"),
    ("GET", "/api/v1/sessions/me"), ("DELETE", "/api/v1/sessions/me"),
    ("POST", "/api/v1/sessions/me/lifecycle/refresh"), ("GET", "/api/v1/users/me/appLinks"),
])
def test_disabled_surface_is_okta_404(client, method, path):
    """Without --compat okta the API does not exist (Okta's E0000007 says how to enable it)."""
    body = okta_error(client.request(method, path, json={}), 404, "E0000007")
    assert "--compat okta" in body["errorCauses"][0]["errorSummary"]


@pytest.mark.parametrize("path", [APP_PATH, "/login/sessionCookieRedirect?token=x"])
def test_disabled_surface_pages_are_404(client, path):
    response = client.get(path)
    assert response.status_code == 404 and "--compat okta" in response.text
    audit(response.text, answer=False)


def test_directory_compat_enables_the_surface(client_factory, directory):
    import dataclasses

    from idp.vendors import Vendor

    enabled = dataclasses.replace(directory, compat=frozenset({Vendor.OKTA}))
    client = client_factory(directory_override=enabled)
    assert client.get("/.well-known/okta-organization").status_code == 200


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/authn"), ("PUT", "/api/v1/sessions"), ("POST", "/api/v1/users/me/appLinks"),
    ("PATCH", "/api/v1/sessions/me"), ("DELETE", "/.well-known/okta-organization"),
])
def test_wrong_methods_are_okta_405(okta, method, path):
    response = okta.request(method, path)
    okta_error(response, 405, "E0000022")
    assert response.headers["allow"]


# --- whole sign-ins, as each tool drives them --------------------------------------------------


def test_bob_like_gimme_aws_creds(okta):
    """authn → sessionCookieRedirect without following (sid and DT cookies) → the app page →
    credentials from the STS."""
    token = success(okta, "bob")
    redirect = okta.get("/login/sessionCookieRedirect", params={
        "token": token, "redirectUrl": APP_LINK}, follow_redirects=False)
    assert redirect.status_code == 302 and redirect.headers["location"] == APP_LINK
    cookies = {c.split("=", 1)[0]: cookie_attributes(c)
               for c in redirect.headers.get_list("set-cookie")}
    assert set(cookies) == {"sid", "DT"}
    for attributes in cookies.values():
        assert {"httponly", "path=/", "samesite=lax"} <= attributes
        assert "secure" not in attributes  # the base URL is plain http
    assert redirect.cookies["sid"] and redirect.cookies["DT"]
    page = okta.get(APP_LINK)
    assert page.status_code == 200
    audit(page.text, answer=True)
    posted = auto_post(page.text)
    assert posted.action == AWS_SIGN_IN and posted.relay_state == ""
    assert assume(okta, posted.saml_response).endswith("assumed-role/ReadOnly/bob@corp.example")


def test_alice_like_okta_awscli(okta):
    """authn → POST /api/v1/sessions → appLinks (Cookie: sid=) → the linkUrl with the cookie."""
    token = success(okta, "alice")
    session = okta.post("/api/v1/sessions", json={"sessionToken": token})
    assert session.status_code == 200
    sid = session.json()["id"]
    assert session.json()["expiresAt"].endswith("Z")
    bare = TestClient(okta.app, base_url=BASE_URL)  # no cookie jar state: headers only
    links = bare.get("/api/v1/users/me/appLinks", headers={"Cookie": f"sid={sid}"})
    assert links.status_code == 200
    [link] = [app for app in links.json() if app["appName"] == "amazon_aws"]
    assert link["linkUrl"] == APP_LINK
    page = bare.get(link["linkUrl"], headers={"Cookie": f"sid={sid}"})
    audit(page.text, answer=True)
    saml = auto_post(page.text).saml_response
    assert assume(okta, saml, DEVELOPER, DEV_PROVIDER).endswith(
        "assumed-role/Developer/alice@corp.example")


def test_bob_like_awsprocesscreds(okta):
    """authn → GET app link + ?sessionToken= (one use)."""
    token = success(okta, "bob")
    bare = TestClient(okta.app, base_url=BASE_URL)
    page = bare.get(f"{APP_LINK}?sessionToken={token}")
    assert page.status_code == 200
    audit(page.text, answer=True)
    assert "sid=" in page.headers["set-cookie"]
    assert assume(okta, auto_post(page.text).saml_response).endswith("/bob@corp.example")
    again = TestClient(okta.app, base_url=BASE_URL).get(f"{APP_LINK}?sessionToken={token}")
    assert again.status_code == 403
    audit(again.text, answer=False)


@pytest.mark.parametrize("field", ["passCode", "answer"])
def test_carol_with_totp(okta, clock, field):
    """gimme/aws-okta-processor send passCode, okta-awscli answer."""
    token = carol_token(okta, clock, field)
    session = okta.post("/api/v1/sessions", json={"sessionToken": token}).json()
    assert session["mfaActive"] is True
    page = TestClient(okta.app, base_url=BASE_URL).get(
        APP_LINK, headers={"Cookie": f"sid={session['id']}"})
    audit(page.text, answer=True)
    assert assume(okta, auto_post(page.text).saml_response, ADMIN).endswith(
        "assumed-role/Admin/carol@corp.example")


def test_carol_like_saml2aws(okta, clock):
    """verify once without a code (MFA_CHALLENGE, 200), then with it; sessionCookieRedirect
    with checkAccountSetupComplete, following the redirect."""
    first = authn(okta, "carol").json()
    href = first["_embedded"]["factors"][0]["_links"]["verify"]["href"]
    challenge = okta.post(href, json={"stateToken": first["stateToken"]})
    assert challenge.status_code == 200 and challenge.json()["status"] == "MFA_CHALLENGE"
    done = okta.post(href, json={"stateToken": first["stateToken"], "passCode": code_at(clock)})
    token = done.json()["sessionToken"]
    page = okta.get("/login/sessionCookieRedirect", params={
        "checkAccountSetupComplete": "true", "token": token, "redirectUrl": APP_LINK})
    assert page.status_code == 200 and str(page.url) == APP_LINK
    audit(page.text, answer=True)
    assert assume(okta, auto_post(page.text).saml_response, ADMIN).endswith("/carol@corp.example")


def test_wrong_code_then_right_code(okta, clock):
    first = authn(okta, "carol").json()
    href = first["_embedded"]["factors"][0]["_links"]["verify"]["href"]
    wrong = okta.post(href, json={"stateToken": first["stateToken"], "answer": wrong_code(clock)})
    assert okta_error(wrong, 403, "E0000068")["errorSummary"] == "Invalid Passcode/Answer"
    right = okta.post(href, json={"stateToken": first["stateToken"], "answer": code_at(clock)})
    assert right.json()["status"] == "SUCCESS"


def test_a_reused_code_is_refused(okta, clock):
    carol_token(okta, clock)
    first = authn(okta, "carol").json()
    href = first["_embedded"]["factors"][0]["_links"]["verify"]["href"]
    reused = okta.post(href, json={"stateToken": first["stateToken"], "passCode": code_at(clock)})
    okta_error(reused, 403, "E0000082")


@pytest.mark.parametrize("spelling", ["CORP\\bob", "bob@corp.example"])
def test_username_spellings(okta, spelling):
    response = authn(okta, spelling, "bob-password")
    assert response.json()["_embedded"]["user"]["profile"]["login"] == "bob@corp.example"
    page = okta.get(f"{APP_LINK}?sessionToken={response.json()['sessionToken']}")
    assert assume(okta, auto_post(page.text).saml_response).endswith("/bob@corp.example")


def test_dave_without_roles_gets_a_page_not_a_crash(okta):
    token = success(okta, "dave")
    page = okta.get(f"{APP_LINK}?sessionToken={token}")
    assert page.status_code == 403 and "No AWS role" in page.text
    audit(page.text, answer=False)


# --- links come from the configured base URL ---------------------------------------------------


def test_links_ignore_the_host_header(okta):
    """verify hrefs and app links use the public base URL, whatever Host the client sent."""
    evil = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    first = okta.post("/api/v1/authn", headers=evil,
                      json={"username": "carol", "password": "carol-password"}).json()
    href = first["_embedded"]["factors"][0]["_links"]["verify"]["href"]
    assert href.startswith(f"{BASE_URL}/api/v1/authn/factors/")
    token = success(okta, "bob")
    sid = okta.post("/api/v1/sessions", json={"sessionToken": token}).json()["id"]
    links = okta.get("/api/v1/users/me/appLinks", headers={**evil, "Cookie": f"sid={sid}"})
    assert links.json()[0]["linkUrl"] == APP_LINK


def test_https_base_url_makes_cookies_secure(certs_dir: Path, tmp_path: Path,
                                             directory: Directory, clock: FixedClock):
    base = "https://idp.example:8443"
    app = create_app(Settings(base_url=base, certs_dir=certs_dir, data_dir=tmp_path / "d",
                              compat="okta"), directory=directory, clock=clock)
    with TestClient(app, base_url=base) as client:
        token = success(client, "bob")
        redirect = client.get("/login/sessionCookieRedirect", follow_redirects=False,
                              params={"token": token, "redirectUrl": base + APP_PATH})
        assert redirect.headers["location"] == base + APP_PATH
        for header in redirect.headers.get_list("set-cookie"):
            assert {"secure", "httponly", "path=/", "samesite=lax"} <= cookie_attributes(header)
        page = client.get(base + APP_PATH)
        audit(page.text, answer=True)
        first = client.post("/api/v1/authn", json={"username": "carol",
                                                   "password": "carol-password"}).json()
        href = first["_embedded"]["factors"][0]["_links"]["verify"]["href"]
        assert href.startswith(base + "/api/v1/authn/factors/")


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("redirect_url", [
    "https://evil.example/home/amazon_aws/0oaidpsimulatoraws01/272", "//evil.example/",
    "http://idp.test/idp/login", "javascript:alert(1)", "http://idp.test.evil.example" + APP_PATH,
])
def test_no_open_redirect_and_the_token_survives(okta, redirect_url):
    token = success(okta, "bob")
    refused = okta.get("/login/sessionCookieRedirect", follow_redirects=False,
                       params={"token": token, "redirectUrl": redirect_url})
    assert refused.status_code == 400 and "location" not in refused.headers
    assert "set-cookie" not in refused.headers
    audit(refused.text, answer=False)
    ok = okta.get("/login/sessionCookieRedirect", follow_redirects=False,
                  params={"token": token, "redirectUrl": APP_LINK})
    assert ok.status_code == 302


def test_session_tokens_work_once_everywhere(okta):
    token = success(okta, "bob")
    assert okta.post("/api/v1/sessions", json={"sessionToken": token}).status_code == 200
    okta_error(okta.post("/api/v1/sessions", json={"sessionToken": token}), 401, "E0000004")
    redirect = okta.get("/login/sessionCookieRedirect", follow_redirects=False,
                        params={"token": token, "redirectUrl": APP_LINK})
    assert redirect.status_code == 403 and "set-cookie" not in redirect.headers
    audit(redirect.text, answer=False)
    page = TestClient(okta.app, base_url=BASE_URL).get(f"{APP_LINK}?sessionToken={token}")
    assert page.status_code == 403


@pytest.mark.parametrize("token", ["", "forged", "a.b", "x" * 5000])
def test_forged_tokens_get_no_cookies(okta, token):
    response = okta.get("/login/sessionCookieRedirect", follow_redirects=False,
                        params={"token": token, "redirectUrl": APP_LINK})
    assert response.status_code == 403 and "set-cookie" not in response.headers


def test_the_app_without_a_session_is_403_without_saml(okta):
    for headers in ({}, {"Cookie": "sid=forged"}, {"Cookie": "sid=" + "x" * 5000}):
        page = okta.get(APP_LINK, headers=headers)
        assert page.status_code == 403
        audit(page.text, answer=False)
    page = okta.get(f"{APP_LINK}?sessionToken=forged")
    assert page.status_code == 403


def test_other_apps_do_not_exist(okta):
    token = success(okta, "bob")
    for path in ("/home/amazon_aws/0oa1/272", "/home/amazon_aws/0oaidpsimulatoraws01/1"):
        page = okta.get(f"{path}?sessionToken={token}")
        assert page.status_code == 404
        audit(page.text, answer=False)
    assert okta.get(f"{APP_LINK}?sessionToken={token}").status_code == 200  # not burned


def test_sign_out_ends_the_session_everywhere(okta):
    token = success(okta, "bob")
    okta.get("/login/sessionCookieRedirect", params={"token": token, "redirectUrl": APP_LINK},
             follow_redirects=False)
    sid = okta.cookies["sid"]
    me = okta.get("/api/v1/sessions/me")
    assert me.status_code == 200 and me.json()["id"] == sid
    refresh = okta.post("/api/v1/sessions/me/lifecycle/refresh", json={})
    assert refresh.status_code == 200 and refresh.json()["expiresAt"] == me.json()["expiresAt"]
    bye = okta.delete("/api/v1/sessions/me")
    assert bye.status_code == 204 and not bye.content
    assert "max-age=0" in cookie_attributes(bye.headers["set-cookie"])
    copy = TestClient(okta.app, base_url=BASE_URL)
    assert copy.get(APP_LINK, headers={"Cookie": f"sid={sid}"}).status_code == 403
    okta_error(copy.get("/api/v1/sessions/me", headers={"Cookie": f"sid={sid}"}), 404, "E0000007")
    okta_error(copy.get("/api/v1/users/me/appLinks", headers={"Cookie": f"sid={sid}"}),
               403, "E0000005")
    okta_error(copy.delete("/api/v1/sessions/me"), 404, "E0000007")


def test_wrong_password_and_unknown_user_look_the_same(okta):
    bodies = []
    for username, password in [("bob", "nope"), ("mallory", "bob-password")]:
        body = okta_error(authn(okta, username, password), 401, "E0000004")
        bodies.append({k: v for k, v in body.items() if k != "errorId"})
    assert bodies[0] == bodies[1]


def test_throttling_is_okta_429_with_retry_after(okta, clock):
    for spelling in ["bob", "CORP\\bob"] * 5:
        assert authn(okta, spelling, "wrong").status_code == 401
    throttled = authn(okta, "bob@corp.example", "bob-password")
    body = okta_error(throttled, 429, "E0000047")
    assert body["errorSummary"].startswith("API call exceeded rate limit")
    wait = int(throttled.headers["retry-after"])
    assert wait > 0 and throttled.headers["x-rate-limit-remaining"] == "0"
    clock.advance(wait)
    assert authn(okta, "bob").status_code == 200


def test_wrong_codes_are_throttled(okta, clock):
    first = authn(okta, "carol").json()
    href = first["_embedded"]["factors"][0]["_links"]["verify"]["href"]
    for _ in range(10):
        okta_error(okta.post(href, json={"stateToken": first["stateToken"],
                                         "passCode": wrong_code(clock)}), 403, "E0000068")
    throttled = okta.post(href, json={"stateToken": first["stateToken"],
                                      "passCode": code_at(clock)})
    okta_error(throttled, 429, "E0000047")
    assert int(throttled.headers["retry-after"]) > 0


@pytest.mark.parametrize(("content", "content_type"), [
    (b'{"username": "bob", "password": "bob-password"}', "text/plain"),
    (b'{"username": "bob", "password": "bob-password"}', "application/x-www-form-urlencoded"),
    (b"username=bob&password=bob-password", "application/x-www-form-urlencoded"),
    (b'{"username": "bob", "password": "bob-password"}', None),
    (b"{not json", "application/json"),
    (b"[]", "application/json"),
    (b'{"username": 1, "password": 2, "stateToken": 3, "passCode": 4, "sessionToken": 5}',
     "application/json"),
    (b'{"username": "bob", "password": "' + b"x" * MAX_BODY_BYTES + b'"}', "application/json"),
])
def test_bodies_that_are_not_a_json_object_are_e0000003(okta, content, content_type):
    """A cross-site HTML form can send only the form/text types: it never signs anyone in."""
    headers = {"Content-Type": content_type} if content_type else {}
    for path in ("/api/v1/authn", "/api/v1/authn/factors/uft1/verify", "/api/v1/sessions"):
        response = okta.post(path, content=content, headers=headers)
        body = okta_error(response, 400, "E0000003")
        assert body["errorSummary"] == "The request body was not well-formed."
        assert "set-cookie" not in response.headers


def test_a_lying_content_length_is_refused_unread(okta):
    response = okta.post("/api/v1/authn", content=b"{}", headers={
        "Content-Type": "application/json", "Content-Length": str(10 * MAX_BODY_BYTES)})
    okta_error(response, 400, "E0000003")


def test_a_chunked_oversize_body_is_refused_as_it_streams(okta):
    feed = Feed(endless())
    status, _, body = run(lambda: call(okta.app, feed, "/api/v1/authn",
                                             {"Content-Type": "application/json"}))
    assert status == 400 and json.loads(body)["errorCode"] == "E0000003"
    assert feed.pulled <= MAX_BODY_BYTES + CHUNK


def test_a_stalled_body_is_okta_408_and_closes(client_factory):
    app = client_factory(compat="okta", body_timeout=1).app
    status, headers, body = run(lambda: call(app, Feed([b'{"user'], then="stall"),
                                             "/api/v1/authn",
                                             {"Content-Type": "application/json"}))
    assert status == 408 and headers["connection"] == "close"
    assert json.loads(body)["errorCode"] == "E0000003"


def test_api_answers_are_not_cached(okta):
    response = authn(okta, "bob")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"


# --- fuzz: the JSON endpoints never answer 5xx ------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12)
field_names = st.sampled_from(["username", "password", "stateToken", "passCode", "answer",
                               "sessionToken", "options", "context"]) | st.text(max_size=12)
bodies = st.dictionaries(field_names, json_values, max_size=6)
paths = st.sampled_from(["/api/v1/authn", "/api/v1/authn/factors/uft1/verify",
                         "/api/v1/sessions", "/api/v1/sessions/me/lifecycle/refresh"])
content_types = st.sampled_from(["application/json", "application/json; charset=utf-8",
                                 "text/plain", "", "application/json; charset=latin-1"])


@pytest.fixture(scope="module")
def fuzz_okta(certs_dir: Path, tmp_path_factory: pytest.TempPathFactory,
              directory: Directory):
    clock = FixedClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    app = create_app(Settings(base_url=BASE_URL, certs_dir=certs_dir,
                              data_dir=tmp_path_factory.mktemp("okta-fuzz"), compat="okta"),
                     directory=directory, clock=clock)
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield client


def _no_crash(response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert response.json()["errorCode"].startswith("E0000")


FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(path=paths, body=bodies, content_type=content_types)
def test_fuzz_json_objects(fuzz_okta, path, body, content_type):
    response = fuzz_okta.post(path, content=json.dumps(body).encode(),
                              headers={"Content-Type": content_type})
    _no_crash(response)


@FUZZ
@given(path=paths, value=json_values)
def test_fuzz_any_json_value(fuzz_okta, path, value):
    _no_crash(fuzz_okta.post(path, content=json.dumps(value).encode(),
                             headers={"Content-Type": "application/json"}))


@FUZZ
@given(path=paths, raw=st.binary(max_size=300))
def test_fuzz_raw_bytes(fuzz_okta, path, raw):
    _no_crash(fuzz_okta.post(path, content=raw, headers={"Content-Type": "application/json"}))


@FUZZ
@given(token=st.text(max_size=200), redirect=st.text(max_size=200) | st.just(APP_LINK),
       sid=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126,
                                          exclude_characters=';"\\,'), max_size=100))
def test_fuzz_browser_endpoints(fuzz_okta, token, redirect, sid):
    fuzz_okta.cookies.clear()
    redirect_response = fuzz_okta.get("/login/sessionCookieRedirect", follow_redirects=False,
                                      params={"token": token, "redirectUrl": redirect})
    assert redirect_response.status_code in (400, 403)
    page = fuzz_okta.get(APP_PATH, params={"sessionToken": token},
                         headers={"Cookie": f"sid={sid}"})
    assert page.status_code == 403 and "SAMLResponse" not in page.text
    links = fuzz_okta.get("/api/v1/users/me/appLinks", headers={"Cookie": f"sid={sid}"})
    _no_crash(links)
    assert links.status_code == 403


def test_a_lone_surrogate_is_malformed_json_not_a_crash(okta):
    """JSON's "\\ud800" decodes to text no UTF-8 encoder takes: Okta's E0000003, never a 500."""
    for body in (b'{"username":"bob","password":"\\ud800"}',
                 b'{"username":"\\udfff","password":"x"}', b'{"\\ud800":1}'):
        answer = okta.post("/api/v1/authn", content=body,
                           headers={"content-type": "application/json"})
        okta_error(answer, 400, "E0000003")


def test_an_unparseable_redirect_url_is_refused_not_a_crash(okta):
    answer = okta.get("/login/sessionCookieRedirect", follow_redirects=False,
                      params={"token": "x", "redirectUrl": "http://[::1/home"})
    assert 400 <= answer.status_code < 500 and "location" not in answer.headers
