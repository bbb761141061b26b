"""Evaluating role trust policies: may this principal assume the role with these actions?

IAM User Guide, "Policy evaluation logic" and "IAM JSON policy element reference"
(``reference_policies_elements_condition_operators``,
``reference_policies_condition-single-vs-multi-valued-context-keys``), applied to a role trust
policy as ``AssumeRoleWithSAML`` evaluates it. The document itself is parsed by
``idp.directory.policy`` (when the directory loads, so a malformed one never gets here):

* An explicit ``Deny`` whose Principal, Action and Condition all match wins over everything.
* Every requested action (``sts:AssumeRoleWithSAML``, plus ``sts:TagSession`` when
  ``PrincipalTag:*`` attributes are sent and ``sts:SetSourceIdentity`` when ``SourceIdentity``
  is sent) needs an ``Allow`` statement that matches it; otherwise the implicit deny applies.
* Principal: ``"*"``, ``{"AWS": "*"}`` or ``{"Federated": ...}`` naming the provider ARN
  (exact string). ``NotPrincipal`` matches every principal it does not name.
* Action / NotAction: case-insensitive globs (``*``, ``?``): ``sts:*``, ``sts:AssumeRole*``.
* Condition: operators are AND'd, keys under one operator are AND'd, values for one key are
  OR'd (NOR for the negated ``...Not...`` operators). Key names are case-insensitive everywhere
  (``SAML:aud`` is ``saml:aud``; the tag-key part of ``aws:RequestTag/Team`` too).

======================  ===================  ==================================================
operator form           key absent / empty   key present with values ``v1..vn``
======================  ===================  ==================================================
``StringX``             false                true if *any* ``vi`` matches a policy value
``StringNotX``          true                 true if *no* ``vi`` matches any policy value
``...IfExists``         true                 as without the suffix
``ForAnyValue:X``       false                true if some ``vi`` satisfies X (Not: "is none of")
``ForAllValues:X``      true                 true if every ``vi`` satisfies X
``Null``                "true" matches       "false" matches
======================  ===================  ==================================================

AWS says a plain operator should only meet single-valued keys; "any value" is this module's
documented choice for a multi-valued key under a plain operator (and, for the negated
operators, its logical complement). Policy variables (``${saml:sub}``) are compared literally.
``evaluate_trust_policy`` also takes a raw mapping (parsed on the spot); a malformed one
yields ``Decision(False, "malformed trust policy: ...")`` rather than an exception, as STS
would refuse to assume such a role.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from idp.directory.policy import (
    Condition,
    ConditionOperator,
    Effect,
    PolicyDocument,
    SetQualifier,
    Statement,
    parse_policy,
)
from idp.errors import MalformedPolicyError

__all__ = [
    "ASSUME_ROLE_WITH_SAML",
    "SET_SOURCE_IDENTITY",
    "TAG_SESSION",
    "Decision",
    "TrustRequest",
    "evaluate_trust_policy",
]

ASSUME_ROLE_WITH_SAML: Final = "sts:AssumeRoleWithSAML"
TAG_SESSION: Final = "sts:TagSession"
SET_SOURCE_IDENTITY: Final = "sts:SetSourceIdentity"


@dataclass(frozen=True)
class TrustRequest:
    """What ``AssumeRoleWithSAML`` asks of the role's trust policy (the request context)."""

    principal_federated: str
    """The SAML provider ARN (the call's ``PrincipalArn``)."""
    actions: tuple[str, ...]
    """``sts:AssumeRoleWithSAML``, plus ``sts:TagSession`` / ``sts:SetSourceIdentity`` if used."""
    context: Mapping[str, tuple[str, ...]]
    """Condition keys to values (``saml:aud``, ``aws:requesttag/Team``, ...); lookups ignore
    case. A key mapped to ``()`` counts as absent."""

    def __post_init__(self) -> None:
        if not self.actions:
            raise ValueError("a trust request needs at least one action")
        for key, values in self.context.items():
            if not isinstance(values, tuple) or not all(isinstance(v, str) for v in values):
                raise ValueError(f"context value for {key!r} must be a tuple of strings")


@dataclass(frozen=True)
class Decision:
    """The verdict and one sentence of why: which statement allowed, or what denied."""

    allowed: bool
    reason: str


# --------------------------------------------------------------------------- string operators

@lru_cache(maxsize=256)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM wildcards: ``*`` any run of characters, ``?`` exactly one; nothing else is special."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _like(pattern: str, value: str) -> bool:
    return _glob(pattern, False).fullmatch(value) is not None


def _equals_ignore_case(wanted: str, value: str) -> bool:
    return wanted.casefold() == value.casefold()


def _equals(wanted: str, value: str) -> bool:
    return wanted == value


#: How each string operator compares one policy value with one request value.
_MATCHERS: Final[Mapping[ConditionOperator, Callable[[str, str], bool]]] = {
    ConditionOperator.STRING_EQUALS: _equals,
    ConditionOperator.STRING_NOT_EQUALS: _equals,
    ConditionOperator.STRING_EQUALS_IGNORE_CASE: _equals_ignore_case,
    ConditionOperator.STRING_NOT_EQUALS_IGNORE_CASE: _equals_ignore_case,
    ConditionOperator.STRING_LIKE: _like,
    ConditionOperator.STRING_NOT_LIKE: _like,
}


