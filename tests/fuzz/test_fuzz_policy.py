"""Property-based fuzzing of the IAM policy grammar and evaluators.

The invariants: any JSON-shaped document (or any text) parses to a ``PolicyDocument`` or
raises ``MalformedPolicyError`` (with an ``aws_message``), never another exception; a parsed
document evaluates to a ``Decision`` for any request, never an exception. Documents are built
structure-aware (real operators, keys, variables and typed values, mixed with junk) so the
evaluator's paths are reached, not just the parser's first refusal.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from idp.aws.policy import (
    AccessRequest,
    Decision,
    TrustRequest,
    evaluate_identity_policies,
    evaluate_trust_policy,
)
from idp.directory.policy import PolicyDocument, PolicyKind, parse_policy, parse_policy_text
from idp.errors import MalformedPolicyError

_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=10),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids,
                                                               max_size=3),
    max_leaves=10,
)

_OPERATORS = ["StringEquals", "StringNotLike", "StringLikeIfExists", "Bool", "BoolIfExists",
              "NumericLessThan", "NumericNotEquals", "DateGreaterThan", "DateEqualsIfExists",
              "ArnLike", "ArnEquals", "ArnNotLike", "IpAddress", "NotIpAddress", "Null",
              "ForAnyValue:StringEquals", "ForAllValues:NumericGreaterThanEquals",
              "ForAnyValue:IpAddress", "BinaryEquals", "Nonsense"]
_KEYS = ["aws:username", "aws:SourceIp", "aws:CurrentTime", "aws:PrincipalArn", "saml:sub",
         "aws:MultiFactorAuthAge", "test:flag"]
_VALUE_TEXT = st.sampled_from([
    "true", "false", "TRUE", "3", "-1.5", "1e3", "2026-01-01T00:00:00Z", "1772366400",
    "10.0.0.0/8", "203.0.113.7", "2001:db8::/32", "arn:aws:iam::*:user/*",
    "arn:aws:iam::111122223333:user/alice", "${aws:username}", "${aws:username, 'x''y'}",
    "${*}${?}${$}", "${", "${}", "${ a , 'b' }", "*", "?", "", "a:b:c:d:e:f:g",
]) | st.text(max_size=12)
_values = st.one_of(_VALUE_TEXT, st.lists(_VALUE_TEXT, max_size=3), st.booleans(),
                    st.integers(), _json)
_conditions = st.dictionaries(
    st.sampled_from(_OPERATORS) | st.text(max_size=8),
    st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=6), _values, max_size=3)
    | _json,
    max_size=3)
_patterns = st.sampled_from(["*", "sts:*", "iam:Get*", "arn:aws:iam::111122223333:user/*",
                             "arn:aws:iam::111122223333:user/${aws:username}",
                             "arn:aws:iam::*:role/${aws:PrincipalTag/team, 'none'}", "?"]) \
    | st.text(max_size=10)
_principals = st.sampled_from(["*", {"AWS": "*"}, {"AWS": "111122223333"},
                               {"AWS": ["arn:aws:iam::111122223333:user/alice"]},
                               {"Service": ["ec2.amazonaws.com"]},
                               {"Federated": "arn:aws:iam::1:saml-provider/x"}])


_GOOD_VALUES = {
    "String": _VALUE_TEXT, "Bool": st.sampled_from(["true", "false", "${test:flag}"]),
    "Numeric": st.sampled_from(["3", "-1.5", "1e3", "0"]),
    "Date": st.sampled_from(["2026-01-01T00:00:00Z", "1772366400", "2026-03-01"]),
    "Arn": st.sampled_from(["arn:aws:iam::*:user/*", "arn:aws:iam::111122223333:user/alice",
                            "arn:aws:iam::111122223333:user/${aws:username}", "arn:*"]),
    "IpAddress": st.sampled_from(["10.0.0.0/8", "203.0.113.7", "2001:db8::/32"]),
    "NotIpAddress": st.sampled_from(["10.0.0.0/8", "203.0.113.7"]),
    "Null": st.sampled_from(["true", "false"]),
}


@st.composite
def good_conditions(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly well-formed Condition blocks, so evaluation (not just parsing) is exercised."""
    out: dict[str, Any] = {}
    for operator in draw(st.lists(st.sampled_from(_OPERATORS[:-2]), max_size=3, unique=True)):
        bare = operator.split(":")[-1]
        family = next(k for k in _GOOD_VALUES if bare.startswith(k))
        keys = draw(st.lists(st.sampled_from(_KEYS), min_size=1, max_size=2, unique=True))
        out[operator] = {key: draw(_GOOD_VALUES[family] | st.lists(_GOOD_VALUES[family],
                                                                   min_size=1, max_size=2))
                         for key in keys}
    return out


