"""Headless Chromium drives the OpenID Connect code flow of the demo's ``sample-web-app``
against the real ``idp serve``: authorization request, login page (password, and a one-time
code for carol), the redirect to ``http://127.0.0.1:8765/callback``, then the back channel
(code + PKCE verifier at the token endpoint, the ID token checked by PyJWT against the JWKS
fetched over HTTP, UserInfo).

The test serves the callback itself (a tiny page on 127.0.0.1:8765, ``callback_app``) and
reads the query it received. The browser gets there only if it let the login form's
navigation end there: Chromium checks every redirect after a form submission against the
login page's ``form-action``, so this is also the check that the page allows the client's
origin. (Playwright's routing cannot stand in: it does not see a redirect's target.)
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pyotp
import pytest

from tests.e2e.conftest import CHROMIUM
from tests.oidc.support import (
    CLIENT_ID,
    REDIRECT_URI,
    authorize_query,
    pkce_pair,
    query_of,
    verify,
)
from tests.support.demo import CAROL_SECRET

pytestmark = [
    pytest.mark.browser,
    pytest.mark.live,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]


CALLBACK_PAGE = b"<!DOCTYPE html><title>Sample web app</title><h1 id='callback'>Signed in</h1>"


class CallbackApp:
    """The sample app's redirect URI: answers a small page, remembers each query it got."""

    def __init__(self) -> None:
        self.queries: list[dict[str, str]] = []
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urlsplit(self.path).path == "/callback":
                    app.queries.append(query_of(self.path))
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(CALLBACK_PAGE)))
                self.end_headers()
                self.wfile.write(CALLBACK_PAGE)

            def log_message(self, *args: Any) -> None:
                pass

        deadline = time.monotonic() + 10  # another test run may be releasing the port
        while True:
            try:
                self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 8765), Handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def callback_app() -> Iterator[CallbackApp]:
    app = CallbackApp()
    yield app
    app.close()


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def post_form(url: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=urlencode(form).encode("ascii"), method="POST",
                                     headers={"Content-Type":
                                              "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def is_callback(request: Any) -> bool:
    return str(request.url).startswith(f"{REDIRECT_URI}?")


def sign_in(page: Any, base: str, user: str, challenge: str, callback_app: CallbackApp, *,
            otp_secret: str | None = None) -> dict[str, str]:
    """The browser's way from the authorization request to the callback: the query the
    callback received."""
    page.goto(f"{base}/oidc/authorize?{authorize_query(challenge)}")
    assert "/idp/login?pending=" in page.url
    assert "Sample web app" in page.text_content("main")
    page.fill("#username", user)
    page.fill("#password", f"{user}-password")
    if otp_secret is not None:
        page.click("#submit")
        page.wait_for_selector("#otp")
        assert "one-time code" in page.text_content("h1").lower()
        page.fill("#otp", pyotp.TOTP(otp_secret).now())
    with page.expect_request(is_callback):
        page.click("#submit")
    page.wait_for_selector("#callback")
    assert page.url.startswith(f"{REDIRECT_URI}?")
    assert callback_app.queries[-1] == query_of(page.url)
    return callback_app.queries[-1]


def redeem(base: str, code: str, verifier: str) -> dict[str, Any]:
    status, body = post_form(f"{base}/oidc/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "client_id": CLIENT_ID, "code_verifier": verifier})
    assert status == 200, body
    return body


def test_bob_signs_in_to_the_sample_app_and_its_tokens_verify(live_server: str, page: Any,
                                                              callback_app: CallbackApp):
    meta = get_json(f"{live_server}/oidc/.well-known/openid-configuration")
    issuer = meta["issuer"]
    assert issuer == f"{live_server}/oidc"
    verifier, challenge = pkce_pair()
    query = sign_in(page, live_server, "bob", challenge, callback_app)
    assert query["state"] == "st-123" and query["iss"] == issuer
    tokens = redeem(live_server, query["code"], verifier)
    keys = get_json(meta["jwks_uri"])
    claims = verify(tokens["id_token"], keys, audience=CLIENT_ID, issuer=issuer)
    assert claims["sub"] == "bob" and claims["nonce"] == "n-456" and claims["amr"] == ["pwd"]
    assert claims["email"] == "bob@corp.example"
    info = get_json(meta["userinfo_endpoint"],
                    {"Authorization": f"Bearer {tokens['access_token']}"})
    assert info["sub"] == "bob" and info["preferred_username"] == "bob"
    # The code is spent.
    status, body = post_form(f"{live_server}/oidc/token", {
        "grant_type": "authorization_code", "code": query["code"],
        "redirect_uri": REDIRECT_URI, "client_id": CLIENT_ID, "code_verifier": verifier})
    assert (status, body["error"]) == (400, "invalid_grant")

    # The same browser, a second sign-in: the IdP session answers without the login page.
    verifier, challenge = pkce_pair()
    page.goto(f"{live_server}/oidc/authorize?{authorize_query(challenge)}")
    assert page.url.startswith(f"{REDIRECT_URI}?") and len(callback_app.queries) == 2
    second = redeem(live_server, callback_app.queries[-1]["code"], verifier)
    assert verify(second["id_token"], keys, audience=CLIENT_ID, issuer=issuer)["sub"] == "bob"


def test_carol_needs_her_one_time_code(live_server: str, page: Any,
                                       callback_app: CallbackApp):
    verifier, challenge = pkce_pair()
    query = sign_in(page, live_server, "carol", challenge, callback_app,
                    otp_secret=CAROL_SECRET)
    tokens = redeem(live_server, query["code"], verifier)
    keys = get_json(f"{live_server}/oidc/jwks")
    claims = verify(tokens["id_token"], keys, audience=CLIENT_ID, issuer=f"{live_server}/oidc")
    assert claims["sub"] == "carol" and claims["amr"] == ["pwd", "otp", "mfa"]


def test_an_unregistered_redirect_uri_shows_a_page_and_goes_nowhere(live_server: str,
                                                                     page: Any):
    _, challenge = pkce_pair()
    left: list[str] = []
    page.on("request", lambda r: left.append(r.url)
            if urlsplit(r.url).hostname == "evil.example" else None)
    query = authorize_query(challenge, redirect_uri="https://evil.example/callback")
    response = page.goto(f"{live_server}/oidc/authorize?{query}")
    assert response is not None and response.status == 400
    assert page.text_content("#error-title") == "Sign-in request refused"
    assert page.url.startswith(f"{live_server}/oidc/authorize") and left == []
