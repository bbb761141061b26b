"""The SSO step, framework-free: what a pending step keeps while the user signs in."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from lxml import etree

from idp.errors import MalformedRequest, NoAwsRole
from idp.saml.constants import NS, AuthnContextClass
from idp.saml.requests import MAX_REQUEST_ID
from idp.saml.status import NoAuthnContext
from tests.support.builders import identity_provider
from tests.support.http import authn_request
from tests.support.saml import decode, respond


@pytest.fixture
def idp(settings, directory, keypair, clock):
    return identity_provider(settings, directory, keypair, clock)


def posted(xml: bytes) -> str:
    return base64.b64encode(xml).decode()


def with_contexts(xml: bytes, contexts: list[str]) -> bytes:
    root = etree.fromstring(xml)
    requested = etree.SubElement(root, f"{{{NS['samlp']}}}RequestedAuthnContext")
    for context in contexts:
        etree.SubElement(requested, f"{{{NS['saml']}}}AuthnContextClassRef").text = context
    return etree.tostring(root)


def test_a_step_keeps_only_the_contexts_it_can_satisfy(idp, clock):
    """Two hundred unknown requested contexts next to one supported one: the step that waits
    in the cookie keeps the supported one only."""
    unknown = [f"urn:example:context:{i}:" + "x" * 150 for i in range(200)]
    xml = with_contexts(authn_request(clock), [*unknown, AuthnContextClass.PASSWORD.value])
    pending, sp = idp.receive_post(posted(xml), None)
    kept = idp.precheck(pending, sp)
    assert kept.requested_contexts == (AuthnContextClass.PASSWORD.value,)
    assert len(str(kept.to_json())) < 1000


def test_no_satisfiable_context_is_still_a_saml_status(idp, clock):
    xml = with_contexts(authn_request(clock), [f"urn:example:{i}" for i in range(50)])
    pending, sp = idp.receive_post(posted(xml), None)
    with pytest.raises(NoAuthnContext, match="and 45 more"):
        idp.precheck(pending, sp)


def test_a_request_id_longer_than_the_limit_is_refused(idp, clock):
    longest = "_" + "a" * (MAX_REQUEST_ID - 1)
    pending, _ = idp.receive_post(posted(authn_request(clock, ID=longest)), None)
    assert pending.request_id == longest
    with pytest.raises(MalformedRequest, match=f"at most {MAX_REQUEST_ID}"):
        idp.receive_post(posted(authn_request(clock, ID=longest + "a")), None)


def _roles_sent(idp, username: str) -> list[str]:
    root = decode(respond(idp, username).saml_value)
    return [str(v) for v in root.xpath(
        "//saml:Attribute[@Name='https://aws.amazon.com/SAML/Attributes/Role']"
        "/saml:AttributeValue/text()", namespaces=NS)]


def test_released_attributes_follow_the_directory(idp, directory):
    """The release is remembered per (directory, user, SP) objects: the same answer twice, and
    a changed directory (a new Directory object, as every edit makes) is read afresh."""
    first = _roles_sent(idp, "bob")
    assert first and _roles_sent(idp, "bob") == first
    bob = directory.users["bob"]
    extra = "arn:aws:iam::444455556666:role/Developer"
    edited = dataclasses.replace(directory, users={
        **directory.users, "bob": dataclasses.replace(bob, roles=(*bob.roles, extra))})
    idp.directory = edited
    assert len(_roles_sent(idp, "bob")) == len(first) + 1
    idp.directory = directory
    assert _roles_sent(idp, "bob") == first


def test_a_refused_release_is_refused_every_time(idp, directory):
    bob = directory.users["bob"]
    idp.directory = dataclasses.replace(directory, users={
        **directory.users, "bob": dataclasses.replace(bob, groups=(), roles=())})
    for _ in range(2):
        with pytest.raises(NoAwsRole):
            _roles_sent(idp, "bob")
