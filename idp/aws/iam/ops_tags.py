"""``Tag*``, ``Untag*`` and ``List*Tags`` for roles, users, SAML and OpenID Connect providers:
one set of rules.

IAM API Reference, ``TagRole``/``TagUser``/``TagSAMLProvider``/``TagOpenIDConnectProvider``: a
tag with a key the entity
already has (compared regardless of case) replaces it; at most 50 tags (``LimitExceeded``
"Cannot exceed quota for TagsPerRole: 50"); ``Untag*`` removes the keys named (missing keys are
no error); ``List*Tags`` pages the tags in the order they were added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from idp.aws.iam.context import Call, Operation, merge_tags, tag_page
from idp.aws.iam.model import AccountState
from idp.aws.iam.results import Struct

__all__ = ["Taggable", "tag_operations"]

#: Given the entity's identifying parameters (read from the call), where the caller is
#: authorized and how to find the entity in an account: ``(resource ARN, find)``. ``find``
#: raises AWS's ``NoSuchEntity`` when it is missing.
Target = Callable[[Call], tuple[str, Callable[[AccountState], Any]]]


def _name(entity: Any) -> str:
    return str(entity.name)


@dataclass(frozen=True)
class Taggable:
    """A kind of entity with tags: its name in operation names and quotas (``Role``), the
    document's collection (``roles``), how a call names one (``target``), and the key of the
    entity found in that collection (``key``: its ``name``, as stored; an OIDC provider is
    stored under its URL without the scheme, compared exactly)."""

    kind: str
    collection: str
    target: Target
    key: Callable[[Any], str] = _name


def tag_operations(entity: Taggable) -> dict[str, Operation]:
    """``Tag{kind}``, ``Untag{kind}``, ``List{kind}Tags``."""

    def tag(call: Call) -> Struct | None:
        resource, find = entity.target(call)
        tags = call.params.tags(required=True)
        call.authorize(resource)

        def edit(account: dict[str, Any], state: AccountState) -> None:
            body = account[entity.collection][entity.key(find(state))]
            body["tags"] = merge_tags(body.get("tags") or [], tags, entity.kind)

        call.change(edit)
        return None

    def untag(call: Call) -> Struct | None:
        resource, find = entity.target(call)
        dropped = {k.lower() for k in call.params.string_list("TagKeys", "tagKeyType",
                                                              required=True)}
        call.authorize(resource)

        def edit(account: dict[str, Any], state: AccountState) -> None:
            body = account[entity.collection][entity.key(find(state))]
            body["tags"] = [[k, v] for k, v in body.get("tags") or []
                            if k.lower() not in dropped]

        call.change(edit)
        return None

    def list_tags(call: Call) -> Struct | None:
        resource, find = entity.target(call)
        marker, items = call.params.paging()
        call.authorize(resource)
        return tag_page(find(call.account()).tags, marker, items)

    return {f"Tag{entity.kind}": tag, f"Untag{entity.kind}": untag,
            f"List{entity.kind}Tags": list_tags}
