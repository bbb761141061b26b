"""Read a directory from YAML, reporting every mistake as ``file:line: what is wrong``.

The YAML is walked as PyYAML *nodes* (not plain dicts) so each value keeps its line, duplicate
keys are caught (PyYAML would silently keep the last), and unknown keys are named.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import yaml
from cryptography import x509

from idp.directory.model import (
    ACCESS_KEY_ID_RE,
    ACCOUNT_ALIAS_RE,
    ACCOUNT_ID_RE,
    AWS_ENTITY_ID,
    IAM_GROUP_NAME_RE,
    IAM_USER_NAME_RE,
    PROVIDER_NAME_RE,
    ROLE_ARN_RE,
    ROLE_NAME_RE,
    SECRET_ACCESS_KEY_RE,
    AccessKeySpec,
    Account,
    ContainerTask,
    Directory,
    Group,
    IamGroupSpec,
    IamUserSpec,
    Instance,
    OidcClient,
    OidcProviderSpec,
    Role,
    User,
    own_oidc_issuer,
)
from idp.directory.passwords import hash_password, is_hash
from idp.directory.policy import PolicyDocument, PolicyKind, parse_policy
from idp.errors import ConfigError, MalformedPolicyError
from idp.hosts import is_loopback
from idp.saml.constants import ISSUABLE_NAMEID_FORMATS, NameIDFormat
from idp.saml.providers import RoleValueOrder, ServiceProvider
from idp.saml.signing import Digest, SignatureAlgorithm, SigningPolicy
from idp.vendors import Vendor, parse_vendors

__all__ = ["demo_directory", "demo_yaml", "load_directory", "parse_directory",
           "read_directory_file"]

T = TypeVar("T")
#: libyaml's parser when PyYAML has it (about 10x faster; same nodes, marks and errors).
_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_CONFIG_BYTES: Final = 4 * 1024 * 1024
#: SAML Core §8.3.6: an entity identifier is a URI of at most 1024 characters.
MAX_ENTITY_ID: Final = 1024
#: Characters XML 1.0 cannot carry (YAML's double-quoted escapes can write them): a value that
#: ends up in an assertion must not hold one, or the Response could not be built.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_INTEGER: Final = re.compile(r"-?[0-9]{1,12}")


class _Node:
    """A YAML node plus the file it came from; every accessor reports errors with its line."""

    def __init__(self, node: yaml.Node, source: str, line: int | None = None) -> None:
        self.node = node
        self.source = source
        self._line = line

    @property
    def line(self) -> int:
        """The line of the key that introduced this value (else where the value starts)."""
        return self._line if self._line is not None else self.node.start_mark.line + 1

    def fail(self, message: str) -> ConfigError:
        return ConfigError(message, source=self.source, line=self.line)

    @property
    def is_null(self) -> bool:
        """An empty value (``key:`` with nothing after it, ``~`` or ``null``)."""
        return isinstance(self.node, yaml.ScalarNode) and self.node.tag.endswith(":null")

    def mapping(self, what: str, allowed: frozenset[str] | None = None) -> dict[str, _Node]:
        if isinstance(self.node, yaml.ScalarNode) and self.node.value in ("", "~", "null"):
            return {}
        if not isinstance(self.node, yaml.MappingNode):
            raise self.fail(f"{what} must be a mapping")
        out: dict[str, _Node] = {}
        for key_node, value_node in self.node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Node(key_node, self.source).fail(f"keys in {what} must be plain values")
            key = str(key_node.value)
            where = _Node(key_node, self.source)
            if _NOT_XML.search(key):
                raise where.fail(f"key {key!r} in {what} has a control character")
            if key in out:
                raise where.fail(f"duplicate key {key!r} in {what}")
            if allowed is not None and key not in allowed:
                raise where.fail(
                    f"unknown key {key!r} in {what} (expected one of: {', '.join(sorted(allowed))})"
                )
            out[key] = _Node(value_node, self.source, where.line)
        return out

    def sequence(self, what: str) -> list[_Node]:
        if isinstance(self.node, yaml.ScalarNode) and self.node.value in ("", "~", "null"):
            return []
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.fail(f"{what} must be a list")
        return [_Node(child, self.source) for child in self.node.value]

    def string(self, what: str) -> str:
        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag.endswith(":null"):
            raise self.fail(f"{what} must be a single value")
        value = str(self.node.value)
        if not value:
            raise self.fail(f"{what} must not be empty")
        if _NOT_XML.search(value):
            raise self.fail(f"{what} has a control character ({value!r})")
        return value

    def strings(self, what: str) -> tuple[str, ...]:
        """A single value or a list of values."""
        if isinstance(self.node, yaml.ScalarNode):
            return (self.string(what),)
        return tuple(item.string(f"each entry of {what}") for item in self.sequence(what))

    def integer(self, what: str, low: int, high: int) -> int:
        text = self.string(what)
        if not _INTEGER.fullmatch(text):  # int() would also take "3_600" or non-ASCII digits
            raise self.fail(f"{what} must be a whole number, not {text!r}")
        value = int(text)
        if not low <= value <= high:
            raise self.fail(f"{what} must be between {low} and {high}, not {value}")
        return value

    def boolean(self, what: str) -> bool:
        text = self.string(what).lower()
        if text in ("true", "yes", "on"):
            return True
        if text in ("false", "no", "off"):
            return False
        raise self.fail(f"{what} must be true or false, not {text!r}")

    def plain(self) -> Any:
        """The node as plain Python data (for JSON-like blobs such as trust policies).

        A key repeated in any mapping inside is refused (PyYAML would keep the last one).
        """
        self._refuse_duplicate_keys(self.node)
        try:
            return yaml.SafeLoader("").construct_document(self.node)
        except (yaml.YAMLError, ValueError, TypeError, AttributeError) as exc:
            # PyYAML's constructors fail this way on tagged scalars (!!int x, !!timestamp x)
            # and unhashable keys ({? [a]: b}).
            raise self.fail(f"cannot read this value: {exc}".splitlines()[0]) from None

    def _refuse_duplicate_keys(self, node: yaml.Node) -> None:
        pending, visited = [node], set()
        while pending:  # iterative, and each node once: aliases may repeat or nest a node
            current = pending.pop()
            if id(current) in visited:
                continue
            visited.add(id(current))
            if isinstance(current, yaml.MappingNode):
                seen: set[str] = set()
                for key_node, value_node in current.value:
                    if isinstance(key_node, yaml.ScalarNode):
                        if key_node.value in seen:
                            raise _Node(key_node, self.source).fail(
                                f"duplicate key {key_node.value!r}")
                        seen.add(key_node.value)
                    pending.append(value_node)
            elif isinstance(current, yaml.SequenceNode):
                pending.extend(current.value)


class _Fields:
    """The keys of one YAML mapping, each read with its own type and default."""

    def __init__(self, node: _Node, what: str, allowed: frozenset[str]) -> None:
        self.node = node
        self.nodes = node.mapping(what, allowed)

    def __contains__(self, key: str) -> bool:
        return key in self.nodes

    def __getitem__(self, key: str) -> _Node:
        return self.nodes[key]

    def get(self, key: str) -> _Node | None:
        return self.nodes.get(key)

    def string(self, key: str, default: T) -> str | T:
        return self.nodes[key].string(key) if key in self.nodes else default

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        return self.nodes[key].strings(key) if key in self.nodes else default

    def integer(self, key: str, low: int, high: int, default: T) -> int | T:
        return self.nodes[key].integer(key, low, high) if key in self.nodes else default

    def boolean(self, key: str, default: bool) -> bool:
        return self.nodes[key].boolean(key) if key in self.nodes else default

    def mapping(self, key: str, what: str) -> dict[str, _Node]:
        return self.nodes[key].mapping(what) if key in self.nodes else {}

    def sequence(self, key: str, what: str) -> list[_Node]:
        return self.nodes[key].sequence(what) if key in self.nodes else []


def _attribute_map(fields: _Fields, key: str) -> dict[str, tuple[str, ...]]:
    return {k: v.strings(f"{key}.{k}") for k, v in fields.mapping(key, key).items()}


def _tags(fields: _Fields, key: str) -> dict[str, str]:
    """Session tags: AWS reserves ``aws:`` keys and treats keys that differ only in case as one."""
    tags = {k: v.string(f"{key}.{k}") for k, v in fields.mapping(key, key).items()}
    seen: dict[str, str] = {}
    for tag in tags:
        if tag.lower().startswith("aws:"):
            raise fields[key].fail(f"{key}: tag key {tag!r} may not start with 'aws:'")
        if tag.lower() in seen:
            raise fields[key].fail(f"{key}: tag keys {seen[tag.lower()]!r} and {tag!r} differ "
                                   "only in case; AWS treats them as one key")
        seen[tag.lower()] = tag
    return tags


def _default_trust_policy(provider_arn: str) -> PolicyDocument:
    """Trust this account's SAML provider for AssumeRoleWithSAML (AWS's wizard, minus aud)."""
    return parse_policy({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithSAML",
            }
        ],
    })


def _trust_policy(node: _Node) -> PolicyDocument:
    """Parse a role's trust policy as IAM would on ``CreateRole``; errors point at the line
    of the offending statement (or of ``trust_policy:``)."""
    return _policy(node, "trust_policy", PolicyKind.TRUST)


def _policy(node: _Node, what: str, kind: PolicyKind) -> PolicyDocument:
    raw = node.plain()
    if not isinstance(raw, dict):
        raise node.fail(f"{what} must be a policy document (a mapping)")
    try:
        return parse_policy(raw, kind=kind)
    except MalformedPolicyError as exc:
        where = _statement_node(node, exc.statement) or node
        raise where.fail(f"{what} is malformed: {exc.message}") from None


#: IAM's policy names (``policyNameType``): 1-128 of letters, digits and +=,.@_-.
_POLICY_NAME_RE: Final = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)


def _inline_policies(fields: _Fields, who: str) -> dict[str, PolicyDocument]:
    """``policies: {NAME: DOCUMENT}``: inline identity policies (what the identity may do)."""
    out: dict[str, PolicyDocument] = {}
    for name, body in fields.mapping("policies", f"policies of {who}").items():
        if not _POLICY_NAME_RE.fullmatch(name):
            raise body.fail(f"policy name {name!r} must be 1-128 of letters, digits and "
                            "+=,.@_-")
        out[name] = _policy(body, f"policy {name} of {who}", PolicyKind.IDENTITY)
    return out


def _path(fields: _Fields) -> str:
    path = fields.string("path", "/")
    if not (path.startswith("/") and path.endswith("/")) or len(path) > 512 or any(
            not "\u0021" <= c <= "\u007e" for c in path):
        raise fields["path"].fail("path must start and end with '/' and hold only printable "
                                  "ASCII (at most 512 characters)")
    return path


def _statement_node(policy: _Node, index: int | None) -> _Node | None:
    """The YAML node of the policy's ``index``-th (1-based) Statement entry, if it has one."""
    if index is None or not isinstance(policy.node, yaml.MappingNode):
        return None
    for key, value in policy.node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "Statement":
            if isinstance(value, yaml.SequenceNode) and 0 < index <= len(value.value):
                return _Node(value.value[index - 1], policy.source)
            return _Node(value, policy.source, key.start_mark.line + 1)
    return None


