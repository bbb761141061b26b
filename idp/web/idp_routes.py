"""The IdP's HTTP surface: /idp/metadata, /idp/sso, /idp/init, /idp/login, /idp/logout."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import secrets
from typing import Any, Final
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from idp.authn.login import (
    MfaRequired,
    Principal,
    check_password,
    check_second_factor,
    new_principal,
)
from idp.clock import format_instant, parse_instant
from idp.directory.model import AWS_ENTITY_ID
from idp.errors import AuthnFailed, MalformedRequest, NoPassive, SamlStatusError
from idp.saml.providers import ServiceProvider
from idp.sso import Pending
from idp.store import StateStore
from idp.web.forms import field, read_form
from idp.web.pages import autopost, render

__all__ = ["routes"]

#: Largest form body accepted on IdP endpoints (an encoded AuthnRequest fits well inside).
MAX_FORM_BYTES: Final = 256 * 1024
#: How many unfinished SSO steps one browser session keeps.
MAX_PENDING: Final = 5
#: Budget (JSON bytes) for stashed steps: browsers drop cookies over 4 KiB, and the cookie is
#: base64 (4/3) plus a signature, so this keeps the whole session cookie well under that.
MAX_STASH_BYTES: Final = 2400
#: How long a password-verified user has to enter the TOTP code.
MFA_STEP_SECONDS: Final = 300
#: Login throttling: failed attempts allowed per window, per username and per client address.
THROTTLE_WINDOW: Final = 300
MAX_FAILURES_PER_USER: Final = 10
MAX_FAILURES_PER_ADDRESS: Final = 50


def _state(request: Request) -> Any:
    return request.app.state.idp


async def _form(request: Request) -> FormData:
    return await read_form(request, max_bytes=MAX_FORM_BYTES, max_fields=32,
                           error=MalformedRequest)


# --- the login session (signed cookie) -------------------------------------------------------


def _csrf(request: Request) -> str:
    """The session's anti-CSRF token (a login form must come from a page of this site)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def _csrf_ok(request: Request, form: FormData) -> bool:
    sent, expected = field(form, "csrf_token"), request.session.get("csrf")
    # compare_digest refuses non-ASCII str: compare the UTF-8 bytes (a 500 otherwise).
    return isinstance(expected, str) and sent is not None and hmac.compare_digest(
        sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def _principal(request: Request) -> Principal | None:
    """The logged-in principal, if the session is still valid and the user still exists."""
    state = _state(request)
    data = request.session.get("principal")
    if not isinstance(data, dict):
        return None
    try:
        principal = Principal(
            username=str(data["username"]), instant=parse_instant(str(data["instant"])),
            mfa=bool(data["mfa"]), session_index=str(data["session_index"]),
        )
    except (KeyError, ValueError):
        request.session.pop("principal", None)
        return None
    expires = principal.instant + dt.timedelta(seconds=state.settings.idp_session_lifetime)
    user = state.idp.directory.user(principal.username)
    if state.clock.now() >= expires or user is None or (user.has_mfa and not principal.mfa):
        request.session.pop("principal", None)
        return None
    return principal


def _remember(request: Request, principal: Principal) -> None:
    """A fresh session for the new login (no fixation): only the pending steps carry over."""
    pending = request.session.get("pending")
    request.session.clear()
    if pending:
        request.session["pending"] = pending
    request.session["csrf"] = secrets.token_urlsafe(24)
    request.session["principal"] = {
        "username": principal.username, "instant": format_instant(principal.instant),
        "mfa": principal.mfa, "session_index": principal.session_index,
    }


def _stash(request: Request, pending: Pending) -> None:
    stash = dict(request.session.get("pending") or {})
    stash[pending.id] = pending.to_json()
    while len(stash) > MAX_PENDING or (
        len(stash) > 1 and len(json.dumps(stash)) > MAX_STASH_BYTES
    ):
        stash.pop(next(iter(stash)))  # oldest first
    request.session["pending"] = stash


def _pending_from(data: object) -> Pending | None:
    """A stashed step, or ``None`` if it is missing or not one we wrote."""
    try:
        return Pending.from_json(data) if isinstance(data, dict) else None
    except (KeyError, TypeError, ValueError):
        return None


def _unstash(request: Request, pending_id: str) -> Pending | None:
    stash = dict(request.session.get("pending") or {})
    data = stash.pop(pending_id, None)
    request.session["pending"] = stash
    return _pending_from(data)


def _peek(request: Request, pending_id: str | None) -> Pending | None:
    return _pending_from((request.session.get("pending") or {}).get(pending_id or ""))


# --- SSO -------------------------------------------------------------------------------------


def _continue(request: Request, pending: Pending, sp: ServiceProvider) -> Response:
    """Answer now if the user is logged in, else send them to log in first."""
    idp = _state(request).idp
    try:
        idp.precheck(pending, sp)
        principal = _principal(request)
        fresh = request.session.pop("fresh_login_for", None) == pending.id
        if pending.force_authn and not fresh:
            principal = None  # ForceAuthn: only a login made for this very request counts
        if principal is None:
            if pending.is_passive:
                raise NoPassive("the user is not signed in and IsPassive forbids asking")
            _stash(request, pending)
            login = request.url_for("login").include_query_params(pending=pending.id)
            return RedirectResponse(str(login), status_code=303)
        return autopost(idp.respond(pending, principal))
    except SamlStatusError as exc:
        return autopost(idp.status_response(pending, exc))


async def sso(request: Request) -> Response:
    """SingleSignOnService: HTTP-Redirect (GET) and HTTP-POST (POST) bindings."""
    idp = _state(request).idp
    if request.method == "POST":
        form = await _form(request)
        pending, sp = idp.receive_post(field(form, "SAMLRequest"), field(form, "RelayState"))
        return _continue(request, pending, sp)
    resume = request.query_params.get("resume")
    if resume is not None:
        resumed = _unstash(request, resume)
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
    idp = _state(request).idp
    pending, sp = idp.idp_initiated(
        request.query_params.get("sp"), request.query_params.get("RelayState")
    )
    return _continue(request, pending, sp)


# --- login -----------------------------------------------------------------------------------


def _login_page(request: Request, *, pending_id: str | None, status: int = 200,
                error: str | None = None, username: str | None = None,
                mfa_step: bool = False) -> Response:
    pending = _peek(request, pending_id)
    return render(
        "login.html", status, action=str(request.url_for("login")), pending=pending_id,
        csrf_token=_csrf(request),
        sp=_sp_label(pending.sp) if pending else None, error=error, username=username,
        mfa_step=mfa_step,
    )


def _sp_label(entity_id: str) -> str:
    return f"Amazon Web Services ({entity_id})" if entity_id == AWS_ENTITY_ID else entity_id


def _signed_in_page(request: Request, principal: Principal) -> Response:
    user = _state(request).idp.directory.user(principal.username)
    return render(
        "signed_in.html", user=user, mfa=principal.mfa,
        aws_url=str(request.url_for("idp_init")), logout_url=str(request.url_for("logout")),
        csrf_token=_csrf(request),
    )


async def login(request: Request) -> Response:
    if request.method == "GET":
        pending_id = request.query_params.get("pending")
        principal = _principal(request)
        if principal is not None and not pending_id:
            return _signed_in_page(request, principal)
        return _login_page(request, pending_id=pending_id)
    return await _login_post(request)


def _mfa_user(request: Request) -> str | None:
    """The user who passed the password step and still owes a TOTP code."""
    data = request.session.get("mfa_user")
    if not isinstance(data, dict):
        return None
    try:
        started = parse_instant(str(data["at"]))
    except (KeyError, ValueError):
        return None
    if (_state(request).clock.now() - started).total_seconds() > MFA_STEP_SECONDS:
        request.session.pop("mfa_user", None)
        return None
    return str(data.get("username"))


async def _login_post(request: Request) -> Response:
    state = _state(request)
    directory = state.idp.directory
    form = await _form(request)
    pending_id = field(form, "pending") or None
    username = (field(form, "username") or "").strip()
    password = field(form, "password") or ""
    otp = (field(form, "otp") or "").strip() or None
    mfa_user = _mfa_user(request)
    if not _csrf_ok(request, form):
        return _login_page(request, pending_id=pending_id, status=400, username=username,
                           error="This sign-in form has expired or did not come from this "
                           "site. Sign in again.")
    address = request.client.host if request.client else "unknown"
    user_key = (username or mfa_user or "").lower()
    wait = _throttled(state.store, user_key, address)
    if wait is not None:
        response = _login_page(request, pending_id=pending_id, status=429, username=username,
                               error=f"Too many failed sign-in attempts. Try again in {wait} "
                               "seconds.")
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        if not password and mfa_user is not None and (not username or username == mfa_user):
            user = directory.user(mfa_user)
            if user is None:
                raise AuthnFailed("Invalid username or password.")
            username = mfa_user
        else:
            if not username or not password:
                raise AuthnFailed("Enter your username and password.")
            user = check_password(directory, username, password)
        mfa = check_second_factor(user, otp, state.totp)
    except MfaRequired as exc:
        started = format_instant(state.clock.now())
        request.session["mfa_user"] = {"username": username, "at": started}
        return _login_page(request, pending_id=pending_id, status=exc.http_status,
                           error=str(exc), username=username, mfa_step=True)
    except AuthnFailed as exc:
        state.store.record_attempt("login-user", user_key)
        state.store.record_attempt("login-address", address)
        mfa_step = mfa_user is not None and username == mfa_user
        return _login_page(request, pending_id=pending_id, status=exc.http_status,
                           error=str(exc), username=username, mfa_step=mfa_step)
    principal = new_principal(user, mfa=mfa, clock=state.clock)
    state.store.clear_attempts("login-user", user_key)
    _remember(request, principal)
    if pending_id and _peek(request, pending_id) is not None:
        request.session["fresh_login_for"] = pending_id
        target = f"{request.url_for('sso')}?{urlencode({'resume': pending_id})}"
        return RedirectResponse(target, status_code=303)
    return RedirectResponse(str(request.url_for("login")), status_code=303)


def _throttled(store: StateStore, user_key: str, address: str) -> int | None:
    """Seconds to wait when this user or address failed too often lately, else None.

    Counted per username whether or not the user exists, so throttling reveals nothing.
    """
    for namespace, key, limit in (("login-user", user_key, MAX_FAILURES_PER_USER),
                                  ("login-address", address, MAX_FAILURES_PER_ADDRESS)):
        count, retry = store.attempts(namespace, key, THROTTLE_WINDOW)
        if count >= limit:
            return max(1, int(retry) + 1)
    return None


async def logout(request: Request) -> Response:
    """POST with the session's token signs out; GET only shows the sign-out button.

    (A GET that signed out would let any page log the user out with an ``<img>``.)
    """
    if request.method == "POST" and _csrf_ok(request, await _form(request)):
        request.session.clear()
        return RedirectResponse(str(request.url_for("login")), status_code=303)
    return render("sign_out.html", 400 if request.method == "POST" else 200,
                  action=str(request.url_for("logout")), csrf_token=_csrf(request),
                  error="This sign-out form did not come from this site."
                  if request.method == "POST" else None)


async def metadata(request: Request) -> Response:
    body = _state(request).idp.metadata()
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
