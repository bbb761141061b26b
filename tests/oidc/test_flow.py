"""The code flow core (``idp.oidc.flow``), without HTTP: request validation, when a login is
needed, codes across workers, the tokens, and UserInfo's checks."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import jwt
import pytest

from idp.authn.login import Principal
from idp.clock import FixedClock
from idp.directory import Directory
from idp.keys import KeyPair, KeyStore
from idp.oidc.clients import ClientCredentials
from idp.oidc.codes import CODE_TTL, CodeSealer
from idp.oidc.errors import AuthorizationError, OAuthError, OidcRequestRefused
from idp.oidc.flow import (
    ACCESS_TOKEN_TTL,
    AuthorizationRequest,
    CodeFlow,
    pkce_challenge,
)
from idp.oidc.issuer import OidcIssuer
from idp.oidc.signing import KEY_COMMON_NAME, KEY_PREFIX
from idp.settings import Settings
from idp.store import SqliteStore, StateStore
from idp.store.redis import RedisStore
from tests.oidc.conftest import SECRET
from tests.oidc.support import CLIENT_ID, REDIRECT_URI, pkce_pair, query_of, verify
from tests.support.demo import BASE_URL

ISSUER = f"{BASE_URL}/oidc"


def params(challenge: str | None = None, **overrides: str | None) -> list[tuple[str, str]]:
    values: dict[str, str | None] = {
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
        "scope": "openid email", "state": "s1", "nonce": "n1",
        "code_challenge": challenge or pkce_pair()[1], "code_challenge_method": "S256"}
    values.update(overrides)
    return [(k, v) for k, v in values.items() if v is not None]


def principal(clock: FixedClock, user: str = "bob", *, mfa: bool = False,
              age: int = 0) -> Principal:
    return Principal(username=user, instant=clock.now() - dt.timedelta(seconds=age), mfa=mfa,
                     session_index="_s")


def form(code: str, verifier: str | None) -> dict[str, str]:
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if verifier is not None:
        body["code_verifier"] = verifier
    return body


PUBLIC = ClientCredentials(client_id=CLIENT_ID)


def test_a_valid_request_grants_openid_and_the_understood_scopes(issuer: OidcIssuer):
    flow = CodeFlow(issuer)
    request = flow.authorization_request(params(scope="email unknown openid groups"))
    assert request.scopes == ("openid", "email", "groups")  # canonical order, unknown dropped
    assert (request.state, request.nonce, request.client_id) == ("s1", "n1", CLIENT_ID)
    assert AuthorizationRequest.from_json(request.to_json()) == request


def test_stashed_requests_are_read_back_only_when_they_are_ours():
    good = AuthorizationRequest(id="i", client_id="c", redirect_uri="u", scopes=("openid",),
                                created=1, prompt=("login",), max_age=5)
    assert AuthorizationRequest.from_json(good.to_json()) == good
    saml_pending = {"id": "x", "sp": "urn:amazon:webservices", "acs_url": "u",
                    "created": "2030-01-01T00:00:00Z"}
    broken = [None, [], saml_pending, {**good.to_json(), "kind": "saml"},
              {**good.to_json(), "scopes": 5}, {**good.to_json(), "created": "1"},
              {**good.to_json(), "state": 7}, {k: v for k, v in good.to_json().items()
                                               if k != "redirect_uri"}]
    for data in broken:
        assert AuthorizationRequest.from_json(data) is None, data


@pytest.mark.parametrize("overrides", [
    {"client_id": "nope"}, {"client_id": None}, {"redirect_uri": None},
    {"redirect_uri": REDIRECT_URI.upper()}, {"redirect_uri": REDIRECT_URI + "#x"},
])
def test_unknown_client_or_redirect_uri_is_refused_without_a_redirect(
        issuer: OidcIssuer, overrides: dict[str, str | None]):
    with pytest.raises(OidcRequestRefused):
        CodeFlow(issuer).authorization_request(params(**overrides))


def test_a_repeated_client_id_is_refused_even_if_both_are_good(issuer: OidcIssuer):
    with pytest.raises(OidcRequestRefused):
        CodeFlow(issuer).authorization_request([*params(), ("client_id", CLIENT_ID)])


def test_too_many_parameters_are_refused(issuer: OidcIssuer):
    with pytest.raises(OidcRequestRefused):
        CodeFlow(issuer).authorization_request(params() + [(f"x{i}", "1") for i in range(40)])


@pytest.mark.parametrize(("overrides", "error"), [
    ({"prompt": "none consent"}, "invalid_request"),
    ({"prompt": "x" * 200}, "invalid_request"),
    ({"max_age": "1e3"}, "invalid_request"),
    ({"max_age": "9999999999"}, "invalid_request"),
    ({"state": "a\nb"}, "invalid_request"),
    ({"scope": "openid " + "x" * 1100}, "invalid_scope"),
    ({"scope": "openid\tprofile"}, "invalid_scope"),
    ({"code_challenge": "=" * 43}, "invalid_request"),
    ({"code_challenge_method": "s256"}, "invalid_request"),
    ({"code_challenge": None}, "invalid_request"),
])
def test_refusals_after_the_redirect_uri_carry_it_and_the_state(
        issuer: OidcIssuer, overrides: dict[str, str | None], error: str):
    with pytest.raises(AuthorizationError) as caught:
        CodeFlow(issuer).authorization_request(params(**overrides))
    assert caught.value.error == error
    assert caught.value.redirect_uri == REDIRECT_URI
    assert caught.value.state == (None if "state" in overrides else "s1")


def test_prompt_values_are_read_as_a_set(issuer: OidcIssuer):
    request = CodeFlow(issuer).authorization_request(params(prompt="consent login login"))
    assert request.prompt == ("consent", "login") and request.forces_login
    assert not request.passive


def test_when_a_login_is_needed(issuer: OidcIssuer, clock: FixedClock):
    flow = CodeFlow(issuer)
    plain = flow.authorization_request(params())
    forced = flow.authorization_request(params(prompt="login"))
    aged = flow.authorization_request(params(max_age="60"))
    passive = flow.authorization_request(params(prompt="none", max_age="60"))
    assert flow.must_sign_in(plain, None, fresh=False)
    assert not flow.must_sign_in(plain, principal(clock, age=3000), fresh=False)
    assert flow.must_sign_in(forced, principal(clock), fresh=False)
    assert not flow.must_sign_in(forced, principal(clock), fresh=True)
    assert not flow.must_sign_in(aged, principal(clock, age=60), fresh=False)
    assert flow.must_sign_in(aged, principal(clock, age=61), fresh=False)
    assert not flow.must_sign_in(passive, principal(clock, age=10), fresh=False)
    for who in (None, principal(clock, age=61)):
        with pytest.raises(AuthorizationError) as caught:
            flow.must_sign_in(passive, who, fresh=False)
        assert caught.value.error == "login_required"


def test_resume_rechecks_the_client_and_the_age(issuer: OidcIssuer, clock: FixedClock,
                                                directory: Directory):
    flow = CodeFlow(issuer)
    request = flow.authorization_request(params())
    assert flow.resume(request) == request
    clock.advance(1801)
    with pytest.raises(AuthorizationError):
        flow.resume(request)
    gone = dataclasses.replace(request, redirect_uri="https://evil.example/")
    with pytest.raises(OidcRequestRefused):
        flow.resume(gone)


def test_code_exchange_gives_verifiable_tokens(issuer: OidcIssuer, clock: FixedClock):
    flow = CodeFlow(issuer)
    verifier, challenge = pkce_pair()
    request = flow.authorization_request(params(challenge, scope="openid profile groups"))
    redirect = flow.issue_code(request, principal(clock, "carol", mfa=True, age=30))
    query = query_of(redirect)
    assert redirect.startswith(REDIRECT_URI + "?") and query["iss"] == ISSUER
    body = flow.exchange(form(query["code"], verifier), PUBLIC)
    jwks = issuer.jwks()
    claims = verify(body["id_token"], jwks, audience=CLIENT_ID, issuer=ISSUER)
    now = int(clock.now().timestamp())
    assert claims["auth_time"] == now - 30 and claims["iat"] == now
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["nonce"] == "n1"
    assert claims["groups"] and "email" not in claims
    access = verify(body["access_token"], jwks, audience=f"{ISSUER}/userinfo", issuer=ISSUER,
                    typ="at+jwt")
    assert access["scope"] == "openid profile groups"
    assert access["exp"] == now + ACCESS_TOKEN_TTL
    assert flow.userinfo(body["access_token"])["preferred_username"] == "carol"


def test_a_code_is_redeemed_once_across_workers(issuer: OidcIssuer, settings: Settings,
                                                directory: Directory,
                                                oidc_keys: dict[str, KeyPair],
                                                clock: FixedClock, tmp_path: Path):
    """Two workers: their own ``OidcIssuer`` and store connection, one state file."""
    other_store = SqliteStore(tmp_path / "state.sqlite3", clock)  # the ``store`` fixture's
    try:
        other = CodeFlow(OidcIssuer(settings, directory, oidc_keys, clock, other_store, SECRET))
        flow = CodeFlow(issuer)
        verifier, challenge = pkce_pair()
        code = query_of(flow.issue_code(flow.authorization_request(params(challenge)),
                                        principal(clock)))["code"]
        first = other.exchange(form(code, verifier), PUBLIC)
        with pytest.raises(OAuthError) as caught:
            flow.exchange(form(code, verifier), PUBLIC)
        assert caught.value.error == "invalid_grant"
        with pytest.raises(OAuthError) as revoked:
            other.userinfo(first["access_token"])
        assert revoked.value.error == "invalid_token"
    finally:
        other_store.close()


def test_a_code_is_redeemed_once_through_redis(settings: Settings, directory: Directory,
                                               oidc_keys: dict[str, KeyPair],
                                               clock: FixedClock, redis_url: str):
    stores = [RedisStore(redis_url, clock), RedisStore(redis_url, clock)]
    try:
        flows = [CodeFlow(OidcIssuer(settings, directory, oidc_keys, clock, s, SECRET))
                 for s in stores]
        verifier, challenge = pkce_pair()
        code = query_of(flows[0].issue_code(flows[0].authorization_request(params(challenge)),
                                            principal(clock)))["code"]
        flows[1].exchange(form(code, verifier), PUBLIC)
        with pytest.raises(OAuthError, match="already used"):
            flows[0].exchange(form(code, verifier), PUBLIC)
    finally:
        for store in stores:
            store.close()


def test_a_code_from_another_install_or_expired_is_invalid_grant(
        issuer: OidcIssuer, settings: Settings, directory: Directory,
        oidc_keys: dict[str, KeyPair], clock: FixedClock, store: StateStore):
    flow = CodeFlow(issuer)
    elsewhere = CodeFlow(OidcIssuer(settings, directory, oidc_keys, clock, store, b"other"))
    verifier, challenge = pkce_pair()
    request = flow.authorization_request(params(challenge))
    foreign = query_of(elsewhere.issue_code(request, principal(clock)))["code"]
    with pytest.raises(OAuthError, match="not one this provider issued"):
        flow.exchange(form(foreign, verifier), PUBLIC)
    code = query_of(flow.issue_code(request, principal(clock)))["code"]
    clock.advance(CODE_TTL)
    with pytest.raises(OAuthError, match="expired"):
        flow.exchange(form(code, verifier), PUBLIC)


def test_a_code_for_a_user_who_left_is_invalid_grant(issuer: OidcIssuer, clock: FixedClock):
    flow = CodeFlow(issuer)
    verifier, challenge = pkce_pair()
    code = query_of(flow.issue_code(flow.authorization_request(params(challenge)),
                                    principal(clock, "nobody")))["code"]
    with pytest.raises(OAuthError, match="no longer exists"):
        flow.exchange(form(code, verifier), PUBLIC)


def test_codes_are_opaque_and_tamper_evident(clock: FixedClock):
    sealer = CodeSealer(SECRET)
    from idp.oidc.codes import CodeGrant

    grant = CodeGrant(id="i", client_id="c", redirect_uri="u", username="secret-user",
                      auth_time=1, mfa=False, scopes=("openid",), expires=2, nonce="n")
    code = sealer.seal(grant)
    assert sealer.open(code) == grant
    assert "secret-user" not in code and sealer.seal(grant) != code  # random nonce
    assert CodeSealer(b"other").open(code) is None
    for bad in ("", "!!!", code[:-1], code[:10], "A" * 5000, "é" * 50):
        assert sealer.open(bad) is None


def test_pkce_challenge_matches_rfc_7636_appendix_b():
    assert pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")


def test_userinfo_checks_the_token_against_the_clock_and_the_keys(
        issuer: OidcIssuer, clock: FixedClock, settings: Settings, directory: Directory,
        store: StateStore, tmp_path: Path):
    flow = CodeFlow(issuer)
    verifier, challenge = pkce_pair()
    code = query_of(flow.issue_code(flow.authorization_request(params(challenge)),
                                    principal(clock)))["code"]
    access = flow.exchange(form(code, verifier), PUBLIC)["access_token"]
    assert flow.userinfo(access) == {"sub": "bob", "email": "bob@corp.example",
                                     "email_verified": True}
    # Signed by a key this issuer does not publish: refused.
    strangers = KeyStore(tmp_path / "other", prefix=KEY_PREFIX)
    strangers.create(KEY_COMMON_NAME)
    stranger = CodeFlow(OidcIssuer(settings, directory, strangers.snapshot(), clock, store,
                                   SECRET))
    with pytest.raises(OAuthError, match="not an access token of this provider"):
        flow.userinfo(stranger.signer.sign(jwt.decode(access, options={
            "verify_signature": False}), typ="at+jwt"))
    # Claims the signature covers but UserInfo does not accept.
    payload: dict[str, Any] = jwt.decode(access, options={"verify_signature": False})
    for change in ({"aud": CLIENT_ID}, {"iss": "https://evil.example"}, {"scope": "email"},
                   {"scope": 5}, {"exp": "later"}):
        forged = flow.signer.sign({**payload, **change}, typ="at+jwt")
        with pytest.raises(OAuthError) as caught:
            flow.userinfo(forged)
        assert caught.value.error in ("invalid_token", "insufficient_scope"), change
        assert caught.value.http_status == (403 if change == {"scope": "email"} else 401)
    clock.advance(ACCESS_TOKEN_TTL)
    with pytest.raises(OAuthError, match="expired"):
        flow.userinfo(access)


def test_a_token_signed_before_a_rotation_still_works_until_retired(
        settings: Settings, directory: Directory, clock: FixedClock, store: StateStore,
        tmp_path: Path):
    keys = KeyStore(tmp_path / "certs", prefix=KEY_PREFIX, clock=clock)
    keys.create(KEY_COMMON_NAME)
    before = CodeFlow(OidcIssuer(settings, directory, keys.snapshot(), clock, store, SECRET))
    verifier, challenge = pkce_pair()
    code = query_of(before.issue_code(before.authorization_request(params(challenge)),
                                      principal(clock)))["code"]
    access = before.exchange(form(code, verifier), PUBLIC)["access_token"]
    keys.rotate(KEY_COMMON_NAME)
    after = CodeFlow(OidcIssuer(settings, directory, keys.snapshot(), clock, store, SECRET))
    assert len(after.issuer.jwks()["keys"]) == 2
    assert after.userinfo(access)["sub"] == "bob"
    keys.retire()
    retired = CodeFlow(OidcIssuer(settings, directory, keys.snapshot(), clock, store, SECRET))
    with pytest.raises(OAuthError):
        retired.userinfo(access)


def test_error_redirects_keep_the_registered_query_and_add_iss(issuer: OidcIssuer):
    flow = CodeFlow(issuer)
    for uri, expected in (("https://a.example/cb", "https://a.example/cb?error="),
                          ("https://a.example/cb?t=1", "https://a.example/cb?t=1&error="),
                          ("https://a.example/cb?", "https://a.example/cb?error=")):
        url = flow.error_redirect(AuthorizationError("access_denied", 'no "way"\\',
                                                     redirect_uri=uri, state="s&t"))
        assert url.startswith(expected), url
        assert query_of(url)["state"] == "s&t" and query_of(url)["iss"] == ISSUER
        assert query_of(url)["error_description"] == "no ?way??"


def test_the_discovery_document_agrees_with_the_issuer(issuer: OidcIssuer):
    meta = issuer.discovery()
    assert meta["issuer"] == issuer.issuer == ISSUER
    assert all(meta[k].startswith(ISSUER + "/") for k in
               ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"))
