"""The AWS console's side of sign-in: ``POST /aws/saml``, ``/aws/console``, ``/aws/logout``.

``POST /aws/saml`` is the twin of ``https://signin.aws.amazon.com/saml`` (aws-saml.md §8): one
verified role signs straight in; several show AWS's "Select a role" page, whose markup third
party scrapers parse (clients-and-attacks.md §A4), and the browser posts the same
``SAMLResponse`` back with ``roleIndex``. The console session is a signed cookie holding the
STS credentials; every page load re-checks them with the credential issuer.

Failures show AWS's one sentence, then what AWS never says: the rule, what was found, the fix,
and what the Response claims (untrusted).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from idp.aws.console import (
    CONSOLE_HOME,
    ConsoleSignIn,
    console_target,
    open_session,
    role_choices,
    sign_in,
    summarize,
)
from idp.aws.sts import Session
from idp.errors import SamlValidationError, StsError
from idp.keys import KeyStore
from idp.web.forms import field, read_form
from idp.web.pages import render

__all__ = ["COOKIE", "routes"]

log = logging.getLogger("idp.console")

COOKIE: Final = "aws_console"
_SALT: Final = "aws-console"
#: Console sessions last at most 12 hours (aws-saml.md §8.4); the credentials decide sooner.
_MAX_COOKIE_AGE: Final = 43_200 + 300
#: A base64 SAMLResponse is at most 100,000 characters; leave room for the other fields.
MAX_FORM_BYTES: Final = 256 * 1024
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_AWS_TEXT: Final = "Your request included an invalid SAML response."


def _state(request: Request) -> Any:
    return request.app.state.idp


def _path(request: Request, name: str) -> str:
    return str(request.app.url_path_for(name))


@functools.lru_cache(maxsize=8)
def _serializer(certs_dir: Path) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(KeyStore(certs_dir).secret("session"), salt=_SALT)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=_NO_STORE)


# --- POST /aws/saml ------------------------------------------------------------------------


def _failure(request: Request, exc: SamlValidationError | StsError, saml: str | None
             ) -> Response:
    """AWS's sentence, then the diagnosis, then the Response as received (untrusted)."""
    if isinstance(exc, StsError):
        status, rule, found = exc.http_status, exc.rule or exc.code, exc.detail or exc.message
        api_error: str | None = f"{exc.code}: {exc.message}"
    else:
        status, rule, found, api_error = 400, exc.rule, exc.message, None
    return render(
        "saml_error.html", status, aws_text=_AWS_TEXT, rule=rule, found=found, hint=exc.hint,
        api_error=api_error, summary=summarize(saml), logout_url=_path(request, "logout"),
        start_url=_path(request, "idp_init"),
    )


def _form_error(reason: str) -> SamlValidationError:
    return SamlValidationError("form", reason)


async def _form(request: Request) -> FormData:
    return await read_form(request, max_bytes=MAX_FORM_BYTES, max_fields=16,
                           error=_form_error)


def _role_page(request: Request, console: ConsoleSignIn, saml: str, relay: str | None,
               error: str | None = None) -> Response:
    accounts = role_choices(console, _state(request).idp.directory)
    return render("select_role.html", action=_path(request, "aws_saml"), saml_response=saml,
                  relay_state=relay or "", accounts=accounts, error=error)


def _alias(request: Request, account_id: str) -> str | None:
    for account in _state(request).idp.directory.accounts.values():
        if account.id == account_id:
            alias: str | None = account.alias
            return alias
    return None


def _signed_in(request: Request, console: ConsoleSignIn, session: Session,
               relay: str | None) -> Response:
    state = _state(request)
    target = console_target(relay)
    claims = session.claims
    value = _serializer(state.settings.certs_dir).dumps({
        "k": session.credentials.access_key_id, "t": session.credentials.session_token,
        "n": console.name_id, "i": console.issuer, "a": _alias(request, claims.account),
        "d": target if target != CONSOLE_HOME else None,
        "e": claims.expiration.isoformat(),
    })
    remaining = int((claims.expiration - state.clock.now()).total_seconds())
    response = _redirect(target)
    response.set_cookie(COOKIE, value, max_age=max(remaining, 0), path="/aws", httponly=True,
                        samesite="lax", secure=state.settings.secure_cookies)
    return response


