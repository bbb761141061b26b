"""HTML rendering: one Jinja2 environment, autoescaped, templates shipped as package data."""

from __future__ import annotations

import secrets
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from idp.errors import IdPError
from idp.saml.bindings import PostForm
from idp.web.headers import page_policy

__all__ = ["autopost", "error_page", "render"]

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("idp.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)

#: Pages carry credentials or one-time state: never cache them.
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def render(template: str, status_code: int = 200, *, form_action: str | None = "'self'",
           **context: Any) -> HTMLResponse:
    """A page with its own Content-Security-Policy: inline scripts run only with this
    response's nonce (``csp_nonce`` in the template); forms post to ``form_action``."""
    nonce = secrets.token_urlsafe(16)
    context.setdefault("error", None)
    context.setdefault("status", status_code)
    html = _env.get_template(template).render(csp_nonce=nonce, **context)
    headers = {**_NO_STORE,
               "Content-Security-Policy": page_policy(nonce, form_action=form_action)}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def autopost(form: PostForm) -> HTMLResponse:
    """The HTTP-POST binding page (Bindings §3.5.4): first form, auto-submitted.

    It posts to the service provider, so form targets stay open, and the referrer sent there is
    the IdP's origin only (never the URL, which may carry a SAMLRequest).
    """
    response = render("autopost.html", form=form, form_action=None)
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    return response


def error_page(exc: IdPError, hint: str | None = None) -> HTMLResponse:
    return render(
        "error.html", exc.http_status, title=exc.title, message=str(exc), hint=hint
    )
