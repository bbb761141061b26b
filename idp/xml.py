"""All XML input goes through here: one hardened parser, no DTDs, no entities, no network.

``parse()`` is the only way the package turns untrusted bytes into a tree. It refuses a
DOCTYPE outright (so no internal entities, no billion laughs, no XXE), never touches the
network, caps the size, and leaves libxml2's depth limit in place (``huge_tree=False``).
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from idp.errors import XMLError

__all__ = ["MAX_XML_BYTES", "parse", "text_of", "to_bytes"]

#: Largest document accepted anywhere (AWS caps a base64 SAMLAssertion at 100,000 characters).
MAX_XML_BYTES: Final = 256 * 1024


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=True,
        collect_ids=False,
    )


def parse(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse untrusted XML bytes once, safely; raise ``XMLError`` with a readable reason."""
    if len(data) > max_bytes:
        raise XMLError(f"XML document is {len(data)} bytes; the limit is {max_bytes}")
    if data.startswith(b"\xef\xbb\xbf"):
        raise XMLError("XML document starts with a byte-order mark; send plain UTF-8")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise XMLError("XML document is UTF-16; send UTF-8")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise XMLError(f"not well-formed XML: {exc.msg}") from None
    docinfo = root.getroottree().docinfo
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None:
        raise XMLError("XML document has a DOCTYPE; DTDs and entities are refused")
    if root.xpath("boolean(//*[namespace-uri()='http://www.w3.org/2001/XInclude'])"):
        raise XMLError("XML document uses XInclude; refused")
    return root


def text_of(element: etree._Element) -> str:
    """The full text content of an element, comments skipped.

    ``element.text`` stops at the first comment (``admin<!---->.evil`` reads ``admin``);
    this joins every text node, the way canonicalization sees it.
    """
    return "".join(str(t) for t in element.itertext())


def to_bytes(element: etree._Element) -> bytes:
    """Serialize without an XML declaration (what goes inside base64)."""
    return etree.tostring(element, encoding="utf-8", xml_declaration=False)
