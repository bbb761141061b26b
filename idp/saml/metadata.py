"""The IdP's ``<md:EntityDescriptor>`` (SAML Metadata §2.4.3), as AWS IAM imports it.

AWS reads the entityID (→ Issuer), the signing certificates and ``validUntil``; the metadata
must be UTF-8 without a BOM and each certificate's key at least 1024 bits (aws-saml.md §7.2).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lxml import etree

from idp.clock import format_instant
from idp.keys import KeyPair
from idp.saml.constants import ISSUABLE_NAMEID_FORMATS, NS, Binding

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
    md = NS["md"]
    root = etree.Element(
        f"{{{md}}}EntityDescriptor",
        nsmap={"md": md, "ds": NS["ds"]},
        entityID=idp.entity_id,
        validUntil=format_instant(idp.valid_until),
    )
    sso = etree.SubElement(
        root,
        f"{{{md}}}IDPSSODescriptor",
        protocolSupportEnumeration=NS["samlp"],
        WantAuthnRequestsSigned="false",
    )
    for pair in idp.keys:
        descriptor = etree.SubElement(sso, f"{{{md}}}KeyDescriptor", use="signing")
        info = etree.SubElement(descriptor, f"{{{NS['ds']}}}KeyInfo")
        data = etree.SubElement(info, f"{{{NS['ds']}}}X509Data")
        etree.SubElement(data, f"{{{NS['ds']}}}X509Certificate").text = pair.cert_b64
    for name_format in ISSUABLE_NAMEID_FORMATS:
        etree.SubElement(sso, f"{{{md}}}NameIDFormat").text = name_format.value
    for binding in (Binding.REDIRECT, Binding.POST):
        etree.SubElement(
            sso, f"{{{md}}}SingleSignOnService", Binding=binding.value, Location=idp.sso_url
        )
    org = etree.SubElement(root, f"{{{md}}}Organization")
    lang = "{http://www.w3.org/XML/1998/namespace}lang"
    etree.SubElement(org, f"{{{md}}}OrganizationName", {lang: "en"}).text = idp.organization
    etree.SubElement(org, f"{{{md}}}OrganizationDisplayName", {lang: "en"}).text = idp.organization
    etree.SubElement(org, f"{{{md}}}OrganizationURL", {lang: "en"}).text = (
        idp.organization_url or idp.entity_id.rsplit("/idp/", 1)[0] + "/"
    )
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)
