"""Policy documents: parsed into typed values, and refused when the directory loads, with the
file line of the offending statement, as IAM refuses them when the role is created."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from idp.aws.policy import TrustRequest, evaluate_trust_policy
from idp.directory import parse_directory
from idp.directory.policy import (
    ConditionOperator,
    Effect,
    PolicyKind,
    SetQualifier,
    parse_policy,
    parse_policy_text,
)
from idp.errors import ConfigError, MalformedPolicyError

PROVIDER = "arn:aws:iam::111122223333:saml-provider/CorpIdP"


def statement(**extra: object) -> dict[str, object]:
    return {"Effect": "Allow", "Principal": {"Federated": PROVIDER},
            "Action": "sts:AssumeRoleWithSAML", **extra}


def test_parsed_document_exposes_statements():
    """parse_policy returns frozen statements with their 1-based index and parsed conditions."""
    doc = parse_policy({"Version": "2012-10-17", "Statement": [statement(
        Sid="One", Condition={"ForAnyValue:StringLikeIfExists": {"SAML:sub": "a*"}})]})
    (only,) = doc.statements
    assert (only.index, only.sid, only.effect, only.label) == (1, "One", "Allow",
                                                               "statement 1 (Sid One)")
    (cond,) = only.conditions
    assert (cond.base, cond.qualifier, cond.if_exists, cond.key, cond.values) == (
        "StringLike", "ForAnyValue", True, "SAML:sub", ("a*",))
    assert only.effect is Effect.ALLOW
    assert cond.base is ConditionOperator.STRING_LIKE
    assert cond.qualifier is SetQualifier.FOR_ANY_VALUE


def test_document_keeps_its_source():
    """The document as written stays available (for display and, later, the IAM API)."""
    raw = {"Version": "2012-10-17", "Statement": statement()}
    assert parse_policy(raw).source == raw


@pytest.mark.parametrize(("statements", "index"), [
    ([statement(), statement(Effect="allow")], 2),
    ([statement(Resource="*"), statement()], 1),
    ([statement(), statement(), {"Effect": "Deny", "Action": "sts:*"}], 3),
    ([statement(Condition={"BinaryEquals": {"saml:sub": "QQ=="}})], 1),
])
def test_errors_name_the_statement(statements, index):
    """A statement's mistake carries its 1-based index (so a file loader can show its line)."""
    with pytest.raises(MalformedPolicyError) as raised:
        parse_policy({"Version": "2012-10-17", "Statement": statements})
    assert raised.value.statement == index
    assert str(raised.value).startswith(f"statement {index}")


def test_document_level_errors_name_no_statement():
    with pytest.raises(MalformedPolicyError) as raised:
        parse_policy({"Version": "2020-01-01", "Statement": statement()})
    assert raised.value.statement is None


def test_a_parsed_document_is_what_evaluation_takes():
    """The directory's parsed document and the raw mapping decide alike."""
    raw = {"Version": "2012-10-17", "Statement": statement()}
    request = TrustRequest(principal_federated=PROVIDER, actions=("sts:AssumeRoleWithSAML",),
                           context={})
    assert evaluate_trust_policy(parse_policy(raw), request).allowed
    assert evaluate_trust_policy(raw, request).allowed


# --- at load time ---------------------------------------------------------------------------

DIRECTORY = """\
accounts:
  "111122223333":
    roles:
      Admin:
        trust_policy:
{policy}
"""


def load(policy: str):
    body = textwrap.indent(textwrap.dedent(policy).strip("\n"), " " * 10)
    return parse_directory(DIRECTORY.format(policy=body), aws_acs="http://idp.test/aws/saml",
                           source="dir.yaml")


def test_a_good_trust_policy_loads_parsed():
    directory = load("""
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Federated: "arn:aws:iam::111122223333:saml-provider/CorpIdP"}
            Action: [sts:AssumeRoleWithSAML, sts:TagSession]
            Condition:
              StringEquals: {"SAML:aud": "https://signin.aws.amazon.com/saml"}
    """)
    (role,) = directory.accounts["111122223333"].roles
    (only,) = role.trust_policy.statements
    assert only.actions == ("sts:AssumeRoleWithSAML", "sts:TagSession")
    assert only.conditions[0].values == ("https://signin.aws.amazon.com/saml",)


