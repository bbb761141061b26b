"""Runtime edits of the directory: add or remove users, roles and service providers.

The directory is kept as *data* (the mapping a directory YAML file holds). An edit changes a
copy of that data, and the whole copy is validated again by the same loader that reads files
(``parse_directory``), so an edit is accepted exactly when a file saying the same would be,
and a refused edit changes nothing: the caller keeps the previous document and ``Directory``.

Plain passwords are hashed once, when a user is added (or the document is first read); the
data then holds only ``password_hash`` values, so no edit re-hashes anyone.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from idp.directory.loader import parse_directory
from idp.directory.model import ACCOUNT_ID_RE, AWS_ENTITY_ID, Directory
from idp.directory.passwords import hash_password
from idp.errors import ConfigError, DirectoryEditError, XMLError
from idp.saml.constants import DS, ISSUABLE_NAMEID_FORMATS, MD, NameIDFormat
from idp.xml import parse, text_of

__all__ = ["DirectoryDocument", "resolve_role", "sp_entry", "sp_from_metadata"]

_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _TextLoader(_BASE_LOADER):  # type: ignore[misc,valid-type]
    """YAML as the directory loader reads it: every scalar is text (``on``, ``no``, an
    unquoted account ID stay what they say), only an empty value is null."""


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag == "tag:yaml.org,2002:null"]
    for first, resolvers in _BASE_LOADER.yaml_implicit_resolvers.items()
}
_LOADER = _TextLoader
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
_POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
_MAX_METADATA_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DirectoryDocument:
    """A directory as data plus where relative paths in it point; ``build`` validates it."""

    data: Mapping[str, Any]
    aws_acs: str
    base: Path | None = None

    @classmethod
    def read(cls, text: str, *, aws_acs: str, source: str, base: Path | None = None
             ) -> tuple[DirectoryDocument, Directory]:
        """Parse directory YAML (``ConfigError`` with file and line if it is wrong)."""
        directory = parse_directory(text, aws_acs=aws_acs, source=source, base=base)
        data = yaml.load(text, Loader=_LOADER) or {}  # noqa: S506 (a safe loader)
        for name, body in (data.get("users") or {}).items():
            if isinstance(body, dict) and "password" in body:
                body.pop("password")
                body["password_hash"] = directory.users[str(name)].password_hash
        for account_id, account in (data.get("accounts") or {}).items():
            iam_users = account.get("iam_users") if isinstance(account, dict) else None
            specs = {u.name: u for u in directory.accounts[str(account_id)].iam_users}
            for name, body in (iam_users or {}).items():
                if isinstance(body, dict) and "password" in body:
                    body.pop("password")
                    body["password_hash"] = specs[str(name)].password_hash
        return cls(data=data, aws_acs=aws_acs, base=base), directory

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, aws_acs: str, base: Path | None = None
                  ) -> tuple[DirectoryDocument, Directory]:
        """Like ``read``, from the mapping a directory YAML file would hold."""
        try:
            text = yaml.dump(dict(data), Dumper=_DUMPER, sort_keys=False, allow_unicode=True)
        except yaml.YAMLError as exc:
            raise ConfigError(f"the directory mapping cannot be written as YAML: {exc}",
                              source="<mapping>") from None
        return cls.read(text, aws_acs=aws_acs, source="<mapping>", base=base)

    def build(self) -> Directory:
        """The ``Directory`` this data describes; ``DirectoryEditError`` if it is invalid."""
        try:
            text = yaml.dump(dict(self.data), Dumper=_DUMPER, sort_keys=False,
                             allow_unicode=True)
        except yaml.YAMLError as exc:  # a value YAML cannot hold (an object, a set...)
            raise DirectoryEditError(f"the edit holds a value a directory cannot: {exc}"
                                     .splitlines()[0]) from None
        try:
            return parse_directory(text, aws_acs=self.aws_acs, source="<runtime>",
                                   base=self.base)
        except ConfigError as exc:
            raise DirectoryEditError(exc.message) from None

    def _edited(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.data))

    # --- users ------------------------------------------------------------------------------

    def with_user(self, name: str, *, password: str, email: str | None = None,
                  display_name: str | None = None, roles: Iterable[str] = (),
                  groups: Iterable[str] = (), totp_secret: str | None = None,
                  attributes: Mapping[str, str | Iterable[str]] | None = None,
                  principal_tags: Mapping[str, str] | None = None,
                  source_identity: str | None = None, replace: bool = False,
                  directory: Directory | None = None) -> DirectoryDocument:
        """A copy with user ``name`` added (``replace``: or replaced). ``roles`` are role ARNs
        or names (a name must be unique across accounts; ``directory`` resolves it)."""
        _required(name, "name")
        _required(password, "password")
        data = self._edited()
        users = data.setdefault("users", {}) or {}
        data["users"] = users
        if name in users and not replace:
            raise DirectoryEditError(f"user {name} already exists", field="name")
        body: dict[str, Any] = {
            "password_hash": hash_password(password),
            "email": email or f"{name}@example.test",
            "display_name": display_name or name,
            "groups": list(groups),
        }
        if roles:
            body["roles"] = [resolve_role(role, directory or self.build()) for role in roles]
        if totp_secret is not None:
            body["totp_secret"] = totp_secret
        if attributes:
            body["attributes"] = {str(k): [v] if isinstance(v, str) else list(v)
                                  for k, v in attributes.items()}
        if principal_tags:
            body["principal_tags"] = dict(principal_tags)
        if source_identity is not None:
            body["source_identity"] = source_identity
        users[name] = body
        return DirectoryDocument(data, self.aws_acs, self.base)

    def without_user(self, name: str) -> DirectoryDocument:
        data = self._edited()
        users = data.get("users") or {}
        if name not in users:
            raise DirectoryEditError(f"no user {name}", field="name", status=404)
        del users[name]
        return DirectoryDocument(data, self.aws_acs, self.base)

    def with_grant(self, user: str, role: str, directory: Directory) -> DirectoryDocument:
        """A copy where ``user`` is also granted ``role`` (ARN or unique name)."""
        return self._granting(user, role, directory, grant=True)

    def without_grant(self, user: str, role: str, directory: Directory) -> DirectoryDocument:
        """A copy where ``user`` no longer holds ``role`` directly (group grants stay)."""
        return self._granting(user, role, directory, grant=False)

    def _granting(self, user: str, role: str, directory: Directory, *, grant: bool
                  ) -> DirectoryDocument:
        data = self._edited()
        body = (data.get("users") or {}).get(user)
        if body is None:
            raise DirectoryEditError(f"no user {user}", field="user", status=404)
        arn = resolve_role(role, directory)
        roles = list(body.get("roles") or [])
        if grant and arn not in roles:
            roles.append(arn)
        elif not grant:
            if arn not in roles:
                raise DirectoryEditError(f"user {user} is not granted {arn} directly",
                                         field="role", status=404)
            roles.remove(arn)
        body["roles"] = roles
        return DirectoryDocument(data, self.aws_acs, self.base)

    # --- roles ------------------------------------------------------------------------------

    def default_account(self) -> str:
        """The account a role goes to when none is named: the directory's first."""
        accounts = self.data.get("accounts") or {}
        if not accounts:
            raise DirectoryEditError("the directory has no account; pass account=",
                                     field="account")
        return str(next(iter(accounts)))

    def with_role(self, name: str, *, account: str | None = None,
                  max_session_duration: int = 3600, trust_policy: Mapping[str, Any] | None = None,
                  path: str = "/", users: Iterable[str] = ()) -> DirectoryDocument:
        """A copy with role ``name`` in ``account`` (default: ``default_account()``; a new
        account ID makes a new account with a ``CorpIdP`` SAML provider), granted directly to
        each of ``users``. Its ARN is ``arn:aws:iam::ACCOUNT:role{path}{name}``."""
        _required(name, "name")
        account = account if account is not None else self.default_account()
        data = self._edited()
        accounts = data.setdefault("accounts", {}) or {}
        data["accounts"] = accounts
        if not ACCOUNT_ID_RE.fullmatch(str(account)):
            raise DirectoryEditError(f"account {account!r} is not a 12-digit account ID",
                                     field="account")
        body = accounts.setdefault(str(account), {"saml_provider": "CorpIdP", "roles": {}})
        roles = body.get("roles") or {}
        body["roles"] = roles
        if name in roles:
            raise DirectoryEditError(f"role {name} already exists in account {account}",
                                     field="name")
        role: dict[str, Any] = {"max_session_duration": max_session_duration}
        if path != "/":
            role["path"] = path
        if trust_policy is not None:
            role["trust_policy"] = dict(trust_policy)
        roles[name] = role
        arn = f"arn:aws:iam::{account}:role{path}{name}"
        for user in users:
            body = (data.get("users") or {}).get(user)
            if body is None:
                raise DirectoryEditError(f"no user {user}", field="users", status=404)
            body["roles"] = [*(body.get("roles") or []), arn]
        return DirectoryDocument(data, self.aws_acs, self.base)

    # --- service providers ------------------------------------------------------------------

    def with_service_provider(self, entry: Mapping[str, Any], *, replace: bool = False
                              ) -> DirectoryDocument:
        """A copy with the SP ``entry`` (the keys a ``service_providers`` item takes)."""
        entity_id = entry.get("entity_id")
        if not isinstance(entity_id, str) or not entity_id:
            raise DirectoryEditError("a service provider needs an entity_id", field="entity_id")
        data = self._edited()
        sps = [sp for sp in (data.get("service_providers") or [])
               if not (isinstance(sp, dict) and sp.get("entity_id") == entity_id)]
        if len(sps) != len(data.get("service_providers") or []) and not replace:
            raise DirectoryEditError(f"service provider {entity_id} already exists",
                                     field="entity_id")
        if entity_id == AWS_ENTITY_ID and not replace:
            raise DirectoryEditError(f"{AWS_ENTITY_ID} is always registered",
                                     field="entity_id")
        for pem in entry.get("certificates") or ():
            # Inline PEM only: the loader would read a path, and an edit must not read files.
            if not isinstance(pem, str) or _PEM_CERTIFICATE not in pem:
                raise DirectoryEditError("certificates must be PEM text "
                                         "(-----BEGIN CERTIFICATE-----...)", field="certificates")
        sps.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in entry.items()
                    if v is not None})
        data["service_providers"] = sps
        return DirectoryDocument(data, self.aws_acs, self.base)


