"""What AssumeRoleWithSAML puts to a trust policy: SubjectType, NameQualifier, the context."""

from __future__ import annotations

import base64
import hashlib

import pytest

from idp.aws.trust import name_qualifier, subject_type


@pytest.mark.parametrize(("fmt", "expected"), [
    ("urn:oasis:names:tc:SAML:2.0:nameid-format:transient", "transient"),
    ("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", "persistent"),
    ("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
     "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"),
    ("custom", "custom"),
])
def test_subject_type(fmt, expected):
    """The SAML 2.0 NameID-format prefix is stripped; anything else is returned unchanged."""
    assert subject_type(fmt) == expected


def test_name_qualifier_matches_the_documented_formula():
    """NameQualifier is BASE64(SHA1(issuer + account + "/" + provider name)), 28 characters."""
    value = name_qualifier("https://example.com/saml", "123456789012", "MySAMLIdP")
    digest = hashlib.sha1(b"https://example.com/saml123456789012/MySAMLIdP",
                          usedforsecurity=False).digest()
    assert value == base64.b64encode(digest).decode()
    assert len(value) == 28
