"""The IAM twin's state: accounts with their SAML providers, roles, users, groups, access keys
and virtual MFA devices, as frozen values built from one JSON document.

The document (what ``idp.aws.iam.store`` keeps in the shared state store) is the only form the
state is written in; every value here is built from it (``build_state``), so a change is made
by editing a copy of the document, building it (which validates it) and storing it::

    {"accounts": {"111122223333": {
        "alias": "corp-prod" | null,
        "providers": {NAME: {"metadata": XML | null (this IdP's own), "created": ISO,
                             "valid_until": ISO | null, "signatures": "either",
                             "allow_sha1": false, "tags": [[K, V], ...]}},
        "roles":     {NAME: {"path": "/", "created": ISO, "description": str | null,
                             "max_session_duration": 3600, "trust_policy": JSON TEXT,
                             "policies": {NAME: JSON TEXT}, "tags": [[K, V], ...]}},
        "users":     {NAME: {"path": "/", "created": ISO, "password_hash": str | null,
                             "password_created": ISO | null, "password_reset_required": false,
                             "access_keys": [{"id", "secret", "active", "created"}],
                             "policies": {NAME: JSON TEXT}, "groups": [NAME],
                             "tags": [[K, V], ...]}},
        "groups":    {NAME: {"path": "/", "created": ISO, "policies": {NAME: JSON TEXT}}},
        "mfa":       {SERIAL: {"name", "path", "seed": BASE32, "user": NAME | null,
                               "enabled": ISO | null, "created": ISO}},
        "oidc":      {HOST_PATH: {"url": URL, "client_ids": [str], "thumbprints": [HEX40],
                                  "created": ISO, "tags": [[K, V], ...]}}}}}

Policies are kept as the text the caller sent: IAM returns documents as submitted, URL-encoded
(IAM API Reference, ``GetRolePolicy``: "The policy document returned in this structure is
URL-encoded compliant with RFC 3986"). Names keep their case; IAM treats names that differ
only in case as the same name (IAM User Guide, "IAM object quotas": "names must be unique
within the account … not distinguished by case"), so lookups fold case.

Unique IDs: the directory's entities get one derived from the ARN (``unique_id``: the same on
every start); the IAM API stores a fresh one (``"id"``) with each user, role and group it
creates, so a name deleted and created again is a new entity whose ID old sessions do not
match (trust policies, which IAM stores by ID, still compare ARNs here).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from idp.aws.iam.metadata import parse_metadata
from idp.directory.policy import PolicyDocument, PolicyKind, parse_policy_text
from idp.saml.validation import TrustedIssuer

__all__ = [
    "AccessKey",
    "AccountState",
    "IamGroup",
    "IamRole",
    "IamState",
    "IamUser",
    "InlinePolicy",
    "MfaDevice",
    "SamlProvider",
    "build_state",
    "iso",
    "new_unique_id",
    "parse_iso",
    "unique_id",
]

#: IAM's unique-ID prefixes (IAM User Guide, "Unique identifiers").
USER_ID_PREFIX: Final = "AIDA"
ROLE_ID_PREFIX: Final = "AROA"
GROUP_ID_PREFIX: Final = "AGPA"


def unique_id(prefix: str, arn: str) -> str:
    """``prefix`` + 17 base32 characters of SHA-256(ARN): 21 characters, like IAM's IDs. The
    ID of an entity the directory file starts with, the same on every start."""
    digest = hashlib.sha256(arn.encode("utf-8")).digest()
    return prefix + base64.b32encode(digest).decode("ascii")[:17]


def new_unique_id(prefix: str) -> str:
    """A fresh ID for an entity the IAM API creates: a user or role deleted and created again
    under the same name is a new entity, as in IAM (IAM User Guide, "Unique identifiers":
    sessions and keys of the old one do not carry over)."""
    return prefix + base64.b32encode(secrets.token_bytes(11)).decode("ascii")[:17]


def iso(when: dt.datetime) -> str:
    """The document's time format: UTC, whole seconds, ``Z``."""
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


