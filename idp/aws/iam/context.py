"""What every IAM operation shares: the call (caller, parameters, state, authorization,
changes), names, paging, tags and policy documents.

Each operation reads and checks its parameters first (``ValidationError``), then authorizes
the caller for ``iam:<Action>`` on the resource's ARN (``AccessDenied``), then looks at the
state (``NoSuchEntity``...) and changes it in one ``Iam.change`` edit: an ``AwsError`` raised
inside the edit leaves the stored document as it was.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar
from urllib.parse import quote

from idp.aws.authorization import authorize
from idp.aws.errors import (
    AccessDenied,
    ConcurrentModification,
    InvalidInput,
    LimitExceeded,
    MalformedPolicyDocument,
    NoSuchEntity,
    ValidationError,
)
from idp.aws.iam import Iam
from idp.aws.iam.model import AccountState, IamState, IamUser, iso
from idp.aws.iam.params import Params
from idp.aws.iam.results import Struct, Value
from idp.aws.iam.store import ConcurrentChange
from idp.aws.mfa import MfaCodes
from idp.aws.principals import Caller, CallerKind
from idp.clock import Clock
from idp.directory.policy import PolicyDocument, PolicyKind, parse_policy_text
from idp.errors import MalformedPolicyError

__all__ = [
    "Call",
    "Operation",
    "check_tags",
    "encoded",
    "identity_policy",
    "merge_tags",
    "page",
    "tag_list",
    "trust_policy",
]

T = TypeVar("T")
Operation = Callable[["Call"], "Struct | None"]

#: Trust policy quota (IAM User Guide, "IAM and AWS STS quotas": role trust policy length
#: 2,048 characters; whitespace is not counted).
TRUST_POLICY_CHARS: Final = 2048
TAGS_PER_ENTITY: Final = 50
NON_USER: Final = "Must specify userName when calling with non-User credentials"


@dataclass
class Call:
    """One IAM request: who, what, and the IAM state it acts on (the caller's account)."""

    action: str
    params: Params
    caller: Caller
    iam: Iam
    clock: Clock
    mfa: MfaCodes
    authorized: bool = False
    _state: IamState | None = field(default=None, repr=False)

    @property
    def account_id(self) -> str:
        return self.caller.account

    @property
    def now(self) -> dt.datetime:
        return self.clock.now()

    def state(self) -> IamState:
        if self._state is None:
            self._state = self.iam.state()
        return self._state

    def account(self) -> AccountState:
        found = self.state().account(self.account_id)
        if found is None:  # a caller is always of a known account; never reached
            raise AccessDenied(f"Account {self.account_id} does not exist in the simulator")
        return found

    def arn(self, kind: str, path: str, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:{kind}{path}{name}"

    def authorize(self, resource: str) -> None:
        """``AccessDenied`` unless the caller's identity policies allow ``iam:<Action>`` on
        ``resource`` (an ARN of another account is never allowed: IAM acts on the
        caller's own account)."""
        action = f"iam:{self.action}"
        parts = resource.split(":", 5)
        if resource != "*" and len(parts) == 6 and parts[4] not in ("", self.account_id):
            raise AccessDenied(
                f"User: {self.caller.arn} is not authorized to perform: {action} on resource: "
                f"{resource}",
                detail=f"{resource} is in account {parts[4]}; IAM requests act on the "
                       f"caller's account {self.account_id} only")
        authorize(self.state(), self.caller, action, resource, now=self.now)
        self.authorized = True

    def change(self, edit: Callable[[dict[str, Any], AccountState], T]) -> T:
        """Edit the caller's account in the stored document, all or nothing."""

        def apply(document: dict[str, Any], state: IamState) -> T:
            account = state.account(self.account_id)
            if account is None:
                raise AccessDenied(f"Account {self.account_id} does not exist")
            self._state = state
            return edit(document["accounts"][self.account_id], account)

        try:
            return self.iam.change(apply)
        except ConcurrentChange as exc:
            raise ConcurrentModification(detail=str(exc)) from None

    # --- the user a request is about ------------------------------------------------------

    def user_name(self, given: str | None) -> str:
        """``UserName`` if given, else the calling IAM user's (a role session must name one)."""
        if given is not None:
            return given
        if self.caller.kind is CallerKind.ROLE_SESSION or self.caller.user_name is None:
            raise ValidationError(NON_USER)
        return self.caller.user_name

    def user_arn(self, name: str) -> str:
        """The ARN to authorize for user ``name`` (its path, when the user exists)."""
        user = self.account().user(name)
        return user.arn if user is not None else self.arn("user", "/", name)


def no_user(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The user with name {name} cannot be found.")


def existing_user(account: AccountState, name: str) -> IamUser:
    user = account.user(name)
    if user is None:
        raise no_user(name)
    return user


# --- paging -----------------------------------------------------------------------------


def _marker(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii")


def _unmarker(marker: str) -> str:
    try:
        return base64.b64decode(marker.encode("ascii"), altchars=b"-_",
                                validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidInput("Invalid Marker.", detail=f"{marker!r} is not a Marker this "
                           "simulator returned") from None


def page(items: Iterable[T], key: Callable[[T], str], marker: str | None, max_items: int,
         into: Callable[[T], Value], member: str) -> Struct:
    """One page of ``items`` in ``key`` order: ``{member: [...], IsTruncated, Marker}``.

    The ``Marker`` returned is the (encoded) key of the first item of the next page, so a
    list that changes between pages neither repeats nor skips what is left.
    """
    ordered = sorted(items, key=key)
    if marker is not None:
        start = _unmarker(marker)
        ordered = [item for item in ordered if key(item) >= start]
    chosen = ordered[:max_items]
    truncated = len(ordered) > max_items
    result: Struct = {member: [into(item) for item in chosen], "IsTruncated": truncated}
    if truncated:
        result["Marker"] = _marker(key(ordered[max_items]))
    return result


def folded(name: str) -> str:
    """A sort key: IAM lists names in alphabetical order regardless of case."""
    return name.lower() + "\x00" + name


# --- tags ---------------------------------------------------------------------------------


def check_tags(tags: Sequence[tuple[str, str]]) -> None:
    """One key at most once, regardless of case (IAM: "Tag keys are case insensitive"); no
    key in AWS's reserved ``aws:`` space, in any case (IAM User Guide, "Tags for AWS Identity
    and Access Management resources": "you can't create, edit, or delete tag keys that begin
    with the aws: prefix"; IAM's exact words are not documented: EC2's are used)."""
    reserved = [key for key, _ in tags if key.lower().startswith("aws:")]
    if reserved:
        raise InvalidInput("Tag keys starting with 'aws:' are reserved for internal use",
                           detail=f"tag key {reserved[0][:128]!r}")
    seen = {key.lower() for key, _ in tags}
    if len(seen) != len(tags):
        raise InvalidInput("Duplicate tag keys found. Please note that Tag keys are case "
                           "insensitive.")


def merge_tags(current: Sequence[Sequence[str]], new: Sequence[tuple[str, str]],
               kind: str) -> list[list[str]]:
    """``current`` with ``new`` over it (a key already there is replaced), at most 50."""
    check_tags(new)
    replaced = {key.lower() for key, _ in new}
    merged = [[k, v] for k, v in current if k.lower() not in replaced]
    merged += [[k, v] for k, v in new]
    if len(merged) > TAGS_PER_ENTITY:
        raise LimitExceeded(f"Cannot exceed quota for TagsPer{kind}: {TAGS_PER_ENTITY}")
    return merged


def tag_list(tags: Iterable[tuple[str, str]] | Iterable[Sequence[str]]) -> list[Value]:
    return [{"Key": k, "Value": v} for k, v in tags]


def tag_page(tags: Sequence[tuple[str, str]], marker: str | None, max_items: int) -> Struct:
    """``List*Tags``: the tags in the order they were added, paged."""
    numbered = list(enumerate(tags))
    return page(numbered, lambda t: f"{t[0]:06d}", marker, max_items,
                lambda t: {"Key": t[1][0], "Value": t[1][1]}, "Tags")


def stored_tags(tags: Sequence[tuple[str, str]]) -> list[list[str]]:
    return [[k, v] for k, v in tags]


# --- policies -----------------------------------------------------------------------------


def encoded(text: str) -> str:
    """A policy document as IAM returns it: the text as submitted, URL-encoded (RFC 3986)."""
    return quote(text, safe="-_.~")


def _malformed(exc: MalformedPolicyError) -> MalformedPolicyDocument:
    return MalformedPolicyDocument(exc.aws_message, detail=exc.message)


def identity_policy(text: str) -> PolicyDocument:
    try:
        return parse_policy_text(text, kind=PolicyKind.IDENTITY)
    except MalformedPolicyError as exc:
        raise _malformed(exc) from None


def weight(text: str) -> int:
    """A policy's size as IAM's quotas count it: characters other than whitespace."""
    return sum(1 for ch in text if not ch.isspace())


def trust_policy(text: str) -> PolicyDocument:
    """A role trust policy IAM would store (``MalformedPolicyDocument``, ``LimitExceeded``)."""
    try:
        document = parse_policy_text(text, kind=PolicyKind.TRUST)
    except MalformedPolicyError as exc:
        raise _malformed(exc) from None
    if weight(text) > TRUST_POLICY_CHARS:
        raise LimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_CHARS}",
                            detail=f"the trust policy is {weight(text)} characters without "
                                   "whitespace")
    return document


def _check_federated(value: str, state: IamState) -> None:
    """A SAML or OIDC provider named as ``{"Federated": ARN}`` in an account the simulator
    holds must exist, as IAM checks when the policy is saved (the "Invalid principal in
    policy" that a role created before its EKS cluster's OIDC provider gets)."""
    parts = value.split(":", 5)
    if (len(parts) != 6 or parts[:3] != ["arn", "aws", "iam"]
            or state.account(parts[4]) is None):
        return
    if parts[5].startswith("saml-provider/"):
        found, kind = state.saml_provider(value) is not None, "SAML"
    elif parts[5].startswith("oidc-provider/"):
        found, kind = state.oidc_provider(value) is not None, "OIDC"
    else:
        return
    if not found:
        raise MalformedPolicyDocument(f'Invalid principal in policy: "Federated":"{value}"',
                                      detail=f"no {kind} provider {value}")


def check_principals(document: PolicyDocument, state: IamState) -> None:
    """Every IAM user or role a trust policy names as ``{"AWS": ARN}`` must exist (IAM stores
    the principal's unique ID): ``Invalid principal in policy: "AWS":"ARN"``. Accounts the
    simulator does not hold are not checked (nothing is known of them)."""
    for statement in document.statements:
        for kind, value in statement.principals:
            if kind == "Federated":
                _check_federated(value, state)
                continue
            if kind != "AWS" or not value.startswith("arn:"):
                continue
            parts = value.split(":", 5)
            if len(parts) != 6 or parts[2] != "iam":
                continue
            account = state.account(parts[4])
            resource = parts[5]
            if account is None or resource == "root":
                continue
            if resource.startswith("user/"):
                user = account.user(resource.rsplit("/", 1)[-1])
                found = user is not None and user.arn == value
            elif resource.startswith("role/"):
                found = state.role(value) is not None
            else:
                found = False
            if not found:
                raise MalformedPolicyDocument(f'Invalid principal in policy: "AWS":"{value}"',
                                              detail=f"{value} does not exist")


def created(when: dt.datetime) -> str:
    return iso(when)
