"""Service providers the IdP will answer (the SP registry entries)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from idp.saml.algorithms import LEGACY, STRICT, AlgorithmPolicy
from idp.saml.constants import NameIDFormat
from idp.saml.signing import SigningPolicy

__all__ = ["RoleValueOrder", "ServiceProvider"]


class RoleValueOrder(StrEnum):
    """The order of the two ARNs in a value of AWS's Role attribute (IAM User Guide,
    "Configure SAML assertions for the authentication response": ``role-arn,provider-arn``;
    AD FS's documented claim rules write the provider first, and AWS accepts either)."""

    ROLE_PROVIDER = "role,provider"
    PROVIDER_ROLE = "provider,role"

    def value_of(self, role_arn: str, provider_arn: str) -> str:
        if self is RoleValueOrder.PROVIDER_ROLE:
            return f"{provider_arn},{role_arn}"
        return f"{role_arn},{provider_arn}"


@dataclass(frozen=True)
class ServiceProvider:
    """One registered SP: where responses may go and how they are made."""

    entity_id: str
    acs_urls: tuple[str, ...]
    """Registered AssertionConsumerService URLs (HTTP-POST); the first is the default."""
    name_id_format: NameIDFormat = NameIDFormat.PERSISTENT
    signing: SigningPolicy = field(default_factory=SigningPolicy)
    want_authn_requests_signed: bool = False
    """Refuse AuthnRequests that are not signed with one of ``certificates``."""
    certificates: tuple[str, ...] = ()
    """PEM certificates the SP signs its requests with."""
    audience: str | None = None
    """Audience to assert; defaults to the entity ID."""
    release: tuple[str, ...] = ("email", "display_name", "groups")
    """User fields released as attributes to a generic (non-AWS) SP."""
    session_duration: int | None = None
    """AWS only: the SessionDuration attribute (900..43200 s) when set."""
    role_session_name: str = "email"
    """AWS only: user field for RoleSessionName (``email``, ``username`` or an attribute)."""
    source_identity: str | None = None
    """AWS only: user field for SourceIdentity, when set."""
    role_value_order: RoleValueOrder = RoleValueOrder.ROLE_PROVIDER
    """AWS only: how each Role value lists its two ARNs. AWS documents ``role,provider`` and
    accepts both; some client tools read only ``provider,role``."""
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.acs_urls:
            raise ValueError(f"service provider {self.entity_id} has no ACS URL")

    @property
    def default_acs(self) -> str:
        return self.acs_urls[0]

    @property
    def algorithms(self) -> AlgorithmPolicy:
        """What this SP's request signatures may use: SHA-1 only if its config signs with it."""
        return LEGACY if self.signing.uses_sha1 else STRICT

    @property
    def audience_value(self) -> str:
        return self.audience or self.entity_id
