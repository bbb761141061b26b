"""The ``ResponseSpec`` behind a genuine Response, read back from the Response itself.

``spec_of`` inverts ``idp.saml.assertions.build_response``: given what the IdP sent
(``tests.support.saml.respond``), it returns the spec that builds the same Response again (up
to the fresh IDs and the signature values), so code that takes a spec (``idp.faults``) starts
from exactly what the IdP would have sent, without reaching into the IdP's internals.
``comparable`` is the form two such Responses are compared in.
"""

from __future__ import annotations

import copy

from lxml import etree

from idp.clock import parse_instant
from idp.saml.assertions import Attribute, AuthnInfo, ResponseSpec
from idp.saml.constants import AuthnContextClass, NameIDFormat
from tests.support.saml import DS, SAML, assertion_of


def _one(parent: etree._Element, path: str) -> etree._Element:
    found = parent.find(path)
    assert found is not None, f"the Response has no {path}"
    return found


def spec_of(root: etree._Element) -> ResponseSpec:
    """The spec ``build_response`` turns into ``root`` (a genuine Success Response)."""
    assertion = assertion_of(root)
    issuer = _one(assertion, f"{SAML}Issuer").text or ""
    name_id = _one(assertion, f"{SAML}Subject/{SAML}NameID")
    data = _one(assertion, f"{SAML}Subject/{SAML}SubjectConfirmation/"
                           f"{SAML}SubjectConfirmationData")
    conditions = _one(assertion, f"{SAML}Conditions")
    statement = _one(assertion, f"{SAML}AuthnStatement")
    now = parse_instant(str(assertion.get("IssueInstant")))
    not_after = parse_instant(str(data.get("NotOnOrAfter")))
    not_before = parse_instant(str(conditions.get("NotBefore")))
    attributes = tuple(
        Attribute(str(a.get("Name")),
                  tuple(v.text or "" for v in a.findall(f"{SAML}AttributeValue")),
                  a.get("FriendlyName"))
        for a in assertion.iterfind(f"{SAML}AttributeStatement/{SAML}Attribute"))
    return ResponseSpec(
        issuer=issuer,
        destination=str(root.get("Destination")),
        audience=_one(conditions, f"{SAML}AudienceRestriction/{SAML}Audience").text or "",
        name_id=name_id.text or "",
        name_id_format=NameIDFormat(str(name_id.get("Format"))),
        authn=AuthnInfo(
            instant=parse_instant(str(statement.get("AuthnInstant"))),
            session_index=str(statement.get("SessionIndex")),
            context=AuthnContextClass(
                str(_one(statement, f"{SAML}AuthnContext/{SAML}AuthnContextClassRef").text)),
            session_not_on_or_after=parse_instant(str(statement.get("SessionNotOnOrAfter"))),
        ),
        now=now,
        lifetime=int((not_after - now).total_seconds()),
        skew=int((now - not_before).total_seconds()),
        in_response_to=root.get("InResponseTo"),
        sp_name_qualifier=name_id.get("SPNameQualifier"),
        attributes=attributes,
    )


def comparable(root: etree._Element) -> bytes:
    """``root`` without signatures, with every ID (and reference to one) numbered in document
    order, exclusive-canonicalized: two builds of one spec give the same bytes."""
    tree = copy.deepcopy(root)
    for sig in list(tree.iter(f"{DS}Signature")):
        parent = sig.getparent()
        assert parent is not None
        parent.remove(sig)
    for number, el in enumerate(e for e in tree.iter() if e.get("ID")):
        el.set("ID", f"_id{number}")
    return etree.tostring(tree, method="c14n", exclusive=True)
