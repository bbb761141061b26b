"""The AD FS-compatible surface:
``/adfs/ls/IdpInitiatedSignOn.aspx?loginToRp=urn:amazon:webservices``.

AD FS's IdP-initiated sign-on page with forms authentication, in the shape the AD FS tools
scrape (aws-adfs, awsprocesscreds ``-p adfs``, samlkeygen; ``idp.compat.forms`` says what each
posts). Each tool reports a failure through its own path, so every answer a tool parses is a
``200`` page:

* ``GET``, or a ``POST`` without credentials: the ``MSISAuth`` cookie's login answers at once
  (aws-adfs's first POST tries its cookie jar; samlkeygen's passcode POST follows a password
  login); without one, the login page, ``form#loginForm``, its ``label#errorText`` empty;
* a ``POST`` with credentials (``DOMAIN\\user``, ``user@domain`` or the plain name): the
  auto-POST page with the signed Response for AWS and ``Set-Cookie: MSISAuth``; a TOTP user
  first gets the second-factor page, ``form#options`` with ``input#authMethod``
  (``SecurIDAuthentication``) and ``input#context``, which aws-adfs's RSA flow posts with a
  ``Passcode`` (``aws_adfs/_rsa_authenticator.py``), and ``form#passcodeForm``, whose hidden
  inputs samlkeygen re-posts (``samlkeygen/entry_points.py``);
* a refusal, and throttling (with ``Retry-After``), is the page again with the reason in
  ``label#errorText`` inside ``form#loginForm``: aws-adfs prints it as ``Login error: …`` and
  exits (``aws_adfs/roles_assertion_extractor.py``), awsprocesscreds finds no SAMLResponse
  (its ``POST`` must answer 200, ``awsprocesscreds/saml.py``), samlkeygen neither. AD FS's
  own extranet lockout is likewise a sign-in page with a message.

No anti-CSRF token is possible (the tools post without fetching the page), so the login
throttling per user and per address is what limits guessing. The ``MSISAuth`` cookie is a
sealed login (``VendorSignIn.seal_login``: ``HttpOnly``, ``SameSite=Lax``, ``Secure`` on an
https base URL, ``Path=<base>/adfs``), honoured only while the IdP's own session would be.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from idp.authn.login import LoggedIn, OtpNeeded, Principal, Refused, Throttled
from idp.compat.forms import (
    ADFS_FIELDS,
    ENTER_CODE,
    SECURID_AUTHENTICATION,
    STEP_GONE,
    AdfsCredentials,
    AdfsPasscode,
    AdfsPost,
    AdfsReauthentication,
    read_adfs,
)
from idp.compat.signin import VendorSignIn
from idp.directory.model import AWS_ENTITY_ID
from idp.errors import IdPError, UnknownServiceProvider
from idp.vendors import Vendor
from idp.web.forms import field, read_form
from idp.web.links import link
from idp.web.pages import autopost, render
from idp.web.state import enabled, services

__all__ = ["COOKIE", "routes"]

#: AD FS's single sign-on cookie.
COOKIE: Final = "MSISAuth"
#: A login form is a few short fields; the tools post at most five.
MAX_FORM_BYTES: Final = 16 * 1024
MAX_FORM_FIELDS: Final = 32
_SIGN_IN_FIRST: Final = "Sign in with your user name and password."


def _form_refused(reason: str) -> IdPError:
    return IdPError(f"The sign-in form was refused: {reason}.")


def _relying_party(request: Request) -> None:
    """Only AWS is served: ``loginToRp`` must name ``urn:amazon:webservices``."""
    named = request.query_params.get("loginToRp")
    if named != AWS_ENTITY_ID:
        shown = "no loginToRp" if named is None else f"loginToRp={named[:200]!r}"
        raise UnknownServiceProvider(
            f"This AD FS sign-on page signs in to {AWS_ENTITY_ID} only ({shown}). Use "
            f"/adfs/ls/IdpInitiatedSignOn.aspx?loginToRp={AWS_ENTITY_ID}.")


def _action(request: Request) -> str:
    """The page's own URL, root-relative (awsprocesscreds joins it to its endpoint)."""
    return f"{link(request, 'adfs_sign_on')}?loginToRp={quote(AWS_ENTITY_ID, safe=':')}"


def _step_action(request: Request) -> str:
    """Where the second-factor forms post. aws-adfs posts to ``form#options``'s action as it
    stands (``requests`` without ``urljoin``, ``aws_adfs/_rsa_authenticator.py``), which
    needs an absolute URL: the configured base URL's when that is https (aws-adfs speaks
    nothing else), root-relative otherwise. Never the request's ``Host``."""
    base = services(request).settings.url
    if not base.startswith("https://"):
        return _action(request)
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}{_action(request)}"


def _cookie_path(request: Request) -> str:
    return f"{services(request).settings.base_path}/adfs"


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --- pages -----------------------------------------------------------------------------------


