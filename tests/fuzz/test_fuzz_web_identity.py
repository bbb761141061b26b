"""Fuzz AssumeRoleWithWebIdentity: random parameters, random tokens, random headers and claims
signed with the issuer's real key (so the checks after the signature are reached too), and
genuine tokens mutated byte by byte. The core raises nothing but ``AwsError`` (4xx); the live
route never answers 5xx."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from idp.aws.credentials import CredentialIssuer
from idp.aws.errors import AwsError
from idp.aws.iam import Iam
from idp.aws.oidc_keys import IssuerKeys
from idp.aws.web_identity import WebIdentity
from idp.clock import FixedClock
from idp.directory import Directory
from idp.keys import KeyPair
from idp.settings import Settings
from idp.store import SqliteStore
from tests.aws.web_identity_tokens import TokenSigner, b64url, claims, forge
from tests.support.builders import CREDENTIAL_SECRET
from tests.support.demo import BASE_URL

ISSUER = f"{BASE_URL}/oidc"  # the demo's own issuer (CiDeploy trusts it)
CI_DEPLOY = "arn:aws:iam::444455556666:role/CiDeploy"
SA = "system:serviceaccount:prod:deployer"
AT = dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC)
NOW = int(AT.timestamp())

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12)
CLAIM_NAMES = ["iss", "sub", "aud", "exp", "iat", "nbf", "amr", "jti", "azp",
               "https://aws.amazon.com/tags", "https://aws.amazon.com/source_identity"]
PLAUSIBLE = {
    "iss": st.sampled_from([ISSUER, ISSUER + "/", "https://idp.test/oidc", "idp.test/oidc", ""]),
    "sub": st.sampled_from([SA, "system:serviceaccount:prod:other", "", "x" * 300, "a\x00"]),
    "aud": st.sampled_from(["sts.amazonaws.com", ["sts.amazonaws.com", "x"], [], "x", 3]),
    "exp": st.integers(min_value=NOW - 10_000, max_value=NOW + 10_000) | st.floats(),
    "iat": st.integers(min_value=NOW - 100_000, max_value=NOW + 1000),
    "nbf": st.integers(min_value=NOW - 1000, max_value=NOW + 1000),
    "https://aws.amazon.com/tags": st.fixed_dictionaries({
        "principal_tags": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
        "transitive_tag_keys": json_values}),
}
claim_sets = st.builds(
    lambda base, drop, extra: {**{k: v for k, v in base.items() if k not in drop}, **extra},
    st.just(claims(ISSUER, NOW, sub=SA)),
    st.sets(st.sampled_from(CLAIM_NAMES), max_size=3),
    st.dictionaries(st.sampled_from(CLAIM_NAMES),
                    st.one_of(json_values, *[s for s in PLAUSIBLE.values()]), max_size=4))
headers = st.fixed_dictionaries(
    {"alg": st.sampled_from(["RS256", "RS384", "ES256", "none", "HS256", "PS256", "", "RS257"])
     | json_values},
    optional={"kid": st.sampled_from(["rsa-1", "ec-1", "nope", ""]) | json_values,
              "typ": json_values, "crit": json_values, "jwk": json_values,
              "b64": st.booleans()})
texts = st.text(max_size=300) | st.text(alphabet="abcXYZ019-_.=", max_size=300)
token_params = ["RoleArn", "RoleSessionName", "WebIdentityToken", "ProviderId", "Policy",
                "DurationSeconds", "PolicyArns.member.1.arn", "MinimumSessionTokenSize"]


@pytest.fixture(scope="module")
def signer() -> TokenSigner:
    return TokenSigner()


@pytest.fixture(scope="module")
def web(keypair: KeyPair, directory: Directory, signer: TokenSigner) -> Iterator[WebIdentity]:
    folder = Path(tempfile.mkdtemp())
    clock = FixedClock(AT)
    settings = Settings(base_url=BASE_URL, certs_dir=folder, data_dir=folder)
    store = SqliteStore(folder / "state.sqlite3", clock)
    iam = Iam(directory, settings.entity_id, (keypair,), store=store, clock=clock)
    yield WebIdentity(iam, CredentialIssuer(CREDENTIAL_SECRET, clock), clock,
                      IssuerKeys(clock, {ISSUER: signer.jwks}))
    store.close()


def outcome(web: WebIdentity, query: dict[str, str]) -> None:
    try:
        web.assume(query)
    except AwsError as exc:
        event(f"refused: {exc.code} ({exc.rule})")
        assert 400 <= exc.http_status < 500
        assert exc.message
    else:
        event("accepted")


def query(token: str, **extra: str) -> dict[str, str]:
    return {"RoleArn": CI_DEPLOY, "RoleSessionName": "fuzz", "WebIdentityToken": token,
            **extra}


def signed(signer: TokenSigner, header: dict[str, Any], body: Any) -> str:
    """``body`` (any JSON) under ``header``, signed with the issuer's RSA key."""
    payload = json.dumps(body).encode()
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(payload)}"
    genuine = jwt.PyJWS().encode(payload, signer.keys["rsa-1"], algorithm="RS256",
                                 headers={"kid": "rsa-1"})
    return f"{signing_input}.{genuine.rsplit('.', 1)[1]}"


