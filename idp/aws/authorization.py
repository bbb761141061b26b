"""May this caller do this? A caller's identity policies, evaluated for one action on one
resource, with AWS's ``AccessDenied`` message when they do not allow it.

IAM User Guide, "Policy evaluation logic": within an account a request is allowed when an
identity-based policy allows it and no policy denies it. The identity policies are:

* an IAM user (and the user's ``GetSessionToken`` sessions): the user's inline policies and
  those of the user's groups;
* a role session: the role's inline policies, narrowed by the session policy passed to
  ``AssumeRole`` (a session may do only what both allow: "Session policies").

The denial reads as AWS writes it (IAM User Guide, "Troubleshooting access denied error
messages")::

    User: arn:aws:iam::444455556666:user/ops is not authorized to perform: sts:AssumeRole on
    resource: arn:aws:iam::111122223333:role/BreakGlass
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from idp.aws.errors import AccessDenied
from idp.aws.iam.model import IamState, InlinePolicy
from idp.aws.policy import AccessRequest, Decision, evaluate_identity_policies
from idp.aws.principals import Caller, CallerKind
from idp.directory.policy import PolicyDocument, PolicyKind, parse_policy_text
from idp.errors import MalformedPolicyError, Rule

__all__ = ["MANAGED_ONLY_SESSION_POLICY", "authorize", "decide", "identity_policies",
           "not_authorized", "session_policy_for"]


def _named(policies: tuple[InlinePolicy, ...], owner: str) -> list[PolicyDocument]:
    return [replace(p.document, name=f"{p.name} of {owner}") for p in policies]


def identity_policies(state: IamState, caller: Caller) -> list[PolicyDocument]:
    """The caller's identity policies (inline; the simulator has no managed policies)."""
    account = state.account(caller.account)
    if account is None:
        return []
    if caller.kind is CallerKind.ROLE_SESSION:
        role = state.role(caller.role_arn or "")
        if role is None or (caller.role_id is not None and role.id != caller.role_id):
            return []  # deleted (and perhaps created again: another role)
        return _named(role.policies, f"role {role.name}")
    user = account.user(caller.user_name or "")
    if user is None:
        return []
    found = _named(user.policies, f"user {user.name}")
    for group_name in user.groups:
        group = account.group(group_name)
        if group is not None:
            found += _named(group.policies, f"group {group.name}")
    return found


#: The session policy of a session given only managed ``PolicyArns``: the simulator has no
#: managed policies, so they grant nothing and the session may do nothing (failing closed:
#: the session's permissions are the role's policies intersected with the session policies).
MANAGED_ONLY_SESSION_POLICY: Final = json.dumps({
    "Version": "2012-10-17", "Statement": [{
        "Sid": "ManagedSessionPoliciesAreNotModelled", "Effect": "Deny", "Action": "*",
        "Resource": "*"}]}, separators=(",", ":"))


def session_policy_for(policy: str | None, policy_arns: tuple[str, ...]) -> str | None:
    """The session policy a session keeps: the inline ``Policy`` (managed ``PolicyArns``,
    not modelled, add nothing to it), or ``MANAGED_ONLY_SESSION_POLICY`` when only
    ``PolicyArns`` were given."""
    if policy is None and policy_arns:
        return MANAGED_ONLY_SESSION_POLICY
    return policy


def not_authorized(caller: Caller, action: str, resource: str) -> str:
    """AWS's ``AccessDenied`` message for an identity that may not do ``action``."""
    return (f"User: {caller.arn} is not authorized to perform: {action} on resource: "
            f"{resource}")


def decide(state: IamState, caller: Caller, action: str, resource: str, *, now: dt.datetime,
           context: Mapping[str, tuple[str, ...]] | None = None,
           session_policy: str | None = None, resource_grant: bool = False) -> Decision:
    """The verdict for ``action`` on ``resource``: the caller's identity policies, narrowed by
    the session's policy (``session_policy``, else the caller's own: "Session policies").

    ``resource_grant``: a resource-based policy in the caller's account names the caller
    itself (a role's trust policy naming the user or role ARN), which stands in for a missing
    identity-policy Allow, never for an explicit Deny nor for the session policy's limits
    (IAM User Guide, "Policy evaluation logic": "an explicit deny in any of these policies
    overrides the allow"; "Session policies").
    """
    session_policy = session_policy if session_policy is not None else caller.session_policy
    request = AccessRequest(action=action, resource=resource,
                            context={**caller.context(now), **(context or {})})
    decision = evaluate_identity_policies(identity_policies(state, caller), request)
    if not decision.allowed and (decision.explicit_deny or not resource_grant):
        return decision
    if not decision.allowed:
        decision = Decision(True, f"{action} on {resource} allowed by the resource's policy, "
                                  f"which names {caller.principal_arn}")
    if session_policy is None:
        return decision
    try:
        document = parse_policy_text(session_policy, kind=PolicyKind.IDENTITY)
    except MalformedPolicyError as exc:  # checked when the session was made; never here
        return Decision(False, f"the session policy is malformed: {exc.message}")
    narrowed = evaluate_identity_policies([replace(document, name="the session policy")],
                                          request)
    if not narrowed.allowed:
        return Decision(False, f"{decision.reason}, but {narrowed.reason} (session policy)",
                        explicit_deny=narrowed.explicit_deny)
    return decision


def authorize(state: IamState, caller: Caller, action: str, resource: str, *,
              now: dt.datetime, context: Mapping[str, tuple[str, ...]] | None = None,
              session_policy: str | None = None) -> None:
    """``AccessDenied`` (AWS's message; the reason as the detail) unless allowed."""
    decision = decide(state, caller, action, resource, now=now, context=context,
                      session_policy=session_policy)
    if not decision.allowed:
        raise AccessDenied(not_authorized(caller, action, resource), rule=Rule.IDENTITY_POLICY,
                           detail=decision.reason,
                           hint=f"allow {action} on {resource} in a policy of {caller.arn}")
