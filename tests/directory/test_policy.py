"""Policy documents: parsed into typed values, and refused when the directory loads, with the
file line of the offending statement, as IAM refuses them when the role is created."""

from __future__ import annotations

import textwrap

import pytest

from idp.aws.policy import TrustRequest, evaluate_trust_policy
from idp.directory import parse_directory
from idp.directory.policy import ConditionOperator, Effect, SetQualifier, parse_policy
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
    ([statement(Condition={"NumericLessThan": {"saml:sub": "3"}})], 1),
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
    with pytest.raises(ConfigError, match=r"dir\.yaml:7: .*NumericLessThan.*not supported"):
        load("""
            Statement:
              - Effect: Allow
                Principal: "*"
                Action: sts:AssumeRoleWithSAML
                Condition: {NumericLessThan: {"saml:sub": "3"}}
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
