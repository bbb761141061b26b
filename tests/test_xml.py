"""The one hardened XML parser: no DTDs, entities, XInclude, BOMs or oversize documents."""

from __future__ import annotations

import pytest

from idp.errors import XMLError
from idp.xml import parse, text_of

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<lolz>&lol2;</lolz>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>"""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (BILLION_LAUGHS, "DOCTYPE"),
        (XXE, "DOCTYPE"),
        (b'<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></a>',
         "XInclude"),
        (b"\xef\xbb\xbf<a/>", "byte-order mark"),
        ("<a/>".encode("utf-16"), "UTF-16"),
        (b"<a>" * 300 + b"</a>" * 300, "not well-formed"),
        (b"<a>" + b"x" * 300_000 + b"</a>", "the limit is"),
    ],
    ids=["billion-laughs", "xxe", "xinclude", "bom", "utf16", "deep-nesting", "oversize"],
)
def test_dangerous_documents_are_refused(data, message):
    """Each attack class fails with a readable XMLError before any expansion happens."""
    with pytest.raises(XMLError, match=message):
        parse(data)


def test_text_of_reads_past_comments():
    """Comment injection: text_of sees the whole value, not the part before the comment."""
    root = parse(b"<NameID>admin<!---->.evil</NameID>")
    assert root.text == "admin"
    assert text_of(root) == "admin.evil"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'<!DOCTYPE x [<!ENTITY % p SYSTEM "file:///dev/zero"> %p;]><x/>', "DOCTYPE"),
        (b"<?xml version='1.0' encoding='ISO-8859-1'?><x>caf\xe9</x>", "not UTF-8"),
        (b"<?xml version='1.0' encoding='ISO-8859-1'?><x/>", "declared as ISO-8859-1"),
        (b"<x>\x00</x>", "NUL bytes"),
    ],
    ids=["parameter-entity-dev-zero", "latin1-bytes", "latin1-declared", "nul"],
)
def test_bytes_libxml2_must_never_see_are_refused_before_parsing(data, message):
    """A parameter entity naming /dev/zero would hang libxml2: refused on the bytes, at once."""
    with pytest.raises(XMLError, match=message):
        parse(data)
