"""IAM users, their console passwords (login profiles) and access keys.

``GetUser`` (and the other operations whose ``UserName`` is optional) acts on the calling
user when no name is given; a role session must name one: ``ValidationError`` "Must specify
userName when calling with non-User credentials". ``DeleteUser`` never cascades (IAM User
Guide, "Deleting an IAM user": "…must delete login profile first.", "…access keys…", "…MFA
device…", "…policies…", groups). ``CreateAccessKey`` makes ``AKIA`` + 16 base32 characters and
a 40-character secret, returned only then; two keys per user, inactive ones included.
"""

from __future__ import annotations

import base64
import secrets
import string
from collections.abc import Callable
from typing import Any, Final

from idp.aws.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
    PasswordPolicyViolation,
)
from idp.aws.iam.context import (
    Call,
    Operation,
    check_tags,
    existing_user,
    folded,
    page,
    stored_tags,
    tag_list,
)
from idp.aws.iam.model import USER_ID_PREFIX, AccountState, IamState, IamUser, iso, new_unique_id
from idp.aws.iam.ops_tags import Taggable, tag_operations
from idp.aws.iam.results import Struct
from idp.directory.passwords import hash_password

__all__ = ["OPERATIONS", "user_struct"]

USERS_PER_ACCOUNT: Final = 5000
KEYS_PER_USER: Final = 2
#: What a secret access key is written with (base64's alphabet).
_KEY_ALPHABET: Final = string.ascii_letters + string.digits + "+/"


def user_struct(user: IamUser, *, tags: bool = False) -> Struct:
    """``User`` (``tags``: ``GetUser``'s, which carries them; the lists do not)."""
    body: Struct = {"Path": user.path, "UserName": user.name, "UserId": user.id,
                    "Arn": user.arn, "CreateDate": user.created}
    if tags and user.tags:
        body["Tags"] = tag_list(user.tags)
    return body


def _no_boundary(call: Call) -> None:
    arn = call.params.optional("PermissionsBoundary", "arnType")
    if arn is not None:
        raise NoSuchEntity(f"Scope ARN: {arn} does not exist or is not attachable.",
                           detail="the simulator models no managed policies")


# --- users ----------------------------------------------------------------------------------


def create_user(call: Call) -> Struct | None:
    name = call.params.required("UserName", "userNameType")
    path = call.params.optional("Path", "pathType") or "/"
    tags = call.params.tags()
    call.authorize(call.arn("user", path, name))
    _no_boundary(call)
    check_tags(tags)
    now = call.now

    def edit(account: dict[str, Any], state: AccountState) -> IamUser:
        if state.user(name) is not None:
            raise EntityAlreadyExists(f"User with name {name} already exists.")
        if len(state.users) >= USERS_PER_ACCOUNT:
            raise LimitExceeded(f"Cannot exceed quota for UsersPerAccount: {USERS_PER_ACCOUNT}")
        user_id = new_unique_id(USER_ID_PREFIX)
        account.setdefault("users", {})[name] = {
            "id": user_id, "path": path, "created": iso(now), "password_hash": None,
            "password_created": None, "password_reset_required": False, "access_keys": [],
            "policies": {}, "groups": [], "tags": stored_tags(tags)}
        return IamUser(account_id=call.account_id, name=name, path=path,
                       created=now.replace(microsecond=0), password_hash=None,
                       password_created=None, password_reset_required=False, access_keys=(),
                       policies=(), groups=(), tags=tags, stored_id=user_id)

    user = call.change(edit)
    return {"User": user_struct(user, tags=True)}


def get_user(call: Call) -> Struct | None:
    name = call.user_name(call.params.optional("UserName", "existingUserNameType"))
    call.authorize(call.user_arn(name))
    return {"User": user_struct(existing_user(call.account(), name), tags=True)}


def list_users(call: Call) -> Struct | None:
    prefix = call.params.optional("PathPrefix", "pathPrefixType") or "/"
    marker, items = call.params.paging()
    call.authorize(call.arn("user", "/", ""))
    users = [u for u in call.account().users.values() if u.path.startswith(prefix)]
    return page(users, lambda u: folded(u.name), marker, items, user_struct, "Users")


