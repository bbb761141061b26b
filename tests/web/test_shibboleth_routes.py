"""The Shibboleth-compatible surface, in-process: alohomora's and aws-saml-login's requests
(``idp.web.shibboleth_routes`` quotes each), a browser's, and the flow key's refusals.

Every Response is redeemed at the app's own STS; every page passes the scraper hygiene of
``tests.web.test_adfs_routes.assert_scrapable``.
"""

from __future__ import annotations

import html as htmllib
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from starlette.testclient import TestClient

from idp.web.app import create_app
from tests.support.demo import (
    BASE_URL,
    CAROL_SECRET,
    DEV_PROVIDER,
    DEVELOPER,
    PROD_PROVIDER,
    READ_ONLY,
)
from tests.support.http import auto_post, login
from tests.support.scrapers import assert_scrapable
from tests.web.test_adfs_routes import ADMIN, assert_redeems

PATH = "/idp/profile/SAML2/Unsolicited/SSO"
START = f"{PATH}?providerId=urn:amazon:webservices"
FORM_ERROR = re.compile(r'<p class="form-error"[^>]*>([^<]*)</p>')


def form_of(html: str) -> dict[str, Any]:
    forms = assert_scrapable(html)
    assert len(forms) == 1, html[:2000]
    return forms[0]


def action_of(html: str) -> str:
    return str(form_of(html)["attrs"]["action"])


def key_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["execution"][0]


def form_error(html: str) -> str | None:
    match = FORM_ERROR.search(html)
    return htmllib.unescape(match[1]) if match else None


def start(client: TestClient) -> Any:
    """GET the entry URL, redirects followed (both tools do this first)."""
    page = client.get(START)
    assert page.status_code == 200, page.text[:500]
    assert urlsplit(str(page.url)).path == PATH
    return page


def alohomora(client: TestClient, username: str, password: str) -> Any:
    """Fill inputs named like user/email and pass, drop the rest, add _eventId_proceed and
    POST to scheme://netloc + action (alohomora/req.py, login_one_factor)."""
    page = start(client)
    payload: dict[str, str] = {}
    for field in form_of(page.text)["inputs"]:
        name = field["name"].lower()
        if "user" in name or "email" in name:
            payload[field["name"]] = username
        elif "pass" in name:
            payload[field["name"]] = password
    payload["_eventId_proceed"] = ""
    return client.post(BASE_URL + action_of(page.text), data=payload)


def aws_saml_login(client: TestClient, username: str, password: str) -> Any:
    """POST j_username, j_password, submit=Login to the URL it landed on
    (aws_saml_login/saml.py, authenticate)."""
    page = start(client)
    return client.post(str(page.url), data={"j_username": username, "j_password": password,
                                            "submit": "Login"})


def code(clock: Any) -> str:
    return str(pyotp.TOTP(CAROL_SECRET).at(clock.now()))


@pytest.fixture
def client(client_factory) -> TestClient:
    return client_factory(compat="shibboleth")


def other_browser(client: TestClient) -> TestClient:
    return TestClient(client.app, base_url=BASE_URL)


# --- the flow's pages ------------------------------------------------------------------------


def test_entry_redirects_to_a_root_relative_execution_url(client):
    response = client.get(START, follow_redirects=False)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(f"{PATH}?execution=")
    assert "idp_session=" in response.headers["set-cookie"]  # the key's binding


def test_the_form_has_only_the_shibboleth_fields_and_a_root_relative_action(client):
    page = start(client)
    form = form_of(page.text)
    assert [(i["name"], i["type"]) for i in form["inputs"]] == [
        ("j_username", "text"), ("j_password", "password")]
    assert form["attrs"]["action"] == f"{PATH}?execution={key_of(str(page.url))}"
    assert '<button type="submit" name="_eventId_proceed" value="proceed">' in page.text
    assert form_error(page.text) is None
    again = client.get(str(page.url))  # showing the form does not use the key up
    assert action_of(again.text) == form["attrs"]["action"]


