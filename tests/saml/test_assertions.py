"""What the IdP puts in an AWS Response: every element AWS requires, with the right values."""

from __future__ import annotations

import datetime as dt

import pytest

from idp.clock import parse_instant
from idp.errors import NoAwsRole
from idp.saml.constants import NS
from tests.support import saml
from tests.support.builders import identity_provider
from tests.support.demo import ATTR, AWS_ENTITY_ID, ROLE_ATTR, SESSION_NAME_ATTR, edited_demo
from tests.support.http import PostedResponse


@pytest.fixture
def idp(settings, directory, keypair, clock):
    return identity_provider(settings, directory, keypair, clock)


def respond(idp, username, *, mfa=False, relay_state=None):
    form = saml.respond(idp, username, mfa=mfa, relay_state=relay_state)
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
    assert posted.attribute(ROLE_ATTR) == [
        "arn:aws:iam::111122223333:role/Admin,arn:aws:iam::111122223333:saml-provider/CorpIdP",
        "arn:aws:iam::111122223333:role/ReadOnly,arn:aws:iam::111122223333:saml-provider/CorpIdP",
        "arn:aws:iam::444455556666:role/Developer,"
        "arn:aws:iam::444455556666:saml-provider/CorpIdP",
    ]
    assert posted.attribute(SESSION_NAME_ATTR) == ["alice@corp.example"]
    assert posted.attribute(ATTR + "SessionDuration") == []


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
    def configure(demo):
        demo["groups"]["aws-prod-readonly"].update(
            session_duration=7200, principal_tags={"CostCenter": "1234", "Team": "finance"})
        demo["service_providers"] = [{"entity_id": AWS_ENTITY_ID,
                                      "source_identity": "username"}]

    idp = identity_provider(settings, edited_demo(configure), keypair, clock)
    _, posted = respond(idp, "bob")
    assert posted.attribute(ATTR + "SessionDuration") == ["7200"]
    assert posted.attribute(ATTR + "PrincipalTag:CostCenter") == ["1234"]
    assert posted.attribute(ATTR + "PrincipalTag:Team") == ["finance"]
    assert posted.attribute(ATTR + "SourceIdentity") == ["bob"]


def test_invalid_role_session_name_is_refused_before_sending(settings, keypair, clock):
    """A RoleSessionName AWS would reject (a space) is caught at the IdP with a reason."""
    directory = edited_demo(lambda demo: demo.update(service_providers=[
        {"entity_id": AWS_ENTITY_ID, "role_session_name": "display_name"}]))
    idp = identity_provider(settings, directory, keypair, clock)
    with pytest.raises(Exception, match=r"must match \[a-zA-Z_0-9\+=,\.@-\]\{2,64\}"):
        respond(idp, "bob")


def test_generic_sp_gets_the_released_attributes_not_aws_ones(settings, keypair, clock):
    """A non-AWS SP gets email/display_name/groups, with its own audience and ACS."""
    directory = edited_demo(lambda demo: demo.update(service_providers=[
        {"entity_id": "https://sp.test/metadata", "acs_urls": ["https://sp.test/acs"],
         "name_id_format": "email"}]))
    idp = identity_provider(settings, directory, keypair, clock)
    form = saml.respond(idp, "dave", sp="https://sp.test/metadata")
    posted = PostedResponse(form.action, form.saml_value, "")
    assert form.action == "https://sp.test/acs"
    assert posted.tree.findtext(".//saml:Audience", namespaces=NS) == "https://sp.test/metadata"
    assert posted.tree.findtext(".//saml:NameID", namespaces=NS) == "dave@corp.example"
    assert posted.attribute("email") == ["dave@corp.example"]
    assert posted.attribute("groups") == ["staff"]
    assert posted.attribute(ROLE_ATTR) == []
