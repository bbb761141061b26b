"""``idp.web.headers``: defaults on every response, never overriding what a route set."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from idp.web.headers import DEFAULT_HEADERS, SecurityHeaders, page_policy


def app_with(headers: dict[str, str]) -> TestClient:
    async def endpoint(request):
        return PlainTextResponse("ok", headers=headers)

    app = Starlette(routes=[Route("/", endpoint)])
    app.add_middleware(SecurityHeaders)
    return TestClient(app)


def test_every_default_is_added():
    response = app_with({}).get("/")
    for name, value in DEFAULT_HEADERS.items():
        assert response.headers[name] == value


def test_a_route_s_own_value_wins_and_is_not_doubled():
    response = app_with({"Cache-Control": "max-age=60", "Referrer-Policy": "origin"}).get("/")
    assert response.headers.get_list("cache-control") == ["max-age=60"]
    assert response.headers["referrer-policy"] == "origin"
    assert response.headers["x-frame-options"] == "DENY"


def test_page_policy_pins_scripts_to_the_nonce_and_forms_to_the_site():
    policy = page_policy("abc")
    assert "script-src 'nonce-abc'" in policy
    assert "form-action 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "form-action" not in page_policy("abc", form_action=None)


def test_every_route_of_the_service_sends_them(client):
    """Pages, redirects, errors, XML: all carry the defaults (HTML pages their own CSP)."""
    for method, path in (("GET", "/healthz"), ("GET", "/idp/metadata"), ("GET", "/idp/init"),
                         ("GET", "/idp/login"), ("GET", "/idp/logout"), ("GET", "/nowhere"),
                         ("POST", "/aws/sts"), ("GET", "/aws/console"),
                         ("POST", "/aws/saml")):
        response = client.request(method, path, follow_redirects=False)
        assert response.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert "no-store" in response.headers["cache-control"], path


def test_the_unexpected_error_page_carries_them_too(client_factory):
    """A bug's 500 page is answered outside the middleware stack; it still has them."""
    client = client_factory()

    async def boom(request):
        raise RuntimeError("a bug")

    client.app.router.routes.append(Route("/boom", boom))
    response = TestClient(client.app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500
    for name, value in DEFAULT_HEADERS.items():
        if name != "Content-Security-Policy":
            assert response.headers[name] == value
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "a bug" not in response.text
