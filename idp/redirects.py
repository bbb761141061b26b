"""Where will a browser go if sent here? A conservative, framework-free redirect-target check.

``urllib.parse`` follows RFC 3986; browsers follow the WHATWG URL Standard
(https://url.spec.whatwg.org/), and the two disagree exactly where open redirects hide:
``https://evil.example\\@signin.aws.amazon.com/`` is a URL *on* ``signin.aws.amazon.com`` to
``urlsplit`` and a URL on ``evil.example`` to a browser, which treats ``\\`` as ``/`` in special
schemes. So this module does not try to parse like a browser. It accepts only a small subset of
strings on which every reading agrees, and refuses (``None``) everything else::

    parse_target(value)      -> Target    absolute http(s) URL: scheme, host, port filled in
                             -> Relative  stays on the origin it is resolved against
                             -> None      refused: ambiguous, dangerous, or just unusual
    same_origin(target, url) -> bool      scheme, host and port equal to a configured URL's

What the standard says, and the rule here that follows from it (section names and anchors of
the URL Standard):

* "URL parsing" (#concept-basic-url-parser) strips leading and trailing C0 controls and spaces
  and removes every tab and newline anywhere; C0 controls elsewhere and non-ASCII are
  percent-encoded or, in a host, put through IDNA. **Every character must be printable ASCII
  (0x21-0x7E)**: spaces, tabs, CR/LF, other C0 controls, DEL and non-ASCII are refused.
* In a special scheme (#special-scheme: http and https here), ``\\`` is ``/`` in every state
  that looks for a slash. **A backslash anywhere is refused.**
* "special authority ignore slashes state": ``https:evil``, ``https:/evil``, ``https:///evil``
  and ``https:\\\\evil`` all reach the host ``evil``. **An absolute target is exactly
  ``http://`` or ``https://`` (scheme case-insensitive) and a non-empty authority**, which ends
  at the first ``/``, ``?`` or ``#``. Any other scheme (``javascript:``, ``data:``) is refused.
* "authority state": the last ``@`` ends a userinfo. **No ``@`` in the authority.**
* "host parsing" (#concept-host-parser): the host is percent-decoded, then mapped by
  "domain to ASCII" (UTS #46: case folding, fullwidth letters, ``。`` as a dot, punycode); a
  host that "ends in a number" (#ends-in-a-number-checker) goes to the IPv4 parser
  (#concept-ipv4-parser), which reads ``0x7f.1`` and ``2130706433`` as ``127.0.0.1``. **A host is
  ASCII labels of ``a-z 0-9 - _`` separated by single dots**: no ``%``, no empty label (so no
  trailing dot: same DNS name, but another origin), no ``xn--`` label (IDN), and if the last
  label is numeric the whole host must be a canonical dotted-quad IPv4 address. Letters are
  lowercased, as domain to ASCII does.
* IPv6 (#concept-ipv6-parser): **only inside brackets, hexadecimal pieces only** (no embedded
  IPv4, no zone); serialized as the standard does (lowercase, first longest zero run as ``::``).
* "port state": digits only; the standard accepts leading zeros and an empty port. **The port
  is 1-65535, digits only, leading zeros allowed; an empty port (``host:``) is refused.** The
  default port (#default-port: 80, 443) is filled in, so ``:443`` and no port compare equal.
* "path state" drops single- and double-dot segments (#single-dot-path-segment, including
  ``%2e`` spellings), so ``/..//evil.example`` becomes the path ``//evil.example``, which is a
  host again if anyone echoes it into a ``Location`` header. **Dot segments are refused**, so
  ``path_and_rest`` is the path, query and fragment the browser will request, as written
  (apart from the percent-encoding the browser adds to characters such as ``"`` and ``<``).

Relative targets: a path-absolute reference (``/`` followed by anything but a second ``/``),
or a reference without scheme and without a ``:`` before its first ``/``, ``?`` or ``#`` (RFC
3986's path-noscheme: ``opaque-state``, ``a/b``, ``?x``, ``#x``). In the standard these never
leave the "relative state" for an authority, so they stay on the base's origin whatever the
base. ``opaque-state`` is accepted because IdP-initiated RelayState is often opaque SP state;
where it ends up is the SP's business, but it cannot name another host. The empty string is
refused: it is no target (callers treat an empty RelayState as "none").
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = ["DEFAULT_PORTS", "Relative", "Target", "parse_target", "same_origin"]

#: The special schemes a redirect target may use, with their default ports (#default-port).
DEFAULT_PORTS: Final[Mapping[str, int]] = MappingProxyType({"http": 80, "https": 443})

_PRINTABLE_ASCII: Final = re.compile(r"[\x21-\x7e]+")
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_LABEL: Final = re.compile(r"[a-z0-9_\-]+")
_NUMERIC_LABEL: Final = re.compile(r"[0-9]+|0x[0-9a-f]*")
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4: Final = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_IPV6: Final = re.compile(r"[0-9a-f:]+")
_PORT: Final = re.compile(r"[0-9]+")
_DOT_SEGMENTS: Final = frozenset({".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"})


def _split_rest(rest: str) -> tuple[str, str, str]:
    """(path, query, fragment) of a path-and-rest, without the ``?`` and ``#``."""
    rest, _, fragment = rest.partition("#")
    path, _, query = rest.partition("?")
    return path, query, fragment