def test_a_malformed_statement_is_reported_at_its_line():
    """The second statement (line 11 of the file) says Effect: allow: refused before start-up."""
    with pytest.raises(ConfigError) as raised:
        load("""
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Principal: {Federated: "arn:aws:iam::111122223333:saml-provider/CorpIdP"}
                Action: sts:AssumeRoleWithSAML
              - Effect: allow
                Principal: "*"
                Action: sts:AssumeRoleWithSAML
        """)
    assert str(raised.value) == ('dir.yaml:11: trust_policy is malformed: statement 2: Effect '
                                 'must be "Allow" or "Deny", got \'allow\'')


def test_a_single_statement_mapping_is_reported_at_its_key():
    with pytest.raises(ConfigError) as raised:
        load("""
            Statement:
              Effect: Allow
              Principal: "*"
              Action: sts:AssumeRoleWithSAML
              Resource: "*"
        """)
    assert str(raised.value) == ("dir.yaml:6: trust_policy is malformed: statement 1 has "
                                 "prohibited field Resource")


@pytest.mark.parametrize(("policy", "message"), [
    ('Version: "2020-01-01"\nStatement: []', "dir.yaml:5: trust_policy is malformed: Version"),
    ("Statement: []", "dir.yaml:5: trust_policy is malformed: Statement must be"),
    ("[1, 2]", "dir.yaml:5: trust_policy must be a policy document (a mapping)"),
    ("{}", "dir.yaml:5: trust_policy is malformed: Statement must be"),
])
def test_document_level_mistakes_point_at_trust_policy(policy, message):
    """An empty or unversioned document is refused too (it no longer falls back silently)."""
    with pytest.raises(ConfigError) as raised:
        load(policy)
    assert str(raised.value).startswith(message)


def test_an_unsupported_operator_is_refused_at_load():
    """An operator the simulator cannot evaluate fails the load, not a sign-in later."""
    with pytest.raises(ConfigError, match=r"dir\.yaml:7: .*BinaryEquals.*not supported"):
        load("""
            Statement:
              - Effect: Allow
                Principal: "*"
                Action: sts:AssumeRoleWithSAML
                Condition: {BinaryEquals: {"saml:sub": "QQ=="}}
        """)


def test_an_empty_trust_policy_key_means_the_default():
    """``trust_policy:`` with nothing after it is as if it were absent (the default policy)."""
    directory = parse_directory(DIRECTORY.format(policy="").rstrip() + "\n",
                                aws_acs="http://idp.test/aws/saml", source="dir.yaml")
    (role,) = directory.accounts["111122223333"].roles
    (only,) = role.trust_policy.statements
    assert only.principals == (("Federated",
                                "arn:aws:iam::111122223333:saml-provider/CorpIdP"),)


def test_a_repeated_key_inside_a_policy_is_refused_at_its_line():
    """PyYAML would keep the last Statement silently; the second one's line is reported."""
    with pytest.raises(ConfigError) as raised:
        load("""
            Statement:
              - Effect: Allow
                Principal: "*"
                Action: sts:AssumeRoleWithSAML
            Statement:
              - Effect: Deny
                Principal: "*"
                Action: sts:AssumeRoleWithSAML
        """)
    assert str(raised.value) == "dir.yaml:10: duplicate key 'Statement'"


def test_a_self_referencing_policy_is_refused_without_hanging():
    """A YAML alias that nests a mapping in itself ends in an error, not an endless walk."""
    with pytest.raises(ConfigError, match=r"dir\.yaml:"):
        load("""
            &policy
            Statement: [*policy]
        """)


# --- identity policies, typed operators and IAM's own wording --------------------------------

