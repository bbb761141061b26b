"""Evaluating IAM policies: trust policies (may this principal assume the role?) and identity
policies (may this identity call this action on this resource?).

IAM User Guide, "Policy evaluation logic", "IAM JSON policy element reference", "IAM JSON
policy elements: Condition operators", "IAM policy elements: Variables and tags" and "AWS JSON
policy elements: Principal". The documents themselves are parsed by ``idp.directory.policy``
(a malformed one never gets here as a ``PolicyDocument``):

* An explicit ``Deny`` whose Principal (trust) or Resource (identity), Action and Condition
  all match wins over everything.
* Every requested action needs an ``Allow`` statement that matches it; otherwise the implicit
  deny applies. For ``AssumeRoleWithSAML`` the actions are ``sts:AssumeRoleWithSAML``, plus
  ``sts:TagSession`` when ``PrincipalTag:*`` attributes are sent and ``sts:SetSourceIdentity``
  when ``SourceIdentity`` is sent.
* Principal (trust policies): ``"*"`` matches every caller; ``{"AWS": "*"}`` every AWS
  identity and federated caller; ``{"AWS": X}`` an account ID, ``arn:aws:iam::ACCT:root``, a
  user, role or assumed-role ARN the caller answers to (``TrustRequest.principal_aws``, exact
  strings: principals take no wildcards but the lone ``*``); ``{"Federated": X}`` the
  provider; ``{"Service": X}`` the service. ``NotPrincipal`` matches every caller it does not
  name.
* Action / NotAction: case-insensitive globs (``*``, ``?``): ``sts:*``, ``sts:AssumeRole*``.
  Resource / NotResource: case-sensitive globs over the whole ARN.
* Condition: operators are AND'd, keys under one operator are AND'd, values for one key are
  OR'd (NOR for the negated ``...Not...`` operators). Key names are case-insensitive everywhere
  (``SAML:aud`` is ``saml:aud``; the tag-key part of ``aws:RequestTag/Team`` too).

======================  ===================  ==================================================
operator form           key absent / empty   key present with values ``v1..vn``
======================  ===================  ==================================================
``X``                   false                true if *any* ``vi`` matches a policy value
``XNot…`` / ``NotX``    true                 true if *no* ``vi`` matches any policy value
``...IfExists``         true                 as without the suffix
``ForAnyValue:X``       false                true if some ``vi`` satisfies X (Not: "is none of")
``ForAllValues:X``      true                 true if every ``vi`` satisfies X
``Null``                "true" matches       "false" matches
======================  ===================  ==================================================

How one request value meets one policy value: ``String*`` exactly, ignoring case, or as a
glob (``*``, ``?``); ``Bool`` ``true``/``false`` ignoring case; ``Numeric*`` and ``Date*``
compare numbers and instants (request dates are ISO 8601 or epoch seconds); ``Arn*`` split both
into six ``:``-separated parts and glob-match each (``ArnEquals`` is ``ArnLike``, as AWS
documents); ``IpAddress`` tests membership of the address in the CIDR block.

Choices where AWS is silent: a plain operator on a multi-valued key is true when any value
matches (the negated ones: when none does). A request value the operator cannot read (``abc``
for ``NumericLessThan``, a malformed date, address or ARN, ``yes`` for ``Bool``) never
satisfies it, negated or not, so ``NumericNotEquals`` with ``abc`` is false. A policy ARN
value with fewer than six parts matches nothing.

Policy variables ("IAM policy elements: Variables and tags"), in ``2012-10-17`` documents
only: ``${key}`` in Resource values and in the values of the String, Bool and Arn operators is
the request's single value for ``key`` (case-insensitive); ``${key, 'default'}`` falls back to
``default`` (``''`` is a quote); ``${*}``, ``${?}``, ``${$}`` are those characters, never
wildcards. A substituted value is literal text (its ``*`` is no wildcard). A variable without
a value (absent, or multi-valued) and without default makes that one policy value match
nothing. ``${`` that does not form a variable is text as written. In ``2008-10-17`` and
versionless documents, variables are literal text.

``evaluate_trust_policy`` also takes a raw mapping (parsed on the spot); a malformed one
yields ``Decision(False, "malformed trust policy: ...")`` rather than an exception, as STS
would refuse to assume such a role. Evaluation never raises.
"""

