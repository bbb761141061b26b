"""The console's IAM-user sign-in and switch role: ``/aws/signin``, ``/aws/switchrole``.

``GET|POST /aws/signin`` is the twin of ``https://ACCOUNT.signin.aws.amazon.com/console``
(``?account=ID_OR_ALIAS`` prefills the account): account, IAM user name and password, then
the MFA code when the user has a device; the console session is a new cookie holding the
user's session credentials (``idp.aws.console_session``). The policy is ``idp.aws.signin``;
these routes parse, call and render, with the IdP login page's protections: an anti-CSRF
token in the browser's signed session, throttling in the shared store, the same answer for
every wrong account, user or password.

``GET /aws/switchrole?account=…&roleName=…&displayName=…&color=…`` is the twin of
``https://signin.aws.amazon.com/switchrole``: a page to confirm (the parameters come from a
link anyone can craft, so nothing happens on GET), whose form POSTs the switch. The switch
asks STS (``RoleAssumption.assume_role(caller, …, console=True)``) with the caller of the
**sign-in** credentials, never the current role's (IAM User Guide, "Switch from a user to an
IAM role (console)": "the console always uses your original credentials to authorize the
switch").

A SAML-federated console can switch too ("You can switch roles when you sign in as … a
SAML-federated role"); its original credentials are the SAML role session, so trust policies
see that role session as the principal, and role chaining's rules apply: the new session
lasts at most one hour (IAM User Guide, "Switch from a user to an IAM role (console)": "By
default, when you switch roles, your AWS Management Console session lasts for 1 hour"; only
IAM users get the role's maximum) and never past the federated sign-in.

``POST /aws/switchrole/back`` is "Back to *user*": the signed-in identity again.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from idp.authn.throttle import LoginThrottle
from idp.aws.assume_role import AssumeRoleRequest
from idp.aws.console import console_target
from idp.aws.console_session import ConsoleSession, RoleLink, SwitchedRole
from idp.aws.errors import AwsError
from idp.aws.signin import (
    MAX_ACCOUNT,
    IamSignIn,
    MfaNeeded,
    MfaPending,
    PasswordAttempt,
    Refused,
    SignedIn,
    SignInOutcome,
    SwitchRequest,
    Throttled,
    find_account,
    parse_switch,
)
from idp.aws.signin import USER_SESSION_SECONDS as USER_SESSION
from idp.errors import MalformedRequest
from idp.web import idp_session
from idp.web.console_routes import COOKIE, clear_cookie, set_cookie
from idp.web.forms import field, read_form
from idp.web.links import link
from idp.web.pages import render
from idp.web.state import services

__all__ = ["routes", "signin_target"]

log = logging.getLogger("idp.console")

#: The sign-in and switch forms are a few short fields.
MAX_FORM_BYTES: Final = 16 * 1024
_MFA_KEY: Final = "aws_signin_mfa"
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_SWITCH_PATH: Final = "/aws/switchrole"
#: What AWS's switch-role page says when the switch fails, whatever the reason.
AWS_SWITCH_TEXT: Final = ("Invalid information in one or more fields. Check your information "
                          "or contact your administrator.")
_FORM_EXPIRED: Final = ("This sign-in form has expired or did not come from this site. "
                        "Sign in again.")


async def _form(request: Request) -> FormData:
    return await read_form(request, max_bytes=MAX_FORM_BYTES, max_fields=16,
                           error=MalformedRequest)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=_NO_STORE)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _short(value: str | None, limit: int = 256) -> str:
    return (value or "")[:limit]


# --- where to go after sign-in ---------------------------------------------------------------


def _switch_query(request: SwitchRequest) -> str:
    query = {"account": request.account, "roleName": request.role_name,
             "displayName": request.display_name}
    if request.color:
        query["color"] = request.color
    return urlencode(query)


def signin_target(value: str | None) -> str:
    """Where a finished sign-in goes: a switch-role confirmation page (its parameters checked
    and re-encoded by us) or a console page (``console_target``); never off this site."""
    text = (value or "").strip()
    if len(text) <= 2048 and text.startswith(_SWITCH_PATH + "?"):
        query = dict(parse_qsl(urlsplit(text).query))
        parsed = parse_switch(query.get("account"), query.get("roleName"),
                              query.get("displayName"), query.get("color"))
        if isinstance(parsed, SwitchRequest):
            return f"{_SWITCH_PATH}?{_switch_query(parsed)}"
        return _SWITCH_PATH
    return console_target(text)


# --- /aws/signin -----------------------------------------------------------------------------


def _signin(request: Request) -> IamSignIn:
    state = services(request)
    return IamSignIn(state.federation.iam.state(), throttle=LoginThrottle(state.store),
                     store=state.store, clock=state.clock)


def _password_page(request: Request, *, status: int = 200, error: str | None = None,
                   account: str = "", user_name: str = "", target: str = "") -> Response:
    return render("signin.html", status, action=link(request, "aws_signin"),
                  csrf_token=idp_session.csrf_token(request), error=error,
                  account=_short(account, MAX_ACCOUNT), user_name=_short(user_name, 64),
                  next=target, idp_url=link(request, "idp_init"))


def _mfa_page(request: Request, step: MfaPending, *, status: int = 200,
              error: str | None = None, target: str = "") -> Response:
    devices = _signin(request).devices_of(step)
    return render("signin_mfa.html", status, action=link(request, "aws_signin"),
                  csrf_token=idp_session.csrf_token(request), error=error,
                  user_name=step.user_name, account=step.account_id,
                  devices=[d.serial for d in devices], next=target,
                  restart_url=link(request, "aws_signin", account=step.account_id))


async def signin(request: Request) -> Response:
    if request.method in ("GET", "HEAD"):
        return _password_page(request, account=request.query_params.get("account") or "",
                              target=signin_target(request.query_params.get("next")))
    form = await _form(request)
    target = signin_target(field(form, "next"))
    account = (field(form, "account") or "").strip()
    user_name = (field(form, "username") or "").strip()
    if not idp_session.csrf_ok(request, form):
        return _password_page(request, status=400, error=_FORM_EXPIRED, account=account,
                              user_name=user_name, target=target)
    policy = _signin(request)
    if "mfa_code" in form:
        step = policy.pending(request.session.get(_MFA_KEY))
        if step is None:
            request.session.pop(_MFA_KEY, None)
            return _password_page(request, status=400, error="This sign-in step has expired "
                                  "or was already completed. Sign in again.", target=target)
        outcome = policy.mfa_step(step, field(form, "device"), field(form, "mfa_code") or "",
                                  _address(request), services(request).mfa.check)
        return _answer(request, outcome, target, step=step)
    outcome = policy.password_step(PasswordAttempt(
        account=account, user_name=user_name, password=field(form, "password") or "",
        address=_address(request)))
    return _answer(request, outcome, target, account=account, user_name=user_name)


def _answer(request: Request, outcome: SignInOutcome, target: str, *,
            step: MfaPending | None = None, account: str = "", user_name: str = "") -> Response:
    if isinstance(outcome, Throttled):
        error = ("Too many failed sign-in attempts. Try again in "
                 f"{outcome.retry_after} seconds.")
        response = (_mfa_page(request, step, status=429, error=error, target=target)
                    if step is not None else
                    _password_page(request, status=429, error=error, account=account,
                                   user_name=user_name, target=target))
        response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    if isinstance(outcome, MfaNeeded):
        request.session[_MFA_KEY] = outcome.pending.to_json()
        return _mfa_page(request, outcome.pending, target=target)
    if isinstance(outcome, Refused):
        log.info("console sign-in refused for %r in %r: %s", user_name[:64] or (
            step.user_name if step else ""), account[:64], outcome.message)
        if step is not None and outcome.mfa_step:
            return _mfa_page(request, step, status=401, error=outcome.message, target=target)
        request.session.pop(_MFA_KEY, None)
        return _password_page(request, status=401, error=outcome.message,
                              account=account or (step.account_id if step else ""),
                              user_name=user_name or (step.user_name if step else ""),
                              target=target)
    return _signed_in(request, outcome, target)


def _signed_in(request: Request, outcome: SignedIn, target: str) -> Response:
    """A fresh console session (new cookie; the one it replaces ends on the server)."""
    state = services(request)
    sessions = state.console_sessions
    previous = sessions.open(request.cookies.get(COOKIE))
    if previous is not None:
        sessions.end(previous)
    request.session.pop(_MFA_KEY, None)
    request.session["csrf"] = secrets.token_urlsafe(24)  # a new form token after sign-in
    user = outcome.user
    session = sessions.sign_in_user(
        user_arn=user.arn, user_id=user.id,
        account_alias=state.federation.iam.account_alias(user.account_id),
        mfa_at=outcome.mfa_at, duration=USER_SESSION)
    log.info("console sign-in: %s (MFA: %s)", user.arn, outcome.mfa_at is not None)
    response = _redirect(state.settings.base_path + target)
    set_cookie(request, response, session)
    return response


# --- /aws/switchrole -------------------------------------------------------------------------


def _console_session(request: Request) -> ConsoleSession | None:
    sessions = services(request).console_sessions
    session = sessions.open(request.cookies.get(COOKIE))
    if session is None or sessions.claims(session) is None:
        return None
    return session


def _to_sign_in(request: Request) -> Response:
    """No console session: sign in first, then come back to this switch-role page."""
    query = request.query_params
    parsed = parse_switch(query.get("account"), query.get("roleName"),
                          query.get("displayName"), query.get("color"))
    back = (f"{_SWITCH_PATH}?{_switch_query(parsed)}" if isinstance(parsed, SwitchRequest)
            else _SWITCH_PATH)
    params = {"next": back}
    if isinstance(parsed, SwitchRequest):
        params["account"] = parsed.account
    response = _redirect(link(request, "aws_signin", **params))
    if COOKIE in request.cookies:
        clear_cookie(request, response)
    return response


def _account_label(request: Request, account: str) -> str | None:
    found = find_account(services(request).federation.iam.state(), account)
    if found is None:
        return None
    return f"{found.alias} ({found.id})" if found.alias else found.id


def _switch_page(request: Request, session: ConsoleSession, *, status: int = 200,
                 values: dict[str, str], problems: list[str] | None = None,
                 parsed: SwitchRequest | None = None) -> Response:
    sessions = services(request).console_sessions
    return render(
        "switch_role.html", status, action=link(request, "aws_switchrole"),
        csrf_token=sessions.csrf_token(session), values=values, problems=problems or [],
        request=parsed, account_label=_account_label(request, parsed.account) if parsed else None,
        who=session.user_arn or _signin_arn(request, session),
        console_url=link(request, "aws_console"))


def _signin_arn(request: Request, session: ConsoleSession) -> str:
    claims = services(request).console_sessions.claims(session)
    return claims.assumed_role_arn if claims is not None else ""


def _values(get: Callable[[str], object]) -> dict[str, str]:
    """The fields as sent, shortened for showing them back (always escaped by the template)."""
    values: dict[str, str] = {}
    for name in ("account", "roleName", "displayName", "color"):
        value = get(name)
        values[name] = _short(value if isinstance(value, str) else "")
    return values


async def switch_role(request: Request) -> Response:
    session = _console_session(request)
    if request.method in ("GET", "HEAD"):
        if session is None:
            return _to_sign_in(request)
        query = dict(request.query_params)
        values = _values(query.get)
        if not any(values.values()):
            return _switch_page(request, session, values=values)
        parsed = parse_switch(query.get("account"), query.get("roleName"),
                              query.get("displayName"), query.get("color"))
        if isinstance(parsed, list):
            return _switch_page(request, session, status=400, values=values, problems=parsed)
        return _switch_page(request, session, values=values, parsed=parsed)
    form = await _form(request)
    if session is None:
        return _to_sign_in(request)
    values = _values(form.get)
    sessions = services(request).console_sessions
    if not sessions.check_csrf(session, form.get("csrf_token")):
        return _switch_page(request, session, status=400, values=values, problems=[
            "This switch-role form did not come from your console session. Check the "
            "details and switch again."])
    parsed = parse_switch(field(form, "account"), field(form, "roleName"),
                          field(form, "displayName"), field(form, "color"))
    if isinstance(parsed, list):
        return _switch_page(request, session, status=400, values=values, problems=parsed)
    return _switch(request, session, parsed)


def _console_note(session: ConsoleSession, found: str) -> str | None:
    """What the console session itself has to do with a refusal AWS does not explain."""
    if "multifactorauth" in found.lower() and not session.mfa:
        return ("This console session was signed in without MFA, so "
                "aws:MultiFactorAuthPresent is false for every switch it makes. Sign out and "
                "sign in again with your MFA device's code." if session.iam_user else
                "A SAML-federated console session carries no MFA context, so "
                "aws:MultiFactorAuthPresent is false for every switch it makes. Sign in as an "
                "IAM user with MFA, or drop the MFA condition for this principal.")
    return None


def _refusal(request: Request, session: ConsoleSession, parsed: SwitchRequest, *,
             status: int, sts_error: str | None, found: str, hint: str | None,
             role_arn: str | None) -> Response:
    return render(
        "switch_role_error.html", status, aws_text=AWS_SWITCH_TEXT, sts_error=sts_error,
        found=found, hint=hint, role_arn=role_arn, request=parsed,
        console_note=_console_note(session, found),
        retry_url=f"{link(request, 'aws_switchrole')}?{_switch_query(parsed)}",
        console_url=link(request, "aws_console"))


def _switch(request: Request, session: ConsoleSession, parsed: SwitchRequest) -> Response:
    state = services(request)
    account = find_account(state.federation.iam.state(), parsed.account)
    if account is None:
        return _refusal(request, session, parsed, status=400, sts_error=None, role_arn=None,
                        found=f"no account has the ID or alias {parsed.account!r}",
                        hint="use the 12-digit account ID or the account's alias exactly as "
                        "IAM has it (aliases are lower case)")
    role_arn = parsed.role_arn(account.id)
    try:
        caller = state.callers.resolve_temporary(session.access_key_id, session.session_token)
        session_name = caller.user_name or caller.session_name or "console"
        assumed = state.roles.assume_role(
            caller, AssumeRoleRequest(role_arn=role_arn, session_name=session_name),
            console=True)
    except AwsError as exc:
        log.info("console switch role refused: %s → %s: %s", session.user_arn, role_arn, exc)
        return _refusal(request, session, parsed, status=exc.http_status,
                        sts_error=f"{exc.code}: {exc.message}",
                        found=exc.detail or exc.message, hint=exc.hint, role_arn=role_arn)
    credentials = assumed.credentials
    switched = session.switched(SwitchedRole(
        access_key_id=credentials.access_key_id, session_token=credentials.session_token,
        expires=credentials.expiration,
        link=RoleLink(account=account.id, role_name=parsed.role_name,
                      display_name=parsed.display_name, color=parsed.color)))
    response = _redirect(link(request, "aws_console"))
    try:
        set_cookie(request, response, switched)
    except ValueError:
        return _refusal(request, session, parsed, status=400, sts_error=None, role_arn=role_arn,
                        found="the role session's credentials do not fit in the console "
                        "cookie next to the sign-in's (browsers keep at most 4 KiB)",
                        hint="use the role from the CLI (aws sts assume-role) instead")
    log.info("console switch role: %s → %s", caller.arn, assumed.caller.arn)
    return response


async def switch_back(request: Request) -> Response:
    """"Back to *user*": the signed-in identity again (the history stays)."""
    form = await _form(request)
    session = _console_session(request)
    if session is None:
        return _to_sign_in(request)
    sessions = services(request).console_sessions
    if not sessions.check_csrf(session, form.get("csrf_token")):
        return render("error.html", 400, title="Nothing changed",
                      message="This form did not come from your console session.",
                      hint="Go back to the console and use its own Back button.")
    response = _redirect(link(request, "aws_console"))
    set_cookie(request, response, session.back())
    return response


def routes() -> list[Route]:
    return [
        Route("/aws/signin", signin, methods=["GET", "POST"], name="aws_signin"),
        Route(_SWITCH_PATH, switch_role, methods=["GET", "POST"], name="aws_switchrole"),
        Route(_SWITCH_PATH + "/back", switch_back, methods=["POST"], name="aws_switch_back"),
    ]

