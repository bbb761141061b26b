"""IAM policy documents: the grammar, parsed into frozen, typed values.

A role's trust policy is part of the directory (``Role.trust_policy``), so it is parsed when
the directory loads and a document IAM would refuse is reported there, as ``CreateRole`` and
``UpdateAssumeRolePolicy`` refuse it with ``MalformedPolicyDocument``. Evaluating a document
against a request is AWS's business: ``idp.aws.policy``.

Grammar (IAM User Guide, "IAM JSON policy element reference" and "Grammar of the IAM JSON
policy language")::

    {"Version": "2012-10-17" | "2008-10-17",          optional
     "Id": ...,                                        optional, ignored
     "Statement": STATEMENT | [STATEMENT, ...]}        at least one
    STATEMENT = {"Sid": str?, "Effect": "Allow" | "Deny",
                 "Principal" | "NotPrincipal": "*" | {"AWS"|"Federated"|"Service"|
                                                      "CanonicalUser": str | [str]},
                 "Action" | "NotAction": str | [str],
                 "Condition": {OPERATOR: {KEY: value | [values]}}?}

A trust policy may not name ``Resource`` or ``NotResource`` (IAM: "Has prohibited field
Resource"). Operators this simulator evaluates: the ``String*`` family, their ``IfExists``
forms, ``Null``, and the ``ForAnyValue:`` / ``ForAllValues:`` set qualifiers; any other
operator (``Numeric*``, ``Date*``, ``Arn*``, ``Bool``…) is refused as unsupported rather than
silently ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from idp.errors import MalformedPolicyError

__all__ = [
    "Condition",
    "ConditionOperator",
    "Effect",
    "PolicyDocument",
    "SetQualifier",
    "Statement",
    "parse_policy",
]

_VERSIONS: Final = frozenset({"2012-10-17", "2008-10-17"})
_TOP_KEYS: Final = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS: Final = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Condition",
     "Resource", "NotResource"}
)
_PRINCIPAL_TYPES: Final = frozenset({"AWS", "Federated", "Service", "CanonicalUser"})


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


class ConditionOperator(StrEnum):
    """The condition operators this simulator evaluates (without qualifier or IfExists)."""

    STRING_EQUALS = "StringEquals"
    STRING_NOT_EQUALS = "StringNotEquals"
    STRING_EQUALS_IGNORE_CASE = "StringEqualsIgnoreCase"
    STRING_NOT_EQUALS_IGNORE_CASE = "StringNotEqualsIgnoreCase"
    STRING_LIKE = "StringLike"
    STRING_NOT_LIKE = "StringNotLike"
    NULL = "Null"

    @property
    def negated(self) -> bool:
        """``StringNot…``: true when *no* value matches (and when the key is absent)."""
        return self.value.startswith("StringNot")


class SetQualifier(StrEnum):
    FOR_ANY_VALUE = "ForAnyValue"
    FOR_ALL_VALUES = "ForAllValues"


_OPERATORS: Final = {op.value.lower(): op for op in ConditionOperator}
_QUALIFIERS: Final = {q.value.lower(): q for q in SetQualifier}


@dataclass(frozen=True)
class Condition:
    """One ``operator: {key: values}`` pair of a statement's ``Condition`` block."""

    operator: str
    """As written, e.g. ``ForAnyValue:StringLike`` (used in reasons)."""
    base: ConditionOperator
    """The operator without qualifier or suffix: ``StringLike``, ``Null``, ..."""
    qualifier: SetQualifier | None
    if_exists: bool
    key: str
    """As written in the policy (used in reasons); matched case-insensitively."""
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    """One parsed ``Statement`` entry. ``index`` is 1-based, in document order."""

    index: int
    sid: str | None
    effect: Effect
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
    """A parsed policy; ``source`` is the document as written (for display and export)."""

    version: str | None
    statements: tuple[Statement, ...]
    source: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False,
                                      repr=False)


def _strings(value: Any, where: str, *, scalars: bool = False,
             statement: int | None = None) -> tuple[str, ...]:
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
            raise MalformedPolicyError(f"{where} must be a string or a list of strings",
                                       statement=statement)
    if not out:
        raise MalformedPolicyError(f"{where} must not be an empty list", statement=statement)
    return tuple(out)


def _parse_principal(value: Any, where: str, index: int) -> tuple[tuple[str, str], ...]:
    if value == "*":
        return (("*", "*"),)
    if not isinstance(value, Mapping) or not value:
        raise MalformedPolicyError(
            f'{where} must be "*" or a mapping such as {{"Federated": ARN}}', statement=index)
    pairs: list[tuple[str, str]] = []
    for kind, names in value.items():
        if kind not in _PRINCIPAL_TYPES:
            raise MalformedPolicyError(f"{where} has unknown principal type {kind!r}",
                                       statement=index)
        pairs.extend((kind, name) for name in _strings(names, f"{where}.{kind}",
                                                       statement=index))
    return tuple(pairs)