def _delete_conflict(user: IamUser, account: AccountState) -> DeleteConflict | None:
    if user.password_hash is not None:
        return DeleteConflict("Cannot delete entity, must delete login profile first.")
    if user.access_keys:
        return DeleteConflict("Cannot delete entity, must delete access keys first.")
    if any(d.user_name is not None and d.user_name.lower() == user.name.lower()
           for d in account.mfa_devices.values()):
        return DeleteConflict("Cannot delete entity, must delete MFA device first.")
    if user.policies:
        return DeleteConflict("Cannot delete entity, must delete policies first.")
    if user.groups:
        return DeleteConflict("Cannot delete entity, must remove user from all groups first.")
    return None


def delete_user(call: Call) -> Struct | None:
    name = call.params.required("UserName", "existingUserNameType")
    call.authorize(call.user_arn(name))

    def edit(account: dict[str, Any], state: AccountState) -> None:
        user = existing_user(state, name)
        conflict = _delete_conflict(user, state)
        if conflict is not None:
            raise conflict
        del account["users"][user.name]

    call.change(edit)
    return None


# --- login profiles ------------------------------------------------------------------------


def _profile(user: IamUser) -> Struct:
    return {"UserName": user.name, "CreateDate": user.password_created or user.created,
            "PasswordResetRequired": user.password_reset_required}


def _no_profile(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"Login Profile for User {name} cannot be found.")


_PASSWORD_SYMBOLS: Final = frozenset("!@#$%^&*()_+-=[]{}|'")


def check_password(password: str) -> None:
    """AWS's default password policy, which applies while an account sets none (IAM User
    Guide, "Set an account password policy for IAM users"): 8 to 128 characters, at least
    three of upper case, lower case, digits and the symbols ``! @ # $ % ^ & * ( ) _ + - = [ ]
    { } | '``. The simulator has no custom password policies."""
    kinds = [any(c.isascii() and c.isupper() for c in password),
             any(c.isascii() and c.islower() for c in password),
             any(c.isascii() and c.isdigit() for c in password),
             any(c in _PASSWORD_SYMBOLS for c in password)]
    if not 8 <= len(password) <= 128 or sum(kinds) < 3:
        raise PasswordPolicyViolation(
            "Password does not conform to the account password policy.",
            detail="AWS's default policy: 8-128 characters with at least three of upper case, "
                   "lower case, digits and symbols")


def create_login_profile(call: Call) -> Struct | None:
    name = call.user_name(call.params.optional("UserName", "userNameType"))
    password = call.params.required("Password", "passwordType")
    reset = bool(call.params.boolean("PasswordResetRequired"))
    call.authorize(call.user_arn(name))
    now = call.now
    check_password(password)
    hashed = hash_password(password)

    def edit(account: dict[str, Any], state: AccountState) -> IamUser:
        user = existing_user(state, name)
        if user.password_hash is not None:
            raise EntityAlreadyExists(f"Login Profile for user {user.name} already exists.")
        body = account["users"][user.name]
        body.update(password_hash=hashed, password_created=iso(now),
                    password_reset_required=reset)
        return user

    user = call.change(edit)
    return {"LoginProfile": {"UserName": user.name, "CreateDate": now.replace(microsecond=0),
                             "PasswordResetRequired": reset}}


def get_login_profile(call: Call) -> Struct | None:
    name = call.user_name(call.params.optional("UserName", "userNameType"))
    call.authorize(call.user_arn(name))
    user = existing_user(call.account(), name)
    if user.password_hash is None:
        raise _no_profile(user.name)
    return {"LoginProfile": _profile(user)}


def update_login_profile(call: Call) -> Struct | None:
    name = call.user_name(call.params.optional("UserName", "userNameType"))
    password = call.params.optional("Password", "passwordType")
    reset = call.params.boolean("PasswordResetRequired")
    call.authorize(call.user_arn(name))
    if password is not None:
        check_password(password)
    hashed = hash_password(password) if password is not None else None

    def edit(account: dict[str, Any], state: AccountState) -> None:
        user = existing_user(state, name)
        if user.password_hash is None:
            raise _no_profile(user.name)
        body = account["users"][user.name]
        if hashed is not None:
            body["password_hash"] = hashed
        if reset is not None:
            body["password_reset_required"] = reset

    call.change(edit)
    return None


