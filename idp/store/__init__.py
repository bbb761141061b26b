"""Small shared state for every worker process, behind one interface with two backends.

What must be shared between workers (and survive a restart) is tiny and append-mostly:

- ``claim``: one-time use (assertion IDs at the console and STS, console sign-outs): an atomic
  insert that succeeds for exactly one caller until the entry expires;
- ``advance``: a per-key high-water mark (the last TOTP time step used per user): an atomic
  compare-and-set that succeeds only for a value greater than the stored one;
- ``attempts``: failed logins per user and per address, for throttling;
- ``document`` / ``put_document``: a few named, versioned documents (the IAM twin's state,
  ``idp.aws.iam.store``) written with compare-and-set on the version, so of two workers
  changing one document at once exactly one succeeds and the other retries on the new state.

Backends (``open_store``, chosen by ``idp serve --state``):

- ``sqlite`` (the default): ``idp.store.sqlite.SqliteStore``, one file ``DATA_DIR/state.sqlite3``
  in WAL mode, for the workers of one machine;
- ``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`` (``rediss://`` for TLS):
  ``idp.store.redis.RedisStore``, for workers on several machines. The ``redis`` client is
  imported only when this backend is selected.

Both give the same semantics. Every operation is atomic across threads and processes. No key
is stored verbatim (keys often come from requests: usernames, client addresses, assertion
IDs): each is stored as its SHA-256 digest, so an entry has a fixed maximum size whatever the
key. Namespaces are constants in code and must be short identifiers (``ValueError``
otherwise). Times come from the injected ``Clock`` (which a simulator may freeze or move), never
from the backend's own clock; expired entries are kept a day before they are pruned, so a clock
moved forward and back again still finds them. A backend that cannot be reached or written
raises ``idp.errors.StoreError``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import urlsplit

from idp.clock import Clock
from idp.errors import StoreError
from idp.store.keys import MAX_DOCUMENT_CHARS
from idp.store.sqlite import SqliteStore

__all__ = ["MAX_DOCUMENT_CHARS", "SqliteStore", "StateStore", "StoreError", "check_location",
           "open_store", "redacted"]


class StateStore(Protocol):
    """Shared state, safe across threads and processes (``SqliteStore``, ``RedisStore``)."""

    @property
    def location(self) -> str:
        """Where the state lives, for messages: the SQLite file's path, or the Redis URL
        with any password replaced by ``***``."""
        ...

    # --- one-time use ---------------------------------------------------------------------

    def claim(self, namespace: str, key: str, until: dt.datetime) -> bool:
        """True for the first caller (across all processes) until ``until``; False after."""
        ...

    def claimed(self, namespace: str, key: str) -> bool:
        """Whether ``key`` is currently claimed (no side effect)."""
        ...

    # --- high-water marks -----------------------------------------------------------------

    def advance(self, namespace: str, key: str, value: int, until: dt.datetime) -> bool:
        """Raise ``key``'s mark to ``value``: True iff it was not already ``>= value``.

        Atomic, so exactly one of any number of concurrent callers (in any process) passing
        the same ``value`` succeeds, and a lower or equal value never succeeds after a higher
        one, until the mark expires at ``until`` (a successful call resets it; after it the key
        is as if never marked). ``value`` is a 64-bit integer (``ValueError`` otherwise).
        """
        ...

    # --- throttling -----------------------------------------------------------------------

    def record_attempt(self, namespace: str, key: str) -> None:
        """Count one failed attempt for ``key`` now (kept a day)."""
        ...

    def attempts(self, namespace: str, key: str, window: int) -> tuple[int, float]:
        """(count, seconds until the oldest one in the window leaves it)."""
        ...

    def clear_attempts(self, namespace: str, key: str) -> None:
        """Forget ``key``'s failed attempts."""
        ...

    def clear(self) -> None:
        """Forget everything: claims, marks, attempts and documents (a simulator's
        ``reset``)."""
        ...

    # --- versioned documents ----------------------------------------------------------------

    def document_version(self, name: str) -> int | None:
        """The document's version (``None``: there is none); one indexed read."""
        ...

    def document(self, name: str) -> tuple[int, str, str] | None:
        """``(version, seed, body)`` of the named document, if there is one."""
        ...

    def put_document(self, name: str, *, seed: str, body: str,
                     expected: int | None) -> int | None:
        """Write the document if its version is still ``expected`` (``None``: if there is
        none yet); the new version, or ``None`` when another writer got there first. A body
        over ``MAX_DOCUMENT_CHARS`` characters is refused with ``StoreError``."""
        ...

    def persistence_warning(self) -> str | None:
        """One line for the log when the store would forget its state on a restart (a Redis
        server with neither an append-only file nor snapshots); ``None`` otherwise."""
        ...

    def close(self) -> None:
        """Release the file or the connections."""
        ...