@lru_cache(maxsize=1024)
def _policy(text: str, kind: PolicyKind) -> PolicyDocument:
    return parse_policy_text(text, kind=kind)


@dataclass(frozen=True)
class InlinePolicy:
    """An inline policy: its name, the text as submitted, and the parsed document."""

    name: str
    text: str
    document: PolicyDocument


@dataclass(frozen=True)
class AccessKey:
    account_id: str
    user_name: str
    id: str
    secret: str = field(repr=False)
    active: bool
    created: dt.datetime

    @property
    def status(self) -> str:
        return "Active" if self.active else "Inactive"


@dataclass(frozen=True)
class MfaDevice:
    """A virtual MFA device: ``arn:aws:iam::ACCOUNT:mfa/[PATH/]NAME``."""

    account_id: str
    name: str
    path: str
    seed: str = field(repr=False)
    """The Base32 TOTP seed (RFC 6238: 6 digits, 30 s, HMAC-SHA1, as authenticator apps)."""
    user_name: str | None
    enabled: dt.datetime | None
    created: dt.datetime

    @property
    def serial(self) -> str:
        return f"arn:aws:iam::{self.account_id}:mfa{self.path}{self.name}"


@dataclass(frozen=True)
class IamUser:
    account_id: str
    name: str
    path: str
    created: dt.datetime
    password_hash: str | None = field(repr=False)
    password_created: dt.datetime | None
    password_reset_required: bool
    access_keys: tuple[AccessKey, ...]
    policies: tuple[InlinePolicy, ...]
    groups: tuple[str, ...]
    tags: tuple[tuple[str, str], ...]

    stored_id: str | None = field(default=None, repr=False)
    """The ID the IAM API stored (``None``: derived from the ARN)."""

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:user{self.path}{self.name}"

    @property
    def id(self) -> str:
        return self.stored_id or unique_id(USER_ID_PREFIX, self.arn)


@dataclass(frozen=True)
class IamGroup:
    account_id: str
    name: str
    path: str
    created: dt.datetime
    policies: tuple[InlinePolicy, ...]

    stored_id: str | None = field(default=None, repr=False)
    """The ID the IAM API stored (``None``: derived from the ARN)."""

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:group{self.path}{self.name}"

    @property
    def id(self) -> str:
        return self.stored_id or unique_id(GROUP_ID_PREFIX, self.arn)


@dataclass(frozen=True)
class IamRole:
    account_id: str
    name: str
    path: str
    created: dt.datetime
    description: str | None
    max_session_duration: int
    trust_text: str
    trust_policy: PolicyDocument
    policies: tuple[InlinePolicy, ...]
    tags: tuple[tuple[str, str], ...]

    stored_id: str | None = field(default=None, repr=False)
    """The ID the IAM API stored (``None``: derived from the ARN)."""

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role{self.path}{self.name}"

    @property
    def id(self) -> str:
        return self.stored_id or unique_id(ROLE_ID_PREFIX, self.arn)


@dataclass(frozen=True)
class SamlProvider:
    """``arn:aws:iam::ACCOUNT:saml-provider/NAME`` and the IdP it trusts."""

    account_id: str
    name: str
    trust: TrustedIssuer
    created: dt.datetime
    valid_until: dt.datetime | None
    metadata: str | None = field(repr=False)
    """The document imported (``None``: this IdP's own metadata, whatever its keys are)."""
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:saml-provider/{self.name}"


