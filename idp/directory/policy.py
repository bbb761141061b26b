"""IAM policy documents: the grammar, parsed into frozen, typed values.

A role's trust policy is part of the directory (``Role.trust_policy``), so it is parsed when
the directory loads and a document IAM would refuse is reported there, as ``CreateRole`` and
``UpdateAssumeRolePolicy`` refuse it with ``MalformedPolicyDocument``. Identity policies (user,
group and role inline policies, session policies) use the same grammar with ``Resource`` in
place of ``Principal`` (``PolicyKind``). Evaluating a document against a request is AWS's
business: ``idp.aws.policy``.

Grammar (IAM User Guide, "IAM JSON policy element reference" and "Grammar of the IAM JSON
policy language")::

    {"Version": "2012-10-17" | "2008-10-17",          optional
     "Id": ...,                                        optional, ignored
     "Statement": STATEMENT | [STATEMENT, ...]}        at least one
    STATEMENT = {"Sid": str?, "Effect": "Allow" | "Deny",
                 "Principal" | "NotPrincipal": "*" | {"AWS"|"Federated"|"Service"|
                                                      "CanonicalUser": str | [str]},
                                                   TRUST only (required there)
                 "Action" | "NotAction": str | [str],
                 "Resource" | "NotResource": str | [str],   IDENTITY only (required there)
                 "Condition": {OPERATOR: {KEY: value | [values]}}?}

Condition operators ("IAM JSON policy elements: Condition operators"): the ``String*``
family, ``Bool``, ``Numeric*``, ``Date*``, ``Arn*``, ``IpAddress`` / ``NotIpAddress``, each
with its ``IfExists`` form and the ``ForAnyValue:`` / ``ForAllValues:`` set qualifiers, and
``Null`` (neither). A typed operator's values are checked here: a number for ``Numeric*``,
an ISO 8601 instant or epoch seconds for ``Date*``, ``true``/``false`` for ``Bool`` and
``Null``, a CIDR block (or a single address) for ``IpAddress``. ``Binary*`` and anything else
are refused as unsupported rather than silently ignored.

Each ``MalformedPolicyError`` carries two texts: ``message`` says which statement and what is
wrong (logs, the CLI, the directory loader); ``aws_message`` is what IAM's API answers in a
``MalformedPolicyDocument`` error (``Has prohibited field Resource``, ``Syntax errors in
policy.``...).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final

from idp.errors import MalformedPolicyError

__all__ = [
    "AWS_INVALID_JSON",
    "AWS_MISSING_ACTIONS",
    "AWS_MISSING_RESOURCES",
    "AWS_PRINCIPAL_IN_IDENTITY_POLICY",
    "AWS_SYNTAX_ERROR",
    "DEFAULT_MAX_POLICY_CHARS",
    "Condition",
    "ConditionOperator",
    "Effect",
    "PolicyDocument",
    "PolicyKind",
    "SetQualifier",
    "Statement",
    "parse_cidr",
    "parse_instant",
    "parse_number",
    "parse_policy",
    "parse_policy_text",
]

#: IAM's own ``MalformedPolicyDocument`` wording (what ``CreateRole``, ``PutUserPolicy``...
#: answer); ``Has prohibited field <name>`` is built where it is raised.
AWS_INVALID_JSON: Final = "This policy contains invalid Json"
AWS_SYNTAX_ERROR: Final = "Syntax errors in policy."
AWS_PRINCIPAL_IN_IDENTITY_POLICY: Final = "Policy document should not specify a principal."
AWS_MISSING_RESOURCES: Final = "Policy statement must contain resources."
AWS_MISSING_ACTIONS: Final = "Policy statement must contain actions."

#: ``parse_policy_text``'s default cap: IAM's largest policy document (a managed policy,
#: 6,144 characters, is smaller; this only bounds the work of reading hostile input).
DEFAULT_MAX_POLICY_CHARS: Final = 131072

_VERSIONS: Final = frozenset({"2012-10-17", "2008-10-17"})
_TOP_KEYS: Final = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS: Final = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Condition",
     "Resource", "NotResource"}
)
_PRINCIPAL_TYPES: Final = frozenset({"AWS", "Federated", "Service", "CanonicalUser"})


class PolicyKind(StrEnum):
    """Which kind of document: decides whether Principal or Resource is required."""

    TRUST = "trust"
    """A role's trust policy (a resource-based policy): Principal or NotPrincipal required,
    Resource and NotResource prohibited."""
    IDENTITY = "identity"
    """A user, group or role (inline) policy, or a session policy: Principal and NotPrincipal
    prohibited, exactly one of Resource and NotResource required."""


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
    NUMERIC_EQUALS = "NumericEquals"
    NUMERIC_NOT_EQUALS = "NumericNotEquals"
    NUMERIC_LESS_THAN = "NumericLessThan"
    NUMERIC_LESS_THAN_EQUALS = "NumericLessThanEquals"
    NUMERIC_GREATER_THAN = "NumericGreaterThan"
    NUMERIC_GREATER_THAN_EQUALS = "NumericGreaterThanEquals"
    DATE_EQUALS = "DateEquals"
    DATE_NOT_EQUALS = "DateNotEquals"
    DATE_LESS_THAN = "DateLessThan"
    DATE_LESS_THAN_EQUALS = "DateLessThanEquals"
    DATE_GREATER_THAN = "DateGreaterThan"
    DATE_GREATER_THAN_EQUALS = "DateGreaterThanEquals"
    BOOL = "Bool"
    ARN_EQUALS = "ArnEquals"
    ARN_LIKE = "ArnLike"
    ARN_NOT_EQUALS = "ArnNotEquals"
    ARN_NOT_LIKE = "ArnNotLike"
    IP_ADDRESS = "IpAddress"
    NOT_IP_ADDRESS = "NotIpAddress"
    NULL = "Null"

    @property
    def negated(self) -> bool:
        """``…Not…`` (``StringNotLike``, ``NumericNotEquals``, ``NotIpAddress``...): true when
        *no* value matches (and when the key is absent)."""
        return "Not" in self.value

    @property
    def family(self) -> str:
        """``String``, ``Numeric``, ``Date``, ``Bool``, ``Arn``, ``Ip`` or ``Null``."""
        for family in ("String", "Numeric", "Date", "Bool", "Arn", "Null"):
            if self.value.startswith(family):
                return family
        return "Ip"


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
    """As written (booleans and numbers from JSON/YAML in their JSON spelling)."""


@dataclass(frozen=True)
class Statement:
    """One parsed ``Statement`` entry. ``index`` is 1-based, in document order."""

    index: int
    sid: str | None
    effect: Effect
    principals: tuple[tuple[str, str], ...]
    """``(type, value)`` pairs; ``("*", "*")`` for ``"Principal": "*"``; empty in an identity
    policy."""
    not_principal: bool
    actions: tuple[str, ...]
    not_action: bool
    conditions: tuple[Condition, ...]
    resources: tuple[str, ...] = ()
    """``Resource`` / ``NotResource`` patterns; empty in a trust policy."""
    not_resource: bool = False

    @property
    def label(self) -> str:
        return f"statement {self.index}" + (f" (Sid {self.sid})" if self.sid else "")


@dataclass(frozen=True)
class PolicyDocument:
    """A parsed policy; ``source`` is the document as written (for display and export).

    ``name`` (the inline or managed policy's name) only labels evaluation reasons; set it with
    ``parse_policy(..., name=...)`` or ``dataclasses.replace``.
    """

    version: str | None
    statements: tuple[Statement, ...]
    source: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False,
                                      repr=False)
    kind: PolicyKind = PolicyKind.TRUST
    name: str | None = field(default=None, compare=False)

    @property
    def has_variables(self) -> bool:
        """Policy variables (``${aws:username}``) are only substituted in 2012-10-17
        documents; elsewhere they are literal text (IAM "Variables and tags")."""
        return self.version == "2012-10-17"


# --------------------------------------------------------------------------- typed values

_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def parse_number(text: str) -> Decimal | None:
    """A ``Numeric*`` value (integer or decimal, optional exponent) or ``None``."""
    if len(text) > 64 or not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError):  # pragma: no cover - the pattern admits only numbers
        return None


def parse_instant(text: str) -> Decimal | None:
    """A ``Date*`` value as epoch seconds: epoch seconds, or ISO 8601 (``2026-01-01``,
    ``2026-01-01T00:00:00Z``, with an offset; no zone means UTC); ``None`` if neither."""
    number = parse_number(text)
    if number is not None:
        return number
    if len(text) > 64:
        return None
    try:
        instant = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    delta = instant - _EPOCH
    return (Decimal(delta.days) * 86400 + delta.seconds
            + Decimal(delta.microseconds) / 1_000_000)


def parse_cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An ``IpAddress`` value: a CIDR block, or one address (a /32 or /128); host bits set
    below the prefix are ignored (``203.0.113.9/24`` is ``203.0.113.0/24``)."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _may_be_variable(version: str | None, value: str) -> bool:
    """True when ``value`` may legitimately be a policy variable still to be substituted."""
    return version == "2012-10-17" and "${" in value


# --------------------------------------------------------------------------- parsing

def _strings(value: Any, where: str, *, scalars: bool = False,
             statement: int | None = None) -> tuple[str, ...]:
    """A string or non-empty list of strings (``scalars``: also YAML/JSON booleans, numbers,
    YAML dates)."""
    items = value if isinstance(value, list | tuple) else [value]
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif scalars and isinstance(item, bool):
            out.append("true" if item else "false")
        elif scalars and isinstance(item, int | float):
            out.append(str(item))
        elif scalars and isinstance(item, dt.date):  # YAML reads unquoted dates
            out.append(item.isoformat())
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
        for name in _strings(names, f"{where}.{kind}", statement=index):
            if kind == "AWS" and not _AWS_PRINCIPAL.fullmatch(name):
                # "*", an account ID or an IAM/STS ARN; anything else IAM refuses on save.
                raise MalformedPolicyError(
                    f"{where}.AWS: {name!r} is not *, an account ID or an ARN",
                    statement=index, aws_message=f'Invalid principal in policy: "AWS":"{name}"')
            pairs.append((kind, name))
    return tuple(pairs)


#: What ``{"AWS": …}`` may name (IAM User Guide, "AWS JSON policy elements: Principal").
_AWS_PRINCIPAL: Final = re.compile(r"\*|\d{12}|arn:aws[a-z-]*:(iam|sts)::\d{12}:\S+", re.ASCII)
#: IAM's answers to an action without a service prefix, or with more than one colon.
AWS_ACTION_VENDOR: Final = ("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, "
                            "ec2, etc.")
AWS_ACTION_COLONS: Final = "Actions/Condition can contain only one colon."


def _parse_actions(raw: Any, where: str, index: int) -> tuple[str, ...]:
    actions = _strings(raw, where, statement=index)
    for action in actions:
        if action == "*":
            continue
        if ":" not in action:
            raise MalformedPolicyError(f"{where}: action {action!r} has no service prefix "
                                       "(such as sts:)", statement=index,
                                       aws_message=AWS_ACTION_VENDOR)
        if action.count(":") > 1:
            raise MalformedPolicyError(f"{where}: action {action!r} has more than one colon",
                                       statement=index, aws_message=AWS_ACTION_COLONS)
    return actions


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
            "(String*, Numeric*, Date*, Bool, Arn*, IpAddress, NotIpAddress, their IfExists "
            "forms, Null, ForAnyValue:/ForAllValues: are)",
            statement=index,
        )
    return base, qualifier, if_exists


def _check_values(base: ConditionOperator, values: tuple[str, ...], where: str,
                  index: int, version: str | None) -> None:
    """Refuse a value the typed operator cannot read (IAM refuses it at PutPolicy time)."""
    family = base.family
    for value in values:
        if family == "Null" and value.lower() not in ("true", "false"):
            problem = "Null takes true or false"
        elif family == "Bool" and value.lower() not in ("true", "false") \
                and not _may_be_variable(version, value):
            problem = f"Bool takes true or false, got {value!r}"
        elif family == "Numeric" and parse_number(value) is None:
            problem = f"{base.value} takes numbers, got {value!r}"
        elif family == "Date" and parse_instant(value) is None:
            problem = (f"{base.value} takes ISO 8601 dates or epoch seconds, "
                       f"got {value!r}")
        elif family == "Ip" and parse_cidr(value) is None:
            problem = f"{base.value} takes CIDR blocks or IP addresses, got {value!r}"
        else:
            continue
        raise MalformedPolicyError(f"{where}: {problem}", statement=index)


def _parse_conditions(block: Any, where: str, index: int,
                      version: str | None) -> tuple[Condition, ...]:
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
            _check_values(base, values, f"{where}.Condition.{operator}.{key}", index,
                          version)
            out.append(Condition(
                operator=operator, base=base, qualifier=qualifier,
                if_exists=if_exists, key=key, values=values,
            ))
    return tuple(out)


def _parse_statement(raw: Any, index: int, kind: PolicyKind, version: str | None
                     ) -> Statement:
    where = f"statement {index}"

    def fail(message: str, aws: str | None = None) -> MalformedPolicyError:
        return MalformedPolicyError(f"{where}{message}", statement=index, aws_message=aws)

    if not isinstance(raw, Mapping):
        raise fail(" must be a mapping")
    unknown = sorted(str(k) for k in raw if k not in _STATEMENT_KEYS)
    if unknown:
        raise fail(f" has unknown field(s) {', '.join(unknown)}")
    if kind is PolicyKind.TRUST:
        for prohibited in ("Resource", "NotResource"):
            if prohibited in raw:  # IAM: "Has prohibited field Resource" for trust policies
                raise fail(f" has prohibited field {prohibited}",
                           f"Has prohibited field {prohibited}")
    else:
        for prohibited in ("Principal", "NotPrincipal"):
            if prohibited in raw:
                raise fail(f" has prohibited field {prohibited} (an identity policy names "
                           "no principal)", AWS_PRINCIPAL_IN_IDENTITY_POLICY)
    effect = raw.get("Effect")
    if effect not in (Effect.ALLOW.value, Effect.DENY.value):
        raise fail(f': Effect must be "Allow" or "Deny", got {effect!r}')
    if kind is PolicyKind.TRUST and ("Principal" in raw) == ("NotPrincipal" in raw):
        raise fail(" needs exactly one of Principal and NotPrincipal")
    if "Action" not in raw and "NotAction" not in raw:
        raise fail(" needs exactly one of Action and NotAction (it has neither)",
                   AWS_MISSING_ACTIONS)
    if "Action" in raw and "NotAction" in raw:
        raise fail(" needs exactly one of Action and NotAction")
    if kind is PolicyKind.IDENTITY:
        if "Resource" not in raw and "NotResource" not in raw:
            raise fail(" needs exactly one of Resource and NotResource (it has neither)",
                       AWS_MISSING_RESOURCES)
        if "Resource" in raw and "NotResource" in raw:
            raise fail(" needs exactly one of Resource and NotResource")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise fail(": Sid must be a string")
    action_key = "Action" if "Action" in raw else "NotAction"
    principals: tuple[tuple[str, str], ...] = ()
    not_principal = False
    resources: tuple[str, ...] = ()
    not_resource = False
    if kind is PolicyKind.TRUST:
        principal_key = "Principal" if "Principal" in raw else "NotPrincipal"
        principals = _parse_principal(raw[principal_key], f"{where}.{principal_key}", index)
        not_principal = principal_key == "NotPrincipal"
    else:
        resource_key = "Resource" if "Resource" in raw else "NotResource"
        resources = _strings(raw[resource_key], f"{where}.{resource_key}", statement=index)
        for resource in resources:
            # "*" or arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE (six parts; wildcards and
            # policy variables allowed inside them).
            if resource != "*" and (not resource.startswith("arn:")
                                    or resource.count(":") < 5):
                raise MalformedPolicyError(
                    f"{where}.{resource_key}: {resource!r} is not an ARN or *",
                    statement=index,
                    aws_message=f'Resource {resource} must be in ARN format or "*".')
        not_resource = resource_key == "NotResource"
    return Statement(
        index=index,
        sid=sid,
        effect=Effect(effect),
        principals=principals,
        not_principal=not_principal,
        actions=_parse_actions(raw[action_key], f"{where}.{action_key}", index),
        not_action=action_key == "NotAction",
        conditions=(_parse_conditions(raw["Condition"], where, index, version)
                    if "Condition" in raw else ()),
        resources=resources,
        not_resource=not_resource,
    )


def parse_policy(policy: Mapping[str, Any], kind: PolicyKind = PolicyKind.TRUST, *,
                 name: str | None = None) -> PolicyDocument:
    """Parse a policy (as loaded from JSON or YAML) or raise ``MalformedPolicyError``.

    ``kind`` says which elements are required and prohibited (``PolicyKind``); the default is
    a role trust policy. ``Statement`` may be one mapping or a list; ``Version`` is optional
    but, when present, must be ``2012-10-17`` or ``2008-10-17`` (IAM "Version" element; a
    YAML date is read as its ISO form).
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
        statements=tuple(_parse_statement(s, i, PolicyKind(kind), version)
                         for i, s in enumerate(statements, 1)),
        source=policy,
        kind=PolicyKind(kind),
        name=name,
    )


