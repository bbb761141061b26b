"""The AD FS-compatible surface, in-process: the requests aws-adfs, awsprocesscreds ``-p adfs``
and samlkeygen send (``idp.compat.forms`` quotes each), and a browser's.

Every Response is checked independently by redeeming it at the app's own STS. Pages are read
the way the tools read them: ``html.parser`` for the hygiene every scraper needs
(``tests.support.scrapers``), and lxml XPath as aws-adfs does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import lxml.html
import pyotp
import pytest
from lxml import etree
from starlette.testclient import TestClient

from idp.web.app import create_app
from tests.support.demo import (
    AWS_ACS,
    CAROL_SECRET,
    DEV_PROVIDER,
    DEVELOPER,
    PROD_PROVIDER,
    READ_ONLY,
    STS_URL,
)
from tests.support.http import auto_post
from tests.support.scrapers import assert_scrapable, form_by_id

ENTRY = "/adfs/ls/IdpInitiatedSignOn.aspx?loginToRp=urn:amazon:webservices"
USER_BOX = "ctl00$ContentPlaceHolder1$UsernameTextBox"
PASSWORD_BOX = "ctl00$ContentPlaceHolder1$PasswordTextBox"
STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
ADMIN = "arn:aws:iam::111122223333:role/Admin"


# --- reading pages as scrapers do -------------------------------------------------------------


def error_text(html: str) -> str | None:
    """What aws-adfs prints as ``Login error: …`` (``roles_assertion_extractor.py``)."""
    root = lxml.html.fromstring(html)
    labels = root.findall('.//form[@id="loginForm"]//label[@id="errorText"]')
    assert len(labels) == 1, html[:2000]
    return labels[0].text


def assume(client: TestClient, saml: str, role: str, provider: str) -> etree._Element:
    """Redeem the SAMLResponse at the app's STS; the AssumeRoleWithSAML answer's root."""
    response = client.post(STS_URL, data={
        "Action": "AssumeRoleWithSAML", "Version": "2011-06-15", "RoleArn": role,
        "PrincipalArn": provider, "SAMLAssertion": saml})
    assert response.status_code == 200, response.text
    return etree.fromstring(response.content)


def assert_redeems(client: TestClient, html: str, role: str, provider: str,
                   session_name: str) -> None:
    assert_scrapable(html, answer=True, acs=AWS_ACS)
    posted = auto_post(html)
    assert posted.action == AWS_ACS
    root = assume(client, posted.saml_response, role, provider)
    arn = root.findtext(f".//{STS_NS}AssumedRoleUser/{STS_NS}Arn")
    assert arn is not None and arn.endswith(f"/{session_name}"), arn
    assert root.findtext(f".//{STS_NS}Credentials/{STS_NS}AccessKeyId")


def code(clock: Any) -> str:
    return str(pyotp.TOTP(CAROL_SECRET).at(clock.now()))


def sign_in(client: TestClient, username: str, password: str, **extra: str):
    return client.post(ENTRY, data={"UserName": username, "Password": password,
                                    "AuthMethod": "FormsAuthentication", **extra})


@pytest.fixture
def client(client_factory) -> TestClient:
    return client_factory(compat="adfs")


# --- the login page ----------------------------------------------------------------------------


def test_login_page_is_ad_fs_shaped_and_scrapable(client):
    """form#loginForm first, the fields every AD FS tool reads, errorText empty."""
    page = client.get(ENTRY)
    assert page.status_code == 200
    forms = assert_scrapable(page.text)
    login = forms[0]
    assert login["attrs"]["id"] == "loginForm"
    assert login["attrs"]["action"] == ENTRY
    fields = {i["name"]: i for i in login["inputs"]}
    assert set(fields) == {"UserName", "Password", "AuthMethod", USER_BOX, PASSWORD_BOX}
    assert fields["AuthMethod"] == {"id": "optionForms", "type": "hidden", "name": "AuthMethod",
                                    "value": "FormsAuthentication"}
    assert fields["Password"]["type"] == "password"
    assert error_text(page.text) is None  # aws-adfs exits on any text here
    assert page.headers["cache-control"] == "no-store"


def test_host_header_changes_no_form_action(client):
    """Actions come from the configured base URL, never from the request's Host."""
    page = client.get(ENTRY, headers={"Host": "evil.example"})
    assert 'action="/adfs/ls/IdpInitiatedSignOn.aspx?loginToRp=urn:amazon:webservices"' \
        in page.text
    assert "evil.example" not in page.text


@pytest.mark.parametrize("query", ["", "?loginToRp=urn:other:sp", "?loginToRp=",
                                   "?loginToRp=http://idp.test/sp"])
