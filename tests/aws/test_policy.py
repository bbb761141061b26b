"""Role trust policy evaluation: IAM's evaluation logic as AssumeRoleWithSAML applies it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from idp.aws.policy import (
    ASSUME_ROLE_WITH_SAML,
    SET_SOURCE_IDENTITY,
    TAG_SESSION,
    Decision,
    TrustRequest,
    evaluate_trust_policy,
)
from idp.directory.policy import parse_policy
from idp.errors import MalformedPolicyError

PROVIDER = "arn:aws:iam::111122223333:saml-provider/CorpIdP"
OTHER_PROVIDER = "arn:aws:iam::444455556666:saml-provider/CorpIdP"
SIGNIN = "https://signin.aws.amazon.com/saml"


def statement(condition: dict[str, Any] | None = None, *, effect: str = "Allow",
              action: Any = ASSUME_ROLE_WITH_SAML, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"Effect": effect, "Principal": {"Federated": PROVIDER},
                            "Action": action, **extra}
    if condition is not None:
        body["Condition"] = condition
    return body


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def request(*actions: str, provider: str = PROVIDER, **context: Any) -> TrustRequest:
    """Keyword context: ``saml_aud="x"`` -> ``{"saml:aud": ("x",)}``; lists become tuples."""
    ctx = {
        key.replace("__", "/").replace("_", ":", 1):
            tuple(value) if isinstance(value, list | tuple) else (value,)
        for key, value in context.items()
    }
    return TrustRequest(principal_federated=provider,
                        actions=actions or (ASSUME_ROLE_WITH_SAML,), context=ctx)


def decide(doc: dict[str, Any], req: TrustRequest) -> Decision:
    return evaluate_trust_policy(doc, req)


# The loader's default (directory/loader.py) is the demo policy.
DEMO = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Federated": PROVIDER},
                   "Action": "sts:AssumeRoleWithSAML"}],
}


def test_demo_policy_allows_its_provider():
    """The demo-style default policy lets the account's own provider assume the role."""
    decision = decide(DEMO, request())
    assert decision == Decision(True, "sts:AssumeRoleWithSAML allowed by statement 1")


def test_demo_policy_denies_another_provider():
    """Another account's provider is not named by the Principal, so the implicit deny applies."""
    decision = decide(DEMO, request(provider=OTHER_PROVIDER))
    assert not decision.allowed
    assert f"Principal does not name {OTHER_PROVIDER}" in decision.reason


@pytest.mark.parametrize(("extra_action", "listed", "allowed"), [
    (TAG_SESSION, (ASSUME_ROLE_WITH_SAML,), False),
    (SET_SOURCE_IDENTITY, (ASSUME_ROLE_WITH_SAML,), False),
    (TAG_SESSION, (ASSUME_ROLE_WITH_SAML, TAG_SESSION), True),
    (SET_SOURCE_IDENTITY, (ASSUME_ROLE_WITH_SAML, SET_SOURCE_IDENTITY), True),
    (SET_SOURCE_IDENTITY, (ASSUME_ROLE_WITH_SAML, TAG_SESSION), False),
])
def test_tag_session_and_source_identity_need_their_own_action(extra_action, listed, allowed):
    """sts:TagSession and sts:SetSourceIdentity are denied unless the policy lists them."""
    decision = decide(policy(statement(action=list(listed))),
                      request(ASSUME_ROLE_WITH_SAML, extra_action))
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason == f"no statement allows {extra_action}"


def test_allowed_reason_names_each_granting_statement():
    """When actions come from different statements, the reason names both."""
    doc = policy(statement(), statement(action=TAG_SESSION, Sid="Tags"))
    decision = decide(doc, request(ASSUME_ROLE_WITH_SAML, TAG_SESSION))
    assert decision == Decision(True, "sts:AssumeRoleWithSAML allowed by statement 1; "
                                      "sts:TagSession allowed by statement 2 (Sid Tags)")


@pytest.mark.parametrize(("key", "aud", "allowed"), [
    ("SAML:aud", SIGNIN, True),
    ("saml:aud", SIGNIN, True),
    ("Saml:Aud", SIGNIN, True),
    ("SAML:aud", "https://x", False),
    ("SAML:aud", SIGNIN.upper(), False),
])
def test_string_equals_on_saml_aud_is_key_insensitive_value_sensitive(key, aud, allowed):
    """StringEquals matches the key whatever its case, and the value exactly."""
    doc = policy(statement({"StringEquals": {key: SIGNIN}}))
    assert decide(doc, request(saml_aud=aud)).allowed is allowed


