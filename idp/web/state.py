"""What every route needs, loaded once per process, and the one typed way to reach it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from starlette.requests import Request

from idp.authn.login import Authenticator
from idp.aws.assume_role import RoleAssumption
from idp.aws.callers import Callers
from idp.aws.console_session import ConsoleSessions
from idp.aws.federation import AwsFederation
from idp.aws.iam.api import IamApi
from idp.aws.mfa import MfaCodes
from idp.aws.sts import Sts
from idp.aws.web_identity import WebIdentity
from idp.aws.workloads import Workloads
from idp.clock import Clock
from idp.compat.signin import VendorSignIn
from idp.errors import SurfaceDisabled
from idp.exchanges import ExchangeLog
from idp.fault_plan import FaultPlan
from idp.oidc.issuer import OidcIssuer
from idp.settings import Settings
from idp.sso import IdentityProvider
from idp.store import StateStore
from idp.vendors import Vendor

__all__ = ["Services", "enabled", "services"]


@dataclass(frozen=True)
class Services:
    """The framework-free core the routes call; ``create_app`` builds it."""

    settings: Settings
    clock: Clock
    store: StateStore
    identity_provider: IdentityProvider
    authenticator: Authenticator
    federation: AwsFederation
    sts: Sts
    console_sessions: ConsoleSessions
    session_secret: str
    """Signs the IdP's session cookie (and, separately salted, console sessions)."""
    exchanges: ExchangeLog
    """Every SAML message received and sent, every console and STS decision."""
    faults: FaultPlan
    """Faults to inject into the Responses the IdP sends."""
    vendors: frozenset[Vendor]
    """The vendor login surfaces enabled (settings' ``compat`` and the directory's)."""
    vendor_sign_in: VendorSignIn
    """How the vendor surfaces sign users in and answer (``idp.compat.signin``)."""
    callers: Callers
    """Who signed an AWS request (IAM users' keys, temporary credentials)."""
    roles: RoleAssumption
    """AssumeRole, GetSessionToken and the console's switch role."""
    iam_api: IamApi
    """The IAM API's operations."""
    mfa: MfaCodes
    """IAM users' virtual MFA codes, each accepted once."""
    oidc: OidcIssuer
    """The IdP's OpenID Connect provider (``/oidc``): keys, tokens, the code flow."""
    web_identity: WebIdentity
    """STS ``AssumeRoleWithWebIdentity``."""
    workloads: Workloads
    """Role credentials of the directory's instances (``/imds``) and tasks (``/ecs``)."""


def enabled(request: Request, vendor: Vendor) -> Services:
    """The services, if ``vendor``'s surface is enabled; else ``SurfaceDisabled`` (404)."""
    current = services(request)
    if vendor not in current.vendors:
        raise SurfaceDisabled(
            f"The {vendor.value} login surface is not enabled on this simulator. Start it with "
            f"--compat {vendor.value} or add 'compat: [{vendor.value}]' to the directory file.")
    return current


def services(request: Request) -> Services:
    """The application's current ``Services`` (``create_app`` sets ``app.state.runtime``;
    runtime edits replace its ``services`` as a whole)."""
    return cast(Services, request.app.state.runtime.services)