def test_another_relying_party_is_an_error_page(client, query):
    for response in (client.get("/adfs/ls/IdpInitiatedSignOn.aspx" + query),
                     client.post("/adfs/ls/IdpInitiatedSignOn.aspx" + query,
                                 data={"UserName": "bob", "Password": "bob-password"})):
        assert response.status_code == 403
        assert "urn:amazon:webservices only" in response.text
        assert "MSISAuth" not in response.headers.get("set-cookie", "")


def test_disabled_surface_is_404(client_factory):
    client = client_factory()
    assert client.get(ENTRY).status_code == 404
    response = sign_in(client, "bob", "bob-password")
    assert response.status_code == 404 and "--compat adfs" in response.text


# --- signing in --------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["bob", "CORP\\bob", "bob@corp.example", "bob@CORP"])
def test_bob_signs_in_with_every_spelling(client, username):
    """aws-adfs's POST; the answer is the console twin's auto-POST page, redeemable at STS."""
    response = sign_in(client, username, "bob-password")
    assert response.status_code == 200
    assert_redeems(client, response.text, READ_ONLY, PROD_PROVIDER, "bob@corp.example")


def test_alice_picks_any_of_her_roles(client):
    response = sign_in(client, "CORP\\alice", "alice-password")
    assert_redeems(client, response.text, DEVELOPER, DEV_PROVIDER, "alice@corp.example")


def test_awsprocesscreds_posts_every_input_of_the_first_form(client):
    """GET the page, fill the ctl00 boxes, post every input back (awsprocesscreds/saml.py)."""
    page = client.get(ENTRY)
    form = assert_scrapable(page.text)[0]
    payload = {i["name"]: i.get("value", "") for i in form["inputs"]}
    payload[USER_BOX], payload[PASSWORD_BOX] = "CORP\\bob", "bob-password"
    response = client.post(f"http://idp.test{form['attrs']['action']}", data=payload)
    assert response.status_code == 200  # awsprocesscreds requires 200
    assert_redeems(client, response.text, READ_ONLY, PROD_PROVIDER, "bob@corp.example")


def test_a_user_without_aws_roles_gets_an_error_page(client):
    response = sign_in(client, "dave", "dave-password")
    assert response.status_code == 403
    assert "SAMLResponse" not in response.text
    assert "MSISAuth" not in response.headers.get("set-cookie", "")


def test_wrong_password_is_the_login_page_with_error_text(client):
    """200 (awsprocesscreds reads the body), the reason in errorText (aws-adfs prints it)."""
    response = sign_in(client, "CORP\\bob", "not-bobs-password")
    assert response.status_code == 200
    assert error_text(response.text) == "Invalid username or password."
    assert "SAMLResponse" not in response.text
    assert "MSISAuth" not in response.headers.get("set-cookie", "")
    assert_scrapable(response.text)
    unknown = sign_in(client, "mallory", "whatever")
    assert error_text(unknown.text) == "Invalid username or password."


def test_an_overlong_user_name_names_nobody(client):
    """Never cut down to a real name: bob's password does not sign it in."""
    response = sign_in(client, "bob" + " " * 300 + "x", "bob-password")
    assert error_text(response.text) == "Invalid username or password."


def test_failures_are_throttled_across_spellings_with_retry_after(client):
    """Ten failures for bob (any spelling) → the page says to wait, Retry-After set, and the
    right password no longer works until the window passes."""
    for attempt, name in enumerate(["bob", "CORP\\bob", "bob@corp.example", "BOB"] * 3):
        response = sign_in(client, name, "wrong")
        if attempt < 10:
            assert error_text(response.text) == "Invalid username or password.", attempt
    assert response.status_code == 200
    assert (error_text(response.text) or "").startswith("Too many failed sign-in attempts")
    assert int(response.headers["retry-after"]) > 0
    right = sign_in(client, "bob", "bob-password")
    assert "SAMLResponse" not in right.text
    assert (error_text(right.text) or "").startswith("Too many")


def test_throttle_window_passes(client, clock):
    for _ in range(10):
        sign_in(client, "bob", "wrong")
    clock.advance(301)
    assert "SAMLResponse" in sign_in(client, "bob", "bob-password").text


# --- MSISAuth ------------------------------------------------------------------------------------


def test_msisauth_cookie_is_sealed_scoped_and_http_only(client):
    response = sign_in(client, "bob", "bob-password")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("MSISAuth=")
    lowered = cookie.lower()
    assert "path=/adfs" in lowered and "httponly" in lowered and "samesite=lax" in lowered
    assert "secure" not in lowered  # plain-HTTP base URL
    assert "bob-password" not in cookie


