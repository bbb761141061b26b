"""The Okta-compatible surface (``--compat okta``): Okta's classic authentication API and the
AWS app link, for gimme-aws-creds, okta-awscli, aws-okta-processor, aws-okta-keyman,
awsprocesscreds ``-p okta`` and saml2aws.

Thin: each handler checks the surface is enabled, reads the bounded JSON body or the cookie
and hands them to ``idp.compat.okta``, which decides and shapes the answer. JSON endpoints
answer every failure as an Okta error object (a disabled surface included, as ``E0000007``);
the two browser endpoints (``sessionCookieRedirect`` and the app link) answer pages.

Cookies (``sid``, ``DT``) are ``HttpOnly``, ``SameSite=Lax``, ``Path=/`` and ``Secure`` when the
public base URL is https. They carry credentials without an anti-CSRF token, as Okta's do: the
login endpoints take JSON only (a cross-site form cannot send ``application/json`` without a
CORS preflight, which this server never grants), and ``SameSite=Lax`` keeps ``sid`` off
cross-site subrequests.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from idp.compat import okta
from idp.compat.okta import OktaApi, Reply
from idp.errors import SurfaceDisabled
from idp.vendors import Vendor
from idp.web.body import BodyTimeout, BodyTooLarge, read_body
from idp.web.pages import autopost, render
from idp.web.state import Services, enabled

__all__ = ["routes"]

#: ``DT`` is a device token: it outlives the session (Okta keeps it for years).
_DEVICE_COOKIE_SECONDS: Final = 365 * 24 * 3600

#: Every method reaches the JSON endpoints, so a wrong one gets Okta's 405, not Starlette's.
_ANY_METHOD: Final = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

Handler = Callable[[Request, Services], Awaitable[Response]]


def _api(current: Services) -> OktaApi:
    return OktaApi(current.vendor_sign_in, current.settings.url)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _sid(request: Request) -> str | None:
    return request.cookies.get(okta.SESSION_COOKIE)


def _json(reply: Reply) -> Response:
    if reply.body is None:
        return Response(status_code=reply.status, headers=dict(reply.headers))
    content = json.dumps(reply.body, separators=(",", ":"))
    return Response(content, status_code=reply.status, media_type="application/json",
                    headers=dict(reply.headers))


async def _body(request: Request) -> okta.JsonObject | Reply:
    """The JSON object posted, bounded (``okta.MAX_BODY_BYTES``); an Okta error otherwise."""
    try:
        raw = await read_body(request, max_bytes=okta.MAX_BODY_BYTES)
    except BodyTooLarge:
        return okta.body_too_large(okta.MAX_BODY_BYTES)
    except BodyTimeout as exc:
        return okta.body_too_slow(str(exc))
    return okta.parse_json(raw, request.headers.get("content-type"))


def _endpoint(handlers: Mapping[str, Handler]) -> Callable[[Request], Awaitable[Response]]:
    """One JSON endpoint: the enabled check, method dispatch (Okta's 405), the handler."""
    allowed = [*handlers, *(["HEAD"] if "GET" in handlers else [])]

    async def endpoint(request: Request) -> Response:
        try:
            current = enabled(request, Vendor.OKTA)
        except SurfaceDisabled as exc:
            return _json(okta.surface_disabled(str(exc)))
        handler = handlers.get("GET" if request.method == "HEAD" else request.method)
        if handler is None:
            return _json(okta.method_not_allowed(allowed))
        return await handler(request, current)

    return endpoint


# --- JSON endpoints ----------------------------------------------------------------------------


async def _organization(request: Request, current: Services) -> Response:
    return _json(okta.organization(current.settings.url))


async def _authn(request: Request, current: Services) -> Response:
    body = await _body(request)
    if isinstance(body, Reply):
        return _json(body)
    return _json(_api(current).authn(body, _address(request)))


async def _verify(request: Request, current: Services) -> Response:
    body = await _body(request)
    if isinstance(body, Reply):
        return _json(body)
    return _json(_api(current).verify(request.path_params["factor_id"], body,
                                      _address(request)))


async def _create_session(request: Request, current: Services) -> Response:
    body = await _body(request)
    if isinstance(body, Reply):
        return _json(body)
    return _json(_api(current).create_session(body))


async def _current_session(request: Request, current: Services) -> Response:
    """``GET /api/v1/sessions/me`` and ``POST …/lifecycle/refresh`` (no body is read)."""
    return _json(_api(current).current_session(_sid(request)))


async def _sign_out(request: Request, current: Services) -> Response:
    """``DELETE /api/v1/sessions/me``: ends the login everywhere and clears the cookie."""
    response = _json(_api(current).end_session(_sid(request)))
    if response.status_code == 204:
        response.delete_cookie(okta.SESSION_COOKIE, path="/",
                               secure=current.settings.secure_cookies, httponly=True,
                               samesite="lax")
    return response


async def _app_links(request: Request, current: Services) -> Response:
    return _json(_api(current).app_links(_sid(request)))


# --- browser endpoints -------------------------------------------------------------------------


def _set_cookies(response: Response, current: Services, request: Request, sid: str) -> None:
    """``sid`` (the sealed login, a browser-session cookie) and ``DT`` (the device)."""
    secure = current.settings.secure_cookies
    response.set_cookie(okta.SESSION_COOKIE, sid, path="/", secure=secure, httponly=True,
                        samesite="lax")
    response.set_cookie(okta.DEVICE_COOKIE,
                        okta.device_token(request.cookies.get(okta.DEVICE_COOKIE)),
                        max_age=_DEVICE_COOKIE_SECONDS, path="/", secure=secure,
                        httponly=True, samesite="lax")


def _refused_page(status: int, title: str, message: str, hint: str | None = None) -> Response:
    return render("error.html", status, title=title, message=message, hint=hint)


async def cookie_redirect(request: Request) -> Response:
    """``GET /login/sessionCookieRedirect?token=…&redirectUrl=…``: trade a ``sessionToken``
    for the ``sid`` and ``DT`` cookies, then 302 to ``redirectUrl`` (this host's app link only).
    """
    current = enabled(request, Vendor.OKTA)
    api = _api(current)
    target = api.redirect_target(request.query_params.get("redirectUrl"))
    if target is None:  # checked first: a refused redirect does not burn the token
        return _refused_page(
            400, "Redirect not allowed",
            "redirectUrl must be this Okta organization's AWS app link.",
            f"Use {api.app_link}")
    principal = api.redeem(request.query_params.get("token"))
    if principal is None:
        return _refused_page(
            403, "Session token refused",
            "The session token is missing, invalid, expired or was already used.",
            "Sign in again with POST /api/v1/authn; each sessionToken works once.")
    response = RedirectResponse(target, status_code=302)
    _set_cookies(response, current, request, api.seal_login(principal))
    return response


async def app(request: Request) -> Response:
    """``GET /home/amazon_aws/<app id>/<n>``: the auto-POST page for AWS, for a one-time
    ``?sessionToken=`` (awsprocesscreds; it also sets the cookies) or a ``sid`` cookie; 403
    (an error page, no SAMLResponse) without either."""
    current = enabled(request, Vendor.OKTA)
    api = _api(current)
    if not api.is_app(request.path_params["app_id"], request.path_params["instance"]):
        return _refused_page(404, "No such app", "This Okta organization has one app: "
                             f"{api.app_link}")
    token = request.query_params.get("sessionToken")
    principal = api.redeem(token) if token is not None else None
    sid = api.seal_login(principal) if principal is not None else None
    if principal is None:  # no token, or one already used (a reload): the cookie may do
        principal = api.login(_sid(request))
    if principal is None:
        return _refused_page(
            403, "Not signed in",
            "Sign in through the Okta API first: a valid sid cookie or a one-time "
            "sessionToken is needed to open this app.",
            "POST /api/v1/authn, then /login/sessionCookieRedirect or ?sessionToken=.")
    response = autopost(api.aws_form(principal))
    if sid is not None:
        _set_cookies(response, current, request, sid)
    return response


def routes() -> list[BaseRoute]:
    return [
        Route("/.well-known/okta-organization", _endpoint({"GET": _organization}),
              methods=_ANY_METHOD, name="okta_organization"),
        Route("/api/v1/authn", _endpoint({"POST": _authn}), methods=_ANY_METHOD, name="okta_authn"),
        Route("/api/v1/authn/factors/{factor_id}/verify", _endpoint({"POST": _verify}),
              methods=_ANY_METHOD, name="okta_verify"),
        Route("/api/v1/sessions", _endpoint({"POST": _create_session}), methods=_ANY_METHOD,
              name="okta_sessions"),
        Route("/api/v1/sessions/me", _endpoint({"GET": _current_session, "DELETE": _sign_out}),
              methods=_ANY_METHOD, name="okta_session_me"),
        Route("/api/v1/sessions/me/lifecycle/refresh", _endpoint({"POST": _current_session}),
              methods=_ANY_METHOD, name="okta_session_refresh"),
        Route("/api/v1/users/me/appLinks", _endpoint({"GET": _app_links}),
              methods=_ANY_METHOD, name="okta_app_links"),
        Route("/login/sessionCookieRedirect", cookie_redirect, methods=["GET"],
              name="okta_cookie_redirect"),
        Route("/home/amazon_aws/{app_id}/{instance}", app, methods=["GET"], name="okta_app"),
    ]
