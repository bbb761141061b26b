"""The IdP's HTTP surface: /idp/metadata, /idp/sso, /idp/init, /idp/login, /idp/logout.

The login page serves OpenID Connect sign-ins too (``idp.web.oidc_routes``): their stashed
request names the application on the page and, once signed in, resumes at
``/oidc/authorize/resume``.
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from idp.authn.login import LoggedIn, LoginAttempt, OtpNeeded, Principal, Refused, Throttled
from idp.directory.model import AWS_ENTITY_ID
from idp.errors import MalformedRequest
from idp.oidc.clients import csp_origin
from idp.oidc.flow import AuthorizationRequest
from idp.saml.providers import ServiceProvider
from idp.saml.status import NoPassive, SamlStatusError
from idp.sso import Pending
from idp.web import idp_session as session
from idp.web.forms import field, read_form
from idp.web.links import link
from idp.web.pages import autopost, render
from idp.web.state import services

__all__ = ["routes"]

#: Largest form body accepted on IdP endpoints (an encoded AuthnRequest fits well inside).
MAX_FORM_BYTES: Final = 256 * 1024


async def _form(request: Request) -> FormData:
    return await read_form(request, max_bytes=MAX_FORM_BYTES, max_fields=32,
                           error=MalformedRequest)


# --- SSO -------------------------------------------------------------------------------------


def _continue(request: Request, pending: Pending, sp: ServiceProvider) -> Response:
    """Answer now if the user is logged in, else send them to log in first."""
    idp = services(request).identity_provider
    try:
        pending = idp.precheck(pending, sp)
        principal = session.principal(request)
        fresh = session.take_fresh_login(request) == pending.id
        if pending.force_authn and not fresh:
            principal = None  # ForceAuthn: only a login made for this very request counts
        if principal is None:
            if pending.is_passive:
                raise NoPassive("the user is not signed in and IsPassive forbids asking")
            session.stash(request, pending)
            return RedirectResponse(link(request, "login", pending=pending.id), status_code=303)
        return autopost(idp.respond(pending, principal))
    except SamlStatusError as exc:
        return autopost(idp.status_response(pending, exc))


async def sso(request: Request) -> Response:
    """SingleSignOnService: HTTP-Redirect (GET) and HTTP-POST (POST) bindings."""
    idp = services(request).identity_provider
    if request.method == "POST":
        form = await _form(request)
        pending, sp = idp.receive_post(field(form, "SAMLRequest"), field(form, "RelayState"))
        return _continue(request, pending, sp)
    resume = request.query_params.get("resume")
    if resume is not None:
        resumed = session.unstash(request, resume)
        if resumed is None:
            raise MalformedRequest(
                "This sign-in step has expired or was already completed. "
                "Start again from the application you were signing in to."
            )
        return _continue(request, resumed, idp.service_provider(resumed))
    pending, sp = idp.receive_redirect(request.query_params, request.url.query)
    return _continue(request, pending, sp)


async def idp_init(request: Request) -> Response:
    """IdP-initiated SSO: ``/idp/init?sp=ENTITY_ID&RelayState=URL`` (AWS by default)."""
    idp = services(request).identity_provider
    pending, sp = idp.idp_initiated(
        request.query_params.get("sp"), request.query_params.get("RelayState")
    )
    return _continue(request, pending, sp)


# --- login -----------------------------------------------------------------------------------


def _login_page(request: Request, *, pending_id: str | None, status: int = 200,
                error: str | None = None, username: str | None = None,
                mfa_step: bool = False) -> Response:
    pending = session.peek(request, pending_id)
    authorization = None if pending else session.peek_authorization(request, pending_id)
    label = (_sp_label(pending.sp) if pending
             else _client_label(request, authorization) if authorization else None)
    return render(
        "login.html", status, form_action=_form_action(authorization),
        action=link(request, "login"), pending=pending_id,
        csrf_token=session.csrf_token(request),
        sp=label, error=error, username=username,
        mfa_step=mfa_step,
    )


def _sp_label(entity_id: str) -> str:
    return f"Amazon Web Services ({entity_id})" if entity_id == AWS_ENTITY_ID else entity_id


def _client_label(request: Request, authorization: AuthorizationRequest) -> str:
    """An OpenID Connect client by its registered name (else its client ID)."""
    client = services(request).oidc.directory.oidc_clients.get(authorization.client_id)
    return client.name if client and client.name else authorization.client_id


def _form_action(authorization: AuthorizationRequest | None) -> str:
    """The login form's ``form-action``: this site, plus the origin of the redirect URI an
    OpenID Connect sign-in ends at (browsers check every redirect after a form submission
    against ``form-action``, and the last one leaves for the client's registered URI)."""
    origin = csp_origin(authorization.redirect_uri) if authorization else None
    return f"'self' {origin}" if origin else "'self'"


def _signed_in_page(request: Request, principal: Principal) -> Response:
    user = services(request).identity_provider.directory.user(principal.username)
    return render(
        "signed_in.html", user=user, mfa=principal.mfa,
        aws_url=link(request, "idp_init"), logout_url=link(request, "logout"),
        csrf_token=session.csrf_token(request),
    )


async def login(request: Request) -> Response:
    if request.method in ("GET", "HEAD"):
        pending_id = request.query_params.get("pending")
        principal = session.principal(request)
        if principal is not None and not pending_id:
            return _signed_in_page(request, principal)
        return _login_page(request, pending_id=pending_id)
    return await _login_post(request)


async def _login_post(request: Request) -> Response:
    form = await _form(request)
    pending_id = field(form, "pending") or None
    username = (field(form, "username") or "").strip()
    if not session.csrf_ok(request, form):
        return _login_page(request, pending_id=pending_id, status=400, username=username,
                           error="This sign-in form has expired or did not come from this "
                           "site. Sign in again.")
    password = field(form, "password") or ""
    if not password and session.mfa_step_ended(request):
        return _already_signed_in(request, pending_id)
    authenticator = services(request).authenticator
    outcome = authenticator.submit(LoginAttempt(
        username=username, password=password,
        otp=(field(form, "otp") or "").strip() or None,
        address=request.client.host if request.client else "unknown",
        mfa_step=session.mfa_step(request),
    ))
    if isinstance(outcome, Throttled):
        response = _login_page(request, pending_id=pending_id, status=429, username=username,
                               error="Too many failed sign-in attempts. Try again in "
                               f"{outcome.retry_after} seconds.")
        response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    if isinstance(outcome, OtpNeeded):
        session.start_mfa_step(request, outcome.step)
        return _login_page(request, pending_id=pending_id, status=401, error=outcome.message,
                           username=outcome.step.username, mfa_step=True)
    if isinstance(outcome, Refused):
        if not password and session.mfa_step_ended(request):  # lost a race with itself
            return _already_signed_in(request, pending_id)
        return _login_page(request, pending_id=pending_id, status=401, error=outcome.message,
                           username=outcome.username, mfa_step=outcome.mfa_step)
    return _logged_in(request, outcome, pending_id)


def _logged_in(request: Request, outcome: LoggedIn, pending_id: str | None) -> Response:
    """A fresh session for the principal; back to the SSO step that asked, if any."""
    session.remember(request, outcome.principal)
    if pending_id and (session.peek(request, pending_id) is not None
                       or session.peek_authorization(request, pending_id) is not None):
        session.mark_fresh_login(request, pending_id)
    return _already_signed_in(request, pending_id)


def _already_signed_in(request: Request, pending_id: str | None) -> Response:
    """Where a finished login goes: back to the SSO step (SAML or OpenID Connect) that asked,
    else the signed-in page.

    Also the answer to a code form sent again after its step was completed (a double click):
    the browser already holds the session the first submission set, so sending it where that
    one went grants nothing and spares the user a misleading error.
    """
    if pending_id and session.peek(request, pending_id) is not None:
        return RedirectResponse(link(request, "sso", resume=pending_id), status_code=303)
    if pending_id and session.peek_authorization(request, pending_id) is not None:
        return RedirectResponse(link(request, "oidc_resume", pending=pending_id),
                                status_code=303)
    return RedirectResponse(link(request, "login"), status_code=303)


async def logout(request: Request) -> Response:
    """POST with the session's token signs out; GET only shows the sign-out button.

    (A GET that signed out would let any page log the user out with an ``<img>``.) Signing
    out ends the login on the server too (``Authenticator.sign_out``), so a copy of the
    session cookie taken before it no longer signs anyone in, on any worker.
    """
    if request.method == "POST" and session.csrf_ok(request, await _form(request)):
        session.end(request)
        return RedirectResponse(link(request, "login"), status_code=303)
    return render("sign_out.html", 400 if request.method == "POST" else 200,
                  action=link(request, "logout"), csrf_token=session.csrf_token(request),
                  error="This sign-out form did not come from this site."
                  if request.method == "POST" else None)


async def metadata(request: Request) -> Response:
    body = services(request).identity_provider.metadata()
    return Response(body, media_type="application/samlmetadata+xml",
                    headers={"Content-Disposition": 'inline; filename="idp-metadata.xml"'})


def routes() -> list[Route]:
    return [
        Route("/idp/metadata", metadata, methods=["GET"], name="metadata"),
        Route("/idp/sso", sso, methods=["GET", "POST"], name="sso"),
        Route("/idp/init", idp_init, methods=["GET"], name="idp_init"),
        Route("/idp/login", login, methods=["GET", "POST"], name="login"),
        Route("/idp/logout", logout, methods=["GET", "POST"], name="logout"),
    ]
