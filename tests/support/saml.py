"""SAML Responses in tests: genuine ones from the IdP, read and edited as trees, re-signed.

``respond`` is the one way to get a genuine signed Response: an IdP-initiated login of a
directory user, at the instant of the IdP's clock, exactly as ``/idp/init`` would post it.
``decode``/``encode`` move between the base64 form and a tree (comments kept: an attack may
have put one there). ``resign_assertion`` and ``resigned`` sign the Assertion again after an
edit (with the real key unless told otherwise), so a test breaks only the rule it means to.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Final

from lxml import etree

from idp.authn.login import new_principal
from idp.clock import format_instant
from idp.keys import KeyPair
from idp.saml.bindings import PostForm
from idp.saml.constants import NS
from idp.saml.signing import SigningPolicy, sign_element
from idp.sso import IdentityProvider

SAML: Final = f"{{{NS['saml']}}}"
SAMLP: Final = f"{{{NS['samlp']}}}"
DS: Final = f"{{{NS['ds']}}}"

Edit = Callable[[etree._Element], object]


# --- genuine Responses ---------------------------------------------------------------------


def respond(idp: IdentityProvider, username: str = "bob", *, sp: str | None = None,
            relay_state: str | None = None, mfa: bool = False) -> PostForm:
    """The form the IdP posts after an IdP-initiated login of ``username`` (no HTTP).

    ``sp`` is the service provider's entityID (the AWS SP by default); the Response is signed
    with the IdP's key at ``idp.clock``'s instant. ``.saml_value`` is the base64 Response.
    """
    pending, _sp = idp.idp_initiated(sp, relay_state)
    user = idp.directory.user(username)
    assert user is not None, f"no user {username} in the directory"
    return idp.respond(pending, new_principal(user, mfa=mfa, clock=idp.clock))


def now() -> dt.datetime:
    """The wall-clock time to the second (what a live server's clock reads)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


# --- reading and editing ---------------------------------------------------------------------


def decode(b64: str) -> etree._Element:
    """Parse a base64 Response, keeping comments (an attack may have put one there)."""
    parser = etree.XMLParser(remove_comments=False, resolve_entities=False, no_network=True)
    return etree.fromstring(base64.b64decode(b64), parser=parser)


def encode(root: etree._Element) -> str:
    return base64.b64encode(etree.tostring(root)).decode("ascii")


def assertion_of(root: etree._Element) -> etree._Element:
    found = root.find(f"{SAML}Assertion")
    assert found is not None, "the Response has no Assertion"
    return found


def attribute(root: etree._Element, name: str) -> etree._Element | None:
    """The Assertion's attribute ``name`` (the element), if it has one."""
    return assertion_of(root).find(f"{SAML}AttributeStatement/{SAML}Attribute[@Name='{name}']")


def set_attribute(root: etree._Element, name: str, *values: str) -> etree._Element:
    """Replace (or add) the Assertion's attribute ``name`` with ``values``."""
    statement = assertion_of(root).find(f"{SAML}AttributeStatement")
    assert statement is not None
    old = attribute(root, name)
    if old is not None:
        statement.remove(old)
    el = etree.SubElement(statement, f"{SAML}Attribute", Name=name,
                          NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri")
    for value in values:
        etree.SubElement(el, f"{SAML}AttributeValue").text = value
    return el


def remove_attribute(root: etree._Element, name: str) -> None:
    el = attribute(root, name)
    assert el is not None, f"no attribute {name}"
    parent = el.getparent()
    assert parent is not None
    parent.remove(el)


def set_instant(el: etree._Element, name: str, when: dt.datetime) -> None:
    el.set(name, format_instant(when))


# --- signing again ---------------------------------------------------------------------------


def sign(el: etree._Element, keys: KeyPair, policy: SigningPolicy | None = None
         ) -> etree._Element:
    """A signed copy of ``el`` (its own old signature dropped first); RSA-SHA256 by default."""
    for sig in el.findall(f"{DS}Signature"):
        el.remove(sig)
    return sign_element(el, keys, policy or SigningPolicy())


def resign_assertion(root: etree._Element, keys: KeyPair,
                     policy: SigningPolicy | None = None) -> None:
    """Sign the Response's Assertion again, in place (as an IdP that signed this content)."""
    assertion = assertion_of(root)
    root.replace(assertion, sign(assertion, keys, policy))


def resigned(b64: str, keys: KeyPair, edit: Edit | None = None, *,
             policy: SigningPolicy | None = None) -> str:
    """Decode, let ``edit`` change the Response tree, re-sign its Assertion, encode."""
    root = decode(b64)
    if edit is not None:
        edit(root)
    resign_assertion(root, keys, policy)
    return encode(root)
