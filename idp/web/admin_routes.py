"""The admin API under ``/api/`` (JSON): what ``Simulator`` does in-process, over HTTP.

Served only by ``idp serve --admin`` (one worker: the changes are one process's). A test suite
written in any language drives the simulator with it: add users, roles and service providers,
roll the signing key over, move the clock, inject faults, read the exchange log, mint
Responses, reset. Each operation calls the same core as ``Simulator`` (``Runtime.edit`` with
``DirectoryDocument.with_user`` and friends, ``Runtime.stage_key``…), so a directory edit is
validated as a whole and is applied completely or not at all.

**Authentication.** Every request under ``/api`` (unknown paths included) needs
``Authorization: Bearer TOKEN``. The token is new at every start (``secrets.token_urlsafe``),
printed in the banner and written to ``DATA_DIR/admin-token`` (mode 0600, no newline). A
missing, malformed or wrong token is ``401`` with ``WWW-Authenticate: Bearer`` and nothing is
read or changed (the body is not even read).

**Requests.** Inputs are a JSON object body (``Content-Type: application/json``, UTF-8, at most
1 MiB), parsed strictly: not an object, duplicate keys, ``NaN``/``Infinity``, an unknown field
or a value of the wrong type is ``400`` naming the field. A JSON ``null`` is the same as leaving
an optional field out (except ``count`` of ``POST /api/faults``). An empty body is ``{}``.
``GET`` bodies are not read; query parameters are strict too (unknown or repeated: ``400``).
A trailing ``/`` is accepted on every path; ``HEAD`` is ``GET`` without a body.

**Answers.** JSON objects, ``Cache-Control: no-store``. Refusals are
``{"error": "one line", "field": "the input at fault, or null"}`` with a 4xx status: ``400``
bad input, ``401`` token, ``404`` no such user/role/SP or endpoint, ``405`` wrong method (with
``Allow``), ``408`` body too slow, ``409`` a key rollover step out of order, a clock that cannot
move, or a mint for a role the user lacks (or a user the SP cannot be sent), ``413`` body over
1 MiB, ``415`` body not JSON (or SP metadata XML where taken). A refusal changes nothing. A
refusal by the directory's own validation (a bad email, an undefined group…) says what is
wrong with ``"field": null``: the loader does not say which input it was.

Objects in answers::

    USER  {"name", "email", "display_name", "groups": [str], "roles": [direct role ARNs],
           "effective_roles": [role ARNs from groups and direct grants], "mfa": bool,
           "attributes": {name: [str]}, "principal_tags": {key: str},
           "source_identity": str|null}                         (no password, no TOTP secret)
    ROLE  {"arn", "name", "account", "account_alias", "path", "max_session_duration",
           "provider_arn", "trust_policy": {...}}
    SP    {"entity_id", "acs_urls": [str], "name_id_format", "sign_assertion", "sign_response",
           "signature_algorithm", "digest_algorithm", "want_authn_requests_signed",
           "certificates": [SHA-256 fingerprints], "audience", "release": [str],
           "session_duration", "role_session_name", "source_identity", "role_value_order"}
    KEY   {"slot": "signing"|"next"|"previous"|"retired", "signing": bool, "published": bool,
           "sha256_fingerprint": "AB:CD:…", "not_before", "not_after", "key_size"}
    CLOCK {"now": "2030-01-01T00:00:00.000Z", "frozen": bool, "offset_seconds": float}
    FAULT {"fault", "sp": str|null, "remaining": int|null}      (null remaining: standing)

Endpoints (``{…}`` is a path parameter; ``?`` marks an optional field)::

    GET    /api                          → 200 {"endpoints": [{"method", "path", "body",
                                                               "summary"}]}
    GET    /api/users                    → 200 {"users": [USER]}
    POST   /api/users                    {name, password, email?, display_name?, roles?: [ARN
                                          or unique role name], groups?: [str], totp_secret?,
                                          attributes?: {name: str|[str]}, principal_tags?:
                                          {key: str}, source_identity?}
                                         → 201 {"user": USER}
    GET    /api/users/{name}             → 200 {"user": USER}                   (404: no user)
    DELETE /api/users/{name}             → 200 {"deleted": name}
    POST   /api/users/{name}/roles       {role}  (ARN or unique name)  → 200 {"user": USER}
    DELETE /api/users/{name}/roles       {role} or ?role=ARN           → 200 {"user": USER}
    GET    /api/roles                    → 200 {"roles": [ROLE]}
    POST   /api/roles                    {name, account?, max_session_duration?,
                                          trust_policy?: {...}, path?, users?: [name]}
                                         → 201 {"role": ROLE}
    GET    /api/service-providers        → 200 {"service_providers": [SP]}
    POST   /api/service-providers        {metadata_xml, and SP keys to override?}
                                         or {entity_id, acs_urls, name_id_format?,
                                          sign_assertion?, sign_response?, signature_algorithm?,
                                          digest_algorithm?, want_authn_requests_signed?,
                                          certificates?: [PEM], audience?, release?,
                                          session_duration?, role_session_name?,
                                          source_identity?, role_value_order?}
                                         or the SP's metadata XML itself as the body
                                          (Content-Type application/samlmetadata+xml,
                                          application/xml or text/xml)
                                         → 201 {"service_provider": SP, "replaced": false}, or
                                           200 with "replaced": true for a known entity ID
    GET    /api/keys                     → 200 {"keys": [KEY]}   (signing first; all published)
    POST   /api/keys                     stage a new key: in metadata, not signing
                                         → 201 {"key": KEY, "keys": [KEY]}
    POST   /api/keys/promote             the staged key signs; the old one stays published
                                         → 200 {"key": KEY, "keys": [KEY]}
    POST   /api/keys/retire              the previous key leaves metadata (and AWS's trust)
                                         → 200 {"key": KEY (slot "retired"), "keys": [KEY]}
    GET    /api/clock                    → 200 CLOCK
    POST   /api/clock                    exactly one of {freeze: ISO 8601 with zone | true},
                                         {advance: seconds (may be negative)}, {resume: true}
                                         → 200 CLOCK
    GET    /api/faults                   → 200 {"faults": [FAULT], "available": [{"name",
                                                "description", "rule"}]}
    POST   /api/faults                   {fault, sp?, count?}: the next count (default 1)
                                         Responses (to sp, or to any SP); "count": null with an
                                         sp: every Response to sp until cleared
                                         → 201 {"fault": FAULT, "faults": [FAULT]}
    DELETE /api/faults                   ?sp=ENTITY_ID (default: all) → 200 {"faults": [FAULT]}
    GET    /api/exchanges                ?user=NAME&kind=authn-request|response|console|sts|
                                                 assume-role|web-identity
                                          &limit=N (the newest N, 1..1000)
                                         → 200 {"exchanges": [Exchange.to_json()]}
    POST   /api/mint                     {user, role?, sp?, fault?}
                                         → 200 {"saml_response": base64, "user", "sp",
                                                "acs_url"}
    POST   /api/token                    {sub, aud: str | [str], ttl?, claims?}
                                         → 200 {"token": JWT, "issuer", "sub", "expires_in"}
    POST   /api/reset                    → 200 {"reset": true}  (configured directory, keys,
                                         clock; no faults, exchanges or redeemed assertions)

Through the API, SP ``certificates`` must be PEM text: a file name would make the server read
a file of its own and publish it.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import math
import re
import secrets
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NoReturn, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from idp.clock import SettableClock, format_instant, parse_zoned_instant
from idp.directory import Directory
from idp.directory.editor import DirectoryDocument, sp_entry, sp_from_metadata
from idp.directory.model import AWS_ENTITY_ID, Account, Role, User
from idp.errors import (
    AttributeReleaseError,
    DirectoryEditError,
    FatalRequestError,
    IdPError,
    KeyStoreError,
    NoAwsRole,
)
from idp.faults import AWS_ONLY, DESCRIPTIONS, FAULT_RULES, Fault, parse_fault
from idp.keys import KeyPair, atomic_write
from idp.oidc.signing import DEFAULT_TOKEN_TTL
from idp.saml.providers import ServiceProvider
from idp.text import has_lone_surrogate
from idp.web.body import BodyTimeout, BodyTooLarge, ClientGone, read_body
from idp.web.runtime import Runtime

__all__ = ["ENDPOINTS", "MAX_BODY_BYTES", "TOKEN_FILENAME", "Endpoint", "issue_token", "routes"]

log = logging.getLogger("idp.admin")

#: The token's file in the data directory (mode 0600).
TOKEN_FILENAME: Final = "admin-token"  # noqa: S105 (a file name, not a secret)
MAX_BODY_BYTES: Final = 1024 * 1024
#: How far the simulated clock may be from the real one (as ``Settings.clock_offset``).
_JSON_TYPES: Final = frozenset({"application/json"})
_XML_TYPES: Final = frozenset({"application/samlmetadata+xml", "application/xml", "text/xml"})
_REALM: Final = 'Bearer realm="idp-admin"'
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]+")

JSON = dict[str, Any]


def issue_token(data_dir: Path) -> str:
    """A new random bearer token, written atomically to ``data_dir/admin-token`` (0600)."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    atomic_write(data_dir / TOKEN_FILENAME, token.encode("ascii"), mode=0o600)
    return token