def test_aws_adfs_first_post_reauthenticates_with_the_cookie(client):
    """AuthMethod alone: with a valid MSISAuth the auto-POST page, a fresh Response."""
    first = auto_post(sign_in(client, "bob", "bob-password").text)
    again = client.post(ENTRY, data={"AuthMethod": "FormsAuthentication"})
    assert again.status_code == 200
    assert auto_post(again.text).saml_response != first.saml_response
    assert_redeems(client, again.text, READ_ONLY, PROD_PROVIDER, "bob@corp.example")
    assert_redeems(client, client.get(ENTRY).text, READ_ONLY, PROD_PROVIDER,
                   "bob@corp.example")


def test_without_a_cookie_the_first_post_gets_the_clean_login_page(client):
    """aws-adfs then asks for credentials: errorText must stay empty."""
    response = client.post(ENTRY, data={"AuthMethod": "FormsAuthentication"})
    assert response.status_code == 200
    assert error_text(response.text) is None
    assert "SAMLResponse" not in response.text


@pytest.mark.parametrize("forged", ["forged", "a.b", "x" * 5000, "eyJwIjoibG9naW4ifQ.AAAA"])
def test_a_forged_cookie_is_ignored_and_cleared(client, forged):
    client.cookies.set("MSISAuth", forged, domain="idp.test", path="/adfs")
    response = client.post(ENTRY, data={"AuthMethod": "FormsAuthentication"})
    assert response.status_code == 200
    assert "SAMLResponse" not in response.text and error_text(response.text) is None
    assert 'MSISAuth=""' in response.headers["set-cookie"]  # deleted


def test_an_expired_cookie_is_ignored(client, clock, settings):
    sign_in(client, "bob", "bob-password")
    clock.advance(settings.idp_session_lifetime + 1)
    response = client.post(ENTRY, data={"AuthMethod": "FormsAuthentication"})
    assert "SAMLResponse" not in response.text and error_text(response.text) is None


def test_a_new_login_ends_the_one_an_older_cookie_held(client):
    sign_in(client, "bob", "bob-password")
    old = client.cookies.get("MSISAuth")
    sign_in(client, "alice", "alice-password")
    assert client.cookies.get("MSISAuth") != old
    replay = TestClient(client.app, base_url="http://idp.test")
    replay.cookies.set("MSISAuth", old, domain="idp.test", path="/adfs")
    assert "SAMLResponse" not in replay.post(ENTRY, data={"AuthMethod": "x"}).text


def test_a_cookie_made_for_another_purpose_is_not_a_login(client, clock):
    """The Context (a sealed MFA step) is not an MSISAuth."""
    context = form_by_id(sign_in(client, "carol", "carol-password").text, "options")
    token = {i["name"]: i["value"] for i in context["inputs"]}["Context"]
    client.cookies.set("MSISAuth", token, domain="idp.test", path="/adfs")
    assert "SAMLResponse" not in client.get(ENTRY).text


# --- samlkeygen: a passcode after every password ----------------------------------------------


def test_samlkeygen_passcode_post_after_a_password_login_answers(client):
    """Non-MFA users answer samlkeygen's "Pin + Rsa Token:" with anything: the cookie
    carries the login, so the passcode POST answers the auto-POST page."""
    first = sign_in(client, "CORP\\bob", "bob-password")
    assert "passcodeForm" not in first.text
    again = client.post(ENTRY, data={"Passcode": "-"})
    assert again.status_code == 200
    assert_redeems(client, again.text, READ_ONLY, PROD_PROVIDER, "bob@corp.example")


def test_samlkeygen_after_a_wrong_password_gets_no_response(client):
    sign_in(client, "CORP\\bob", "wrong")
    response = client.post(ENTRY, data={"Passcode": "-"})
    assert response.status_code == 200
    assert "SAMLResponse" not in response.text
    assert error_text(response.text) == "Sign in with your user name and password."


# --- the second factor -------------------------------------------------------------------------


def mfa_page(client: TestClient) -> tuple[Any, str]:
    response = sign_in(client, "carol", "carol-password")
    assert response.status_code == 200
    assert "SAMLResponse" not in response.text
    assert "MSISAuth" not in response.headers.get("set-cookie", "")
    root = lxml.html.fromstring(response.text)
    context = root.find('.//input[@id="context"]')
    assert context is not None
    return response, context.get("value")


