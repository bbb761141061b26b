"""Roles: ``CreateRole``, ``GetRole``, ``ListRoles``, ``UpdateRole``, ``UpdateAssumeRolePolicy``,
``DeleteRole`` and the role tags (IAM API Reference; shapes from botocore's IAM model).

A role's trust policy is checked as IAM checks it: ``MalformedPolicyDocument`` with IAM's
message, and every IAM user or role it names must exist (``Invalid principal in policy``).
``DeleteRole`` never cascades: "Cannot delete entity, must delete policies first."
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from idp.aws.errors import DeleteConflict, EntityAlreadyExists, LimitExceeded, NoSuchEntity
from idp.aws.iam.context import (
    Call,
    Operation,
    check_principals,
    check_tags,
    encoded,
    folded,
    page,
    stored_tags,
    tag_list,
    trust_policy,
)
from idp.aws.iam.model import ROLE_ID_PREFIX, AccountState, IamRole, iso, new_unique_id
from idp.aws.iam.ops_tags import Taggable, tag_operations
from idp.aws.iam.results import Struct

__all__ = ["OPERATIONS", "role_struct"]

ROLES_PER_ACCOUNT: Final = 1000
DEFAULT_SESSION: Final = 3600


def no_role(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The role with name {name} cannot be found.")


def _existing(account: AccountState, name: str) -> IamRole:
    role = account.role(name)
    if role is None:
        raise no_role(name)
    return role


def _resource(call: Call, name: str) -> str:
    role = call.account().role(name)
    return role.arn if role is not None else call.arn("role", "/", name)


def role_struct(role: IamRole, *, full: bool) -> Struct:
    """``Role`` (``full``: ``GetRole``'s, with ``Tags`` and ``RoleLastUsed``; ``ListRoles``
    omits both: IAM API Reference, ``ListRoles``)."""
    body: Struct = {
        "Path": role.path, "RoleName": role.name, "RoleId": role.id, "Arn": role.arn,
        "CreateDate": role.created, "AssumeRolePolicyDocument": encoded(role.trust_text),
        "Description": role.description, "MaxSessionDuration": role.max_session_duration,
    }
    if full:
        if role.tags:
            body["Tags"] = tag_list(role.tags)
        body["RoleLastUsed"] = {}
    return body


def _no_boundary(call: Call) -> None:
    arn = call.params.optional("PermissionsBoundary", "arnType")
    if arn is not None:  # the simulator has no managed policies to attach
        raise NoSuchEntity(f"Scope ARN: {arn} does not exist or is not attachable.",
                           detail="the simulator models no managed policies")


def create_role(call: Call) -> Struct | None:
    params = call.params
    name = params.required("RoleName", "roleNameType")
    path = params.optional("Path", "pathType") or "/"
    text = params.required("AssumeRolePolicyDocument", "policyDocumentType")
    description = params.optional("Description", "roleDescriptionType")
    duration = params.integer("MaxSessionDuration", "roleMaxSessionDurationType")
    tags = params.tags()
    call.authorize(call.arn("role", path, name))
    _no_boundary(call)
    check_tags(tags)
    document = trust_policy(text)
    now = call.now

    def edit(account: dict[str, Any], state: AccountState) -> IamRole:
        existing = state.role(name)
        if existing is not None:
            raise EntityAlreadyExists(f"Role with name {name} already exists.")
        if len(state.roles) >= ROLES_PER_ACCOUNT:
            raise LimitExceeded(f"Cannot exceed quota for RolesPerAccount: {ROLES_PER_ACCOUNT}")
        check_principals(document, call.state())
        role_id = new_unique_id(ROLE_ID_PREFIX)
        account.setdefault("roles", {})[name] = {
            "id": role_id, "path": path, "created": iso(now), "description": description,
            "max_session_duration": duration or DEFAULT_SESSION, "trust_policy": text,
            "policies": {}, "tags": stored_tags(tags)}
        return IamRole(account_id=call.account_id, name=name, path=path, created=now.replace(
            microsecond=0), description=description,
            max_session_duration=duration or DEFAULT_SESSION, trust_text=text,
            trust_policy=document, policies=(), tags=tags, stored_id=role_id)

    role = call.change(edit)
    body = role_struct(role, full=False)
    if tags:
        body["Tags"] = tag_list(tags)
    return {"Role": body}


def get_role(call: Call) -> Struct | None:
    name = call.params.required("RoleName", "roleNameType")
    call.authorize(_resource(call, name))
    return {"Role": role_struct(_existing(call.account(), name), full=True)}


def list_roles(call: Call) -> Struct | None:
    prefix = call.params.optional("PathPrefix", "pathPrefixType") or "/"
    marker, items = call.params.paging()
    call.authorize(call.arn("role", "/", ""))
    roles = [r for r in call.account().roles.values() if r.path.startswith(prefix)]
    return page(roles, lambda r: folded(r.name), marker, items,
                lambda r: role_struct(r, full=False), "Roles")


def update_role(call: Call) -> Struct | None:
    name = call.params.required("RoleName", "roleNameType")
    description = call.params.optional("Description", "roleDescriptionType")
    duration = call.params.integer("MaxSessionDuration", "roleMaxSessionDurationType")
    call.authorize(_resource(call, name))

    def edit(account: dict[str, Any], state: AccountState) -> None:
        role = _existing(state, name)
        body = account["roles"][role.name]
        if description is not None:
            body["description"] = description
        if duration is not None:
            body["max_session_duration"] = duration

    call.change(edit)
    return {}


def update_assume_role_policy(call: Call) -> Struct | None:
    name = call.params.required("RoleName", "roleNameType")
    text = call.params.required("PolicyDocument", "policyDocumentType")
    call.authorize(_resource(call, name))
    document = trust_policy(text)

    def edit(account: dict[str, Any], state: AccountState) -> None:
        role = _existing(state, name)
        check_principals(document, call.state())
        account["roles"][role.name]["trust_policy"] = text

    call.change(edit)
    return None


def delete_role(call: Call) -> Struct | None:
    name = call.params.required("RoleName", "roleNameType")
    call.authorize(_resource(call, name))

    def edit(account: dict[str, Any], state: AccountState) -> None:
        role = _existing(state, name)
        if role.policies:
            raise DeleteConflict("Cannot delete entity, must delete policies first.",
                                 detail=f"role {role.name} has inline policies "
                                        f"{', '.join(p.name for p in role.policies)}")
        del account["roles"][role.name]

    call.change(edit)
    return None


def _target(call: Call) -> tuple[str, Callable[[AccountState], IamRole]]:
    name = call.params.required("RoleName", "roleNameType")
    return _resource(call, name), lambda state: _existing(state, name)


OPERATIONS: Final[dict[str, Operation]] = {
    "CreateRole": create_role,
    "GetRole": get_role,
    "ListRoles": list_roles,
    "UpdateRole": update_role,
    "UpdateAssumeRolePolicy": update_assume_role_policy,
    "DeleteRole": delete_role,
    **tag_operations(Taggable("Role", "roles", _target)),
}