def identity(**extra: object) -> dict[str, object]:
    return {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*", **extra}


def test_identity_policy_parses_resources():
    """An identity statement keeps its Resource patterns and no principal."""
    doc = parse_policy({"Version": "2012-10-17", "Statement": [
        identity(Resource=["arn:aws:iam::111122223333:user/*", "arn:aws:s3:::b"]),
        {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:iam::*:role/Admin"},
    ]}, PolicyKind.IDENTITY, name="ops")
    first, second = doc.statements
    assert first.resources == ("arn:aws:iam::111122223333:user/*", "arn:aws:s3:::b")
    assert (first.not_resource, first.principals) == (False, ())
    assert (second.resources, second.not_resource) == (("arn:aws:iam::*:role/Admin",), True)
    assert (doc.kind, doc.name) == (PolicyKind.IDENTITY, "ops")


def test_trust_policies_are_the_default_kind():
    doc = parse_policy({"Statement": statement()})
    assert doc.kind is PolicyKind.TRUST
    assert doc.statements[0].resources == ()


@pytest.mark.parametrize(("kind", "body", "aws_message", "detail"), [
    (PolicyKind.TRUST, statement(Resource="*"), "Has prohibited field Resource",
     "statement 1 has prohibited field Resource"),
    (PolicyKind.TRUST, statement(NotResource="*"), "Has prohibited field NotResource",
     "statement 1 has prohibited field NotResource"),
    (PolicyKind.IDENTITY, identity(Principal="*"),
     "Policy document should not specify a principal.", "prohibited field Principal"),
    (PolicyKind.IDENTITY, identity(NotPrincipal={"AWS": "*"}),
     "Policy document should not specify a principal.", "prohibited field NotPrincipal"),
    (PolicyKind.IDENTITY, {"Effect": "Allow", "Action": "iam:GetUser"},
     "Policy statement must contain resources.", "Resource and NotResource"),
    (PolicyKind.IDENTITY, {"Effect": "Allow", "Resource": "*"},
     "Policy statement must contain actions.", "Action and NotAction"),
    (PolicyKind.TRUST, {"Effect": "Allow", "Principal": "*"},
     "Policy statement must contain actions.", "Action and NotAction"),
    (PolicyKind.IDENTITY, identity(NotResource="*"), "Syntax errors in policy.",
     "exactly one of Resource and NotResource"),
    (PolicyKind.IDENTITY, identity(Effect="allow"), "Syntax errors in policy.",
     'Effect must be "Allow" or "Deny"'),
    (PolicyKind.IDENTITY, identity(Resource=[]), "Syntax errors in policy.",
     "Resource must not be an empty list"),
    (PolicyKind.IDENTITY, identity(Resource=3), "Syntax errors in policy.",
     "Resource must be a string"),
    (PolicyKind.TRUST, {"Effect": "Allow", "Action": "sts:AssumeRole"},
     "Syntax errors in policy.", "exactly one of Principal and NotPrincipal"),
    (PolicyKind.IDENTITY, identity(Resource="arn:bad"),
     'Resource arn:bad must be in ARN format or "*".', "is not an ARN or *"),
    (PolicyKind.IDENTITY, {"Effect": "Allow", "Action": "iam:GetUser",
                           "NotResource": "role/Admin"},
     'Resource role/Admin must be in ARN format or "*".', "is not an ARN or *"),
    (PolicyKind.TRUST, {"Effect": "Allow", "Principal": "*", "Action": "AssumeRole"},
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
     "no service prefix"),
    (PolicyKind.TRUST, {"Effect": "Allow", "Principal": {"AWS": "12345"},
                        "Action": "sts:AssumeRole"},
     'Invalid principal in policy: "AWS":"12345"', "not *, an account ID or an ARN"),
])
def test_malformed_statements_carry_iam_wording(kind, body, aws_message, detail):
    """Each refusal keeps a detailed message and carries the text IAM's API would answer."""
    with pytest.raises(MalformedPolicyError) as raised:
        parse_policy({"Version": "2012-10-17", "Statement": [body]}, kind)
    assert raised.value.aws_message == aws_message
    assert detail in raised.value.message
    assert raised.value.statement == 1


@pytest.mark.parametrize(("text", "aws_message", "detail"), [
    ("{not json", "This policy contains invalid Json", "not valid JSON"),
    ('{"Statement": NaN}', "This policy contains invalid Json", "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "This policy contains invalid Json", "not valid JSON"),
    ("[]", "Syntax errors in policy.", "must be a JSON object"),
    ('"x"', "Syntax errors in policy.", "must be a JSON object"),
    ('{"Statement": []}', "Syntax errors in policy.", "Statement must be"),
    ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", '
     '"Resource": "*"}}', "Has prohibited field Resource", "prohibited field Resource"),
])
def test_policy_text_refusals(text, aws_message, detail):
    """parse_policy_text refuses non-JSON (even absurdly deep) as IAM does, without crashing."""
    with pytest.raises(MalformedPolicyError) as raised:
        parse_policy_text(text, PolicyKind.TRUST, max_chars=1_000_000)
    assert raised.value.aws_message == aws_message
    assert detail in raised.value.message


def test_policy_text_size_cap():
    text = '{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}'
    assert parse_policy_text(text, PolicyKind.IDENTITY).statements[0].resources == ("*",)
    with pytest.raises(MalformedPolicyError, match="at most 20 are read") as raised:
        parse_policy_text(text, PolicyKind.IDENTITY, max_chars=20)
    assert raised.value.aws_message == "Syntax errors in policy."


def test_policy_text_repeated_key_keeps_the_last():
    """IAM accepts a repeated key and keeps the last value; so does the simulator."""
    doc = parse_policy_text('{"Statement": {"Effect": "Deny", "Effect": "Allow", '
                            '"Action": "*", "Resource": "*"}}', PolicyKind.IDENTITY, name="p")
    assert doc.statements[0].effect is Effect.ALLOW
    assert doc.name == "p"


def test_malformed_policy_error_defaults_to_the_catch_all():
    assert MalformedPolicyError("x").aws_message == "Syntax errors in policy."
    assert MalformedPolicyError("x", aws_message="y").aws_message == "y"


@pytest.mark.parametrize("operator", [
    "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
    "NumericGreaterThan", "NumericGreaterThanEqualsIfExists", "ForAnyValue:NumericEquals",
    "DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
    "DateGreaterThanEqualsIfExists", "Bool", "BoolIfExists", "ArnEquals", "ArnLike",
    "ArnNotEquals", "ArnNotLikeIfExists", "IpAddress", "NotIpAddressIfExists",
    "ForAllValues:ArnLike",
])
def test_typed_operators_are_supported(operator):
    value = {"Numeric": "3", "Date": "2026-01-01T00:00:00Z", "Bool": "true",
             "Arn": "arn:aws:iam::*:role/*", "IpAd": "10.0.0.0/8", "NotI": "10.0.0.0/8"}
    bare = operator.split(":")[-1]
    wanted = next(v for k, v in value.items() if bare.startswith(k))
    doc = parse_policy({"Statement": statement(Condition={operator: {"k": wanted}})})
    (cond,) = doc.statements[0].conditions
    assert cond.base.value in bare
    assert cond.if_exists is bare.endswith("IfExists")


@pytest.mark.parametrize(("operator", "value", "fragment"), [
    ("NumericLessThan", "three", "NumericLessThan takes numbers, got 'three'"),
    ("NumericEquals", "1e99999", "takes numbers"),
    ("NumericEquals", "١٢", "takes numbers"),  # Arabic-Indic digits are not numbers to IAM
    ("DateLessThan", "next tuesday", "takes ISO 8601 dates or epoch seconds"),
    ("DateGreaterThan", "2026-13-01", "takes ISO 8601 dates"),
    ("IpAddress", "10.0.0.0/33", "takes CIDR blocks"),
    ("NotIpAddress", "example.com", "takes CIDR blocks"),
    ("Bool", "yes", "Bool takes true or false, got 'yes'"),
    ("BoolIfExists", "${aws:x}", "Bool takes true or false"),  # 2008-10-17: no variables
    ("BinaryEquals", "QQ==", "not supported by this simulator"),
    ("StringMatches", "a", "not supported by this simulator"),
])
def test_typed_operator_values_are_checked(operator, value, fragment):
    """A value the operator cannot read is refused at parse time, naming the statement."""
    with pytest.raises(MalformedPolicyError) as raised:
        parse_policy({"Version": "2008-10-17",
                      "Statement": statement(Condition={operator: {"k": value}})})
    assert fragment in raised.value.message
    assert raised.value.aws_message == "Syntax errors in policy."
    assert raised.value.statement == 1


def test_typed_values_from_json_and_yaml_scalars():
    """Numbers, booleans and YAML dates are read in their JSON spelling."""
    doc = parse_policy({"Statement": statement(Condition={
        "NumericLessThan": {"aws:MultiFactorAuthAge": 3600},
        "Bool": {"aws:SecureTransport": True},
        "DateLessThan": {"aws:CurrentTime": dt.datetime(2030, 1, 1, tzinfo=dt.UTC)},
        "DateGreaterThan": {"aws:CurrentTime": dt.date(2020, 1, 1)},
    })})
    values = [c.values for c in doc.statements[0].conditions]
    assert values == [("3600",), ("true",), ("2030-01-01T00:00:00+00:00",), ("2020-01-01",)]


def test_bool_may_hold_a_variable_in_2012_documents():
    doc = parse_policy({"Version": "2012-10-17", "Statement": statement(
        Condition={"Bool": {"aws:SecureTransport": "${aws:x, 'true'}"}})})
    assert doc.statements[0].conditions[0].values == ("${aws:x, 'true'}",)