from __future__ import annotations

import ipaddress
import operator as op
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final

from idp.directory.policy import (
    Condition,
    ConditionOperator,
    Effect,
    PolicyDocument,
    SetQualifier,
    Statement,
    parse_cidr,
    parse_instant,
    parse_number,
    parse_policy,
)
from idp.errors import MalformedPolicyError

__all__ = [
    "ASSUME_ROLE_WITH_SAML",
    "SET_SOURCE_IDENTITY",
    "TAG_SESSION",
    "AccessRequest",
    "Decision",
    "TrustRequest",
    "evaluate_identity_policies",
    "evaluate_trust_policy",
]

ASSUME_ROLE_WITH_SAML: Final = "sts:AssumeRoleWithSAML"
TAG_SESSION: Final = "sts:TagSession"
SET_SOURCE_IDENTITY: Final = "sts:SetSourceIdentity"

Context = Mapping[str, tuple[str, ...]]


def _check_context(context: Context) -> None:
    for key, values in context.items():
        if not isinstance(values, tuple) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"context value for {key!r} must be a tuple of strings")


@dataclass(frozen=True, kw_only=True)
class TrustRequest:
    """What an ``AssumeRole*`` call asks of the role's trust policy (the request context).

    The caller is named by at least one of ``principal_federated``, ``principal_aws`` and
    ``principal_service``.
    """

    principal_federated: str | None = None
    """The SAML (or OIDC) provider ARN (``AssumeRoleWithSAML``'s ``PrincipalArn``)."""
    actions: tuple[str, ...]
    """``sts:AssumeRoleWithSAML``, plus ``sts:TagSession`` / ``sts:SetSourceIdentity`` if used."""
    context: Context
    """Condition keys to values (``saml:aud``, ``aws:requesttag/Team``, ...); lookups ignore
    case. A key mapped to ``()`` counts as absent."""
    principal_aws: tuple[str, ...] = ()
    """Every name the calling IAM identity answers to, least specific first: for a user,
    ``("444455556666", "arn:aws:iam::444455556666:root",
    "arn:aws:iam::444455556666:user/ops")``; for a role session also the role ARN and the
    ``arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`` ARN (last)."""
    principal_service: str | None = None
    """A calling service principal, e.g. ``ec2.amazonaws.com``."""

    def __post_init__(self) -> None:
        if not self.actions:
            raise ValueError("a trust request needs at least one action")
        if not isinstance(self.principal_aws, tuple):
            raise ValueError("principal_aws must be a tuple of names")
        if self.principal_federated is None and not self.principal_aws \
                and self.principal_service is None:
            raise ValueError("a trust request needs a principal (federated, AWS or service)")
        _check_context(self.context)

    @property
    def principal_name(self) -> str:
        """The most specific name of the caller (used in reasons)."""
        if self.principal_aws:
            return self.principal_aws[-1]
        return self.principal_federated or self.principal_service or ""


@dataclass(frozen=True)
class AccessRequest:
    """One API call put to a principal's identity policies: ``action`` on ``resource``."""

    action: str
    """``iam:CreateUser``, ``sts:AssumeRole``... (matched case-insensitively)."""
    resource: str
    """The ARN acted on (matched case-sensitively), ``*`` for actions without a resource."""
    context: Context = field(default_factory=dict)
    """Condition keys to values (``aws:username``, ``aws:sourceip``...); lookups ignore case."""

    def __post_init__(self) -> None:
        if not self.action:
            raise ValueError("an access request needs an action")
        _check_context(self.context)


@dataclass(frozen=True)
class Decision:
    """The verdict and one sentence of why: which statement allowed, or what denied."""

    allowed: bool
    reason: str
    explicit_deny: bool = False
    """Refused by a ``Deny`` statement (not only for want of an ``Allow``): nothing else can
    grant it, not even a resource-based policy naming the caller."""


