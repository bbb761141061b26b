"""What the OpenID Connect tests share: the demo client, PKCE pairs, and an independent check
of the tokens (PyJWT against the JWK Set the provider serves, never the provider's own code).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt

#: The demo's public client (``oidc_clients`` in ``idp/directory/demo.yaml``).
CLIENT_ID: Final = "sample-web-app"
REDIRECT_URI: Final = "http://127.0.0.1:8765/callback"
#: A confidential client the tests add to the demo (``with_confidential_client``).
SECRET_CLIENT: Final = "backend-app"
SECRET: Final = "backend-secret-value"
SECRET_REDIRECT: Final = "https://backend.example/cb?tenant=1"


def with_confidential_client(data: dict[str, Any]) -> None:
    """A ``tests.support.demo.edited_demo`` edit: add ``backend-app`` with a secret."""
    data["oidc_clients"][SECRET_CLIENT] = {"name": "Backend app", "secret": SECRET,
                                           "redirect_uris": [SECRET_REDIRECT]}


def pkce_pair() -> tuple[str, str]:
    """A fresh ``(code_verifier, code_challenge)`` for S256 (RFC 7636 §4.1-4.2)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_query(challenge: str | None, **overrides: str | None) -> str:
    """The query of an authorization request by the demo client (``None`` drops a field)."""
    params: dict[str, str | None] = {
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email groups", "state": "st-123", "nonce": "n-456",
        "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(overrides)
    return urlencode({k: v for k, v in params.items() if v is not None})


def query_of(url: str) -> dict[str, str]:
    """The query of ``url`` as single values (a repeated parameter fails the test)."""
    parsed = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert all(len(v) == 1 for v in parsed.values()), parsed
    return {k: v[0] for k, v in parsed.items()}


def verify(token: str, jwks: dict[str, Any], *, audience: str, issuer: str,
           typ: str = "JWT", leeway: float = 0) -> dict[str, Any]:
    """The claims of ``token`` if PyJWT verifies it with the key its ``kid`` names in
    ``jwks`` (RS256 only, ``iss``/``aud``/``exp``/``iat`` required and checked against the
    system clock, ``leeway`` seconds either way, for tests that moved the simulated one)."""
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["typ"] == typ, header
    keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys}
    claims: dict[str, Any] = jwt.decode(
        token, keys[header["kid"]].key, algorithms=["RS256"], audience=audience,
        issuer=issuer, leeway=leeway, options={"require": ["iss", "sub", "aud", "exp", "iat"]})
    return claims