_ACCOUNT_KEYS: Final = frozenset({
    "alias", "saml_provider", "roles", "provider_metadata", "provider_signatures",
    "provider_allow_sha1", "iam_users", "iam_groups", "oidc_providers",
})
_SIGNATURE_CHOICES: Final = ("assertion", "response", "both", "either")
_ROLE_KEYS: Final = frozenset({"max_session_duration", "path", "trust_policy", "policies",
                               "tags", "description"})


def _role(account_id: str, provider_arn: str, name: str, body: _Node) -> Role:
    fields = _Fields(body, f"role {name}", _ROLE_KEYS)
    path = _path(fields)
    description = fields.string("description", None)
    if description is not None and len(description) > 1000:
        raise fields["description"].fail("description is longer than 1000 characters")
    role = Role(
        account_id=account_id,
        name=name,
        path=path,
        max_session_duration=fields.integer("max_session_duration", 3600, 43200, 3600),
        trust_policy=(_trust_policy(fields["trust_policy"])
                      if "trust_policy" in fields and not fields["trust_policy"].is_null
                      else _default_trust_policy(provider_arn)),
        policies=_inline_policies(fields, f"role {name}"),
        tags=_tags(fields, "tags"),
        description=description,
    )
    if not ROLE_NAME_RE.fullmatch(name) or not ROLE_ARN_RE.fullmatch(role.arn):
        raise body.fail(f"role name {name!r} is not a valid IAM role name "
                        "(1-64 of letters, digits and +=,.@_-; a path goes in path:)")
    return role