def test_carol_gets_the_rsa_shaped_second_factor_page(client):
    """form#options with input#authMethod/input#context (aws-adfs), form#passcodeForm with
    the same hidden inputs (samlkeygen); errorText empty; root-relative on plain HTTP."""
    response, context = mfa_page(client)
    root = lxml.html.fromstring(response.text)
    method = root.find('.//input[@id="authMethod"]')
    assert method is not None and method.get("value") == "SecurIDAuthentication"
    options = form_by_id(response.text, "options")
    assert options["attrs"]["action"] == ENTRY
    hidden = {(i["name"], i["value"]) for i in options["inputs"]}
    assert hidden == {("AuthMethod", "SecurIDAuthentication"), ("Context", context)}
    passcode = form_by_id(response.text, "passcodeForm")
    assert {(i["name"], i["value"]) for i in passcode["inputs"] if i["type"] == "hidden"} \
        == hidden
    assert error_text(response.text) is None


def test_carol_finishes_with_aws_adfs_rsa_post(client, clock):
    _page, context = mfa_page(client)
    response = client.post(ENTRY, data={"AuthMethod": "SecurIDAuthentication",
                                        "Context": context, "Passcode": code(clock)})
    assert response.status_code == 200
    assert response.headers["set-cookie"].startswith("MSISAuth=")
    assert_redeems(client, response.text, ADMIN, PROD_PROVIDER, "carol@corp.example")
    # The cookie's login is an MFA login: it re-authenticates carol.
    assert "SAMLResponse" in client.post(ENTRY, data={"AuthMethod": "x"}).text


def test_carol_finishes_with_samlkeygen_passcode_form(client, clock):
    page, _context = mfa_page(client)
    form = form_by_id(page.text, "passcodeForm")
    data = {i["name"]: i["value"] for i in form["inputs"] if i["type"] == "hidden"}
    data["Passcode"] = code(clock)
    response = client.post(ENTRY, data=data)
    assert_redeems(client, response.text, ADMIN, PROD_PROVIDER, "carol@corp.example")


def test_carol_in_one_post_with_the_code(client, clock):
    response = sign_in(client, "carol", "carol-password", Passcode=code(clock))
    assert "SAMLResponse" in response.text


def test_wrong_code_keeps_the_step_open_with_the_error_in_error_text(client, clock):
    _page, context = mfa_page(client)
    wrong = client.post(ENTRY, data={"AuthMethod": "SecurIDAuthentication",
                                     "Context": context, "Passcode": "000000"})
    assert wrong.status_code == 200  # aws-adfs's RSA step requires 200
    assert error_text(wrong.text) == "The one-time code is not correct."
    assert lxml.html.fromstring(wrong.text).find('.//input[@id="context"]').get("value") \
        == context
    assert "MSISAuth" not in wrong.headers.get("set-cookie", "")
    empty = client.post(ENTRY, data={"AuthMethod": "SecurIDAuthentication",
                                     "Context": context, "Passcode": ""})
    assert error_text(empty.text) == "Enter the one-time code from your authenticator app."
    right = client.post(ENTRY, data={"AuthMethod": "SecurIDAuthentication",
                                     "Context": context, "Passcode": code(clock)})
    assert "SAMLResponse" in right.text


def test_a_used_context_is_refused_and_a_used_code_too(client, clock):
    _page, context = mfa_page(client)
    now = code(clock)
    data = {"AuthMethod": "SecurIDAuthentication", "Context": context, "Passcode": now}
    assert "SAMLResponse" in client.post(ENTRY, data=data).text
    other = TestClient(client.app, base_url="http://idp.test")  # no MSISAuth
    again = other.post(ENTRY, data=data)
    assert "SAMLResponse" not in again.text
    assert error_text(again.text) == ("This sign-in step has expired or was already "
                                      "completed. Sign in again.")
    _page, fresh = mfa_page(other)  # a new step, the same (used) code
    reused = other.post(ENTRY, data={**data, "Context": fresh})
    assert error_text(reused.text) == ("That one-time code was already used. Wait for the "
                                       "next code.")


def test_a_double_click_on_the_code_form_finds_the_login_it_made(client, clock):
    _page, context = mfa_page(client)
    data = {"AuthMethod": "SecurIDAuthentication", "Context": context, "Passcode": code(clock)}
    client.post(ENTRY, data=data)
    assert "SAMLResponse" in client.post(ENTRY, data=data).text  # the cookie answers


def test_an_expired_context_is_refused(client, clock):
    _page, context = mfa_page(client)
    clock.advance(301)
    response = client.post(ENTRY, data={"AuthMethod": "SecurIDAuthentication",
                                        "Context": context, "Passcode": code(clock)})
    assert "SAMLResponse" not in response.text
    assert (error_text(response.text) or "").startswith("This sign-in step has expired")