@given(params=st.dictionaries(st.sampled_from(token_params) | st.text(max_size=12),
                              texts, max_size=8))
def test_any_parameters(web: WebIdentity, params: dict[str, str]) -> None:
    outcome(web, params)


@given(token=texts)
def test_any_token_text(web: WebIdentity, token: str) -> None:
    outcome(web, query(token))


@given(header=json_values, payload=json_values, signature=st.binary(max_size=64))
def test_any_json_in_a_forged_token(web: WebIdentity, header: Any, payload: Any,
                                    signature: bytes) -> None:
    outcome(web, query(forge(json.dumps(header), json.dumps(payload), signature)))


@given(body=claim_sets, extra=st.dictionaries(
    st.sampled_from(["DurationSeconds", "Policy", "ProviderId"]),
    st.sampled_from(["900", "3600", "43200", "7200", "www.amazon.com", "{}", "[1",
                     '{"Version":"2012-10-17","Statement":[]}']), max_size=2))
def test_any_claims_signed_with_the_real_key(web: WebIdentity, signer: TokenSigner,
                                            body: dict[str, Any], extra: dict[str, str]) -> None:
    outcome(web, query(signer.sign(body, "rsa-1"), **extra))


@given(header=headers, body=claim_sets)
def test_any_header_over_a_real_signature(web: WebIdentity, signer: TokenSigner,
                                          header: dict[str, Any], body: dict[str, Any]) -> None:
    outcome(web, query(signed(signer, header, body)))


@given(position=st.integers(min_value=0), replacement=st.characters(codec="ascii"))
def test_a_genuine_token_mutated_anywhere(web: WebIdentity, signer: TokenSigner,
                                          position: int, replacement: str) -> None:
    token = signer.sign(claims(ISSUER, NOW, sub=SA), "rsa-1")
    index = position % len(token)
    outcome(web, query(token[:index] + replacement + token[index + 1:]))


# --------------------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def genuine(fuzz_client: TestClient) -> str:
    oidc = fuzz_client.app.state.runtime.services.oidc  # type: ignore[attr-defined]
    token: str = oidc.workload_token(SA, "sts.amazonaws.com")
    return token


@given(token=texts | st.builds(lambda h, p: forge(json.dumps(h), json.dumps(p), b"s"),
                                json_values, json_values),
       extra=st.dictionaries(st.sampled_from(token_params), texts, max_size=3))
def test_the_route_never_answers_5xx(fuzz_client: TestClient, token: str,
                                     extra: dict[str, str]) -> None:
    form = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", **query(token),
            **extra}
    response = fuzz_client.post("/aws/sts", data=form)
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("text/xml")


@given(position=st.integers(min_value=0), replacement=st.characters(codec="ascii"))
def test_the_route_with_mutated_genuine_tokens(fuzz_client: TestClient, genuine: str,
                                               position: int, replacement: str) -> None:
    index = position % len(genuine)
    token = genuine[:index] + replacement + genuine[index + 1:]
    response = fuzz_client.post("/aws/sts", data={
        "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", **query(token)})
    assert response.status_code < 500, response.text
    if token == genuine:
        assert response.status_code == 200
