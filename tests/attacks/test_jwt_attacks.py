"""Attacks on AssumeRoleWithWebIdentity through real boto3 against a live simulator.

One table, ``ATTACKS``: each named vector builds a token (and the request around it) from the
``Kit`` (the simulator's own issuer, its real signing key, an attacker's keys, the simulated
time) and names the AWS error boto3 must see: Code, HTTP status (4xx: retries are off, so a
5xx would surface as itself), Type ``Sender``, Message (exact, or a part of it), and no
Credentials. A few controls must be accepted, so the table cannot pass by refusing everything.

Families: unsigned and downgraded algorithms (``none``, HMAC keyed with the issuer's public key
as PEM or JWK, PSS), forged issuers and keys (unknown ``kid``, keys embedded in the header,
``jku``), tampering (payload, header, signature), claims (audience, subject, times, integer
timestamps, tags), shape (oversized, garbage, JWE, ``crit``, JSON bombs, huge numbers,
characters XML cannot carry) and the request (``ProviderId``, other accounts, missing roles).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions
import jwt
import pytest

from idp import Simulator
from idp.aws.oidc_keys import KEYS_MESSAGE
from idp.aws.web_identity import NOT_A_JWT_MESSAGE, NOT_AUTHORIZED, SIGNATURE_MESSAGE
from tests.aws.web_identity_tokens import TokenSigner, b64url, claims, forge, hmac_token, public_pem
from tests.support.sts import assert_sts_refusal, clean_aws_environment, sts_client

pytestmark = pytest.mark.live

DEV = "444455556666"
CI_DEPLOY = f"arn:aws:iam::{DEV}:role/CiDeploy"
SA = "system:serviceaccount:prod:deployer"


@dataclass(frozen=True)
class Kit:
    """What an attacker (and the honest controls) can build tokens from."""

    sim: Simulator
    attacker: TokenSigner

    @property
    def issuer(self) -> str:
        issuer: str = self.sim.runtime.services.oidc.issuer
        return issuer

    @property
    def kid(self) -> str:
        kid: str = self.sim.runtime.services.oidc.signing_kid
        return kid

    @property
    def now(self) -> int:
        return int(self.sim.clock.now().timestamp())

    def body(self, **extra: Any) -> dict[str, Any]:
        return claims(self.issuer, self.now, **{"sub": SA, **extra})

    def genuine(self, **extra: Any) -> str:
        """Signed by the simulator's own issuer key (an honest IdP's token)."""
        token: str = self.sim.runtime.services.oidc.sign(self.body(**extra))
        return token

    def genuine_raw(self, payload: bytes, **header: Any) -> str:
        """Any payload bytes signed by the issuer's real key (what PyJWT's encode refuses)."""
        key = self.sim.runtime.services.oidc.signing_pair.private_key
        token: str = jwt.PyJWS().encode(payload, key, algorithm="RS256",
                                        headers={"kid": self.kid, **header})
        return token

    def attacker_signed(self, body: dict[str, Any] | None = None, kid: str | None = None,
                        **headers: Any) -> str:
        return self.attacker.sign(body or self.body(), kid, key="rsa-1", headers=headers)

    def public_jwk(self) -> dict[str, Any]:
        jwks: dict[str, Any] = self.sim.runtime.services.oidc.jwks()
        found: dict[str, Any] = jwks["keys"][0]
        return found


@dataclass(frozen=True)
class Refused:
    code: str
    status: int
    message: str
    exact: bool = True


@dataclass(frozen=True)
class Accepted:
    subject: str = SA


@dataclass(frozen=True)
class JwtAttack:
    build: Callable[[Kit], str]
    expected: Refused | Accepted
    role: str = CI_DEPLOY
    extra: dict[str, str] = field(default_factory=dict)


def _tamper_payload(kit: Kit) -> str:
    header, _, signature = kit.genuine().split(".")
    forged = b64url(json.dumps(kit.body(sub="system:serviceaccount:kube-system:admin")).encode())
    return f"{header}.{forged}.{signature}"


def _tamper_header(kit: Kit) -> str:
    _, payload, signature = kit.genuine().split(".")
    header = b64url(json.dumps({"alg": "RS512", "kid": kit.kid, "typ": "JWT"}).encode())
    return f"{header}.{payload}.{signature}"


def _strip_signature(kit: Kit) -> str:
    return kit.genuine().rsplit(".", 1)[0] + "."


def _truncate_signature(kit: Kit) -> str:
    """Three bytes short, cut at a base64 quantum (so it is still canonical base64url)."""
    signing_input, signature = kit.genuine().rsplit(".", 1)
    return f"{signing_input}.{signature[:len(signature) // 4 * 4 - 4]}"


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


INVALID = "InvalidIdentityToken"
NOT_JWT = Refused(INVALID, 400, NOT_A_JWT_MESSAGE)
BAD_ALG = Refused(INVALID, 400, "Unsupported token signing algorithm", exact=False)
BAD_SIGNATURE = Refused(INVALID, 400, SIGNATURE_MESSAGE)
NO_KEY = Refused(INVALID, 400, KEYS_MESSAGE)
DENIED = Refused("AccessDenied", 403, NOT_AUTHORIZED)

ATTACKS: dict[str, JwtAttack] = {
    # Controls: honest tokens are accepted.
    "control_genuine": JwtAttack(lambda k: k.genuine(), Accepted()),
    "control_audience_list": JwtAttack(
        lambda k: k.genuine(aud=["someone", "sts.amazonaws.com"]), Accepted()),
    "control_expired_within_skew": JwtAttack(
        lambda k: k.genuine(exp=k.now - 200, iat=k.now - 3800, nbf=None), Accepted()),
    "control_cli_newline": JwtAttack(lambda k: k.genuine() + "\n", Accepted()),
    # Algorithms.
    "alg_none": JwtAttack(lambda k: forge({"alg": "none", "typ": "JWT"}, k.body()), BAD_ALG),
    "alg_none_with_kid": JwtAttack(
        lambda k: forge({"alg": "none", "kid": k.kid}, k.body(), b"sig"), BAD_ALG),
    "alg_None_mixed_case": JwtAttack(lambda k: forge({"alg": "None"}, k.body()), BAD_ALG),
    "alg_missing": JwtAttack(lambda k: forge({"kid": k.kid}, k.body(), b"x"), BAD_ALG),
    "alg_not_a_string": JwtAttack(lambda k: forge({"alg": ["RS256"]}, k.body(), b"x"), BAD_ALG),
    "hs256_keyed_with_public_pem": JwtAttack(lambda k: hmac_token(
        {"alg": "HS256", "typ": "JWT", "kid": k.kid}, k.body(),
        public_pem(k.sim.runtime.services.oidc.signing_pair.private_key)), BAD_ALG),
    "hs512_keyed_with_public_pem": JwtAttack(lambda k: hmac_token(
        {"alg": "HS512", "kid": k.kid}, k.body(),
        public_pem(k.sim.runtime.services.oidc.signing_pair.private_key), "sha512"), BAD_ALG),
    "hs256_keyed_with_public_jwk": JwtAttack(lambda k: hmac_token(
        {"alg": "HS256", "kid": k.kid}, k.body(), json.dumps(k.public_jwk()).encode()),
        BAD_ALG),
    "ps256_with_attacker_key": JwtAttack(
        lambda k: k.attacker.sign(k.body(), k.kid, key="rsa-1", alg="PS256"), BAD_ALG),
    # Issuers and keys.
    "wrong_issuer": JwtAttack(
        lambda k: k.attacker_signed(claims("https://evil.example/oidc", k.now, sub=SA), "a"),
        Refused(INVALID, 400,
                "No OpenIDConnect provider found in your account for https://evil.example/oidc")),
    "issuer_with_control_characters": JwtAttack(
        lambda k: k.attacker_signed(claims("https://evil\x01\x02.example/\ud800", k.now), "a"),
        Refused(INVALID, 400, "No OpenIDConnect provider found in your account for https://evil",
                exact=False)),
    "own_issuer_attacker_key_under_own_kid": JwtAttack(
        lambda k: k.attacker_signed(kid=k.kid), BAD_SIGNATURE),
    "own_issuer_attacker_key_without_kid": JwtAttack(
        lambda k: k.attacker_signed(kid=None), BAD_SIGNATURE),
    "unknown_kid": JwtAttack(lambda k: k.attacker_signed(kid="attacker-key"), NO_KEY),
    "kid_path_traversal": JwtAttack(lambda k: k.attacker_signed(kid="../../../../dev/null"),
                                    NO_KEY),
    "kid_sql_injection": JwtAttack(lambda k: k.attacker_signed(kid="x' OR '1'='1"), NO_KEY),
    "kid_not_a_string": JwtAttack(
        lambda k: forge({"alg": "RS256", "kid": 7}, k.body(), b"x"), NOT_JWT),
    "embedded_jwk_header": JwtAttack(
        lambda k: k.attacker_signed(kid=k.kid, jwk=k.attacker.jwk("rsa-1")), BAD_SIGNATURE),
    "jku_and_x5u_headers": JwtAttack(
        lambda k: k.attacker_signed(kid=k.kid, jku="http://127.0.0.1:9/jwks",
                                    x5u="http://127.0.0.1:9/cert"), BAD_SIGNATURE),
    # Tampering.
    "tampered_payload": JwtAttack(_tamper_payload, BAD_SIGNATURE),
    "tampered_header_alg": JwtAttack(_tamper_header, BAD_SIGNATURE),
    "signature_stripped": JwtAttack(_strip_signature, BAD_SIGNATURE),
    "signature_truncated": JwtAttack(_truncate_signature, BAD_SIGNATURE),
    # Claims (signed by the real key: only the claim is wrong).
    "wrong_audience": JwtAttack(lambda k: k.genuine(aud="my-web-app"),
                                Refused(INVALID, 400, "Incorrect token audience")),
    "missing_audience": JwtAttack(lambda k: k.genuine(aud=None),
                                  Refused(INVALID, 400, "Missing a required claim: aud")),
    "wrong_subject": JwtAttack(lambda k: k.genuine(sub="system:serviceaccount:prod:intruder"),
                               DENIED),
    "duplicate_subject_claim": JwtAttack(lambda k: k.genuine_raw(
        json.dumps(k.body()).encode()[:-1] + b', "sub": "system:serviceaccount:prod:x"}'),
        DENIED),
    "subject_with_nul": JwtAttack(lambda k: k.genuine(sub="system:serviceaccount:prod:\x00"),
                                  Refused(INVALID, 400, "Invalid sub claim", exact=False)),
    "expired": JwtAttack(
        lambda k: k.genuine(exp=k.now - 301, iat=k.now - 4000, nbf=None),
        Refused("ExpiredTokenException", 400, "Token expired: current date/time ",
                exact=False)),
    "too_old": JwtAttack(
        lambda k: k.genuine(iat=k.now - 90_000, nbf=None),
        Refused("ExpiredTokenException", 400, "Token too old: ", exact=False)),
    "not_yet_valid": JwtAttack(lambda k: k.genuine(nbf=k.now + 900),
                               Refused(INVALID, 400, "Token not yet valid", exact=False)),
    "float_exp": JwtAttack(lambda k: k.genuine(exp=k.now + 3600.5), Refused(
        INVALID, 400, "Timestamps in the token must be formatted as either an integer or a long "
        "integer")),
    "huge_exp": JwtAttack(lambda k: k.genuine_raw(
        json.dumps(k.body(exp=None)).encode()[:-1] + b', "exp": ' + b"9" * 5000 + b"}"),
        NOT_JWT),
    "tags_without_tag_session": JwtAttack(lambda k: k.genuine(**{
        "https://aws.amazon.com/tags": {"principal_tags": {"team": ["x"]}}}), DENIED),
    "source_identity_without_permission": JwtAttack(lambda k: k.genuine(**{
        "https://aws.amazon.com/source_identity": "admin"}), DENIED),
    # Shape.
    "oversized": JwtAttack(lambda k: "A" * 20_001, Refused(
        "ValidationError", 400, "1 validation error detected: Value at 'webIdentityToken' failed "
        "to satisfy constraint: Member must have length less than or equal to 20000")),
    "oversized_genuine_prefix": JwtAttack(lambda k: k.genuine() + "A" * 20_000, Refused(
        "ValidationError", 400, "Member must have length less than or equal to 20000", False)),
    "garbage": JwtAttack(lambda k: "garbage-not-a-token", NOT_JWT),
    "control_characters": JwtAttack(lambda k: "\x01\x02.\x03\x04.\x05", NOT_JWT),
    "access_token_like": JwtAttack(lambda k: "ya29.a0AfH6SMBexample", NOT_JWT),
    "jwe_five_parts": JwtAttack(lambda k: "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", NOT_JWT),
    "crit_unknown_extension": JwtAttack(
        lambda k: forge({"alg": "RS256", "kid": k.kid, "crit": ["exp"]}, k.body(), b"x"),
        NOT_JWT),
    "json_bomb_header_arrays": JwtAttack(lambda k: forge(b"[" * 2500 + b"]" * 2500, k.body()),
                                         NOT_JWT),
    "json_bomb_header_objects": JwtAttack(lambda k: forge(_nested(1020), k.body()), NOT_JWT),
    "json_bomb_payload": JwtAttack(lambda k: forge({"alg": "RS256", "kid": k.kid},
                                                   _nested(2000), b"x"), NOT_JWT),
    "deeply_nested_audience": JwtAttack(lambda k: k.genuine_raw(
        json.dumps(k.body(aud=None)).encode()[:-1] + b', "aud": ' + b"[" * 900 + b"]" * 900
        + b"}"), Refused(INVALID, 400, "Incorrect token audience")),
    "header_not_an_object": JwtAttack(lambda k: forge(b'"RS256"', k.body(), b"x"), NOT_JWT),
    # The request around the token.
    "provider_id_oauth": JwtAttack(lambda k: k.genuine(), Refused(
        "IDPRejectedClaim", 403, "The identity provider (IdP) reported that authentication "
        "failed. This might be because the claim is invalid."),
        extra={"ProviderId": "www.amazon.com"}),
    "provider_id_other": JwtAttack(lambda k: k.genuine(), Refused(
        INVALID, 400, "ProviderId is only for OAuth 2.0", exact=False),
        extra={"ProviderId": "accounts.google.com"}),
    "role_of_another_account": JwtAttack(
        lambda k: k.genuine(), Refused(INVALID, 400, "No OpenIDConnect provider found in your "
                                       "account for ", exact=False),
        role="arn:aws:iam::111122223333:role/ReadOnly"),
    "missing_role": JwtAttack(lambda k: k.genuine(), DENIED,
                              role=f"arn:aws:iam::{DEV}:role/DoesNotExist"),
    "duration_past_the_roles_maximum": JwtAttack(lambda k: k.genuine(), Refused(
        "ValidationError", 400,
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."),
        extra={"DurationSeconds": "7200"}),
}


@pytest.fixture(scope="module")
def kit() -> Iterator[Kit]:
    with Simulator() as sim:
        yield Kit(sim=sim, attacker=TokenSigner())


@pytest.fixture(scope="module")
def sts(kit: Kit, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        clean_aws_environment(monkeypatch, tmp_path_factory.mktemp("aws-config"))
        yield sts_client(kit.sim.sts_endpoint)


def call(sts: Any, attack: JwtAttack, token: str) -> dict[str, Any]:
    extra: dict[str, Any] = {k: int(v) if k == "DurationSeconds" else v
                             for k, v in attack.extra.items()}
    result: dict[str, Any] = sts.assume_role_with_web_identity(
        RoleArn=attack.role, RoleSessionName="attack", WebIdentityToken=token, **extra)
    return result


@pytest.mark.parametrize("name", list(ATTACKS))
def test_jwt_attack(name: str, kit: Kit, sts: Any) -> None:
    attack = ATTACKS[name]
    token = attack.build(kit)
    expected = attack.expected
    if isinstance(expected, Accepted):
        result = call(sts, attack, token)
        assert result["SubjectFromWebIdentityToken"] == expected.subject
        assert result["Credentials"]["AccessKeyId"].startswith("ASIA")
        return
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(sts, attack, token)
    assert_sts_refusal(caught.value.response, status=expected.status, code=expected.code,
                       message=expected.message, exact=expected.exact)


def test_every_refusal_is_in_the_exchange_log_with_what_was_found(kit: Kit, sts: Any) -> None:
    """The decision trail a user debugging an IdP reads: the rule and the finding."""
    with pytest.raises(botocore.exceptions.ClientError):
        call(sts, ATTACKS["wrong_audience"], ATTACKS["wrong_audience"].build(kit))
    entry = kit.sim.runtime.services.exchanges.entries(kind="web-identity")[-1]
    assert entry.rule == "token-audience" and "my-web-app" in (entry.detail or "")
    assert entry.message is not None and '"aud": "my-web-app"' in entry.message
    assert [c.rule for c in entry.checks if c.passed] == [
        "provider", "token", "token-issuer", "token-keys", "token-signature"]


def test_the_table_covers_the_brief() -> None:
    required = {"alg_none", "hs256_keyed_with_public_pem", "hs256_keyed_with_public_jwk",
                "wrong_issuer", "wrong_audience", "expired", "unknown_kid", "tampered_payload",
                "oversized", "garbage", "json_bomb_header_arrays", "json_bomb_header_objects",
                "control_genuine"}
    assert required <= set(ATTACKS)
    assert sum(isinstance(a.expected, Accepted) for a in ATTACKS.values()) >= 3
