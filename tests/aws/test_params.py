"""AssumeRoleWithSAML's Query parameters (``idp.aws.params``), checked as AWS checks them."""

from __future__ import annotations

import pytest

from idp.aws.errors import AwsError
from tests.support.sts import assume_role_params


@pytest.mark.parametrize("value", ["3_600", "+3600", "\u0663\u0666\u0660\u0660", " 3600", "1e3",
                                   "3600\n"])
def test_duration_seconds_must_be_plain_ascii_digits(sts, bob_saml, value):
    """int() would take these; the Query protocol (and so AWS) does not."""
    with pytest.raises(Exception) as info:
        sts.assume_role_with_saml(assume_role_params(bob_saml, DurationSeconds=value))
    assert getattr(info.value, "code", None) == "ValidationError"


@pytest.mark.parametrize(("params", "code", "fragment"), [
    ({"RoleArn": ""}, "MissingParameter", "parameter RoleArn"),
    ({"SAMLAssertion": "abc"}, "ValidationError", "greater than or equal to 4"),
    ({"SAMLAssertion": "A" * 100_001}, "ValidationError", "less than or equal to 100000"),
    ({"RoleArn": "arn:aws:iam::1:r"}, "ValidationError", "'roleArn'"),
    ({"DurationSeconds": "899"}, "ValidationError", "greater than or equal to 900"),
    ({"DurationSeconds": "43201"}, "ValidationError", "less than or equal to 43200"),
    ({"Policy": "x" * 2049}, "ValidationError", "'policy'"),
    ({"SAMLAssertion": "@@@@"}, "InvalidIdentityToken", "not valid base64"),
    ({"SAMLAssertion": "aGVsbG8="}, "InvalidIdentityToken", "not XML"),
])
def test_parameters_are_checked_before_the_assertion(sts, bob_saml, params, code, fragment):
    """Each constraint of botocore's input shape, in AWS's words, before any verification."""
    with pytest.raises(AwsError) as info:
        sts.assume_role_with_saml(assume_role_params(bob_saml, **params))
    assert info.value.code == code
    assert fragment in info.value.message


# --- AssumeRole / GetSessionToken / GetAccessKeyInfo ---------------------------------------

from idp.aws.params import assume_role_params as signed_assume_role_params  # noqa: E402
from idp.aws.params import get_access_key_info_params, get_session_token_params  # noqa: E402

_ARN = "arn:aws:iam::111122223333:role/ReadOnly"


def _ar(**extra):
    return {"RoleArn": _ARN, "RoleSessionName": "s1", **extra}


@pytest.mark.parametrize("extra, message", [
    ({"RoleSessionName": "PowerUser/hjacobs"},
     "1 validation error detected: Value 'PowerUser/hjacobs' at 'roleSessionName' failed to "
     r"satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*"),
    ({"RoleSessionName": "a" * 65},
     f"1 validation error detected: Value '{'a' * 65}' at 'roleSessionName' failed to satisfy "
     "constraint: Member must have length less than or equal to 64"),
    ({"DurationSeconds": "600"},
     "1 validation error detected: Value '600' at 'durationSeconds' failed to satisfy "
     "constraint: Member must have value greater than or equal to 900"),
    ({"DurationSeconds": "43201"},
     "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy "
     "constraint: Member must have value less than or equal to 43200"),
    ({"TokenCode": "cccccccc"},
     "2 validation errors detected: Value 'cccccccc' at 'tokenCode' failed to satisfy "
     r"constraint: Member must satisfy regular expression pattern: [\d]*; Value 'cccccccc' at "
     "'tokenCode' failed to satisfy constraint: Member must have length less than or equal "
     "to 6"),
    ({"ExternalId": "a b"},
     "1 validation error detected: Value 'a b' at 'externalId' failed to satisfy constraint: "
     r"Member must satisfy regular expression pattern: [\w+=,.@:\/-]*"),
    ({"ExternalId": "x" * 1225},
     f"1 validation error detected: Value '{'x' * 1225}' at 'externalId' failed to satisfy "
     "constraint: Member must have length less than or equal to 1224"),
    ({"SerialNumber": "short"},
     "1 validation error detected: Value 'short' at 'serialNumber' failed to satisfy "
     "constraint: Member must have length greater than or equal to 9"),
    ({"SourceIdentity": "aws:me"},
     "1 validation error detected: Value 'aws:me' at 'sourceIdentity' failed to satisfy "
     r"constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*"),
    ({"RoleArn": "arn:aws:iam::1:r"},
     "1 validation error detected: Value 'arn:aws:iam::1:r' at 'roleArn' failed to satisfy "
     "constraint: Member must have length greater than or equal to 20"),
    ({"Policy": "x" * 2049},
     "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member "
     "must have length less than or equal to 2048"),
])
def test_assume_role_validation_errors(extra, message):
    with pytest.raises(AwsError) as info:
        signed_assume_role_params(_ar(**extra))
    assert (info.value.code, info.value.http_status, info.value.message) == (
        "ValidationError", 400, message)