# --------------------------------------------------------------------------- patterns

Segments = tuple[tuple[str, bool], ...]
"""A policy value after variable substitution: ``(text, literal)`` pieces; wildcards are only
special in pieces written in the policy (``literal`` False)."""

_VARIABLE: Final = re.compile(
    r"\$\{(?:(?P<special>[*?$])|\s*(?P<key>[^\s,'{}]+)\s*"
    r"(?:,\s*'(?P<default>(?:[^']|'')*)'\s*)?)\}")


def _resolve(value: str, context: Context, variables: bool) -> Segments | None:
    """Substitute policy variables; ``None`` when one has no value and no default."""
    if not variables or "${" not in value:
        return ((value, False),)
    out: list[tuple[str, bool]] = []
    last = 0
    for match in _VARIABLE.finditer(value):
        if match.start() > last:
            out.append((value[last:match.start()], False))
        last = match.end()
        special, key, default = match.group("special", "key", "default")
        if special is not None:
            out.append((special, True))
            continue
        found = context.get(key.lower(), ())
        if len(found) == 1:
            out.append((found[0], True))
        elif default is not None:
            out.append((default.replace("''", "'"), True))
        else:
            return None
    if last < len(value):
        out.append((value[last:], False))
    return tuple(out)


def _text(segments: Segments) -> str:
    return "".join(text for text, _ in segments)


