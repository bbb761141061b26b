"""``idp.web.sign_in_hosts``: requests for AWS sign-in hosts (what the CONNECT proxy tunnels to
the TLS listener) reach the console twin at ``/saml``; nothing else is served there; every
other host is untouched. Through the real app in-process, and as bare ASGI middleware."""

from __future__ import annotations

import re
from typing import Any

import pytest

from idp.web.sign_in_hosts import SignInHosts
from tests.support import builders
from tests.support.asgi import run
from tests.support.demo import ADMIN, BASE_URL
from tests.support.saml import respond

CONSOLE_HOME = "/aws/console"
SIGN_IN = "https://signin.aws.amazon.com"


@pytest.fixture
def alice_saml(settings, directory, keypair, clock) -> str:
    """alice's genuine Response (three roles: the console asks which one)."""
    return respond(builders.identity_provider(settings, directory, keypair, clock),
                   "alice").saml_value


@pytest.mark.parametrize("url", [
    f"{SIGN_IN}/saml",
    f"{SIGN_IN}/static/saml",
    f"{SIGN_IN}:443/saml",
    "https://eu-west-1.signin.aws.amazon.com/saml",
    "https://us-east-2.signin.aws.amazon.com/static/saml",
    "https://signin.amazonaws-us-gov.com/saml",
    "https://signin.amazonaws.cn/saml",
    "https://SIGNIN.AWS.Amazon.com/saml",
    "https://signin.aws.amazon.com./saml",
    f"{SIGN_IN}/saml?ignored=1",
])
def test_saml_on_a_sign_in_host_is_the_console_twin(client, bob_saml, url):
    """bob (one role) is signed in to the console: 303 to the console with its cookie."""
    response = client.post(url, data={"SAMLResponse": bob_saml}, follow_redirects=False)
    assert response.status_code == 303, response.text[:500]
    assert response.headers["location"] == CONSOLE_HOME
    assert "aws_console=" in response.headers["set-cookie"]


def test_a_user_with_several_roles_gets_the_role_page_there(client, alice_saml):
    response = client.post(f"{SIGN_IN}/saml", data={"SAMLResponse": alice_saml},
                           follow_redirects=False)
    assert response.status_code == 200
    assert ADMIN in response.text and "roleIndex" in response.text


def test_a_refused_response_there_gets_the_console_twins_error_page(client, bob_saml):
    response = client.post(f"{SIGN_IN}/saml", data={"SAMLResponse": bob_saml[:-8] + "AAAAAAA="})
    assert response.status_code == 400
    assert "SAML" in response.text


def test_the_assertion_is_used_once_at_the_console_whichever_host_it_came_by(client, bob_saml):
    first = client.post(f"{SIGN_IN}/saml", data={"SAMLResponse": bob_saml},
                        follow_redirects=False)
    assert first.status_code == 303
    again = client.post(f"{BASE_URL}/aws/saml", data={"SAMLResponse": bob_saml},
                        follow_redirects=False)
    assert again.status_code >= 400


def test_after_signing_in_on_the_sign_in_host_the_console_redirect_works(client, bob_saml):
    """A browser that posted to https://signin.aws.amazon.com/saml follows the 303 on that
    same origin (the Location is relative) and must land on the console page, not a 404."""
    posted = client.post(f"{SIGN_IN}/saml", data={"SAMLResponse": bob_saml},
                         follow_redirects=False)
    assert posted.status_code == 303
    console = client.get(SIGN_IN + posted.headers["location"], follow_redirects=False)
    assert console.status_code == 200, console.text[:300]
    assert "ReadOnly" in console.text


def test_choosing_a_role_on_the_sign_in_hosts_role_page_signs_in(client, alice_saml):
    """The role page served on the sign-in host posts its form back to that origin: the
    choice must reach the console twin there."""
    page = client.post(f"{SIGN_IN}/saml", data={"SAMLResponse": alice_saml})
    assert page.status_code == 200
    action = re.search(r'<form[^>]*action="([^"]*)"', page.text)
    assert action is not None
    target = action[1] if action[1].startswith("https://") else SIGN_IN + action[1]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    chosen = client.post(target, data={**fields, "SAMLResponse": alice_saml,
                                       "roleIndex": ADMIN}, follow_redirects=False)
    assert chosen.status_code == 303, chosen.text[:300]


