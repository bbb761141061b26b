"""The authorization code flow (OpenID Connect Core 1.0 §3.1), framework-free.

::

    authorization_request(params)      ──► AuthorizationRequest      (or a page / an error
      │                                                                redirect, see errors)
      ├── must_sign_in(request, principal, fresh)?  ──► the login page, then resume(request)
      └── issue_code(request, principal)   ──► redirect_uri?code=...&state=...&iss=...
    exchange(form, client credentials)  ──► {"access_token", "id_token", ...}  (once per code)
    userinfo(access token)              ──► {"sub", claims per scope}

Choices where the specifications leave one (each is tested):

* ``redirect_uri`` is required (OpenID Connect Core 1.0 §3.1.2.1) and compared exactly with
  the registered ones; until it and ``client_id`` are known good, errors are pages
  (``OidcRequestRefused``), never redirects (RFC 6749 §4.1.2.1).
* A parameter sent without a value counts as absent; one sent twice is ``invalid_request``
  (RFC 6749 §3.1). ``request``, ``request_uri`` and ``registration`` are refused with their
  ``*_not_supported`` codes (Core §3.1.2.6); ``response_mode`` may only be ``query``.
* ``scope`` must include ``openid`` (else ``invalid_scope``); unknown scopes are ignored and
  left out of the granted ``scope`` (Core §3.1.2.1, RFC 6749 §3.3).
* PKCE (RFC 7636): public clients must send ``code_challenge`` with
  ``code_challenge_method=S256``; ``plain`` (or a challenge without a method, which RFC 7636
  §4.3 defaults to ``plain``) is ``invalid_request`` for every client. A confidential client
  may leave PKCE out; a ``code_verifier`` for a code issued without a challenge is refused
  (no downgrade, RFC 9700 §4.8.2).
* ``state`` and ``nonce``: printable ASCII (RFC 6749 Appendix A.5), at most ``MAX_STATE`` /
  ``MAX_NONCE`` characters (the request waits in the session cookie while the user signs in).
* ``prompt`` (Core §3.1.2.1): ``none`` never shows a page (``login_required`` when a login
  would be needed); ``login`` and ``select_account`` ask for the password again (only a login
  made for this very request counts); ``consent`` is satisfied (clients are pre-registered by
  the directory's owner: there is no consent screen). Other values are ``invalid_request``.
  ``max_age`` asks for a login when the session's is older.
* Codes: sealed (``idp.oidc.codes``), ``CODE_TTL`` seconds, bound to the client, the redirect
  URI and the PKCE challenge; claimed in the shared store after every other check, so a wrong
  verifier does not burn the code but a second redemption is ``invalid_grant`` and revokes the
  access token the first one got (RFC 6749 §4.1.2: "SHOULD revoke (when possible) all tokens
  previously issued based on that authorization code").
* The ID token (Core §2, §3.1.3.6) carries ``iss sub aud exp iat auth_time amr azp at_hash``,
  ``nonce`` when one was sent, and the claims of the granted scopes (``profile``: ``name``,
  ``preferred_username``; ``email``: ``email``, ``email_verified`` (the directory is
  authoritative); ``groups``: ``groups``). ``sub`` is the username. ``amr`` (RFC 8176 §2):
  ``["pwd"]``, or ``["pwd", "otp", "mfa"]`` after a one-time code.
* The access token is a JWT too (RFC 9068: header ``typ: at+jwt``; ``aud`` is the UserInfo
  endpoint, so neither an ID token nor a workload token is accepted there), valid
  ``ACCESS_TOKEN_TTL`` seconds.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from idp.authn.login import Principal
from idp.directory.model import OidcClient, User
from idp.oidc.clients import MAX_CLIENT_ID, ClientCredentials, authenticate
from idp.oidc.codes import CODE_TTL, CodeGrant
from idp.oidc.errors import AuthorizationError, OAuthError, OidcRequestRefused, wire_text
from idp.oidc.issuer import SCOPES_SUPPORTED, OidcIssuer
from idp.oidc.signing import SIGNING_ALGORITHM

__all__ = [
    "ACCESS_TOKEN_TTL",
    "ID_TOKEN_TTL",
    "MAX_ACCESS_TOKEN_CHARS",
    "MAX_NONCE",
    "MAX_PARAMS",
    "MAX_STATE",
    "PENDING_TTL",
    "AuthorizationRequest",
    "CodeFlow",
    "pkce_challenge",
]

MAX_PARAMS: Final = 40
MAX_STATE: Final = 512
MAX_NONCE: Final = 255
MAX_SCOPE: Final = 1024
MAX_REDIRECT_URI: Final = 2048
#: A short parameter (response_type, prompt, code_challenge_method...).
MAX_WORD: Final = 128
#: How long an authorization request waits for the user to sign in.
PENDING_TTL: Final = 1800
ID_TOKEN_TTL: Final = 3600
ACCESS_TOKEN_TTL: Final = 600
MAX_ACCESS_TOKEN_CHARS: Final = 8192
#: The ``typ`` header of access tokens (RFC 9068 §2.1).
AT_JWT_TYP: Final = "at+jwt"
#: StateStore namespaces: redeemed codes, and grants whose tokens a replay revoked.
_USED_CODES: Final = "oidc-code"
#: Marks a stashed ``AuthorizationRequest`` among the session's pending SSO steps.
_KIND: Final = "oidc"
_REVOKED: Final = "oidc-revoked"
#: RFC 6749 Appendix A.5 (``state``): VSCHAR, %x20-7E.
_VSCHAR: Final = re.compile(r"[\x20-\x7e]+")
#: RFC 7636 §4.2: BASE64URL(SHA256(verifier)), 32 bytes, no padding.
_S256_CHALLENGE: Final = re.compile(r"[A-Za-z0-9_-]{43}")
#: RFC 7636 §4.1: 43-128 unreserved characters.
_VERIFIER: Final = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_MAX_AGE: Final = re.compile(r"[0-9]{1,9}")
_PROMPTS: Final = frozenset({"none", "login", "consent", "select_account"})
_UNSUPPORTED: Final = {"request": "request_not_supported",
                       "request_uri": "request_uri_not_supported",
                       "registration": "registration_not_supported"}
#: Token endpoint parameters and their longest accepted values.
_TOKEN_LIMITS: Final = {"grant_type": MAX_WORD, "code": 4096, "redirect_uri": MAX_REDIRECT_URI,
                        "code_verifier": 128, "client_id": MAX_CLIENT_ID}


def pkce_challenge(verifier: str) -> str:
    """The S256 ``code_challenge`` of a ``code_verifier`` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _half_hash(token: str) -> str:
    """``at_hash`` (OpenID Connect Core 1.0 §3.1.3.6): the left half of SHA-256, base64url."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


def _with_query(uri: str, params: Mapping[str, str]) -> str:
    """``uri`` with ``params`` added to its query, which is kept (RFC 6749 §3.1.2)."""
    if "?" not in uri:
        return f"{uri}?{urlencode(params)}"
    joiner = "" if uri.endswith(("?", "&")) else "&"
    return f"{uri}{joiner}{urlencode(params)}"


def user_claims(user: User, scopes: Sequence[str]) -> dict[str, Any]:
    """The claims of the granted scopes (OpenID Connect Core 1.0 §5.4), without ``sub``."""
    claims: dict[str, Any] = {}
    if "profile" in scopes:
        claims["name"] = user.display_name or user.username
        claims["preferred_username"] = user.username
    if "email" in scopes and user.email:
        claims["email"] = user.email
        claims["email_verified"] = True
    if "groups" in scopes:
        claims["groups"] = list(user.groups)
    return claims


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated authorization request (kept in the session cookie while the user signs
    in, ``to_json``/``from_json``)."""

    id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    """The granted scopes: ``openid`` and the other understood ones requested."""
    created: int
    state: str | None = None
    nonce: str | None = None
    code_challenge: str | None = None
    prompt: tuple[str, ...] = ()
    max_age: int | None = None

    @property
    def passive(self) -> bool:
        """``prompt=none``: no page may be shown."""
        return "none" in self.prompt

    @property
    def forces_login(self) -> bool:
        return "login" in self.prompt or "select_account" in self.prompt

    def error(self, error: str, description: str) -> AuthorizationError:
        """An error for this request, to send back to its redirect URI."""
        return AuthorizationError(error, description, redirect_uri=self.redirect_uri,
                                  state=self.state)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": _KIND, "id": self.id, "client_id": self.client_id,
                                "redirect_uri": self.redirect_uri, "scopes": list(self.scopes),
                                "created": self.created}
        for name in ("state", "nonce", "code_challenge", "max_age"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.prompt:
            data["prompt"] = list(self.prompt)
        return data

    @classmethod
    def from_json(cls, data: object) -> AuthorizationRequest | None:
        """A request this module wrote, or ``None`` for anything else."""
        if not isinstance(data, dict) or data.get("kind") != _KIND:
            return None
        try:
            request = cls(
                id=data["id"], client_id=data["client_id"], redirect_uri=data["redirect_uri"],
                scopes=tuple(data["scopes"]), created=data["created"],
                state=data.get("state"), nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                prompt=tuple(data.get("prompt", ())), max_age=data.get("max_age"))
        except (KeyError, TypeError):
            return None
        texts = (request.id, request.client_id, request.redirect_uri)
        optional = (request.state, request.nonce, request.code_challenge)
        if (not all(isinstance(t, str) for t in texts)
                or not all(t is None or isinstance(t, str) for t in optional)
                or not all(isinstance(s, str) for s in (*request.scopes, *request.prompt))
                or not isinstance(request.created, int)
                or not (request.max_age is None or isinstance(request.max_age, int))):
            return None
        return request


class _Params:
    """Request parameters: empty values dropped (RFC 6749 §3.1), repeats remembered."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.values: dict[str, list[str]] = {}
        for name, value in pairs:
            if value != "":
                self.values.setdefault(name, []).append(value)

    def repeated(self) -> list[str]:
        return [name for name, values in self.values.items() if len(values) > 1]

    def get(self, name: str) -> str | None:
        values = self.values.get(name)
        return values[0] if values else None


class CodeFlow:
    """The code flow of one ``OidcIssuer`` (cheap to make: one per request is fine)."""

    def __init__(self, issuer: OidcIssuer) -> None:
        self.issuer = issuer
        self.directory = issuer.directory
        self.signer = issuer.signer
        self.store = issuer.store

    def now(self) -> int:
        return self.signer.now()

    # --- the authorization endpoint -------------------------------------------------------

    def _client(self, client_id: str | None) -> OidcClient:
        if client_id is None:
            raise OidcRequestRefused("This sign-in request names no application (client_id "
                                     "is missing). Start again from the application.")
        client = self.directory.oidc_clients.get(client_id)
        if client is None:
            raise OidcRequestRefused(
                f"The application {wire_text(client_id, 80)!r} is not registered with this "
                "identity provider (no such client_id in oidc_clients).")
        return client

    def _redirect_uri(self, client: OidcClient, redirect_uri: str | None) -> str:
        if redirect_uri is None:
            raise OidcRequestRefused("This sign-in request has no redirect_uri: OpenID Connect "
                                     "requires one, registered for the application.")
        if redirect_uri not in client.redirect_uris:
            raise OidcRequestRefused(
                f"The redirect_uri of this sign-in request is not registered for "
                f"{client.name or client.client_id}; the identity provider only sends users "
                "back to a registered address, compared exactly.")
        return redirect_uri

    def authorization_request(self, pairs: Sequence[tuple[str, str]]) -> AuthorizationRequest:
        """Validate an authorization request (OpenID Connect Core 1.0 §3.1.2.1-2).

        ``OidcRequestRefused`` (a page) while the client or its redirect URI is in doubt;
        ``AuthorizationError`` (a redirect) after.
        """
        if len(pairs) > MAX_PARAMS:
            raise OidcRequestRefused(f"This sign-in request has more than {MAX_PARAMS} "
                                     "parameters.")
        params = _Params(pairs)
        for name in ("client_id", "redirect_uri"):
            if len(params.values.get(name, ())) > 1:
                raise OidcRequestRefused(f"This sign-in request has {name} more than once.")
        client = self._client(params.get("client_id"))
        redirect_uri = self._redirect_uri(client, params.get("redirect_uri"))
        state = params.get("state")
        state_problem = None
        if len(params.values.get("state", ())) > 1:
            state, state_problem = None, "state is sent more than once"
        elif state is not None and (len(state) > MAX_STATE or not _VSCHAR.fullmatch(state)):
            state, state_problem = None, (f"state must be 1-{MAX_STATE} printable ASCII "
                                          "characters")

        def fail(error: str, description: str) -> AuthorizationError:
            return AuthorizationError(error, description, redirect_uri=redirect_uri,
                                      state=state)

        if state_problem is not None:
            raise fail("invalid_request", state_problem)
        for name, error in _UNSUPPORTED.items():
            if params.get(name) is not None:
                raise fail(error, f"the {name} parameter is not supported")
        repeated = params.repeated()
        if repeated:
            raise fail("invalid_request", f"{wire_text(repeated[0], 40)} is sent more than "
                       "once")
        response_type = params.get("response_type")
        if response_type is None:
            raise fail("invalid_request", "response_type is missing")
        if response_type != "code":
            raise fail("unsupported_response_type", "only response_type=code is supported")
        response_mode = params.get("response_mode")
        if response_mode is not None and response_mode != "query":
            raise fail("invalid_request", "only response_mode=query is supported")
        scope = params.get("scope") or ""
        requested = scope.split(" ") if len(scope) <= MAX_SCOPE else []
        if "openid" not in requested:
            raise fail("invalid_scope", "scope must include openid")
        nonce = params.get("nonce")
        if nonce is not None and (len(nonce) > MAX_NONCE or not _VSCHAR.fullmatch(nonce)):
            raise fail("invalid_request", f"nonce must be 1-{MAX_NONCE} printable ASCII "
                       "characters")
        challenge = self._challenge(client, params, fail)
        prompt = tuple((params.get("prompt") or "").split())
        if len(params.get("prompt") or "") > MAX_WORD or not set(prompt) <= _PROMPTS:
            raise fail("invalid_request", "prompt may be none, login, consent or "
                       "select_account")
        if "none" in prompt and len(set(prompt)) > 1:
            raise fail("invalid_request", "prompt=none cannot be combined with other values")
        max_age_text = params.get("max_age")
        if max_age_text is not None and not _MAX_AGE.fullmatch(max_age_text):
            raise fail("invalid_request", "max_age must be a number of seconds")
        return AuthorizationRequest(
            id=secrets.token_urlsafe(16), client_id=client.client_id,
            redirect_uri=redirect_uri,
            scopes=tuple(s for s in SCOPES_SUPPORTED if s in requested),
            created=self.now(), state=state, nonce=nonce, code_challenge=challenge,
            prompt=tuple(sorted(set(prompt))),
            max_age=int(max_age_text) if max_age_text is not None else None)

    @staticmethod
    def _challenge(client: OidcClient, params: _Params,
                   fail: Callable[[str, str], AuthorizationError]) -> str | None:
        """The S256 ``code_challenge``, required of public clients (RFC 7636 §4.3, §4.4.1)."""
        challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
        if challenge is None:
            if method is not None:
                raise fail("invalid_request", "code_challenge_method without code_challenge")
            if client.public:
                raise fail("invalid_request", "PKCE is required: send code_challenge with "
                           "code_challenge_method=S256")
            return None
        if method is None:
            raise fail("invalid_request", "code_challenge_method is missing (it would default "
                       "to plain, which is not allowed): use S256")
        if method != "S256":
            raise fail("invalid_request", "code_challenge_method must be S256 (plain is not "
                       "allowed)")
        if not _S256_CHALLENGE.fullmatch(challenge):
            raise fail("invalid_request", "code_challenge must be 43 base64url characters "
                       "(the SHA-256 of the code_verifier)")
        return challenge

    def resume(self, request: AuthorizationRequest) -> AuthorizationRequest:
        """A stashed request, still good after the login: its client and redirect URI still
        registered (a page otherwise), not older than ``PENDING_TTL`` (an error redirect)."""
        client = self._client(request.client_id)
        self._redirect_uri(client, request.redirect_uri)
        if not 0 <= self.now() - request.created <= PENDING_TTL:
            raise request.error("invalid_request", "the sign-in took too long; start again")
        return request

    def must_sign_in(self, request: AuthorizationRequest, principal: Principal | None, *,
                     fresh: bool) -> bool:
        """Whether the user must (again) sign in before a code is issued: no session, or
        ``prompt=login``/``select_account`` or ``max_age`` not satisfied by the session's login
        (``fresh``: the session's login was made for this very request). Raises
        ``login_required`` instead when ``prompt=none`` forbids asking."""
        if principal is None:
            needed = True
        elif fresh:
            needed = False
        else:
            age = self.now() - int(principal.instant.timestamp())
            needed = request.forces_login or (request.max_age is not None
                                              and age > request.max_age)
        if needed and request.passive:
            raise request.error("login_required", "the user is not signed in (or not "
                                "recently enough) and prompt=none forbids asking")
        return needed

    def issue_code(self, request: AuthorizationRequest, principal: Principal) -> str:
        """The redirect that gives the client its code (RFC 6749 §4.1.2, RFC 9207 ``iss``)."""
        grant = CodeGrant(
            id=self.issuer.sealer.new_id(), client_id=request.client_id,
            redirect_uri=request.redirect_uri, username=principal.username,
            auth_time=int(principal.instant.timestamp()), mfa=principal.mfa,
            scopes=request.scopes, expires=self.now() + CODE_TTL, nonce=request.nonce,
            code_challenge=request.code_challenge)
        params = {"code": self.issuer.sealer.seal(grant)}
        if request.state is not None:
            params["state"] = request.state
        params["iss"] = self.issuer.issuer
        return _with_query(request.redirect_uri, params)

    def error_redirect(self, error: AuthorizationError) -> str:
        """Where an ``AuthorizationError`` sends the browser (RFC 6749 §4.1.2.1)."""
        params = {"error": error.error, "error_description": error.description}
        if error.state is not None:
            params["state"] = error.state
        params["iss"] = self.issuer.issuer
        return _with_query(error.redirect_uri, params)

    # --- the token endpoint ---------------------------------------------------------------

    def exchange(self, form: Mapping[str, str], credentials: ClientCredentials
                 ) -> dict[str, Any]:
        """Redeem an authorization code (RFC 6749 §4.1.3-4, Core §3.1.3): the token response
        body; ``OAuthError`` (RFC 6749 §5.2) for anything wrong."""
        for name, limit in _TOKEN_LIMITS.items():
            if len(form.get(name) or "") > limit:
                raise OAuthError("invalid_request", f"{name} is longer than {limit} characters")
        client = authenticate(self.directory, credentials)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is missing")
        if grant_type != "authorization_code":
            raise OAuthError("unsupported_grant_type", "only grant_type=authorization_code "
                             "is supported")
        code, redirect_uri = form.get("code"), form.get("redirect_uri")
        if not code:
            raise OAuthError("invalid_request", "code is missing")
        if not redirect_uri:
            raise OAuthError("invalid_request", "redirect_uri is missing (it was in the "
                             "authorization request, so it is required here)")
        grant = self.issuer.sealer.open(code)
        if grant is None:
            raise OAuthError("invalid_grant", "the code is not one this provider issued")
        now = self.now()
        if now >= grant.expires:
            raise OAuthError("invalid_grant", "the code has expired")
        if grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "the code was issued to another client")
        if not hmac.compare_digest(grant.redirect_uri.encode("utf-8"),
                                   redirect_uri.encode("utf-8", "surrogatepass")):
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization "
                             "request's")
        self._check_verifier(grant, form.get("code_verifier") or None)
        user = self.directory.user(grant.username)
        if user is None:
            raise OAuthError("invalid_grant", "the user no longer exists")
        until = dt.datetime.fromtimestamp(grant.expires + ACCESS_TOKEN_TTL, dt.UTC)
        if not self.store.claim(_USED_CODES, grant.id, until):
            self.store.claim(_REVOKED, grant.id, until)
            raise OAuthError("invalid_grant", "the code was already used (the tokens it "
                             "gave are revoked)")
        return self._tokens(grant, user, now)

    @staticmethod
    def _check_verifier(grant: CodeGrant, verifier: str | None) -> None:
        """RFC 7636 §4.6: the verifier's S256 must be the challenge the code is bound to."""
        if grant.code_challenge is None:
            if verifier is not None:
                raise OAuthError("invalid_grant", "code_verifier sent for a code issued "
                                 "without code_challenge")
            return
        if verifier is None:
            raise OAuthError("invalid_grant", "code_verifier is missing (the code was issued "
                             "with a code_challenge)")
        if not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(
                pkce_challenge(verifier), grant.code_challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the "
                             "code_challenge")

    def _tokens(self, grant: CodeGrant, user: User, now: int) -> dict[str, Any]:
        scope = " ".join(grant.scopes)
        access_token = self.signer.sign({
            "iss": self.issuer.issuer, "sub": user.username,
            "aud": self.issuer.userinfo_endpoint, "client_id": grant.client_id,
            "scope": scope, "iat": now, "exp": now + ACCESS_TOKEN_TTL, "jti": grant.id,
            "auth_time": grant.auth_time}, typ=AT_JWT_TYP)
        id_claims: dict[str, Any] = {
            "iss": self.issuer.issuer, "sub": user.username, "aud": grant.client_id,
            "exp": now + ID_TOKEN_TTL, "iat": now, "auth_time": grant.auth_time,
            "amr": ["pwd", "otp", "mfa"] if grant.mfa else ["pwd"],
            "azp": grant.client_id, "at_hash": _half_hash(access_token),
        }
        if grant.nonce is not None:
            id_claims["nonce"] = grant.nonce
        id_claims.update(user_claims(user, grant.scopes))
        return {"access_token": access_token, "token_type": "Bearer",
                "expires_in": ACCESS_TOKEN_TTL, "id_token": self.signer.sign(id_claims),
                "scope": scope}

    # --- the UserInfo endpoint ------------------------------------------------------------

    def userinfo(self, token: str) -> dict[str, Any]:
        """The claims an access token grants (Core §5.3); ``invalid_token`` (401) or
        ``insufficient_scope`` (403) with RFC 6750 §3.1's meaning."""
        claims = self.verify_access_token(token)
        user = self.directory.user(claims["sub"])
        if user is None:
            raise OAuthError("invalid_token", "the user no longer exists")
        scopes = claims["scope"].split(" ")
        if "openid" not in scopes:
            raise OAuthError("insufficient_scope", "the token was not granted openid")
        return {"sub": user.username, **user_claims(user, scopes)}

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """The claims of an access token this provider issued, still valid and not revoked."""
        import jwt

        if not token or len(token) > MAX_ACCESS_TOKEN_CHARS or not token.isascii():
            raise OAuthError("invalid_token", "the access token is malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise OAuthError("invalid_token", "the access token is not a JWT") from None
        kid = header.get("kid")
        key = self.signer.public_key(kid) if isinstance(kid, str) else None
        if header.get("typ") != AT_JWT_TYP or key is None:
            raise OAuthError("invalid_token", "not an access token of this provider")
        try:
            # Times are checked below against the injected clock, not PyJWT's system time.
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[SIGNING_ALGORITHM],
                audience=self.issuer.userinfo_endpoint, issuer=self.issuer.issuer,
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                         "require": ["iss", "sub", "aud", "exp", "iat", "jti", "scope"]})
        except jwt.PyJWTError:
            raise OAuthError("invalid_token", "the access token's signature, issuer or "
                             "audience is wrong") from None
        exp, sub, scope, jti = (claims.get(k) for k in ("exp", "sub", "scope", "jti"))
        if not (isinstance(exp, int) and isinstance(sub, str) and isinstance(scope, str)
                and isinstance(jti, str)):
            raise OAuthError("invalid_token", "the access token's claims are malformed")
        if self.now() >= exp:
            raise OAuthError("invalid_token", "the access token has expired")
        if self.store.claimed(_REVOKED, jti):
            raise OAuthError("invalid_token", "the access token was revoked (its code was "
                             "used twice)")
        return claims
