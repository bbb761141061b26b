"""Links the service gives a browser: never built from the request's ``Host`` header.

A client chooses ``Host`` (and, through a proxy, ``X-Forwarded-Host``/``-Proto``); a link built
from it can point a victim's browser at the attacker's site. Every redirect and form action is
therefore root-relative: the base URL's path (``Settings.base_path``) plus the route's path, so
the browser stays on the origin it is already talking to. Absolute URLs that leave the browser
(metadata, ACS URLs, the STS endpoint shown in the console) come from ``Settings.url``.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request

from idp.web.state import services

__all__ = ["link"]


def link(request: Request, name: str, /, **query: str) -> str:
    """The root-relative URL of route ``name``, with ``query`` parameters if any."""
    path = services(request).settings.base_path + str(request.app.url_path_for(name))
    return f"{path}?{urlencode(query)}" if query else path
