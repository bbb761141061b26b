"""All XML input goes through here: one hardened parser, no DTDs, no entities, no network.

``parse()`` is the only way the package turns untrusted bytes into a tree. It refuses a
DOCTYPE outright (so no internal entities, no billion laughs, no XXE), never touches the
network, caps the size, and leaves libxml2's depth limit in place (``huge_tree=False``).
"""

from __future__ import annotations

import re
import threading
from typing import Final

from lxml import etree

from idp.errors import XMLError

__all__ = ["MAX_XML_BYTES", "parse", "screen", "text_of", "to_bytes"]

#: Largest document accepted anywhere (AWS caps a base64 SAMLAssertion at 100,000 characters).
MAX_XML_BYTES: Final = 256 * 1024


def _new_parser() -> etree.XMLParser:
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


_DOCTYPE_RE: Final = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_XINCLUDE: Final = "{http://www.w3.org/2001/XInclude}*"
_PARSERS: Final = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's parser. Making one per document costs as much as the parse itself; one
    parser must not be used by two threads at once (lxml's FAQ, "Can I use threads to
    concurrently access the lxml API?"), hence one per thread. A parse resets the parser's
    state, so nothing carries over from one document to the next but its settings."""
    parser: etree.XMLParser | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = _new_parser()
    return parser


def screen(data: bytes) -> None:
    """Refuse, *before* libxml2 sees them, bytes the parser must never read.

    libxml2 opens the file named by an external parameter entity while it reads the internal
    subset, even with ``load_dtd=False`` and ``resolve_entities=False`` (only ``no_network``
    stops http): ``<!ENTITY % p SYSTEM "file:///dev/zero"> %p;`` hangs it and any local file
    is opened. A DOCTYPE is refused anyway, so refuse it on the bytes; UTF-16/32 would hide it
    from a byte search, so only NUL-free UTF-8 gets that far.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        raise XMLError("XML document starts with a byte-order mark; send plain UTF-8")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data:
        raise XMLError("XML document is UTF-16 or UTF-32 (it has NUL bytes); send UTF-8")
    if _DOCTYPE_RE.search(data):
        raise XMLError("XML document has a DOCTYPE; DTDs and entities are refused")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise XMLError("XML document is not UTF-8; send UTF-8") from None


def parse(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse untrusted XML bytes once, safely; raise ``XMLError`` with a readable reason."""
    if len(data) > max_bytes:
        raise XMLError(f"XML document is {len(data)} bytes; the limit is {max_bytes}")
    screen(data)
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise XMLError(f"not well-formed XML: {exc.msg}") from None
    docinfo = root.getroottree().docinfo
    # One encoding, one reading: a document declaring another encoding could be read
    # differently by another parser (a parser differential), so only UTF-8 is accepted.
    if (docinfo.encoding or "UTF-8").upper() not in ("UTF-8", "UTF8"):
        raise XMLError(f"XML document is declared as {docinfo.encoding}; send UTF-8")
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None:
        raise XMLError("XML document has a DOCTYPE; DTDs and entities are refused")
    if next(root.iter(_XINCLUDE), None) is not None:
        raise XMLError("XML document uses XInclude; refused")
    return root


def text_of(element: etree._Element) -> str:
    """The full text content of an element, comments skipped.

    ``element.text`` stops at the first comment (``admin<!---->.evil`` reads ``admin``);
    this joins every text node, the way canonicalization sees it. An element with no child
    node at all (element, comment or PI) has just its ``text``.
    """
    if not len(element):
        return element.text or ""
    return "".join(map(str, element.itertext()))


def to_bytes(element: etree._Element) -> bytes:
    """Serialize without an XML declaration (what goes inside base64)."""
    return etree.tostring(element, encoding="utf-8", xml_declaration=False)