#: The forms ``check_location`` accepts, for its messages.
_EXPECTED: Final = ("expected sqlite or redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] "
                    "(rediss:// for TLS)")
_HOST: Final = re.compile(r"[a-z0-9_]([a-z0-9_.-]{0,252})")
_DB: Final = re.compile(r"/?|/[0-9]{1,9}")
_DEFAULT_PORT: Final = 6379
_BAD_PORT: Final = "the port is not a number from 1 to 65535"


def _refused(problem: str) -> ValueError:
    return ValueError(f"invalid state store location: {problem}; {_EXPECTED}")


def check_location(text: str) -> str:
    """The normal form of a ``--state`` value: ``sqlite`` (also for ``""``), or
    ``redis://[[USER]:PASSWORD@]HOST:PORT/DB`` (``rediss://`` for TLS; the port defaults to
    6379 and the database to 0; user and password stay as written, percent-encoded). Anything
    else raises ``ValueError`` with one line naming the problem and the expected form (never
    echoing a password)."""
    stripped = text.strip()
    if stripped.lower() in ("", "sqlite"):
        return "sqlite"
    scheme, sep, _rest = stripped.partition("://")
    if not sep:
        raise _refused(f"{stripped[:40]!r} is neither sqlite nor a URL")
    scheme = scheme.lower()
    if scheme not in ("redis", "rediss"):
        raise _refused(f"unsupported scheme {scheme[:20]!r}")
    if any(c.isspace() or not c.isprintable() for c in stripped):
        raise _refused("the URL contains spaces or control characters")
    if "?" in stripped:
        raise _refused("query parameters are not supported")
    if "#" in stripped:
        raise _refused("a fragment (#...) is not supported")
    try:
        parts = urlsplit(stripped)
    except ValueError:  # an unbalanced or invalid [IPv6] host
        raise _refused("the host in [...] is not an IPv6 address") from None
    try:
        port = parts.port
    except ValueError:
        raise _refused(_BAD_PORT) from None
    host = parts.hostname or ""
    if not host:
        raise _refused("the host is missing")
    if port == 0:
        raise _refused(_BAD_PORT)
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _refused("the host in [...] is not an IPv6 address") from None
        netloc = f"[{host}]"
    elif _HOST.fullmatch(host):
        netloc = host
    else:
        raise _refused(f"the host {host[:60]!r} is not a host name or address")
    if not _DB.fullmatch(parts.path):
        raise _refused("the database (after the host) is not /N with N a non-negative integer")
    db = int(parts.path[1:] or "0")
    return f"{scheme}://{_userinfo(parts.netloc)}{netloc}:{port or _DEFAULT_PORT}/{db}"


def _userinfo(netloc: str) -> str:
    """``USER:PASSWORD@``, ``:PASSWORD@`` or ``""``, as written."""
    if "@" not in netloc:
        return ""
    user, colon, password = netloc.rpartition("@")[0].partition(":")
    if not colon:
        raise _refused("credentials need a password (USER:PASSWORD@ or :PASSWORD@)")
    if not password:
        raise _refused("the password is empty")
    return f"{user}:{password}@"


def redacted(location: str) -> str:
    """``location`` with any password in it replaced by ``***`` (for messages and logs)."""
    scheme, sep, rest = location.partition("://")
    if not sep:
        return location
    netloc, slash, path = rest.partition("/")
    if "@" not in netloc:
        return location
    userinfo, _, hostport = netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:***@{hostport}{slash}{path}"


def open_store(location: str, data_dir: Path, clock: Clock) -> StateStore:
    """The state store a ``--state`` value names (see ``check_location``): the SQLite file
    ``data_dir/state.sqlite3``, or a Redis server (whose client is imported only now)."""
    normal = check_location(location)
    if normal == "sqlite":
        return SqliteStore(data_dir / "state.sqlite3", clock)
    from idp.store.redis import RedisStore  # lazy: only this backend needs redis

    return RedisStore(normal, clock)
