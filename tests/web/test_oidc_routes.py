"""The OpenID Connect provider over HTTP (in-process): discovery, keys, the code flow through
the real login form, the token and UserInfo endpoints, and every refusal.

Tokens are checked independently: PyJWT against the JWK Set fetched from ``/oidc/jwks``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from starlette.testclient import TestClient

from idp.clock import FixedClock
from tests.oidc.support import (
    CLIENT_ID,
    REDIRECT_URI,
    SECRET,
    SECRET_CLIENT,
    SECRET_REDIRECT,
    authorize_query,
    pkce_pair,
    query_of,
    verify,
    with_confidential_client,
)
from tests.support.demo import BASE_URL, CAROL_SECRET, edited_demo
from tests.support.http import csrf, pending_id

ISSUER = f"{BASE_URL}/oidc"
USERINFO = f"{ISSUER}/userinfo"


@pytest.fixture
def oidc_client(client_factory: Callable[..., TestClient]) -> TestClient:
    """The app on the demo directory plus the confidential client ``backend-app``."""
    return client_factory(directory_override=edited_demo(with_confidential_client))


def to_callback(client: TestClient, response: Any) -> str:
    """Follow the IdP's own redirects; the URL of the first one that leaves it."""
    for _ in range(10):
        assert response.status_code in (302, 303), (response.status_code, response.text[:600])
        location = response.headers["location"]
        if location.startswith(("http://", "https://")) and not location.startswith(BASE_URL):
            return str(location)
        response = client.get(location, follow_redirects=False)
    raise AssertionError("too many redirects")


def sign_in(client: TestClient, query: str, user: str = "bob",
            otp: Callable[[], str] | None = None) -> str:
    """An authorization request, the login page (password, then a one-time code if asked)
    unless the browser is signed in already: the callback URL the browser is sent to."""
    first = client.get(f"/oidc/authorize?{query}", follow_redirects=False)
    if first.status_code == 302:
        return str(first.headers["location"])
    assert first.status_code == 303, first.text[:600]
    assert first.headers["location"].startswith("/idp/login?pending=")
    page = client.get(first.headers["location"])
    assert page.status_code == 200
    data = {"username": user, "password": f"{user}-password",
            "pending": pending_id(first.headers["location"]), "csrf_token": csrf(page.text)}
    posted = client.post("/idp/login", data=data, follow_redirects=False)
    if otp is not None:
        assert posted.status_code == 401 and 'name="otp"' in posted.text
        posted = client.post("/idp/login", follow_redirects=False, data={
            "otp": otp(), "pending": data["pending"], "csrf_token": csrf(posted.text)})
    return to_callback(client, posted)


def redeem(client: TestClient, code: str, verifier: str | None, *,
           redirect_uri: str = REDIRECT_URI, client_id: str | None = CLIENT_ID,
           auth: tuple[str, str] | None = None, **extra: str) -> Any:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            **extra}
    if client_id is not None:
        form["client_id"] = client_id
    if verifier is not None:
        form["code_verifier"] = verifier
    return client.post("/oidc/token", data=form, auth=auth)


def jwks(client: TestClient) -> dict[str, Any]:
    response = client.get("/oidc/jwks")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    keys: dict[str, Any] = response.json()
    return keys


def code_for(client: TestClient, user: str = "bob", **overrides: str | None
             ) -> tuple[str, str, dict[str, str]]:
    """(code, verifier, callback query) from a full sign-in as ``user``."""
    verifier, challenge = pkce_pair()
    callback = sign_in(client, authorize_query(challenge, **overrides), user)
    query = query_of(callback)
    return query["code"], verifier, query


def error_of(response: Any) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error", "error_description"}, body
    assert response.headers["cache-control"] == "no-store"
    return response.status_code, body["error"]


# --- discovery and keys ----------------------------------------------------------------------


