"""Okta's classic authentication API, framework-free (``idp.compat.okta``): the transactions,
tokens, sessions and error objects Okta clients read, against the demo directory."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pyotp
import pytest
from lxml import etree

from idp.authn.login import Authenticator
from idp.authn.throttle import LoginThrottle
from idp.authn.totp import TotpGuard
from idp.clock import format_instant
from idp.compat import okta
from idp.compat.okta import (
    APP_PATH,
    AWS_SIGN_IN,
    SESSION_TOKEN_SECONDS,
    OktaApi,
    Reply,
    device_token,
    parse_json,
)
from idp.compat.signin import VendorSignIn
from idp.compat.tokens import Sealer
from idp.errors import NoAwsRole
from idp.saml.constants import NS
from tests.support import builders
from tests.support.demo import (
    ADMIN,
    BASE_URL,
    CAROL_SECRET,
    PROD_PROVIDER,
    READ_ONLY,
)
from tests.support.sts import assume_role_params

ADDRESS = "192.0.2.7"
APP_LINK = BASE_URL + APP_PATH
ERROR_KEYS = {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}


@pytest.fixture
def sign_in(settings, directory, keypair, clock, store) -> VendorSignIn:
    """The vendor sign-in exactly as ``Runtime`` builds it (throttled, one-time codes)."""
    authenticator = Authenticator(directory, TotpGuard(clock, store), clock,
                                  throttle=LoginThrottle(store),
                                  session_lifetime=settings.idp_session_lifetime, store=store)
    return VendorSignIn(authenticator=authenticator,
                        identity_provider=builders.identity_provider(settings, directory,
                                                                     keypair, clock),
                        sealer=Sealer("okta-test-secret", clock, store), clock=clock,
                        session_lifetime=settings.idp_session_lifetime)


@pytest.fixture
def api(sign_in, settings) -> OktaApi:
    return OktaApi(sign_in, settings.url)


def code_at(clock, offset: int = 0) -> str:
    return str(pyotp.TOTP(CAROL_SECRET).at(clock.now() + dt.timedelta(seconds=offset)))


def wrong_code(clock) -> str:
    """A well-formed code that matches none of the steps the drift window accepts."""
    valid = {code_at(clock, offset) for offset in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def assert_error(reply: Reply, status: int, code: str) -> dict:
    assert reply.status == status, reply
    assert set(reply.body) == ERROR_KEYS
    assert reply.body["errorCode"] == code == reply.body["errorLink"]
    assert reply.body["errorId"].startswith("oae")
    assert reply.headers["X-Okta-Request-Id"] == reply.body["errorId"]
    assert all(set(cause) == {"errorSummary"} for cause in reply.body["errorCauses"])
    return reply.body


def mfa_required(api: OktaApi, username: str = "carol") -> tuple[str, str]:
    """carol's password step: (stateToken, the factor's verify link)."""
    reply = api.authn({"username": username, "password": "carol-password"}, ADDRESS)
    assert reply.status == 200 and reply.body["status"] == "MFA_REQUIRED", reply
    factor = reply.body["_embedded"]["factors"][0]
    return reply.body["stateToken"], factor["id"]


def session_token(api: OktaApi, username: str = "bob") -> str:
    reply = api.authn({"username": username, "password": f"{username}-password"}, ADDRESS)
    assert reply.body["status"] == "SUCCESS", reply
    return str(reply.body["sessionToken"])


# --- the organization and parsing --------------------------------------------------------------


def test_organization_says_classic_pipeline():
    """gimme-aws-creds speaks the classic API only when ``pipeline`` is ``v1``."""
    reply = okta.organization("https://idp.example")
    assert reply.status == 200
    assert reply.body["pipeline"] == "v1" and reply.body["id"].startswith("00o")
    assert reply.body["_links"]["organization"]["href"] == "https://idp.example"


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON"])
def test_json_objects_are_read(content_type):
    assert parse_json(b'{"username": "bob"}', content_type) == {"username": "bob"}


@pytest.mark.parametrize(("raw", "content_type"), [
    (b'{"username": "bob"}', None),
    (b'{"username": "bob"}', "text/plain"),
    (b'{"username": "bob"}', "application/x-www-form-urlencoded"),
    (b"username=bob&password=x", "application/json"),
    (b"", "application/json"),
    (b"[1, 2]", "application/json"),
    (b'"bob"', "application/json"),
    (b"null", "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    (b'{"a": 1' + b"0" * 5000 + b"}", "application/json"),
])
def test_anything_but_a_json_object_is_e0000003(raw, content_type):
    """Okta's "The request body was not well-formed" (400), whatever is wrong with it."""
    reply = parse_json(raw, content_type)
    assert isinstance(reply, Reply)
    assert_error(reply, 400, "E0000003")
    assert reply.body["errorSummary"] == "The request body was not well-formed."


