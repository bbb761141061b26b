"""The directory's value objects. All frozen; built by ``idp.directory.loader``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from idp.directory.policy import PolicyDocument
from idp.saml.providers import ServiceProvider
from idp.vendors import Vendor

__all__ = [
    "AWS_ENTITY_ID",
    "AccessKeySpec",
    "Account",
    "ContainerTask",
    "Directory",
    "Group",
    "IamGroupSpec",
    "IamUserSpec",
    "Instance",
    "OidcClient",
    "OidcProviderSpec",
    "Role",
    "RoleGrant",
    "User",
    "own_oidc_issuer",
]

#: AWS's SP entityID (``entityID`` of https://signin.aws.amazon.com/static/saml-metadata.xml).
AWS_ENTITY_ID: Final = "urn:amazon:webservices"

#: IAM's patterns (IAM API Reference: ``arnType``, ``roleNameType``, ``SAMLProviderName``), in
#: ASCII: ``\w`` and ``\d`` would otherwise take any Unicode letter or digit. Use ``fullmatch``.
ACCOUNT_ID_RE: Final = re.compile(r"\d{12}", re.ASCII)
ROLE_ARN_RE: Final = re.compile(
    r"arn:aws:iam::(\d{12}):role/((?:[\w+=,.@-]+/)*)([\w+=,.@-]{1,64})", re.ASCII
)
PROVIDER_NAME_RE: Final = re.compile(r"[\w._-]{1,128}", re.ASCII)
ROLE_NAME_RE: Final = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
#: ``userNameType`` (1-64) and ``groupNameType`` (1-128) of the IAM API.
IAM_USER_NAME_RE: Final = ROLE_NAME_RE
IAM_GROUP_NAME_RE: Final = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
#: Long-term access key IDs: ``AKIA`` and 16 of A-Z, 2-7 (IAM User Guide, "Unique
#: identifiers"); real ones are 20 characters. Secrets are 40 characters.
ACCESS_KEY_ID_RE: Final = re.compile(r"AKIA[A-Z0-9]{16}", re.ASCII)
SECRET_ACCESS_KEY_RE: Final = re.compile(r"[A-Za-z0-9/+=]{40}", re.ASCII)
#: ``accountAliasType``: 3-63 lower-case letters, digits and single hyphens.
ACCOUNT_ALIAS_RE: Final = re.compile(r"[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]", re.ASCII)


@dataclass(frozen=True)
class Role:
    """An IAM role and the trust policy that says who may assume it."""

    account_id: str
    name: str
    trust_policy: PolicyDocument
    path: str = "/"
    max_session_duration: int = 3600
    """IAM ``MaxSessionDuration``: 3600..43200 seconds."""
    policies: Mapping[str, PolicyDocument] = field(default_factory=dict, hash=False)
    """Inline identity policies by name: what a session of this role may do."""
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    description: str | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role{self.path}{self.name}"


@dataclass(frozen=True)
class AccessKeySpec:
    """A long-term access key of an IAM user, as the directory file gives it."""

    id: str
    secret: str = field(repr=False)
    active: bool = True


@dataclass(frozen=True)
class IamUserSpec:
    """An IAM user of one account (not a directory user: IAM users sign in to AWS itself)."""

    name: str
    path: str = "/"
    password_hash: str | None = field(default=None, repr=False)
    """The console password (IAM's login profile); ``None``: no console access."""
    access_keys: tuple[AccessKeySpec, ...] = ()
    mfa_seed: str | None = field(default=None, repr=False)
    """Base32 seed of an enabled virtual MFA device ``arn:aws:iam::ACCOUNT:mfa/NAME``."""
    groups: tuple[str, ...] = ()
    policies: Mapping[str, PolicyDocument] = field(default_factory=dict, hash=False)
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class IamGroupSpec:
    """An IAM group of one account and its inline policies."""

    name: str
    path: str = "/"
    policies: Mapping[str, PolicyDocument] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class OidcProviderSpec:
    """An IAM OpenID Connect identity provider of one account, as the directory gives it.

    ``url`` is the issuer URL (``https://...``, or ``http://`` on a loopback host); the ARN is
    ``arn:aws:iam::ACCOUNT:oidc-provider/`` + the URL without its scheme (IAM API Reference,
    CreateOpenIDConnectProvider).
    """

    url: str
    client_ids: tuple[str, ...] = ()
    thumbprints: tuple[str, ...] = ()

    @property
    def host_path(self) -> str:
        """The URL without its scheme: the ARN's resource part and the condition-key prefix."""
        return self.url.split("://", 1)[-1]


@dataclass(frozen=True)
class Account:
    """A simulated AWS account with one SAML provider."""

    id: str
    alias: str | None
    saml_provider: str
    roles: tuple[Role, ...] = ()
    provider_metadata: str | None = None
    """Path of the metadata the provider holds; ``None`` means this IdP's own."""
    provider_signatures: str = "either"
    """Which signatures the provider demands: ``assertion``, ``response``, ``both`` or
    ``either`` (AWS documents only that a signed Assertion works)."""
    provider_allow_sha1: bool = False
    """Accept RSA-SHA1/SHA-1 signatures from this provider's IdP (legacy; never MD5/HMAC)."""
    iam_users: tuple[IamUserSpec, ...] = ()
    iam_groups: tuple[IamGroupSpec, ...] = ()
    oidc_providers: tuple[OidcProviderSpec, ...] = ()

    @property
    def provider_arn(self) -> str:
        return f"arn:aws:iam::{self.id}:saml-provider/{self.saml_provider}"


@dataclass(frozen=True)
class Instance:
    """A simulated EC2 instance: its instance profile's role, served by the metadata twin
    under ``/imds/ID/`` (EC2 User Guide, "Use instance metadata to manage your EC2
    instance")."""

    id: str
    """``i-`` and 8 or 17 lower-case hex digits."""
    account_id: str
    role_arn: str | None
    """The instance profile's role (``None``: no instance profile)."""
    instance_profile: str | None = None
    """The instance profile's name (defaults to the role's name)."""
    region: str = "us-east-1"
    availability_zone: str | None = None
    """Defaults to the region and ``a``."""
    http_tokens: str = "required"
    """``required`` (IMDSv2 only, the default here) or ``optional`` (IMDSv1 allowed too)."""
    hop_limit: int = 2
    """``HttpPutResponseHopLimit`` (1-64)."""
    hops: int = 1
    """How many network hops away the simulated workload calls from: 1 on the instance, 2 in
    a container on it with bridge networking. A token's answer beyond ``hop_limit`` is lost."""
    instance_type: str = "t3.micro"
    image_id: str = "ami-0123456789abcdef0"
    private_ip: str = "10.0.0.10"

    @property
    def profile_name(self) -> str | None:
        if self.instance_profile is not None:
            return self.instance_profile
        return self.role_arn.rsplit("/", 1)[-1] if self.role_arn else None

    @property
    def zone(self) -> str:
        return self.availability_zone or f"{self.region}a"


@dataclass(frozen=True)
class ContainerTask:
    """A simulated container task (ECS) and its task role, served by the container
    credentials twin at ``/ecs/ID/credentials`` (Amazon ECS Developer Guide, "Task IAM
    role")."""

    id: str
    account_id: str
    role_arn: str
    authorization_token: str | None = field(default=None, repr=False)
    """What ``AWS_CONTAINER_AUTHORIZATION_TOKEN`` must say (``None``: not checked)."""
    region: str = "us-east-1"


@dataclass(frozen=True)
class OidcClient:
    """A client registered with the IdP's OpenID Connect provider (OpenID Connect Core 1.0,
    section 2: client ID, redirect URIs, authentication)."""

    client_id: str
    redirect_uris: tuple[str, ...]
    secret_hash: str | None = field(default=None, repr=False)
    """PBKDF2 hash of the client secret (``None``: a public client, which must use PKCE)."""
    name: str | None = None

    @property
    def public(self) -> bool:
        return self.secret_hash is None


def own_oidc_issuer(aws_acs: str) -> str:
    """This simulator's OIDC issuer (``BASE/oidc``), from its console ACS URL
    (``BASE/aws/saml``), which every directory is read with."""
    return aws_acs.removesuffix("/aws/saml").rstrip("/") + "/oidc"


@dataclass(frozen=True)
class RoleGrant:
    """One ``Role`` attribute value: ``role-arn,provider-arn`` (AWS's documented order)."""

    role_arn: str
    provider_arn: str

    @property
    def attribute_value(self) -> str:
        return f"{self.role_arn},{self.provider_arn}"


@dataclass(frozen=True)
class Group:
    name: str
    roles: tuple[str, ...] = ()
    """Role ARNs this group grants."""
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    principal_tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    session_duration: int | None = None


@dataclass(frozen=True)
class User:
    username: str
    password_hash: str
    display_name: str
    email: str
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    """Role ARNs granted to this user directly (besides those of their groups)."""
    totp_secret: str | None = None
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    principal_tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    source_identity: str | None = None

    @property
    def has_mfa(self) -> bool:
        return self.totp_secret is not None

    def field_value(self, name: str) -> str | None:
        """A user field by name (``username``, ``email``, ``display_name``) or attribute."""
        if name in ("username", "email", "display_name"):
            value: str = getattr(self, name)
            return value
        values = self.attributes.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Directory:
    """Everything the IdP knows, immutable once loaded."""

    users: Mapping[str, User]
    groups: Mapping[str, Group]
    accounts: Mapping[str, Account]
    service_providers: Mapping[str, ServiceProvider]
    source: str = "<demo>"
    compat: frozenset[Vendor] = frozenset()
    """Vendor login surfaces the file enables (``compat:``; ``idp.vendors``)."""
    instances: Mapping[str, Instance] = field(default_factory=dict, hash=False)
    """EC2 instances by ID (``instances:``)."""
    tasks: Mapping[str, ContainerTask] = field(default_factory=dict, hash=False)
    """Container tasks by ID (``tasks:``)."""
    oidc_clients: Mapping[str, OidcClient] = field(default_factory=dict, hash=False)
    """The OpenID Connect provider's clients by client ID (``oidc_clients:``)."""
    oidc_issuer: str = ""
    """This simulator's OIDC issuer URL (``BASE/oidc``)."""

    def user(self, username: str) -> User | None:
        return self.users.get(username)

    def user_by_email(self, email: str) -> User | None:
        """The user whose email is ``email`` (case-insensitive), if exactly one has it."""
        wanted = email.casefold()
        found = [u for u in self.users.values() if u.email and u.email.casefold() == wanted]
        return found[0] if len(found) == 1 else None

    def service_provider(self, entity_id: str) -> ServiceProvider | None:
        return self.service_providers.get(entity_id)

    def role(self, arn: str) -> tuple[Account, Role] | None:
        for account in self.accounts.values():
            for role in account.roles:
                if role.arn == arn:
                    return account, role
        return None

    def account_by_provider_arn(self, provider_arn: str) -> Account | None:
        for account in self.accounts.values():
            if account.provider_arn == provider_arn:
                return account
        return None

    def groups_of(self, user: User) -> tuple[Group, ...]:
        return tuple(self.groups[name] for name in user.groups if name in self.groups)

    def roles_for(self, user: User) -> tuple[RoleGrant, ...]:
        """Every role the user's groups grant, once each, in group then role order, then the
        roles granted to the user directly."""
        grants: dict[str, RoleGrant] = {}
        arns = [arn for group in self.groups_of(user) for arn in group.roles]
        for arn in (*arns, *user.roles):
            found = self.role(arn)
            if found is not None and arn not in grants:
                grants[arn] = RoleGrant(role_arn=arn, provider_arn=found[0].provider_arn)
        return tuple(grants.values())
