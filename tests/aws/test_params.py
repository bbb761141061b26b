"""AssumeRoleWithSAML's Query parameters (``idp.aws.params``), checked as AWS checks them."""

from __future__ import annotations

import pytest

from tests.support.sts import assume_role_params


@pytest.mark.parametrize("value", ["3_600", "+3600", "\u0663\u0666\u0660\u0660", " 3600", "1e3"])
def test_duration_seconds_must_be_plain_ascii_digits(sts, bob_saml, value):
    """int() would take these; the Query protocol (and so AWS) does not."""
    with pytest.raises(Exception) as info:
        sts.assume_role_with_saml(assume_role_params(bob_saml, DurationSeconds=value))
    assert getattr(info.value, "code", None) == "ValidationError"