@pytest.mark.parametrize("context", ["forged", "", "x" * 5000, "a.b"])
def test_a_forged_context_is_refused(client, clock, context):
    response = client.post(ENTRY, data={"AuthMethod": "SecurIDAuthentication",
                                        "Context": context, "Passcode": code(clock)})
    assert response.status_code == 200
    assert "SAMLResponse" not in response.text
    assert error_text(response.text)


def test_a_login_cookie_is_not_a_context(client, clock):
    sign_in(client, "bob", "bob-password")
    cookie = client.cookies.get("MSISAuth")
    other = TestClient(client.app, base_url="http://idp.test")
    response = other.post(ENTRY, data={"AuthMethod": "SecurIDAuthentication",
                                       "Context": cookie, "Passcode": code(clock)})
    assert "SAMLResponse" not in response.text


def test_wrong_codes_are_throttled(client, clock):
    _page, context = mfa_page(client)
    data = {"AuthMethod": "SecurIDAuthentication", "Context": context}
    for _ in range(10):
        client.post(ENTRY, data={**data, "Passcode": "000000"})
    response = client.post(ENTRY, data={**data, "Passcode": code(clock)})
    assert "SAMLResponse" not in response.text
    assert (error_text(response.text) or "").startswith("Too many failed sign-in attempts")
    assert int(response.headers["retry-after"]) > 0


# --- limits and transport ----------------------------------------------------------------------


def test_an_oversize_form_is_refused(client):
    response = client.post(ENTRY, data={"UserName": "bob", "Password": "p" * 20_000})
    assert response.status_code == 400
    assert "larger than" in response.text
    many = client.post(ENTRY, data={f"f{i}": "x" for i in range(40)})
    assert many.status_code == 400


def test_https_base_url_makes_the_cookie_secure_and_the_step_action_absolute(
        settings, directory, clock):
    """aws-adfs posts form#options's action as it stands (no urljoin): over https it is the
    configured public URL; the cookie is Secure and still re-authenticates."""
    app = create_app(settings.with_overrides(base_url="https://idp.test", compat="adfs"),
                     directory=directory, clock=clock)
    with TestClient(app, base_url="https://idp.test") as client:
        assert form_by_id(client.get(ENTRY).text, "loginForm")["attrs"]["action"] == ENTRY
        answer = client.post(ENTRY, data={"UserName": "bob", "Password": "bob-password"})
        assert "secure" in answer.headers["set-cookie"].lower()
        assert "SAMLResponse" in client.post(ENTRY, data={"Passcode": "-"}).text
        mfa = client.post(ENTRY, data={"UserName": "carol", "Password": "carol-password"})
        action = form_by_id(mfa.text, "options")["attrs"]["action"]
        assert action == f"https://idp.test{ENTRY}"


def test_behind_a_proxy_path_actions_and_cookie_carry_the_base_path(client_factory):
    """Served under https://sso.example/sim (the proxy strips /sim): every action and the
    cookie's Path start with /sim, and the absolute action names the public host."""
    client = client_factory(base_url="https://sso.example/sim", compat="adfs")
    assert form_by_id(client.get(ENTRY).text, "loginForm")["attrs"]["action"] == "/sim" + ENTRY
    answer = client.post(ENTRY, data={"UserName": "bob", "Password": "bob-password"})
    assert "path=/sim/adfs" in answer.headers["set-cookie"].lower()
    mfa = client.post(ENTRY, data={"UserName": "carol", "Password": "carol-password"})
    action = form_by_id(mfa.text, "options")["attrs"]["action"]
    assert action == f"https://sso.example/sim{ENTRY}"
    assert urlsplit(action).netloc == "sso.example"


def test_every_page_is_scrapable(client, clock):
    """Login, error, code, throttled and answer pages all pass the scraper hygiene."""
    assert_scrapable(client.get(ENTRY).text)
    assert_scrapable(sign_in(client, "bob", "wrong").text)
    page, context = mfa_page(client)
    assert_scrapable(page.text)
    assert_scrapable(client.post(ENTRY, data={"Context": context, "Passcode": "1"}).text)
    assert_scrapable(sign_in(client, "bob", "bob-password").text, answer=True)
    assert_scrapable(client.get("/adfs/ls/IdpInitiatedSignOn.aspx").text)
    assert_scrapable(sign_in(client, "dave", "dave-password").text)
    for _ in range(11):
        throttled = sign_in(client, "alice", "wrong")
    assert_scrapable(throttled.text)
