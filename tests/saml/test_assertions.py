"""What the IdP puts in an AWS Response: every element AWS requires, with the right values."""

from __future__ import annotations

import datetime as dt

import pytest

from idp.authn.login import new_principal
from idp.clock import parse_instant
from idp.directory import parse_directory
from idp.directory.loader import demo_yaml
from idp.errors import NoAwsRole
from idp.saml.constants import NS
from idp.sso import IdentityProvider
from tests.support import PostedResponse

ROLE = "https://aws.amazon.com/SAML/Attributes/Role"
SESSION_NAME = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
PREFIX = "https://aws.amazon.com/SAML/Attributes/"


@pytest.fixture
def idp(settings, directory, keypair, clock):
    return IdentityProvider(settings, directory, (keypair,), clock)


def respond(idp, username, *, mfa=False, relay_state=None):
    pending, _ = idp.idp_initiated(None, relay_state)
    user = idp.directory.user(username)
    form = idp.respond(pending, new_principal(user, mfa=mfa, clock=idp.clock))
    return form, PostedResponse(form.action, form.saml_value, form.relay_state or "")


def one(tree, path):
    found = tree.findall(path, NS)
    assert len(found) == 1, f"{path}: {len(found)} found"
    return found[0]


def test_aws_response_has_everything_aws_requires(idp, clock):
    """Destination, Issuer, persistent NameID, one bearer confirmation, conditions, authn."""
    form, posted = respond(idp, "bob")
    tree = posted.tree
    now = clock.now()
    assert form.action == "http://idp.test/aws/saml"
    assert tree.get("Destination") == "http://idp.test/aws/saml"
    assert one(tree, "samlp:Status/samlp:StatusCode").get("Value").endswith(":Success")
    assertion = one(tree, "saml:Assertion")
    assert one(assertion, "saml:Issuer").text == "http://idp.test/idp/metadata"
    assert assertion[1].tag == f"{{{NS['ds']}}}Signature", "signature must follow Issuer"
    name_id = one(assertion, "saml:Subject/saml:NameID")
    assert name_id.get("Format") == "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    confirmation = one(assertion, "saml:Subject/saml:SubjectConfirmation")
    assert confirmation.get("Method") == "urn:oasis:names:tc:SAML:2.0:cm:bearer"
    data = one(confirmation, "saml:SubjectConfirmationData")
    assert data.get("Recipient") == "http://idp.test/aws/saml"
    assert parse_instant(data.get("NotOnOrAfter")) == now + dt.timedelta(seconds=300)
    conditions = one(assertion, "saml:Conditions")
    assert parse_instant(conditions.get("NotBefore")) == now - dt.timedelta(seconds=60)
    assert parse_instant(conditions.get("NotOnOrAfter")) == now + dt.timedelta(seconds=300)
    audience = one(conditions, "saml:AudienceRestriction/saml:Audience")
    assert audience.text == "urn:amazon:webservices"
    statement = one(assertion, "saml:AuthnStatement")
    assert statement.get("SessionIndex")
    assert parse_instant(statement.get("SessionNotOnOrAfter")) > now
    assert one(statement, "saml:AuthnContext/saml:AuthnContextClassRef").text.endswith(
        ":Password")


def test_role_values_are_role_then_provider_one_per_role(idp):
    """alice gets three Role values (two accounts); RoleSessionName is her email."""
    _, posted = respond(idp, "alice")
    assert posted.attribute(ROLE) == [
        "arn:aws:iam::111122223333:role/Admin,arn:aws:iam::111122223333:saml-provider/CorpIdP",
        "arn:aws:iam::111122223333:role/ReadOnly,arn:aws:iam::111122223333:saml-provider/CorpIdP",
        "arn:aws:iam::444455556666:role/Developer,"
        "arn:aws:iam::444455556666:saml-provider/CorpIdP",
    ]
    assert posted.attribute(SESSION_NAME) == ["alice@corp.example"]
    assert posted.attribute(PREFIX + "SessionDuration") == []


