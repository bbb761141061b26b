"""The AWS console's side of sign-in: ``POST /aws/saml``, ``/aws/console``, ``/aws/logout``.

``POST /aws/saml`` is the twin of ``https://signin.aws.amazon.com/saml``: one verified role
signs straight in; several show AWS's "Select a role" page (whose markup third-party tools
scrape: the radio inputs named ``roleIndex`` with the role ARN as value, grouped under
``Account: alias (id)``), and the browser posts the same ``SAMLResponse`` back with
``roleIndex``. The console session is ``idp.aws.console_session``; these routes parse, call
and render.

Failures show AWS's one sentence, then what AWS never says: the rule, what was found, the fix,
and what the Response claims (untrusted).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from idp.aws.console import (
    CONSOLE_HOME,
    RoleSelection,
    console_target,
    open_session,
    role_choices,
    select_roles,
)
from idp.aws.console_session import ConsoleSession, RoleLink
from idp.aws.credentials import SessionClaims
from idp.aws.diagnostics import summarize
from idp.aws.errors import AwsError
from idp.aws.federation import RoleSession
from idp.errors import Rule, SamlValidationError
from idp.exchanges import ExchangeKind, decode_message
from idp.web.forms import field, read_form
from idp.web.links import link
from idp.web.pages import render
from idp.web.state import services

__all__ = ["COOKIE", "clear_cookie", "routes", "set_cookie"]

log = logging.getLogger("idp.console")

COOKIE: Final = "aws_console"
#: A base64 SAMLResponse is at most 100,000 characters; leave room for the other fields.
MAX_FORM_BYTES: Final = 256 * 1024
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_AWS_TEXT: Final = "Your request included an invalid SAML response."


def _path(request: Request, name: str) -> str:
    return link(request, name)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=_NO_STORE)


# --- POST /aws/saml ------------------------------------------------------------------------


def _failure(request: Request, exc: SamlValidationError | AwsError, saml: str | None
             ) -> Response:
    """AWS's sentence, then the diagnosis, then the Response as received (untrusted)."""
    if isinstance(exc, AwsError):
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
    return SamlValidationError(Rule.FORM, reason)


async def _form(request: Request) -> FormData:
    return await read_form(request, max_bytes=MAX_FORM_BYTES, max_fields=16,
                           error=_form_error)


def _role_page(request: Request, selection: RoleSelection, saml: str, relay: str | None,
               error: str | None = None) -> Response:
    accounts = role_choices(selection, services(request).federation.iam)
    return render("select_role.html", action=_path(request, "aws_saml"), saml_response=saml,
                  relay_state=relay or "", accounts=accounts, error=error)


def set_cookie(request: Request, response: Response, session: ConsoleSession) -> None:
    """Seal ``session`` into the console cookie (``ValueError`` if it cannot fit)."""
    state = services(request)
    value, max_age = state.console_sessions.seal(session)
    response.set_cookie(COOKIE, value, max_age=max_age, path=state.settings.base_path + "/aws",
                        httponly=True, samesite="lax", secure=state.settings.secure_cookies)


def _start_console(request: Request, selection: RoleSelection, role: RoleSession,
                   relay: str | None) -> Response:
    """Set the console session cookie and go to the console page RelayState asked for."""
    state = services(request)
    target = console_target(relay)
    claims = role.claims
    previous = state.console_sessions.open(request.cookies.get(COOKIE))
    if previous is not None:  # a new sign-in replaces the old one everywhere
        state.console_sessions.end(previous)
    session = ConsoleSession(
        access_key_id=role.credentials.access_key_id,
        session_token=role.credentials.session_token,
        expires=claims.expiration, name_id=selection.name_id, issuer=selection.issuer,
        account_alias=state.federation.iam.account_alias(claims.account),
        deep_link=target if target != CONSOLE_HOME else None,
    )
    response = _redirect(state.settings.base_path + target)
    set_cookie(request, response, session)
    return response


async def saml(request: Request) -> Response:
    """The console ACS: first hop (maybe "Select a role") and second hop (``roleIndex``)."""
    federation = services(request).federation
    saml_value: str | None = None
    try:
        form = await _form(request)
        saml_value, relay = field(form, "SAMLResponse"), field(form, "RelayState")
        role_index = (field(form, "roleIndex") or "").strip()
        if not saml_value:
            raise SamlValidationError(Rule.SAML_RESPONSE, "the form has no SAMLResponse field",
                                      hint="POST the IdP's form fields SAMLResponse (base64 "
                                      "of the whole samlp:Response) and optionally RelayState")
        selection = select_roles(federation, saml_value)
        if not role_index and len(selection.grants) > 1:
            chosen = "roleIndex" in form
            return _role_page(request, selection, saml_value, relay,
                              error="Select a role to sign in." if chosen else None)
        role = open_session(federation, selection, role_index or selection.grants[0].role_arn)
    except (SamlValidationError, AwsError) as exc:
        log.info("console sign-in refused: %s", exc)
        _record(request, saml_value, exc)
        return _failure(request, exc, saml_value)
    _record(request, saml_value, None, {"assumed_role": role.claims.assumed_role_arn})
    return _start_console(request, selection, role, relay)


def _record(request: Request, saml_value: str | None, exc: SamlValidationError | AwsError | None,
            facts: dict[str, str] | None = None) -> None:
    """The console's decision, in the exchange log."""
    message = decode_message(saml_value)
    log_ = services(request).exchanges
    if exc is None:
        log_.decision(ExchangeKind.CONSOLE, message=message, facts=facts)
    elif isinstance(exc, AwsError):
        log_.decision(ExchangeKind.CONSOLE, message=message, rule=exc.rule or exc.code,
                      found=exc.detail or exc.message, facts={"code": exc.code})
    else:
        log_.decision(ExchangeKind.CONSOLE, message=message, rule=exc.rule, found=exc.message)