def test_body_limits_answer_in_okta_shape():
    assert_error(okta.body_too_large(okta.MAX_BODY_BYTES), 400, "E0000003")
    slow = okta.body_too_slow("too slow")
    assert_error(slow, 408, "E0000003")
    assert slow.headers["Connection"] == "close"
    assert_error(okta.surface_disabled("off"), 404, "E0000007")
    not_allowed = okta.method_not_allowed(["POST"])
    assert_error(not_allowed, 405, "E0000022")
    assert not_allowed.headers["Allow"] == "POST"


# --- primary authentication --------------------------------------------------------------------


def test_bob_gets_success_with_a_session_token(api, clock):
    reply = api.authn({"username": "bob", "password": "bob-password"}, ADDRESS)
    assert reply.status == 200
    body = reply.body
    assert body["status"] == "SUCCESS"
    assert body["expiresAt"] == format_instant(clock.now() + dt.timedelta(seconds=300))
    assert body["expiresAt"].endswith(".000Z")  # Okta's instants carry milliseconds
    user = body["_embedded"]["user"]
    assert user["id"].startswith("00u") and len(user["id"]) == 20
    assert user["profile"]["login"] == "bob@corp.example"  # gimme reads this
    assert set(user["profile"]) == {"login", "firstName", "lastName", "locale", "timeZone"}
    assert isinstance(body["sessionToken"], str) and len(body["sessionToken"]) < 1024
    json.dumps(body)  # every reply is plain JSON


@pytest.mark.parametrize("spelling", ["bob", "CORP\\bob", "EXAMPLE\\bob", "bob@corp.example",
                                      "bob@CORP", " bob "])
def test_every_spelling_of_bob_signs_in_as_bob(api, spelling):
    token = api.authn({"username": spelling, "password": "bob-password"}, ADDRESS)
    principal = api.redeem(token.body["sessionToken"])
    assert principal is not None and principal.username == "bob"


@pytest.mark.parametrize("body", [
    {"username": "bob", "password": "wrong"},
    {"username": "mallory", "password": "bob-password"},
    {"username": "bob", "password": ""},
    {"username": "", "password": "bob-password"},
    {"username": "bob"},
    {},
    {"username": "bob", "password": None},
    {"username": "x" * 5000, "password": "y" * 5000},
])
def test_bad_credentials_are_e0000004_and_say_nothing_more(api, body):
    reply = api.authn(body, ADDRESS)
    error = assert_error(reply, 401, "E0000004")
    assert error["errorSummary"] == "Authentication failed" and error["errorCauses"] == []


@pytest.mark.parametrize("body", [
    {"username": 5, "password": "bob-password"},
    {"username": "bob", "password": ["bob-password"]},
    {"username": {"a": 1}, "password": "x"},
    {"username": "bob", "password": "bob-password", "stateToken": 7},
    {"username": True, "password": False},
])
def test_wrong_typed_fields_are_e0000003(api, body):
    assert_error(api.authn(body, ADDRESS), 400, "E0000003")