def test_discovery_document_names_the_endpoints_and_what_is_supported(client: TestClient):
    response = client.get("/oidc/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    meta = response.json()
    assert meta["issuer"] == ISSUER
    assert meta["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert meta["token_endpoint"] == f"{ISSUER}/token"
    assert meta["userinfo_endpoint"] == USERINFO
    assert meta["jwks_uri"] == f"{ISSUER}/jwks"
    assert meta["response_types_supported"] == ["code"]
    assert meta["subject_types_supported"] == ["public"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["grant_types_supported"] == ["authorization_code"]
    assert set(meta["scopes_supported"]) == {"openid", "profile", "email", "groups"}
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "none", "client_secret_basic", "client_secret_post"}
    assert {"sub", "email", "groups", "nonce", "amr"} <= set(meta["claims_supported"])


def test_jwks_lists_the_signing_key_as_an_rsa_public_key(client: TestClient):
    keys = jwks(client)["keys"]
    assert len(keys) == 1
    (key,) = keys
    assert key["kty"] == "RSA" and key["use"] == "sig" and key["alg"] == "RS256"
    assert "d" not in key and "p" not in key  # public members only
    assert key["kid"]


# --- the code flow ---------------------------------------------------------------------------


def test_code_flow_with_pkce_gives_tokens_pyjwt_verifies(client: TestClient):
    verifier, challenge = pkce_pair()
    first = client.get(f"/oidc/authorize?{authorize_query(challenge)}",
                       follow_redirects=False)
    page = client.get(first.headers["location"])
    assert "Sample web app" in page.text  # the client's registered name on the login page
    policy = page.headers["content-security-policy"]
    assert "form-action 'self' http://127.0.0.1:8765" in policy
    callback = sign_in(client, authorize_query(challenge))
    assert callback.startswith(f"{REDIRECT_URI}?")
    query = query_of(callback)
    assert set(query) == {"code", "state", "iss"}
    assert query["state"] == "st-123" and query["iss"] == ISSUER
    assert "bob" not in query["code"]  # sealed: nothing readable in the URL

    response = redeem(client, query["code"], verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "id_token", "scope"}
    assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 3600
    assert body["scope"] == "openid profile email groups"
    keys = jwks(client)
    claims = verify(body["id_token"], keys, audience=CLIENT_ID, issuer=ISSUER)
    assert claims["sub"] == "bob" and claims["azp"] == CLIENT_ID
    assert claims["nonce"] == "n-456" and claims["amr"] == ["pwd"]
    assert claims["email"] == "bob@corp.example" and claims["email_verified"] is True
    assert claims["preferred_username"] == "bob" and claims["name"]
    assert isinstance(claims["groups"], list) and claims["groups"]
    assert claims["iat"] - 5 <= claims["auth_time"] <= claims["iat"]
    digest = hashlib.sha256(body["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    access = verify(body["access_token"], keys, audience=USERINFO, issuer=ISSUER,
                    typ="at+jwt")
    assert access["sub"] == "bob" and access["client_id"] == CLIENT_ID
    assert access["exp"] - access["iat"] == body["expires_in"]

    info = client.get("/oidc/userinfo",
                      headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    assert info.json() == {"sub": "bob", "name": claims["name"], "preferred_username": "bob",
                           "email": "bob@corp.example", "email_verified": True,
                           "groups": claims["groups"]}
    posted = client.post("/oidc/userinfo",
                         headers={"Authorization": f"bearer {body['access_token']}"})
    assert posted.json()["sub"] == "bob"


def test_claims_follow_the_granted_scopes_and_unknown_scopes_are_ignored(client: TestClient):
    code, verifier, _ = code_for(client, scope="openid offline_access email")
    body = redeem(client, code, verifier).json()
    assert body["scope"] == "openid email"
    claims = verify(body["id_token"], jwks(client), audience=CLIENT_ID, issuer=ISSUER)
    assert "email" in claims and "groups" not in claims and "name" not in claims
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer "
                                                 f"{body['access_token']}"}).json()
    assert set(info) == {"sub", "email", "email_verified"}


def test_carol_signs_in_with_password_and_one_time_code(client: TestClient, clock: FixedClock):
    verifier, challenge = pkce_pair()
    callback = sign_in(client, authorize_query(challenge), "carol",
                       otp=lambda: pyotp.TOTP(CAROL_SECRET).at(clock.now()))
    body = redeem(client, query_of(callback)["code"], verifier).json()
    claims = verify(body["id_token"], jwks(client), audience=CLIENT_ID, issuer=ISSUER)
    assert claims["sub"] == "carol" and claims["amr"] == ["pwd", "otp", "mfa"]


def test_a_signed_in_browser_gets_its_code_without_the_login_page(client: TestClient):
    code_for(client)
    verifier, challenge = pkce_pair()
    response = client.get(f"/oidc/authorize?{authorize_query(challenge, state='again')}",
                          follow_redirects=False)
    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["state"] == "again"
    assert redeem(client, query["code"], verifier).status_code == 200


def test_prompt_none_without_a_session_is_login_required(client: TestClient):
    _, challenge = pkce_pair()
    response = client.get(f"/oidc/authorize?{authorize_query(challenge, prompt='none')}",
                          follow_redirects=False)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(f"{REDIRECT_URI}?")
    query = query_of(location)
    assert query["error"] == "login_required" and query["state"] == "st-123"
    assert query["iss"] == ISSUER and "code" not in query


def test_prompt_none_with_a_session_answers_at_once(client: TestClient):
    code_for(client)
    _, challenge = pkce_pair()
    response = client.get(f"/oidc/authorize?{authorize_query(challenge, prompt='none')}",
                          follow_redirects=False)
    assert "code" in query_of(response.headers["location"])


def test_prompt_login_and_max_age_ask_again_and_the_new_login_counts(client: TestClient,
                                                                    clock: FixedClock):
    code_for(client)
    for extra in ({"prompt": "login"}, {"max_age": "60"}):
        clock.advance(120)
        verifier, challenge = pkce_pair()
        query = authorize_query(challenge, **extra)
        again = client.get(f"/oidc/authorize?{query}", follow_redirects=False)
        assert again.headers["location"].startswith("/idp/login?pending="), extra
        body = redeem(client, query_of(sign_in(client, query))["code"], verifier).json()
        claims = verify(body["id_token"], jwks(client), audience=CLIENT_ID, issuer=ISSUER,
                        leeway=300)
        assert claims["auth_time"] == int(clock.now().timestamp())
    _, challenge = pkce_pair()
    fresh_enough = client.get(f"/oidc/authorize?{authorize_query(challenge, max_age='60')}",
                              follow_redirects=False)
    assert "code" in query_of(fresh_enough.headers["location"])


def test_a_post_authorization_request_continues_as_a_get(client: TestClient):
    verifier, challenge = pkce_pair()
    response = client.post("/oidc/authorize", content=authorize_query(challenge), headers={
        "Content-Type": "application/x-www-form-urlencoded"}, follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location == f"/oidc/authorize?{authorize_query(challenge)}"
    code = query_of(sign_in(client, location.partition("?")[2]))["code"]
    assert redeem(client, code, verifier).status_code == 200


# --- refusals before the redirect URI is trusted: pages, never redirects ---------------------


@pytest.mark.parametrize("overrides", [
    {"client_id": "no-such-app"},
    {"client_id": None},
    {"redirect_uri": None},
    {"redirect_uri": "https://evil.example/callback"},
    {"redirect_uri": "http://127.0.0.1:8765/callback/"},
    {"redirect_uri": "http://127.0.0.1:8765/callback?x=1"},
    {"redirect_uri": "http://127.0.0.1:8765/callbackx"},
    {"redirect_uri": "https://127.0.0.1:8765/callback"},
    {"redirect_uri": "http://127.0.0.1:8765/CALLBACK"},
    {"redirect_uri": "http://127.0.0.1:8765@evil.example/callback"},
], ids=lambda o: f"{next(iter(o))}={next(iter(o.values()))}")
def test_unknown_client_or_unregistered_redirect_uri_is_a_page(client: TestClient,
                                                               overrides: dict[str, Any]):
    _, challenge = pkce_pair()
    response = client.get(f"/oidc/authorize?{authorize_query(challenge, **overrides)}",
                          follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "Sign-in request refused" in response.text
    assert "evil.example" not in response.text


def test_a_repeated_redirect_uri_is_a_page(client: TestClient):
    _, challenge = pkce_pair()
    query = authorize_query(challenge) + "&redirect_uri=https%3A%2F%2Fevil.example%2F"
    response = client.get(f"/oidc/authorize?{query}", follow_redirects=False)
    assert response.status_code == 400 and "location" not in response.headers


def test_an_oversized_query_is_a_page(client: TestClient):
    _, challenge = pkce_pair()
    response = client.get(f"/oidc/authorize?{authorize_query(challenge, ui_locales='x' * 9000)}",
                          follow_redirects=False)
    assert response.status_code == 400 and "location" not in response.headers


# --- refusals after: back to the client with error= ------------------------------------------


@pytest.mark.parametrize(("overrides", "error"), [
    ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge_method": None}, "invalid_request"),
    ({"code_challenge": "too-short"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": "code id_token"}, "unsupported_response_type"),
    ({"response_type": None}, "invalid_request"),
    ({"scope": "profile email"}, "invalid_scope"),
    ({"scope": None}, "invalid_scope"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"request_uri": "https://evil.example/r"}, "request_uri_not_supported"),
    ({"registration": "{}"}, "registration_not_supported"),
    ({"response_mode": "form_post"}, "invalid_request"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"prompt": "create"}, "invalid_request"),
    ({"max_age": "-1"}, "invalid_request"),
    ({"nonce": "n" * 256}, "invalid_request"),
    ({"nonce": "caf\u00e9"}, "invalid_request"),
])
def test_bad_requests_go_back_to_the_client_with_an_error(client: TestClient,
                                                          overrides: dict[str, Any], error: str):
    _, challenge = pkce_pair()
    response = client.get(f"/oidc/authorize?{authorize_query(challenge, **overrides)}",
                          follow_redirects=False)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(f"{REDIRECT_URI}?")
    query = query_of(location)
    assert query["error"] == error, query
    assert query["state"] == "st-123" and "code" not in query
    assert query["error_description"].isascii() and '"' not in query["error_description"]


def test_a_repeated_parameter_or_bad_state_is_invalid_request(client: TestClient):
    _, challenge = pkce_pair()
    repeated = client.get(f"/oidc/authorize?{authorize_query(challenge)}&scope=openid",
                          follow_redirects=False)
    assert query_of(repeated.headers["location"])["error"] == "invalid_request"
    long_state = client.get(f"/oidc/authorize?{authorize_query(challenge, state='s' * 513)}",
                            follow_redirects=False)
    query = query_of(long_state.headers["location"])
    assert query["error"] == "invalid_request" and "state" not in query  # never echoed


def test_an_empty_parameter_counts_as_absent(client: TestClient):
    """RFC 6749 §3.1: ``state=`` is no state (not an empty one echoed back)."""
    verifier, challenge = pkce_pair()
    query = query_of(sign_in(client, authorize_query(challenge, state="", ui_locales="")))
    assert "state" not in query and redeem(client, query["code"], verifier).status_code == 200


def test_resume_without_a_stashed_request_is_a_page(client: TestClient):
    response = client.get("/oidc/authorize/resume?pending=nope", follow_redirects=False)
    assert response.status_code == 400 and "location" not in response.headers


# --- the token endpoint ----------------------------------------------------------------------


def test_a_wrong_verifier_is_invalid_grant_and_does_not_burn_the_code(client: TestClient):
    code, verifier, _ = code_for(client)
    other, _ = pkce_pair()
    assert error_of(redeem(client, code, other)) == (400, "invalid_grant")
    assert error_of(redeem(client, code, None)) == (400, "invalid_grant")
    assert error_of(redeem(client, code, "short")) == (400, "invalid_grant")
    assert redeem(client, code, verifier).status_code == 200


def test_a_code_works_once_and_its_replay_revokes_the_access_token(client: TestClient):
    code, verifier, _ = code_for(client)
    first = redeem(client, code, verifier)
    assert first.status_code == 200
    bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
    assert client.get("/oidc/userinfo", headers=bearer).status_code == 200
    assert error_of(redeem(client, code, verifier)) == (400, "invalid_grant")
    revoked = client.get("/oidc/userinfo", headers=bearer)
    assert revoked.status_code == 401
    assert 'error="invalid_token"' in revoked.headers["www-authenticate"]


def test_a_code_is_bound_to_its_client_and_redirect_uri(oidc_client: TestClient):
    code, verifier, _ = code_for(oidc_client)
    wrong_uri = redeem(oidc_client, code, verifier, redirect_uri=REDIRECT_URI + "/")
    assert error_of(wrong_uri) == (400, "invalid_grant")
    other_client = redeem(oidc_client, code, verifier, redirect_uri=REDIRECT_URI,
                          client_id=None, auth=(SECRET_CLIENT, SECRET))
    assert error_of(other_client) == (400, "invalid_grant")
    assert redeem(oidc_client, code, verifier).status_code == 200  # still unused


def test_an_expired_code_is_invalid_grant(client: TestClient, clock: FixedClock):
    code, verifier, _ = code_for(client)
    clock.advance(61)
    assert error_of(redeem(client, code, verifier)) == (400, "invalid_grant")


def test_a_forged_or_mangled_code_is_invalid_grant(client: TestClient):
    code, verifier, _ = code_for(client)
    flipped = code[:-3] + ("A" if code[-3] != "A" else "B") + code[-2:]
    for bad in (flipped, "x", "A" * 200, code + "AA"):
        assert error_of(redeem(client, bad, verifier)) == (400, "invalid_grant")


@pytest.mark.parametrize(("form", "error"), [
    ({"grant_type": "password"}, "unsupported_grant_type"),
    ({"grant_type": None}, "invalid_request"),
    ({"code": None}, "invalid_request"),
    ({"redirect_uri": None}, "invalid_request"),
    ({"client_id": None}, "invalid_client"),
    ({"client_id": "no-such-app"}, "invalid_client"),
    ({"client_secret": "a public client has none"}, "invalid_client"),
])
def test_token_request_refusals(client: TestClient, form: dict[str, Any], error: str):
    code, verifier, _ = code_for(client)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "client_id": CLIENT_ID, "code_verifier": verifier, **form}
    response = client.post("/oidc/token", data={k: v for k, v in data.items() if v})
    assert error_of(response)[1] == error
    assert response.status_code == (401 if error == "invalid_client" else 400)


def test_token_requests_must_be_forms_without_repeats(client: TestClient):
    code, verifier, _ = code_for(client)
    as_json = client.post("/oidc/token", json={"grant_type": "authorization_code",
                                               "code": code})
    assert error_of(as_json) == (400, "invalid_request")
    body = (f"grant_type=authorization_code&code={code}&code={code}&client_id={CLIENT_ID}"
            f"&redirect_uri={REDIRECT_URI}&code_verifier={verifier}")
    repeated = client.post("/oidc/token", content=body, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert error_of(repeated) == (400, "invalid_request")
    assert client.get("/oidc/token").status_code == 405


# --- confidential clients --------------------------------------------------------------------


def confidential_code(client: TestClient, **overrides: str | None) -> str:
    query = authorize_query(None, client_id=SECRET_CLIENT, redirect_uri=SECRET_REDIRECT,
                            code_challenge_method=None, **overrides)
    callback = sign_in(client, query)
    assert callback.startswith(f"{SECRET_REDIRECT}&code="), callback  # its query is kept
    assert query_of(callback)["tenant"] == "1"
    return query_of(callback)["code"]


def test_confidential_client_authenticates_with_basic_or_post(oidc_client: TestClient):
    basic = redeem(oidc_client, confidential_code(oidc_client), None,
                   redirect_uri=SECRET_REDIRECT, client_id=None, auth=(SECRET_CLIENT, SECRET))
    assert basic.status_code == 200, basic.text
    claims = verify(basic.json()["id_token"], jwks(oidc_client), audience=SECRET_CLIENT,
                    issuer=ISSUER)
    assert claims["sub"] == "bob" and claims["azp"] == SECRET_CLIENT
    post = redeem(oidc_client, confidential_code(oidc_client), None,
                  redirect_uri=SECRET_REDIRECT, client_id=SECRET_CLIENT, client_secret=SECRET)
    assert post.status_code == 200, post.text


def test_basic_credentials_are_form_decoded(oidc_client: TestClient):
    """RFC 6749 §2.3.1: ID and secret are form-urlencoded before base64."""
    raw = base64.b64encode(f"{SECRET_CLIENT}:{SECRET.replace('-', '%2D')}".encode()).decode()
    response = oidc_client.post("/oidc/token", headers={"Authorization": f"Basic {raw}"},
                                data={"grant_type": "authorization_code",
                                      "code": confidential_code(oidc_client),
                                      "redirect_uri": SECRET_REDIRECT})
    assert response.status_code == 200, response.text


def test_confidential_client_refusals(oidc_client: TestClient):
    code = confidential_code(oidc_client)
    wrong = redeem(oidc_client, code, None, redirect_uri=SECRET_REDIRECT, client_id=None,
                   auth=(SECRET_CLIENT, "wrong"))
    assert error_of(wrong) == (401, "invalid_client")
    assert wrong.headers["www-authenticate"] == f'Basic realm="{ISSUER}"'
    missing = redeem(oidc_client, code, None, redirect_uri=SECRET_REDIRECT,
                     client_id=SECRET_CLIENT)
    assert error_of(missing) == (401, "invalid_client")
    assert "www-authenticate" not in missing.headers
    both = redeem(oidc_client, code, None, redirect_uri=SECRET_REDIRECT, client_id=None,
                  auth=(SECRET_CLIENT, SECRET), client_secret=SECRET)
    assert error_of(both) == (400, "invalid_request")
    mismatch = redeem(oidc_client, code, None, redirect_uri=SECRET_REDIRECT,
                      client_id=CLIENT_ID, auth=(SECRET_CLIENT, SECRET))
    assert error_of(mismatch) == (400, "invalid_request")
    not_basic = oidc_client.post("/oidc/token", headers={"Authorization": "Basic %%%"},
                                 data={"grant_type": "authorization_code", "code": code})
    assert error_of(not_basic) == (401, "invalid_client")
    verifier, _ = pkce_pair()
    downgrade = redeem(oidc_client, code, verifier, redirect_uri=SECRET_REDIRECT,
                       client_id=None, auth=(SECRET_CLIENT, SECRET))
    assert error_of(downgrade) == (400, "invalid_grant")  # no challenge, so no verifier
    good = redeem(oidc_client, code, None, redirect_uri=SECRET_REDIRECT, client_id=None,
                  auth=(SECRET_CLIENT, SECRET))
    assert good.status_code == 200  # none of the refusals used the code up


def test_a_confidential_client_may_use_pkce_too(oidc_client: TestClient):
    verifier, challenge = pkce_pair()
    query = authorize_query(challenge, client_id=SECRET_CLIENT, redirect_uri=SECRET_REDIRECT)
    code = query_of(sign_in(oidc_client, query))["code"]
    no_verifier = redeem(oidc_client, code, None, redirect_uri=SECRET_REDIRECT,
                         client_id=None, auth=(SECRET_CLIENT, SECRET))
    assert error_of(no_verifier) == (400, "invalid_grant")
    assert redeem(oidc_client, code, verifier, redirect_uri=SECRET_REDIRECT, client_id=None,
                  auth=(SECRET_CLIENT, SECRET)).status_code == 200


# --- UserInfo --------------------------------------------------------------------------------


def tokens(client: TestClient) -> dict[str, Any]:
    code, verifier, _ = code_for(client)
    body: dict[str, Any] = redeem(client, code, verifier).json()
    return body


def test_userinfo_without_a_bearer_token_asks_for_one(client: TestClient):
    for headers in ({}, {"Authorization": "Basic Ym9iOnB3"}):
        response = client.get("/oidc/userinfo", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == f'Bearer realm="{ISSUER}"'


def test_userinfo_refuses_what_is_not_its_access_token(client: TestClient, clock: FixedClock):
    body = tokens(client)
    workload = client.app.state.runtime.services.oidc.workload_token(  # type: ignore[attr-defined]
        "bob", USERINFO, claims={"scope": "openid", "jti": "x"})
    bad = ["garbage", "a.b.c", body["id_token"], workload, body["access_token"][:-4] + "AAAA",
           "x" * 9000]
    for token in bad:
        response = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token[:40]
        assert response.headers["www-authenticate"].startswith(
            f'Bearer realm="{ISSUER}", error="invalid_token"')
        assert response.json()["error"] == "invalid_token"
    clock.advance(601)
    expired = client.get("/oidc/userinfo",
                         headers={"Authorization": f"Bearer {body['access_token']}"})
    assert expired.status_code == 401 and "expired" in expired.json()["error_description"]


def test_login_page_for_saml_keeps_its_own_form_action(client: TestClient):
    page = client.get("/idp/init", follow_redirects=True)
    assert "/idp/login" in str(page.url)
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert "8765" not in page.headers["content-security-policy"]


def test_the_callback_never_leaves_for_an_unregistered_host(client: TestClient):
    """Whatever the query, every redirect the endpoint makes goes to the registered URI."""
    _, challenge = pkce_pair()
    for query in (authorize_query(challenge, response_type="token"),
                  authorize_query(challenge, prompt="none"),
                  authorize_query(challenge, scope="x")):
        response = client.get(f"/oidc/authorize?{query}", follow_redirects=False)
        target = urlsplit(response.headers["location"])
        assert (target.scheme, target.netloc, target.path) == ("http", "127.0.0.1:8765",
                                                               "/callback")
