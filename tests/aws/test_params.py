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