@dataclass(frozen=True)
class OidcProvider:
    """``arn:aws:iam::ACCOUNT:oidc-provider/HOST_PATH``: an OpenID Connect issuer this account
    trusts for ``AssumeRoleWithWebIdentity`` (IAM User Guide, "Create an OpenID Connect (OIDC)
    identity provider in IAM")."""

    account_id: str
    url: str
    """The issuer URL as created, scheme included (``https://token.example.com/path``)."""
    client_ids: tuple[str, ...]
    """The audiences (``aud``) accepted."""
    thumbprints: tuple[str, ...]
    created: dt.datetime
    key: str
    """Its key in the document's ``"oidc"`` collection: ``host_path``, or
    ``OWN_ISSUER_PLACEHOLDER`` for the simulator's own issuer (kept symbolic, so the state
    follows the simulator to another base URL)."""
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def host_path(self) -> str:
        """The URL without its scheme (the ARN's resource part; the condition-key prefix)."""
        return self.url.split("://", 1)[-1]

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:oidc-provider/{self.host_path}"


def _folded(items: Mapping[str, Any]) -> dict[str, Any]:
    return {name.lower(): value for name, value in items.items()}


@dataclass(frozen=True)
class AccountState:
    id: str
    alias: str | None
    providers: Mapping[str, SamlProvider]
    roles: Mapping[str, IamRole]
    users: Mapping[str, IamUser]
    groups: Mapping[str, IamGroup]
    mfa_devices: Mapping[str, MfaDevice]
    """By serial number (ARN)."""
    oidc_providers: Mapping[str, OidcProvider] = field(default_factory=dict)
    """By the URL without its scheme (``OidcProvider.host_path``; case-sensitive, as IAM
    compares provider URLs)."""
    _roles: Mapping[str, IamRole] = field(init=False, repr=False, compare=False)
    _users: Mapping[str, IamUser] = field(init=False, repr=False, compare=False)
    _groups: Mapping[str, IamGroup] = field(init=False, repr=False, compare=False)
    _providers: Mapping[str, SamlProvider] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_roles", _folded(self.roles))
        object.__setattr__(self, "_users", _folded(self.users))
        object.__setattr__(self, "_groups", _folded(self.groups))
        object.__setattr__(self, "_providers", _folded(self.providers))

    def role(self, name: str) -> IamRole | None:
        return self._roles.get(name.lower())

    def user(self, name: str) -> IamUser | None:
        return self._users.get(name.lower())

    def group(self, name: str) -> IamGroup | None:
        return self._groups.get(name.lower())

    def provider(self, name: str) -> SamlProvider | None:
        return self._providers.get(name.lower())

    def oidc_provider(self, host_path: str) -> OidcProvider | None:
        return self.oidc_providers.get(host_path)

    def mfa_of(self, user_name: str) -> tuple[MfaDevice, ...]:
        """The user's enabled MFA devices."""
        return tuple(d for d in self.mfa_devices.values()
                     if d.user_name is not None and d.user_name.lower() == user_name.lower()
                     and d.enabled is not None)


