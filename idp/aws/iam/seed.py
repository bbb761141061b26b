"""The IAM document a directory starts with (``idp.aws.iam.model`` describes the document).

Each directory account becomes an IAM account with its alias, its SAML provider (this IdP's
own metadata, or the file ``provider_metadata`` names, read now), its roles with their trust
and inline policies, and its IAM users (console password, access keys, an enabled virtual MFA
device ``arn:aws:iam::ACCOUNT:mfa/USER`` when ``mfa_seed`` is given), groups and policies.

``fingerprint`` identifies the starting state, so the store can tell a document grown from this
directory from one grown from another (``idp.aws.iam.store``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from idp.aws.iam.metadata import read_metadata_file
from idp.aws.iam.model import OWN_ISSUER_PLACEHOLDER, iso
from idp.directory.model import Account, Directory
from idp.directory.policy import PolicyDocument

__all__ = ["fingerprint", "seed_document"]

#: What ``fingerprint`` hashes the seed at, so the creation times do not change it.
_EPOCH: Final = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _symbolic(text: str, own_host: str) -> str:
    """The simulator's own issuer (``HOST[:PORT]/PATH``) written as the placeholder, so the
    seed, its fingerprint and a saved state do not depend on the base URL (``model``
    resolves it when building the state)."""
    return text.replace(own_host, OWN_ISSUER_PLACEHOLDER) if own_host else text


def _account(account: Account, created: str, own_issuer: str) -> dict[str, Any]:
    own_host = own_issuer.split("://", 1)[-1] if own_issuer else ""

    def _text(policy: PolicyDocument) -> str:
        return _symbolic(json.dumps(dict(policy.source), separators=(",", ":"), default=str),
                         own_host)

    def _policies(policies: Mapping[str, PolicyDocument]) -> dict[str, str]:
        return {name: _text(doc) for name, doc in policies.items()}

    mfa: dict[str, Any] = {}
    users: dict[str, Any] = {}
    for user in account.iam_users:
        users[user.name] = {
            "path": user.path, "created": created, "password_hash": user.password_hash,
            "password_created": created if user.password_hash else None,
            "password_reset_required": False,
            "access_keys": [{"id": key.id, "secret": key.secret, "active": key.active,
                             "created": created} for key in user.access_keys],
            "policies": _policies(user.policies), "groups": list(user.groups),
            "tags": [[k, v] for k, v in user.tags.items()],
        }
        if user.mfa_seed is not None:
            serial = f"arn:aws:iam::{account.id}:mfa/{user.name}"
            mfa[serial] = {"name": user.name, "path": "/", "seed": user.mfa_seed,
                           "user": user.name, "enabled": created, "created": created}
    metadata, valid_until = None, None
    if account.provider_metadata:
        metadata, found = read_metadata_file(Path(account.provider_metadata))
        valid_until = iso(found.valid_until) if found.valid_until is not None else None
    return {
        "alias": account.alias,
        "providers": {account.saml_provider: {
            "metadata": metadata, "created": created, "valid_until": valid_until,
            "signatures": account.provider_signatures,
            "allow_sha1": account.provider_allow_sha1, "tags": []}},
        "roles": {role.name: {
            "path": role.path, "created": created, "description": role.description,
            "max_session_duration": role.max_session_duration,
            "trust_policy": _text(role.trust_policy), "policies": _policies(role.policies),
            "tags": [[k, v] for k, v in role.tags.items()]} for role in account.roles},
        "users": users,
        "groups": {group.name: {"path": group.path, "created": created,
                                "policies": _policies(group.policies)}
                   for group in account.iam_groups},
        "mfa": mfa,
        "oidc": {
            (OWN_ISSUER_PLACEHOLDER if spec.url == own_issuer else spec.host_path): {
                "url": None if spec.url == own_issuer else spec.url,
                "client_ids": list(spec.client_ids), "thumbprints": list(spec.thumbprints),
                "created": created, "tags": []}
            for spec in account.oidc_providers},
    }


def seed_document(directory: Directory, now: dt.datetime) -> dict[str, Any]:
    """The IAM document for ``directory``, every entity created at ``now``."""
    created = iso(now)
    return {"accounts": {account.id: _account(account, created, directory.oidc_issuer)
                         for account in directory.accounts.values()}}


def fingerprint(directory: Directory) -> str:
    """SHA-256 (hex) of the starting document, independent of when it is made.

    IAM users' plain ``password:`` entries are hashed with a salt fixed by account and name
    (``idp.directory.loader``), so a reload gives the same hash and a changed password a new
    one.
    """
    document = seed_document(directory, _EPOCH)
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
