"""Role trust policies: may this SAML provider assume the role with these actions and keys?

IAM User Guide, "Policy evaluation logic" and "IAM JSON policy element reference"
(``reference_policies_elements_*``, ``reference_policies_elements_condition_operators``,
``reference_policies_condition-single-vs-multi-valued-context-keys``), applied to a role trust
policy as ``AssumeRoleWithSAML`` evaluates it (aws-saml.md §3.4, §3.6, §6):

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

Condition semantics implemented (``String*``, their ``IfExists`` forms, ``Null`` and the
``ForAnyValue:``/``ForAllValues:`` set qualifiers):

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

Malformed documents: ``parse_policy`` raises ``MalformedPolicyError`` (a ``ValueError``) naming
the problem; ``evaluate_trust_policy`` never raises for a bad document and instead returns
``Decision(False, "malformed trust policy: ...")``, as STS would refuse to assume such a role.
Operators outside the set above (``Numeric*``, ``Date*``, ``Arn*``, ``Bool``, ...) are refused
the same way, as "not supported by this simulator", rather than being silently ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Literal

from idp.errors import IdPError

__all__ = [
    "ASSUME_ROLE_WITH_SAML",
    "SET_SOURCE_IDENTITY",
    "TAG_SESSION",
    "Condition",
    "Decision",
    "MalformedPolicyError",
    "PolicyDocument",
    "Statement",
    "TrustRequest",
    "evaluate_trust_policy",
    "parse_policy",
]

ASSUME_ROLE_WITH_SAML: Final = "sts:AssumeRoleWithSAML"
TAG_SESSION: Final = "sts:TagSession"
SET_SOURCE_IDENTITY: Final = "sts:SetSourceIdentity"

_VERSIONS: Final = frozenset({"2012-10-17", "2008-10-17"})
_TOP_KEYS: Final = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS: Final = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Condition",
     "Resource", "NotResource"}
)
_PRINCIPAL_TYPES: Final = frozenset({"AWS", "Federated", "Service", "CanonicalUser"})
_Qualifier = Literal["ForAnyValue", "ForAllValues"]
_QUALIFIERS: Final[Mapping[str, _Qualifier]] = {
    "foranyvalue": "ForAnyValue", "forallvalues": "ForAllValues"}


class MalformedPolicyError(IdPError, ValueError):
    """The trust policy is not a document IAM would accept (IAM ``MalformedPolicyDocument``)."""


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


@dataclass(frozen=True)
class Condition:
    """One ``operator: {key: values}`` pair of a statement's ``Condition`` block."""

    operator: str
    """As written, e.g. ``ForAnyValue:StringLike`` (used in reasons)."""
    base: str
    """Canonical operator without qualifier or suffix: ``StringLike``, ``Null``, ..."""
    qualifier: _Qualifier | None
    if_exists: bool
    key: str
    """As written in the policy (used in reasons); matched case-insensitively."""
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    """One parsed ``Statement`` entry. ``index`` is 1-based, in document order."""

    index: int
    sid: str | None
    effect: Literal["Allow", "Deny"]
    principals: tuple[tuple[str, str], ...]
    """``(type, value)`` pairs; ``("*", "*")`` for ``"Principal": "*"``."""
    not_principal: bool
    actions: tuple[str, ...]
    not_action: bool
    conditions: tuple[Condition, ...]

    @property
    def label(self) -> str:
        return f"statement {self.index}" + (f" (Sid {self.sid})" if self.sid else "")


@dataclass(frozen=True)
class PolicyDocument:
    version: str | None
    statements: tuple[Statement, ...]


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


#: base operator (lower-cased) -> (canonical name, matcher, negated)
_STRING_OPERATORS: Final[Mapping[str, tuple[str, Callable[[str, str], bool], bool]]] = {
    "stringequals": ("StringEquals", _equals, False),
    "stringnotequals": ("StringNotEquals", _equals, True),
    "stringequalsignorecase": ("StringEqualsIgnoreCase", _equals_ignore_case, False),
    "stringnotequalsignorecase": ("StringNotEqualsIgnoreCase", _equals_ignore_case, True),
    "stringlike": ("StringLike", _like, False),
    "stringnotlike": ("StringNotLike", _like, True),
}


# --------------------------------------------------------------------------- parsing

