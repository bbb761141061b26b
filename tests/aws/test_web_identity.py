"""AssumeRoleWithWebIdentity's rules one by one, in process: a directory with an IAM OIDC
provider for a test issuer (answered in process, no network), real RSA/EC keys and PyJWT
signatures, and a fixed clock."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import botocore.parsers
import botocore.session
import pytest

from idp.aws.assume_role import MAX_DURATION_MESSAGE
from idp.aws.credentials import CredentialIssuer
from idp.aws.errors import AwsError
from idp.aws.iam import Iam
from idp.aws.oidc_keys import KEYS_MESSAGE, IssuerKeys
from idp.aws.sts import Sts
from idp.aws.web_identity import (
    NOT_A_JWT_MESSAGE,
    NOT_AUTHORIZED,
    PROVIDER_ID_MESSAGE,
    REJECTED_MESSAGE,
    SIGNATURE_MESSAGE,
    TIMESTAMP_MESSAGE,
    WebIdentity,
    token_summary,
)
from idp.aws.wire import assume_role_with_web_identity_response
from idp.directory.loader import parse_directory
from idp.errors import Rule
from tests.aws.web_identity_tokens import TokenSigner, b64url, claims, forge, hmac_token, public_pem
from tests.support import builders
from tests.support.builders import CREDENTIAL_SECRET
from tests.support.demo import AWS_ACS

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
ISSUER = "https://token.example.test/oidc"
HOST_PATH = "token.example.test/oidc"
SLASH_ISSUER = "https://slash.example.test/"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST_PATH}"
SUB = "system:serviceaccount:prod:deployer"
WORKLOAD = f"arn:aws:iam::{ACCOUNT}:role/Workload"
TAGGED = f"arn:aws:iam::{ACCOUNT}:role/Tagged"
AMR = f"arn:aws:iam::{ACCOUNT}:role/Amr"
NAMED = f"arn:aws:iam::{ACCOUNT}:role/Named"
OTHER_AUD = f"arn:aws:iam::{ACCOUNT}:role/OtherAudience"
SLASHED = f"arn:aws:iam::{ACCOUNT}:role/Slashed"
ELSEWHERE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/Elsewhere"


def _trust(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _federated(actions: Any, condition: dict[str, Any] | None = None,
               provider: str = PROVIDER_ARN) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Federated": provider},
                                 "Action": actions}
    if condition is not None:
        statement["Condition"] = condition
    return statement


DIRECTORY = {
    "accounts": {
        ACCOUNT: {
            "roles": {
                "Workload": {"max_session_duration": 7200, "trust_policy": _trust(_federated(
                    "sts:AssumeRoleWithWebIdentity",
                    {"StringEquals": {f"{HOST_PATH}:sub": SUB,
                                      f"{HOST_PATH}:aud": "sts.amazonaws.com"}}))},
                "Tagged": {"trust_policy": _trust(_federated(
                    ["sts:AssumeRoleWithWebIdentity", "sts:TagSession",
                     "sts:SetSourceIdentity"],
                    {"StringEquals": {"aws:RequestTag/team": "blue"}}))},
                "Amr": {"trust_policy": _trust(_federated(
                    "sts:AssumeRoleWithWebIdentity",
                    {"ForAnyValue:StringLike": {f"{HOST_PATH}:amr": "authenticated"}}))},
                "Named": {"trust_policy": _trust(_federated(
                    "sts:AssumeRoleWithWebIdentity",
                    {"StringLike": {"sts:RoleSessionName": "ci-*"}}))},
                "OtherAudience": {"trust_policy": _trust(_federated(
                    "sts:AssumeRoleWithWebIdentity",
                    {"StringEquals": {f"{HOST_PATH}:aud": "other-client"}}))},
                "Slashed": {"trust_policy": _trust(_federated(
                    "sts:AssumeRoleWithWebIdentity", None,
                    f"arn:aws:iam::{ACCOUNT}:oidc-provider/slash.example.test/"))},
            },
            "oidc_providers": [
                {"url": ISSUER, "client_ids": ["sts.amazonaws.com", "other-client"]},
                {"url": SLASH_ISSUER, "client_ids": ["sts.amazonaws.com"]},
            ],
        },
        OTHER_ACCOUNT: {
            "roles": {"Elsewhere": {"trust_policy": _trust(_federated(
                "sts:AssumeRoleWithWebIdentity", None,
                f"arn:aws:iam::{OTHER_ACCOUNT}:oidc-provider/{HOST_PATH}"))}},
        },
    },
}


@pytest.fixture(scope="module")
def signer() -> TokenSigner:
    return TokenSigner()


@pytest.fixture
def directory_():
    return parse_directory(json.dumps(DIRECTORY), aws_acs=AWS_ACS)


@pytest.fixture
def iam(directory_, settings, keypair, store, clock) -> Iam:
    return Iam(directory_, settings.entity_id, (keypair,), store=store, clock=clock)


@pytest.fixture
def web(iam, clock, signer) -> WebIdentity:
    signer.published = list(signer.keys)
    keys = IssuerKeys(clock, {ISSUER: signer.jwks, SLASH_ISSUER: signer.jwks})
    return WebIdentity(iam, CredentialIssuer(CREDENTIAL_SECRET, clock), clock, keys)


@pytest.fixture
def now(clock) -> int:
    return int(clock.now().timestamp())


def params(token: str, role: str = WORKLOAD, **extra: str) -> dict[str, str]:
    return {"RoleArn": role, "RoleSessionName": "build-7", "WebIdentityToken": token, **extra}


def good(signer: TokenSigner, now: int, **extra: Any) -> str:
    return signer.sign(claims(ISSUER, now, **extra))


def refused(web: WebIdentity, query: dict[str, str], code: str, message: str | None = None,
            rule: Rule | None = None) -> AwsError:
    with pytest.raises(AwsError) as info:
        web.assume(query)
    error = info.value
    assert error.code == code, (error.code, error.message, error.detail)
    if message is not None:
        assert error.message == message, error.message
    if rule is not None:
        assert error.rule is rule, (error.rule, error.detail)
    assert error.detail, "every refusal says what was found"
    assert 400 <= error.http_status < 500
    return error


# --------------------------------------------------------------------------- accepted


def test_a_valid_token_assumes_the_role(web, signer, now, clock):
    result = web.assume(params(good(signer, now)))
    assert result.subject == SUB
    assert result.provider == ISSUER
    assert result.audience == "sts.amazonaws.com"
    assert result.claims.assumed_role_arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/Workload/build-7"
    assert result.claims.assumed_role_id.startswith("AROA")
    assert result.claims.assumed_role_id.endswith(":build-7")
    assert result.credentials.access_key_id.startswith("ASIA")
    assert result.credentials.expiration == clock.now() + dt.timedelta(seconds=3600)
    assert result.source_identity is None and result.packed_policy_size is None


def test_the_result_reads_back_through_botocores_own_parser(web, signer, now):
    result = web.assume(params(good(signer, now), Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})))
    xml = assume_role_with_web_identity_response(result, "req-1")
    model = botocore.session.get_session().get_service_model("sts")
    shape = model.operation_model("AssumeRoleWithWebIdentity").output_shape
    parsed = botocore.parsers.QueryParser().parse(
        {"body": xml, "headers": {}, "status_code": 200}, shape)
    assert parsed["SubjectFromWebIdentityToken"] == SUB
    assert parsed["Provider"] == ISSUER and parsed["Audience"] == "sts.amazonaws.com"
    assert parsed["AssumedRoleUser"]["Arn"].endswith(":assumed-role/Workload/build-7")
    assert parsed["Credentials"]["AccessKeyId"] == result.credentials.access_key_id
    assert isinstance(parsed["PackedPolicySize"], int) and parsed["PackedPolicySize"] > 0
    assert "SourceIdentity" not in parsed


def test_a_trailing_newline_from_the_cli_file_is_tolerated(web, signer, now):
    assert web.assume(params(good(signer, now) + "\n")).subject == SUB


def test_es256_tokens_are_accepted(web, signer, now):
    token = signer.sign(claims(ISSUER, now), "ec-1")
    assert web.assume(params(token)).subject == SUB


def test_a_token_without_kid_is_tried_against_every_key(web, signer, now):
    token = signer.sign(claims(ISSUER, now), None, key="rsa-2")
    assert web.assume(params(token)).subject == SUB


def test_a_rotated_key_of_the_own_kind_of_issuer_is_seen_at_once(web, signer, now):
    signer.published = ["rsa-1"]
    token = signer.sign(claims(ISSUER, now), "rsa-2")
    refused(web, params(token), "InvalidIdentityToken", KEYS_MESSAGE, Rule.TOKEN_KEYS)
    signer.published = ["rsa-1", "rsa-2"]
    assert web.assume(params(token)).subject == SUB


def test_aud_may_be_a_list_and_audience_is_the_one_the_provider_knows(web, signer, now):
    result = web.assume(params(good(signer, now, aud=["someone-else", "sts.amazonaws.com"])))
    assert result.audience == "sts.amazonaws.com"


def test_a_provider_url_keeps_its_trailing_slash(web, signer, now):
    token = signer.sign(claims(SLASH_ISSUER, now))
    assert web.assume(params(token, SLASHED)).provider == SLASH_ISSUER
    error = refused(web, params(signer.sign(claims(SLASH_ISSUER.rstrip("/"), now)), SLASHED),
                    "InvalidIdentityToken", rule=Rule.TOKEN_ISSUER)
    assert error.message == ("No OpenIDConnect provider found in your account for "
                             "https://slash.example.test")


def test_sts_dispatches_the_operation(web, signer, now, settings, directory, keypair, clock):
    sts = Sts(builders.federation(settings, directory, keypair, clock), web_identity=web)
    assert sts.assume_role_with_web_identity(params(good(signer, now))).subject == SUB


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(("change", "code", "message"), [
    ({"WebIdentityToken": None}, "MissingParameter",
     "The request must contain the parameter WebIdentityToken"),
    ({"RoleSessionName": None}, "MissingParameter",
     "The request must contain the parameter RoleSessionName"),
    ({"WebIdentityToken": "abc"}, "ValidationError",
     "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: "
     "Member must have length greater than or equal to 4"),
    ({"WebIdentityToken": "x" * 20_001}, "ValidationError",
     "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: "
     "Member must have length less than or equal to 20000"),
    ({"RoleSessionName": "bad name"}, "ValidationError",
     "1 validation error detected: Value 'bad name' at 'roleSessionName' failed to satisfy "
     r"constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*"),
    ({"DurationSeconds": "899"}, "ValidationError",
     "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy "
     "constraint: Member must have value greater than or equal to 900"),
    ({"ProviderId": "www"}, "ValidationError",
     "1 validation error detected: Value 'www' at 'providerId' failed to satisfy constraint: "
     "Member must have length greater than or equal to 4"),
    ({"RoleArn": "arn:short", "DurationSeconds": "43201"}, "ValidationError",
     "2 validation errors detected: Value 'arn:short' at 'roleArn' failed to satisfy "
     "constraint: Member must have length greater than or equal to 20; Value '43201' at "
     "'durationSeconds' failed to satisfy constraint: Member must have value less than or "
     "equal to 43200"),
    ({"Policy": "{not json"}, "MalformedPolicyDocument", None),
    ({"RoleArn": "notanarn-xxxxxxxxxxxxxx"}, "ValidationError", "Request ARN is invalid"),
    ({"RoleArn": "arn:aws:iam::444455556666:user/ops"}, "ValidationError",
     "Request ARN is invalid"),
])
def test_parameters_are_checked_first(web, signer, now, change, code, message):
    query = params(good(signer, now))
    for name, value in change.items():
        if value is None:
            del query[name]
        else:
            query[name] = value
    with pytest.raises(AwsError) as info:
        web.assume(query)
    assert info.value.code == code
    if message is not None:
        assert info.value.message == message


def test_an_oversized_token_is_measured_before_anything_reads_it(web, signer, now):
    """A good token padded with whitespace past 20,000 characters: the length rule, not a
    stripped token."""
    with pytest.raises(AwsError) as info:
        web.assume(params(good(signer, now) + " " * 20_000))
    assert info.value.code == "ValidationError"
    assert "webIdentityToken" in info.value.message


@pytest.mark.parametrize("provider", ["www.amazon.com", "graph.facebook.com"])
def test_an_oauth_provider_id_is_a_provider_rejecting_every_token(web, signer, now, provider):
    """No OAuth provider to ask offline: IDPRejectedClaim (403), the detail saying why."""
    error = refused(web, params(good(signer, now), ProviderId=provider), "IDPRejectedClaim",
                    REJECTED_MESSAGE, Rule.PROVIDER)
    assert error.http_status == 403
    assert provider in (error.detail or "") and "offline" in (error.detail or "")


def test_another_provider_id_is_refused(web, signer, now):
    error = refused(web, params(good(signer, now), ProviderId="accounts.google.com"),
                    "InvalidIdentityToken", PROVIDER_ID_MESSAGE, Rule.PROVIDER)
    assert "accounts.google.com" in (error.detail or "")


# --------------------------------------------------------------------------- the token itself


@pytest.mark.parametrize(("token", "found"), [
    ("not-a-jwt", "1 dot-separated part"),
    ("abc.def", "2 dot-separated parts"),
    ("a.b.c.d.e", "encrypted JWT (JWE)"),
    (forge("not json", {"iss": ISSUER}), "no JSON object"),
    (forge(b"[1, 2]", {"iss": ISSUER}), "no JSON object"),
    ("!!!!.abcd.efgh", "not base64url"),
    (forge({"alg": "RS256"}, {"iss": ISSUER}) + "=====", "not base64url"),
    (forge({"alg": "RS256", "pad": "x" * 7000}, {"iss": ISSUER}), "longer than 8192"),
    (forge(b"[" * 2500 + b"]" * 2500, {"iss": ISSUER}), "no JSON object"),
    (forge(b'{"a":' * 1020 + b"1" + b"}" * 1020, {"iss": ISSUER}), "no JSON object"),
    (forge({"alg": "RS256", "crit": ["exp"]}, {"iss": ISSUER}), "Unsupported critical"),
])
def test_tokens_that_are_no_jws_are_refused(web, token, found):
    error = refused(web, params(token), "InvalidIdentityToken", NOT_A_JWT_MESSAGE, Rule.TOKEN)
    assert found in (error.detail or "")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256", "HS512", "PS256", "EdDSA",
                                 "", None, ["RS256"]])
def test_only_rsa_and_ecdsa_algorithms_are_taken(web, now, alg):
    header: dict[str, Any] = {"typ": "JWT", "kid": "rsa-1"}
    if alg is not None:
        header["alg"] = alg
    error = refused(web, params(forge(header, claims(ISSUER, now), b"sig")),
                    "InvalidIdentityToken", rule=Rule.TOKEN)
    assert error.message.startswith("Unsupported token signing algorithm")


@pytest.mark.parametrize("form", ["pem", "jwk"])
def test_hmac_keyed_with_the_issuers_public_key_is_refused(web, signer, now, form):
    secret = (public_pem(signer.keys["rsa-1"]) if form == "pem"
              else json.dumps(signer.jwk("rsa-1")).encode())
    token = hmac_token({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(ISSUER, now),
                       secret)
    refused(web, params(token), "InvalidIdentityToken", rule=Rule.TOKEN)


def test_the_payload_must_be_a_json_object(web):
    refused(web, params(forge({"alg": "RS256"}, b"[1]", b"sig")), "InvalidIdentityToken",
            NOT_A_JWT_MESSAGE, Rule.TOKEN)


# --------------------------------------------------------------------------- issuer and keys


def test_iss_is_required(web, signer, now):
    refused(web, params(good(signer, now, iss=None)), "InvalidIdentityToken",
            "Missing a required claim: iss", Rule.TOKEN_ISSUER)
    refused(web, params(good(signer, now, iss=42)), "InvalidIdentityToken",
            "Missing a required claim: iss", Rule.TOKEN_ISSUER)


@pytest.mark.parametrize(("iss", "role", "found"), [
    ("https://evil.example/oidc", WORKLOAD, "it has slash.example.test/, " + HOST_PATH),
    (f"{ISSUER}/", WORKLOAD, "no IAM OIDC provider for token.example.test/oidc/"),
    (HOST_PATH, WORKLOAD, "does not begin with https://"),
    (ISSUER, ELSEWHERE, f"account {OTHER_ACCOUNT} has no IAM OIDC provider"),
])
def test_the_issuer_must_be_a_provider_of_the_roles_account(web, signer, now, iss, role, found):
    error = refused(web, params(signer.sign(claims(iss, now)), role), "InvalidIdentityToken",
                    f"No OpenIDConnect provider found in your account for {iss}",
                    Rule.TOKEN_ISSUER)
    assert found in (error.detail or "")


def test_an_http_issuer_matches_the_provider_without_its_scheme(web, signer, now):
    token = signer.sign(claims("http://token.example.test/oidc", now))
    keys = IssuerKeys(web.clock, {"http://token.example.test/oidc": signer.jwks})
    plain = WebIdentity(web.iam, web.credentials, web.clock, keys)
    assert plain.assume(params(token)).provider == "http://token.example.test/oidc"


def test_an_unknown_kid_names_the_keys_there_are(web, signer, now):
    error = refused(web, params(signer.sign(claims(ISSUER, now), "rsa-9", key="rsa-1")),
                    "InvalidIdentityToken", KEYS_MESSAGE, Rule.TOKEN_KEYS)
    assert "'rsa-9'" in (error.detail or "") and "'rsa-1'" in (error.detail or "")


# --------------------------------------------------------------------------- signature


def test_a_tampered_payload_fails_the_signature(web, signer, now):
    header, _, signature = good(signer, now).split(".")
    forged = b64url(json.dumps(claims(ISSUER, now, sub="system:serviceaccount:kube-system:admin"))
                    .encode())
    refused(web, params(f"{header}.{forged}.{signature}"), "InvalidIdentityToken",
            SIGNATURE_MESSAGE, Rule.TOKEN_SIGNATURE)


def test_another_key_under_a_published_kid_fails(web, signer, now):
    attacker = TokenSigner()
    token = attacker.sign(claims(ISSUER, now), "rsa-1")
    error = refused(web, params(token), "InvalidIdentityToken", SIGNATURE_MESSAGE,
                    Rule.TOKEN_SIGNATURE)
    assert "does not verify with key 'rsa-1'" in (error.detail or "")


def test_a_key_embedded_in_the_header_is_ignored(web, signer, now):
    attacker = TokenSigner()
    token = attacker.sign(claims(ISSUER, now), None, key="rsa-1",
                          headers={"jwk": attacker.jwk("rsa-1"), "jku": "http://127.0.0.1:1/k"})
    refused(web, params(token), "InvalidIdentityToken", SIGNATURE_MESSAGE, Rule.TOKEN_SIGNATURE)


def test_the_algorithm_must_fit_the_key(web, signer, now):
    # An RS256 header over an EC key's kid, and ES384 for a P-256 key.
    rs_on_ec = signer.sign(claims(ISSUER, now), "ec-1", key="rsa-1", alg="RS256")
    error = refused(web, params(rs_on_ec), "InvalidIdentityToken", SIGNATURE_MESSAGE,
                    Rule.TOKEN_SIGNATURE)
    assert "no RS256 key" in (error.detail or "")
    es384_on_p256 = signer.sign(claims(ISSUER, now), "ec-1", key="ec-384", alg="ES384")
    refused(web, params(es384_on_p256), "InvalidIdentityToken", SIGNATURE_MESSAGE,
            Rule.TOKEN_SIGNATURE)


def test_a_jwk_for_another_algorithm_is_not_used(web, signer, now, clock):
    jwks = {"keys": [signer.jwk("rsa-1", alg="RS512")]}
    keys = IssuerKeys(clock, {ISSUER: lambda: jwks})
    strict = WebIdentity(web.iam, web.credentials, clock, keys)
    error = refused(strict, params(good(signer, now)), "InvalidIdentityToken",
                    SIGNATURE_MESSAGE, Rule.TOKEN_SIGNATURE)
    assert "is for 'RS512'" in (error.detail or "")


def test_rsa_keys_under_2048_bits_are_refused(web, now, clock):
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(small.public_key(), as_dict=True) | {"kid": "k"}
    keys = IssuerKeys(clock, {ISSUER: lambda: {"keys": [jwk]}})
    weak = WebIdentity(web.iam, web.credentials, clock, keys)
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):  # PyJWT warns when signing
        token = jwt.encode(claims(ISSUER, now), small, algorithm="RS256", headers={"kid": "k"})
    error = refused(weak, params(token), "InvalidIdentityToken", SIGNATURE_MESSAGE,
                    Rule.TOKEN_SIGNATURE)
    assert "2048" in (error.detail or "")


# --------------------------------------------------------------------------- claims


def test_aud_is_required_and_must_be_a_client_id(web, signer, now):
    refused(web, params(good(signer, now, aud=None)), "InvalidIdentityToken",
            "Missing a required claim: aud", Rule.TOKEN_AUDIENCE)
    error = refused(web, params(good(signer, now, aud="my-app")), "InvalidIdentityToken",
                    "Incorrect token audience", Rule.TOKEN_AUDIENCE)
    assert "['my-app']" in (error.detail or "") and "sts.amazonaws.com" in (error.detail or "")
    refused(web, params(good(signer, now, aud=7)), "InvalidIdentityToken",
            "Incorrect token audience", Rule.TOKEN_AUDIENCE)


@pytest.mark.parametrize(("sub", "message"), [
    (None, "Missing a required claim: sub"),
    ("", "Missing a required claim: sub"),
    (["a"], "Missing a required claim: sub"),
    ("nul\x00byte", "Invalid sub claim: at most 255 characters, no control characters"),
    ("x" * 256, "Invalid sub claim: at most 255 characters, no control characters"),
])
def test_sub_is_required_and_must_fit_the_result(web, signer, now, sub, message):
    refused(web, params(good(signer, now, sub=sub) if sub is not None
                        else signer.sign({k: v for k, v in claims(ISSUER, now).items()
                                          if k != "sub"})),
            "InvalidIdentityToken", message, Rule.TOKEN)


@pytest.mark.parametrize("value", [1.0e9, "1700000000", True, [1], {"t": 1}])
def test_timestamps_must_be_integers(web, signer, now, value):
    for name in ("exp", "iat", "nbf"):
        refused(web, params(good(signer, now, **{name: value})), "InvalidIdentityToken",
                TIMESTAMP_MESSAGE, Rule.TOKEN_EXPIRED)


def test_exp_is_required(web, signer, now):
    refused(web, params(good(signer, now, exp=None)), "InvalidIdentityToken",
            "Missing a required claim: exp", Rule.TOKEN_EXPIRED)


def test_exp_has_five_minutes_of_grace(web, signer, now):
    assert web.assume(params(good(signer, now, exp=now - 299))).subject == SUB
    exp = now - 300
    refused(web, params(good(signer, now, exp=exp)), "ExpiredTokenException",
            f"Token expired: current date/time {now} must be before the expiration date/time "
            f"{exp}", Rule.TOKEN_EXPIRED)


def test_the_simulator_clock_decides(web, signer, now, clock):
    token = good(signer, now)
    clock.advance(3600 + 299)
    assert web.assume(params(token)).subject == SUB
    clock.advance(1)
    refused(web, params(token), "ExpiredTokenException", rule=Rule.TOKEN_EXPIRED)


def test_a_token_older_than_a_day_is_refused(web, signer, now):
    token = good(signer, now, iat=now - 86_401, nbf=now - 86_401, exp=now + 3600)
    refused(web, params(token), "ExpiredTokenException", "Token too old: 86401",
            Rule.TOKEN_EXPIRED)
    assert web.assume(params(good(signer, now, iat=now - 86_400, nbf=None))).subject == SUB


@pytest.mark.parametrize("name", ["nbf", "iat"])
def test_a_token_from_the_future_is_not_yet_valid(web, signer, now, name):
    assert web.assume(params(good(signer, now, **{name: now + 300}))).subject == SUB
    error = refused(web, params(good(signer, now, **{name: now + 301})),
                    "InvalidIdentityToken", rule=Rule.TOKEN_EXPIRED)
    assert error.message.startswith(f"Token not yet valid: current date/time {now} must be on")


# --------------------------------------------------------------------------- role and trust


def test_a_missing_role_is_access_denied(web, signer, now):
    refused(web, params(good(signer, now), f"arn:aws:iam::{ACCOUNT}:role/Nope"), "AccessDenied",
            NOT_AUTHORIZED, Rule.ROLE_MISSING)


def test_the_trust_policy_sees_sub_and_aud(web, signer, now):
    error = refused(web, params(good(signer, now, sub="system:serviceaccount:prod:other")),
                    "AccessDenied", NOT_AUTHORIZED, Rule.TRUST_POLICY)
    assert "system:serviceaccount:prod:other" in (error.detail or "")
    error = refused(web, params(good(signer, now, aud="other-client")), "AccessDenied",
                    NOT_AUTHORIZED, Rule.TRUST_POLICY)
    assert f"{HOST_PATH}:aud" in (error.detail or "")
    result = web.assume(params(good(signer, now, aud="other-client"), OTHER_AUD))
    assert result.audience == "other-client"


def test_the_trust_policy_sees_amr(web, signer, now):
    refused(web, params(good(signer, now), AMR), "AccessDenied", NOT_AUTHORIZED,
            Rule.TRUST_POLICY)
    token = good(signer, now, amr=["authenticated", "cognito-idp.example"])
    assert web.assume(params(token, AMR)).subject == SUB


@pytest.mark.parametrize("amr", [["authenticated", 5], {"x": 1}, 7, [["authenticated"]]])
def test_an_amr_that_is_not_strings_is_refused_not_partly_read(web, signer, now, amr):
    """``ForAllValues`` on ``:amr`` must never pass on values it did not see."""
    refused(web, params(good(signer, now, amr=amr), AMR), "InvalidIdentityToken",
            "Invalid amr claim: an array of strings", Rule.TOKEN)


def test_the_trust_policy_sees_the_session_name(web, signer, now):
    refused(web, params(good(signer, now), NAMED), "AccessDenied", NOT_AUTHORIZED,
            Rule.TRUST_POLICY)
    query = params(good(signer, now), NAMED) | {"RoleSessionName": "ci-42"}
    assert web.assume(query).claims.session_name == "ci-42"


def test_duration_is_capped_by_the_roles_maximum(web, signer, now, clock):
    refused(web, params(good(signer, now), DurationSeconds="7201"), "ValidationError",
            MAX_DURATION_MESSAGE, Rule.SESSION_DURATION)
    result = web.assume(params(good(signer, now), DurationSeconds="7200"))
    assert result.credentials.expiration == clock.now() + dt.timedelta(seconds=7200)
    refused(web, params(good(signer, now), OTHER_AUD, DurationSeconds="3601"),
            "AccessDenied", NOT_AUTHORIZED, Rule.TRUST_POLICY)  # trust comes first
    token = good(signer, now, aud="other-client")
    refused(web, params(token, OTHER_AUD, DurationSeconds="3601"), "ValidationError",
            MAX_DURATION_MESSAGE, Rule.SESSION_DURATION)  # the default maximum: one hour


# --------------------------------------------------------------------------- tags, source identity

TAGS = {"principal_tags": {"team": ["blue"], "Project": "apollo"},
        "transitive_tag_keys": ["team"]}


def test_session_tags_come_from_the_tags_claim_and_need_tag_session(web, signer, now):
    token = good(signer, now, **{"https://aws.amazon.com/tags": TAGS})
    result = web.assume(params(token, TAGGED))
    assert dict(result.claims.tags) == {"team": "blue", "Project": "apollo"}
    assert result.claims.transitive_tag_keys == ("team",)
    assert result.packed_policy_size is not None
    # Tag keys ignore case: one transitive key, the first spelling.
    twice = {**TAGS, "transitive_tag_keys": ["team", "TEAM"]}
    token_twice = good(signer, now, **{"https://aws.amazon.com/tags": twice})
    assert web.assume(params(token_twice, TAGGED)).claims.transitive_tag_keys == ("team",)
    # Workload's trust allows no sts:TagSession.
    error = refused(web, params(token), "AccessDenied", NOT_AUTHORIZED, Rule.TRUST_POLICY)
    assert "sts:TagSession" in (error.detail or "")
    # Tagged's trust asks for team=blue.
    other = good(signer, now, **{"https://aws.amazon.com/tags": {
        "principal_tags": {"team": ["red"]}}})
    refused(web, params(other, TAGGED), "AccessDenied", NOT_AUTHORIZED, Rule.TRUST_POLICY)


@pytest.mark.parametrize(("tags", "found"), [
    ("team=blue", "not an object"),
    ({"principal_tags": ["team"]}, "not an object"),
    ({"principal_tags": {"team": ["blue", "red"]}}, "one string"),
    ({"principal_tags": {"aws:team": ["blue"]}}, "invalid session tag key"),
    ({"principal_tags": {"team": ["bl\nue"]}}, "invalid value"),
    ({"principal_tags": {"Team": ["a"], "team": ["b"]}}, "duplicate session tag key"),
    ({"principal_tags": {f"k{i}": ["v"] for i in range(51)}}, "the limit is 50"),
    ({"principal_tags": {"team": ["blue"]}, "transitive_tag_keys": ["project"]},
     "not a session tag key"),
    ({"principal_tags": {"team": ["blue"]}, "transitive_tag_keys": "team"},
     "not an array of strings"),
])
def test_a_malformed_tags_claim_is_refused(web, signer, now, tags, found):
    token = good(signer, now, **{"https://aws.amazon.com/tags": tags})
    error = refused(web, params(token, TAGGED), "InvalidIdentityToken",
                    "Invalid https://aws.amazon.com/tags claim", Rule.TAGS)
    assert found in (error.detail or "")


def test_source_identity_comes_from_its_claim(web, signer, now):
    token = good(signer, now, **{"https://aws.amazon.com/source_identity": "alice",
                                 "https://aws.amazon.com/tags": TAGS})
    result = web.assume(params(token, TAGGED))
    assert result.source_identity == "alice" and result.claims.source_identity == "alice"
    # Workload's trust allows no sts:SetSourceIdentity.
    bare = good(signer, now, **{"https://aws.amazon.com/source_identity": "alice"})
    error = refused(web, params(bare), "AccessDenied", NOT_AUTHORIZED, Rule.TRUST_POLICY)
    assert "sts:SetSourceIdentity" in (error.detail or "")
    for value in ("aws:alice", "a b", 7):
        token = good(signer, now, **{"https://aws.amazon.com/source_identity": value})
        refused(web, params(token, TAGGED), "InvalidIdentityToken", rule=Rule.SOURCE_IDENTITY)


def test_a_session_policy_is_kept_and_counted(web, signer, now):
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:List*", "Resource": "*"}]})
    result = web.assume(params(good(signer, now), Policy=policy))
    assert result.claims.session_policy == policy
    assert 0 < (result.packed_policy_size or 0) <= 100


# --------------------------------------------------------------------------- the log's view


def test_token_summary_shows_header_and_claims_but_no_signature(signer, now):
    token = good(signer, now)
    summary = json.loads(token_summary(token) or b"null")
    assert summary["header"]["kid"] == "rsa-1" and summary["payload"]["sub"] == SUB
    assert token.rsplit(".", 1)[1] not in json.dumps(summary)
    assert token_summary("garbage") is None and token_summary(None) is None
    assert token_summary("x" * 20_001) is None