def _login_page(request: Request, *, username: str = "", error: str | None = None,
                retry_after: int | None = None, forget_cookie: bool = False) -> Response:
    response = render("adfs_login.html", action=_action(request), username=username,
                      error=error or "")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    if forget_cookie:
        response.delete_cookie(COOKIE, path=_cookie_path(request), httponly=True,
                               secure=services(request).settings.secure_cookies,
                               samesite="lax")
    return response


def _code_page(request: Request, context: str, *, error: str | None = None,
               retry_after: int | None = None) -> Response:
    response = render("adfs_code.html", action=_step_action(request), context=context,
                      auth_method=SECURID_AUTHENTICATION, error=error or "")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _throttled_text(retry_after: int) -> str:
    return f"Too many failed sign-in attempts. Try again in {retry_after} seconds."


def _signed_in(request: Request, sign_in: VendorSignIn, principal: Principal) -> Response:
    """The auto-POST page for AWS, and ``MSISAuth`` for the new login (which replaces, and
    ends on the server, the login an older cookie held)."""
    response = autopost(sign_in.aws_response(principal))
    old = request.cookies.get(COOKIE)
    if old:
        sign_in.end_login(old)
    response.set_cookie(COOKIE, sign_in.seal_login(principal),
                        max_age=sign_in.session_lifetime, path=_cookie_path(request),
                        secure=services(request).settings.secure_cookies, httponly=True,
                        samesite="lax")
    return response


# --- the three kinds of POST -------------------------------------------------------------------


def _reauthenticate(request: Request, sign_in: VendorSignIn) -> Response:
    token = request.cookies.get(COOKIE)
    principal = sign_in.open_login(token)
    if principal is not None:
        return autopost(sign_in.aws_response(principal))
    return _login_page(request, forget_cookie=token is not None)


def _password(request: Request, sign_in: VendorSignIn, post: AdfsCredentials) -> Response:
    outcome = sign_in.submit(post.username, post.password, post.passcode, _address(request))
    if isinstance(outcome, Throttled):
        return _login_page(request, username=post.username,
                           error=_throttled_text(outcome.retry_after),
                           retry_after=outcome.retry_after)
    if isinstance(outcome, OtpNeeded):
        return _code_page(request, sign_in.seal_step(outcome.step))
    if isinstance(outcome, Refused):
        return _login_page(request, username=post.username, error=outcome.message)
    return _signed_in(request, sign_in, outcome.principal)


def _passcode(request: Request, sign_in: VendorSignIn, post: AdfsPasscode) -> Response:
    """The second factor for the step ``Context`` names. Without a live step, a valid
    ``MSISAuth`` still answers: samlkeygen posts a passcode after every password login, MFA
    or not, and a second click on the code form finds the login the first one made."""
    step = sign_in.open_step(post.context) if post.context else None
    if step is None or post.context is None:
        principal = sign_in.open_login(request.cookies.get(COOKIE))
        if principal is not None:
            return autopost(sign_in.aws_response(principal))
        return _login_page(request, error=STEP_GONE if post.context else _SIGN_IN_FIRST)
    if not post.passcode:
        return _code_page(request, post.context, error=ENTER_CODE)
    outcome = sign_in.submit("", "", post.passcode, _address(request), step=step)
    if isinstance(outcome, Throttled):
        return _code_page(request, post.context, error=_throttled_text(outcome.retry_after),
                          retry_after=outcome.retry_after)
    if isinstance(outcome, OtpNeeded):  # pragma: no cover - a code was given
        return _code_page(request, sign_in.seal_step(outcome.step), error=outcome.message)
    if isinstance(outcome, Refused):
        if outcome.mfa_step:  # a wrong or reused code: the step stays open (5 minutes)
            return _code_page(request, post.context, error=outcome.message)
        return _login_page(request, error=outcome.message)  # another request finished it
    assert isinstance(outcome, LoggedIn)
    return _signed_in(request, sign_in, outcome.principal)


async def sign_on(request: Request) -> Response:
    """``GET|POST /adfs/ls/IdpInitiatedSignOn.aspx?loginToRp=urn:amazon:webservices``."""
    state = enabled(request, Vendor.ADFS)
    _relying_party(request)
    post: AdfsPost = AdfsReauthentication()
    if request.method == "POST":
        form = await read_form(request, max_bytes=MAX_FORM_BYTES, max_fields=MAX_FORM_FIELDS,
                               error=_form_refused)
        post = read_adfs({name: field(form, name) for name in ADFS_FIELDS})
    sign_in = state.vendor_sign_in
    if isinstance(post, AdfsCredentials):
        return _password(request, sign_in, post)
    if isinstance(post, AdfsPasscode):
        return _passcode(request, sign_in, post)
    return _reauthenticate(request, sign_in)


def routes() -> list[BaseRoute]:
    return [Route("/adfs/ls/IdpInitiatedSignOn.aspx", sign_on, methods=["GET", "POST"],
                  name="adfs_sign_on")]