def _parse_operator(operator: str, where: str, index: int
                    ) -> tuple[ConditionOperator, SetQualifier | None, bool]:
    """``ForAnyValue:StringLikeIfExists`` -> ``(STRING_LIKE, FOR_ANY_VALUE, True)``."""
    qualifier: SetQualifier | None = None
    rest = operator
    if ":" in operator:
        prefix, rest = operator.split(":", 1)
        qualifier = _QUALIFIERS.get(prefix.lower())
        if qualifier is None:
            raise MalformedPolicyError(
                f"{where}: unknown set qualifier {prefix!r} in {operator!r}", statement=index)
    if_exists = rest.lower().endswith("ifexists")
    if if_exists:
        rest = rest[: -len("IfExists")]
    base = _OPERATORS.get(rest.lower())
    if base is ConditionOperator.NULL:
        if qualifier or if_exists:
            raise MalformedPolicyError(
                f"{where}: {operator!r}: Null takes no set qualifier or IfExists",
                statement=index)
        return base, None, False
    if base is None:
        raise MalformedPolicyError(
            f"{where}: condition operator {operator!r} is not supported by this simulator "
            "(String*, their IfExists forms, Null, ForAnyValue:/ForAllValues: are)",
            statement=index,
        )
    return base, qualifier, if_exists


def _parse_conditions(block: Any, where: str, index: int) -> tuple[Condition, ...]:
    if not isinstance(block, Mapping):
        raise MalformedPolicyError(f"{where}.Condition must be a mapping of operator to keys",
                                   statement=index)
    out: list[Condition] = []
    for operator, keys in block.items():
        if not isinstance(operator, str):
            raise MalformedPolicyError(
                f"{where}.Condition: operator {operator!r} is not a string", statement=index)
        base, qualifier, if_exists = _parse_operator(operator, f"{where}.Condition", index)
        if not isinstance(keys, Mapping) or not keys:
            raise MalformedPolicyError(
                f"{where}.Condition.{operator} must be a non-empty mapping of key to values",
                statement=index)
        for key, raw in keys.items():
            if not isinstance(key, str) or not key:
                raise MalformedPolicyError(f"{where}.Condition.{operator}: bad key {key!r}",
                                           statement=index)
            values = _strings(raw, f"{where}.Condition.{operator}.{key}", scalars=True,
                              statement=index)
            if base is ConditionOperator.NULL and any(
                    v.lower() not in ("true", "false") for v in values):
                raise MalformedPolicyError(
                    f"{where}.Condition.{operator}.{key}: Null takes true or false",
                    statement=index)
            out.append(Condition(
                operator=operator, base=base, qualifier=qualifier,
                if_exists=if_exists, key=key, values=values,
            ))
    return tuple(out)


def _parse_statement(raw: Any, index: int) -> Statement:
    where = f"statement {index}"

    def fail(message: str) -> MalformedPolicyError:
        return MalformedPolicyError(f"{where}{message}", statement=index)

    if not isinstance(raw, Mapping):
        raise fail(" must be a mapping")
    unknown = sorted(str(k) for k in raw if k not in _STATEMENT_KEYS)
    if unknown:
        raise fail(f" has unknown field(s) {', '.join(unknown)}")
    for prohibited in ("Resource", "NotResource"):
        if prohibited in raw:  # IAM: "Has prohibited field Resource" for trust policies
            raise fail(f" has prohibited field {prohibited}")
    effect = raw.get("Effect")
    if effect not in (Effect.ALLOW.value, Effect.DENY.value):
        raise fail(f': Effect must be "Allow" or "Deny", got {effect!r}')
    if ("Principal" in raw) == ("NotPrincipal" in raw):
        raise fail(" needs exactly one of Principal and NotPrincipal")
    if ("Action" in raw) == ("NotAction" in raw):
        raise fail(" needs exactly one of Action and NotAction")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise fail(": Sid must be a string")
    principal_key = "Principal" if "Principal" in raw else "NotPrincipal"
    action_key = "Action" if "Action" in raw else "NotAction"
    return Statement(
        index=index,
        sid=sid,
        effect=Effect(effect),
        principals=_parse_principal(raw[principal_key], f"{where}.{principal_key}", index),
        not_principal=principal_key == "NotPrincipal",
        actions=_strings(raw[action_key], f"{where}.{action_key}", statement=index),
        not_action=action_key == "NotAction",
        conditions=(_parse_conditions(raw["Condition"], where, index)
                    if "Condition" in raw else ()),
    )


def parse_policy(policy: Mapping[str, Any]) -> PolicyDocument:
    """Parse a policy (as loaded from JSON or YAML) or raise ``MalformedPolicyError``.

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
        source=policy,
    )
