"""Security headers on every response, and the Content-Security-Policy of each page.

What a scanner expects of a sign-in service (OWASP Secure Headers Project; MDN, "X-Frame-Options"
and "CSP: frame-ancestors"): no page may be framed (clickjacking), content types are not
sniffed, nothing is cached (pages and API answers carry credentials or one-time state), and
referrers do not leak URLs. Pages get a strict policy built per response by ``page_policy``:
scripts only with that response's nonce, no third-party anything. Strict-Transport-Security
is left to whoever terminates TLS: the simulator usually runs on plain loopback HTTP, and HSTS
pinned on a test host name outlives the test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_HEADERS", "SecurityHeaders", "page_policy"]

#: Sent on every response that does not set its own value.
DEFAULT_HEADERS: Final[Mapping[str, str]] = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def page_policy(nonce: str, *, form_action: str | None = "'self'") -> str:
    """The CSP of an HTML page: its own inline scripts (by nonce) and styles, nothing else.

    ``form_action=None`` leaves form targets open: the SAML auto-POST page posts to the
    service provider, whose ACS may redirect anywhere (browsers check redirects after a form
    submission against ``form-action`` too).
    """
    directives = [
        "default-src 'none'",
        f"script-src 'nonce-{nonce}'",
        "style-src 'unsafe-inline'",  # inline style blocks and attributes only; no URLs
        "img-src 'self' data:",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
    if form_action is not None:
        directives.append(f"form-action {form_action}")
    return "; ".join(directives)


class SecurityHeaders:
    """ASGI middleware: add ``DEFAULT_HEADERS`` a response does not already carry."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in DEFAULT_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