@pytest.mark.parametrize("path", [
    "/", "/other", "/saml/", "/SAML", "/static/saml/x", "/saml2", "/idp/metadata", "/idp/init",
    "/aws/sts", "/healthz", "/api/users", "/static/", "/%2fsaml",
])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_nothing_else_is_served_on_a_sign_in_host(client, path, method):
    response = client.request(method, f"{SIGN_IN}{path}")
    assert response.status_code == 404
    assert "Only /saml is served on AWS sign-in hosts" in response.text


def test_the_idp_is_not_reachable_under_a_sign_in_host_name(client):
    """The metadata (and its entityID) are only served under the IdP's own name."""
    assert client.get(f"{BASE_URL}/idp/metadata").status_code == 200
    assert client.get("https://eu-west-1.signin.aws.amazon.com/idp/metadata").status_code == 404


def test_get_saml_on_a_sign_in_host_is_the_twins_answer(client):
    """Only POST /aws/saml exists: GET there is 405, exactly as on the IdP's own host."""
    assert client.get(f"{SIGN_IN}/saml").status_code == 405
    assert client.get(f"{BASE_URL}/aws/saml").status_code == 405


@pytest.mark.parametrize("url", [
    f"{BASE_URL}/saml",
    "https://console.aws.amazon.com/saml",
    "https://evil-signin.aws.amazon.com/saml",
    "https://signin.aws.amazon.com.evil.example/saml",
    "https://xsignin.aws.amazon.com/saml",
    "https://signin.amazonaws.com/saml",
])
def test_other_hosts_have_no_saml_path(client, bob_saml, url):
    """Only the sign-in hosts map /saml: elsewhere it is the app's ordinary 404."""
    response = client.post(url, data={"SAMLResponse": bob_saml}, follow_redirects=False)
    assert response.status_code == 404
    assert "Only /saml is served" not in response.text


def test_other_hosts_are_untouched(client, bob_saml):
    assert client.get(f"{BASE_URL}/healthz").status_code == 200
    assert client.get("https://console.aws.amazon.com/healthz").status_code == 200
    response = client.post(f"{BASE_URL}/aws/saml", data={"SAMLResponse": bob_saml},
                           follow_redirects=False)
    assert response.status_code == 303


# --- the middleware alone --------------------------------------------------------------------


class Recorder:
    """An ASGI app that remembers the scopes it was called with and answers 200."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope, receive, send) -> None:
        self.scopes.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"inner"})


def call(scope: dict[str, Any]) -> tuple[Recorder, list[dict[str, Any]]]:
    inner, sent = Recorder(), []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    run(lambda: SignInHosts(inner)(scope, receive, send))
    return inner, sent


def http_scope(path: str, host: bytes | None, **extra: Any) -> dict[str, Any]:
    headers = [(b"host", host)] if host is not None else []
    return {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
            "query_string": b"a=1", "headers": headers, **extra}


def test_the_inner_app_sees_the_console_path_and_raw_path():
    inner, sent = call(http_scope("/static/saml", b"signin.aws.amazon.com:8443"))
    (scope,) = inner.scopes
    assert scope["path"] == "/aws/saml" and scope["raw_path"] == b"/aws/saml"
    assert scope["query_string"] == b"a=1" and scope["method"] == "POST"
    assert sent[0]["status"] == 200


def test_the_callers_scope_is_not_changed():
    original = http_scope("/saml", b"signin.aws.amazon.com")
    call(original)
    assert original["path"] == "/saml" and original["raw_path"] == b"/saml"


@pytest.mark.parametrize("host", [None, b"", b"idp.test", b"127.0.0.1:8443", b"[::1]:8443",
                                  b"[::1]", b"localhost"])
def test_requests_for_other_hosts_pass_unchanged(host):
    scope = http_scope("/saml", host)
    inner, _sent = call(scope)
    assert inner.scopes == [scope]


def test_a_refusal_never_reaches_the_inner_app():
    inner, sent = call(http_scope("/idp/metadata", b"signin.aws.amazon.com"))
    assert inner.scopes == []
    assert sent[0]["status"] == 404


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
def test_non_http_scopes_pass_unchanged(kind):
    scope = {"type": kind, "path": "/other", "headers": [(b"host", b"signin.aws.amazon.com")]}
    inner, _sent = call(scope)
    assert inner.scopes == [scope]
