"""The IdP's ``<md:EntityDescriptor>`` (SAML Metadata §2.4.3), as AWS IAM imports it.

AWS reads the entityID (→ Issuer), the signing certificates and ``validUntil`` (IAM API
Reference, CreateSAMLProvider); the metadata must be UTF-8 without a BOM and each certificate's
key at least 1024 bits (IAM User Guide, "Create a SAML identity provider in IAM").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lxml import etree

from idp.clock import format_instant
from idp.keys import KeyPair
from idp.saml.constants import DS, ISSUABLE_NAMEID_FORMATS, MD, NS, Binding

__all__ = ["IdPDescription", "render_metadata"]


@dataclass(frozen=True)
class IdPDescription:
    entity_id: str
    sso_url: str
    keys: tuple[KeyPair, ...]
    """Signing pairs to publish: current first, then the one kept after a rotation."""
    valid_until: dt.datetime
    organization: str = "IdP Simulator"
    organization_url: str | None = None


def render_metadata(idp: IdPDescription) -> bytes:
    """UTF-8 XML with declaration, no BOM."""
    root = etree.Element(
        f"{MD}EntityDescriptor",
        nsmap={"md": NS["md"], "ds": NS["ds"]},
        entityID=idp.entity_id,
        validUntil=format_instant(idp.valid_until),
    )
    sso = etree.SubElement(
        root,
        f"{MD}IDPSSODescriptor",
        protocolSupportEnumeration=NS["samlp"],
        WantAuthnRequestsSigned="false",
    )
    for pair in idp.keys:
        descriptor = etree.SubElement(sso, f"{MD}KeyDescriptor", use="signing")
        info = etree.SubElement(descriptor, f"{DS}KeyInfo")
        data = etree.SubElement(info, f"{DS}X509Data")
        etree.SubElement(data, f"{DS}X509Certificate").text = pair.cert_b64
    for name_format in ISSUABLE_NAMEID_FORMATS:
        etree.SubElement(sso, f"{MD}NameIDFormat").text = name_format.value
    for binding in (Binding.REDIRECT, Binding.POST):
        etree.SubElement(
            sso, f"{MD}SingleSignOnService", Binding=binding.value, Location=idp.sso_url
        )
    org = etree.SubElement(root, f"{MD}Organization")
    lang = "{http://www.w3.org/XML/1998/namespace}lang"
    etree.SubElement(org, f"{MD}OrganizationName", {lang: "en"}).text = idp.organization
    etree.SubElement(org, f"{MD}OrganizationDisplayName", {lang: "en"}).text = idp.organization
    etree.SubElement(org, f"{MD}OrganizationURL", {lang: "en"}).text = (
        idp.organization_url or idp.entity_id.rsplit("/idp/", 1)[0] + "/"
    )
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)