def test_reason_names_the_failing_condition():
    """A denial says which operator and key failed, what was got and what was wanted."""
    doc = policy(statement({"StringEquals": {"SAML:aud": SIGNIN}}))
    decision = decide(doc, request(saml_aud="https://x"))
    assert decision == Decision(False, (
        "no statement allows sts:AssumeRoleWithSAML: statement 1: condition StringEquals "
        f"SAML:aud failed: got https://x, wanted {SIGNIN}"))


def test_reason_for_a_missing_key_says_it_is_absent():
    """A denial on an absent key says so rather than printing an empty value."""
    doc = policy(statement({"StringLike": {"saml:sub": ["a*", "b*"]}}))
    assert decide(doc, request()).reason.endswith(
        "condition StringLike saml:sub failed: got no value (key absent), wanted one of a*, b*")


@pytest.mark.parametrize(("pattern", "value", "allowed"), [
    ("*@corp.example", "alice@corp.example", True),
    ("*@corp.example", "alice@evil.example", False),
    ("alic?@corp.example", "alice@corp.example", True),
    ("alic?@corp.example", "alicee@corp.example", False),
    ("a.ice@*", "alice@corp.example", False),  # only * and ? are special
    ("ALICE@*", "alice@corp.example", False),  # StringLike is case-sensitive
    ("*", "", True),
])
def test_string_like_wildcards(pattern, value, allowed):
    """StringLike treats * as any run, ? as one character, and matches the whole value."""
    doc = policy(statement({"StringLike": {"saml:sub": pattern}}))
    assert decide(doc, request(saml_sub=value)).allowed is allowed


@pytest.mark.parametrize(("operator", "wanted", "got", "allowed"), [
    ("StringNotEquals", "bob", "alice", True),
    ("StringNotEquals", ["alice", "bob"], "alice", False),  # negated values are NOR'd
    ("StringNotEquals", "bob", None, True),  # negated operator on an absent key holds
    ("StringEqualsIgnoreCase", "ALICE", "alice", True),
    ("StringNotEqualsIgnoreCase", "ALICE", "alice", False),
    ("StringNotLike", "a*", "bob", True),
    ("StringNotLike", "a*", "alice", False),
    ("StringEquals", "alice", None, False),  # plain operator on an absent key fails
    ("StringEquals", ["bob", "alice"], "alice", True),  # values are OR'd
])
def test_string_operator_table(operator, wanted, got, allowed):
    """Each String* operator, including absent keys and several policy values."""
    doc = policy(statement({operator: {"saml:sub": wanted}}))
    req = request() if got is None else request(saml_sub=got)
    assert decide(doc, req).allowed is allowed


@pytest.mark.parametrize(("operator", "affiliations", "allowed"), [
    ("ForAnyValue:StringEquals", ["student", "staff"], True),
    ("ForAnyValue:StringEquals", ["student", "alum"], False),
    ("ForAnyValue:StringEquals", [], False),  # absent key: ForAnyValue is false
    ("ForAnyValue:StringLike", ["student", "staff@x"], True),
    ("ForAnyValue:StringNotEquals", ["staff", "faculty"], False),
    ("ForAnyValue:StringNotEquals", ["staff", "student"], True),
    ("ForAllValues:StringEquals", ["staff", "faculty"], True),
    ("ForAllValues:StringEquals", ["staff", "student"], False),
    ("ForAllValues:StringEquals", [], True),  # absent key: ForAllValues is true
    ("ForAllValues:StringNotEquals", ["member", "student"], True),
    ("ForAllValues:StringNotEquals", ["member", "staff"], False),
])
def test_set_qualifiers_on_edupersonaffiliation(operator, affiliations, allowed):
    """ForAnyValue needs one request value to match, ForAllValues needs all of them to."""
    doc = policy(statement({operator: {
        "saml:edupersonaffiliation": ["staff*" if "Like" in operator else "staff", "faculty"]}}))
    req = request(saml_edupersonaffiliation=affiliations) if affiliations else request()
    assert decide(doc, req).allowed is allowed


