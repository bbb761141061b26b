"""The OpenID Connect provider's HTTP surface under ``/oidc`` (the core is ``idp.oidc``).

=========================================  ===================================================
``GET /oidc/.well-known/openid-configuration``  OpenID Provider Metadata (Discovery 1.0 §4)
``GET /oidc/jwks``                         the JWK Set (RFC 7517 §5)
``GET|POST /oidc/authorize``               the authorization endpoint (Core 1.0 §3.1.2)
``GET /oidc/authorize/resume?pending=ID``  where the login page sends the user back
``POST /oidc/token``                       the token endpoint (Core 1.0 §3.1.3)
``GET|POST /oidc/userinfo``                the UserInfo endpoint (Core 1.0 §5.3)
=========================================  ===================================================

Errors: the authorization endpoint shows a page while the client or its redirect URI is in
doubt and redirects back with ``error=`` after (RFC 6749 §4.1.2.1); the token endpoint answers
RFC 6749 §5.2's JSON (``WWW-Authenticate: Basic`` with a 401 when the client tried Basic);
the UserInfo endpoint answers RFC 6750 §3's ``WWW-Authenticate: Bearer``. Every answer carries
``Cache-Control: no-store`` (``idp.web.headers``). A POSTed authorization request is sent on
to the same endpoint as a GET (303): the session cookie is ``SameSite=Lax``, so it comes with
the GET, and a signed-in user is neither asked again nor given a new session.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from idp.errors import IdPError
from idp.oidc.clients import ClientCredentials, basic_credentials
from idp.oidc.errors import AuthorizationError, OAuthError, OidcRequestRefused
from idp.oidc.flow import MAX_PARAMS, AuthorizationRequest, CodeFlow
from idp.web import idp_session as session
from idp.web.forms import read_form
from idp.web.links import link
from idp.web.state import services

__all__ = ["routes"]

#: Largest authorization request (query string, or POSTed form).
MAX_QUERY_BYTES: Final = 8192
#: Largest token request body (a code is under 3 KiB).
MAX_TOKEN_FORM_BYTES: Final = 16 * 1024
MAX_TOKEN_FIELDS: Final = 16
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM_TYPE: Final = "application/x-www-form-urlencoded"


def _flow(request: Request) -> CodeFlow:
    return CodeFlow(services(request).oidc)


def _json(body: object, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=_NO_STORE)


# --- discovery -------------------------------------------------------------------------------


async def configuration(request: Request) -> Response:
    return _json(services(request).oidc.discovery())


async def jwks(request: Request) -> Response:
    return _json(services(request).oidc.jwks())


# --- authorization ---------------------------------------------------------------------------


def _refused(reason: str) -> IdPError:
    return OidcRequestRefused(f"This sign-in request could not be read: {reason}.")


async def authorize(request: Request) -> Response:
    if request.method == "POST":
        form = await read_form(request, max_bytes=MAX_QUERY_BYTES, max_fields=MAX_PARAMS,
                               error=_refused)
        pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        return RedirectResponse(f"{link(request, 'oidc_authorize')}?{urlencode(pairs)}",
                                status_code=303)
    if len(request.url.query) > MAX_QUERY_BYTES:
        raise OidcRequestRefused(f"This sign-in request is longer than {MAX_QUERY_BYTES} "
                                 "bytes.")
    flow = _flow(request)
    try:
        authorization = flow.authorization_request(request.query_params.multi_items())
        return _continue(request, flow, authorization)
    except AuthorizationError as exc:
        return RedirectResponse(flow.error_redirect(exc), status_code=302)


async def resume(request: Request) -> Response:
    """The login page's way back (``idp_routes._already_signed_in``)."""
    pending_id = request.query_params.get("pending") or ""
    authorization = session.unstash_authorization(request, pending_id)
    if authorization is None:
        raise OidcRequestRefused("This sign-in step has expired or was already completed. "
                                 "Start again from the application you were signing in to.")
    flow = _flow(request)
    try:
        return _continue(request, flow, flow.resume(authorization))
    except AuthorizationError as exc:
        return RedirectResponse(flow.error_redirect(exc), status_code=302)