def _resolve(path: str | None, base: Path | None) -> str | None:
    if path is None or base is None or Path(path).is_absolute():
        return path
    return str(base / path)


def _provider_signatures(fields: _Fields) -> str:
    value = fields.string("provider_signatures", "either")
    if value not in _SIGNATURE_CHOICES:
        raise fields["provider_signatures"].fail(
            f"provider_signatures must be one of {', '.join(_SIGNATURE_CHOICES)}, not {value!r}"
        )
    return value


def _accounts(node: _Node, base: Path | None, issuer: str) -> dict[str, Account]:
    accounts: dict[str, Account] = {}
    key_owners: dict[str, str] = {}
    for account_id, body in node.mapping("accounts").items():
        if not ACCOUNT_ID_RE.fullmatch(account_id):
            raise body.fail(f"account id {account_id!r} must be 12 digits (quote it in YAML)")
        fields = _Fields(body, f"account {account_id}", _ACCOUNT_KEYS)
        provider = fields.string("saml_provider", "CorpIdP")
        if not PROVIDER_NAME_RE.fullmatch(provider):
            raise fields["saml_provider"].fail(f"saml_provider {provider!r} must match [\\w._-]+")
        provider_arn = f"arn:aws:iam::{account_id}:saml-provider/{provider}"
        roles = tuple(
            _role(account_id, provider_arn, name, role_body)
            for name, role_body in fields.mapping("roles", f"roles of {account_id}").items()
        )
        alias = fields.string("alias", None)
        if alias is not None and (not ACCOUNT_ALIAS_RE.fullmatch(alias) or alias.isdigit()):
            raise fields["alias"].fail(f"alias {alias!r} must be 3-63 lower-case letters, "
                                       "digits and single hyphens, not all digits")
        if alias is not None and alias in {a.alias for a in accounts.values()}:
            raise fields["alias"].fail(f"alias {alias!r} is already another account's")
        for lower in {r.name.lower() for r in roles}:
            same = [r.name for r in roles if r.name.lower() == lower]
            if len(same) > 1:
                raise fields["roles"].fail(f"roles {' and '.join(same)} differ only in case; "
                                           "IAM names are unique regardless of case")
        groups = _iam_groups(fields, account_id)
        accounts[account_id] = Account(
            id=account_id,
            alias=alias,
            saml_provider=provider,
            roles=roles,
            provider_metadata=_resolve(fields.string("provider_metadata", None), base),
            provider_signatures=_provider_signatures(fields),
            provider_allow_sha1=fields.boolean("provider_allow_sha1", False),
            iam_users=_iam_users(fields, account_id, {g.name for g in groups}, key_owners),
            iam_groups=groups,
            oidc_providers=_oidc_providers(fields, account_id, issuer),
        )
    return accounts


