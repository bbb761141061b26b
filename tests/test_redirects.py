"""``idp.redirects``: where a browser goes, checked against a table of parser-differential forms
and against ada (``ada_url``), a WHATWG-conformant URL parser, as an independent oracle.

The oracle tests skip when ``ada_url`` is not installed (it is in the ``test`` extra).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.redirects import DEFAULT_PORTS, Relative, Target, parse_target, same_origin

BASES = ("https://idp.example/idp/init", "http://idp.example/idp/init")
Origin = tuple[str, str, int]


def T(scheme: str, host: str, port: int, rest: str = "/") -> Target:
    return Target(scheme=scheme, host=host, port=port, path_and_rest=rest)


# --- the table --------------------------------------------------------------------------------

ACCEPTED: list[tuple[str, Target | Relative]] = [
    ("https://signin.aws.amazon.com/saml", T("https", "signin.aws.amazon.com", 443, "/saml")),
    ("HTTPS://Console.AWS.Amazon.com/s3/home", T("https", "console.aws.amazon.com", 443,
                                                  "/s3/home")),
    ("https://console.aws.amazon.com:443/", T("https", "console.aws.amazon.com", 443)),
    ("https://console.aws.amazon.com:0443/", T("https", "console.aws.amazon.com", 443)),
    ("https://console.aws.amazon.com:8443/", T("https", "console.aws.amazon.com", 8443)),
    ("http://idp.test/aws/console", T("http", "idp.test", 80, "/aws/console")),
    ("http://idp.test:80", T("http", "idp.test", 80, "")),
    ("https://idp.test?x=1", T("https", "idp.test", 443, "?x=1")),
    ("https://my_host-1.example/", T("https", "my_host-1.example", 443)),
    ("https://127.0.0.1:8000/", T("https", "127.0.0.1", 8000)),
    ("https://[::1]/", T("https", "[::1]", 443)),
    ("https://[0:0:0:0:0:0:0:1]:8443/x", T("https", "[::1]", 8443, "/x")),
    ("https://[2001:DB8:0:0:1:0:0:1]/", T("https", "[2001:db8::1:0:0:1]", 443)),
    # The host is evil.example: accepted as what it is, and the allow-list refuses it.
    ("https://evil.example#@signin.aws.amazon.com", T("https", "evil.example", 443,
                                                      "#@signin.aws.amazon.com")),
    ("https://evil.example?@signin.aws.amazon.com", T("https", "evil.example", 443,
                                                      "?@signin.aws.amazon.com")),
    ("https://evil.example/?next=https://signin.aws.amazon.com/",
     T("https", "evil.example", 443, "/?next=https://signin.aws.amazon.com/")),
    ("/aws/console/s3", Relative("/aws/console/s3")),
    ("/", Relative("/")),
    ("/aws/console?region=eu-west-1#top", Relative("/aws/console?region=eu-west-1#top")),
    ("/a//b", Relative("/a//b")),
    ("/a@evil.example:443", Relative("/a@evil.example:443")),
    ("/%2Fevil.example", Relative("/%2Fevil.example")),
    # Relative without a leading slash (opaque IdP-initiated RelayState): no scheme, no ":"
    # in the first segment, so it resolves under the base, whatever the base.
    ("opaque-state", Relative("opaque-state")),
    ("a/b:c", Relative("a/b:c")),
    ("?x=1", Relative("?x=1")),
    ("#frag", Relative("#frag")),
]

#: Why each refused form is refused, as claims the oracle checks (all of a row's must hold):
#: D  differential: urllib (RFC 3986) and ada (WHATWG) read a different scheme/host/port
#: O  offsite: looks relative, but ada resolves it against one of BASES to another origin
#: U  userinfo: ada reads a user name or password, the host comes after the "@"
#: W  ignored: the browser drops characters (tab, newline, edge C0/space) and goes anyway
#: R  rewritten: ada's host is not spelled in the input (percent-decoded, IDNA, IPv4 numbers)
#: N  normalised: dot segments collapse into a path starting "//" (a host, if echoed back)
#: S  scheme: not http(s) at all (script, data, ftp...)
#: I  invalid: ada refuses it too
#: P  policy: ada reads it unambiguously; refused only because nothing legitimate needs it
REFUSED: list[tuple[str, str]] = [
    ("https://evil.example\\@signin.aws.amazon.com/", "D"),
    ("http://evil.example\\.signin.aws.amazon.com/", "D"),
    ("https://signin.aws.amazon.com:443\\@evil.example/", "D"),
    ("https://signin.aws.amazon.com/\\evil", "N"),
    ("https:\\\\evil.example", "D"),
    ("/\\evil.example", "DO"),
    ("\\/evil.example", "DO"),
    ("\\\\evil.example", "DO"),
    ("//evil.example", "O"),
    ("https://ev\til.example/", "RW"),
    ("https://evil.example\n/", "W"),
    (" https://evil.example", "W"),
    ("\x01https://evil.example", "W"),
    ("https://evil.example/\r", "W"),
    ("\t//evil.example", "OW"),
    ("/\t/evil.example", "OW"),
    ("https://evil.example\x00.x/", "I"),
    ("https://evil.example\x7f/", "I"),
    ("https://ev il.example/", "I"),
    ("https:evil.example", "D"),
    ("https:/evil.example", "D"),
    ("https:///evil.example", "D"),
    ("http:evil.example", "D"),
    ("https://signin.aws.amazon.com@evil.example", "U"),
    ("https://user:pw@signin.aws.amazon.com/", "U"),
    ("https://evil.example%2F@signin.aws.amazon.com", "U"),
    ("https://evil.example:443@signin.aws.amazon.com/", "U"),
    ("https://evil%2Eexample/", "DR"),
    ("https://%65vil.example/", "DR"),
    ("https://\uff45vil.example/", "DR"),  # fullwidth e
    ("https://evil\u3002example/", "DR"),  # ideographic full stop
    ("https://evil.example\u200b/", "D"),  # zero-width space, mapped away by IDNA
    ("https://\u043f\u0440\u0438\u043c\u0435\u0440.example/", "DR"),  # Cyrillic
    ("https://xn--e1afmkfd.example/", "P"),
    ("https://0x7f.1/", "DR"),
    ("https://2130706433/", "DR"),
    ("https://127.1/", "DR"),
    ("https://[::ffff:1.2.3.4]/", "DR"),
    ("https://1.2.3.4.5/", "I"),
    ("https://[fe80::1%25eth0]/", "I"),
    ("https://[::1/", "I"),
    ("https://::1/", "I"),
    ("https://[::1]x/", "I"),
    ("https://signin.aws.amazon.com./", "P"),
    ("https://.signin.aws.amazon.com/", "P"),
    ("https://a..b/", "P"),
    ("https://a!b.example/", "P"),
    ("https://h.example:/", "P"),
    ("https://[::1]:/", "P"),
    ("https://h.example:0/", "P"),
    ("https://h.example:99999/", "I"),
    ("https://h.example:+443/", "I"),
    ("https://h.example:443:443/", "I"),
    ("https://", "I"),
    ("https:///", "I"),
    ("javascript:alert(1)", "S"),
    ("JaVaScRiPt:alert(1)", "S"),
    ("data:text/html,<script>alert(1)</script>", "S"),
    ("ftp://evil.example/", "S"),
    ("a:b", "S"),
    ("/..//evil.example", "N"),
    ("/a/%2e%2e//evil.example", "N"),
    ("https://evil.example/..//x", "N"),
    ("./x", "P"),
    ("/a b", "P"),
    ("", "P"),
]


@pytest.mark.parametrize(("value", "expected"), ACCEPTED)
def test_accepted(value: str, expected: Target | Relative) -> None:
    assert parse_target(value) == expected


@pytest.mark.parametrize(("value", "why"), REFUSED)
def test_refused(value: str, why: str) -> None:
    assert parse_target(value) is None


def test_urlsplit_is_fooled_where_a_browser_is_not() -> None:
    """The bug this module exists for: RFC 3986 and a browser disagree on the host."""
    value = "https://evil.example\\@signin.aws.amazon.com/"
    assert urlsplit(value).hostname == "signin.aws.amazon.com"
    assert parse_target(value) is None


def test_path_and_query() -> None:
    target = parse_target("https://console.aws.amazon.com/s3/home?region=eu-west-1#x")
    assert isinstance(target, Target)
    assert (target.path, target.query) == ("/s3/home", "region=eu-west-1")
    bare = parse_target("https://console.aws.amazon.com")
    assert isinstance(bare, Target) and (bare.path, bare.query) == ("/", "")
    relative = parse_target("/aws/console/ec2?a=b")
    assert isinstance(relative, Relative)
    assert (relative.path, relative.query) == ("/aws/console/ec2", "a=b")


def test_huge_port_is_refused_quickly() -> None:
    """Many digits: refused (or read, when they are leading zeros) without int() on them all."""
    assert parse_target("https://h.example:" + "9" * 5000 + "/") is None
    assert parse_target("https://h.example:" + "0" * 5000 + "443/") == T("https", "h.example",
                                                                         443)


@pytest.mark.parametrize(("target", "url", "expected"), [
    ("https://idp.test/x", "https://idp.test/aws/saml", True),
    ("https://idp.test:443/", "https://idp.test/", True),
    ("https://IDP.test/", "https://idp.test:0443/saml", True),
    ("http://idp.test:80/", "http://idp.test", True),
    ("https://[::1]/", "https://[0::1]:443/", True),
    ("http://idp.test/", "https://idp.test/", False),
    ("https://idp.test:8443/", "https://idp.test/", False),
    ("https://idp.test.evil.example/", "https://idp.test/", False),
    ("https://evil.example/", "https://evil.example\\@idp.test/", False),
    ("https://idp.test/", "/aws/saml", False),
    ("https://idp.test/", "not a url", False),
])
def test_same_origin(target: str, url: str, expected: bool) -> None:
    parsed = parse_target(target)
    assert isinstance(parsed, Target)
    assert same_origin(parsed, url) is expected


# --- the oracle: ada, a WHATWG URL parser ---------------------------------------------------


@pytest.fixture(scope="module")
def ada() -> ModuleType:
    return pytest.importorskip("ada_url")


def _ada(ada: ModuleType, value: str, base: str | None = None) -> Any:
    try:
        return ada.URL(value, base=base)
    except ValueError:
        return None


def _origin(url: Any) -> Origin | None:
    """A parsed ada URL's (scheme, host, port); ``None`` for an opaque origin (javascript:)."""
    scheme = url.protocol.removesuffix(":")
    if scheme not in DEFAULT_PORTS:
        return None
    return scheme, url.hostname, int(url.port) if url.port else DEFAULT_PORTS[scheme]


