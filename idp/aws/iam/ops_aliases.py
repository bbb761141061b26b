"""The account alias: ``CreateAccountAlias``, ``ListAccountAliases``, ``DeleteAccountAlias``.

An alias is 3-63 characters of ``^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$`` (botocore IAM
model, ``accountAliasType``), not all digits (IAM User Guide, "Your AWS account ID and its
alias": it "cannot be … a 12-digit number"), unique across all accounts, and an account has at
most one. The console's sign-in page (``/aws/signin``) finds accounts by it.
"""

from __future__ import annotations

from typing import Any, Final

from idp.aws.errors import EntityAlreadyExists, InvalidInput, LimitExceeded, NoSuchEntity
from idp.aws.iam.context import Call, Operation, page
from idp.aws.iam.model import AccountState
from idp.aws.iam.results import Struct

__all__ = ["OPERATIONS"]


def create_account_alias(call: Call) -> Struct | None:
    alias = call.params.required("AccountAlias", "accountAliasType")
    call.authorize("*")
    if alias.isdigit():
        raise InvalidInput(f"The account alias {alias} is not valid: an alias cannot be only "
                           "digits.")

    def edit(account: dict[str, Any], state: AccountState) -> None:
        holder = call.state().account_by_alias(alias)
        if holder is not None and holder.id != call.account_id:
            raise EntityAlreadyExists(f"The account alias {alias} already exists.",
                                      detail=f"account {holder.id} has it")
        if state.alias == alias:
            return  # asking again for the alias the account has: nothing to do
        if state.alias is not None:
            raise LimitExceeded("Cannot exceed quota for AccountAliasesPerAccount: 1",
                                detail=f"the account already has the alias {state.alias}; "
                                       "delete it first")
        account["alias"] = alias

    call.change(edit)
    return None


def list_account_aliases(call: Call) -> Struct | None:
    marker, items = call.params.paging()
    call.authorize("*")
    alias = call.account().alias
    return page([alias] if alias else [], lambda a: a, marker, items, lambda a: a,
                "AccountAliases")


def delete_account_alias(call: Call) -> Struct | None:
    alias = call.params.required("AccountAlias", "accountAliasType")
    call.authorize("*")

    def edit(account: dict[str, Any], state: AccountState) -> None:
        if state.alias != alias:
            raise NoSuchEntity(f"The account alias {alias} cannot be found.")
        account["alias"] = None

    call.change(edit)
    return None


OPERATIONS: Final[dict[str, Operation]] = {
    "CreateAccountAlias": create_account_alias,
    "ListAccountAliases": list_account_aliases,
    "DeleteAccountAlias": delete_account_alias,
}