def delete_login_profile(call: Call) -> Struct | None:
    name = call.user_name(call.params.optional("UserName", "userNameType"))
    call.authorize(call.user_arn(name))

    def edit(account: dict[str, Any], state: AccountState) -> None:
        user = existing_user(state, name)
        if user.password_hash is None:
            raise _no_profile(user.name)
        account["users"][user.name].update(password_hash=None, password_created=None,
                                           password_reset_required=False)

    call.change(edit)
    return None


# --- access keys ---------------------------------------------------------------------------


def _new_key_id(state: IamState) -> str:
    while True:
        key_id = "AKIA" + base64.b32encode(secrets.token_bytes(10)).decode("ascii")[:16]
        if state.access_key(key_id) is None:
            return key_id


def _new_secret() -> str:
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(40))


def create_access_key(call: Call) -> Struct | None:
    name = call.user_name(call.params.optional("UserName", "existingUserNameType"))
    call.authorize(call.user_arn(name))
    now = call.now
    secret = _new_secret()

    def edit(account: dict[str, Any], state: AccountState) -> tuple[str, str]:
        user = existing_user(state, name)
        if len(user.access_keys) >= KEYS_PER_USER:
            held = ", ".join(f"{k.id} ({k.status})" for k in user.access_keys)
            raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {KEYS_PER_USER}",
                                detail=f"user {user.name} has {held}")
        key_id = _new_key_id(call.state())
        account["users"][user.name].setdefault("access_keys", []).append(
            {"id": key_id, "secret": secret, "active": True, "created": iso(now)})
        return user.name, key_id

    user_name, key_id = call.change(edit)
    return {"AccessKey": {"UserName": user_name, "AccessKeyId": key_id, "Status": "Active",
                          "SecretAccessKey": secret, "CreateDate": now.replace(microsecond=0)}}


def list_access_keys(call: Call) -> Struct | None:
    name = call.user_name(call.params.optional("UserName", "existingUserNameType"))
    marker, items = call.params.paging()
    call.authorize(call.user_arn(name))
    user = existing_user(call.account(), name)
    return page(user.access_keys, lambda k: f"{k.created.isoformat()} {k.id}", marker, items,
                lambda k: {"UserName": user.name, "AccessKeyId": k.id, "Status": k.status,
                           "CreateDate": k.created}, "AccessKeyMetadata")


def _key_index(user: IamUser, key_id: str) -> int:
    for index, key in enumerate(user.access_keys):
        if key.id == key_id:
            return index
    raise NoSuchEntity(f"The Access Key with id {key_id} cannot be found.")


def update_access_key(call: Call) -> Struct | None:
    name = call.user_name(call.params.optional("UserName", "existingUserNameType"))
    key_id = call.params.required("AccessKeyId", "accessKeyIdType")
    status = call.params.required("Status", "statusType")
    call.authorize(call.user_arn(name))
    if status == "Expired":
        raise InvalidInput("The status Expired cannot be set; use Active or Inactive.")

    def edit(account: dict[str, Any], state: AccountState) -> None:
        user = existing_user(state, name)
        index = _key_index(user, key_id)
        account["users"][user.name]["access_keys"][index]["active"] = status == "Active"

    call.change(edit)
    return None


def delete_access_key(call: Call) -> Struct | None:
    name = call.user_name(call.params.optional("UserName", "existingUserNameType"))
    key_id = call.params.required("AccessKeyId", "accessKeyIdType")
    call.authorize(call.user_arn(name))

    def edit(account: dict[str, Any], state: AccountState) -> None:
        user = existing_user(state, name)
        index = _key_index(user, key_id)
        del account["users"][user.name]["access_keys"][index]

    call.change(edit)
    return None


def _target(call: Call) -> tuple[str, Callable[[AccountState], IamUser]]:
    name = call.params.required("UserName", "existingUserNameType")
    return call.user_arn(name), lambda state: existing_user(state, name)


OPERATIONS: Final[dict[str, Operation]] = {
    "CreateUser": create_user,
    "GetUser": get_user,
    "ListUsers": list_users,
    "DeleteUser": delete_user,
    **tag_operations(Taggable("User", "users", _target)),
    "CreateLoginProfile": create_login_profile,
    "GetLoginProfile": get_login_profile,
    "UpdateLoginProfile": update_login_profile,
    "DeleteLoginProfile": delete_login_profile,
    "CreateAccessKey": create_access_key,
    "ListAccessKeys": list_access_keys,
    "UpdateAccessKey": update_access_key,
    "DeleteAccessKey": delete_access_key,
}