# --- the console ---------------------------------------------------------------------------


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
        clear_cookie(request, response)
    return response


def _sign_in_again(request: Request, session: ConsoleSession) -> str:
    """Where this session's user signs in again: the IAM sign-in page (their account
    prefilled) or the IdP."""
    if session.user_arn is None:
        return _path(request, "idp_init")
    account = session.account_alias or session.user_arn.split(":")[4]
    return link(request, "aws_signin", account=account)


def clear_cookie(request: Request, response: Response) -> None:
    settings = services(request).settings
    response.delete_cookie(COOKIE, path=settings.base_path + "/aws", httponly=True,
                           samesite="lax", secure=settings.secure_cookies)


@dataclass(frozen=True)
class _HistoryLink:
    link: RoleLink
    label: str
    current: bool


def _identity(claims: SessionClaims) -> str:
    """The navigation bar's name as AWS shows it: ``user @ account`` (the user's name, without
    ``user/`` or its path) or ``role/session @ account``."""
    resource = claims.assumed_role_arn.split(":", 5)[5]
    if resource.startswith("user/"):
        return resource.rsplit("/", 1)[-1]
    return resource.removeprefix("assumed-role/")


async def console(request: Request) -> Response:
    """The signed-in console: who you are, the role you switched to, the roles you used,
    until when, and the credentials for the CLI."""
    state = services(request)
    sessions = state.console_sessions
    path = request.path_params.get("path") or None
    session = sessions.open(request.cookies.get(COOKIE))
    claims = sessions.claims(session) if session is not None else None
    if session is not None and claims is None and session.user_arn is not None:
        gone = _redirect(_sign_in_again(request, session))
        clear_cookie(request, gone)
        return gone
    if session is None or claims is None:
        return _back_to_idp(request, path)
    notice = None
    role_claims = sessions.role_claims(session)
    if session.role is not None and role_claims is None:
        # The role session ended before the sign-in did: back to the signed-in identity.
        notice = (f"Your session as {session.role.link.display_name} has ended; you are "
                  "back to your sign-in identity.")
        session = session.back()
    current = role_claims or claims
    remaining = max(0, int((current.expiration - state.clock.now()).total_seconds()))
    shown_path = f"{CONSOLE_HOME}/{path}" if path else None
    if shown_path and request.url.query:
        shown_path += f"?{request.url.query}"
    role = session.role.link if session.role is not None else None
    history = [_HistoryLink(link=h, label=h.display_name,
                            current=role is not None and h.same_role(role))
               for h in session.history]
    access_key_id, session_token = session.current_credentials
    response = render(
        "console.html", claims=current, signin=claims, alias=session.account_alias,
        role_alias=state.federation.iam.account_alias(current.account),
        name_id=session.name_id, issuer=session.issuer, deep_link=session.deep_link,
        path=shown_path, iam_user=session.user_arn, user_name=session.user_name,
        back_name=session.user_name or claims.session_name, mfa=session.mfa,
        mfa_present=_mfa_present(current), role=role,
        role_ink=_ink(role.color if role is not None else None), history=history,
        identity=_identity(current), notice=notice,
        expires=current.expiration.strftime("%Y-%m-%d %H:%M:%S UTC"),
        signin_expires=claims.expiration.strftime("%Y-%m-%d %H:%M:%S UTC"),
        remaining_minutes=(remaining + 59) // 60,
        access_key_id=access_key_id,
        secret_access_key=sessions.secret_access_key(session),
        session_token=session_token, sts_endpoint=f"{state.settings.url}/aws/sts",
        logout_url=_path(request, "aws_logout"), idp_url=_path(request, "idp_init"),
        switch_url=_path(request, "aws_switchrole"),
        back_url=_path(request, "aws_switch_back"),
        csrf_token=sessions.csrf_token(session),
    )
    if notice is not None:
        set_cookie(request, response, session)
    return response


def _ink(color: str | None) -> str:
    """Readable text on the role's colour (WCAG relative luminance, roughly)."""
    if not color or len(color) != 6:
        return "111827"
    red, green, blue = (int(color[i:i + 2], 16) for i in (0, 2, 4))
    return "111827" if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else "ffffff"


def _mfa_present(claims: SessionClaims) -> str:
    """``aws:MultiFactorAuthPresent`` of the credentials the console acts with (console
    sessions are temporary credentials: the key is always present)."""
    return "true" if claims.mfa_at is not None else "false"


async def logout(request: Request) -> Response:
    """Sign out of the console only (the IdP session stays, as with real AWS).

    The form's token must match the session: another site cannot sign the user out. The
    sign-in and any role switched to end together.
    """
    sessions = services(request).console_sessions
    session = sessions.open(request.cookies.get(COOKIE))
    start_url = _path(request, "idp_init")
    if session is not None:
        start_url = _sign_in_again(request, session)
        try:
            form = await _form(request)
        except SamlValidationError:
            form = FormData()
        if not sessions.check_csrf(session, form.get("csrf_token")):
            return render("signed_out.html", 400, start_url=start_url,
                          error="This sign-out form did not come from the console; "
                          "you are still signed in.")
        sessions.end(session)
    response = render("signed_out.html", start_url=start_url)
    clear_cookie(request, response)
    return response


def routes() -> list[Route]:
    return [
        Route("/aws/saml", saml, methods=["POST"], name="aws_saml"),
        Route(CONSOLE_HOME, console, methods=["GET"], name="aws_console"),
        Route(CONSOLE_HOME + "/{path:path}", console, methods=["GET"], name="aws_console_path"),
        Route("/aws/logout", logout, methods=["POST"], name="aws_logout"),
    ]
