"""Headless Chromium against the real server: IdP-initiated sign-in to AWS, end to end.

The ACS (``/aws/saml``) is intercepted in the browser: the test sees exactly what the browser
POSTs there (SAMLResponse + RelayState) and answers with a small page of its own.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pyotp
import pytest
from lxml import etree
from playwright.sync_api import expect

from idp.saml.constants import NS
from tests.e2e.conftest import CHROMIUM
from tests.support.demo import BOB_ROLE, CAROL_SECRET, ROLE_ATTR, SESSION_NAME_ATTR

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]

MFA_CONTEXT = "https://refeds.org/profile/mfa"
BAD_CREDENTIALS = "Invalid username or password."
ACS_BODY = "<!DOCTYPE html><html><body><h1 id='acs'>ACS reached</h1></body></html>"


@dataclass
class AcsPost:
    url: str
    method: str
    fields: dict[str, list[str]]

    @property
    def saml_response(self) -> str:
        assert len(self.fields.get("SAMLResponse", [])) == 1, self.fields
        return self.fields["SAMLResponse"][0]

    @property
    def tree(self) -> etree._Element:
        return etree.fromstring(base64.b64decode(self.saml_response, validate=True))

    def attribute(self, name: str) -> list[str]:
        return [
            "".join(v.itertext())
            for v in self.tree.iterfind(
                f".//saml:Assertion/saml:AttributeStatement/saml:Attribute[@Name='{name}']"
                "/saml:AttributeValue", NS,
            )
        ]

    def authn_context(self) -> list[str]:
        return [
            "".join(el.itertext())
            for el in self.tree.iterfind(".//saml:AuthnStatement//saml:AuthnContextClassRef", NS)
        ]


@dataclass
class Acs:
    """What reached the (intercepted) ACS in one browser context."""

    posts: list[AcsPost] = field(default_factory=list)


def intercept_acs(context: Any) -> Acs:
    acs = Acs()

    def handler(route: Any) -> None:
        request = route.request
        acs.posts.append(AcsPost(
            url=request.url, method=request.method,
            fields=parse_qs(request.post_data or "", keep_blank_values=True),
        ))
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=ACS_BODY)

    context.route("**/aws/saml", handler)
    return acs


def go_to_login(page: Any, base: str) -> None:
    """Open the IdP-initiated AWS sign-in and land on the login page."""
    response = page.goto(f"{base}/idp/init")
    assert response is not None
    page.wait_for_url(f"{base}/idp/login?pending=*")
    expect(page.locator("#username")).to_be_visible()


def submit_login(page: Any, username: str, password: str, otp: str | None = None) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    if otp is not None:
        page.fill("#otp", otp)
    page.click("#submit")


@contextmanager
def posting_to_acs(page: Any, base: str) -> Iterator[None]:
    """Wrap the action that ends in a POST to the ACS; return once the ACS page is shown.

    ``requestfinished`` fires after the route handler fulfilled the request, so the post is
    already recorded; the ACS page is then waited for (bounded by the context's timeouts).
    """
    acs_url = f"{base}/aws/saml"
    with page.expect_request_finished(lambda r: r.url == acs_url):
        yield
    page.wait_for_url(acs_url)
    expect(page.locator("#acs")).to_be_visible()


def is_login_post(base: str) -> Callable[[Any], bool]:
    return lambda r: r.url.startswith(f"{base}/idp/login") and r.request.method == "POST"


def wrong_code(secret: str) -> str:
    """A 6-digit code valid for none of the steps the server could accept around now."""
    totp = pyotp.TOTP(secret)
    step = int(time.time()) // 30
    valid = {totp.generate_otp(s) for s in range(step - 3, step + 4)}
    return next(c for c in (f"{n:06d}" for n in range(10)) if c not in valid)


@pytest.fixture
def context(new_context: Callable[..., Any]) -> Any:
    return new_context()


def test_bob_idp_initiated_sign_in_posts_saml_response_to_acs(
    live_server: str, context: Any
) -> None:
    acs = intercept_acs(context)
    page = context.new_page()
    go_to_login(page, live_server)
    assert acs.posts == []
    with posting_to_acs(page, live_server):
        submit_login(page, "bob", "bob-password")

    assert len(acs.posts) == 1
    post = acs.posts[0]
    assert post.method == "POST"
    assert post.url == f"{live_server}/aws/saml"
    assert "RelayState" in post.fields
    assert post.attribute(ROLE_ATTR) == [BOB_ROLE]
    assert post.attribute(SESSION_NAME_ATTR) == ["bob@corp.example"]
    assert post.tree.get("Destination") == f"{live_server}/aws/saml"


def test_without_javascript_the_continue_button_posts_the_form(
    live_server: str, new_context: Callable[..., Any]
) -> None:
    context = new_context(java_script_enabled=False)
    acs = intercept_acs(context)
    page = context.new_page()
    go_to_login(page, live_server)
    submit_login(page, "bob", "bob-password")

    continue_button = page.get_by_role("button", name="Continue")
    continue_button.wait_for(state="visible")
    assert acs.posts == [], "nothing may be posted before the user presses Continue"
    form = page.locator("form").first
    assert form.get_attribute("method").upper() == "POST"
    assert form.get_attribute("action") == f"{live_server}/aws/saml"
    first_input = form.locator("input").first
    assert first_input.get_attribute("name") == "SAMLResponse"
    # (The <noscript> hint is not checked: Playwright's java_script_enabled=False stops scripts
    # through DevTools, and Chromium still parses <noscript> as if scripting were on.)

    with posting_to_acs(page, live_server):
        continue_button.click()
    assert len(acs.posts) == 1
    assert acs.posts[0].attribute(ROLE_ATTR) == [BOB_ROLE]


def test_carol_needs_the_one_time_code(live_server: str, context: Any) -> None:
    acs = intercept_acs(context)
    page = context.new_page()
    go_to_login(page, live_server)

    # Password alone: the page asks for the code (HTTP 401), nothing reaches the ACS.
    with page.expect_response(is_login_post(live_server)) as step1:
        submit_login(page, "carol", "carol-password")
    assert step1.value.status == 401
    expect(page.locator("h1")).to_have_text("Enter your one-time code")
    expect(page.locator("#otp")).to_be_visible()
    expect(page.locator("#password")).to_have_count(0)
    assert acs.posts == []

    # A wrong code is refused, and the code step stays.
    page.fill("#otp", wrong_code(CAROL_SECRET))
    with page.expect_response(is_login_post(live_server)) as step2:
        page.click("#submit")
    assert step2.value.status == 401
    expect(page.locator("#error")).to_have_text("The one-time code is not correct.")
    expect(page.locator("h1")).to_have_text("Enter your one-time code")
    expect(page.locator("#otp")).to_be_visible()
    assert acs.posts == []

    # The right code finishes the sign-in with the MFA authentication context.
    page.fill("#otp", pyotp.TOTP(CAROL_SECRET).now())
    with posting_to_acs(page, live_server):
        page.click("#submit")
    assert len(acs.posts) == 1
    post = acs.posts[0]
    assert post.authn_context() == [MFA_CONTEXT]
    assert post.attribute(SESSION_NAME_ATTR) == ["carol@corp.example"]


def test_carol_code_cannot_be_used_twice(
    live_server: str, new_context: Callable[..., Any]
) -> None:
    first = new_context()
    acs = intercept_acs(first)
    page = first.new_page()
    go_to_login(page, live_server)
    code = pyotp.TOTP(CAROL_SECRET).now()
    with posting_to_acs(page, live_server):
        submit_login(page, "carol", "carol-password", otp=code)
    assert acs.posts[0].authn_context() == [MFA_CONTEXT]

    second = new_context()
    replay_acs = intercept_acs(second)
    page2 = second.new_page()
    go_to_login(page2, live_server)
    with page2.expect_response(is_login_post(live_server)) as replay:
        submit_login(page2, "carol", "carol-password", otp=code)
    assert replay.value.status == 401
    expect(page2.locator("#error")).to_contain_text("already used")
    assert replay_acs.posts == []


def test_dave_without_aws_role_gets_403_and_nothing_is_posted(
    live_server: str, context: Any
) -> None:
    acs = intercept_acs(context)
    page = context.new_page()
    go_to_login(page, live_server)
    with page.expect_response(lambda r: r.url.startswith(f"{live_server}/idp/sso")) as final:
        submit_login(page, "dave", "dave-password")
    assert final.value.status == 403
    page.wait_for_url(f"{live_server}/idp/sso?resume=*")
    expect(page.locator("#error-title")).to_have_text("No AWS role for this user")
    expect(page.locator("form")).to_have_count(0)
    assert acs.posts == []


@pytest.mark.parametrize(
    ("username", "password"),
    [("bob", "wrong-password"), ("nobody", "bob-password")],
    ids=["wrong-password", "unknown-user"],
)
def test_bad_credentials_get_one_message(
    live_server: str, context: Any, username: str, password: str
) -> None:
    acs = intercept_acs(context)
    page = context.new_page()
    go_to_login(page, live_server)
    with page.expect_response(is_login_post(live_server)) as answer:
        submit_login(page, username, password)
    assert answer.value.status == 401
    expect(page.locator("#error")).to_have_text(BAD_CREDENTIALS)
    expect(page.locator("#username")).to_have_value(username)
    expect(page.locator("#password")).to_have_value("")
    assert acs.posts == []


def test_second_visit_uses_the_session_cookie(live_server: str, context: Any) -> None:
    acs = intercept_acs(context)
    page = context.new_page()
    go_to_login(page, live_server)
    with posting_to_acs(page, live_server):
        submit_login(page, "bob", "bob-password")
    assert len(acs.posts) == 1

    login_requests: list[str] = []
    page.on("request", lambda r: login_requests.append(r.url) if "/idp/login" in r.url else None)
    with posting_to_acs(page, live_server):
        page.goto(f"{live_server}/idp/init")
    assert login_requests == []
    assert len(acs.posts) == 2
    assert acs.posts[1].attribute(SESSION_NAME_ATTR) == ["bob@corp.example"]
    assert acs.posts[1].saml_response != acs.posts[0].saml_response

    cookies = [c for c in context.cookies(live_server) if c["name"] == "idp_session"]
    assert len(cookies) == 1, context.cookies()
    cookie = cookies[0]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http base URL; https would set Secure
