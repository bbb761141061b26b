"""The Shibboleth-compatible surface: ``/idp/profile/SAML2/Unsolicited/SSO``.

Shibboleth IdP's unsolicited (IdP-initiated) SSO endpoint and its password login flow, in the
shape alohomora and aws-saml-login (mai) scrape:

1. ``GET …/SSO?providerId=urn:amazon:webservices`` → ``302`` to ``…/SSO?execution=<key>``
   (Shibboleth's Spring Web Flow URL), or at once the auto-POST page when the browser already
   holds an IdP session (single sign-on, as Shibboleth does);
2. ``GET …/SSO?execution=<key>`` → the login form: only ``j_username``, ``j_password`` and a
   ``_eventId_proceed`` button, action root-relative (alohomora posts to the entry URL's
   ``scheme://host`` + action and drops every other input, ``alohomora/req.py``;
   aws-saml-login posts ``j_username``/``j_password``/``submit`` to the URL it landed on,
   ``aws_saml_login/saml.py``);
3. ``POST …/SSO?execution=<key>`` → the auto-POST page with the signed Response for AWS, or
   the form again (with a new key) and ``<p class="form-error">`` saying why (alohomora dies
   with that text); a TOTP user gets a second form in the same flow asking for ``j_otp``.

The key is single-use and bound to the browser session (``idp.compat.forms.FlowKeys``), so a
POST without the key its own session was given (missing, forged, reused, another browser's)
never reaches the password check: a ``400`` page says to start again. A login here is an IdP
session like one at ``/idp/login`` (``idp.web.idp_session.remember``), so the next visit
signs in at once. Works over http and https; with ``--tls`` the session cookie is
``Secure``, so a client must then use the https URL.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from idp.authn.login import OtpNeeded, Refused, Throttled
from idp.compat.forms import (
    ENTER_CODE,
    SHIBBOLETH_FIELDS,
    STEP_GONE,
    Flow,
    FlowKeys,
    read_shibboleth,
)
from idp.directory.model import AWS_ENTITY_ID
from idp.errors import IdPError, UnknownServiceProvider
from idp.vendors import Vendor
from idp.web import idp_session
from idp.web.forms import field, read_form
from idp.web.links import link
from idp.web.pages import autopost, render
from idp.web.state import Services, enabled

__all__ = ["SESSION_KEY", "routes"]

#: Where the browser session keeps its flow binding (``FlowKeys.new_binding``).
SESSION_KEY: Final = "shibboleth_flow"
MAX_FORM_BYTES: Final = 16 * 1024
MAX_FORM_FIELDS: Final = 16


def _form_refused(reason: str) -> IdPError:
    return IdPError(f"The sign-in form was refused: {reason}.")


def _start_url(request: Request) -> str:
    return f"{link(request, 'shibboleth_sso')}?providerId={quote(AWS_ENTITY_ID, safe=':')}"


def _binding(request: Request) -> str:
    """This browser session's flow binding, made on its first visit."""
    binding = request.session.get(SESSION_KEY)
    if not isinstance(binding, str) or not binding:
        binding = FlowKeys.new_binding()
        request.session[SESSION_KEY] = binding
    return binding


def _start_again(request: Request) -> Response:
    """A POST (or a form URL) whose key this session was not given, or no longer holds."""
    return render("error.html", 400, hint=None, title="Start again",
                  message="This login form has expired, was already used or did not come "
                  "from this browser session. Start the sign-in again.",
                  start_url=_start_url(request))


def _form(request: Request, keys: FlowKeys, *, mfa_step: str | None = None, status: int = 200,
          username: str = "", error: str | None = None, notice: str | None = None,
          retry_after: int | None = None) -> Response:
    """The login form (or, with ``mfa_step``, the code form) under a new key."""
    key = keys.issue(_binding(request), mfa_step)
    return _form_page(request, key, Flow(mfa_step=mfa_step), status=status, username=username,
                      error=error, notice=notice, retry_after=retry_after)


def _form_page(request: Request, key: str, flow: Flow, *, status: int = 200,
               username: str = "", error: str | None = None, notice: str | None = None,
               retry_after: int | None = None) -> Response:
    response = render("shibboleth_login.html", status,
                      action=link(request, "shibboleth_sso", execution=key),
                      code_step=flow.mfa_step is not None, username=username, error=error,
                      notice=notice)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


async def unsolicited_sso(request: Request) -> Response:
    """``GET|POST /idp/profile/SAML2/Unsolicited/SSO`` (``providerId=`` or ``execution=``)."""
    state = enabled(request, Vendor.SHIBBOLETH)
    keys = FlowKeys(state.vendor_sign_in.sealer)
    execution = request.query_params.get("execution")
    if request.method == "POST":
        return await _proceed(request, state, keys, execution)
    if execution is not None:
        flow = keys.peek(execution, request.session.get(SESSION_KEY))
        if flow is None:
            return _start_again(request)
        return _form_page(request, execution, flow,
                          notice=ENTER_CODE if flow.mfa_step is not None else None)
    provider = request.query_params.get("providerId")
    if provider != AWS_ENTITY_ID:
        shown = "no providerId" if provider is None else f"providerId={provider[:200]!r}"
        raise UnknownServiceProvider(
            f"This Shibboleth endpoint signs in to {AWS_ENTITY_ID} only ({shown}). Use "
            f"/idp/profile/SAML2/Unsolicited/SSO?providerId={AWS_ENTITY_ID}.")
    principal = idp_session.principal(request)
    if principal is not None:
        return autopost(state.vendor_sign_in.aws_response(principal))
    key = keys.issue(_binding(request))
    return RedirectResponse(link(request, "shibboleth_sso", execution=key), status_code=302)


async def _proceed(request: Request, state: Services, keys: FlowKeys,
                   execution: str | None) -> Response:
    form = await read_form(request, max_bytes=MAX_FORM_BYTES, max_fields=MAX_FORM_FIELDS,
                           error=_form_refused)
    flow = keys.redeem(execution, request.session.get(SESSION_KEY))
    if flow is None:
        return _start_again(request)
    post = read_shibboleth({name: field(form, name) for name in SHIBBOLETH_FIELDS})
    sign_in = state.vendor_sign_in
    step = None
    if flow.mfa_step is not None:
        step = sign_in.open_step(flow.mfa_step)
        if step is None:
            return _form(request, keys, status=401, error=STEP_GONE)
        if not post.password and not post.otp:
            return _form(request, keys, mfa_step=flow.mfa_step, status=401, error=ENTER_CODE)
    address = request.client.host if request.client else "unknown"
    outcome = sign_in.submit(post.username, post.password, post.otp, address, step=step)
    if isinstance(outcome, Throttled):
        return _form(request, keys, mfa_step=flow.mfa_step, status=429, username=post.username,
                     error="Too many failed sign-in attempts. Try again in "
                     f"{outcome.retry_after} seconds.", retry_after=outcome.retry_after)
    if isinstance(outcome, OtpNeeded):
        return _form(request, keys, mfa_step=sign_in.seal_step(outcome.step),
                     notice=outcome.message)
    if isinstance(outcome, Refused):
        stage = flow.mfa_step if outcome.mfa_step else None
        return _form(request, keys, mfa_step=stage, status=401, username=post.username,
                     error=outcome.message)
    response = autopost(sign_in.aws_response(outcome.principal))
    idp_session.remember(request, outcome.principal)  # single sign-on from now on
    return response


def routes() -> list[BaseRoute]:
    return [Route("/idp/profile/SAML2/Unsolicited/SSO", unsolicited_sso,
                  methods=["GET", "POST"], name="shibboleth_sso")]
