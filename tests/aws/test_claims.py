"""What STS reads from a verified assertion (``idp.aws.claims``), refused as AWS refuses it."""

from __future__ import annotations

import pytest

from tests.support.demo import SESSION_DURATION_ATTR
from tests.support.saml import resigned, set_attribute
from tests.support.sts import assume_role_params


def test_session_duration_attribute_must_be_plain_digits(sts, bob_saml, keypair):
    """A SessionDuration of '1_200' is refused as AWS would, not read as 1200."""
    saml = resigned(bob_saml, keypair,
                    lambda root: set_attribute(root, SESSION_DURATION_ATTR, "1_200"))
    with pytest.raises(Exception) as info:
        sts.assume_role_with_saml(assume_role_params(saml))
    assert getattr(info.value, "code", None) == "InvalidIdentityToken"