# --- refusals ---------------------------------------------------------------------------------


def _refuse(message: str, field: str | None = None, status: int = 400) -> NoReturn:
    """Refuse the request: ``{"error": message, "field": field}`` with ``status``.

    A ``DirectoryEditError`` is the package's "refused, nothing changed, this input is at
    fault" error; the core raises it for directory edits, and the API raises it for its own
    input checks so that every refusal has one shape.
    """
    raise DirectoryEditError(message, field=field, status=status)


def _renamed(fields: Mapping[str, str], action: Callable[[], None]) -> None:
    """Run ``action``; a refusal's ``field`` is renamed to the API's input name."""
    try:
        action()
    except DirectoryEditError as exc:
        name = fields.get(exc.field, exc.field) if exc.field is not None else None
        raise DirectoryEditError(exc.message, field=name, status=exc.http_status) from None


# --- reading inputs ---------------------------------------------------------------------------


class Input:
    """A JSON object body, checked field by field (unknown fields refused up front)."""

    def __init__(self, data: Mapping[str, Any], allowed: Collection[str]) -> None:
        for name in data:
            if name not in allowed:
                expected = ", ".join(sorted(allowed)) or "none"
                _refuse(f"unknown field {name!r} (expected: {expected})", name)
        self._data = data

    def given(self, name: str) -> bool:
        """``name`` is present and not ``null``."""
        return self._data.get(name) is not None

    def present(self, name: str) -> bool:
        """``name`` is present, even as ``null``."""
        return name in self._data

    def value(self, name: str) -> Any:
        return self._data.get(name)

    def string(self, name: str) -> str | None:
        value = self._data.get(name)
        if value is not None and not isinstance(value, str):
            _refuse(f"{name} must be a string", name)
        return value

    def required(self, name: str) -> str:
        value = self.string(name)
        if value is None:
            _refuse(f"{name} is required", name)
        if not value.strip():
            _refuse(f"{name} must not be empty", name)
        return value

    def strings(self, name: str) -> list[str] | None:
        value = self._data.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            _refuse(f"{name} must be a list of strings", name)
        return list(value)

    def boolean(self, name: str) -> bool | None:
        value = self._data.get(name)
        if value is not None and not isinstance(value, bool):
            _refuse(f"{name} must be true or false", name)
        return value

    def integer(self, name: str) -> int | None:
        value = self._data.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            _refuse(f"{name} must be a whole number", name)
        return value

    def number(self, name: str) -> float | None:
        value = self._data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            _refuse(f"{name} must be a number", name)
        return float(value)

    def object(self, name: str) -> dict[str, Any] | None:
        value = self._data.get(name)
        if value is not None and not isinstance(value, dict):
            _refuse(f"{name} must be a JSON object", name)
        return value

    def string_map(self, name: str) -> dict[str, str] | None:
        """``{key: str}``."""
        value = self.object(name)
        if value is None:
            return None
        for key, item in value.items():
            if not isinstance(item, str):
                _refuse(f"{name}.{key} must be a string", name)
        return value

    def attribute_map(self, name: str) -> dict[str, str | list[str]] | None:
        """``{key: str | [str]}``."""
        value = self.object(name)
        if value is None:
            return None
        for key, item in value.items():
            if not (isinstance(item, str) or (isinstance(item, list)
                                               and all(isinstance(v, str) for v in item))):
                _refuse(f"{name}.{key} must be a string or a list of strings", name)
        return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            _refuse(f"duplicate key {key!r} in the JSON body", key)
        out[key] = value
    return out