def _continue(request: Request, flow: CodeFlow, authorization: AuthorizationRequest
              ) -> Response:
    """The code now if the session's login will do, else the login page first."""
    principal = session.principal(request)
    fresh = session.take_fresh_login(request) == authorization.id
    # must_sign_in raises login_required itself when prompt=none forbids the login page.
    if flow.must_sign_in(authorization, principal, fresh=fresh) or principal is None:
        session.stash_authorization(request, authorization)
        return RedirectResponse(link(request, "login", pending=authorization.id),
                                status_code=303)
    return RedirectResponse(flow.issue_code(authorization, principal), status_code=302)


# --- tokens ----------------------------------------------------------------------------------


async def token(request: Request) -> Response:
    tried_basic = False
    try:
        headers = request.headers.getlist("authorization")
        if len(headers) > 1:
            raise OAuthError("invalid_request", "more than one Authorization header")
        tried_basic = bool(headers)
        basic = basic_credentials(headers[0]) if headers else None
        form = await _token_form(request)
        credentials = ClientCredentials(basic=basic, client_id=form.get("client_id"),
                                        client_secret=form.get("client_secret"))
        # In the thread pool: a confidential client's secret is a PBKDF2 hash (and an unknown
        # client pays a dummy one), which must not stall the event loop.
        body = await run_in_threadpool(_flow(request).exchange, form, credentials)
    except OAuthError as exc:
        response = _json(exc.payload(), exc.http_status)
        if exc.error == "invalid_client" and tried_basic:
            # RFC 6749 §5.2: a 401 with the scheme the client tried.
            realm = services(request).oidc.issuer
            response.headers["WWW-Authenticate"] = f'Basic realm="{realm}"'
        return response
    return _json(body)


async def _token_form(request: Request) -> dict[str, str]:
    """The token request's parameters (RFC 6749 §4.1.3: form-encoded; a parameter without a
    value counts as absent and none may repeat, §3.2)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != _FORM_TYPE:
        raise OAuthError("invalid_request", f"the body must be {_FORM_TYPE}")
    form = await read_form(request, max_bytes=MAX_TOKEN_FORM_BYTES,
                           max_fields=MAX_TOKEN_FIELDS,
                           error=lambda reason: OAuthError("invalid_request", reason))
    values: dict[str, str] = {}
    for name, value in form.multi_items():
        if not isinstance(value, str) or value == "":
            continue
        if name in values:
            raise OAuthError("invalid_request", f"{name} is sent more than once")
        values[name] = value
    return values


# --- UserInfo --------------------------------------------------------------------------------


async def userinfo(request: Request) -> Response:
    """Bearer token in the ``Authorization`` header only (RFC 6750 §2.1)."""
    realm = services(request).oidc.issuer
    headers = request.headers.getlist("authorization")
    scheme, _, value = (headers[0] if headers else "").strip().partition(" ")
    if not headers or scheme.lower() != "bearer":
        # RFC 6750 §3.1: no error code when the request has no bearer token at all.
        return Response(status_code=401, headers={
            **_NO_STORE, "WWW-Authenticate": f'Bearer realm="{realm}"'})
    try:
        if len(headers) > 1:
            raise OAuthError("invalid_request", "more than one Authorization header")
        claims = _flow(request).userinfo(value.strip())
    except OAuthError as exc:
        challenge = (f'Bearer realm="{realm}", error="{exc.error}", '
                     f'error_description="{exc.description}"')
        if exc.error == "insufficient_scope":
            challenge += ', scope="openid"'
        response = _json(exc.payload(), exc.http_status)
        response.headers["WWW-Authenticate"] = challenge
        return response
    return _json(claims)


def routes() -> list[BaseRoute]:
    return [
        Route("/oidc/.well-known/openid-configuration", configuration, methods=["GET"],
              name="oidc_configuration"),
        Route("/oidc/jwks", jwks, methods=["GET"], name="oidc_jwks"),
        Route("/oidc/authorize", authorize, methods=["GET", "POST"], name="oidc_authorize"),
        Route("/oidc/authorize/resume", resume, methods=["GET"], name="oidc_resume"),
        Route("/oidc/token", token, methods=["POST"], name="oidc_token"),
        Route("/oidc/userinfo", userinfo, methods=["GET", "POST"], name="oidc_userinfo"),
    ]