@lru_cache(maxsize=1024)
def _compile(segments: Segments, ignore_case: bool, arn: bool = False) -> re.Pattern[str]:
    """IAM wildcards: ``*`` any run of characters, ``?`` exactly one; nothing else is special.
    ``arn``: wildcards in the first five ``:``-separated parts do not cross a colon."""
    body: list[str] = []
    colons = 0
    for text, literal in segments:
        for char in text:
            inside = arn and colons < 5
            if char == ":":
                colons += 1
            if literal or char not in "*?":
                body.append(re.escape(char))
            elif char == "*":
                body.append("[^:]*" if inside else ".*")
            else:
                body.append("[^:]" if inside else ".")
    return re.compile("".join(body), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return _compile(((pattern, False),), ignore_case)


# --------------------------------------------------------------------------- operators

def _string_matcher(base: ConditionOperator) -> Callable[[Segments, str], bool]:
    if base in (ConditionOperator.STRING_LIKE, ConditionOperator.STRING_NOT_LIKE):
        return lambda segments, value: _compile(segments, False).fullmatch(value) is not None
    if base in (ConditionOperator.STRING_EQUALS_IGNORE_CASE,
                ConditionOperator.STRING_NOT_EQUALS_IGNORE_CASE):
        return lambda segments, value: _text(segments).casefold() == value.casefold()
    return lambda segments, value: _text(segments) == value


def _arn_matches(segments: Segments, value: str) -> bool:
    if _text(segments).count(":") < 5 or value.count(":") < 5:
        return False
    return _compile(segments, False, True).fullmatch(value) is not None


_ORDER: Final[Mapping[str, Callable[[Decimal, Decimal], bool]]] = {
    "Equals": op.eq, "NotEquals": op.eq, "LessThan": op.lt, "LessThanEquals": op.le,
    "GreaterThan": op.gt, "GreaterThanEquals": op.ge,
}

_PHRASES: Final[Mapping[str, str]] = {
    "LessThan": "less than", "LessThanEquals": "at most", "GreaterThan": "greater than",
    "GreaterThanEquals": "at least",
}
_DATE_PHRASES: Final[Mapping[str, str]] = {
    "LessThan": "before", "LessThanEquals": "at or before", "GreaterThan": "after",
    "GreaterThanEquals": "at or after",
}


def _comparison(base: ConditionOperator) -> str:
    return base.value.removeprefix(base.family)


def _value_matches(cond: Condition, value: str, context: Context, variables: bool
                   ) -> bool | None:
    """Does one request value match any policy value? ``None``: the operator cannot read the
    request value (it then never satisfies the condition)."""
    base = cond.base
    family = base.family
    if family == "Numeric" or family == "Date":
        parse = parse_number if family == "Numeric" else parse_instant
        got = parse(value)
        if got is None:
            return None
        compare = _ORDER[_comparison(base)]
        wanted = (parse(v) for v in cond.values)
        return any(w is not None and compare(got, w) for w in wanted)
    if family == "Ip":
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            return None
        networks = (parse_cidr(v) for v in cond.values)
        return any(n is not None and address in n for n in networks)
    if family == "Bool":
        if value.lower() not in ("true", "false"):
            return None
        resolved = (_resolve(v, context, variables) for v in cond.values)
        return any(s is not None and _text(s).lower() == value.lower() for s in resolved)
    if family == "Arn":
        if value.count(":") < 5:
            return None
        resolved = (_resolve(v, context, variables) for v in cond.values)
        return any(s is not None and _arn_matches(s, value) for s in resolved)
    matcher = _string_matcher(base)
    resolved = (_resolve(v, context, variables) for v in cond.values)
    return any(s is not None and matcher(s, value) for s in resolved)


def _one_value_satisfies(cond: Condition, value: str, context: Context,
                         variables: bool) -> bool:
    """Does one request value satisfy the operator (any policy value; NOR when negated)?"""
    hit = _value_matches(cond, value, context, variables)
    if hit is None:
        return False
    return not hit if cond.base.negated else hit


def _holds(cond: Condition, context: Context, variables: bool) -> bool:
    present = context.get(cond.key.lower(), ())
    if cond.base is ConditionOperator.NULL:
        return any((v.lower() == "true") == (not present) for v in cond.values)
    if not present:
        if cond.if_exists or cond.qualifier is SetQualifier.FOR_ALL_VALUES:
            return True
        if cond.qualifier is SetQualifier.FOR_ANY_VALUE:
            return False
        return cond.base.negated  # negated operators hold on absence
    results = [_one_value_satisfies(cond, v, context, variables) for v in present]
    if cond.qualifier is SetQualifier.FOR_ANY_VALUE:
        return any(results)
    # ForAllValues, and plain operators: positive = some value matches, negated = none does.
    if cond.qualifier is SetQualifier.FOR_ALL_VALUES or cond.base.negated:
        return all(results)
    return any(results)


def _describe_failure(cond: Condition, context: Context) -> str:
    present = context.get(cond.key.lower(), ())
    got = ", ".join(present) if present else "no value (key absent)"
    base = cond.base
    listed = ", ".join(cond.values)
    comparison = _comparison(base)
    phrases = _DATE_PHRASES if base.family == "Date" else _PHRASES
    if base is ConditionOperator.NULL:
        wanted = " or ".join("key absent" if v.lower() == "true" else "key present"
                             for v in cond.values)
    elif comparison in phrases:
        wanted = " or ".join(f"{phrases[comparison]} {v}" for v in cond.values)
    elif base.family == "Ip":
        where = "outside" if base.negated else "in"
        wanted = f"an address {where} {listed}"
    elif len(cond.values) == 1:
        wanted = f"anything but {listed}" if base.negated else listed
    else:
        wanted = f"none of {listed}" if base.negated else f"one of {listed}"
    return f"condition {cond.operator} {cond.key} failed: got {got}, wanted {wanted}"


def _failed_condition(statement: Statement, context: Context, variables: bool) -> str | None:
    for cond in statement.conditions:
        if not _holds(cond, context, variables):
            return _describe_failure(cond, context)
    return None


def _covers(statement: Statement, action: str) -> bool:
    hit = any(_glob(pattern, True).fullmatch(action) for pattern in statement.actions)
    return hit != statement.not_action


# --------------------------------------------------------------------------- trust policies

def _names(statement: Statement, request: TrustRequest) -> bool:
    def one(kind: str, name: str) -> bool:
        if kind == "*":
            return True
        if kind == "AWS":
            if name == "*":
                return bool(request.principal_aws) or request.principal_federated is not None
            return name in request.principal_aws
        if kind == "Federated":
            return name == request.principal_federated
        if kind == "Service":
            return name == request.principal_service
        return False  # CanonicalUser: S3 only, never a caller here

    named = any(one(kind, name) for kind, name in statement.principals)
    return named != statement.not_principal


def _mismatch(statement: Statement, request: TrustRequest, context: Context,
              variables: bool) -> str | None:
    """Why the statement does not apply to this principal and context (``None``: it does)."""
    if not _names(statement, request):
        element = "NotPrincipal excludes" if statement.not_principal else "Principal does not name"
        return f"{element} {request.principal_name}"
    return _failed_condition(statement, context, variables)


def _allowing(statements: Iterable[Statement], action: str, request: TrustRequest,
              context: Context, variables: bool) -> Statement | str:
    """The first Allow statement granting ``action``, or the reason none does."""
    failures: list[str] = []
    for statement in statements:
        if statement.effect is not Effect.ALLOW or not _covers(statement, action):
            continue
        why = _mismatch(statement, request, context, variables)
        if why is None:
            return statement
        failures.append(f"{statement.label}: {why}")
    if not failures:
        return f"no statement allows {action}"
    return f"no statement allows {action}: " + "; ".join(failures)


def _fold_context(context: Context) -> dict[str, tuple[str, ...]]:
    folded: dict[str, tuple[str, ...]] = {}
    for key, values in context.items():
        folded[key.lower()] = folded.get(key.lower(), ()) + tuple(values)
    return folded


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
    variables = document.has_variables
    for statement in document.statements:
        if statement.effect is not Effect.DENY:
            continue
        for action in request.actions:
            if _covers(statement, action) \
                    and _mismatch(statement, request, context, variables) is None:
                return Decision(False, f"explicit Deny in {statement.label} for {action}",
                                explicit_deny=True)
    granted: list[str] = []
    for action in request.actions:
        found = _allowing(document.statements, action, request, context, variables)
        if isinstance(found, str):
            return Decision(False, found)
        granted.append(f"{action} allowed by {found.label}")
    return Decision(True, "; ".join(granted))


# --------------------------------------------------------------------------- identity policies

def _covers_resource(statement: Statement, resource: str, context: Context,
                     variables: bool) -> bool:
    """Resource / NotResource: case-sensitive globs; a statement without either (a trust
    policy's) covers nothing. A pattern whose variable has no value matches nothing."""
    if not statement.resources:
        return False
    hit = False
    for pattern in statement.resources:
        segments = _resolve(pattern, context, variables)
        if segments is not None and _compile(segments, False).fullmatch(resource):
            hit = True
            break
    return hit != statement.not_resource


def _where(document: PolicyDocument, position: int, statement: Statement) -> str:
    name = document.name if document.name is not None else f"#{position}"
    return f"policy {name} {statement.label}"


def evaluate_identity_policies(policies: Sequence[PolicyDocument],
                               request: AccessRequest) -> Decision:
    """Decide ``request`` against every identity policy of the caller (inline and attached,
    and session policies by the caller's choice), IAM "Policy evaluation logic" within one
    account: an explicit Deny in any policy wins; else an Allow whose action, resource and
    conditions all match allows; else the implicit deny. Policies are named in reasons by
    ``PolicyDocument.name``, or ``#N`` (1-based position) when unnamed.
    """
    context = _fold_context(request.context)
    action, resource = request.action, request.resource
    target = f"{action} on {resource}"
    allowed_by: str | None = None
    failures: list[str] = []
    for position, document in enumerate(policies, 1):
        variables = document.has_variables
        for statement in document.statements:
            if not _covers(statement, action) \
                    or not _covers_resource(statement, resource, context, variables):
                continue
            why = _failed_condition(statement, context, variables)
            where = _where(document, position, statement)
            if statement.effect is Effect.DENY:
                if why is None:
                    return Decision(False, f"explicit Deny in {where} for {target}",
                                    explicit_deny=True)
            elif why is None:
                allowed_by = allowed_by or where
            else:
                failures.append(f"{where}: {why}")
    if allowed_by is not None:
        return Decision(True, f"{target} allowed by {allowed_by}")
    if not failures:
        return Decision(False, f"no statement allows {target}")
    return Decision(False, f"no statement allows {target}: " + "; ".join(failures))