def _no_constant(name: str) -> NoReturn:
    _refuse(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        _refuse(f"the number {text[:40]} is out of range")
    return value


def _check_text(data: Any) -> None:
    """Every string is valid Unicode (no lone surrogates): it must survive YAML and UTF-8."""
    if has_lone_surrogate(data):
        _refuse("the JSON body has an unpaired surrogate escape (\\ud800-\\udfff)")


def _parse_json_object(raw: bytes) -> dict[str, Any]:
    """A strictly parsed JSON object; refused (400) otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        _refuse(f"the body is not UTF-8 (byte {exc.start})")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant,
                           parse_float=_finite)
    except RecursionError:
        _refuse("the JSON body is nested too deeply")
    except ValueError as exc:  # json.JSONDecodeError, or an integer with too many digits
        _refuse(f"the body is not JSON: {str(exc).splitlines()[0]}")
    if not isinstance(value, dict):
        _refuse("the body must be a JSON object")
    _check_text(value)
    return value


def _media_type(request: Request) -> tuple[str, str | None]:
    """``Content-Type``'s type (lowercase) and charset, if any."""
    header = request.headers.get("content-type", "")
    kind, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return kind.strip().lower(), charset


# --- the call a handler gets, and what it answers -----------------------------------------


@dataclass(frozen=True)
class Call:
    """One admin request, parsed: what a handler works with (it runs in a worker thread)."""

    runtime: Runtime
    path: Mapping[str, str]
    query: Mapping[str, str]
    data: Mapping[str, Any]
    """The JSON object body (``{}`` when there is none)."""
    xml: bytes | None = None
    """A raw SP metadata body (only where an endpoint takes one)."""

    def input(self, allowed: Collection[str]) -> Input:
        return Input(self.data, allowed)

    @property
    def directory(self) -> Directory:
        return self.runtime.directory


@dataclass(frozen=True)
class Answer:
    status: int
    body: JSON


def _ok(body: JSON) -> Answer:
    return Answer(200, body)


Handler = Callable[[Call], Answer]


@dataclass(frozen=True)
class Endpoint:
    """One row of the API: method, path (Starlette syntax), handler, and what the index says."""

    method: str
    path: str
    handler: Handler
    summary: str
    body: str = ""
    query: frozenset[str] = field(default_factory=frozenset)
    xml: bool = False
    """Also takes SP metadata XML as the body."""


# --- JSON views -------------------------------------------------------------------------------


def _user_json(directory: Directory, user: User) -> JSON:
    return {
        "name": user.username,
        "email": user.email,
        "display_name": user.display_name,
        "groups": list(user.groups),
        "roles": list(user.roles),
        "effective_roles": [grant.role_arn for grant in directory.roles_for(user)],
        "mfa": user.has_mfa,
        "attributes": {name: list(values) for name, values in user.attributes.items()},
        "principal_tags": dict(user.principal_tags),
        "source_identity": user.source_identity,
    }


def _role_json(account: Account, role: Role) -> JSON:
    return {
        "arn": role.arn,
        "name": role.name,
        "account": account.id,
        "account_alias": account.alias,
        "path": role.path,
        "max_session_duration": role.max_session_duration,
        "provider_arn": account.provider_arn,
        "trust_policy": dict(role.trust_policy.source),
    }


def _fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def _pem_fingerprint(pem: str) -> str | None:
    try:
        return _fingerprint(x509.load_pem_x509_certificate(pem.encode("ascii")))
    except (ValueError, UnicodeEncodeError):
        return None


def _sp_json(sp: ServiceProvider) -> JSON:
    return {
        "entity_id": sp.entity_id,
        "acs_urls": list(sp.acs_urls),
        "name_id_format": sp.name_id_format.value,
        "sign_assertion": sp.signing.sign_assertion,
        "sign_response": sp.signing.sign_response,
        "signature_algorithm": sp.signing.signature_algorithm.value.rsplit("#", 1)[-1],
        "digest_algorithm": sp.signing.digest.value.rsplit("#", 1)[-1],
        "want_authn_requests_signed": sp.want_authn_requests_signed,
        "certificates": [_pem_fingerprint(pem) for pem in sp.certificates],
        "audience": sp.audience,
        "release": list(sp.release),
        "session_duration": sp.session_duration,
        "role_session_name": sp.role_session_name,
        "source_identity": sp.source_identity,
        "role_value_order": sp.role_value_order.value,
    }


def _key_json(slot: str, pair: KeyPair, *, published: bool = True) -> JSON:
    certificate = pair.certificate
    return {
        "slot": slot,
        "signing": slot == "signing",
        "published": published,
        "sha256_fingerprint": _fingerprint(certificate),
        "not_before": format_instant(certificate.not_valid_before_utc),
        "not_after": format_instant(certificate.not_valid_after_utc),
        "key_size": pair.key_size,
    }


def _keys_json(runtime: Runtime) -> list[JSON]:
    keys = runtime.keys
    return [_key_json(slot, keys[slot]) for slot in ("signing", "next", "previous")
            if slot in keys]


def _clock_json(clock: SettableClock) -> JSON:
    return {"now": format_instant(clock.now()), "frozen": clock.frozen,
            "offset_seconds": round(clock.offset, 3)}


def _faults_json(runtime: Runtime) -> list[JSON]:
    return [plan.to_json() for plan in runtime.faults.planned()]


# --- lookups ----------------------------------------------------------------------------------


def _user(directory: Directory, name: str, field: str = "name") -> User:
    user = directory.user(name)
    if user is None:
        _refuse(f"no user {name}", field, 404)
    return user


def _roles(directory: Directory) -> Iterable[tuple[Account, Role]]:
    for account in directory.accounts.values():
        for role in account.roles:
            yield account, role


# --- handlers: index, users, grants -----------------------------------------------------------


def _index(call: Call) -> Answer:
    call.input(())
    return _ok({"endpoints": [{"method": e.method, "path": e.path, "body": e.body or None,
                               "summary": e.summary} for e in ENDPOINTS]})


def _list_users(call: Call) -> Answer:
    directory = call.directory
    return _ok({"users": [_user_json(directory, user) for user in directory.users.values()]})


def _get_user(call: Call) -> Answer:
    directory = call.directory
    return _ok({"user": _user_json(directory, _user(directory, call.path["name"]))})


_USER_FIELDS: Final = ("name", "password", "email", "display_name", "roles", "groups",
                       "totp_secret", "attributes", "principal_tags", "source_identity")


def _add_user(call: Call) -> Answer:
    data = call.input(_USER_FIELDS)
    name, password = data.required("name"), data.required("password")
    email, display_name = data.string("email"), data.string("display_name")
    roles, groups = data.strings("roles") or [], data.strings("groups") or []
    totp_secret, source_identity = data.string("totp_secret"), data.string("source_identity")
    attributes, tags = data.attribute_map("attributes"), data.string_map("principal_tags")

    def change(document: DirectoryDocument, directory: Directory) -> DirectoryDocument:
        return document.with_user(
            name, password=password, email=email, display_name=display_name, roles=roles,
            groups=groups, totp_secret=totp_secret, attributes=attributes, principal_tags=tags,
            source_identity=source_identity, directory=directory)

    call.runtime.edit(change)
    directory = call.directory
    return Answer(201, {"user": _user_json(directory, _user(directory, name))})


def _remove_user(call: Call) -> Answer:
    call.input(())
    name = call.path["name"]
    call.runtime.edit(lambda document, _directory: document.without_user(name))
    return _ok({"deleted": name})


#: The core names a grant's inputs ``user`` and ``roles``; the API's are ``name`` and ``role``.
_GRANT_FIELDS: Final = {"user": "name", "roles": "role"}


def _grant(call: Call) -> Answer:
    role = call.input(("role",)).required("role")
    name = call.path["name"]
    _renamed(_GRANT_FIELDS, lambda: call.runtime.edit(
        lambda document, directory: document.with_grant(name, role, directory)))
    directory = call.directory
    return _ok({"user": _user_json(directory, _user(directory, name))})


def _revoke(call: Call) -> Answer:
    body_role = call.input(("role",)).string("role")
    query_role = call.query.get("role")
    if (body_role is None) == (query_role is None):
        _refuse("name the role in the body ({\"role\": ...}) or as ?role=, once", "role")
    role = cast(str, body_role if body_role is not None else query_role)
    name = call.path["name"]
    _renamed(_GRANT_FIELDS, lambda: call.runtime.edit(
        lambda document, directory: document.without_grant(name, role, directory)))
    directory = call.directory
    return _ok({"user": _user_json(directory, _user(directory, name))})


# --- handlers: roles, service providers -------------------------------------------------------


def _list_roles(call: Call) -> Answer:
    return _ok({"roles": [_role_json(account, role) for account, role in _roles(call.directory)]})


def _add_role(call: Call) -> Answer:
    data = call.input(("name", "account", "max_session_duration", "trust_policy", "path",
                       "users"))
    name = data.required("name")
    options: dict[str, Any] = {
        "account": data.string("account"),
        "max_session_duration": data.integer("max_session_duration"),
        "trust_policy": data.object("trust_policy"),
        "path": data.string("path"),
        "users": data.strings("users"),
    }
    given = {key: value for key, value in options.items() if value is not None}
    call.runtime.edit(lambda document, _directory: document.with_role(name, **given))
    account = given.get("account") or call.runtime.document.default_account()
    found = call.directory.role(f"arn:aws:iam::{account}:role{given.get('path', '/')}{name}")
    if found is None:  # another edit raced this one; say what is there now
        _refuse(f"role {name} was not found after it was added; GET /api/roles", "name", 409)
    return Answer(201, {"role": _role_json(*found)})


def _list_sps(call: Call) -> Answer:
    return _ok({"service_providers": [_sp_json(sp)
                                      for sp in call.directory.service_providers.values()]})


#: The directory's ``service_providers`` keys the API takes, and their JSON types.
_SP_OPTIONS: Final[Mapping[str, str]] = {
    "entity_id": "string", "acs_urls": "strings", "name_id_format": "string",
    "sign_assertion": "boolean", "sign_response": "boolean", "signature_algorithm": "string",
    "digest_algorithm": "string", "want_authn_requests_signed": "boolean",
    "certificates": "strings", "audience": "string", "release": "strings",
    "session_duration": "integer", "role_session_name": "string", "source_identity": "string",
    "role_value_order": "string",
}


def _sp_entry(data: Input) -> dict[str, Any]:
    """A ``service_providers`` entry from ``{metadata_xml, overrides…}`` or ``{entity_id,
    acs_urls, …}`` (what ``Simulator.add_service_provider`` takes)."""
    readers: Mapping[str, Callable[[str], Any]] = {
        "string": data.string, "strings": data.strings, "boolean": data.boolean,
        "integer": data.integer}
    options = {key: readers[kind](key) for key, kind in _SP_OPTIONS.items()}
    metadata = data.string("metadata_xml")
    return sp_entry(metadata_xml=metadata.encode("utf-8") if metadata is not None else None,
                    options=options)


def _add_sp(call: Call) -> Answer:
    if call.xml is not None:
        entry = sp_from_metadata(call.xml)
    else:
        entry = _sp_entry(call.input(("metadata_xml", *_SP_OPTIONS)))
    entity_id = str(entry["entity_id"])
    known = entity_id in call.directory.service_providers
    call.runtime.edit(
        lambda document, _directory: document.with_service_provider(entry, replace=True))
    sp = call.directory.service_provider(entity_id)
    if sp is None:  # another edit raced this one
        _refuse(f"service provider {entity_id} was not found after it was added", "entity_id",
                409)
    return Answer(200 if known else 201, {"service_provider": _sp_json(sp), "replaced": known})


# --- handlers: keys, clock --------------------------------------------------------------------


def _list_keys(call: Call) -> Answer:
    return _ok({"keys": _keys_json(call.runtime)})


def _stage_key(call: Call) -> Answer:
    call.input(())
    pair = call.runtime.stage_key()
    return Answer(201, {"key": _key_json("next", pair), "keys": _keys_json(call.runtime)})


def _promote_key(call: Call) -> Answer:
    call.input(())
    pair = call.runtime.promote_key()
    return _ok({"key": _key_json("signing", pair), "keys": _keys_json(call.runtime)})


def _retire_key(call: Call) -> Answer:
    call.input(())
    pair = call.runtime.retire_key()
    return _ok({"key": _key_json("retired", pair, published=False),
                "keys": _keys_json(call.runtime)})


def _settable(runtime: Runtime) -> SettableClock:
    clock = runtime.clock
    if not isinstance(clock, SettableClock):
        _refuse("this simulator runs on a clock it cannot move", None, 409)
    return clock


def _get_clock(call: Call) -> Answer:
    return _ok(_clock_json(_settable(call.runtime)))


def _set_clock(call: Call) -> Answer:
    data = call.input(("freeze", "advance", "resume"))
    given = [name for name in ("freeze", "advance", "resume") if data.given(name)]
    if len(given) != 1:
        _refuse("give exactly one of freeze, advance, resume",
                given[1] if len(given) > 1 else None)
    clock = _settable(call.runtime)
    if given == ["freeze"]:
        value = data.value("freeze")
        if value is True:
            clock.freeze()
        elif isinstance(value, str):
            try:  # not an instant, or more than 100 years from the real time
                clock.freeze(parse_zoned_instant(value, "freeze"))
            except ValueError as exc:
                _refuse(str(exc), "freeze")
        else:
            _refuse("freeze must be an ISO 8601 instant or true", "freeze")
    elif given == ["advance"]:
        try:
            clock.advance(cast(float, data.number("advance")))
        except ValueError as exc:  # more than 100 years from the real time
            _refuse(str(exc), "advance")
    else:
        if data.value("resume") is not True:
            _refuse("resume must be true", "resume")
        clock.resume()
    return _ok(_clock_json(clock))


# --- handlers: faults, exchanges, mint, reset -------------------------------------------------


def _list_faults(call: Call) -> Answer:
    available = [{"name": fault.value, "description": DESCRIPTIONS.get(fault),
                  "rule": FAULT_RULES[fault].value if fault in FAULT_RULES else None}
                 for fault in DESCRIPTIONS]
    return _ok({"faults": _faults_json(call.runtime), "available": available})


def _fault(name: str) -> Fault:
    try:
        return parse_fault(name)
    except ValueError as exc:
        _refuse(str(exc), "fault")


def _registered_sp(call: Call, entity_id: str | None) -> None:
    if entity_id is not None and call.directory.service_provider(entity_id) is None:
        _refuse(f"service provider {entity_id} is not registered", "sp", 404)


def _add_fault(call: Call) -> Answer:
    data = call.input(("fault", "sp", "count"))
    fault = _fault(data.required("fault"))
    sp = data.string("sp")
    _registered_sp(call, sp)
    count = data.integer("count") if data.present("count") else 1
    if fault in AWS_ONLY and sp not in (None, AWS_ENTITY_ID):
        _refuse(f"the {fault.value} fault applies only to AWS ({AWS_ENTITY_ID})", "sp")
    try:
        plan = call.runtime.faults.add(fault, sp=sp, count=count)
    except ValueError as exc:
        _refuse(str(exc), "count")
    return Answer(201, {"fault": plan.to_json(), "faults": _faults_json(call.runtime)})


def _clear_faults(call: Call) -> Answer:
    call.input(())
    call.runtime.faults.clear(call.query.get("sp"))
    return _ok({"faults": _faults_json(call.runtime)})


def _exchanges(call: Call) -> Answer:
    limit = call.query.get("limit")
    if limit is not None and not (limit.isascii() and limit.isdigit() and len(limit) <= 4
                                  and 1 <= int(limit) <= 1000):
        _refuse("limit must be a whole number from 1 to 1000", "limit")
    try:
        entries = call.runtime.exchanges.entries(user=call.query.get("user"),
                                                 kind=call.query.get("kind"))
    except ValueError as exc:
        _refuse(str(exc), "kind")
    if limit is not None:
        entries = entries[-int(limit):]
    return _ok({"exchanges": [entry.to_json() for entry in entries]})


def _mint(call: Call) -> Answer:
    data = call.input(("user", "role", "sp", "fault"))
    name, role = data.required("user"), data.string("role")
    sp_id = data.string("sp") or AWS_ENTITY_ID
    fault_name = data.string("fault")
    fault = _fault(fault_name) if fault_name is not None else None
    services = call.runtime.services
    directory = services.identity_provider.directory
    _user(directory, name, "user")
    sp = directory.service_provider(sp_id)
    if sp is None:
        _refuse(f"service provider {sp_id} is not registered", "sp", 404)
    try:
        body = services.identity_provider.mint(name, sp=sp_id, role=role, fault=fault)
    except NoAwsRole as exc:
        _refuse(str(exc), "role" if role is not None else "user", 409)
    except AttributeReleaseError as exc:
        _refuse(str(exc), "user", 409)
    except FatalRequestError as exc:
        _refuse(str(exc))
    return _ok({"saml_response": base64.b64encode(body).decode("ascii"), "user": name,
                "sp": sp_id, "acs_url": sp.default_acs})


def _token(call: Call) -> Answer:
    """A workload JWT of the OIDC issuer, as ``idp token`` makes it (``aud``: a string or a
    list of strings; ``claims`` add to or override the standard ones)."""
    data = call.input(("sub", "aud", "ttl", "claims"))
    sub = data.required("sub")
    audiences = ([data.required("aud")] if isinstance(data.value("aud"), str)
                 else data.strings("aud"))
    if not audiences:
        _refuse("aud is required: a string or a list of strings", "aud")
    ttl = data.integer("ttl")
    oidc = call.runtime.services.oidc
    try:
        token = oidc.workload_token(sub, tuple(audiences),
                                    ttl=ttl if ttl is not None else DEFAULT_TOKEN_TTL,
                                    claims=data.object("claims"))
    except ValueError as exc:
        _refuse(str(exc), "ttl" if "lifetime" in str(exc) else None)
    except TypeError as exc:  # a claim JSON cannot hold (not reachable from JSON input)
        _refuse(str(exc), "claims")
    return _ok({"token": token, "issuer": oidc.issuer, "sub": sub,
                "expires_in": ttl if ttl is not None else DEFAULT_TOKEN_TTL})


def _reset(call: Call) -> Answer:
    call.input(())
    call.runtime.reset()
    return _ok({"reset": True})


# --- the table --------------------------------------------------------------------------------

ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    Endpoint("GET", "/api", _index, "this list"),
    Endpoint("GET", "/api/users", _list_users, "every user"),
    Endpoint("POST", "/api/users", _add_user, "add a user",
             "{name, password, email?, display_name?, roles?, groups?, totp_secret?, "
             "attributes?, principal_tags?, source_identity?}"),
    Endpoint("GET", "/api/users/{name}", _get_user, "one user"),
    Endpoint("DELETE", "/api/users/{name}", _remove_user, "remove a user"),
    Endpoint("POST", "/api/users/{name}/roles", _grant, "grant a user a role", "{role}"),
    Endpoint("DELETE", "/api/users/{name}/roles", _revoke,
             "revoke a role granted to the user directly", "{role} or ?role=",
             query=frozenset({"role"})),
    Endpoint("GET", "/api/roles", _list_roles, "every IAM role"),
    Endpoint("POST", "/api/roles", _add_role, "add an IAM role (granted to users?)",
             "{name, account?, max_session_duration?, trust_policy?, path?, users?}"),
    Endpoint("GET", "/api/service-providers", _list_sps, "every service provider"),
    Endpoint("POST", "/api/service-providers", _add_sp,
             "add (or replace) a service provider",
             "{metadata_xml, ...} or {entity_id, acs_urls, ...} or SP metadata XML", xml=True),
    Endpoint("GET", "/api/keys", _list_keys, "the published signing keys"),
    Endpoint("POST", "/api/keys", _stage_key, "key rollover 1: stage a new key (published)"),
    Endpoint("POST", "/api/keys/promote", _promote_key,
             "key rollover 2: the staged key signs (the old one stays published)"),
    Endpoint("POST", "/api/keys/retire", _retire_key,
             "key rollover 3: the previous key leaves metadata"),
    Endpoint("GET", "/api/clock", _get_clock, "the simulated clock"),
    Endpoint("POST", "/api/clock", _set_clock, "freeze, advance or resume the clock",
             "{freeze: ISO 8601 | true} or {advance: seconds} or {resume: true}"),
    Endpoint("GET", "/api/faults", _list_faults, "planned faults, and the faults there are"),
    Endpoint("POST", "/api/faults", _add_fault, "break the next Response(s) on purpose",
             "{fault, sp?, count?}"),
    Endpoint("DELETE", "/api/faults", _clear_faults, "forget planned faults", "?sp=",
             query=frozenset({"sp"})),
    Endpoint("GET", "/api/exchanges", _exchanges, "the exchange log", "?user=&kind=&limit=",
             query=frozenset({"user", "kind", "limit"})),
    Endpoint("POST", "/api/mint", _mint, "a signed SAMLResponse, straight from the IdP",
             "{user, role?, sp?, fault?}"),
    Endpoint("POST", "/api/token", _token, "a workload JWT of the OIDC issuer (idp token)",
             "{sub, aud, ttl?, claims?}"),
    Endpoint("POST", "/api/reset", _reset, "back to the configured state"),
)