def test_persistent_name_id_is_stable_and_opaque(idp):
    """The same user gets the same persistent NameID twice; it is not the username."""
    first = respond(idp, "bob")[1].tree.findtext(".//saml:NameID", namespaces=NS)
    second = respond(idp, "bob")[1].tree.findtext(".//saml:NameID", namespaces=NS)
    other = respond(idp, "alice")[1].tree.findtext(".//saml:NameID", namespaces=NS)
    assert first == second != other
    assert "bob" not in first


def test_mfa_login_is_stated_in_the_authn_context(idp):
    """A TOTP login is asserted as REFEDS MFA."""
    _, posted = respond(idp, "carol", mfa=True)
    assert posted.tree.findtext(".//saml:AuthnContextClassRef", namespaces=NS) == (
        "https://refeds.org/profile/mfa")


def test_relay_state_is_carried_to_the_form(idp):
    """IdP-initiated RelayState (a console deep link) goes back with the Response."""
    form, _ = respond(idp, "bob", relay_state="https://console.aws.amazon.com/s3/home")
    assert form.relay_state == "https://console.aws.amazon.com/s3/home"


def test_user_without_roles_gets_no_response(idp):
    """dave has no role: the IdP refuses rather than sending AWS a Response without Role."""
    with pytest.raises(NoAwsRole, match="not in any group that grants an AWS role"):
        respond(idp, "dave")


def test_session_duration_tags_and_source_identity_when_configured(settings, keypair, clock):
    """SessionDuration, PrincipalTag:* and SourceIdentity appear when the directory says so."""
    text = demo_yaml().replace(
        "  aws-prod-readonly:\n",
        "  aws-prod-readonly:\n    session_duration: 7200\n"
        "    principal_tags: {CostCenter: '1234', Team: finance}\n",
    ).replace(
        "service_providers: []",
        "service_providers:\n  - entity_id: urn:amazon:webservices\n"
        "    source_identity: username\n",
    )
    directory = parse_directory(text, aws_acs="http://idp.test/aws/saml")
    idp = IdentityProvider(settings, directory, (keypair,), clock)
    _, posted = respond(idp, "bob")
    assert posted.attribute(PREFIX + "SessionDuration") == ["7200"]
    assert posted.attribute(PREFIX + "PrincipalTag:CostCenter") == ["1234"]
    assert posted.attribute(PREFIX + "PrincipalTag:Team") == ["finance"]
    assert posted.attribute(PREFIX + "SourceIdentity") == ["bob"]


def test_invalid_role_session_name_is_refused_before_sending(settings, keypair, clock):
    """A RoleSessionName AWS would reject (a space) is caught at the IdP with a reason."""
    text = demo_yaml().replace(
        "service_providers: []",
        "service_providers:\n  - entity_id: urn:amazon:webservices\n"
        "    role_session_name: display_name\n",
    )
    directory = parse_directory(text, aws_acs="http://idp.test/aws/saml")
    idp = IdentityProvider(settings, directory, (keypair,), clock)
    with pytest.raises(Exception, match=r"must match \[a-zA-Z_0-9\+=,\.@-\]\{2,64\}"):
        respond(idp, "bob")


def test_generic_sp_gets_the_released_attributes_not_aws_ones(settings, keypair, clock):
    """A non-AWS SP gets email/display_name/groups, with its own audience and ACS."""
    text = demo_yaml().replace(
        "service_providers: []",
        "service_providers:\n  - entity_id: https://sp.test/metadata\n"
        "    acs_urls: [https://sp.test/acs]\n    name_id_format: email\n",
    )
    directory = parse_directory(text, aws_acs="http://idp.test/aws/saml")
    idp = IdentityProvider(settings, directory, (keypair,), clock)
    pending, _ = idp.idp_initiated("https://sp.test/metadata", None)
    form = idp.respond(pending, new_principal(directory.user("dave"), mfa=False, clock=clock))
    posted = PostedResponse(form.action, form.saml_value, "")
    assert form.action == "https://sp.test/acs"
    assert posted.tree.findtext(".//saml:Audience", namespaces=NS) == "https://sp.test/metadata"
    assert posted.tree.findtext(".//saml:NameID", namespaces=NS) == "dave@corp.example"
    assert posted.attribute("email") == ["dave@corp.example"]
    assert posted.attribute("groups") == ["staff"]
    assert posted.attribute(ROLE) == []
