"""STS rules at the function level: strict Query integers, and no overflow on odd signed times."""

from __future__ import annotations

import base64

import pytest
from lxml import etree

from idp.saml.constants import NS
from idp.saml.signing import SigningPolicy, sign_element
from idp.sso import IdentityProvider
from tests.aws.test_iam import response_xml
from tests.support import builders

READ_ONLY = "arn:aws:iam::111122223333:role/ReadOnly"
PROVIDER = "arn:aws:iam::111122223333:saml-provider/CorpIdP"


@pytest.fixture
def aws(settings, directory, keypair, clock, store):
    """The STS API with replay protection backed by a real state file."""
    return builders.sts(settings, directory, keypair, clock, replay=store)


@pytest.fixture
def bob(settings, directory, keypair, clock) -> bytes:
    return response_xml(IdentityProvider(settings, directory, (keypair,), clock), "bob")


def resigned(xml: bytes, keypair, change) -> str:
    root = etree.fromstring(xml)
    assertion = root.find("saml:Assertion", NS)
    assertion.remove(assertion.find("ds:Signature", NS))
    change(assertion)
    index = list(root).index(assertion)
    root.remove(assertion)
    root.insert(index, sign_element(assertion, keypair, SigningPolicy()))
    return base64.b64encode(etree.tostring(root)).decode()


def call(aws, saml: str, **extra: str):
    return aws.assume_role_with_saml({"RoleArn": READ_ONLY, "PrincipalArn": PROVIDER,
                                      "SAMLAssertion": saml, **extra})


@pytest.mark.parametrize("value", ["3_600", "+3600", "\u0663\u0666\u0660\u0660", " 3600", "1e3"])
def test_duration_seconds_must_be_plain_ascii_digits(aws, bob, value):
    """int() would take these; the Query protocol (and so AWS) does not."""
    with pytest.raises(Exception) as info:
        call(aws, base64.b64encode(bob).decode(), DurationSeconds=value)
    assert getattr(info.value, "code", None) == "ValidationError"


def test_session_duration_attribute_must_be_plain_digits(aws, bob, keypair):
    """A SessionDuration of '1_200' is refused as AWS would, not read as 1200."""
    def change(assertion):
        statement = assertion.find("saml:AttributeStatement", NS)
        attribute = etree.SubElement(statement, f"{{{NS['saml']}}}Attribute",
                                     Name="https://aws.amazon.com/SAML/Attributes/SessionDuration")
        etree.SubElement(attribute, f"{{{NS['saml']}}}AttributeValue").text = "1_200"
    with pytest.raises(Exception) as info:
        call(aws, resigned(bob, keypair, change))
    assert getattr(info.value, "code", None) == "InvalidIdentityToken"


def test_far_future_not_on_or_after_does_not_overflow(aws, bob, keypair):
    """NotOnOrAfter 9999-12-31 (signed) gives credentials, and the replay entry stays bounded."""
    def change(assertion):
        for el in assertion.iter(f"{{{NS['saml']}}}SubjectConfirmationData",
                                 f"{{{NS['saml']}}}Conditions"):
            el.set("NotOnOrAfter", "9999-12-31T23:59:59Z")
    saml = resigned(bob, keypair, change)
    assert call(aws, saml).credentials.access_key_id.startswith("ASIA")
    with pytest.raises(Exception) as info:
        call(aws, saml)
    assert "already been used" in str(info.value)