@pytest.mark.parametrize(("sub_type", "allowed"), [
    ("persistent", True),
    ("transient", False),
    (None, True),  # IfExists: an absent key does not block
])
def test_if_exists(sub_type, allowed):
    """...IfExists checks the key only when the request carries it."""
    doc = policy(statement({"StringEqualsIfExists": {"saml:sub_type": "persistent"}}))
    req = request() if sub_type is None else request(saml_sub_type=sub_type)
    assert decide(doc, req).allowed is allowed


@pytest.mark.parametrize(("null", "source_identity", "allowed"), [
    ("true", None, True),
    ("true", "alice", False),
    ("false", "alice", True),
    ("false", None, False),
    (False, "alice", True),  # YAML may hand us a real boolean
])
def test_null(null, source_identity, allowed):
    """Null "true" means the key must be absent, "false" that it must be present."""
    doc = policy(statement({"Null": {"sts:SourceIdentity": null}}))
    req = request() if source_identity is None else request(sts_sourceidentity=source_identity)
    assert decide(doc, req).allowed is allowed


def test_multiple_keys_and_operators_are_anded():
    """Every key under every operator must hold; the first failure is reported."""
    doc = policy(statement({
        "StringEquals": {"saml:aud": SIGNIN, "saml:iss": "http://idp.test/idp/metadata"},
        "StringLike": {"saml:sub": "*@corp.example"},
    }))
    good = {"saml_aud": SIGNIN, "saml_iss": "http://idp.test/idp/metadata",
            "saml_sub": "alice@corp.example"}
    assert decide(doc, request(**good)).allowed
    decision = decide(doc, request(**{**good, "saml_iss": "http://evil"}))
    assert not decision.allowed
    assert "condition StringEquals saml:iss failed: got http://evil" in decision.reason


def test_request_tag_keys_and_tag_keys_list():
    """Session-tag keys aws:RequestTag/<Key> and aws:TagKeys are matched like any other."""
    doc = policy(statement(
        {"StringEquals": {"aws:RequestTag/Team": "platform"},
         "ForAllValues:StringEquals": {"aws:TagKeys": ["Team", "CostCenter"]}},
        action=[ASSUME_ROLE_WITH_SAML, TAG_SESSION]))
    ok = request(ASSUME_ROLE_WITH_SAML, TAG_SESSION, aws_requesttag__Team="platform",
                 aws_tagkeys=["Team"])
    assert decide(doc, ok).allowed
    extra_key = request(ASSUME_ROLE_WITH_SAML, TAG_SESSION, aws_requesttag__Team="platform",
                        aws_tagkeys=["Team", "Admin"])
    assert not decide(doc, extra_key).allowed


@pytest.mark.parametrize("deny_condition", [None, {"StringEquals": {"saml:sub": "mallory"}}])
def test_explicit_deny_wins(deny_condition):
    """A matching Deny overrides an Allow for the same request, whatever the order."""
    doc = policy(statement(), statement(deny_condition, effect="Deny"))
    decision = decide(doc, request(saml_sub="mallory"))
    assert decision == Decision(False, "explicit Deny in statement 2 for sts:AssumeRoleWithSAML",
                                explicit_deny=True)


def test_deny_with_unmet_condition_does_not_apply():
    """A Deny whose condition fails leaves the Allow in force."""
    doc = policy(statement(), statement({"StringEquals": {"saml:sub": "mallory"}}, effect="Deny"))
    assert decide(doc, request(saml_sub="alice")).allowed


def test_deny_on_tag_session_denies_the_whole_call():
    """Denying one requested action (here sts:TagSession) refuses the whole request."""
    doc = policy(statement(action="sts:*"), statement(action=TAG_SESSION, effect="Deny"))
    assert decide(doc, request()).allowed
    decision = decide(doc, request(ASSUME_ROLE_WITH_SAML, TAG_SESSION))
    assert decision.reason == "explicit Deny in statement 2 for sts:TagSession"


@pytest.mark.parametrize(("not_action", "requested", "allowed"), [
    (TAG_SESSION, (ASSUME_ROLE_WITH_SAML,), True),
    (TAG_SESSION, (ASSUME_ROLE_WITH_SAML, TAG_SESSION), False),
    (["sts:Tag*", "sts:Set*"], (ASSUME_ROLE_WITH_SAML, SET_SOURCE_IDENTITY), False),
])
def test_not_action(not_action, requested, allowed):
    """NotAction allows everything except the listed actions."""
    doc = policy({"Effect": "Allow", "Principal": {"Federated": PROVIDER},
                  "NotAction": not_action})
    assert decide(doc, request(*requested)).allowed is allowed