def test_host_header_changes_no_link(client):
    response = client.get(START, headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.headers["location"].startswith(PATH)
    page = client.get(response.headers["location"], headers={"Host": "evil.example"})
    assert "evil.example" not in page.text


@pytest.mark.parametrize("query", ["", "?providerId=urn:other:sp", "?providerId="])
def test_another_provider_is_an_error_page(client, query):
    response = client.get(PATH + query)
    assert response.status_code == 403
    assert "urn:amazon:webservices only" in response.text


def test_disabled_surface_is_404(client_factory):
    client = client_factory()
    assert client.get(START).status_code == 404
    response = client.post(f"{PATH}?execution=x", data={"j_username": "bob"})
    assert response.status_code == 404 and "--compat shibboleth" in response.text


# --- signing in --------------------------------------------------------------------------------


def test_bob_with_alohomora(client):
    response = alohomora(client, "bob", "bob-password")
    assert response.status_code == 200
    assert_redeems(client, response.text, READ_ONLY, PROD_PROVIDER, "bob@corp.example")


def test_alice_with_aws_saml_login(client):
    response = aws_saml_login(client, "alice", "alice-password")
    assert response.status_code == 200
    assert_redeems(client, response.text, DEVELOPER, DEV_PROVIDER, "alice@corp.example")


def test_email_login_names_the_user(client):
    response = alohomora(client, "bob@corp.example", "bob-password")
    assert_redeems(client, response.text, READ_ONLY, PROD_PROVIDER, "bob@corp.example")


def test_a_user_without_aws_roles_gets_an_error_page(client):
    response = aws_saml_login(client, "dave", "dave-password")
    assert response.status_code == 403
    assert "SAMLResponse" not in response.text


def test_the_login_is_an_idp_session_so_the_next_visit_signs_in_at_once(client):
    alohomora(client, "bob", "bob-password")
    again = client.get(START, follow_redirects=False)
    assert again.status_code == 200
    assert_redeems(client, again.text, READ_ONLY, PROD_PROVIDER, "bob@corp.example")
    # ... and so does the IdP's own IdP-initiated page.
    assert auto_post(client.get("/idp/init", follow_redirects=True).text)


def test_an_idp_login_elsewhere_also_signs_in_at_once(client):
    login(client, "/idp/init", "alice", "alice-password")
    again = client.get(START, follow_redirects=False)
    assert_redeems(client, again.text, DEVELOPER, DEV_PROVIDER, "alice@corp.example")


def test_wrong_password_shows_form_error_and_a_new_key(client):
    """alohomora dies with the form-error text; aws-saml-login finds no SAMLResponse."""
    page = start(client)
    response = client.post(str(page.url), data={"j_username": "bob", "j_password": "nope"})
    assert response.status_code == 401
    assert form_error(response.text) == "Invalid username or password."
    assert "SAMLResponse" not in response.text
    new_action = action_of(response.text)
    assert key_of(new_action) != key_of(str(page.url))
    assert form_of(response.text)["inputs"][0]["value"] == "bob"
    retry = client.post(BASE_URL + new_action, data={"j_username": "bob",
                                                     "j_password": "bob-password"})
    assert "SAMLResponse" in retry.text


def test_an_overlong_user_name_names_nobody(client):
    response = aws_saml_login(client, "bob" + " " * 300 + "x", "bob-password")
    assert form_error(response.text) == "Invalid username or password."


def test_failures_are_throttled_with_retry_after(client):
    for attempt in range(11):
        response = aws_saml_login(client, "bob", "wrong")
        assert response.status_code == (401 if attempt < 10 else 429), attempt
    assert (form_error(response.text) or "").startswith("Too many failed sign-in attempts")
    assert int(response.headers["retry-after"]) > 0
    assert_scrapable(response.text)
    right = aws_saml_login(client, "bob", "bob-password")
    assert right.status_code == 429 and "SAMLResponse" not in right.text


# --- carol's second page ----------------------------------------------------------------------


def code_page(client: TestClient) -> Any:
    response = aws_saml_login(client, "carol", "carol-password")
    assert response.status_code == 200
    assert "SAMLResponse" not in response.text
    assert [i["name"] for i in form_of(response.text)["inputs"]] == ["j_otp"]
    return response


def test_carol_enters_her_code_on_a_second_page(client, clock):
    page = code_page(client)
    response = client.post(BASE_URL + action_of(page.text), data={"j_otp": code(clock)})
    assert_redeems(client, response.text, ADMIN, PROD_PROVIDER, "carol@corp.example")


def test_a_wrong_code_asks_again_under_a_new_key(client, clock):
    page = code_page(client)
    wrong = client.post(BASE_URL + action_of(page.text), data={"j_otp": "000000"})
    assert wrong.status_code == 401
    assert form_error(wrong.text) == "The one-time code is not correct."
    assert [i["name"] for i in form_of(wrong.text)["inputs"]] == ["j_otp"]
    empty = client.post(BASE_URL + action_of(wrong.text), data={"j_otp": ""})
    assert form_error(empty.text) == "Enter the one-time code from your authenticator app."
    right = client.post(BASE_URL + action_of(empty.text), data={"j_otp": code(clock)})
    assert "SAMLResponse" in right.text


def test_a_used_code_is_refused(client, clock):
    now = code(clock)
    first = code_page(client)
    assert "SAMLResponse" in client.post(BASE_URL + action_of(first.text),
                                         data={"j_otp": now}).text
    browser = other_browser(client)
    second = code_page(browser)
    reused = browser.post(BASE_URL + action_of(second.text), data={"j_otp": now})
    assert form_error(reused.text) == "That one-time code was already used. Wait for the next code."


def test_an_expired_code_step_starts_over_at_the_password(client, clock):
    page = code_page(client)
    clock.advance(301)
    response = client.post(BASE_URL + action_of(page.text), data={"j_otp": code(clock)})
    assert "SAMLResponse" not in response.text
    assert (form_error(response.text) or "").startswith("This sign-in step has expired")
    assert [i["name"] for i in form_of(response.text)["inputs"]] == ["j_username",
                                                                     "j_password"]


# --- the execution key ------------------------------------------------------------------------


def assert_start_again(response: Any) -> None:
    assert response.status_code == 400
    assert "Start the sign-in again" in response.text
    assert "SAMLResponse" not in response.text
    assert f'href="{PATH}?providerId=urn:amazon:webservices"' in response.text
    assert_scrapable(response.text)


def test_a_key_works_once(client):
    page = start(client)
    assert "SAMLResponse" in client.post(str(page.url), data={
        "j_username": "bob", "j_password": "bob-password"}).text
    assert_start_again(client.post(str(page.url), data={
        "j_username": "bob", "j_password": "bob-password"}))


def test_a_failed_post_uses_its_key_up_too(client):
    page = start(client)
    client.post(str(page.url), data={"j_username": "bob", "j_password": "nope"})
    assert_start_again(client.post(str(page.url), data={
        "j_username": "bob", "j_password": "bob-password"}))


@pytest.mark.parametrize("execution", [None, "", "e1s1", "x" * 5000, "a.b"])
def test_a_missing_or_forged_key_never_reaches_the_password_check(client, execution):
    start(client)
    url = PATH if execution is None else f"{PATH}?execution={execution}"
    assert_start_again(client.post(url, data={"j_username": "bob", "j_password": "bob-password"}))
    if execution is not None:
        assert_start_again(client.get(url))


def test_a_tampered_key_is_refused(client):
    page = start(client)
    key = key_of(str(page.url))
    body, mac = key.split(".")
    for bad in (f"{body}.{mac[::-1]}", f"{body[:-3]}AAA.{mac}"):
        assert_start_again(client.post(f"{PATH}?execution={bad}",
                                       data={"j_username": "bob", "j_password": "bob-password"}))


def test_another_sessions_key_is_refused_and_stays_usable_for_its_owner(client):
    """Login CSRF: a key is honoured only with the session cookie it was issued to."""
    page = start(client)
    attacker = other_browser(client)
    start(attacker)  # has a session, just not this one
    assert_start_again(attacker.post(str(page.url), data={
        "j_username": "bob", "j_password": "bob-password"}))
    cookieless = other_browser(client)
    assert_start_again(cookieless.post(str(page.url), data={
        "j_username": "bob", "j_password": "bob-password"}))
    assert_start_again(cookieless.get(str(page.url)))
    assert "SAMLResponse" in client.post(str(page.url), data={
        "j_username": "bob", "j_password": "bob-password"}).text


def test_refusals_by_key_are_not_counted_as_failed_logins(client):
    """Without a key nothing is checked, so nothing is throttled either."""
    for _ in range(12):
        client.post(f"{PATH}?execution=forged", data={"j_username": "bob", "j_password": "x"})
    assert "SAMLResponse" in aws_saml_login(client, "bob", "bob-password").text


def test_a_key_expires(client, clock):
    page = start(client)
    clock.advance(601)
    assert_start_again(client.post(str(page.url), data={
        "j_username": "bob", "j_password": "bob-password"}))


# --- limits and transport ----------------------------------------------------------------------


def test_an_oversize_form_is_refused(client):
    page = start(client)
    response = client.post(str(page.url), data={"j_username": "bob", "j_password": "p" * 20_000})
    assert response.status_code == 400 and "larger than" in response.text
    many = client.post(str(start(client).url), data={f"f{i}": "x" for i in range(20)})
    assert many.status_code == 400


def test_works_over_https(settings, directory, clock):
    app = create_app(settings.with_overrides(base_url="https://idp.test", compat="shibboleth"),
                     directory=directory, clock=clock)
    with TestClient(app, base_url="https://idp.test") as client:
        redirect = client.get(START, follow_redirects=False)
        assert "secure" in redirect.headers["set-cookie"].lower()
        page = client.get(redirect.headers["location"])
        response = client.post("https://idp.test" + action_of(page.text), data={
            "j_username": "bob", "j_password": "bob-password", "_eventId_proceed": ""})
        assert "SAMLResponse" in response.text


def test_every_page_is_scrapable(client, clock):
    assert_scrapable(start(client).text)
    assert_scrapable(aws_saml_login(client, "bob", "wrong").text)
    page = code_page(other_browser(client))
    assert_scrapable(page.text)
    assert_scrapable(alohomora(client, "bob", "bob-password").text, answer=True)
    assert_scrapable(client.get(PATH).text)