_OIDC_PROVIDER_KEYS: Final = frozenset({"url", "client_ids", "thumbprints"})
_THUMBPRINT_RE: Final = re.compile(r"[0-9A-Fa-f]{40}", re.ASCII)


def check_oidc_url(url: str) -> str | None:
    """Why IAM would refuse ``url`` as an OIDC provider's URL (``None``: it is fine).

    IAM API Reference, CreateOpenIDConnectProvider: "The URL must begin with https://", at most
    255 characters, no query. The simulator's own issuer is plain HTTP on loopback, so an
    ``http://`` URL is taken when its host is a loopback address or ``localhost``.
    """
    if not 1 <= len(url) <= 255:
        return "must be 1-255 characters"
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must begin with https:// (http:// only on a loopback host)"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return "must begin with https:// (http:// only on a loopback host)"
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return "must not have a query or a fragment"
    if parts.username or parts.password:
        return "must not carry a user name or password"
    return None


def _oidc_providers(fields: _Fields, account_id: str,
                    issuer: str) -> tuple[OidcProviderSpec, ...]:
    found: list[OidcProviderSpec] = []
    for item in fields.sequence("oidc_providers", f"oidc_providers of {account_id}"):
        entry = _Fields(item, f"an OIDC provider of {account_id}", _OIDC_PROVIDER_KEYS)
        url = entry.string("url", issuer)
        # The simulator's own issuer is taken on whatever base URL it serves.
        problem = check_oidc_url(url) if "url" in entry else None
        if problem is not None:
            raise (entry["url"] if "url" in entry else item).fail(f"OIDC provider url {problem}")
        client_ids = entry.strings("client_ids")
        if len(client_ids) > 100 or any(not 1 <= len(c) <= 255 for c in client_ids):
            raise item.fail("client_ids: at most 100, each 1-255 characters")
        thumbprints = entry.strings("thumbprints")
        if len(thumbprints) > 5 or any(not _THUMBPRINT_RE.fullmatch(t) for t in thumbprints):
            raise item.fail("thumbprints: at most 5, each 40 hex digits")
        spec = OidcProviderSpec(url=url, client_ids=client_ids,
                                thumbprints=tuple(t.lower() for t in thumbprints))
        if any(p.host_path == spec.host_path for p in found):
            raise item.fail(f"OIDC provider {spec.url} is listed twice in {account_id}")
        found.append(spec)
    return tuple(found)


_IAM_USER_KEYS: Final = frozenset({"path", "password", "password_hash", "access_keys",
                                   "mfa_seed", "groups", "policies", "tags"})
_ACCESS_KEY_KEYS: Final = frozenset({"id", "secret", "status"})


def _unique_names(names: list[tuple[str, _Node]], what: str) -> None:
    seen: dict[str, str] = {}
    for name, node in names:
        if name.lower() in seen:
            raise node.fail(f"{what} {seen[name.lower()]} and {name} differ only in case; IAM "
                            "names are unique regardless of case")
        seen[name.lower()] = name


def _iam_groups(fields: _Fields, account_id: str) -> tuple[IamGroupSpec, ...]:
    out: list[IamGroupSpec] = []
    items = fields.mapping("iam_groups", f"iam_groups of {account_id}")
    _unique_names(list(items.items()), "IAM groups")
    for name, body in items.items():
        group = _Fields(body, f"IAM group {name}", frozenset({"path", "policies"}))
        if not IAM_GROUP_NAME_RE.fullmatch(name):
            raise body.fail(f"IAM group name {name!r} must be 1-128 of letters, digits and "
                            "+=,.@_-")
        out.append(IamGroupSpec(name=name, path=_path(group),
                                policies=_inline_policies(group, f"IAM group {name}")))
    return tuple(out)