@st.composite
def statements(draw: st.DrawFn, kind: PolicyKind | None = None) -> dict[str, Any]:
    """A statement for ``kind`` (mostly valid), or for no kind in particular (mostly junk)."""
    def rarely() -> bool:  # one in ten (sampled_from is uniform; it shrinks to False)
        return draw(st.sampled_from([False] * 9 + [True]))

    out: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Deny"]))
                           if kind and not rarely() else draw(st.sampled_from(
                               ["Allow", "Deny", "allow"]) | _json)}
    wanted = {
        None: {"Principal": 0.5, "Resource": 0.5, "Action": 0.5},
        PolicyKind.TRUST: {"Principal": 1, "Resource": 0, "Action": 1},
        PolicyKind.IDENTITY: {"Principal": 0, "Resource": 1, "Action": 1},
    }[kind]
    for element, strategy in (("Principal", _principals | _json), ("Resource", _patterns
                                                           | st.lists(_patterns, min_size=1,
                                                                      max_size=3)),
                              ("Action", _patterns | st.lists(_patterns, min_size=1,
                                                              max_size=3))):
        present = {1: lambda: not rarely(), 0.5: lambda: draw(st.booleans()),
                   0: rarely}[wanted[element]]
        if present():
            key = f"Not{element}" if rarely() else element
            out[key] = draw(strategy)
    if draw(st.booleans()):
        out["Condition"] = draw(good_conditions() if kind and not rarely() else _conditions)
    if draw(st.booleans()):
        out["Sid"] = draw(st.text(max_size=5))
    if rarely():
        out[draw(st.sampled_from(["Extra", "NotPrincipal", "NotAction", "NotResource"]))] = \
            draw(_json)
    return out


def documents(kind: PolicyKind | None = None) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.fixed_dictionaries(
            {"Statement": st.one_of(statements(kind), st.lists(statements(kind), min_size=1,
                                                               max_size=3))},
            optional={"Version": st.sampled_from(["2012-10-17", "2008-10-17"]), "Id": _json}),
        st.fixed_dictionaries(
            {"Statement": st.one_of(statements(), st.lists(statements(), max_size=3), _json)},
            optional={"Version": st.sampled_from(["2012-10-17", "2008-10-17", "2020"])}),
        _json,
    )


_context = st.dictionaries(st.sampled_from([k.lower() for k in _KEYS]) | st.text(max_size=5),
                           st.lists(_VALUE_TEXT, max_size=2).map(tuple), max_size=4)


def _parse(raw: Any, kind: PolicyKind) -> PolicyDocument | None:
    try:
        return parse_policy(raw, kind)
    except MalformedPolicyError as exc:
        assert exc.aws_message
        event(f"refused: {exc.aws_message}")
        return None


@given(data=st.data(), kind=st.sampled_from(list(PolicyKind)))
def test_parse_policy_never_crashes(data: st.DataObject, kind: PolicyKind) -> None:
    """Any JSON-shaped input is a PolicyDocument or a MalformedPolicyError."""
    raw = data.draw(documents(kind), label="document")
    if _parse(raw, kind) is not None:
        event("accepted")


@given(text=st.one_of(documents().map(json.dumps), st.text(max_size=60),
                      st.integers(1, 5000).map(lambda n: "[" * n + "]" * n)),
       kind=st.sampled_from(list(PolicyKind)))
def test_parse_policy_text_never_crashes(text: str, kind: PolicyKind) -> None:
    try:
        parse_policy_text(text, kind)
    except MalformedPolicyError as exc:
        assert exc.aws_message


@given(raw=documents(PolicyKind.TRUST), context=_context,
       principal=st.sampled_from(["federated", "aws", "service"]))
def test_trust_evaluation_never_crashes(raw: Any, context: dict[str, tuple[str, ...]],
                                        principal: str) -> None:
    """evaluate_trust_policy gives a Decision for any document, principal and context."""
    request = TrustRequest(
        principal_federated="arn:aws:iam::1:saml-provider/x" if principal == "federated"
        else None,
        principal_aws=("111122223333", "arn:aws:iam::111122223333:user/alice")
        if principal == "aws" else (),
        principal_service="ec2.amazonaws.com" if principal == "service" else None,
        actions=("sts:AssumeRole", "sts:TagSession"), context=context)
    decision = evaluate_trust_policy(raw if isinstance(raw, dict) else {"Statement": raw},
                                     request)
    assert isinstance(decision, Decision)
    event(f"allowed={decision.allowed}")


@given(raws=st.lists(documents(PolicyKind.IDENTITY), max_size=3), context=_context,
       action=st.sampled_from(["iam:GetUser", "sts:AssumeRole"]) | st.text(min_size=1,
                                                                           max_size=8),
       resource=st.sampled_from(["arn:aws:iam::111122223333:user/alice", "*"])
       | st.text(max_size=12))
def test_identity_evaluation_never_crashes(raws: list[Any], context: dict[str, tuple[str, ...]],
                                           action: str, resource: str) -> None:
    """evaluate_identity_policies gives a Decision for any parsed documents and request."""
    docs = [d for d in (_parse(raw, PolicyKind.IDENTITY) for raw in raws) if d is not None]
    decision = evaluate_identity_policies(docs, AccessRequest(action=action, resource=resource,
                                                              context=context))
    assert isinstance(decision, Decision)
    event(f"policies={len(docs)} allowed={decision.allowed}")
