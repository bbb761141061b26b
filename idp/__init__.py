"""A corporate-directory SAML 2.0 IdP and the AWS side it federates with, offline.

The data flows one way through the package::

    directory  ─►  authn  ─►  saml.assertions ─► saml.signing ─► saml.bindings ─► browser
    (users, groups,   (who is      (Response tree)   (signed tree)   (auto-POST form)
     accounts, SPs)    asking)
                                   aws.attributes: Role / RoleSessionName / SessionDuration / tags

``idp.sso`` composes those steps without any web framework; ``idp.web`` is Starlette glue
only. Imports point down these layers, never up (``tests/test_architecture.py`` checks it)::

    cli, idp            entry points
    web                 Starlette routes: parse, call the core, render
    sso                 the IdP's single sign-on step
    aws | authn         the AWS side | sign-in (aws may use authn, never the reverse)
    directory           users, groups, accounts, roles, policies, SPs; password hashes
    saml                the SAML protocol core and verifier
    errors, clock, xml, settings, keys, store      foundation
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idp.settings import Settings
from idp.version import __version__

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from idp.simulator import Credentials, Login, Simulator



def create_app(settings: Settings | None = None) -> Starlette:
    """Build the ASGI application (imported lazily so the core stays framework-free)."""
    from idp.web.app import create_app as _create_app

    return _create_app(settings)


def __getattr__(name: str) -> Any:
    """``Simulator``, ``Login`` and ``Credentials`` load on first use (``import idp`` stays
    light for the CLI and the pytest plugin)."""
    if name in ("Simulator", "Login", "Credentials"):
        from idp import simulator

        return getattr(simulator, name)
    raise AttributeError(f"module 'idp' has no attribute {name!r}")


__all__ = ["Credentials", "Login", "Settings", "Simulator", "__version__", "create_app"]