def test_carol_with_only_a_password_gets_mfa_required(api, clock, settings):
    reply = api.authn({"username": "carol", "password": "carol-password"}, ADDRESS)
    body = reply.body
    assert reply.status == 200 and body["status"] == "MFA_REQUIRED" and "sessionToken" not in body
    assert body["expiresAt"] == format_instant(clock.now() + dt.timedelta(seconds=300))
    assert body["_embedded"]["user"]["profile"]["login"] == "carol@corp.example"
    [factor] = body["_embedded"]["factors"]
    assert factor["factorType"] == "token:software:totp"
    assert factor["provider"] == factor["vendorName"] == "GOOGLE"
    assert factor["profile"] == {"credentialId": "carol@corp.example"}
    assert factor["id"].startswith("uft") and len(factor["id"]) == 20
    assert factor["_links"]["verify"] == {
        "href": f"{settings.url}/api/v1/authn/factors/{factor['id']}/verify",
        "hints": {"allow": ["POST"]}}


def test_a_code_in_the_authn_body_does_not_skip_the_factor(api, clock):
    """authn checks only the password; an MFA user never gets SUCCESS from it."""
    reply = api.authn({"username": "carol", "password": "carol-password",
                       "passCode": code_at(clock), "answer": code_at(clock)}, ADDRESS)
    assert reply.body["status"] == "MFA_REQUIRED"


def test_carol_wrong_password_is_e0000004_not_mfa(api):
    assert_error(api.authn({"username": "carol", "password": "nope"}, ADDRESS), 401, "E0000004")


def test_state_token_alone_gives_the_transaction_state(api):
    """saml2aws posts ``{"stateToken"}`` (with empty credentials) to resume a transaction."""
    state, _ = mfa_required(api)
    reply = api.authn({"username": "", "password": "", "stateToken": state}, ADDRESS)
    assert reply.body["status"] == "MFA_REQUIRED" and reply.body["stateToken"] == state
    assert_error(api.authn({"stateToken": state + "x"}, ADDRESS), 401, "E0000011")


# --- verifying the factor ----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["passCode", "answer"])
def test_carol_verifies_with_pass_code_or_answer(api, clock, field):
    state, factor = mfa_required(api)
    reply = api.verify(factor, {"stateToken": state, field: code_at(clock)}, ADDRESS)
    assert reply.status == 200 and reply.body["status"] == "SUCCESS", reply
    assert reply.body["_embedded"]["user"]["profile"]["login"] == "carol@corp.example"
    principal = api.redeem(reply.body["sessionToken"])
    assert principal is not None and principal.username == "carol" and principal.mfa


def test_no_code_is_mfa_challenge_and_keeps_the_state(api, clock, settings):
    """saml2aws's first verify call carries no code and needs a 2xx."""
    state, factor = mfa_required(api)
    for body in ({"stateToken": state}, {"stateToken": state, "passCode": ""},
                 {"stateToken": state, "passCode": "  ", "answer": None}):
        reply = api.verify(factor, body, ADDRESS)
        assert reply.status == 200
        assert reply.body["status"] == "MFA_CHALLENGE" and reply.body["stateToken"] == state
        assert reply.body["factorResult"] == "CHALLENGE"
        assert reply.body["_links"]["next"]["href"] == (
            f"{settings.url}/api/v1/authn/factors/{factor}/verify")
        assert "sessionToken" not in reply.body
    done = api.verify(factor, {"stateToken": state, "passCode": code_at(clock)}, ADDRESS)
    assert done.body["status"] == "SUCCESS"


def test_wrong_code_is_e0000068_and_the_right_one_still_works(api, clock):
    state, factor = mfa_required(api)
    wrong = api.verify(factor, {"stateToken": state, "passCode": wrong_code(clock)}, ADDRESS)
    error = assert_error(wrong, 403, "E0000068")
    assert error["errorSummary"] == "Invalid Passcode/Answer"
    for junk in ("12345", "abcdef", "1" * 200):
        assert_error(api.verify(factor, {"stateToken": state, "answer": junk}, ADDRESS),
                     403, "E0000068")
    right = api.verify(factor, {"stateToken": state, "passCode": code_at(clock)}, ADDRESS)
    assert right.body["status"] == "SUCCESS"


