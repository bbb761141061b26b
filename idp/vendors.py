"""The IdP products whose login surfaces the simulator can also speak (``--compat``).

Real SAML-to-AWS command-line tools log in by speaking one vendor's dialect; each surface
(``idp.compat`` and its routes) accepts credentials shaped by another product, so each is off
until enabled, with ``idp serve --compat okta,adfs,shibboleth,ecp`` or ``compat:`` in the
directory file.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from idp.errors import ConfigError

__all__ = ["Vendor", "parse_vendors"]


class Vendor(StrEnum):
    """One login surface: the product it imitates and the tools it serves."""

    OKTA = "okta"
    """Okta's classic authentication API (gimme-aws-creds, okta-awscli, aws-okta-processor,
    awsprocesscreds ``-p okta``)."""
    ADFS = "adfs"
    """AD FS's IdP-initiated sign-on page (aws-adfs, samlkeygen, awsprocesscreds ``-p adfs``)."""
    SHIBBOLETH = "shibboleth"
    """Shibboleth IdP's unsolicited SSO login form (alohomora, mai / aws-saml-login)."""
    ECP = "ecp"
    """SAML ECP over SOAP with HTTP Basic authentication (awscli-login)."""


def parse_vendors(names: str | Iterable[str], *, source: str = "settings") -> frozenset[Vendor]:
    """``okta,adfs`` (or a list of names) → the surfaces; ``ConfigError`` for an unknown one."""
    items = names.split(",") if isinstance(names, str) else list(names)
    found: set[Vendor] = set()
    for item in items:
        name = item.strip().lower()
        if not name:
            continue
        try:
            found.add(Vendor(name))
        except ValueError:
            raise ConfigError(f"unknown compat surface {item.strip()!r}; choose from "
                              + ", ".join(v.value for v in Vendor), source=source) from None
    return frozenset(found)