@pytest.mark.parametrize("shape", ["dict", "list"])
def test_statement_may_be_a_dict_or_a_list(shape):
    """A single Statement mapping means the same as a one-element list."""
    body = statement()
    doc = {"Version": "2012-10-17", "Statement": body if shape == "dict" else [body]}
    assert decide(doc, request()).allowed


@pytest.mark.parametrize(("action", "allowed"), [
    ("sts:*", True),
    ("sts:AssumeRole*", True),
    ("STS:assumerolewithsaml", True),  # actions are case-insensitive
    ("sts:AssumeRoleWith????", True),
    ("sts:AssumeRoleWith???", False),
    ("*", True),
    ("sts:AssumeRole", False),
    (["sts:AssumeRole", "sts:AssumeRoleWithSAML"], True),
])
def test_action_wildcards(action, allowed):
    """Action patterns use * and ?, ignore case, and must match the whole action name."""
    assert decide(policy(statement(action=action)), request()).allowed is allowed


@pytest.mark.parametrize(("principal", "allowed"), [
    ("*", True),
    ({"AWS": "*"}, True),
    ({"Federated": [OTHER_PROVIDER, PROVIDER]}, True),
    ({"Federated": OTHER_PROVIDER}, False),
    ({"AWS": "arn:aws:iam::111122223333:root"}, False),
    ({"Service": "ec2.amazonaws.com", "Federated": PROVIDER}, True),
])
def test_principal_forms(principal, allowed):
    """Principal "*", AWS "*" and a Federated list naming the provider all match it."""
    doc = policy({"Effect": "Allow", "Principal": principal, "Action": ASSUME_ROLE_WITH_SAML})
    assert decide(doc, request()).allowed is allowed


def test_not_principal_deny_spares_the_named_provider():
    """A Deny with NotPrincipal denies everyone except the principals it names."""
    deny = {"Effect": "Deny", "NotPrincipal": {"Federated": PROVIDER}, "Action": "sts:*"}
    doc = policy({"Effect": "Allow", "Principal": "*", "Action": "sts:*"}, deny)
    assert decide(doc, request()).allowed
    assert decide(doc, request(provider=OTHER_PROVIDER)).reason.startswith(
        "explicit Deny in statement 2")


def test_yaml_policy_with_unquoted_version_and_boolean_null():
    """A policy written in the directory YAML (date-like Version, bare booleans) evaluates."""
    doc = yaml.safe_load(f"""
        Version: 2012-10-17
        Statement:
          Effect: Allow
          Principal: {{Federated: "{PROVIDER}"}}
          Action: [sts:AssumeRoleWithSAML, sts:SetSourceIdentity]
          Condition:
            StringEquals: {{SAML:aud: "{SIGNIN}"}}
            "Null": {{sts:SourceIdentity: false}}
    """)
    req = request(ASSUME_ROLE_WITH_SAML, SET_SOURCE_IDENTITY,
                  saml_aud=SIGNIN, sts_sourceidentity="alice")
    assert decide(doc, req).allowed