@dataclass(frozen=True)
class IamState:
    """Every account's IAM, with the lookups STS, the console and the IAM API make."""

    accounts: Mapping[str, AccountState]
    _keys: Mapping[str, AccessKey] = field(init=False, repr=False, compare=False)
    _aliases: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_keys", {
            key.id: key for account in self.accounts.values()
            for user in account.users.values() for key in user.access_keys})
        object.__setattr__(self, "_aliases", {
            account.alias: account.id for account in self.accounts.values() if account.alias})

    def account(self, account_id: str) -> AccountState | None:
        return self.accounts.get(account_id)

    def account_by_alias(self, alias: str) -> AccountState | None:
        found = self._aliases.get(alias)
        return self.accounts.get(found) if found is not None else None

    def access_key(self, key_id: str) -> AccessKey | None:
        return self._keys.get(key_id)

    def user_of(self, key: AccessKey) -> IamUser | None:
        account = self.accounts.get(key.account_id)
        return account.user(key.user_name) if account is not None else None

    def role(self, arn: str) -> IamRole | None:
        """The role with this ARN (path included, as IAM writes it)."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[:3] != ["arn", "aws", "iam"] or not parts[5].startswith(
                "role/"):
            return None
        account = self.accounts.get(parts[4])
        if account is None:
            return None
        role = account.role(parts[5].rsplit("/", 1)[-1])
        return role if role is not None and role.arn == arn else None

    def saml_provider(self, arn: str) -> SamlProvider | None:
        parts = arn.split(":", 5)
        if (len(parts) != 6 or parts[:3] != ["arn", "aws", "iam"]
                or not parts[5].startswith("saml-provider/")):
            return None
        account = self.accounts.get(parts[4])
        if account is None:
            return None
        provider = account.provider(parts[5][len("saml-provider/"):])
        return provider if provider is not None and provider.arn == arn else None

    def oidc_provider(self, arn: str) -> OidcProvider | None:
        """The OIDC provider with this ARN (``arn:aws:iam::ACCOUNT:oidc-provider/HOST_PATH``)."""
        parts = arn.split(":", 5)
        if (len(parts) != 6 or parts[:4] != ["arn", "aws", "iam", ""]
                or not parts[5].startswith("oidc-provider/")):
            return None
        account = self.accounts.get(parts[4])
        if account is None:
            return None
        return account.oidc_provider(parts[5][len("oidc-provider/"):])


# --------------------------------------------------------------------------- building

def _tags(raw: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in raw or ())


#: What the stored document says for "this simulator's own OIDC issuer (without scheme)";
#: the directory file's placeholder too (``idp.directory.loader``).
OWN_ISSUER_PLACEHOLDER: Final = "${idp:oidc}"


def resolve_own_issuer(text: str, own_host: str) -> str:
    """``text`` with the own issuer's placeholder replaced (``own_host``: ``HOST[:PORT]/PATH``).

    The seed writes the simulator's own issuer symbolically (its provider without URL, policies
    with the placeholder), so a state saved on one base URL works unchanged on another."""
    return text.replace(OWN_ISSUER_PLACEHOLDER, own_host) if own_host else text


def _inline_policies(raw: Mapping[str, str] | None,
                     own_host: str = "") -> tuple[InlinePolicy, ...]:
    return tuple(InlinePolicy(name=name, text=resolve_own_issuer(text, own_host),
                              document=_policy(resolve_own_issuer(text, own_host),
                                               PolicyKind.IDENTITY))
                 for name, text in (raw or {}).items())


@lru_cache(maxsize=64)
def _metadata(text: str) -> tuple[TrustedIssuer, dt.datetime | None]:
    found = parse_metadata(text.encode("utf-8"))
    return found.trust, found.valid_until


def _provider(account_id: str, name: str, raw: Mapping[str, Any],
              own: TrustedIssuer) -> SamlProvider:
    text = raw.get("metadata")
    trust = own if text is None else _metadata(str(text))[0]
    signatures = str(raw.get("signatures", "either"))
    trust = TrustedIssuer(
        entity_id=trust.entity_id, certificates=trust.certificates,
        allow_sha1=bool(raw.get("allow_sha1", False)),
        require_assertion_signed=signatures in ("assertion", "both"),
        require_response_signed=signatures in ("response", "both"),
    )
    until = raw.get("valid_until")
    return SamlProvider(account_id=account_id, name=name, trust=trust,
                        created=parse_iso(raw["created"]),
                        valid_until=parse_iso(until) if until else None,
                        metadata=None if text is None else str(text), tags=_tags(raw.get("tags")))


def _account(account_id: str, raw: Mapping[str, Any], own: TrustedIssuer,
             own_oidc: str) -> AccountState:
    own_host = own_oidc.split("://", 1)[-1]

    def _inline(raw_policies: Mapping[str, str] | None) -> tuple[InlinePolicy, ...]:
        return _inline_policies(raw_policies, own_host)

    roles = {
        name: IamRole(
            account_id=account_id, name=name, path=body.get("path", "/"),
            created=parse_iso(body["created"]), description=body.get("description"),
            max_session_duration=int(body.get("max_session_duration", 3600)),
            trust_text=resolve_own_issuer(body["trust_policy"], own_host),
            trust_policy=_policy(resolve_own_issuer(body["trust_policy"], own_host),
                                 PolicyKind.TRUST),
            policies=_inline(body.get("policies")), tags=_tags(body.get("tags")),
            stored_id=body.get("id"))
        for name, body in (raw.get("roles") or {}).items()
    }
    users = {}
    for name, body in (raw.get("users") or {}).items():
        password_created = body.get("password_created")
        users[name] = IamUser(
            account_id=account_id, name=name, path=body.get("path", "/"),
            created=parse_iso(body["created"]), password_hash=body.get("password_hash"),
            password_created=parse_iso(password_created) if password_created else None,
            password_reset_required=bool(body.get("password_reset_required", False)),
            access_keys=tuple(
                AccessKey(account_id=account_id, user_name=name, id=key["id"],
                          secret=key["secret"], active=bool(key.get("active", True)),
                          created=parse_iso(key["created"]))
                for key in body.get("access_keys") or ()),
            policies=_inline(body.get("policies")), groups=tuple(body.get("groups") or ()),
            tags=_tags(body.get("tags")), stored_id=body.get("id"))
    groups = {
        name: IamGroup(account_id=account_id, name=name, path=body.get("path", "/"),
                       created=parse_iso(body["created"]), policies=_inline(body.get("policies")),
                       stored_id=body.get("id"))
        for name, body in (raw.get("groups") or {}).items()
    }
    devices = {}
    for body in (raw.get("mfa") or {}).values():
        enabled = body.get("enabled")
        device = MfaDevice(account_id=account_id, name=body["name"],
                           path=body.get("path", "/"), seed=body["seed"],
                           user_name=body.get("user"),
                           enabled=parse_iso(enabled) if enabled else None,
                           created=parse_iso(body["created"]))
        devices[device.serial] = device
    providers = {name: _provider(account_id, name, body, own)
                 for name, body in (raw.get("providers") or {}).items()}
    oidc = {}
    for key, body in (raw.get("oidc") or {}).items():
        url = own_oidc if body.get("url") is None else str(body["url"])
        provider = OidcProvider(
            account_id=account_id, url=url,
            client_ids=tuple(str(c) for c in body.get("client_ids") or ()),
            thumbprints=tuple(str(t) for t in body.get("thumbprints") or ()),
            created=parse_iso(body["created"]), tags=_tags(body.get("tags")), key=key)
        # The own issuer's entry comes first (the seed writes it so); a provider created
        # through the API for the same URL (possible only after the simulator moved to that
        # base URL) comes later and is the one IAM answers for it.
        oidc[provider.host_path] = provider
    return AccountState(id=account_id, alias=raw.get("alias"), providers=providers,
                        roles=roles, users=users, groups=groups, mfa_devices=devices,
                        oidc_providers=oidc)


def build_state(data: Mapping[str, Any], own: TrustedIssuer, own_oidc: str = "") -> IamState:
    """The typed state of a document; ``own`` is what a provider holding this IdP's own
    metadata trusts (its entityID and currently published certificates), ``own_oidc`` the
    simulator's own OIDC issuer URL (an OIDC provider without URL; the placeholder in policies).

    Raises ``ValueError`` (``KeyError``, ``MalformedPolicyError``, ``MetadataProblem``) for
    a document no IAM operation writes: callers validate input before changing the document.
    """
    accounts = data.get("accounts")
    if not isinstance(accounts, Mapping):
        raise ValueError("the IAM document has no accounts")
    try:
        return IamState(accounts={account_id: _account(account_id, raw, own, own_oidc)
                                  for account_id, raw in accounts.items()})
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"the IAM document is malformed: {exc!r}") from None