def sp_entry(*, metadata_xml: bytes | None = None, options: Mapping[str, Any] | None = None
             ) -> dict[str, Any]:
    """A ``service_providers`` entry: from SP metadata (``sp_from_metadata``) with
    ``options`` overriding what it says, or from ``options`` alone (``entity_id`` and
    ``acs_urls`` then required)."""
    given = {k: v for k, v in (options or {}).items() if v is not None}
    if (metadata_xml is None) == ("entity_id" not in given):
        raise DirectoryEditError("send metadata_xml or entity_id (with acs_urls), not both",
                                 field="metadata_xml" if metadata_xml is not None
                                 else "entity_id")
    if metadata_xml is None:
        if not given.get("acs_urls") and given["entity_id"] != AWS_ENTITY_ID:
            raise DirectoryEditError("acs_urls is required with entity_id", field="acs_urls")
        return given
    entry = sp_from_metadata(metadata_xml)
    entry.update(given)
    return entry


def _required(value: object, field: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise DirectoryEditError(f"{field} must be a non-empty string", field=field)


def resolve_role(role: str, directory: Directory) -> str:
    """A role ARN, or a role name that exactly one account defines, as its ARN."""
    if role.startswith("arn:"):
        if directory.role(role) is None:
            raise DirectoryEditError(f"no account defines role {role}", field="roles")
        return role
    matches = [r.arn for a in directory.accounts.values() for r in a.roles if r.name == role]
    if not matches:
        raise DirectoryEditError(f"no account defines a role named {role}", field="roles")
    if len(matches) > 1:
        raise DirectoryEditError(f"role name {role} is ambiguous ({', '.join(matches)}); "
                                 "pass the ARN", field="roles")
    return matches[0]


def sp_from_metadata(xml: bytes) -> dict[str, Any]:
    """A ``service_providers`` entry read from SP metadata (SAML Metadata §2.4.4):
    entityID, HTTP-POST AssertionConsumerService URLs (default first), signing
    certificates, AuthnRequestsSigned and the first NameIDFormat this IdP can issue.
    (WantAssertionsSigned needs nothing: assertions are always signed by default.)"""
    try:
        root = parse(xml, max_bytes=_MAX_METADATA_BYTES)
    except XMLError as exc:
        raise DirectoryEditError(f"SP metadata is not acceptable XML: {exc}",
                                 field="metadata_xml") from None
    if root.tag == f"{MD}EntitiesDescriptor":
        found = root.find(f"{MD}EntityDescriptor")
        root = found if found is not None else root
    descriptor = root.find(f"{MD}SPSSODescriptor")
    entity_id = root.get("entityID")
    if root.tag != f"{MD}EntityDescriptor" or not entity_id or descriptor is None:
        raise DirectoryEditError("not SP metadata (needs EntityDescriptor/@entityID and an "
                                 "SPSSODescriptor)", field="metadata_xml")
    services = [s for s in descriptor.findall(f"{MD}AssertionConsumerService")
                if s.get("Binding") == _POST_BINDING and s.get("Location")]
    if not services:
        raise DirectoryEditError("SP metadata has no HTTP-POST AssertionConsumerService",
                                 field="metadata_xml")

    def order(service: Any) -> tuple[int, int]:
        index = service.get("index") or "0"
        return (0 if service.get("isDefault") in ("true", "1") else 1,
                int(index) if index.isascii() and index.isdigit() and len(index) <= 9 else 0)

    entry: dict[str, Any] = {
        "entity_id": entity_id,
        "acs_urls": [str(s.get("Location")) for s in sorted(services, key=order)],
    }
    certificates = [
        "-----BEGIN CERTIFICATE-----\n" + "".join(text_of(cert).split())
        + "\n-----END CERTIFICATE-----\n"
        for key in descriptor.findall(f"{MD}KeyDescriptor") if key.get("use") in (None, "signing")
        for cert in key.iterfind(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    ]
    if certificates:
        entry["certificates"] = certificates
    if descriptor.get("AuthnRequestsSigned") in ("true", "1"):  # xs:boolean
        entry["want_authn_requests_signed"] = True
    for fmt in descriptor.findall(f"{MD}NameIDFormat"):
        try:
            parsed = NameIDFormat(text_of(fmt).strip())
        except ValueError:
            continue
        if parsed in ISSUABLE_NAMEID_FORMATS:
            entry["name_id_format"] = parsed.value
            break
    return entry