def _no_constants(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def parse_policy_text(text: str, kind: PolicyKind = PolicyKind.TRUST, *,
                      max_chars: int = DEFAULT_MAX_POLICY_CHARS,
                      name: str | None = None) -> PolicyDocument:
    """Parse a policy document as the IAM API receives it (a JSON string).

    Refused with ``aws_message`` ``This policy contains invalid Json``: text that is not
    strict JSON (``NaN``/``Infinity`` included) or nests too deeply to read. A top level that
    is not an object, or text longer than ``max_chars``, is a syntax error (IAM's own size
    quotas, ``LimitExceeded``, are the caller's business: pass the cap). A repeated key keeps
    its last value, as IAM does (it does not refuse duplicates).
    """
    if not isinstance(text, str):
        raise MalformedPolicyError("a policy document must be JSON text",
                                   aws_message=AWS_INVALID_JSON)
    if len(text) > max_chars:
        raise MalformedPolicyError(
            f"the policy document is {len(text)} characters; at most {max_chars} are read")
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc) or "too deep"
        raise MalformedPolicyError(f"the policy document is not valid JSON: {detail}",
                                   aws_message=AWS_INVALID_JSON) from None
    if not isinstance(value, dict):
        raise MalformedPolicyError("a policy document must be a JSON object")
    return parse_policy(value, kind, name=name)