def _iam_users(fields: _Fields, account_id: str, groups: set[str],
               key_owners: dict[str, str]) -> tuple[IamUserSpec, ...]:
    """``key_owners``: access key ID → ``ACCOUNT/USER`` so far (an ID is one user's only)."""
    out: list[IamUserSpec] = []
    items = fields.mapping("iam_users", f"iam_users of {account_id}")
    _unique_names(list(items.items()), "IAM users")
    for name, body in items.items():
        user = _Fields(body, f"IAM user {name}", _IAM_USER_KEYS)
        if not IAM_USER_NAME_RE.fullmatch(name):
            raise body.fail(f"IAM user name {name!r} must be 1-64 of letters, digits and "
                            "+=,.@_-")
        password_hash = None
        if "password" in user or "password_hash" in user:
            # A salt fixed by account and name: the same file gives the same hash at every
            # load, so the IAM state kept in data/ can tell a changed password from a reload
            # (idp.aws.iam.seed.fingerprint).
            salt = hashlib.sha256(f"iam-user|{account_id}|{name}".encode()).digest()[:16]
            password_hash = _password_hash(user, f"IAM user {name}", salt)
        keys: list[AccessKeySpec] = []
        for item in user.sequence("access_keys", f"access_keys of {name}"):
            key = _Fields(item, f"an access key of {name}", _ACCESS_KEY_KEYS)
            if "id" not in key or "secret" not in key:
                raise item.fail(f"each access key of {name} needs an id and a secret")
            key_id, secret = key["id"].string("id"), key["secret"].string("secret")
            if not ACCESS_KEY_ID_RE.fullmatch(key_id):
                raise key["id"].fail(f"access key id {key_id!r} must be AKIA and 16 upper-case "
                                     "letters or digits")
            owner = key_owners.setdefault(key_id, f"{account_id}/{name}")
            if owner != f"{account_id}/{name}" or key_id in {k.id for k in keys}:
                raise key["id"].fail(f"access key {key_id} is given to more than one IAM user "
                                     f"({owner} and {account_id}/{name})")
            if not SECRET_ACCESS_KEY_RE.fullmatch(secret):
                raise key["secret"].fail("a secret access key is 40 of A-Z, a-z, 0-9, /, + "
                                         "and =")
            status = key.string("status", "Active")
            if status not in ("Active", "Inactive"):
                raise key["status"].fail(f"status must be Active or Inactive, not {status!r}")
            keys.append(AccessKeySpec(id=key_id, secret=secret, active=status == "Active"))
        if len(keys) > 2:  # IAM quota: two access keys per user
            raise user["access_keys"].fail(f"IAM user {name} has {len(keys)} access keys; "
                                           "IAM allows 2")
        member_of = user.strings("groups")
        for group in member_of:
            if group not in groups:
                raise user["groups"].fail(f"IAM user {name} is in IAM group {group!r}, which "
                                          f"account {account_id} does not define")
        out.append(IamUserSpec(
            name=name, path=_path(user), password_hash=password_hash,
            access_keys=tuple(keys),
            mfa_seed=_totp_secret(user["mfa_seed"], "mfa_seed") if "mfa_seed" in user else None,
            groups=member_of, policies=_inline_policies(user, f"IAM user {name}"),
            tags=_tags(user, "tags"),
        ))
    return tuple(out)


_GROUP_KEYS: Final = frozenset({"roles", "attributes", "principal_tags", "session_duration"})


def _groups(node: _Node, accounts: dict[str, Account]) -> dict[str, Group]:
    known_roles = {role.arn for acct in accounts.values() for role in acct.roles}
    groups: dict[str, Group] = {}
    for name, body in node.mapping("groups").items():
        fields = _Fields(body, f"group {name}", _GROUP_KEYS)
        groups[name] = Group(
            name=name,
            roles=_role_arns(fields, known_roles, f"group {name}"),
            attributes=_attribute_map(fields, "attributes"),
            principal_tags=_tags(fields, "principal_tags"),
            session_duration=fields.integer("session_duration", 900, 43200, None),
        )
    return groups


def _role_arns(fields: _Fields, known_roles: set[str], who: str) -> tuple[str, ...]:
    roles: list[str] = []
    for item in fields.sequence("roles", f"roles of {who}"):
        arn = item.string("role ARN").strip()
        if not ROLE_ARN_RE.fullmatch(arn):
            raise item.fail(f"{arn!r} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
        if arn not in known_roles:
            raise item.fail(f"{who} grants {arn}, which no account defines")
        if arn not in roles:
            roles.append(arn)
    return tuple(roles)


def _totp_secret(node: _Node, what: str = "totp_secret") -> str:
    secret = node.string(what).replace(" ", "").upper()
    try:
        raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
    except (binascii.Error, ValueError):
        raise node.fail(f"{what} must be base32 (A-Z, 2-7)") from None
    if len(raw) * 8 < 128:
        raise node.fail(f"{what} is {len(raw) * 8} bits; use at least 128 (RFC 4226 §4)")
    return secret


_USER_KEYS: Final = frozenset({
    "password", "password_hash", "display_name", "email", "groups", "totp_secret",
    "attributes", "principal_tags", "source_identity", "roles",
})


def _password_hash(fields: _Fields, who: str, salt: bytes | None = None) -> str:
    """``who``: ``user bob``, ``IAM user ops``; ``salt``: a fixed salt (else random)."""
    if ("password" in fields) == ("password_hash" in fields):
        raise fields.node.fail(f"{who} needs exactly one of password / password_hash")
    if "password" in fields:
        return hash_password(fields["password"].string("password"), salt=salt)
    password_hash = fields["password_hash"].string("password_hash")
    if not is_hash(password_hash):
        raise fields["password_hash"].fail(
            "password_hash must look like pbkdf2-sha256$ITERATIONS$SALT$HASH"
        )
    return password_hash


def _users(node: _Node, groups: dict[str, Group],
           accounts: dict[str, Account]) -> dict[str, User]:
    known_roles = {role.arn for acct in accounts.values() for role in acct.roles}
    users: dict[str, User] = {}
    for username, body in node.mapping("users").items():
        fields = _Fields(body, f"user {username}", _USER_KEYS)
        password_hash = _password_hash(fields, f"user {username}")
        if "email" not in fields:
            raise body.fail(f"user {username} needs an email")
        email = fields["email"].string("email")
        if "@" not in email:
            raise fields["email"].fail(f"email {email!r} has no '@'")
        member_of = fields.strings("groups")
        for group in member_of:
            if group not in groups:
                raise fields["groups"].fail(f"user {username} is in group {group!r}, not defined")
        users[username] = User(
            username=username,
            password_hash=password_hash,
            display_name=fields.string("display_name", username),
            email=email,
            groups=member_of,
            roles=_role_arns(fields, known_roles, f"user {username}"),
            totp_secret=_totp_secret(fields["totp_secret"]) if "totp_secret" in fields else None,
            attributes=_attribute_map(fields, "attributes"),
            principal_tags=_tags(fields, "principal_tags"),
            source_identity=fields.string("source_identity", None),
        )
    return users


def _certificates(node: _Node, base: Path | None) -> tuple[str, ...]:
    out = []
    for value in node.strings("certificates"):
        if "-----BEGIN CERTIFICATE-----" in value:
            out.append(_certificate(node, value, "an inline certificate"))
            continue
        path = Path(value) if base is None or Path(value).is_absolute() else base / value
        if not path.is_file() or path.stat().st_size > 1024 * 1024:
            raise node.fail(f"certificate {path} is not a regular file under 1 MiB")
        try:
            out.append(_certificate(node, path.read_text("ascii"), f"certificate {path}"))
        except (OSError, UnicodeDecodeError) as exc:
            raise node.fail(f"cannot read certificate {path}: {exc}") from None
    return tuple(out)


def _certificate(node: _Node, pem: str, what: str) -> str:
    """``pem`` if it is a PEM X.509 certificate (checked now, not at the first request)."""
    try:
        x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise node.fail(f"{what} is not a PEM X.509 certificate") from None
    return pem


_SP_KEYS: Final = frozenset({
    "entity_id", "acs_urls", "name_id_format", "sign_assertion", "sign_response",
    "signature_algorithm", "digest_algorithm", "want_authn_requests_signed", "certificates",
    "audience", "release", "session_duration", "role_session_name", "source_identity",
    "role_value_order",
})


def _choice(fields: _Fields, key: str, parse: Callable[[str], T], default: T) -> T:
    if key not in fields:
        return default
    text = fields[key].string(key)
    try:
        return parse(text)
    except (ValueError, KeyError):
        raise fields[key].fail(f"unsupported {key} {text!r}") from None


def _signing_policy(fields: _Fields) -> SigningPolicy:
    try:
        return SigningPolicy(
            sign_assertion=fields.boolean("sign_assertion", True),
            sign_response=fields.boolean("sign_response", False),
            signature_algorithm=_choice(
                fields, "signature_algorithm", SignatureAlgorithm,
                SignatureAlgorithm.RSA_SHA256,
            ),
            digest=_choice(fields, "digest_algorithm", Digest, Digest.SHA256),
        )
    except ValueError as exc:
        raise fields.node.fail(str(exc)) from None


def _is_acs_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname)
            and "@" not in parts.netloc and not any(c.isspace() for c in url))


