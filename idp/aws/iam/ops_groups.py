"""IAM groups: ``CreateGroup``, ``GetGroup`` (with its users), ``ListGroups``,
``ListGroupsForUser``, ``AddUserToGroup``, ``RemoveUserFromGroup``, ``DeleteGroup``.

Membership is kept on the user (``groups``), with the group's stored name. ``DeleteGroup``
never cascades: "Cannot delete entity, must remove users from group first." / "…must delete
policies first." (IAM User Guide, "Deleting an IAM group"). A user is in at most 10 groups
(IAM quotas: "Groups an IAM user can be a member of").
"""

from __future__ import annotations

from typing import Any, Final

from idp.aws.errors import DeleteConflict, EntityAlreadyExists, LimitExceeded, NoSuchEntity
from idp.aws.iam.context import Call, Operation, existing_user, folded, page
from idp.aws.iam.model import GROUP_ID_PREFIX, AccountState, IamGroup, iso, new_unique_id
from idp.aws.iam.ops_users import user_struct
from idp.aws.iam.results import Struct

__all__ = ["OPERATIONS"]

GROUPS_PER_ACCOUNT: Final = 300
GROUPS_PER_USER: Final = 10


def _group(group: IamGroup) -> Struct:
    return {"Path": group.path, "GroupName": group.name, "GroupId": group.id,
            "Arn": group.arn, "CreateDate": group.created}


def _existing(account: AccountState, name: str) -> IamGroup:
    group = account.group(name)
    if group is None:
        raise NoSuchEntity(f"The group with name {name} cannot be found.")
    return group


def _resource(call: Call, name: str) -> str:
    group = call.account().group(name)
    return group.arn if group is not None else call.arn("group", "/", name)


def _members(account: AccountState, group: IamGroup) -> list[Any]:
    return [u for u in account.users.values()
            if any(g.lower() == group.name.lower() for g in u.groups)]


def create_group(call: Call) -> Struct | None:
    name = call.params.required("GroupName", "groupNameType")
    path = call.params.optional("Path", "pathType") or "/"
    call.authorize(call.arn("group", path, name))
    now = call.now

    def edit(account: dict[str, Any], state: AccountState) -> IamGroup:
        if state.group(name) is not None:
            raise EntityAlreadyExists(f"Group with name {name} already exists.")
        if len(state.groups) >= GROUPS_PER_ACCOUNT:
            raise LimitExceeded(
                f"Cannot exceed quota for GroupsPerAccount: {GROUPS_PER_ACCOUNT}")
        group_id = new_unique_id(GROUP_ID_PREFIX)
        account.setdefault("groups", {})[name] = {"id": group_id, "path": path,
                                                  "created": iso(now), "policies": {}}
        return IamGroup(account_id=call.account_id, name=name, path=path,
                        created=now.replace(microsecond=0), policies=(), stored_id=group_id)

    return {"Group": _group(call.change(edit))}


def get_group(call: Call) -> Struct | None:
    name = call.params.required("GroupName", "groupNameType")
    marker, items = call.params.paging()
    call.authorize(_resource(call, name))
    account = call.account()
    group = _existing(account, name)
    body: Struct = {"Group": _group(group)}
    body.update(page(_members(account, group), lambda u: folded(u.name), marker, items,
                     user_struct, "Users"))
    return body


def list_groups(call: Call) -> Struct | None:
    prefix = call.params.optional("PathPrefix", "pathPrefixType") or "/"
    marker, items = call.params.paging()
    call.authorize(call.arn("group", "/", ""))
    groups = [g for g in call.account().groups.values() if g.path.startswith(prefix)]
    return page(groups, lambda g: folded(g.name), marker, items, _group, "Groups")


def list_groups_for_user(call: Call) -> Struct | None:
    name = call.params.required("UserName", "existingUserNameType")
    marker, items = call.params.paging()
    call.authorize(call.user_arn(name))
    account = call.account()
    user = existing_user(account, name)
    groups = [g for g in (account.group(n) for n in user.groups) if g is not None]
    return page(groups, lambda g: folded(g.name), marker, items, _group, "Groups")


def add_user_to_group(call: Call) -> Struct | None:
    group_name = call.params.required("GroupName", "groupNameType")
    user_name = call.params.required("UserName", "existingUserNameType")
    call.authorize(_resource(call, group_name))

    def edit(account: dict[str, Any], state: AccountState) -> None:
        group = _existing(state, group_name)
        user = existing_user(state, user_name)
        groups: list[str] = account["users"][user.name].setdefault("groups", [])
        if any(g.lower() == group.name.lower() for g in groups):
            return  # already a member: IAM answers success
        if len(groups) >= GROUPS_PER_USER:
            raise LimitExceeded(f"Cannot exceed quota for GroupsPerUser: {GROUPS_PER_USER}")
        groups.append(group.name)

    call.change(edit)
    return None


def remove_user_from_group(call: Call) -> Struct | None:
    group_name = call.params.required("GroupName", "groupNameType")
    user_name = call.params.required("UserName", "existingUserNameType")
    call.authorize(_resource(call, group_name))

    def edit(account: dict[str, Any], state: AccountState) -> None:
        group = _existing(state, group_name)
        user = existing_user(state, user_name)
        groups: list[str] = account["users"][user.name].get("groups") or []
        kept = [g for g in groups if g.lower() != group.name.lower()]
        if len(kept) == len(groups):
            raise NoSuchEntity(f"User {user.name} is not in group {group.name}.")
        account["users"][user.name]["groups"] = kept

    call.change(edit)
    return None


def delete_group(call: Call) -> Struct | None:
    name = call.params.required("GroupName", "groupNameType")
    call.authorize(_resource(call, name))

    def edit(account: dict[str, Any], state: AccountState) -> None:
        group = _existing(state, name)
        if _members(state, group):
            raise DeleteConflict("Cannot delete entity, must remove users from group first.")
        if group.policies:
            raise DeleteConflict("Cannot delete entity, must delete policies first.")
        del account["groups"][group.name]

    call.change(edit)
    return None


OPERATIONS: Final[dict[str, Operation]] = {
    "CreateGroup": create_group,
    "GetGroup": get_group,
    "ListGroups": list_groups,
    "ListGroupsForUser": list_groups_for_user,
    "AddUserToGroup": add_user_to_group,
    "RemoveUserFromGroup": remove_user_from_group,
    "DeleteGroup": delete_group,
}
