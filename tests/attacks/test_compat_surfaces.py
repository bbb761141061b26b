"""The vendor login surfaces attacked together: they take credentials without an anti-CSRF
token (real tools post without fetching a page first), so what protects them is the login
throttle, shared by every surface and spelling of a name, and their cookies and tokens, which
only this install can make and which end when the IdP's own login ends."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from idp.authn.login import Principal
from idp.clock import FixedClock
from idp.compat.signin import LOGIN
from idp.compat.tokens import Sealer
from tests.support.demo import BASE_URL
from tests.support.ecp import ECP, authn_request

ADFS = "/adfs/ls/IdpInitiatedSignOn.aspx?loginToRp=urn:amazon:webservices"
SHIBBOLETH = "/idp/profile/SAML2/Unsolicited/SSO?providerId=urn:amazon:webservices"
APP = "/home/amazon_aws/0oaidpsimulatoraws01/272"
ALL = "okta,adfs,shibboleth,ecp"


@pytest.fixture
def client(client_factory: Callable[..., TestClient]) -> TestClient:
    return client_factory(compat=ALL)


def okta(client: TestClient, user: str, password: str) -> int:
    return client.post("/api/v1/authn", json={"username": user, "password": password}).status_code


def adfs(client: TestClient, user: str, password: str) -> str:
    page = client.post(ADFS, data={"UserName": user, "Password": password,
                                   "AuthMethod": "FormsAuthentication"})
    return "SAMLResponse" if 'name="SAMLResponse"' in page.text else page.text


def shibboleth(client: TestClient, user: str, password: str) -> str:
    form = client.get(SHIBBOLETH, follow_redirects=True)
    action = re.search(r'action="([^"]+)"', form.text)
    assert action is not None, form.text[:500]
    page = client.post(action.group(1).replace("&amp;", "&"),
                       data={"j_username": user, "j_password": password})
    return "SAMLResponse" if 'name="SAMLResponse"' in page.text else page.text


def ecp(client: TestClient, clock: FixedClock, user: str, password: str) -> int:
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return client.post(ECP, content=authn_request(clock), headers={
        "authorization": f"Basic {basic}", "content-type": "text/xml"}).status_code


def test_one_throttle_budget_across_every_surface_and_spelling(client: TestClient) -> None:
    """Ten wrong passwords for bob, spread over four surfaces and three spellings of his name,
    and then even the right password is refused on every surface (and the IdP's own page)."""
    attempts = [lambda: okta(client, "bob", "wrong"),
                lambda: adfs(client, "CORP\\bob", "wrong"),
                lambda: shibboleth(client, "bob@corp.example", "wrong"),
                lambda: okta(client, "bob@corp.example", "wrong"),
                lambda: adfs(client, "bob", "wrong")]
    for attempt in attempts * 2:
        attempt()
    assert okta(client, "bob", "bob-password") == 429
    assert "Too many" in adfs(client, "bob", "bob-password")
    assert "Too many" in shibboleth(client, "bob", "bob-password")
    client.cookies.clear()
    page = client.get("/idp/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    own = client.post("/idp/login", data={"username": "bob", "password": "bob-password",
                                          "csrf_token": token.group(1)})
    assert own.status_code == 429
    assert okta(client, "alice", "alice-password") == 200  # another user is not locked out


def test_ecp_failures_count_too(client: TestClient, clock: FixedClock) -> None:
    for _ in range(10):
        assert ecp(client, clock, "CORP\\carol", "wrong") == 401
    assert okta(client, "carol", "carol-password") == 429
    assert ecp(client, clock, "carol", "carol-password") == 429


def test_forged_and_foreign_cookies_sign_nobody_in(client: TestClient,
                                                   clock: FixedClock) -> None:
    """A made-up cookie, or a genuine-looking login sealed by another install (another
    secret), signs nobody in on any surface."""
    principal = Principal(username="bob", instant=clock.now(), mfa=False,
                          session_index="_" + "0" * 32)
    foreign = Sealer("another install's secret", clock).seal(LOGIN, principal.to_json(), 3600)
    for name, value in [("sid", "x.y"), ("MSISAuth", "e30.AAAA"), ("sid", foreign),
                        ("MSISAuth", foreign), ("idp_ecp_session", foreign)]:
        client.cookies.clear()
        client.cookies.set(name, value)
        assert 'name="SAMLResponse"' not in client.get(APP).text
        assert 'name="SAMLResponse"' not in client.post(
            ADFS, data={"AuthMethod": "FormsAuthentication"}).text
        assert client.post(ECP, content=authn_request(clock),
                           headers={"content-type": "text/xml"}).status_code == 401


def test_links_never_follow_a_forged_host(client: TestClient) -> None:
    """Absolute links the surfaces hand out (Okta's app link and verify link, AD FS actions)
    come from the configured base URL, whatever Host the request claims."""
    evil = {"host": "evil.example"}
    authn = client.post("/api/v1/authn", json={"username": "carol",
                                               "password": "carol-password"}, headers=evil)
    href = authn.json()["_embedded"]["factors"][0]["_links"]["verify"]["href"]
    assert href.startswith(BASE_URL + "/")
    token = client.post("/api/v1/authn", json={"username": "bob", "password": "bob-password"},
                        headers=evil).json()["sessionToken"]
    session = client.post("/api/v1/sessions", json={"sessionToken": token}, headers=evil)
    client.cookies.set("sid", session.json()["id"])
    links = client.get("/api/v1/users/me/appLinks", headers=evil).json()
    assert [link["linkUrl"] for link in links] == [BASE_URL + APP]
    assert "evil.example" not in client.get(ADFS, headers=evil).text


def test_open_redirect_through_okta_is_refused(client: TestClient) -> None:
    token = client.post("/api/v1/authn", json={"username": "bob", "password": "bob-password"}
                        ).json()["sessionToken"]
    answer = client.get("/login/sessionCookieRedirect", follow_redirects=False,
                        params={"token": token, "redirectUrl": "https://evil.example/"})
    assert 400 <= answer.status_code < 500 and "location" not in answer.headers
    assert "sid" not in answer.cookies


def test_cookies_are_secure_http_only_on_https(client_factory: Callable[..., TestClient]
                                               ) -> None:
    client = client_factory(compat=ALL, base_url="https://idp.test")
    token = client.post("/api/v1/authn", json={"username": "bob", "password": "bob-password"}
                        ).json()["sessionToken"]
    redirect = client.get("/login/sessionCookieRedirect", follow_redirects=False,
                          params={"token": token, "redirectUrl": "https://idp.test" + APP})
    adfs_page = client.post(ADFS, data={"UserName": "bob", "Password": "bob-password",
                                        "AuthMethod": "FormsAuthentication"})
    headers = [*redirect.headers.get_list("set-cookie"),
               *adfs_page.headers.get_list("set-cookie")]
    named = {h.split("=", 1)[0]: h.lower() for h in headers}
    for name in ("sid", "MSISAuth"):
        assert "secure" in named[name] and "httponly" in named[name], named[name]