@pytest.mark.parametrize(("doc", "fragment"), [
    ({"Statement": []}, "non-empty list"),
    ({"Version": "2020-01-01", "Statement": statement()}, "Version must be"),
    ({"Statement": statement(), "Extra": 1}, "unknown top-level field(s) Extra"),
    (policy(statement(effect="allow")), 'Effect must be "Allow" or "Deny"'),
    (policy(statement(Resource="*")), "prohibited field Resource"),
    (policy(statement(NotAction="sts:TagSession")), "exactly one of Action and NotAction"),
    (policy({"Effect": "Allow", "Action": "sts:*"}), "exactly one of Principal and NotPrincipal"),
    (policy(statement(Principal={"Federated": 3})), "Principal.Federated must be a string"),
    (policy(statement(Principal={"Nobody": "x"})), "unknown principal type 'Nobody'"),
    (policy(statement({"BinaryEquals": {"saml:sub": "QQ=="}})), "not supported"),
    (policy(statement({"ForSomeValues:StringEquals": {"saml:sub": "a"}})), "set qualifier"),
    (policy(statement({"Null": {"saml:sub": "maybe"}})), "Null takes true or false"),
    (policy(statement({"ForAnyValue:Null": {"saml:sub": "true"}})), "Null takes no"),
    (policy(statement({"StringEquals": {"saml:sub": []}})), "must not be an empty list"),
    (policy(statement({"StringEquals": "saml:sub"})), "non-empty mapping of key to values"),
])
def test_malformed_documents(doc, fragment):
    """parse_policy raises MalformedPolicyError; evaluation turns it into a clear denial."""
    with pytest.raises(MalformedPolicyError) as raised:
        parse_policy(doc)
    assert fragment in str(raised.value)
    assert isinstance(raised.value, ValueError)
    decision = decide(doc, request())
    assert not decision.allowed
    assert decision.reason.startswith("malformed trust policy:")
    assert fragment in decision.reason


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"actions": ()}, "at least one action"),
    ({"context": {"saml:sub": "alice"}}, "tuple of strings"),
])
def test_trust_request_rejects_obvious_mistakes(kwargs, message):
    """TrustRequest refuses no actions and a bare string where a tuple of values belongs."""
    args: dict[str, Any] = {"principal_federated": PROVIDER,
                            "actions": (ASSUME_ROLE_WITH_SAML,), "context": {}, **kwargs}
    with pytest.raises(ValueError, match=message):
        TrustRequest(**args)


# --- principals other than a SAML provider ---------------------------------------------------

OPS_ACCOUNT = "444455556666"
OPS_USER = f"arn:aws:iam::{OPS_ACCOUNT}:user/ops"
OPS_NAMES = (OPS_ACCOUNT, f"arn:aws:iam::{OPS_ACCOUNT}:root", OPS_USER)
SESSION_NAMES = (OPS_ACCOUNT, f"arn:aws:iam::{OPS_ACCOUNT}:root",
                 f"arn:aws:iam::{OPS_ACCOUNT}:role/Deploy",
                 f"arn:aws:sts::{OPS_ACCOUNT}:assumed-role/Deploy/alice")


def aws_request(names: tuple[str, ...] = OPS_NAMES, **context: tuple[str, ...]) -> TrustRequest:
    return TrustRequest(principal_aws=names, actions=("sts:AssumeRole",), context=context)


def trust(principal: Any, *, key: str = "Principal", effect: str = "Allow",
          condition: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"Effect": effect, key: principal, "Action": "sts:AssumeRole"}
    if condition:
        body["Condition"] = condition
    return policy(body)


@pytest.mark.parametrize(("principal", "names", "allowed"), [
    ({"AWS": OPS_ACCOUNT}, OPS_NAMES, True),
    ({"AWS": f"arn:aws:iam::{OPS_ACCOUNT}:root"}, OPS_NAMES, True),
    ({"AWS": OPS_USER}, OPS_NAMES, True),
    ({"AWS": [f"arn:aws:iam::{OPS_ACCOUNT}:user/other", OPS_USER]}, OPS_NAMES, True),
    ({"AWS": f"arn:aws:iam::{OPS_ACCOUNT}:user/OPS"}, OPS_NAMES, False),  # exact, cased
    ({"AWS": f"arn:aws:iam::{OPS_ACCOUNT}:user/*"}, OPS_NAMES, False),  # no wildcards
    ({"AWS": "111122223333"}, OPS_NAMES, False),
    ({"AWS": "*"}, OPS_NAMES, True),
    ("*", OPS_NAMES, True),
    ({"AWS": f"arn:aws:iam::{OPS_ACCOUNT}:role/Deploy"}, SESSION_NAMES, True),
    ({"AWS": f"arn:aws:sts::{OPS_ACCOUNT}:assumed-role/Deploy/alice"}, SESSION_NAMES, True),
    ({"AWS": f"arn:aws:sts::{OPS_ACCOUNT}:assumed-role/Deploy/bob"}, SESSION_NAMES, False),
    ({"Federated": PROVIDER}, OPS_NAMES, False),
    ({"Service": "ec2.amazonaws.com"}, OPS_NAMES, False),
])
def test_aws_principals(principal, names, allowed):
    """{"AWS": X} names an account, its root, a user, a role or a role session, exactly."""
    assert decide(trust(principal), aws_request(names)).allowed is allowed


def test_aws_principal_mismatch_names_the_most_specific_caller():
    decision = decide(trust({"AWS": "111122223333"}), aws_request())
    assert decision == Decision(False, "no statement allows sts:AssumeRole: statement 1: "
                                       f"Principal does not name {OPS_USER}")