def _strings(value: Any, where: str, *, scalars: bool = False) -> tuple[str, ...]:
    """A string or non-empty list of strings (``scalars``: also YAML/JSON booleans, numbers)."""
    items = value if isinstance(value, list | tuple) else [value]
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif scalars and isinstance(item, bool):
            out.append("true" if item else "false")
        elif scalars and isinstance(item, int | float):
            out.append(str(item))
        else:
            raise MalformedPolicyError(f"{where} must be a string or a list of strings")
    if not out:
        raise MalformedPolicyError(f"{where} must not be an empty list")
    return tuple(out)


def _parse_principal(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if value == "*":
        return (("*", "*"),)
    if not isinstance(value, Mapping) or not value:
        raise MalformedPolicyError(f'{where} must be "*" or a mapping such as {{"Federated": ARN}}')
    pairs: list[tuple[str, str]] = []
    for kind, names in value.items():
        if kind not in _PRINCIPAL_TYPES:
            raise MalformedPolicyError(f"{where} has unknown principal type {kind!r}")
        pairs.extend((kind, name) for name in _strings(names, f"{where}.{kind}"))
    return tuple(pairs)


def _parse_operator(operator: str, where: str) -> tuple[str, _Qualifier | None, bool]:
    """``ForAnyValue:StringLikeIfExists`` -> ``("StringLike", "ForAnyValue", True)``."""
    qualifier: _Qualifier | None = None
    rest = operator
    if ":" in operator:
        prefix, rest = operator.split(":", 1)
        qualifier = _QUALIFIERS.get(prefix.lower())
        if qualifier is None:
            raise MalformedPolicyError(f"{where}: unknown set qualifier {prefix!r} in {operator!r}")
    if_exists = rest.lower().endswith("ifexists")
    if if_exists:
        rest = rest[: -len("IfExists")]
    lowered = rest.lower()
    if lowered == "null":
        if qualifier or if_exists:
            raise MalformedPolicyError(
                f"{where}: {operator!r}: Null takes no set qualifier or IfExists")
        return "Null", None, False
    if lowered not in _STRING_OPERATORS:
        raise MalformedPolicyError(
            f"{where}: condition operator {operator!r} is not supported by this simulator "
            "(String*, their IfExists forms, Null, ForAnyValue:/ForAllValues: are)"
        )
    return _STRING_OPERATORS[lowered][0], qualifier, if_exists


def _parse_conditions(block: Any, where: str) -> tuple[Condition, ...]:
    if not isinstance(block, Mapping):
        raise MalformedPolicyError(f"{where}.Condition must be a mapping of operator to keys")
    out: list[Condition] = []
    for operator, keys in block.items():
        if not isinstance(operator, str):
            raise MalformedPolicyError(f"{where}.Condition: operator {operator!r} is not a string")
        base, qualifier, if_exists = _parse_operator(operator, f"{where}.Condition")
        if not isinstance(keys, Mapping) or not keys:
            raise MalformedPolicyError(
                f"{where}.Condition.{operator} must be a non-empty mapping of key to values")
        for key, raw in keys.items():
            if not isinstance(key, str) or not key:
                raise MalformedPolicyError(f"{where}.Condition.{operator}: bad key {key!r}")
            values = _strings(raw, f"{where}.Condition.{operator}.{key}", scalars=True)
            if base == "Null" and any(v.lower() not in ("true", "false") for v in values):
                raise MalformedPolicyError(
                    f"{where}.Condition.{operator}.{key}: Null takes true or false")
            out.append(Condition(
                operator=operator, base=base, qualifier=qualifier,
                if_exists=if_exists, key=key, values=values,
            ))
    return tuple(out)


def _parse_statement(raw: Any, index: int) -> Statement:
    where = f"statement {index}"
    if not isinstance(raw, Mapping):
        raise MalformedPolicyError(f"{where} must be a mapping")
    unknown = sorted(str(k) for k in raw if k not in _STATEMENT_KEYS)
    if unknown:
        raise MalformedPolicyError(f"{where} has unknown field(s) {', '.join(unknown)}")
    for prohibited in ("Resource", "NotResource"):
        if prohibited in raw:  # IAM: "Has prohibited field Resource" for trust policies
            raise MalformedPolicyError(f"{where} has prohibited field {prohibited}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicyError(f'{where}: Effect must be "Allow" or "Deny", got {effect!r}')
    if ("Principal" in raw) == ("NotPrincipal" in raw):
        raise MalformedPolicyError(f"{where} needs exactly one of Principal and NotPrincipal")
    if ("Action" in raw) == ("NotAction" in raw):
        raise MalformedPolicyError(f"{where} needs exactly one of Action and NotAction")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise MalformedPolicyError(f"{where}: Sid must be a string")
    principal_key = "Principal" if "Principal" in raw else "NotPrincipal"
    action_key = "Action" if "Action" in raw else "NotAction"
    return Statement(
        index=index,
        sid=sid,
        effect=effect,
        principals=_parse_principal(raw[principal_key], f"{where}.{principal_key}"),
        not_principal=principal_key == "NotPrincipal",
        actions=_strings(raw[action_key], f"{where}.{action_key}"),
        not_action=action_key == "NotAction",
        conditions=_parse_conditions(raw["Condition"], where) if "Condition" in raw else (),
    )


def parse_policy(policy: Mapping[str, Any]) -> PolicyDocument:
    """Parse a trust policy (as loaded from JSON/YAML) or raise ``MalformedPolicyError``.

    ``Statement`` may be one mapping or a list; ``Version`` is optional but, when present,
    must be ``2012-10-17`` or ``2008-10-17`` (IAM "Version" element; a YAML date is read as
    its ISO form).
    """
    if not isinstance(policy, Mapping):
        raise MalformedPolicyError("a policy document must be a mapping")
    unknown = sorted(str(k) for k in policy if k not in _TOP_KEYS)
    if unknown:
        raise MalformedPolicyError(f"unknown top-level field(s) {', '.join(unknown)}")
    version = policy.get("Version")
    if isinstance(version, dt.date):  # YAML reads an unquoted 2012-10-17 as a date
        version = version.isoformat()
    if version is not None and (not isinstance(version, str) or version not in _VERSIONS):
        raise MalformedPolicyError(f"Version must be 2012-10-17 or 2008-10-17, got {version!r}")
    raw = policy.get("Statement")
    statements = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicyError("Statement must be a mapping or a non-empty list of mappings")
    return PolicyDocument(
        version=version,
        statements=tuple(_parse_statement(s, i) for i, s in enumerate(statements, 1)),
    )


# --------------------------------------------------------------------------- evaluation

def _fold_context(context: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    folded: dict[str, tuple[str, ...]] = {}
    for key, values in context.items():
        folded[key.lower()] = folded.get(key.lower(), ()) + tuple(values)
    return folded


def _one_value_matches(cond: Condition, value: str) -> bool:
    """Does one request value satisfy the operator (any policy value; NOR when negated)?"""
    _, matcher, negated = _STRING_OPERATORS[cond.base.lower()]
    hit = any(matcher(wanted, value) for wanted in cond.values)
    return not hit if negated else hit


def _holds(cond: Condition, context: Mapping[str, tuple[str, ...]]) -> bool:
    present = context.get(cond.key.lower(), ())
    if cond.base == "Null":
        return any((v.lower() == "true") == (not present) for v in cond.values)
    if not present:
        if cond.if_exists or cond.qualifier == "ForAllValues":
            return True
        if cond.qualifier == "ForAnyValue":
            return False
        return _STRING_OPERATORS[cond.base.lower()][2]  # negated operators hold on absence
    results = [_one_value_matches(cond, v) for v in present]
    if cond.qualifier == "ForAnyValue":
        return any(results)
    # ForAllValues, and plain operators: positive = some value matches, negated = none does.
    if cond.qualifier == "ForAllValues" or _STRING_OPERATORS[cond.base.lower()][2]:
        return all(results)
    return any(results)


def _describe_failure(cond: Condition, context: Mapping[str, tuple[str, ...]]) -> str:
    present = context.get(cond.key.lower(), ())
    got = ", ".join(present) if present else "no value (key absent)"
    if cond.base == "Null":
        wanted = " or ".join("key absent" if v.lower() == "true" else "key present"
                             for v in cond.values)
    else:
        negated = _STRING_OPERATORS[cond.base.lower()][2]
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
        if statement.effect != "Allow" or not _covers(statement, action):
            continue
        why = _mismatch(statement, provider_arn, context)
        if why is None:
            return statement
        failures.append(f"{statement.label}: {why}")
    if not failures:
        return f"no statement allows {action}"
    return f"no statement allows {action}: " + "; ".join(failures)


def evaluate_trust_policy(policy: Mapping[str, Any], request: TrustRequest) -> Decision:
    """Decide ``request`` against a role trust policy (IAM "Policy evaluation logic").

    Explicit Deny first, then every requested action must be allowed; the implicit default
    is deny. A malformed or unsupported document yields ``Decision(False, "malformed ...")``.
    """
    try:
        document = parse_policy(policy)
    except MalformedPolicyError as exc:
        return Decision(False, f"malformed trust policy: {exc}")
    context = _fold_context(request.context)
    arn = request.principal_federated
    for statement in document.statements:
        if statement.effect != "Deny":
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
