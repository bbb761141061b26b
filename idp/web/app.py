"""``create_app``: wire settings, directory, keys and clock into a Starlette application."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from idp.authn.totp import TotpGuard
from idp.aws.credentials import CredentialIssuer
from idp.aws.iam import SamlProviders
from idp.aws.sts import AwsFederation
from idp.clock import Clock, SystemClock
from idp.directory import Directory, demo_directory, load_directory
from idp.errors import IdPError
from idp.keys import KeyStore
from idp.settings import Settings
from idp.sso import IdentityProvider
from idp.store import StateStore
from idp.web import console_routes, idp_routes, sts_routes
from idp.web.pages import error_page, render

__all__ = ["AppState", "app_from_env", "create_app"]

log = logging.getLogger("idp")


@dataclass(frozen=True)
class AppState:
    settings: Settings
    idp: IdentityProvider
    totp: TotpGuard
    clock: Clock
    aws: AwsFederation
    store: StateStore


def load_state(
    settings: Settings, *, directory: Directory | None = None, clock: Clock | None = None
) -> AppState:
    """Everything loaded once at start-up (keys, directory); raises ``IdPError`` if broken."""
    clock = clock or SystemClock()
    keystore = KeyStore(settings.certs_dir, clock=clock)
    keystore.ensure(settings.entity_id, key_size=settings.key_size)
    store = StateStore(settings.data_dir / "state.sqlite3", clock)
    if directory is None:
        if settings.config is not None:
            directory = load_directory(settings.config, aws_acs=settings.console_acs_url)
        else:
            directory = demo_directory(aws_acs=settings.console_acs_url)
    published = keystore.published()
    idp = IdentityProvider(settings, directory, published, clock)
    aws = AwsFederation(
        providers=SamlProviders(directory, settings.entity_id, published),
        issuer=CredentialIssuer(keystore.secret("sts").encode("ascii"), clock),
        clock=clock,
        console_url=settings.console_acs_url,
        skew=settings.clock_skew,
        replay=store if settings.replay_protection else None,
    )
    return AppState(settings=settings, idp=idp, totp=TotpGuard(clock, store), clock=clock,
                    aws=aws, store=store)


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _idp_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdPError)
    return error_page(exc)


async def _server_error(request: Request, exc: Exception) -> Response:
    # Never a traceback in a page; the log has it for whoever runs the simulator.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return render(
        "error.html", 500, title="Something went wrong",
        message="The simulator hit an unexpected error. The server log has the details.",
        hint=None,
    )


def create_app(
    settings: Settings | None = None,
    *,
    directory: Directory | None = None,
    clock: Clock | None = None,
) -> Starlette:
    settings = settings or Settings.from_env()
    state = load_state(settings, directory=directory, clock=clock)
    secret = KeyStore(settings.certs_dir).session_secret()
    app = Starlette(
        routes=[Route("/healthz", _healthz), *idp_routes.routes(), *sts_routes.routes(),
                *console_routes.routes()],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie="idp_session",
                max_age=settings.idp_session_lifetime,
                same_site="lax",
                https_only=settings.secure_cookies,
            )
        ],
        exception_handlers={IdPError: _idp_error, Exception: _server_error},
    )
    app.state.idp = state
    return app


def app_from_env() -> Starlette:
    """The factory each ``idp serve --workers N`` process calls (settings from ``IDP_*``)."""
    return create_app(Settings.from_env())