def _base_origin(base: str) -> Origin:
    parsed = parse_target(base)
    assert isinstance(parsed, Target)
    return parsed.origin


def _browser_reading(ada: ModuleType, value: str) -> Any:
    """ada's URL for ``value``: absolute if it is one, else resolved against ``BASES[0]``."""
    return _ada(ada, value) or _ada(ada, value, BASES[0])


def _naive_origin(value: str) -> tuple[str, str, int | None] | None:
    """What a urllib-based check believes: the base's origin if there is no scheme or host."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme and not parts.netloc:
        return _base_origin(BASES[0])
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return scheme, host, port if port is not None else DEFAULT_PORTS.get(scheme)


def _cleaned(value: str) -> str:
    """What the basic URL parser reads: edge C0/space stripped, tab and newlines removed."""
    value = value.strip("".join(map(chr, range(0x21))))
    return value.replace("\t", "").replace("\n", "").replace("\r", "")


def _claim_holds(ada: ModuleType, value: str, claim: str) -> bool:
    absolute, reading = _ada(ada, value), _browser_reading(ada, value)
    if claim == "D":
        browser = _origin(reading) if reading is not None else None
        return reading is not None and _naive_origin(value) != browser
    if claim == "O":
        return absolute is None and any(
            (joined := _ada(ada, value, base)) is not None
            and _origin(joined) != _base_origin(base) for base in BASES)
    if claim == "U":
        return absolute is not None and bool(absolute.username or absolute.password)
    if claim == "W":
        cleaned = _cleaned(value)
        return (cleaned != value and reading is not None
                and _browser_reading(ada, cleaned).href == reading.href)
    if claim == "R":
        return absolute is not None and absolute.hostname not in value.lower()
    if claim == "N":
        return reading is not None and reading.pathname.startswith("//")
    if claim == "S":
        return absolute is not None and _origin(absolute) is None
    if claim == "I":
        return reading is None and all(_ada(ada, value, base) is None for base in BASES)
    assert claim == "P", claim
    return reading is not None


@pytest.mark.parametrize(("value", "why"), REFUSED)
def test_refused_forms_are_what_the_table_says(ada: ModuleType, value: str, why: str) -> None:
    """Each refusal is justified by what a WHATWG parser does with the input."""
    assert why and all(_claim_holds(ada, value, claim) for claim in why), (
        [c for c in why if not _claim_holds(ada, value, c)],
        (r := _browser_reading(ada, value)) and r.href, _naive_origin(value))


def _assert_agrees(ada: ModuleType, value: str) -> None:
    """Whatever ``parse_target`` accepts, a WHATWG parser reads the same way."""
    parsed = parse_target(value)
    if isinstance(parsed, Target):
        url = _ada(ada, value)
        assert url is not None, value
        assert _origin(url) == parsed.origin
        for base in BASES:  # an absolute URL ignores the base
            assert _origin(_ada(ada, value, base)) == parsed.origin
        rest = parsed.path_and_rest
        rest = rest if rest.startswith("/") else "/" + rest
        # The browser requests the path as written (it may only percent-encode some bytes).
        assert unquote(url.href[len(url.origin):]) == unquote(rest)
    elif isinstance(parsed, Relative):
        assert _ada(ada, value) is None  # no browser reads it as an absolute URL
        for base in BASES:
            joined = _ada(ada, value, base)
            assert joined is not None
            assert _origin(joined) == _base_origin(base)
            assert not joined.pathname.startswith("//")
            if value.startswith("/"):
                assert unquote(joined.href[len(joined.origin):]) == unquote(value)


@pytest.mark.parametrize(("value", "expected"), ACCEPTED)
def test_accepted_forms_agree_with_whatwg(ada: ModuleType, value: str,
                                          expected: Target | Relative) -> None:
    _assert_agrees(ada, value)


_PIECES = [
    "https://", "http://", "HTTPS://", "https:", "https:/", "https:///", "javascript:", "data:",
    "/", "//", "\\", "/\\", "?", "#", "@", ":", "%", "%2F", "%2e", "%2E", "%40", "%00", "..",
    ".", ":443", ":0443", ":8443", ":80", ":99999", ":0", ":", "[", "]", "[::1]", "[::ffff:",
    "1.2.3.4", "signin.aws.amazon.com", "console.aws.amazon.com", "evil.example", "idp.example",
    "127.0.0.1", "0x7f", "2130706433", "xn--e1afmkfd", "\uff45", "\u3002", "\u00e9", "\u200b",
    "\t", "\n", "\r", " ", "\x00", "\x01", "\x7f", "a", "_", "-", "aws", "=", "&", "0", "9",
]
_TRICKY = "".join(sorted({c for piece in _PIECES for c in piece}))
_fragments = st.lists(st.sampled_from(_PIECES) | st.text(_TRICKY, max_size=3),
                      max_size=10).map("".join)
_candidates = st.one_of(
    _fragments,
    st.tuples(st.sampled_from(["https://", "http://", "HTTPS://", "hTtP://", "/", ""]),
              st.sampled_from(["signin.aws.amazon.com", "Console.AWS.amazon.com", "evil.example",
                               "[::1]", "[0:0::1]", "[2001:DB8::]", "127.0.0.1", "1.2.3.4",
                               "a_b-c.example", "a", ""]),
              st.sampled_from(["", ":443", ":0443", ":8443", ":80", ":0", ":65535", ":65536",
                               ":", ":000000080"]),
              _fragments).map("".join),
    st.text(max_size=30),
)


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_candidates)
def test_whatever_is_accepted_agrees_with_whatwg(ada: ModuleType, value: str) -> None:
    _assert_agrees(ada, value)