# --------------------------------------------------------------------------- evaluation

def _fold_context(context: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    folded: dict[str, tuple[str, ...]] = {}
    for key, values in context.items():
        folded[key.lower()] = folded.get(key.lower(), ()) + tuple(values)
    return folded


def _one_value_matches(cond: Condition, value: str) -> bool:
    """Does one request value satisfy the operator (any policy value; NOR when negated)?"""
    matcher = _MATCHERS[cond.base]
    hit = any(matcher(wanted, value) for wanted in cond.values)
    return not hit if cond.base.negated else hit


def _holds(cond: Condition, context: Mapping[str, tuple[str, ...]]) -> bool:
    present = context.get(cond.key.lower(), ())
    if cond.base is ConditionOperator.NULL:
        return any((v.lower() == "true") == (not present) for v in cond.values)
    if not present:
        if cond.if_exists or cond.qualifier is SetQualifier.FOR_ALL_VALUES:
            return True
        if cond.qualifier is SetQualifier.FOR_ANY_VALUE:
            return False
        return cond.base.negated  # negated operators hold on absence
    results = [_one_value_matches(cond, v) for v in present]
    if cond.qualifier is SetQualifier.FOR_ANY_VALUE:
        return any(results)
    # ForAllValues, and plain operators: positive = some value matches, negated = none does.
    if cond.qualifier is SetQualifier.FOR_ALL_VALUES or cond.base.negated:
        return all(results)
    return any(results)


def _describe_failure(cond: Condition, context: Mapping[str, tuple[str, ...]]) -> str:
    present = context.get(cond.key.lower(), ())
    got = ", ".join(present) if present else "no value (key absent)"
    if cond.base is ConditionOperator.NULL:
        wanted = " or ".join("key absent" if v.lower() == "true" else "key present"
                             for v in cond.values)
    else:
        negated = cond.base.negated
        listed = ", ".join(cond.values)
        if len(cond.values) == 1:
            wanted = f"anything but {listed}" if negated else listed
        else:
            wanted = f"none of {listed}" if negated else f"one of {listed}"
    return f"condition {cond.operator} {cond.key} failed: got {got}, wanted {wanted}"


def _covers(statement: Statement, action: str) -> bool:
    hit = any(_glob(pattern, True).fullmatch(action) for pattern in statement.actions)
    return hit != statement.not_action


def _names(statement: Statement, provider_arn: str) -> bool:
    named = any(
        kind == "*" or (kind == "AWS" and name == "*")
        or (kind == "Federated" and name == provider_arn)
        for kind, name in statement.principals
    )
    return named != statement.not_principal


def _mismatch(statement: Statement, provider_arn: str,
              context: Mapping[str, tuple[str, ...]]) -> str | None:
    """Why the statement does not apply to this principal and context (``None``: it does)."""
    if not _names(statement, provider_arn):
        element = "NotPrincipal excludes" if statement.not_principal else "Principal does not name"
        return f"{element} {provider_arn}"
    for cond in statement.conditions:
        if not _holds(cond, context):
            return _describe_failure(cond, context)
    return None


def _allowing(statements: Iterable[Statement], action: str, provider_arn: str,
              context: Mapping[str, tuple[str, ...]]) -> Statement | str:
    """The first Allow statement granting ``action``, or the reason none does."""
    failures: list[str] = []
    for statement in statements:
        if statement.effect is not Effect.ALLOW or not _covers(statement, action):
            continue
        why = _mismatch(statement, provider_arn, context)
        if why is None:
            return statement
        failures.append(f"{statement.label}: {why}")
    if not failures:
        return f"no statement allows {action}"
    return f"no statement allows {action}: " + "; ".join(failures)


def evaluate_trust_policy(policy: PolicyDocument | Mapping[str, Any],
                          request: TrustRequest) -> Decision:
    """Decide ``request`` against a role trust policy (IAM "Policy evaluation logic").

    Explicit Deny first, then every requested action must be allowed; the implicit default
    is deny. A malformed or unsupported raw document yields ``Decision(False, "malformed ...")``.
    """
    if isinstance(policy, PolicyDocument):
        document = policy
    else:
        try:
            document = parse_policy(policy)
        except MalformedPolicyError as exc:
            return Decision(False, f"malformed trust policy: {exc}")
    context = _fold_context(request.context)
    arn = request.principal_federated
    for statement in document.statements:
        if statement.effect is not Effect.DENY:
            continue
        for action in request.actions:
            if _covers(statement, action) and _mismatch(statement, arn, context) is None:
                return Decision(False, f"explicit Deny in {statement.label} for {action}")
    granted: list[str] = []
    for action in request.actions:
        found = _allowing(document.statements, action, arn, context)
        if isinstance(found, str):
            return Decision(False, found)
        granted.append(f"{action} allowed by {found.label}")
    return Decision(True, "; ".join(granted))