def _service_provider(node: _Node, aws_acs: str, base: Path | None) -> ServiceProvider:
    fields = _Fields(node, "service provider", _SP_KEYS)
    if "entity_id" not in fields:
        raise node.fail("service provider needs an entity_id")
    entity_id = fields["entity_id"].string("entity_id")
    if len(entity_id) > MAX_ENTITY_ID:
        raise fields["entity_id"].fail(f"entity_id is longer than {MAX_ENTITY_ID} characters "
                                       "(SAML Core §8.3.6)")
    default_acs = (aws_acs,) if entity_id == AWS_ENTITY_ID else ()
    acs_urls = fields.strings("acs_urls", default_acs)
    if not acs_urls:
        raise node.fail(f"service provider {entity_id} needs acs_urls")
    for url in acs_urls:
        if not _is_acs_url(url):
            raise fields["acs_urls"].fail(f"ACS URL {url!r} must be an absolute http(s) URL "
                                          "with a host and no user name or spaces")
    name_id_format = _choice(
        fields, "name_id_format", NameIDFormat.from_name, NameIDFormat.PERSISTENT
    )
    if name_id_format not in ISSUABLE_NAMEID_FORMATS:
        raise fields["name_id_format"].fail(
            f"name_id_format must be one of: {', '.join(f.value for f in ISSUABLE_NAMEID_FORMATS)}"
        )
    certificates = _certificates(fields["certificates"], base) if "certificates" in fields else ()
    want_signed = fields.boolean("want_authn_requests_signed", False)
    if want_signed and not certificates:
        raise fields["want_authn_requests_signed"].fail(
            "want_authn_requests_signed needs the SP's certificates to check signatures with"
        )
    return ServiceProvider(
        entity_id=entity_id,
        acs_urls=acs_urls,
        name_id_format=name_id_format,
        signing=_signing_policy(fields),
        want_authn_requests_signed=want_signed,
        certificates=certificates,
        audience=fields.string("audience", None),
        release=fields.strings("release", ("email", "display_name", "groups")),
        session_duration=fields.integer("session_duration", 900, 43200, None),
        role_session_name=fields.string("role_session_name", "email"),
        source_identity=fields.string("source_identity", None),
        role_value_order=_choice(fields, "role_value_order", _role_value_order,
                                 RoleValueOrder.ROLE_PROVIDER),
    )


def _role_value_order(text: str) -> RoleValueOrder:
    """``role,provider`` or ``provider,role`` (spaces around the comma allowed)."""
    return RoleValueOrder(",".join(part.strip() for part in text.split(",")))


