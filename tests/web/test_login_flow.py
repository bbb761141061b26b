"""IdP-initiated sign-in over HTTP: login page, session cookie, MFA step, the auto-POST page."""

from __future__ import annotations

from urllib.parse import urlencode

import pyotp
import pytest
from starlette.testclient import TestClient

from tests.support.demo import BASE_URL, CAROL_SECRET, ROLE_ATTR
from tests.support.http import (
    FORM_RE,
    authn_request,
    auto_post,
    csrf,
    login,
    pending_id,
    redirect_value,
)


def test_init_sends_an_anonymous_user_to_the_login_page(client):
    """/idp/init without a session redirects (303) to /idp/login with a pending step."""
    response = client.get("/idp/init", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/idp/login?pending=")


def test_bob_logs_in_and_gets_the_auto_post_page(client):
    """The first form posts SAMLResponse and RelayState to the console ACS."""
    page = login(client, "/idp/init?RelayState=https%3A%2F%2Fconsole.aws.amazon.com%2F",
                 "bob", "bob-password")
    assert page.status_code == 200
    assert page.text.index("<form") == page.text.index('<form method="POST"')
    posted = auto_post(page.text)
    assert posted.action == "http://idp.test/aws/saml"
    assert posted.relay_state == "https://console.aws.amazon.com/"
    assert posted.attribute(ROLE_ATTR) == [
        "arn:aws:iam::111122223333:role/ReadOnly,arn:aws:iam::111122223333:saml-provider/CorpIdP"]
    assert ">Continue</button>" in page.text
    assert page.headers["cache-control"] == "no-store"


def test_saml_response_input_is_written_the_way_scrapers_match_it(client):
    """name before value, double quotes, no space before '/>' (saml2aws's regex)."""
    page = login(client, "/idp/init", "bob", "bob-password")
    assert FORM_RE.search(page.text)
    assert '<input type="hidden" name="SAMLResponse" value="' in page.text


def test_session_cookie_spares_a_second_login(client):
    """After one login, /idp/init answers directly; the cookie is HttpOnly and SameSite=Lax."""
    page = login(client, "/idp/init", "bob", "bob-password")
    cookie_header = page.history[0].headers["set-cookie"]
    assert "httponly" in cookie_header.lower() and "samesite=lax" in cookie_header.lower()
    assert "secure" not in cookie_header.lower()  # plain-HTTP base URL
    again = client.get("/idp/init", follow_redirects=True)
    assert auto_post(again.text).action == "http://idp.test/aws/saml"


def test_logout_ends_the_session(client):
    """After /idp/logout the next sign-in asks for the password again."""
    login(client, "/idp/init", "bob", "bob-password")
    cross_site = client.get("/idp/logout")  # an <img src> on another site: no sign-out
    assert cross_site.status_code == 200
    assert client.post("/idp/logout").status_code == 400  # no token: still signed in
    assert auto_post(client.get("/idp/init", follow_redirects=True).text)
    client.post("/idp/logout", data={"csrf_token": csrf(cross_site.text)})
    assert "/idp/login" in client.get("/idp/init", follow_redirects=False).headers["location"]


def test_wrong_password_and_unknown_user_look_the_same(client):
    """Both get HTTP 401 and the same message; nothing says which part was wrong."""
    bodies = []
    for username, password in [("bob", "nope"), ("mallory", "bob-password")]:
        first = client.get("/idp/init", follow_redirects=True)
        response = client.post("/idp/login", data={
            "username": username, "password": password, "pending": pending_id(first.url),
            "csrf_token": csrf(first.text)})
        assert response.status_code == 401
        assert "Invalid username or password." in response.text
        pending = pending_id(first.url)
        bodies.append(response.text.replace(username, "USER").replace(pending, "PENDING")
                      .replace(csrf(first.text), "CSRF"))
    assert bodies[0] == bodies[1]


def test_carol_is_asked_for_a_code_then_signed_in(client, clock):
    """Password alone → 401 code step; the right code completes the flow with MFA context."""
    first = client.get("/idp/init", follow_redirects=True)
    pending = pending_id(first.url)
    step = client.post("/idp/login", data={"username": "carol", "password": "carol-password",
                                           "pending": pending, "csrf_token": csrf(first.text)})
    assert step.status_code == 401 and "6-digit code" in step.text
    assert 'name="password"' not in step.text
    code = pyotp.TOTP(CAROL_SECRET).at(clock.now())
    done = client.post("/idp/login", data={"otp": code, "pending": pending,
                                           "csrf_token": csrf(step.text)},
                       follow_redirects=True)
    posted = auto_post(done.text)
    assert b"https://refeds.org/profile/mfa" in posted.xml


def test_carol_wrong_or_reused_code_is_refused(client_factory, clock):
    """A wrong code and a replayed code both get 401 with distinct messages."""
    client = client_factory()
    code = pyotp.TOTP(CAROL_SECRET).at(clock.now())
    wrong = f"{(int(code) + 7) % 1_000_000:06d}"
    first = client.get("/idp/init", follow_redirects=True)
    bad = client.post("/idp/login", data={"username": "carol", "password": "carol-password",
                                          "otp": wrong, "pending": pending_id(first.url),
                                          "csrf_token": csrf(first.text)})
    assert bad.status_code == 401 and "The one-time code is not correct." in bad.text
    ok = login(client, "/idp/init", "carol", "carol-password", otp=code)
    assert auto_post(ok.text)
    other = TestClient(client.app, base_url=BASE_URL)  # a second browser, same server
    first = other.get("/idp/init", follow_redirects=True)
    replay = other.post("/idp/login", data={"username": "carol", "password": "carol-password",
                                            "otp": code, "pending": pending_id(first.url),
                                            "csrf_token": csrf(first.text)})
    assert replay.status_code == 401 and "already used" in replay.text


def test_dave_without_roles_sees_a_clear_page(client):
    """No role → 403 page naming the problem, and no form to the ACS."""
    page = login(client, "/idp/init", "dave", "dave-password")
    assert page.status_code == 403
    assert "No AWS role for this user" in page.text
    assert "SAMLResponse" not in page.text


def test_login_page_without_pending_step_shows_who_is_signed_in(client):
    """Visiting /idp/login directly, then signing in, shows the signed-in page."""
    form = client.get("/idp/login")
    assert form.status_code == 200
    page = client.post("/idp/login", data={"username": "alice", "password": "alice-password",
                                           "csrf_token": csrf(form.text)},
                       follow_redirects=True)
    assert "Signed in as Alice Admin" in page.text


def test_metadata_and_healthz(client):
    """The metadata endpoint serves SAML metadata; /healthz answers ok."""
    response = client.get("/idp/metadata")
    assert response.headers["content-type"].startswith("application/samlmetadata+xml")
    assert b'entityID="http://idp.test/idp/metadata"' in response.content
    assert client.get("/healthz").text == "ok"


def test_force_authn_demands_a_new_login_even_within_the_same_instant(client, clock):
    """ForceAuthn is honoured by request, not by comparing timestamps (the clock stands still)."""
    login(client, "/idp/init", "bob", "bob-password")
    value = redirect_value(authn_request(clock, ForceAuthn="true"))
    forced = client.get(f"/idp/sso?{urlencode({'SAMLRequest': value})}", follow_redirects=False)
    assert forced.status_code == 303 and "/idp/login" in forced.headers["location"]
    form = client.get(forced.headers["location"])
    done = client.post("/idp/login", data={"username": "bob", "password": "bob-password",
                                           "pending": pending_id(forced.headers["location"]),
                                           "csrf_token": csrf(form.text)},
                       follow_redirects=True)
    assert auto_post(done.text).tree.get("InResponseTo") == "_req1"
    again = client.get(f"/idp/sso?{urlencode({'SAMLRequest': value})}", follow_redirects=False)
    assert again.status_code == 303, "a fresh login is good for one request only"


def test_session_cookie_stays_under_the_browser_limit(client):
    """Several pending steps with long RelayStates never push the cookie past 4 KiB."""
    relay = "https://console.aws.amazon.com/" + "x" * 990
    for _ in range(6):
        response = client.get("/idp/init", params={"RelayState": relay}, follow_redirects=False)
        assert len(response.headers["set-cookie"]) < 4096
    form = client.get(response.headers["location"])
    page = client.post("/idp/login", data={"username": "bob", "password": "bob-password",
                                           "pending": pending_id(response.headers["location"]),
                                           "csrf_token": csrf(form.text)},
                       follow_redirects=True)
    assert auto_post(page.text).relay_state == relay


def test_login_post_without_the_forms_token_is_refused(client):
    """A login POST that did not come from our page (no or wrong csrf_token) is a 400."""
    first = client.get("/idp/init", follow_redirects=True)
    for token in (None, "forged"):
        data = {"username": "bob", "password": "bob-password", "pending": pending_id(first.url)}
        if token:
            data["csrf_token"] = token
        response = client.post("/idp/login", data=data)
        assert response.status_code == 400
        assert "did not come from this site" in response.text
    fresh = TestClient(client.app, base_url=BASE_URL)  # cross-site: no session cookie at all
    response = fresh.post("/idp/login", data={"username": "bob", "password": "bob-password",
                                              "csrf_token": csrf(first.text)})
    assert response.status_code == 400


def test_login_gets_a_new_session(client):
    """Session fixation: the cookie and its anti-CSRF token change when the user logs in."""
    first = client.get("/idp/init", follow_redirects=True)
    before = csrf(first.text)
    login(client, "/idp/init", "bob", "bob-password")
    after = csrf(client.get("/idp/login?pending=x").text)
    assert before != after


def test_failed_logins_are_throttled_per_user_whether_or_not_it_exists(client):
    """After 10 failures in 5 minutes a username gets 429 with Retry-After, even unknown ones."""
    for username in ("bob", "nobody"):
        for attempt in range(11):
            page = client.get("/idp/login")
            response = client.post("/idp/login", data={
                "username": username, "password": "wrong", "csrf_token": csrf(page.text)})
            expected = 401 if attempt < 10 else 429
            assert response.status_code == expected, (username, attempt)
        assert "Too many failed sign-in attempts" in response.text
        assert int(response.headers["retry-after"]) > 0
    page = client.get("/idp/login")
    right = client.post("/idp/login", data={"username": "bob", "password": "bob-password",
                                            "csrf_token": csrf(page.text)})
    assert right.status_code == 429, "the right password does not bypass the throttle"


def test_throttle_window_passes(client, clock):
    """Once the window has passed, the user can sign in again."""
    for _ in range(10):
        page = client.get("/idp/login")
        client.post("/idp/login", data={"username": "bob", "password": "wrong",
                                        "csrf_token": csrf(page.text)})
    clock.advance(301)
    page = client.get("/idp/login")
    ok = client.post("/idp/login", data={"username": "bob", "password": "bob-password",
                                         "csrf_token": csrf(page.text)}, follow_redirects=True)
    assert "Signed in as Bob Reader" in ok.text


@pytest.mark.parametrize(("field", "value"), [("csrf_token", "é"), ("otp", "١٢٣٤٥٦")])
def test_non_ascii_token_or_code_is_a_clean_refusal(client, field, value):
    """compare_digest refuses non-ASCII str: these must be 4xx pages, never a 500."""
    page = client.get("/idp/login")
    data = {"username": "carol", "password": "carol-password", "csrf_token": csrf(page.text)}
    data[field] = value
    response = client.post("/idp/login", data=data)
    assert response.status_code in (400, 401)
    assert "Traceback" not in response.text


def test_head_of_the_login_page_is_the_page_without_a_body(client):
    """HEAD (link checkers, monitors) answers like GET, never as a refused form post."""
    response = client.head("/idp/login")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
