"""Read a directory from YAML, reporting every mistake as ``file:line: what is wrong``.

The YAML is walked as PyYAML *nodes* (not plain dicts) so each value keeps its line, duplicate
keys are caught (PyYAML would silently keep the last), and unknown keys are named.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar

import yaml

from idp.authn.passwords import hash_password, is_hash
from idp.directory.model import (
    ACCOUNT_ID_RE,
    AWS_ENTITY_ID,
    PROVIDER_NAME_RE,
    ROLE_ARN_RE,
    Account,
    Directory,
    Group,
    Role,
    User,
)
from idp.errors import ConfigError
from idp.saml.constants import ISSUABLE_NAMEID_FORMATS, NameIDFormat
from idp.saml.providers import ServiceProvider
from idp.saml.signing import Digest, SignatureAlgorithm, SigningPolicy

__all__ = ["demo_directory", "demo_yaml", "load_directory", "parse_directory"]

T = TypeVar("T")
SESSION_NAME_RE: Final = re.compile(r"^[\w+=,.@-]{2,64}$")
MAX_CONFIG_BYTES: Final = 4 * 1024 * 1024


class _Node:
    """A YAML node plus the file it came from; every accessor reports errors with its line."""

    def __init__(self, node: yaml.Node, source: str) -> None:
        self.node = node
        self.source = source

    @property
    def line(self) -> int:
        return self.node.start_mark.line + 1

    def fail(self, message: str) -> ConfigError:
        return ConfigError(message, source=self.source, line=self.line)

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
            if key in out:
                raise where.fail(f"duplicate key {key!r} in {what}")
            if allowed is not None and key not in allowed:
                raise where.fail(
                    f"unknown key {key!r} in {what} (expected one of: {', '.join(sorted(allowed))})"
                )
            out[key] = _Node(value_node, self.source)
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
        return value

    def strings(self, what: str) -> tuple[str, ...]:
        """A single value or a list of values."""
        if isinstance(self.node, yaml.ScalarNode):
            return (self.string(what),)
        return tuple(item.string(f"each entry of {what}") for item in self.sequence(what))

    def integer(self, what: str, low: int, high: int) -> int:
        text = self.string(what)
        try:
            value = int(text)
        except ValueError:
            raise self.fail(f"{what} must be a whole number, not {text!r}") from None
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
        """The node as plain Python data (for JSON-like blobs such as trust policies)."""
        return yaml.SafeLoader("").construct_document(self.node)  # type: ignore[no-untyped-call]


def _opt(
    fields: dict[str, _Node], key: str, read: Callable[[_Node], T], default: T
) -> T:
    return read(fields[key]) if key in fields else default


def _attribute_map(node: _Node, what: str) -> dict[str, tuple[str, ...]]:
    return {k: v.strings(f"{what}.{k}") for k, v in node.mapping(what).items()}


def _tags(node: _Node, what: str) -> dict[str, str]:
    tags = {k: v.string(f"{what}.{k}") for k, v in node.mapping(what).items()}
    for key in tags:
        if key.lower().startswith("aws:"):
            raise node.fail(f"{what}: tag key {key!r} may not start with 'aws:'")
    return tags


def _accounts(node: _Node) -> dict[str, Account]:
    accounts: dict[str, Account] = {}
    allowed = frozenset({"alias", "saml_provider", "roles", "provider_metadata"})
    role_keys = frozenset({"max_session_duration", "path", "trust_policy"})
    for account_id, body in node.mapping("accounts").items():
        if not ACCOUNT_ID_RE.match(account_id):
            raise body.fail(f"account id {account_id!r} must be 12 digits (quote it in YAML)")
        fields = body.mapping(f"account {account_id}", allowed)
        provider = _opt(fields, "saml_provider", lambda n: n.string("saml_provider"), "CorpIdP")
        if not PROVIDER_NAME_RE.match(provider):
            raise fields["saml_provider"].fail(f"saml_provider {provider!r} must match [\\w._-]+")
        provider_arn = f"arn:aws:iam::{account_id}:saml-provider/{provider}"
        roles = []
        for role_name, role_body in _opt(
            fields, "roles", lambda n: n.mapping(f"roles of {account_id}"), {}
        ).items():
            rf = role_body.mapping(f"role {role_name}", role_keys)
            path = _opt(rf, "path", lambda n: n.string("path"), "/")
            if not (path.startswith("/") and path.endswith("/")):
                raise rf["path"].fail("path must start and end with '/'")
            role = Role(
                account_id=account_id,
                name=role_name,
                path=path,
                max_session_duration=_opt(
                    rf, "max_session_duration",
                    lambda n: n.integer("max_session_duration", 3600, 43200), 3600,
                ),
                trust_policy=_opt(rf, "trust_policy", lambda n: n.plain(), None)
                or _default_trust_policy(provider_arn),
            )
            if not ROLE_ARN_RE.match(role.arn):
                raise role_body.fail(f"role name {role_name!r} is not a valid IAM role name")
            roles.append(role)
        accounts[account_id] = Account(
            id=account_id,
            alias=_opt(fields, "alias", lambda n: n.string("alias"), None),
            saml_provider=provider,
            roles=tuple(roles),
            provider_metadata=_opt(
                fields, "provider_metadata", lambda n: n.string("provider_metadata"), None
            ),
        )
    return accounts


def _default_trust_policy(provider_arn: str) -> dict[str, Any]:
    """Trust this account's SAML provider for AssumeRoleWithSAML (AWS's wizard, minus aud)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithSAML",
            }
        ],
    }