def test_a_code_sent_is_never_answered_with_mfa_challenge(api, clock):
    """okta-awscli would take MFA_CHALLENGE for a push and poll."""
    state, factor = mfa_required(api)
    for code in (wrong_code(clock), "x", "0" * 7):
        reply = api.verify(factor, {"stateToken": state, "answer": code}, ADDRESS)
        assert reply.status == 403 and reply.body.get("status") != "MFA_CHALLENGE"


def test_a_used_code_is_refused_next_time(api, clock):
    state, factor = mfa_required(api)
    code = code_at(clock)
    assert api.verify(factor, {"stateToken": state, "passCode": code}, ADDRESS).status == 200
    again, factor = mfa_required(api)
    reused = api.verify(factor, {"stateToken": again, "passCode": code}, ADDRESS)
    error = assert_error(reused, 403, "E0000082")
    assert "once" in error["errorSummary"]
    older = api.verify(factor, {"stateToken": again, "passCode": code_at(clock, -30)}, ADDRESS)
    assert older.status == 403  # a code older than the one used is not accepted either
    clock.advance(30)
    later = api.verify(factor, {"stateToken": again, "passCode": code_at(clock)}, ADDRESS)
    assert later.body["status"] == "SUCCESS"


def test_a_finished_step_cannot_be_finished_again(api, clock):
    state, factor = mfa_required(api)
    assert api.verify(factor, {"stateToken": state, "passCode": code_at(clock)},
                      ADDRESS).status == 200
    clock.advance(30)
    replay = api.verify(factor, {"stateToken": state, "passCode": code_at(clock)}, ADDRESS)
    assert_error(replay, 401, "E0000011")


def test_state_tokens_expire_after_five_minutes(api, clock):
    state, factor = mfa_required(api)
    clock.advance(301)
    assert_error(api.verify(factor, {"stateToken": state, "passCode": code_at(clock)}, ADDRESS),
                 401, "E0000011")


@pytest.mark.parametrize("state", ["", "forged", "a.b", "x" * 5000, None])
def test_missing_or_forged_state_tokens_are_e0000011(api, clock, state):
    _, factor = mfa_required(api)
    assert_error(api.verify(factor, {"stateToken": state, "passCode": code_at(clock)}, ADDRESS),
                 401, "E0000011")


def test_a_session_token_is_not_a_state_token(api, clock):
    """Tokens are sealed per purpose: one kind never passes for another."""
    _, factor = mfa_required(api)
    token = session_token(api)
    assert_error(api.verify(factor, {"stateToken": token, "passCode": code_at(clock)}, ADDRESS),
                 401, "E0000011")
    state, _ = mfa_required(api)
    assert_error(api.create_session({"sessionToken": state}), 401, "E0000004")
    assert api.login(state) is None and api.login(token) is None


def test_the_factor_id_must_be_the_users(api, clock):
    state, factor = mfa_required(api)
    reply = api.verify("uftsomeoneelse000000", {"stateToken": state, "passCode": code_at(clock)},
                       ADDRESS)
    assert_error(reply, 404, "E0000007")
    assert api.verify(factor, {"stateToken": state, "passCode": code_at(clock)},
                      ADDRESS).status == 200


@pytest.mark.parametrize("body", [{"stateToken": 1}, {"stateToken": "s", "passCode": 123456},
                                  {"stateToken": "s", "answer": ["123456"]}])
def test_wrong_typed_verify_fields_are_e0000003(api, body):
    assert_error(api.verify("uft", body, ADDRESS), 400, "E0000003")


# --- throttling --------------------------------------------------------------------------------


def test_repeated_failures_get_okta_rate_limit_error(api, clock):
    """After 10 failures for bob (any spelling), even the right password waits: 429 E0000047
    with Retry-After and Okta's X-Rate-Limit headers."""
    for spelling in ["bob", "CORP\\bob", "bob@corp.example"] * 3 + ["bob"]:
        assert api.authn({"username": spelling, "password": "wrong"}, ADDRESS).status == 401
    reply = api.authn({"username": "bob@corp.example", "password": "bob-password"}, ADDRESS)
    error = assert_error(reply, 429, "E0000047")
    assert error["errorSummary"] == "API call exceeded rate limit due to too many requests."
    wait = int(reply.headers["Retry-After"])
    assert wait > 0
    assert reply.headers["X-Rate-Limit-Remaining"] == "0"
    assert int(reply.headers["X-Rate-Limit-Reset"]) == int(clock.now().timestamp()) + wait
    clock.advance(wait)
    assert api.authn({"username": "bob", "password": "bob-password"}, ADDRESS).status == 200


