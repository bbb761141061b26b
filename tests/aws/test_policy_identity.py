"""Identity policy evaluation: may this IAM user or role session call this action on this
resource? (IAM User Guide, "Policy evaluation logic" within one account.)"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from idp.aws.policy import AccessRequest, Decision, evaluate_identity_policies
from idp.directory.policy import PolicyDocument, PolicyKind, parse_policy

ACCOUNT = "111122223333"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Admin"
DEPLOY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/Deploy"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"


def stmt(effect: str = "Allow", action: Any = "sts:AssumeRole", resource: Any = "*",
         condition: dict[str, Any] | None = None, *, not_action: bool = False,
         not_resource: bool = False, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"Effect": effect,
                            "NotAction" if not_action else "Action": action,
                            "NotResource" if not_resource else "Resource": resource, **extra}
    if condition is not None:
        body["Condition"] = condition
    return body


def doc(*statements: dict[str, Any], name: str | None = None,
        version: str | None = "2012-10-17") -> PolicyDocument:
    raw: dict[str, Any] = {"Statement": list(statements)}
    if version:
        raw["Version"] = version
    return parse_policy(raw, PolicyKind.IDENTITY, name=name)


def ask(action: str = "sts:AssumeRole", resource: str = ADMIN_ROLE,
        **context: Any) -> AccessRequest:
    """Keyword context ``aws_username="x"`` -> ``{"aws:username": ("x",)}``."""
    ctx = {key.replace("__", "/").replace("_", ":", 1):
           tuple(value) if isinstance(value, list | tuple) else (value,)
           for key, value in context.items()}
    return AccessRequest(action=action, resource=resource, context=ctx)


def decide(*policies: PolicyDocument, request: AccessRequest | None = None) -> Decision:
    return evaluate_identity_policies(policies, request or ask())


# --- allow, deny, implicit deny --------------------------------------------------------------

def test_an_allow_names_its_policy_and_statement():
    decision = decide(doc(stmt(resource=ADMIN_ROLE, Sid="Assume"), name="assume-admin"))
    assert decision == Decision(True, f"sts:AssumeRole on {ADMIN_ROLE} allowed by policy "
                                      "assume-admin statement 1 (Sid Assume)")


def test_no_policies_is_the_implicit_deny():
    assert evaluate_identity_policies([], ask()) == Decision(
        False, f"no statement allows sts:AssumeRole on {ADMIN_ROLE}")


def test_an_unnamed_policy_is_named_by_position():
    decision = decide(doc(stmt(action="iam:*")), doc(stmt(effect="Deny")))
    assert decision.reason == (f"explicit Deny in policy #2 statement 1 for sts:AssumeRole "
                               f"on {ADMIN_ROLE}")


@pytest.mark.parametrize("order", ["deny-first", "deny-last"])
def test_explicit_deny_in_any_policy_wins(order):
    allow = doc(stmt(), name="allow-all")
    deny = doc(stmt(effect="Deny", resource=ADMIN_ROLE, Sid="NoAdmin"), name="guard")
    policies = [deny, allow] if order == "deny-first" else [allow, deny]
    decision = evaluate_identity_policies(policies, ask())
    assert decision == Decision(False, "explicit Deny in policy guard statement 1 (Sid NoAdmin) "
                                       f"for sts:AssumeRole on {ADMIN_ROLE}",
                                explicit_deny=True)
    assert evaluate_identity_policies(policies, ask(resource=DEPLOY_ROLE)).allowed


def test_a_deny_whose_condition_fails_does_not_apply():
    policies = doc(stmt(), stmt(effect="Deny", condition={
        "BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}))
    assert decide(policies, request=ask(aws_multifactorauthpresent="true")).allowed
    assert not decide(policies, request=ask(aws_multifactorauthpresent="false")).allowed
    assert not decide(policies, request=ask()).allowed  # IfExists: absent key -> Deny applies


def test_implicit_deny_explains_failed_conditions():
    policies = doc(stmt(condition={"StringEquals": {"aws:username": "bob"}}), name="p")
    decision = decide(policies, request=ask(aws_username="alice"))
    assert decision == Decision(False, (
        f"no statement allows sts:AssumeRole on {ADMIN_ROLE}: policy p statement 1: "
        "condition StringEquals aws:username failed: got alice, wanted bob"))


# --- Action / NotAction, Resource / NotResource ----------------------------------------------

@pytest.mark.parametrize(("action", "requested", "allowed"), [
    ("iam:Get*", "iam:GetUser", True),
    ("iam:Get*", "IAM:getuser", True),  # actions ignore case
    ("iam:Get*", "iam:ListUsers", False),
    (["iam:ListUsers", "iam:GetUser"], "iam:GetUser", True),
    ("iam:GetUse?", "iam:GetUser", True),
])
def test_action_globs(action, requested, allowed):
    assert decide(doc(stmt(action=action)),
                  request=ask(requested, ALICE)).allowed is allowed


@pytest.mark.parametrize(("requested", "allowed"), [
    ("iam:GetUser", True),
    ("iam:CreateUser", False),
    ("iam:createuser", False),
])
def test_not_action_allows_everything_but(requested, allowed):
    policies = doc(stmt(action=["iam:Create*", "iam:Delete*"], not_action=True))
    assert decide(policies, request=ask(requested, ALICE)).allowed is allowed


@pytest.mark.parametrize(("resource", "requested", "allowed"), [
    (f"arn:aws:iam::{ACCOUNT}:role/*", ADMIN_ROLE, True),
    (f"arn:aws:iam::{ACCOUNT}:role/*", ALICE, False),
    ("arn:aws:iam::*:role/Admin", ADMIN_ROLE, True),
    ("arn:aws:iam::*:role/admin", ADMIN_ROLE, False),  # resources are case-sensitive
    ("arn:aws:iam::?????????????:role/Admin", ADMIN_ROLE, False),  # 13 ? for 12 digits
    ("arn:aws:iam::????????????:role/Admin", ADMIN_ROLE, True),
    ("*", ADMIN_ROLE, True),
    ([ALICE, ADMIN_ROLE], ADMIN_ROLE, True),
])
def test_resource_globs(resource, requested, allowed):
    assert decide(doc(stmt(resource=resource)),
                  request=ask(resource=requested)).allowed is allowed


def test_not_resource_allows_everything_but():
    policies = doc(stmt(resource=ADMIN_ROLE, not_resource=True))
    assert decide(policies, request=ask(resource=DEPLOY_ROLE)).allowed
    assert not decide(policies).allowed


def test_deny_with_not_resource_spares_the_named_resources():
    policies = doc(stmt(), stmt(effect="Deny", resource=DEPLOY_ROLE, not_resource=True))
    assert decide(policies, request=ask(resource=DEPLOY_ROLE)).allowed
    assert decide(policies).reason.startswith("explicit Deny in policy #1 statement 2")


def test_a_trust_policy_grants_no_identity_permissions():
    trust = parse_policy({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "*"}})
    assert not evaluate_identity_policies([trust], ask()).allowed


def test_names_can_be_given_by_replace():
    named = dataclasses.replace(doc(stmt()), name="inline/alice")
    assert evaluate_identity_policies([named], ask()).reason.endswith(
        "allowed by policy inline/alice statement 1")
    assert named == doc(stmt())  # the name does not take part in equality


# --- condition operators ---------------------------------------------------------------------

NOW = "2026-03-01T12:00:00Z"


@pytest.mark.parametrize(("operator", "wanted", "got", "allowed"), [
    # Bool
    ("Bool", "true", "true", True),
    ("Bool", "true", "True", True),
    ("Bool", "false", "true", False),
    ("Bool", "true", "yes", False),  # unreadable request value
    ("Bool", "true", None, False),
    ("BoolIfExists", "true", None, True),
    # Numeric
    ("NumericEquals", "10", "10.0", True),
    ("NumericEquals", "10", "11", False),
    ("NumericNotEquals", "10", "11", True),
    ("NumericNotEquals", "10", "10", False),
    ("NumericNotEquals", "10", "abc", False),  # unreadable: false even when negated
    ("NumericNotEquals", "10", None, True),
    ("NumericLessThan", "10", "9.5", True),
    ("NumericLessThan", "10", "10", False),
    ("NumericLessThanEquals", "10", "10", True),
    ("NumericGreaterThan", "10", "10", False),
    ("NumericGreaterThan", "10", "-11", False),
    ("NumericGreaterThanEquals", "10", "1e2", True),
    ("NumericLessThan", "10", "ten", False),
    ("NumericLessThan", "10", None, False),
    ("NumericLessThanIfExists", "10", None, True),
    ("NumericLessThanIfExists", "10", "20", False),
    ("NumericLessThan", ["5", "10"], "7", True),  # values are OR'd
    # Date
    ("DateEquals", "2026-03-01T12:00:00Z", NOW, True),
    ("DateEquals", "1772366400", NOW, True),  # epoch seconds in the policy
    ("DateEquals", "2026-03-01T13:00:00+01:00", NOW, True),
    ("DateNotEquals", "2026-03-01T12:00:00Z", NOW, False),
    ("DateLessThan", "2026-03-02", NOW, True),
    ("DateLessThan", "2026-03-01", NOW, False),
    ("DateLessThanEquals", NOW, "1772366400", True),  # epoch seconds in the request
    ("DateGreaterThan", "2026-01-01T00:00:00Z", NOW, True),
    ("DateGreaterThanEquals", "2027-01-01T00:00:00Z", NOW, False),
    ("DateGreaterThan", "2026-01-01T00:00:00Z", "yesterday", False),
    ("DateGreaterThan", "2026-01-01T00:00:00Z", None, False),
    ("DateGreaterThanIfExists", "2026-01-01T00:00:00Z", None, True),
    # Arn
    ("ArnEquals", f"arn:aws:iam::{ACCOUNT}:user/*", ALICE, True),  # ArnEquals globs too
    ("ArnLike", f"arn:aws:iam::{ACCOUNT}:user/*", ALICE, True),
    ("ArnLike", "arn:aws:iam::*:user/alice", ALICE, True),
    ("ArnLike", "arn:aws:iam::*:user/ALICE", ALICE, False),
    ("ArnLike", "arn:aws:*:user/alice", ALICE, False),  # fewer than six parts
    ("ArnLike", "arn:aws:iam:*:user/alice", ALICE, False),  # * does not cross a colon
    ("ArnLike", "arn:aws:iam::*:user/alice", "not-an-arn", False),
    ("ArnNotLike", f"arn:aws:iam::{ACCOUNT}:role/*", ALICE, True),
    ("ArnNotEquals", f"arn:aws:iam::{ACCOUNT}:user/*", ALICE, False),
    ("ArnNotLike", f"arn:aws:iam::{ACCOUNT}:role/*", None, True),
    ("ArnLike", f"arn:aws:iam::{ACCOUNT}:user/*", None, False),
    ("ArnLikeIfExists", f"arn:aws:iam::{ACCOUNT}:user/*", None, True),
    ("ArnLike", "arn:aws:logs:*:*:log-group:app:*", "arn:aws:logs:us-east-1:1:log-group:app:x:y",
     True),  # the sixth part may hold colons
    # IpAddress
    ("IpAddress", "203.0.113.0/24", "203.0.113.200", True),
    ("IpAddress", "203.0.113.0/24", "198.51.100.1", False),
    ("IpAddress", ["198.51.100.0/24", "203.0.113.0/24"], "203.0.113.9", True),
    ("IpAddress", "203.0.113.5", "203.0.113.5", True),  # a lone address is a /32
    ("IpAddress", "2001:db8::/32", "2001:db8::1", True),
    ("IpAddress", "2001:db8::/32", "203.0.113.5", False),
    ("IpAddress", "203.0.113.0/24", "not-an-ip", False),
    ("IpAddress", "203.0.113.0/24", None, False),
    ("IpAddressIfExists", "203.0.113.0/24", None, True),
    ("NotIpAddress", "203.0.113.0/24", "198.51.100.1", True),
    ("NotIpAddress", "203.0.113.0/24", "203.0.113.1", False),
    ("NotIpAddress", "203.0.113.0/24", None, True),
    ("NotIpAddressIfExists", "203.0.113.0/24", "203.0.113.1", False),
    # Null and the String family
    ("Null", "true", None, True),
    ("Null", "true", "x", False),
    ("StringLike", "a*", "alice", True),
    ("StringNotEqualsIgnoreCase", "ALICE", "alice", False),
])
def test_operator_table(operator, wanted, got, allowed):
    """Each operator against a present, absent and unreadable request value."""
    policies = doc(stmt(condition={operator: {"test:key": wanted}}))
    req = ask() if got is None else ask(test_key=got)
    assert decide(policies, request=req).allowed is allowed


@pytest.mark.parametrize(("operator", "wanted", "got", "allowed"), [
    ("ForAnyValue:IpAddress", "203.0.113.0/24", ["10.0.0.1", "203.0.113.1"], True),
    ("ForAllValues:IpAddress", "203.0.113.0/24", ["10.0.0.1", "203.0.113.1"], False),
    ("ForAllValues:IpAddress", "203.0.113.0/24", ["203.0.113.2", "203.0.113.1"], True),
    ("ForAllValues:NumericLessThan", "3", ["1", "2"], True),
    ("ForAllValues:NumericLessThan", "3", ["1", "5"], False),
    ("ForAnyValue:NumericLessThan", "3", ["1", "5"], True),
    ("ForAnyValue:ArnLike", "arn:aws:iam::*:role/*", [ALICE, ADMIN_ROLE], True),
    ("ForAllValues:ArnLike", "arn:aws:iam::*:role/*", [ALICE, ADMIN_ROLE], False),
])
def test_set_qualifiers_on_typed_operators(operator, wanted, got, allowed):
    policies = doc(stmt(condition={operator: {"test:key": wanted}}))
    assert decide(policies, request=ask(test_key=got)).allowed is allowed


def test_date_reason_reads_as_a_comparison():
    policies = doc(stmt(condition={"DateLessThan": {"aws:CurrentTime": "2026-01-01"}}))
    decision = decide(policies, request=ask(aws_currenttime=NOW))
    assert decision.reason.endswith(f"condition DateLessThan aws:CurrentTime failed: got {NOW}, "
                                    "wanted before 2026-01-01")


def test_ip_reason_names_the_block():
    policies = doc(stmt(condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}))
    decision = decide(policies, request=ask(aws_sourceip="198.51.100.1"))
    assert decision.reason.endswith("got 198.51.100.1, wanted an address in 203.0.113.0/24")


# --- policy variables ------------------------------------------------------------------------

USER_HOME = f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"


@pytest.mark.parametrize(("username", "resource", "allowed"), [
    ("alice", ALICE, True),
    ("bob", ALICE, False),
    ("ALICE", ALICE, False),  # the substituted value is compared exactly
    (None, ALICE, False),  # no value, no default: the pattern matches nothing
    ("*", ALICE, False),  # a substituted * is no wildcard
    (["alice", "bob"], ALICE, False),  # multi-valued keys are not variables
])
def test_variable_in_resource(username, resource, allowed):
    policies = doc(stmt(action="iam:GetUser", resource=USER_HOME))
    req = ask("iam:GetUser", resource) if username is None else \
        ask("iam:GetUser", resource, aws_username=username)
    assert decide(policies, request=req).allowed is allowed


def test_variable_key_is_case_insensitive():
    policies = doc(stmt(resource=f"arn:aws:iam::{ACCOUNT}:user/${{AWS:UserName}}"))
    assert decide(policies, request=ask(resource=ALICE, **{"aws_username": "alice"})).allowed


@pytest.mark.parametrize(("pattern", "context", "resource", "allowed"), [
    ("arn:aws:s3:::home/${aws:username, 'guest'}/*", {}, "arn:aws:s3:::home/guest/x", True),
    ("arn:aws:s3:::home/${aws:username, 'guest'}/*", {"aws_username": "al"},
     "arn:aws:s3:::home/al/x", True),
    ("arn:aws:s3:::home/${aws:username, 'guest'}/*", {"aws_username": "al"},
     "arn:aws:s3:::home/guest/x", False),
    ("arn:aws:s3:::home/${aws:username,'it''s'}", {}, "arn:aws:s3:::home/it's", True),
    ("arn:aws:s3:::a${*}b", {}, "arn:aws:s3:::a*b", True),
    ("arn:aws:s3:::a${*}b", {}, "arn:aws:s3:::axxb", False),  # ${*} is a literal star
    ("arn:aws:s3:::a${?}b", {}, "arn:aws:s3:::a?b", True),
    ("arn:aws:s3:::a${?}b", {}, "arn:aws:s3:::axb", False),
    ("arn:aws:s3:::a${$}b", {}, "arn:aws:s3:::a$b", True),
    ("arn:aws:s3:::a${unclosed", {}, "arn:aws:s3:::a${unclosed", True),  # not a variable
])
def test_variable_defaults_and_escapes(pattern, context, resource, allowed):
    assert decide(doc(stmt(resource=pattern)),
                  request=ask(resource=resource, **context)).allowed is allowed


@pytest.mark.parametrize("version", ["2008-10-17", None])
def test_variables_are_literal_before_2012(version):
    policies = doc(stmt(resource=USER_HOME), version=version)
    assert not decide(policies, request=ask(resource=ALICE, aws_username="alice")).allowed
    literal = ask(resource=f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}",
                  aws_username="alice")
    assert decide(policies, request=literal).allowed


@pytest.mark.parametrize(("operator", "wanted", "got", "allowed"), [
    ("StringEquals", "${aws:username}", "alice", True),
    ("StringEquals", "${aws:username}", "bob", False),
    ("StringLike", "${aws:username}-*", "alice-1", True),
    ("StringLike", "${aws:username}-*", "bob-1", False),
    ("StringNotEquals", "${aws:username}", "alice", False),
    ("ArnLike", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}", ALICE, True),
    ("Bool", "${test:flag}", "true", True),
    ("Bool", "${test:flag}", "false", False),
])
def test_variables_in_condition_values(operator, wanted, got, allowed):
    policies = doc(stmt(condition={operator: {"test:key": wanted}}))
    req = ask(test_key=got, aws_username="alice", test_flag="true")
    assert decide(policies, request=req).allowed is allowed


def test_condition_variable_without_value_matches_nothing():
    policies = doc(stmt(condition={"StringEquals": {"test:key": "${aws:username}"}}))
    assert not decide(policies, request=ask(test_key="")).allowed
    default = doc(stmt(condition={"StringEquals": {"test:key": "${aws:username, ''}"}}))
    assert decide(default, request=ask(test_key="")).allowed


# --- the request ---------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "message"), [
    ({"action": ""}, "needs an action"),
    ({"context": {"aws:username": "alice"}}, "tuple of strings"),
])
def test_access_request_rejects_obvious_mistakes(kwargs, message):
    args: dict[str, Any] = {"action": "iam:GetUser", "resource": "*", **kwargs}
    with pytest.raises(ValueError, match=message):
        AccessRequest(**args)