# --- dispatch ---------------------------------------------------------------------------------


def _json(status: int, body: JSON, headers: Mapping[str, str] | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                         default=str)
    return Response(content.encode("utf-8"), status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store", **(headers or {})})


def _error(status: int, message: str, field: str | None = None,
           headers: Mapping[str, str] | None = None) -> Response:
    """A refusal: one line (control characters a client put in a name become spaces)."""
    return _json(status, {"error": _CONTROL.sub(" ", message), "field": field}, headers)


def _unauthorized(request: Request) -> Response | None:
    """``None`` if the request carries the admin token, else the 401 to answer."""
    headers = request.headers.getlist("authorization")
    if not headers:
        return _error(401, "this API needs 'Authorization: Bearer TOKEN' (the token is printed "
                      "at start and written to DATA_DIR/admin-token)",
                      headers={"WWW-Authenticate": _REALM})
    scheme, _, token = headers[0].strip().partition(" ")
    expected = getattr(request.app.state, "admin_token", None)
    if (len(headers) != 1 or scheme.lower() != "bearer" or not isinstance(expected, str)
            or not hmac.compare_digest(token.strip().encode("utf-8"),
                                       expected.encode("utf-8"))):
        return _error(401, "the admin token is wrong (send 'Authorization: Bearer TOKEN')",
                      headers={"WWW-Authenticate": f'{_REALM}, error="invalid_token"'})
    return None


def _query(request: Request, allowed: Collection[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in allowed:
            expected = ", ".join(sorted(allowed)) or "none"
            _refuse(f"unknown query parameter {name!r} (expected: {expected})", name)
        if name in out:
            _refuse(f"query parameter {name!r} is given twice", name)
        if not value:
            _refuse(f"query parameter {name!r} is empty", name)
        out[name] = value
    return out


async def _body(request: Request, endpoint: Endpoint) -> tuple[dict[str, Any], bytes | None]:
    """The JSON object body (or, where taken, raw SP metadata XML)."""
    if request.method in ("GET", "HEAD"):
        return {}, None
    raw = await read_body(request, max_bytes=MAX_BODY_BYTES)
    if not raw.strip():
        return {}, None
    kind, charset = _media_type(request)
    if charset not in (None, "utf-8", "utf8"):
        _refuse(f"the body must be UTF-8, not {charset}", None, 415)
    if kind in _JSON_TYPES:
        return _parse_json_object(raw), None
    if endpoint.xml and kind in _XML_TYPES:
        return {}, raw
    takes = "application/json" + (" or SP metadata XML (application/samlmetadata+xml)"
                                   if endpoint.xml else "")
    _refuse(f"send Content-Type: {takes}, not {kind or 'nothing'}", None, 415)


class _Resource:
    """The ASGI app of one API path: authenticates, picks the method's endpoint, parses,
    runs the handler in a worker thread and answers JSON. Routed with ``methods=None`` so
    every method reaches it (405 and 404 are its own, in JSON)."""

    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        self.endpoints = {endpoint.method: endpoint for endpoint in endpoints}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self.answer(request)
        if request.method not in ("GET", "HEAD"):
            log.info("admin %s %s -> %d", request.method, request.url.path,
                     response.status_code)
        await response(scope, receive, send)

    async def answer(self, request: Request) -> Response:
        try:
            denied = _unauthorized(request)
            if denied is not None:
                return denied
            endpoint = self.endpoint(request)
            if isinstance(endpoint, Response):
                return endpoint
            query = _query(request, endpoint.query)
            data, xml = await _body(request, endpoint)
            call = Call(runtime=cast(Runtime, request.app.state.runtime),
                        path=dict(request.path_params), query=query, data=data, xml=xml)
            answer = await run_in_threadpool(endpoint.handler, call)
            return _json(answer.status, answer.body)
        except DirectoryEditError as exc:
            return _error(exc.http_status, exc.message, exc.field)
        except KeyStoreError as exc:
            return _error(409, str(exc))
        except BodyTooLarge as exc:
            return _error(exc.http_status, str(exc))
        except BodyTimeout as exc:
            return _error(exc.http_status, str(exc), headers={"Connection": "close"})
        except ClientGone:  # nobody to answer: the app's handler logs one line
            raise
        except IdPError as exc:
            status = exc.http_status if 400 <= exc.http_status <= 599 else 400
            return _error(status, str(exc).splitlines()[0] if str(exc) else exc.title)
        except Exception:  # a bug: still JSON, never a traceback
            log.exception("admin request %s %s failed", request.method, request.url.path)
            return _error(500, "the simulator hit an unexpected error; its log has the details")

    def endpoint(self, request: Request) -> Endpoint | Response:
        method = "GET" if request.method == "HEAD" else request.method
        endpoint = self.endpoints.get(method)
        if endpoint is not None:
            return endpoint
        if not self.endpoints:
            return _error(404, f"no endpoint {request.url.path} (GET /api lists them)")
        allowed = sorted({*self.endpoints, *(("HEAD",) if "GET" in self.endpoints else ())})
        return _error(405, f"{request.method} is not allowed on {request.url.path} "
                      f"(allowed: {', '.join(allowed)})", headers={"Allow": ", ".join(allowed)})


def routes() -> list[BaseRoute]:
    """The API's routes (each path also with a trailing ``/``), then a JSON 404 for the rest
    of ``/api``."""
    by_path: dict[str, list[Endpoint]] = {}
    for endpoint in ENDPOINTS:
        by_path.setdefault(endpoint.path, []).append(endpoint)
    out: list[BaseRoute] = []
    for path, endpoints in by_path.items():
        resource = _Resource(endpoints)
        name = "admin" + path.removeprefix("/api").replace("/", "_").replace("{", "").replace(
            "}", "")
        out.append(Route(path, resource, name=name))
        out.append(Route(path + "/", resource, name=name + "_slash"))
    out.append(Route("/api/{rest:path}", _Resource(()), name="admin_not_found"))
    return out