def _groups(node: _Node, accounts: dict[str, Account]) -> dict[str, Group]:
    known_roles = {role.arn for acct in accounts.values() for role in acct.roles}
    allowed = frozenset({"roles", "attributes", "principal_tags", "session_duration"})
    groups: dict[str, Group] = {}
    for name, body in node.mapping("groups").items():
        fields = body.mapping(f"group {name}", allowed)
        roles: list[str] = []
        for item in _opt(fields, "roles", lambda n: n.sequence(f"roles of group {name}"), []):
            arn = item.string("role ARN").strip()
            if not ROLE_ARN_RE.match(arn):
                raise item.fail(f"{arn!r} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
            if arn not in known_roles:
                raise item.fail(f"group {name} grants {arn}, which no account defines")
            roles.append(arn)
        groups[name] = Group(
            name=name,
            roles=tuple(roles),
            attributes=_opt(fields, "attributes", lambda n: _attribute_map(n, "attributes"), {}),
            principal_tags=_opt(fields, "principal_tags", lambda n: _tags(n, "principal_tags"), {}),
            session_duration=_opt(
                fields, "session_duration",
                lambda n: n.integer("session_duration", 900, 43200), None,
            ),
        )
    return groups


def _totp_secret(node: _Node) -> str:
    secret = node.string("totp_secret").replace(" ", "").upper()
    try:
        raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
    except (binascii.Error, ValueError):
        raise node.fail("totp_secret must be base32 (A-Z, 2-7)") from None
    if len(raw) * 8 < 128:
        raise node.fail(f"totp_secret is {len(raw) * 8} bits; use at least 128 (RFC 4226 §4)")
    return secret


def _users(node: _Node, groups: dict[str, Group]) -> dict[str, User]:
    allowed = frozenset({
        "password", "password_hash", "display_name", "email", "groups", "totp_secret",
        "attributes", "principal_tags", "source_identity",
    })
    users: dict[str, User] = {}
    for username, body in node.mapping("users").items():
        fields = body.mapping(f"user {username}", allowed)
        if ("password" in fields) == ("password_hash" in fields):
            raise body.fail(f"user {username} needs exactly one of password / password_hash")
        if "password" in fields:
            password_hash = hash_password(fields["password"].string("password"))
        else:
            password_hash = fields["password_hash"].string("password_hash")
            if not is_hash(password_hash):
                raise fields["password_hash"].fail(
                    "password_hash must look like pbkdf2-sha256$ITERATIONS$SALT$HASH"
                )
        if "email" not in fields:
            raise body.fail(f"user {username} needs an email")
        email = fields["email"].string("email")
        if "@" not in email:
            raise fields["email"].fail(f"email {email!r} has no '@'")
        member_of = _opt(fields, "groups", lambda n: n.strings("groups"), ())
        for group in member_of:
            if group not in groups:
                raise fields["groups"].fail(f"user {username} is in group {group!r}, not defined")
        users[username] = User(
            username=username,
            password_hash=password_hash,
            display_name=_opt(fields, "display_name", lambda n: n.string("display_name"), username),
            email=email,
            groups=member_of,
            totp_secret=_opt(fields, "totp_secret", _totp_secret, None),
            attributes=_opt(fields, "attributes", lambda n: _attribute_map(n, "attributes"), {}),
            principal_tags=_opt(fields, "principal_tags", lambda n: _tags(n, "principal_tags"), {}),
            source_identity=_opt(
                fields, "source_identity", lambda n: n.string("source_identity"), None
            ),
        )
    return users


def _certificates(node: _Node, base: Path | None) -> tuple[str, ...]:
    out = []
    for value in node.strings("certificates"):
        if "-----BEGIN CERTIFICATE-----" in value:
            out.append(value)
            continue
        path = Path(value) if base is None or Path(value).is_absolute() else base / value
        try:
            out.append(path.read_text("ascii"))
        except (OSError, UnicodeDecodeError) as exc:
            raise node.fail(f"cannot read certificate {path}: {exc}") from None
    return tuple(out)


_SP_KEYS: Final = frozenset({
    "entity_id", "acs_urls", "name_id_format", "sign_assertion", "sign_response",
    "signature_algorithm", "digest_algorithm", "want_authn_requests_signed", "certificates",
    "audience", "release", "session_duration", "role_session_name", "source_identity",
})


def _service_provider(node: _Node, aws_acs: str, base: Path | None) -> ServiceProvider:
    fields = node.mapping("service provider", _SP_KEYS)
    if "entity_id" not in fields:
        raise node.fail("service provider needs an entity_id")
    entity_id = fields["entity_id"].string("entity_id")
    is_aws = entity_id == AWS_ENTITY_ID
    default_acs = (aws_acs,) if is_aws else ()
    acs_urls = _opt(fields, "acs_urls", lambda n: n.strings("acs_urls"), default_acs)
    if not acs_urls:
        raise node.fail(f"service provider {entity_id} needs acs_urls")
    for url, where in zip(acs_urls, [fields.get("acs_urls", node)] * len(acs_urls), strict=True):
        if not url.startswith(("http://", "https://")):
            raise where.fail(f"ACS URL {url!r} must be an http(s) URL")

    def enum_of(key: str, parse: Callable[[str], T], default: T) -> T:
        if key not in fields:
            return default
        text = fields[key].string(key)
        try:
            return parse(text)
        except (ValueError, KeyError):
            raise fields[key].fail(f"unsupported {key} {text!r}") from None

    name_id_format = enum_of("name_id_format", NameIDFormat.from_name, NameIDFormat.PERSISTENT)
    if name_id_format not in ISSUABLE_NAMEID_FORMATS:
        raise fields["name_id_format"].fail(
            f"name_id_format must be one of: {', '.join(f.value for f in ISSUABLE_NAMEID_FORMATS)}"
        )
    try:
        signing = SigningPolicy(
            sign_assertion=_opt(fields, "sign_assertion", lambda n: n.boolean("sign_assertion"), True),
            sign_response=_opt(fields, "sign_response", lambda n: n.boolean("sign_response"), False),
            signature_algorithm=enum_of(
                "signature_algorithm", SignatureAlgorithm.from_name, SignatureAlgorithm.RSA_SHA256
            ),
            digest=enum_of("digest_algorithm", Digest.from_name, Digest.SHA256),
        )
    except ValueError as exc:
        raise node.fail(str(exc)) from None
    certificates = _opt(fields, "certificates", lambda n: _certificates(n, base), ())
    want_signed = _opt(
        fields, "want_authn_requests_signed", lambda n: n.boolean("want_authn_requests_signed"),
        False,
    )
    if want_signed and not certificates:
        raise fields["want_authn_requests_signed"].fail(
            "want_authn_requests_signed needs the SP's certificates to check signatures with"
        )
    role_session_name = _opt(
        fields, "role_session_name", lambda n: n.string("role_session_name"), "email"
    )
    return ServiceProvider(
        entity_id=entity_id,
        acs_urls=acs_urls,
        name_id_format=name_id_format,
        signing=signing,
        want_authn_requests_signed=want_signed,
        certificates=certificates,
        audience=_opt(fields, "audience", lambda n: n.string("audience"), None),
        release=_opt(fields, "release", lambda n: n.strings("release"), ("email", "display_name", "groups")),
        session_duration=_opt(
            fields, "session_duration", lambda n: n.integer("session_duration", 900, 43200), None
        ),
        role_session_name=role_session_name,
        source_identity=_opt(fields, "source_identity", lambda n: n.string("source_identity"), None),
    )


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
        yield from yaml.compose_all(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"YAML syntax error: {exc.problem or exc}", source=source, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", source=source) from None


def parse_directory(
    text: str, *, aws_acs: str, source: str = "<config>", base: Path | None = None
) -> Directory:
    """Build a ``Directory`` from YAML text; ``aws_acs`` is the AWS SP's default ACS URL."""
    docs = list(_iter_docs(text, source))
    if len(docs) != 1:
        raise ConfigError("expected exactly one YAML document", source=source, line=1)
    top = _Node(docs[0], source).mapping(
        "the top level", frozenset({"accounts", "groups", "users", "service_providers"})
    )
    empty = _Node(yaml.MappingNode("tag:yaml.org,2002:map", []), source)
    accounts = _accounts(top.get("accounts", empty))
    groups = _groups(top.get("groups", empty), accounts)
    users = _users(top.get("users", empty), groups)
    sps = _service_providers(top.get("service_providers"), aws_acs, base)
    return Directory(
        users=users, groups=groups, accounts=accounts, service_providers=sps, source=source
    )


def load_directory(path: Path, *, aws_acs: str) -> Directory:
    """Read and validate a directory file; ``ConfigError`` says file, line and problem."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", source=str(path)) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError("config file is larger than 4 MiB", source=str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file is not UTF-8 (byte {exc.start})", source=str(path)) from None
    return parse_directory(text, aws_acs=aws_acs, source=str(path), base=path.parent)


def demo_yaml() -> str:
    """The built-in demo directory, as the YAML ``idp config --demo`` prints."""
    return resources.files("idp.directory").joinpath("demo.yaml").read_text("utf-8")


def demo_directory(*, aws_acs: str) -> Directory:
    return parse_directory(demo_yaml(), aws_acs=aws_acs, source="<demo>")