@pytest.mark.parametrize(("principal", "allowed"), [
    ({"Service": "ec2.amazonaws.com"}, True),
    ({"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]}, True),
    ({"Service": "lambda.amazonaws.com"}, False),
    ("*", True),
    ({"AWS": "*"}, False),  # "AWS": "*" is every AWS identity, not a service
    ({"Federated": PROVIDER}, False),
])
def test_service_principals(principal, allowed):
    req = TrustRequest(principal_service="ec2.amazonaws.com", actions=("sts:AssumeRole",),
                       context={})
    decision = decide(trust(principal), req)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reason.endswith("Principal does not name ec2.amazonaws.com")


def test_not_principal_deny_with_aws_principals():
    """A Deny with NotPrincipal spares the users it names and denies other callers."""
    doc = policy({"Effect": "Allow", "Principal": {"AWS": OPS_ACCOUNT}, "Action": "sts:*"},
                 {"Effect": "Deny", "NotPrincipal": {"AWS": OPS_USER}, "Action": "sts:*"})
    assert decide(doc, aws_request()).allowed
    other = (OPS_ACCOUNT, f"arn:aws:iam::{OPS_ACCOUNT}:root",
             f"arn:aws:iam::{OPS_ACCOUNT}:user/eve")
    assert decide(doc, aws_request(other)).reason == (
        "explicit Deny in statement 2 for sts:AssumeRole")


def test_trust_request_needs_a_principal():
    with pytest.raises(ValueError, match="needs a principal"):
        TrustRequest(actions=("sts:AssumeRole",), context={})


# --- typed operators in trust policies ------------------------------------------------------

@pytest.mark.parametrize(("condition", "context", "allowed"), [
    ({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {"aws:MultiFactorAuthPresent": "TRUE"},
     True),
    ({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {"aws:MultiFactorAuthPresent": "false"},
     False),
    ({"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {}, False),
    ({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}, {}, True),
    ({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}},
     {"aws:MultiFactorAuthPresent": "false"}, False),
    ({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
     {"aws:MultiFactorAuthAge": "120"}, True),
    ({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
     {"aws:MultiFactorAuthAge": "7200"}, False),
    ({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}, {}, False),
    ({"NumericLessThanIfExists": {"aws:MultiFactorAuthAge": "3600"}}, {}, True),
    ({"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}},
     {"aws:CurrentTime": "2026-06-01T00:00:00Z"}, True),
    ({"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}},
     {"aws:CurrentTime": "2025-06-01T00:00:00Z"}, False),
    ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/ops"}},
     {"aws:PrincipalArn": OPS_USER}, True),
    ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/ops"}},
     {"aws:PrincipalArn": OPS_USER}, False),
    ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.7"}, True),
    ({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "203.0.113.7"},
     False),
    ({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {}, True),
])
def test_typed_operators_in_trust_policies(condition, context, allowed):
    """Trust policies evaluate Bool, Numeric, Date, Arn and IpAddress conditions too."""
    ctx = {key: (value,) for key, value in context.items()}
    assert decide(trust({"AWS": OPS_ACCOUNT}, condition=condition),
                  aws_request(**ctx)).allowed is allowed


@pytest.mark.parametrize(("version", "sub", "allowed"), [
    ("2012-10-17", "alice", True),
    ("2012-10-17", "bob", False),
    ("2008-10-17", "alice", False),  # variables are literal text in 2008-10-17 documents
    ("2008-10-17", "${saml:namequalifier}", True),
])
def test_variables_in_trust_conditions(version, sub, allowed):
    """${saml:namequalifier} in a condition value is the request's value in 2012-10-17."""
    doc = {"Version": version, "Statement": [statement(
        {"StringEquals": {"saml:sub": "${saml:namequalifier}"}})]}
    req = request(saml_sub=sub, saml_namequalifier="alice")
    assert decide(doc, req).allowed is allowed


def test_numeric_failure_reason_reads_as_a_comparison():
    doc = trust({"AWS": OPS_ACCOUNT},
                condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}})
    decision = decide(doc, aws_request(**{"aws:MultiFactorAuthAge": ("7200",)}))
    assert decision.reason.endswith("condition NumericLessThan aws:MultiFactorAuthAge "
                                    "failed: got 7200, wanted less than 3600")