class _AfterAuthority:
    """The query and fragment of a target, from its ``path_and_rest``."""

    path_and_rest: str

    @property
    def query(self) -> str:
        return _split_rest(self.path_and_rest)[1]

    @property
    def fragment(self) -> str:
        """After the ``#`` (not sent to the server; the browser keeps it across a redirect)."""
        return _split_rest(self.path_and_rest)[2]


@dataclass(frozen=True)
class Target(_AfterAuthority):
    """An absolute http(s) URL as a browser reads it."""

    scheme: str
    """``http`` or ``https``, lowercase."""
    host: str
    """Lowercase domain, dotted-quad IPv4, or bracketed IPv6 (``[::1]``)."""
    port: int
    """Always set: the default port of the scheme when the URL names none."""
    path_and_rest: str
    """Everything after the authority, as written: ``""`` or starts with ``/``, ``?`` or ``#``."""

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def path(self) -> str:
        """The path as the browser requests it (``/`` when the URL has none)."""
        return _split_rest(self.path_and_rest)[0] or "/"


@dataclass(frozen=True)
class Relative(_AfterAuthority):
    """A reference that stays on the origin of whatever URL it is resolved against."""

    path_and_rest: str
    """The reference as given: starts with a single ``/``, or has no scheme (``a/b``, ``?x``)."""

    @property
    def path(self) -> str:
        """The path part (``""`` for ``?x``); it is absolute only when it starts with ``/``."""
        return _split_rest(self.path_and_rest)[0]


def parse_target(value: str) -> Target | Relative | None:
    """Where a browser sent to ``value`` goes, or ``None`` if that is not certain enough.

    Never raises. See the module documentation for the rules and why.
    """
    if not _PRINTABLE_ASCII.fullmatch(value) or "\\" in value:
        return None
    if ":" not in value[:_segment_end(value)]:
        if value.startswith("//") or _has_dot_segment(value):
            return None
        return Relative(value)
    scheme, _, rest = value.partition(":")
    scheme = scheme.lower()
    if not _SCHEME.fullmatch(scheme) or scheme not in DEFAULT_PORTS or not rest.startswith("//"):
        return None
    rest = rest[2:]
    end = _segment_end(rest)
    authority, path_and_rest = rest[:end], rest[end:]
    if "@" in authority or _has_dot_segment(path_and_rest):
        return None
    host_and_port = _authority(authority, DEFAULT_PORTS[scheme])
    if host_and_port is None:
        return None
    host, port = host_and_port
    return Target(scheme=scheme, host=host, port=port, path_and_rest=path_and_rest)


def same_origin(target: Target, url: str) -> bool:
    """Whether ``target`` has the scheme, host and port of ``url`` (a configured absolute URL,
    such as an SP's ACS URL). A ``url`` this module would refuse matches nothing."""
    other = parse_target(url)
    return isinstance(other, Target) and other.origin == target.origin


def _segment_end(text: str) -> int:
    """Index of the first ``/``, ``?`` or ``#`` (the end of an authority or first segment)."""
    return min((i for i in map(text.find, "/?#") if i >= 0), default=len(text))


def _has_dot_segment(path_and_rest: str) -> bool:
    path = _split_rest(path_and_rest)[0]
    return any(segment.lower() in _DOT_SEGMENTS for segment in path.split("/"))


def _authority(authority: str, default_port: int) -> tuple[str, int] | None:
    """(host, port) of a userinfo-free authority, or ``None``."""
    port_text: str | None
    if authority.startswith("["):
        inside, bracket, after = authority[1:].partition("]")
        host = _ipv6(inside) if bracket else None
        if after and not after.startswith(":"):
            return None
        port_text = after[1:] if after else None
    else:
        host_text, colon, port_text = authority.partition(":")
        host = _domain_or_ipv4(host_text.lower())
        port_text = port_text if colon else None
    if host is None:
        return None
    if port_text is None:
        return host, default_port
    port = _port(port_text)
    return None if port is None else (host, port)


def _domain_or_ipv4(host: str) -> str | None:
    labels = host.split(".")
    if not all(_LABEL.fullmatch(label) and not label.startswith("xn--") for label in labels):
        return None  # also: empty host, empty labels, trailing dot, any non-LDH character
    if _NUMERIC_LABEL.fullmatch(labels[-1]) and not _IPV4.fullmatch(host):
        return None  # the IPv4 parser would read it (0x7f.1, 2130706433, 1.2.3.4.5 fails)
    return host


def _ipv6(inside: str) -> str | None:
    inside = inside.lower()
    if not _IPV6.fullmatch(inside):
        return None
    try:
        packed = ipaddress.IPv6Address(inside).packed
    except ValueError:
        return None
    pieces = [int.from_bytes(packed[i:i + 2], "big") for i in range(0, 16, 2)]
    # The IPv6 serializer: compress the first longest run of two or more zero pieces.
    start, length = -1, 1
    for i in range(8):
        run = next((n for n in range(8 - i) if pieces[i + n] != 0), 8 - i)
        if run > length:
            start, length = i, run
    text = [f"{piece:x}" for piece in pieces]
    if start < 0:
        return f"[{':'.join(text)}]"
    return f"[{':'.join(text[:start])}::{':'.join(text[start + length:])}]"


def _port(text: str) -> int | None:
    if not _PORT.fullmatch(text):
        return None
    digits = text.lstrip("0")
    if not digits or len(digits) > 5:  # also keeps int() away from huge digit strings
        return None
    port = int(digits)
    return port if port <= 65535 else None