def _service_providers(
    node: _Node | None, aws_acs: str, base: Path | None
) -> dict[str, ServiceProvider]:
    sps: dict[str, ServiceProvider] = {}
    for item in node.sequence("service_providers") if node is not None else []:
        sp = _service_provider(item, aws_acs, base)
        if sp.entity_id in sps:
            raise item.fail(f"service provider {sp.entity_id} is listed twice")
        sps[sp.entity_id] = sp
    # AWS is always registered (issue contract); the default ACS is our own console.
    sps.setdefault(AWS_ENTITY_ID, ServiceProvider(entity_id=AWS_ENTITY_ID, acs_urls=(aws_acs,)))
    return sps


def _iter_docs(text: str, source: str) -> Iterator[yaml.Node]:
    try:
        yield from yaml.compose_all(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or str(exc)
        raise ConfigError(f"YAML syntax error: {problem}", source=source, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", source=source) from None
    except RecursionError:  # PyYAML composes recursively: [[[[... a few thousand deep
        raise ConfigError("YAML is nested too deeply", source=source) from None


#: Replaced by this simulator's OIDC issuer without its scheme (``parse_directory``).
OWN_ISSUER_PLACEHOLDER: Final = "${idp:oidc}"


def parse_directory(
    text: str, *, aws_acs: str, source: str = "<config>", base: Path | None = None
) -> Directory:
    """Build a ``Directory`` from YAML text; ``aws_acs`` is the AWS SP's default ACS URL.

    ``${idp:oidc}`` anywhere in the text stands for this simulator's own OIDC issuer without
    its scheme (``127.0.0.1:8000/oidc``): what an IAM OIDC provider's ARN and condition keys
    name, so a trust policy for the simulator's own tokens works on any port.
    """
    issuer = own_oidc_issuer(aws_acs)
    text = text.replace(OWN_ISSUER_PLACEHOLDER, issuer.split("://", 1)[-1])
    docs = list(_iter_docs(text, source))
    if len(docs) != 1:
        raise ConfigError("expected exactly one YAML document", source=source, line=1)
    top = _Node(docs[0], source).mapping(
        "the top level",
        frozenset({"accounts", "groups", "users", "service_providers", "compat",
                   "instances", "tasks", "oidc_clients"}),
    )
    empty = _Node(yaml.MappingNode("tag:yaml.org,2002:map", []), source)
    accounts = _accounts(top.get("accounts", empty), base, issuer)
    groups = _groups(top.get("groups", empty), accounts)
    users = _users(top.get("users", empty), groups, accounts)
    sps = _service_providers(top.get("service_providers"), aws_acs, base)
    compat = top.get("compat")
    vendors: frozenset[Vendor] = frozenset()
    if compat is not None and not compat.is_null:
        names = [n for entry in compat.strings("compat") for n in entry.split(",") if n.strip()]
        unknown = [n for n in names if n.strip().lower() not in {v.value for v in Vendor}]
        if unknown:
            raise compat.fail(f"unknown compat surface {unknown[0]!r}; choose from "
                              + ", ".join(v.value for v in Vendor))
        vendors = parse_vendors(names, source=source)
    return Directory(
        users=users, groups=groups, accounts=accounts, service_providers=sps, source=source,
        compat=vendors,
        instances=_instances(top.get("instances", empty), accounts),
        tasks=_tasks(top.get("tasks", empty), accounts),
        oidc_clients=_oidc_clients(top.get("oidc_clients", empty)),
        oidc_issuer=issuer,
    )


#: ``i-`` and 8 or 17 hex digits (EC2 API Reference, "Resource IDs").
INSTANCE_ID_RE: Final = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})", re.ASCII)
#: Task IDs travel in a URL path segment: letters, digits and ``-_.``.
TASK_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", re.ASCII)
_REGION_RE: Final = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}", re.ASCII)
_INSTANCE_KEYS: Final = frozenset({
    "account", "role", "instance_profile", "region", "availability_zone", "http_tokens",
    "hop_limit", "hops", "instance_type", "image_id", "private_ip"})
_TASK_KEYS: Final = frozenset({"account", "role", "authorization_token", "region"})
_CLIENT_KEYS: Final = frozenset({"redirect_uris", "secret", "secret_hash", "name"})


def _workload_role(fields: _Fields, accounts: dict[str, Account], what: str,
                   required: bool) -> tuple[str, str | None]:
    """The workload's account and role ARN: the role must be one of that account's."""
    account_id = fields.string("account", None)
    if account_id is None or account_id not in accounts:
        node = fields["account"] if "account" in fields else fields.node
        raise node.fail(f"{what} needs account: one of the accounts of this file "
                        f"({', '.join(sorted(accounts)) or 'none'})")
    role = fields.string("role", None)
    if role is None:
        if required:
            raise fields.node.fail(f"{what} needs role: a role ARN or name of {account_id}")
        return account_id, None
    arn = role if role.startswith("arn:") else f"arn:aws:iam::{account_id}:role/{role}"
    known = {r.arn for r in accounts[account_id].roles}
    if arn not in known:
        raise fields["role"].fail(f"{what}: role {role!r} is not a role of {account_id}")
    return account_id, arn


def _region(fields: _Fields) -> str:
    region = fields.string("region", "us-east-1")
    if not _REGION_RE.fullmatch(region):
        raise fields["region"].fail(f"region {region!r} is not a region name such as us-east-1")
    return region


