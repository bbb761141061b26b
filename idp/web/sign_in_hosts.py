"""AWS sign-in hosts reached through the CONNECT proxy: ``/saml`` there is the console twin.

Tools such as aws-adfs post the assertion to the hard-coded ``https://signin.aws.amazon.com/
saml``; with ``idp serve --connect-proxy`` that request arrives on the TLS listener with
``Host: signin.aws.amazon.com`` (or a regional, GovCloud or China sign-in host). This ASGI
middleware serves ``/saml`` (and ``/static/saml``, AWS's other sign-in path) on those hosts
as ``/aws/saml``, and the console twin's own pages (where its redirects and role page lead)
as they are; anything else on them is 404. Requests for any other host pass untouched.
Only routing reads ``Host``: no link is ever built from it.
"""

from __future__ import annotations

from typing import Final

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from idp.aws.vocabulary import is_sign_in_host

__all__ = ["SignInHosts"]

_SIGN_IN_PATHS: Final = frozenset({"/saml", "/static/saml"})
_CONSOLE_ACS: Final = "/aws/saml"
#: The console twin's own pages, where a sign-in there continues (its redirect to the console,
#: the role page's form, sign-out) — root-relative links stay on the host the browser is on.
_CONSOLE_PATHS: Final = frozenset({"/aws/saml", "/aws/console", "/aws/logout"})


def _host(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            text = bytes(value).decode("latin-1")
            return text if text.endswith("]") else text.rsplit(":", 1)[0]
    return ""


class SignInHosts:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_sign_in_host(_host(scope)):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in _CONSOLE_PATHS or path.startswith("/aws/console/"):
            await self.app(scope, receive, send)
            return
        if path not in _SIGN_IN_PATHS:
            response = PlainTextResponse(
                "Only /saml is served on AWS sign-in hosts here (the simulator's console "
                "twin).", status_code=404)
            await response(scope, receive, send)
            return
        scope = dict(scope, path=_CONSOLE_ACS, raw_path=_CONSOLE_ACS.encode("ascii"))
        await self.app(scope, receive, send)