def test_repeated_wrong_codes_are_throttled_too(api, clock):
    state, factor = mfa_required(api)
    for _ in range(10):
        reply = api.verify(factor, {"stateToken": state, "passCode": wrong_code(clock)}, ADDRESS)
        assert reply.status == 403
    throttled = api.verify(factor, {"stateToken": state, "passCode": code_at(clock)}, ADDRESS)
    assert_error(throttled, 429, "E0000047")
    assert "Retry-After" in throttled.headers


# --- session tokens and sessions ---------------------------------------------------------------


def test_session_token_makes_a_session_once(api, clock, settings):
    token = session_token(api)
    reply = api.create_session({"sessionToken": token})
    assert reply.status == 200
    body = reply.body
    assert body["status"] == "ACTIVE" and body["login"] == "bob@corp.example"
    assert body["userId"].startswith("00u")
    assert body["expiresAt"] == format_instant(
        clock.now() + dt.timedelta(seconds=settings.idp_session_lifetime))
    assert body["mfaActive"] is False and body["amr"] == ["pwd"]
    principal = api.login(body["id"])  # the id is the sid cookie
    assert principal is not None and principal.username == "bob"
    assert_error(api.create_session({"sessionToken": token}), 401, "E0000004")
    assert api.redeem(token) is None


@pytest.mark.parametrize("body", [{}, {"sessionToken": ""}, {"sessionToken": "forged.token"},
                                  {"sessionToken": None}])
def test_missing_or_forged_session_tokens_are_refused(api, body):
    assert_error(api.create_session(body), 401, "E0000004")


def test_session_tokens_expire(api, clock):
    token = session_token(api)
    clock.advance(SESSION_TOKEN_SECONDS)
    assert_error(api.create_session({"sessionToken": token}), 401, "E0000004")


def test_current_session_and_sign_out(api, clock):
    sid = api.create_session({"sessionToken": session_token(api, "alice")}).body["id"]
    assert api.current_session(sid).body["id"] == sid
    reply = api.end_session(sid)
    assert reply.status == 204 and reply.body is None
    assert api.login(sid) is None  # every copy of the cookie, on every worker
    assert_error(api.current_session(sid), 404, "E0000007")
    assert_error(api.end_session(sid), 404, "E0000007")
    assert_error(api.current_session(None), 404, "E0000007")
    assert_error(api.current_session("forged"), 404, "E0000007")


def test_mfa_sessions_say_so(api, clock):
    state, factor = mfa_required(api)
    token = api.verify(factor, {"stateToken": state, "passCode": code_at(clock)},
                       ADDRESS).body["sessionToken"]
    body = api.create_session({"sessionToken": token}).body
    assert body["mfaActive"] is True and "mfa" in body["amr"]
    assert body["lastFactorVerification"] is not None


def test_sessions_end_with_the_idp_session(api, clock, settings):
    sid = api.create_session({"sessionToken": session_token(api)}).body["id"]
    clock.advance(settings.idp_session_lifetime)
    assert api.login(sid) is None
    assert_error(api.app_links(sid), 403, "E0000005")


def test_app_links_list_the_aws_app(api, settings):
    sid = api.create_session({"sessionToken": session_token(api)}).body["id"]
    reply = api.app_links(sid)
    assert reply.status == 200
    [link] = reply.body
    assert link["appName"] == "amazon_aws" and link["sortOrder"] == 0
    assert link["linkUrl"] == settings.url + APP_PATH == APP_LINK
    assert link["appInstanceId"] == okta.APP_ID and link["label"]


def test_a_user_without_aws_roles_has_no_app_links(api):
    sid = api.create_session({"sessionToken": session_token(api, "dave")}).body["id"]
    assert api.app_links(sid).body == []


