"""Keys and workload tokens (``idp.oidc.signing``): RFC 7638 key IDs, JWKS, token claims."""

from __future__ import annotations

import base64

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from idp.clock import FixedClock
from idp.keys import KeyPair
from idp.oidc.signing import TokenSigner, key_id

ISSUER = "http://idp.test/oidc"
#: RFC 7638 §3.1's example key and its thumbprint.
RFC7638_N = ("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS"
             "oc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-6"
             "5YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNL"
             "yrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJ"
             "zKnqDKgw")
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_key_id_is_the_rfc_7638_thumbprint():
    n = int.from_bytes(base64.urlsafe_b64decode(RFC7638_N + "=" * (-len(RFC7638_N) % 4)), "big")
    assert key_id(rsa.RSAPublicNumbers(65537, n).public_key()) == RFC7638_THUMBPRINT


@pytest.fixture
def signer(oidc_keys: dict[str, KeyPair], clock: FixedClock) -> TokenSigner:
    return TokenSigner(ISSUER, oidc_keys, clock)


def decode(signer: TokenSigner, token: str, audience: str | list[str]) -> dict[str, object]:
    keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(signer.jwks()).keys}
    kid = jwt.get_unverified_header(token)["kid"]
    return dict(jwt.decode(token, keys[kid].key, algorithms=["RS256"], audience=audience,
                           issuer=ISSUER))


def test_a_workload_token_has_the_claims_sts_reads(signer: TokenSigner, clock: FixedClock):
    token = signer.workload_token("system:serviceaccount:prod:deployer", "sts.amazonaws.com",
                                  ttl=900)
    claims = decode(signer, token, "sts.amazonaws.com")
    now = int(clock.now().timestamp())
    assert claims["sub"] == "system:serviceaccount:prod:deployer"
    assert claims["aud"] == "sts.amazonaws.com"
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (now, now, now + 900)
    assert isinstance(claims["jti"], str) and len(str(claims["jti"])) >= 16
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT",
                                                "kid": signer.signing_kid}


def test_several_audiences_are_an_array_and_claims_add_or_override(signer: TokenSigner):
    token = signer.workload_token("ci", ("a", "b"), claims={
        "amr": ["mfa"], "https://aws.amazon.com/tags": {"principal_tags": {"team": ["x"]}},
        "iss": "https://elsewhere.example"})
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == ["a", "b"] and claims["amr"] == ["mfa"]
    assert claims["iss"] == "https://elsewhere.example"


@pytest.mark.parametrize(("args", "message"), [
    (("", "aud"), "subject"),
    (("sub", ""), "audience"),
    (("sub", ()), "audience"),
    (("sub", ("a", "")), "audience"),
])
def test_workload_token_refusals(signer: TokenSigner, args: tuple[str, str], message: str):
    with pytest.raises(ValueError, match=message):
        signer.workload_token(*args)


@pytest.mark.parametrize("ttl", [0, -1, 86_401, True])
def test_ttl_bounds(signer: TokenSigner, ttl: int):
    with pytest.raises(ValueError, match="lifetime"):
        signer.workload_token("s", "a", ttl=ttl)
    assert signer.workload_token("s", "a", ttl=86_400)


@pytest.mark.parametrize("claims", [{"": 1}, {"x": float("nan")}, {"x": object()},
                                    {"x": b"bytes"}])
def test_claims_must_be_json(signer: TokenSigner, claims: dict[str, object]):
    with pytest.raises(ValueError, match="claim"):
        signer.workload_token("s", "a", claims=claims)


def test_an_issuer_needs_a_signing_pair(clock: FixedClock):
    with pytest.raises(ValueError, match="signing key pair"):
        TokenSigner(ISSUER, {}, clock)
