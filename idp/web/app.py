"""``create_app``: wire settings, directory, keys and clock into a Starlette application.

Importing this module loads Starlette and the settings only; ``create_app`` imports the routes
and the core they call (the runtime, the directory, the SAML and AWS sides) and makes the
Jinja2 environment. Whoever imports ``idp.web.app`` (``idp serve``, ``Simulator``, the pytest
plugin) pays for those once, when an application is made, not before; and a started worker
holds what its first logins need, so its memory stays flat from the start.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from idp.errors import IdPError
from idp.settings import Settings

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from idp.clock import Clock
    from idp.directory import Directory
    from idp.directory.editor import DirectoryDocument
    from idp.web.state import Services

__all__ = ["app_from_env", "create_app", "load_services"]

log = logging.getLogger("idp")


def load_services(
    settings: Settings, *, directory: Directory | None = None, clock: Clock | None = None
) -> Services:
    """Everything loaded once at start-up (keys, directory); raises ``IdPError`` if broken."""
    from idp.web.runtime import Runtime

    return Runtime(settings, directory=directory, clock=clock).services


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _idp_error(request: Request, exc: Exception) -> Response:
    from idp.web.pages import error_page

    assert isinstance(exc, IdPError)
    return error_page(exc)


async def _server_error(request: Request, exc: Exception) -> Response:
    # Never a traceback in a page; the log has it for whoever runs the simulator.
    from idp.web.headers import DEFAULT_HEADERS
    from idp.web.pages import render

    log.exception("unhandled error on %s %s", request.method, request.url.path)
    response = render(
        "error.html", 500, title="Something went wrong",
        message="The simulator hit an unexpected error. The server log has the details.",
        hint=None,
    )
    # Starlette answers this outside the middleware stack: add what SecurityHeaders would.
    for name, value in DEFAULT_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def create_app(
    settings: Settings | None = None,
    *,
    directory: Directory | None = None,
    document: DirectoryDocument | None = None,
    clock: Clock | None = None,
) -> Starlette:
    settings = settings or Settings.from_env()
    first_keys = _first_keys(settings, clock)
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.routing import Route

    from idp.web import (
        adfs_routes,
        console_routes,
        ecp_routes,
        ecs_routes,
        iam_routes,
        idp_routes,
        imds_routes,
        oidc_routes,
        okta_routes,
        pages,
        shibboleth_routes,
        signin_routes,
        sts_routes,
    )
    from idp.web.body import EXCEPTION_HANDLERS
    from idp.web.headers import SecurityHeaders
    from idp.web.runtime import Runtime
    from idp.web.sign_in_hosts import SignInHosts

    if first_keys is not None:
        first_keys.join()
    runtime = Runtime(settings, directory=directory, document=document, clock=clock)
    pages.prepare()
    admin: list[BaseRoute] = []
    if settings.admin:
        from idp.web import admin_routes

        admin = admin_routes.routes()
    app = Starlette(
        routes=[Route("/healthz", _healthz), *idp_routes.routes(), *sts_routes.routes(),
                *iam_routes.routes(), *console_routes.routes(), *signin_routes.routes(),
                *okta_routes.routes(), *adfs_routes.routes(),
                *shibboleth_routes.routes(), *ecp_routes.routes(), *oidc_routes.routes(),
                *imds_routes.routes(), *ecs_routes.routes(), *admin],
        middleware=[
            *_proxy_middleware(settings),
            Middleware(SecurityHeaders),
            Middleware(SignInHosts),
            Middleware(
                SessionMiddleware,
                secret_key=runtime.session_secret,
                session_cookie="idp_session",
                max_age=settings.idp_session_lifetime,
                same_site="lax",
                https_only=settings.secure_cookies,
            )
        ],
        exception_handlers={IdPError: _idp_error, **EXCEPTION_HANDLERS,
                            Exception: _server_error},
    )
    app.state.runtime = runtime
    if settings.admin:
        app.state.admin_token = admin_routes.issue_token(settings.data_dir)
    return app


def _first_keys(settings: Settings, clock: Clock | None) -> threading.Thread | None:
    """On a first start (no signing key in ``certs_dir`` yet), a thread making the key pair
    while ``create_app`` imports the routes and the core: RSA generation (tens of ms, at times
    over 100) then overlaps the imports instead of following them. ``Runtime`` finds the pair
    made; if making it failed, ``Runtime`` tries again and reports why."""
    from idp.keys import KeyStore

    store = KeyStore(settings.certs_dir, clock=clock if clock is not None else settings.clock())
    if store.exists():
        return None

    def make() -> None:
        with contextlib.suppress(Exception):
            store.ensure(settings.entity_id, key_size=settings.key_size)

    thread = threading.Thread(target=make, name="idp-first-keys", daemon=True)
    thread.start()
    return thread


def _proxy_middleware(settings: Settings) -> list[Middleware]:
    """Believe ``X-Forwarded-For``/``-Proto`` only from the proxies the operator named.

    By default nobody is trusted: a client that sends ``X-Forwarded-For`` cannot choose the
    address login throttling counts. With trusted proxies, the client is the rightmost
    address in the chain that is not one of them (uvicorn's ``ProxyHeadersMiddleware``).
    """
    networks = settings.trusted_proxy_networks
    if not networks:
        return []
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    return [Middleware(ProxyHeadersMiddleware, trusted_hosts=[str(n) for n in networks])]


def app_from_env() -> Starlette:
    """The factory each ``idp serve --workers N`` process calls (settings from ``IDP_*``)."""
    return create_app(Settings.from_env())