async def saml(request: Request) -> Response:
    """The console ACS: first hop (maybe "Select a role") and second hop (``roleIndex``)."""
    federation = _state(request).aws
    saml_value: str | None = None
    try:
        form = await _form(request)
        saml_value, relay = field(form, "SAMLResponse"), field(form, "RelayState")
        role_index = (field(form, "roleIndex") or "").strip()
        if not saml_value:
            raise SamlValidationError("saml-response", "the form has no SAMLResponse field",
                                      hint="POST the IdP's form fields SAMLResponse (base64 "
                                      "of the whole samlp:Response) and optionally RelayState")
        console = sign_in(federation, saml_value)
        if not role_index and len(console.grants) > 1:
            chosen = "roleIndex" in form
            return _role_page(request, console, saml_value, relay,
                              error="Select a role to sign in." if chosen else None)
        session = open_session(federation, console, role_index or console.grants[0].role_arn)
    except (SamlValidationError, StsError) as exc:
        log.info("console sign-in refused: %s", exc)
        return _failure(request, exc, saml_value)
    return _signed_in(request, console, session, relay)


# --- the console ---------------------------------------------------------------------------


def _session_data(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(_state(request).settings.certs_dir).loads(raw, max_age=_MAX_COOKIE_AGE)
    except BadData:
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in "kt"):
        return None
    if _state(request).store.claimed("console-logout", data["k"]):
        return None  # signed out: a copy of the cookie taken before does not work either
    return data


def _back_to_idp(request: Request, path: str | None) -> Response:
    """No usable session: start again at the IdP, keeping the console page asked for."""
    target = _path(request, "idp_init")
    if path:
        relay = f"{CONSOLE_HOME}/{path}"
        if request.url.query:
            relay += f"?{request.url.query}"
        target += "?" + urlencode({"RelayState": relay})
    response = _redirect(target)
    if COOKIE in request.cookies:
        _clear(response, request)
    return response


def _clear(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/aws", httponly=True, samesite="lax",
                           secure=_state(request).settings.secure_cookies)


async def console(request: Request) -> Response:
    """The signed-in console: who you are, until when, and the credentials for the CLI."""
    state = _state(request)
    path = request.path_params.get("path") or None
    data = _session_data(request)
    if data is None:
        return _back_to_idp(request, path)
    issuer = state.aws.issuer
    try:
        claims = issuer.resolve(data["k"], data["t"])
    except StsError:
        return _back_to_idp(request, path)
    now: dt.datetime = state.clock.now()
    remaining = max(0, int((claims.expiration - now).total_seconds()))
    shown_path = f"{CONSOLE_HOME}/{path}" if path else None
    if shown_path and request.url.query:
        shown_path += f"?{request.url.query}"
    return render(
        "console.html", claims=claims, alias=data.get("a"), name_id=data.get("n"),
        issuer=data.get("i"), deep_link=data.get("d"), path=shown_path,
        expires=claims.expiration.strftime("%Y-%m-%d %H:%M:%S UTC"),
        remaining_minutes=(remaining + 59) // 60,
        access_key_id=data["k"], secret_access_key=issuer.secret_for(data["k"]),
        session_token=data["t"], sts_endpoint=f"{state.settings.url}/aws/sts",
        logout_url=_path(request, "aws_logout"), switch_url=_path(request, "idp_init"),
        csrf_token=_csrf_token(request, data["k"]),
    )


def _csrf_token(request: Request, access_key_id: str) -> str:
    """Bound to the console session: a cross-site form cannot know it."""
    return _serializer(_state(request).settings.certs_dir).dumps(access_key_id, salt="csrf")


async def logout(request: Request) -> Response:
    """Sign out of the console only (the IdP session stays, as with real AWS).

    The form's token must match the session: another site cannot sign the user out.
    """
    data = _session_data(request)
    if data is not None:
        try:
            form = await _form(request)
        except SamlValidationError:
            form = FormData()
        token = form.get("csrf_token")
        try:
            valid = isinstance(token, str) and _serializer(
                _state(request).settings.certs_dir).loads(token, salt="csrf") == data["k"]
        except BadData:
            valid = False
        if not valid:
            return render("signed_out.html", 400, start_url=_path(request, "idp_init"),
                          error="This sign-out form did not come from the console; "
                          "you are still signed in.")
        # Revoke on the server (all workers): the session ends even where the cookie survives.
        until = dt.datetime.fromisoformat(data["e"]) if isinstance(data.get("e"), str) else (
            _state(request).clock.now() + dt.timedelta(seconds=_MAX_COOKIE_AGE))
        _state(request).store.claim("console-logout", data["k"], until)
    response = render("signed_out.html", start_url=_path(request, "idp_init"))
    _clear(response, request)
    return response


def routes() -> list[Route]:
    return [
        Route("/aws/saml", saml, methods=["POST"], name="aws_saml"),
        Route(CONSOLE_HOME, console, methods=["GET"], name="aws_console"),
        Route(CONSOLE_HOME + "/{path:path}", console, methods=["GET"], name="aws_console_path"),
        Route("/aws/logout", logout, methods=["POST"], name="aws_logout"),
    ]
