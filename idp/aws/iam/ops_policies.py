"""Inline policies of roles, users and groups: ``Put``/``Get``/``Delete``/``List*Policies``.

A policy is stored as the text submitted and returned URL-encoded (IAM API Reference,
``GetRolePolicy``). The aggregate size of an entity's inline policies is capped (IAM User
Guide, "IAM and AWS STS quotas": role 10,240, user 2,048, group 5,120 characters, whitespace
not counted): ``LimitExceeded`` "Maximum policy size of 10240 bytes exceeded for role NAME".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from idp.aws.errors import LimitExceeded, NoSuchEntity
from idp.aws.iam.context import Call, Operation, encoded, folded, identity_policy, page, weight
from idp.aws.iam.model import AccountState, InlinePolicy
from idp.aws.iam.results import Struct

__all__ = ["OPERATIONS"]


@dataclass(frozen=True)
class Owner:
    """Roles, users or groups: how their parameters, documents and messages are spelled."""

    word: str          # "role"
    member: str        # "RoleName"
    shape: str         # "roleNameType"
    collection: str    # "roles" (the document's key)
    limit: int

    def find(self, account: AccountState, name: str) -> Any:
        found = {"role": account.role, "user": account.user, "group": account.group}[
            self.word](name)
        if found is None:
            raise NoSuchEntity(f"The {self.word} with name {name} cannot be found.")
        return found


ROLE: Final = Owner("role", "RoleName", "roleNameType", "roles", 10240)
USER: Final = Owner("user", "UserName", "existingUserNameType", "users", 2048)
GROUP: Final = Owner("group", "GroupName", "groupNameType", "groups", 5120)


def _resource(call: Call, owner: Owner, name: str) -> str:
    try:
        return str(owner.find(call.account(), name).arn)
    except NoSuchEntity:
        return call.arn(owner.word, "/", name)


def _policy(owner: Owner, entity: Any, name: str) -> InlinePolicy:
    wanted = name.lower()
    for policy in entity.policies:
        if policy.name.lower() == wanted:
            return policy  # type: ignore[no-any-return]
    raise NoSuchEntity(f"The {owner.word} policy with name {name} cannot be found.")


def _put(owner: Owner) -> Operation:
    def put(call: Call) -> Struct | None:
        name = call.params.required(owner.member, owner.shape)
        policy_name = call.params.required("PolicyName", "policyNameType")
        text = call.params.required("PolicyDocument", "policyDocumentType")
        call.authorize(_resource(call, owner, name))
        identity_policy(text)

        def edit(account: dict[str, Any], state: AccountState) -> None:
            entity = owner.find(state, name)
            policies: dict[str, str] = account[owner.collection][entity.name].setdefault(
                "policies", {})
            for existing in list(policies):
                if existing.lower() == policy_name.lower():
                    del policies[existing]
            policies[policy_name] = text
            total = sum(weight(t) for t in policies.values())
            if total > owner.limit:
                raise LimitExceeded(
                    f"Maximum policy size of {owner.limit} bytes exceeded for {owner.word} "
                    f"{entity.name}",
                    detail=f"the {owner.word}'s inline policies would be {total} characters "
                           "without whitespace")

        call.change(edit)
        return None

    return put


def _get(owner: Owner) -> Operation:
    def get(call: Call) -> Struct | None:
        name = call.params.required(owner.member, owner.shape)
        policy_name = call.params.required("PolicyName", "policyNameType")
        call.authorize(_resource(call, owner, name))
        entity = owner.find(call.account(), name)
        policy = _policy(owner, entity, policy_name)
        return {owner.member: entity.name, "PolicyName": policy.name,
                "PolicyDocument": encoded(policy.text)}

    return get


def _delete(owner: Owner) -> Operation:
    def delete(call: Call) -> Struct | None:
        name = call.params.required(owner.member, owner.shape)
        policy_name = call.params.required("PolicyName", "policyNameType")
        call.authorize(_resource(call, owner, name))

        def edit(account: dict[str, Any], state: AccountState) -> None:
            entity = owner.find(state, name)
            policy = _policy(owner, entity, policy_name)
            del account[owner.collection][entity.name]["policies"][policy.name]

        call.change(edit)
        return None

    return delete


def _list(owner: Owner) -> Operation:
    def list_policies(call: Call) -> Struct | None:
        name = call.params.required(owner.member, owner.shape)
        marker, items = call.params.paging()
        call.authorize(_resource(call, owner, name))
        entity = owner.find(call.account(), name)
        names = [p.name for p in entity.policies]
        return page(names, folded, marker, items, lambda n: n, "PolicyNames")

    return list_policies


OPERATIONS: Final[dict[str, Operation]] = {}
for _owner, _prefix in ((ROLE, "Role"), (USER, "User"), (GROUP, "Group")):
    OPERATIONS[f"Put{_prefix}Policy"] = _put(_owner)
    OPERATIONS[f"Get{_prefix}Policy"] = _get(_owner)
    OPERATIONS[f"Delete{_prefix}Policy"] = _delete(_owner)
    OPERATIONS[f"List{_prefix}Policies"] = _list(_owner)