def test_assume_role_lists_and_limits():
    tags = {f"Tags.member.{i}.Key": f"k{i}" for i in range(1, 52)}
    tags.update({f"Tags.member.{i}.Value": "v" for i in range(1, 52)})
    with pytest.raises(AwsError, match="at 'tags' failed"):
        signed_assume_role_params(_ar(**tags))
    arns = {f"PolicyArns.member.{i}.arn": f"arn:aws:iam::aws:policy/P{i:02d}"
            for i in range(1, 12)}
    with pytest.raises(AwsError, match="at 'policyArns' failed"):
        signed_assume_role_params(_ar(**arns))
    with pytest.raises(AwsError, match="Duplicate tag keys"):
        signed_assume_role_params(_ar(**{"Tags.member.1.Key": "Team", "Tags.member.1.Value": "a",
                                  "Tags.member.2.Key": "team", "Tags.member.2.Value": "b"}))
    parsed = signed_assume_role_params(_ar(**{
        "Tags.member.1.Key": "Team", "Tags.member.1.Value": "a",
        "TransitiveTagKeys.member.1": "Team", "PolicyArns.member.1.arn":
        "arn:aws:iam::aws:policy/ReadOnlyAccess", "ExternalId": "vendor-7f3a",
        "SerialNumber": "arn:aws:iam::444455556666:mfa/ops", "TokenCode": "123456",
        "SourceIdentity": "ops", "DurationSeconds": "900"}))
    assert parsed.tags == (("Team", "a"),) and parsed.transitive_tag_keys == ("Team",)
    assert parsed.duration == 900 and parsed.token_code == "123456"
    # An empty list arrives as ``Tags=``.
    assert signed_assume_role_params(_ar(Tags="")).tags == ()


def test_transitive_keys_must_be_session_tags():
    with pytest.raises(AwsError) as info:
        signed_assume_role_params(_ar(**{"TransitiveTagKeys.member.1": "Team"}))
    assert info.value.code == "ValidationError"


@pytest.mark.parametrize("policy, message", [
    ("{not json", "This policy contains invalid Json"),
    ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*",'
     '"Resource":"*","Principal":"*"}]}', "Policy document should not specify a principal."),
])
def test_session_policy_must_be_an_identity_policy(policy, message):
    with pytest.raises(AwsError) as info:
        signed_assume_role_params(_ar(Policy=policy))
    assert (info.value.code, info.value.message) == ("MalformedPolicyDocument", message)


def test_missing_required_parameters():
    for missing in ("RoleArn", "RoleSessionName"):
        params = _ar()
        del params[missing]
        with pytest.raises(AwsError) as info:
            signed_assume_role_params(params)
        assert info.value.code == "MissingParameter"


def test_get_session_token_and_access_key_info_params():
    assert get_session_token_params({}).duration is None
    with pytest.raises(AwsError, match="tokenCode"):
        get_session_token_params({"TokenCode": "12"})
    assert get_access_key_info_params({"AccessKeyId": "AKIAOPSUSEREXAMPLE00"})
    for bad in ("AKIA", "AKIA-OPS-USER-EXAMPLE", "A" * 129):
        with pytest.raises(AwsError) as info:
            get_access_key_info_params({"AccessKeyId": bad})
        assert info.value.code == "ValidationError"


def test_list_entries_outside_member_n_are_refused_not_dropped():
    """``Tags.member.0.Key`` or ``Tags.member.10000.Key`` is never silently ignored."""
    from idp.aws.errors import ValidationError
    from idp.aws.params import assume_role_params

    base = {"RoleArn": "arn:aws:iam::444455556666:role/Deployer", "RoleSessionName": "s1"}
    for key in ("Tags.member.0.Key", "Tags.member.10000.Key", "Tags.member.x.Key"):
        with pytest.raises(ValidationError, match=r"Tags\.member\.N"):
            assume_role_params({**base, key: "k"})


def test_a_negative_duration_is_below_the_minimum():
    from idp.aws.errors import ValidationError
    from idp.aws.params import assume_role_params

    with pytest.raises(ValidationError, match="greater than or equal to 900"):
        assume_role_params({"RoleArn": "arn:aws:iam::444455556666:role/Deployer",
                            "RoleSessionName": "s1", "DurationSeconds": "-1"})


def test_a_tag_without_a_value_is_a_validation_error_before_any_authorization():
    from idp.aws.errors import ValidationError
    from idp.aws.params import assume_role_params

    with pytest.raises(ValidationError, match=r"Value null at 'tags\.1\.member\.value'"):
        assume_role_params({"RoleArn": "arn:aws:iam::444455556666:role/Deployer",
                            "RoleSessionName": "s1", "Tags.member.1.Key": "k"})