def _instances(node: _Node, accounts: dict[str, Account]) -> dict[str, Instance]:
    found: dict[str, Instance] = {}
    for instance_id, body in node.mapping("instances").items():
        if not INSTANCE_ID_RE.fullmatch(instance_id):
            raise body.fail(f"instance id {instance_id!r} must be i- and 8 or 17 lower-case "
                            "hex digits")
        fields = _Fields(body, f"instance {instance_id}", _INSTANCE_KEYS)
        account_id, role_arn = _workload_role(fields, accounts, f"instance {instance_id}",
                                              required=False)
        tokens = fields.string("http_tokens", "required")
        if tokens not in ("required", "optional"):
            raise fields["http_tokens"].fail("http_tokens must be required or optional")
        profile = fields.string("instance_profile", None)
        if profile is not None and not ROLE_NAME_RE.fullmatch(profile):
            raise fields["instance_profile"].fail(f"instance_profile {profile!r} is not a "
                                                  "valid IAM name")
        found[instance_id] = Instance(
            id=instance_id, account_id=account_id, role_arn=role_arn, instance_profile=profile,
            region=_region(fields), availability_zone=fields.string("availability_zone", None),
            http_tokens=tokens, hop_limit=fields.integer("hop_limit", 1, 64, 2),
            hops=fields.integer("hops", 1, 64, 1),
            instance_type=fields.string("instance_type", "t3.micro"),
            image_id=fields.string("image_id", "ami-0123456789abcdef0"),
            private_ip=fields.string("private_ip", "10.0.0.10"))
    return found


def _tasks(node: _Node, accounts: dict[str, Account]) -> dict[str, ContainerTask]:
    found: dict[str, ContainerTask] = {}
    for task_id, body in node.mapping("tasks").items():
        if not TASK_ID_RE.fullmatch(task_id):
            raise body.fail(f"task id {task_id!r}: 1-128 of letters, digits and _.- ")
        fields = _Fields(body, f"task {task_id}", _TASK_KEYS)
        account_id, role_arn = _workload_role(fields, accounts, f"task {task_id}",
                                              required=True)
        token = fields.string("authorization_token", None)
        if token is not None and (not token or any(c in token for c in "\r\n\0")
                                  or len(token) > 4096):
            raise fields["authorization_token"].fail(
                "authorization_token: 1-4096 characters, no line breaks")
        assert role_arn is not None
        found[task_id] = ContainerTask(id=task_id, account_id=account_id, role_arn=role_arn,
                                       authorization_token=token, region=_region(fields))
    return found


def _oidc_clients(node: _Node) -> dict[str, OidcClient]:
    found: dict[str, OidcClient] = {}
    for client_id, body in node.mapping("oidc_clients").items():
        if not 1 <= len(client_id) <= 255 or not client_id.isprintable() or " " in client_id:
            raise body.fail(f"client id {client_id!r}: 1-255 printable characters, no spaces")
        fields = _Fields(body, f"OIDC client {client_id}", _CLIENT_KEYS)
        uris = fields.strings("redirect_uris")
        if not uris:
            raise fields.node.fail(f"OIDC client {client_id} needs redirect_uris")
        for uri in uris:
            parts = urlsplit(uri)
            if parts.scheme not in ("http", "https") or not parts.netloc or "#" in uri:
                raise fields["redirect_uris"].fail(
                    f"redirect URI {uri!r} must be an absolute http(s) URL without a fragment")
        secret_hash: str | None = None
        if "secret" in fields and "secret_hash" in fields:
            raise fields.node.fail(f"OIDC client {client_id}: secret or secret_hash, not both")
        if "secret" in fields:
            secret_hash = hash_password(fields["secret"].string("secret"))
        elif "secret_hash" in fields:
            secret_hash = fields["secret_hash"].string("secret_hash")
            if not is_hash(secret_hash):
                raise fields["secret_hash"].fail(
                    "secret_hash must look like pbkdf2-sha256$ITERATIONS$SALT$HASH")
        found[client_id] = OidcClient(client_id=client_id, redirect_uris=uris,
                                      secret_hash=secret_hash, name=fields.string("name", None))
    return found


def load_directory(path: Path, *, aws_acs: str) -> Directory:
    """Read and validate a directory file; ``ConfigError`` says file, line and problem."""
    return parse_directory(read_directory_file(path), aws_acs=aws_acs, source=str(path),
                           base=path.parent)


def read_directory_file(path: Path) -> str:
    """A directory file's text: readable, at most 4 MiB, UTF-8 (else ``ConfigError``)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", source=str(path)) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError("config file is larger than 4 MiB", source=str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"config file is not UTF-8 (byte {exc.start})"
        raise ConfigError(problem, source=str(path)) from None
    return text


def demo_yaml() -> str:
    """The built-in demo directory, as the YAML ``idp config --demo`` prints."""
    # Beside this module in any ordinary install; importlib.resources (which imports zipfile
    # and its readers at every start) only for a package that is not in files (a zip).
    try:
        return Path(__file__).with_name("demo.yaml").read_text("utf-8")
    except OSError:
        from importlib import resources

        return resources.files("idp.directory").joinpath("demo.yaml").read_text("utf-8")


def demo_directory(*, aws_acs: str) -> Directory:
    return parse_directory(demo_yaml(), aws_acs=aws_acs, source="<demo>")
