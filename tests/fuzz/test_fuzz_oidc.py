"""The OpenID Connect endpoints under random input: /oidc/authorize (GET and POST, and its
resume step), /oidc/token and /oidc/userinfo never answer 5xx, and the authorization endpoint
never redirects anywhere but the registered redirect URI.

Inputs mix valid values (the demo client, its redirect URI, a genuine code and access token,
PKCE values) with junk, repeats, empty values and raw bodies, so the checks behind the first
ones are reached.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.fuzz.test_fuzz_http import (  # noqa: F401  (_capture_crashes: autouse fixture)
    _capture_crashes,
    check,
    fresh,
    hosts,
    http_safe,
    values,
)
from tests.fuzz.test_fuzz_parsers import FEWER, maybe
from tests.oidc.support import CLIENT_ID, REDIRECT_URI, authorize_query, pkce_pair, query_of
from tests.support.http import csrf, pending_id

VERIFIER, CHALLENGE = pkce_pair()
#: Printable ASCII (what a header value can carry).
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120)


@pytest.fixture(scope="module")
def genuine(fuzz_client: TestClient) -> Iterator[dict[str, str]]:
    """Codes and tokens the provider issued: ``code`` (redeemed), ``unused_code``, and the
    tokens of a third code the token fuzzing never sees (a replayed code revokes its tokens)."""
    client = fresh(fuzz_client)
    first = client.get(f"/oidc/authorize?{authorize_query(CHALLENGE)}", follow_redirects=False)
    page = client.get(first.headers["location"])
    done = client.post("/idp/login", follow_redirects=False, data={
        "username": "bob", "password": "bob-password", "csrf_token": csrf(page.text),
        "pending": pending_id(first.headers["location"])})
    callback = client.get(done.headers["location"], follow_redirects=False)
    codes = [query_of(callback.headers["location"])["code"]]
    for _ in range(2):
        again = client.get(f"/oidc/authorize?{authorize_query(CHALLENGE)}",
                           follow_redirects=False)
        codes.append(query_of(again.headers["location"])["code"])

    def redeem(code: str) -> dict[str, str]:
        body: dict[str, str] = client.post("/oidc/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "client_id": CLIENT_ID, "code_verifier": VERIFIER}).json()
        return body

    redeem(codes[0])
    tokens = redeem(codes[2])
    yield {"code": codes[0], "unused_code": codes[1], "access_token": tokens["access_token"],
           "id_token": tokens["id_token"]}
    fuzz_client.cookies.clear()


def mutated(token: str) -> st.SearchStrategy[str]:
    """``token`` as is, cut, with a character changed, or with junk added."""
    def flip(index: int) -> str:
        if not token:
            return token
        i = index % len(token)
        return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]

    return st.one_of(st.just(token), st.integers(0, 4000).map(lambda n: token[:n]),
                     st.integers(0, 4000).map(flip), values.map(lambda junk: token + junk))


AUTHORIZE_VALUES: dict[str, st.SearchStrategy[str]] = {
    "response_type": st.sampled_from(["code", "token", "code id_token", "", "CODE"]),
    "client_id": st.sampled_from([CLIENT_ID, CLIENT_ID, "nope", "", CLIENT_ID + " "]),
    "redirect_uri": st.sampled_from([REDIRECT_URI, REDIRECT_URI, REDIRECT_URI + "/",
                                     "https://evil.example/", "//evil.example", "javascript:x"]),
    "scope": st.sampled_from(["openid", "openid profile email groups", "profile", "openid x",
                              "openid\x00"]),
    "state": st.sampled_from(["s", "a" * 600, "\u00e9", "%00"]),
    "nonce": st.sampled_from(["n", "n" * 300, "\n"]),
    "code_challenge": st.sampled_from([CHALLENGE, CHALLENGE[:-1], "=" * 43]),
    "code_challenge_method": st.sampled_from(["S256", "plain", "s256"]),
    "prompt": st.sampled_from(["none", "login", "consent select_account", "none login", "x"]),
    "max_age": st.sampled_from(["0", "60", "-1", "99999999999", "1.5"]),
    "response_mode": st.sampled_from(["query", "fragment", "form_post"]),
    "request": st.just("eyJhbGciOiJub25lIn0.e30."),
    "request_uri": st.just("https://evil.example/r"),
    "id_token_hint": header_text,
}
authorize_pairs = st.lists(
    st.sampled_from(sorted(AUTHORIZE_VALUES)).flatmap(
        lambda name: st.tuples(st.just(name), AUTHORIZE_VALUES[name] | values)),
    max_size=14,
).map(lambda pairs: [("response_type", "code"), ("client_id", CLIENT_ID),
                     ("redirect_uri", REDIRECT_URI), ("scope", "openid"),
                     ("code_challenge", CHALLENGE), ("code_challenge_method", "S256"),
                     *pairs])


def leaves_only_for_the_registered_uri(response: Any) -> None:
    location = response.headers.get("location")
    if location is None or location.startswith("/"):
        return
    target = urlsplit(location)
    assert (target.scheme, target.netloc, target.path) == ("http", "127.0.0.1:8765",
                                                           "/callback"), location


@given(data=st.data())
def test_authorize_never_5xx_and_never_redirects_elsewhere(fuzz_client: TestClient,
                                                           data: st.DataObject) -> None:
    pairs: list[tuple[str, str]] = data.draw(authorize_pairs, label="params")
    if data.draw(st.booleans(), label="drop a required one?"):
        drop = data.draw(st.integers(0, 5), label="drop")
        pairs = pairs[:drop] + pairs[drop + 1:]
    pairs = [(name, http_safe(value)) for name, value in pairs]
    host = data.draw(hosts, label="Host")
    client = fresh(fuzz_client)
    if data.draw(st.integers(0, 3), label="POST?") == 0:
        response = client.post("/oidc/authorize", content=urlencode(pairs), headers={
            "host": host, "content-type": "application/x-www-form-urlencoded"},
            follow_redirects=False)
    else:
        response = client.get(f"/oidc/authorize?{urlencode(pairs)}", headers={"host": host},
                              follow_redirects=False)
    check(response)
    leaves_only_for_the_registered_uri(response)


@FEWER
@given(pending=values, cookie=maybe(header_text.map(lambda t: t.replace(";", ""))),
       host=hosts)
def test_resume_never_5xx(fuzz_client: TestClient, pending: str, cookie: str | None,
                          host: str) -> None:
    client = fresh(fuzz_client)
    if cookie is not None:
        client.cookies.set("idp_session", cookie)
    response = client.get("/oidc/authorize/resume", params={"pending": http_safe(pending)},
                          headers={"host": host}, follow_redirects=False)
    check(response)
    leaves_only_for_the_registered_uri(response)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@given(data=st.data())
def test_token_never_5xx(fuzz_client: TestClient, genuine: dict[str, str],
                         data: st.DataObject) -> None:
    form = data.draw(st.fixed_dictionaries({}, optional={
        "grant_type": st.sampled_from(["authorization_code"] * 3 + ["refresh_token", ""])
        | values,
        "code": mutated(genuine["unused_code"]) | mutated(genuine["code"]) | values,
        "redirect_uri": st.sampled_from([REDIRECT_URI] * 3 + [REDIRECT_URI + "/"]) | values,
        "client_id": st.sampled_from([CLIENT_ID] * 3 + ["backend", ""]) | values,
        "code_verifier": st.sampled_from([VERIFIER] * 2 + ["x" * 43, "x" * 200]) | values,
        "client_secret": values,
    }), label="form")
    form = {k: http_safe(v) for k, v in form.items()}
    headers = {"host": data.draw(hosts, label="Host")}
    auth = data.draw(maybe(st.sampled_from([basic(CLIENT_ID, ""), basic("nope", "x"),
                                            "Basic !!!", "Bearer x"]) | header_text),
                     label="Authorization")
    if auth is not None:
        headers["authorization"] = auth
    client = fresh(fuzz_client)
    shape = data.draw(st.integers(0, 5), label="shape")
    if shape == 0:
        body = data.draw(st.binary(max_size=300), label="raw body")
        response = client.post("/oidc/token", content=body, headers={
            **headers, "content-type": "application/x-www-form-urlencoded"})
    elif shape == 1:
        response = client.post("/oidc/token", json=form, headers=headers)
    else:
        repeat = data.draw(maybe(st.sampled_from(sorted(form) or ["code"])), label="repeat")
        pairs = list(form.items()) + ([(repeat, form.get(repeat, "x"))] if repeat else [])
        response = client.post("/oidc/token", content=urlencode(pairs), headers={
            **headers, "content-type": "application/x-www-form-urlencoded"})
    check(response)
    if response.status_code != 200:
        assert set(response.json()) == {"error", "error_description"}


@given(data=st.data())
def test_userinfo_never_5xx(fuzz_client: TestClient, genuine: dict[str, str],
                            data: st.DataObject) -> None:
    token = data.draw(mutated(genuine["access_token"]) | mutated(genuine["id_token"])
                      | header_text, label="token")
    scheme = data.draw(st.sampled_from(["Bearer ", "bearer ", "Bearer  ", "Basic ", "",
                                        "Bearer"]), label="scheme")
    value = (scheme + token).replace("\n", "").replace("\r", "")
    headers = {"host": data.draw(hosts, label="Host")}
    if value.isascii() and data.draw(st.integers(0, 5), label="no header?"):
        headers["authorization"] = value
    client = fresh(fuzz_client)
    if data.draw(st.booleans(), label="POST?"):
        response = client.post("/oidc/userinfo", headers=headers,
                               content=data.draw(st.binary(max_size=100), label="body"))
    else:
        response = client.get("/oidc/userinfo", headers=headers)
    check(response)
    if response.status_code == 200:
        assert response.json()["sub"] == "bob"
    else:
        assert response.headers["www-authenticate"].startswith("Bearer realm=")