@pytest.mark.parametrize("sid", [None, "", "forged", "x" * 10_000])
def test_app_links_need_a_session(api, sid):
    assert_error(api.app_links(sid), 403, "E0000005")


# --- redirects, the app and its answer ---------------------------------------------------------


@pytest.mark.parametrize(("url", "target"), [
    (None, APP_LINK),
    ("", APP_LINK),
    (APP_LINK, APP_LINK),
    (APP_LINK.replace("http://idp.test", "HTTP://IDP.TEST"), APP_LINK),
    (APP_LINK + "?fromHome=true", APP_LINK + "?fromHome=true"),
    (APP_PATH, APP_LINK),
])
def test_redirects_go_to_the_app_link(api, url, target):
    assert api.redirect_target(url) == target


@pytest.mark.parametrize("url", [
    "https://evil.example" + APP_PATH,
    "https://idp.test" + APP_PATH,  # the base URL is http: another origin
    "http://idp.test:8080" + APP_PATH,
    "http://idp.test@evil.example" + APP_PATH,
    "//evil.example" + APP_PATH,
    "///evil.example" + APP_PATH,
    "/\\evil.example" + APP_PATH,
    "http://idp.test/idp/login",
    "http://idp.test/home/amazon_aws/0oaother/272",
    "http://idp.test" + APP_PATH + "/../../idp/login",
    APP_LINK + "#x",
    "javascript:alert(1)",
    "home/amazon_aws/0oaidpsimulatoraws01/272",
    APP_LINK + "\r\nSet-Cookie: x=1",
    APP_LINK + "?" + "a" * 5000,
])
def test_redirects_anywhere_else_are_refused(api, url):
    assert api.redirect_target(url) is None


def test_redirects_follow_the_base_path(sign_in):
    api = OktaApi(sign_in, "https://idp.example/sso")
    assert api.app_link == "https://idp.example/sso" + APP_PATH
    assert api.redirect_target("https://idp.example/sso" + APP_PATH) == api.app_link
    assert api.redirect_target("/sso" + APP_PATH) == api.app_link
    assert api.redirect_target("https://idp.example" + APP_PATH) is None


def test_only_the_one_app_exists():
    assert OktaApi.is_app(okta.APP_ID, okta.APP_INSTANCE)
    assert not OktaApi.is_app(okta.APP_ID, "273")
    assert not OktaApi.is_app("0oa1", okta.APP_INSTANCE)


def test_the_app_answers_aws_sign_in_with_a_response_sts_accepts(api, settings, directory,
                                                                  keypair, clock):
    principal = api.redeem(session_token(api))
    form = api.aws_form(principal)
    assert form.action == AWS_SIGN_IN and form.saml_field == "SAMLResponse"
    tree = etree.fromstring(base64.b64decode(form.saml_value))
    assert tree.get("Destination") == AWS_SIGN_IN
    assert tree.find(".//saml:SubjectConfirmationData", NS).get("Recipient") == AWS_SIGN_IN
    sts = builders.sts(settings, directory, keypair, clock)
    result = sts.assume_role_with_saml(assume_role_params(form.saml_value, READ_ONLY,
                                                          PROD_PROVIDER))
    assert result.claims.assumed_role_arn.endswith("assumed-role/ReadOnly/bob@corp.example")


def test_carols_response_carries_her_admin_role(api, clock):
    state, factor = mfa_required(api)
    token = api.verify(factor, {"stateToken": state, "answer": code_at(clock)},
                       ADDRESS).body["sessionToken"]
    form = api.aws_form(api.redeem(token))
    assert ADMIN.encode() in base64.b64decode(form.saml_value)


def test_a_user_without_roles_gets_no_aws_role(api):
    with pytest.raises(NoAwsRole):
        api.aws_form(api.redeem(session_token(api, "dave")))


def test_device_tokens():
    kept = "A" * 32
    assert device_token(kept) == kept
    for bad in (None, "", "short", "x" * 65, "bad value;", "é" * 20):
        fresh = device_token(bad)
        assert fresh != bad and okta._DEVICE_TOKEN_RE.fullmatch(fresh)
    assert device_token(None) != device_token(None)
