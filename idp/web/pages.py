"""HTML rendering: one Jinja2 environment, autoescaped, templates shipped as package data."""

from __future__ import annotations

from typing import Any

import jinja2
from starlette.responses import HTMLResponse

from idp.errors import IdPError
from idp.saml.bindings import PostForm

__all__ = ["autopost", "error_page", "render"]

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("idp.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)

#: Pages carry credentials or one-time state: never cache them.
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def render(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("error", None)
    context.setdefault("status", status_code)
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=_NO_STORE)


def autopost(form: PostForm) -> HTMLResponse:
    """The HTTP-POST binding page (Bindings §3.5.4): first form, auto-submitted."""
    return render("autopost.html", form=form)


def error_page(exc: IdPError, hint: str | None = None) -> HTMLResponse:
    return render(
        "error.html", exc.http_status, title=exc.title, message=str(exc), hint=hint
    )
