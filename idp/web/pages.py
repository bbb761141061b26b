"""HTML rendering: one Jinja2 environment, autoescaped, templates shipped as package data."""

from __future__ import annotations

import functools
import secrets
from typing import TYPE_CHECKING, Any

from starlette.responses import HTMLResponse

from idp.errors import IdPError
from idp.saml.bindings import PostForm
from idp.web.headers import page_policy

if TYPE_CHECKING:
    import jinja2

__all__ = ["autopost", "error_page", "prepare", "render"]


def prepare() -> None:
    """Make the environment now: ``create_app`` calls it, so a worker's memory after start-up
    already holds Jinja2 (about 2 MiB) and its first login does not grow it."""
    _env()


@functools.cache
def _env() -> jinja2.Environment:
    """The environment, made by ``create_app`` (``prepare``) or at the first page, never at
    import: importing this module (and ``idp.web.app``) stays cheap. Jinja2 compiles each
    template at its first use and keeps it (an LRU of 400)."""
    import jinja2

    return jinja2.Environment(
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
    html = _env().get_template(template).render(csp_nonce=nonce, **context)
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
