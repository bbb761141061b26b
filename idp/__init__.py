"""A corporate-directory SAML 2.0 IdP and the AWS side it federates with, offline.

The data flows one way through the package::

    directory  ─►  authn  ─►  saml.assertions ─► saml.signing ─► saml.bindings ─► browser
    (users, groups,   (who is      (Response tree)   (signed tree)   (auto-POST form)
     accounts, SPs)    asking)
                                   aws.attributes: Role / RoleSessionName / SessionDuration / tags

``idp.web`` is Starlette glue only; ``idp.saml`` and ``idp.aws`` never import it.
"""

from idp.settings import Settings

__version__ = "0.1.0"


def create_app(settings: Settings | None = None):  # type: ignore[no-untyped-def]
    """Build the ASGI application (imported lazily so the core stays framework-free)."""
    from idp.web.app import create_app as _create_app

    return _create_app(settings)


__all__ = ["Settings", "__version__", "create_app"]
