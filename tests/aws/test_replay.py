"""Replay protection (``idp.aws.replay``): an assertion is redeemed once, and its entry in the
state file stays bounded."""

from __future__ import annotations

import pytest
from lxml import etree

from tests.support.saml import SAML, assertion_of, resigned
from tests.support.sts import assume_role_params


def test_far_future_not_on_or_after_does_not_overflow(sts, bob_saml, keypair):
    """NotOnOrAfter 9999-12-31 (signed) gives credentials, and the replay entry stays bounded."""
    def change(root: etree._Element) -> None:
        for el in assertion_of(root).iter(f"{SAML}SubjectConfirmationData", f"{SAML}Conditions"):
            el.set("NotOnOrAfter", "9999-12-31T23:59:59Z")
    saml = resigned(bob_saml, keypair, change)
    first = sts.assume_role_with_saml(assume_role_params(saml))
    assert first.credentials.access_key_id.startswith("ASIA")
    with pytest.raises(Exception) as info:
        sts.assume_role_with_saml(assume_role_params(saml))
    assert "already been used" in str(info.value)
