"""Client authentication at the token endpoint and the CSP origin of redirect URIs."""

from __future__ import annotations

import base64

import pytest

from idp.directory import Directory
from idp.oidc.clients import ClientCredentials, authenticate, basic_credentials, csp_origin
from idp.oidc.errors import OAuthError, wire_text
from tests.oidc.support import CLIENT_ID, SECRET, SECRET_CLIENT, with_confidential_client
from tests.support.demo import edited_demo


@pytest.fixture(scope="module")
def clients() -> Directory:
    return edited_demo(with_confidential_client)


def basic(value: str) -> str:
    return "Basic " + base64.b64encode(value.encode()).decode()


def test_basic_credentials_are_form_decoded():
    assert basic_credentials(basic("my%3Aapp:p%40ss+word")) == ("my:app", "p@ss word")
    assert basic_credentials(basic("app:")) == ("app", "")
    assert basic_credentials("basic " + basic("a:b")[6:]) == ("a", "b")


@pytest.mark.parametrize("header", ["Bearer abc", "Basic", "Basic !!!", basic("no-colon"),
                                    basic(":secret"), "Basic " + base64.b64encode(
                                        b"\xff:x").decode(), basic("a" * 300 + ":x")])
def test_malformed_basic_credentials_are_invalid_client(header: str):
    with pytest.raises(OAuthError) as caught:
        basic_credentials(header)
    assert caught.value.error == "invalid_client" and caught.value.http_status == 401


def test_a_confidential_client_proves_its_secret(clients: Directory):
    by_basic = authenticate(clients, ClientCredentials(basic=(SECRET_CLIENT, SECRET)))
    by_post = authenticate(clients, ClientCredentials(client_id=SECRET_CLIENT,
                                                      client_secret=SECRET))
    assert by_basic.client_id == by_post.client_id == SECRET_CLIENT
    assert authenticate(clients, ClientCredentials(client_id=CLIENT_ID)).public
    assert authenticate(clients, ClientCredentials(basic=(CLIENT_ID, ""))).public


@pytest.mark.parametrize(("credentials", "error"), [
    (ClientCredentials(), "invalid_client"),
    (ClientCredentials(client_id=SECRET_CLIENT), "invalid_client"),
    (ClientCredentials(client_id=SECRET_CLIENT, client_secret="wrong"), "invalid_client"),
    (ClientCredentials(basic=(SECRET_CLIENT, SECRET.upper())), "invalid_client"),
    (ClientCredentials(client_id="ghost", client_secret=SECRET), "invalid_client"),
    (ClientCredentials(client_id=CLIENT_ID, client_secret="x"), "invalid_client"),
    (ClientCredentials(basic=(CLIENT_ID, "x")), "invalid_client"),
    (ClientCredentials(client_id="c" * 256), "invalid_client"),
    (ClientCredentials(basic=(SECRET_CLIENT, SECRET), client_secret=SECRET), "invalid_request"),
    (ClientCredentials(basic=(SECRET_CLIENT, SECRET), client_id=CLIENT_ID), "invalid_request"),
])
def test_authentication_refusals(clients: Directory, credentials: ClientCredentials,
                                 error: str):
    with pytest.raises(OAuthError) as caught:
        authenticate(clients, credentials)
    assert caught.value.error == error


@pytest.mark.parametrize(("uri", "origin"), [
    ("http://127.0.0.1:8765/callback", "http://127.0.0.1:8765"),
    ("https://app.example/cb?x=1", "https://app.example"),
    ("https://[::1]:8443/cb", "https://[::1]:8443"),
    ("https://user@app.example/cb", None),
    ("https://app.example;script-src:*/cb", None),
    ("javascript:alert(1)", None),
    ("https://app example/cb", None),
])
def test_csp_origin_is_a_plain_source_or_nothing(uri: str, origin: str | None):
    assert csp_origin(uri) == origin


def test_error_descriptions_are_wire_safe():
    assert wire_text('a "quoted" \\ é\n') == "a ?quoted? ? ??"
    assert len(wire_text("x" * 1000)) == 300
    assert OAuthError("invalid_token", "x").http_status == 401
    assert OAuthError("insufficient_scope", "x").http_status == 403
    assert OAuthError("invalid_grant", "x").payload() == {"error": "invalid_grant",
                                                       "error_description": "x"}
