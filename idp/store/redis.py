"""The Redis state backend: the same semantics as ``SqliteStore``, for workers on several
machines (``idp serve --state redis://HOST:PORT/DB``).

Each operation is one Lua script (or one command), which Redis runs atomically
(https://redis.io/docs/latest/develop/interact/programmability/eval-intro/), so it is atomic
across threads, processes and machines. Scripts are sent by SHA1 (``EVALSHA``); redis-py's
``register_script`` loads them again when the server answers ``NOSCRIPT``, e.g. after a restart
(https://redis.readthedocs.io/en/stable/commands.html#redis.commands.core.CoreCommands.register_script).

Keys: ``idp:<kind>:<namespace>:<hex SHA-256 of the key>`` (kinds ``claim``, ``mark``,
``attempts``) and ``idp:doc:<name>``; no key from a request is stored verbatim, and ``clear``
removes only keys under ``idp:`` (never ``FLUSHDB``), so the database may be shared.

- a claim is a string holding its ``until`` (a UNIX time of the injected clock);
- a mark is a hash ``value`` (the decimal 64-bit integer, compared as text, since Lua numbers
  are doubles and lose precision above 2**53) and ``until``;
- attempts are a sorted set per key, scored by the attempt's time (members unique), trimmed to
  the last day (plus the grace) on each write;
- a document is a hash ``version``, ``seed``, ``body``, written by compare-and-set.

Times are the injected ``Clock``'s, passed to each script, never Redis's own clock (the
simulator freezes and moves its clock): an entry is live while its ``until`` is after the
clock's now. So that Redis prunes by itself, each claim, mark and attempt set also gets a
relative TTL (https://redis.io/docs/latest/commands/pexpire/): its ``until`` minus the clock's
now plus the same day of grace ``SqliteStore`` keeps expired rows for (at least a few
seconds). Documents never expire. One difference from SQLite, which prunes by the clock: Redis
counts TTLs in real time, so if the clock is frozen (or moved back) for more than a day of real
time, an entry still live by the clock may already be gone from Redis (a redeemed assertion
could then be redeemed again under a clock frozen that long).

Failures: every redis-py error (and ``OSError``) becomes ``StoreError`` with one line naming
the server (password redacted). Timeouts are short (connect 1 s, commands 2 s) and a dropped
connection is retried at most twice with a short backoff
(https://redis.readthedocs.io/en/stable/retry.html), so a request during a Redis restart fails
fast with ``StoreError`` and the next one after it is back succeeds: the pool reconnects. A
timed-out command is not retried, since it may have run. A client instance (with its
connection pool) may be shared between threads
(https://redis.readthedocs.io/en/stable/advanced_features.html, "A note about threading").

Durability is the server's: run it with ``--appendonly yes`` (``persistence_warning`` says when
it is not, https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
import secrets
from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from idp.clock import Clock
from idp.errors import StoreError
from idp.store import check_location, keys, redacted
from idp.store.keys import ATTEMPTS_KEPT, PRUNE_GRACE, checked, checked_int64, digest

__all__ = ["PREFIX", "RedisStore"]

#: Every key this store writes starts with this (``clear`` removes these only).
PREFIX: Final = "idp:"
#: The shortest TTL given to an entry (one already expired in the clock's time).
_MIN_TTL_MS: Final = 5_000
#: The longest (an ``until`` centuries away must not overflow Redis's expiry).
_MAX_TTL_MS: Final = 10 * 366 * 86_400 * 1000
_SCAN_BATCH: Final = 500

# KEYS[1]: the claim. ARGV: until, now, TTL (ms). Succeeds iff absent or expired (until <= now).
_CLAIM: Final = """
local stored = redis.call('GET', KEYS[1])
if stored and tonumber(stored) > tonumber(ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""

# KEYS[1]: the mark. ARGV: value, until, now, TTL (ms). Refused iff a live mark is >= value.
# Values are canonical decimal 64-bit integers (Python's str(int)), compared as text.
_ADVANCE: Final = """
local function less(a, b)
  local a_neg, b_neg = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
  if a_neg ~= b_neg then return a_neg end
  if a_neg then a, b = string.sub(b, 2), string.sub(a, 2) end
  if #a ~= #b then return #a < #b end
  for i = 1, #a do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return false
end
local stored = redis.call('HMGET', KEYS[1], 'value', 'until')
if stored[1] and stored[2] and tonumber(stored[2]) > tonumber(ARGV[3])
    and not less(stored[1], ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'until', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS[1]: the attempts. ARGV: now (score), a unique member, oldest score pruned, TTL (ms).
_RECORD: Final = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS[1]: the attempts. ARGV: the window's start (excluded). {count, oldest score or nil}.
_COUNT: Final = """
local since = '(' .. ARGV[1]
local count = redis.call('ZCOUNT', KEYS[1], since, '+inf')
local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
return {count, oldest[2] or false}
"""

# KEYS[1]: the document. ARGV: expected version ('': none yet), new version, seed, body.
_PUT: Final = """
local current = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'seed', ARGV[3], 'body', ARGV[4])
return 1
"""

_CONNECTING: Final = re.compile(r"^Error -?\d+ (?:connecting to|while writing to) \S+\.\s+")


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _ttl_ms(until: float, now: float) -> int:
    """Redis's TTL for an entry live until ``until``: a day of grace after it."""
    ttl = math.ceil((until - now + PRUNE_GRACE) * 1000)
    return max(_MIN_TTL_MS, min(_MAX_TTL_MS, ttl))


class RedisStore:
    """Shared state in a Redis server (``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]``, or
    ``rediss://`` for TLS), safe across threads, processes and machines."""

    def __init__(self, url: str, clock: Clock, *, connect_timeout: float = 1.0,
                 timeout: float = 2.0) -> None:
        normal = check_location(url)
        if normal == "sqlite":
            raise ValueError("RedisStore needs a redis:// or rediss:// URL")
        self._location = redacted(normal)
        parts = urlsplit(normal)
        self._password = unquote(parts.password) if parts.password else None
        self._clock = clock
        self._client = redis.Redis(
            host=parts.hostname or "", port=parts.port or 6379, db=int(parts.path[1:]),
            username=unquote(parts.username) if parts.username else None,
            password=self._password, ssl=parts.scheme == "rediss",
            socket_connect_timeout=connect_timeout, socket_timeout=timeout,
            # At most two retries, only when the connection dropped (a timed-out command may
            # have run): https://redis.readthedocs.io/en/stable/retry.html
            retry=Retry(ExponentialBackoff(cap=0.25, base=0.05), 2,
                        supported_errors=(redis.exceptions.ConnectionError,)),
        )
        self._claim = self._client.register_script(_CLAIM)
        self._advance = self._client.register_script(_ADVANCE)
        self._record = self._client.register_script(_RECORD)
        self._count = self._client.register_script(_COUNT)
        self._put = self._client.register_script(_PUT)
        try:
            with self._reaching():
                self._client.ping()
        except StoreError:
            self._client.close()
            raise

    @property
    def location(self) -> str:
        """The server's URL, any password replaced by ``***`` (for messages)."""
        return self._location

    # --- plumbing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _reaching(self) -> Iterator[None]:
        """Any redis-py error as ``StoreError``, one line, no password."""
        try:
            yield
        except (redis.exceptions.RedisError, OSError) as exc:
            raise StoreError(self._message(exc)) from None

    def _message(self, exc: BaseException) -> str:
        reason = _CONNECTING.sub("", str(exc)) or type(exc).__name__
        if self._password:
            reason = reason.replace(self._password, "***")
        reason = " ".join(reason.split()).rstrip(".")[:300]
        if isinstance(exc, redis.exceptions.ResponseError):
            return f"the state store {self.location} refused the operation: {reason}"
        return f"cannot reach the state store {self.location}: {reason}"

    def _now(self) -> float:
        return self._clock.now().timestamp()

    @staticmethod
    def _key(kind: str, namespace: str, key: str) -> str:
        return f"{PREFIX}{kind}:{checked(namespace)}:{digest(key).hex()}"

    @staticmethod
    def _document_key(name: str) -> str:
        return f"{PREFIX}doc:{checked(name)}"

    # --- one-time use -------------------------------------------------------------------------

    def claim(self, namespace: str, key: str, until: dt.datetime) -> bool:
        """True for the first caller (across all processes) until ``until``; False after."""
        name, now, end = self._key("claim", namespace, key), self._now(), until.timestamp()
        with self._reaching():
            done = self._claim(keys=[name], args=[repr(end), repr(now), _ttl_ms(end, now)])
        return int(done) == 1

    def claimed(self, namespace: str, key: str) -> bool:
        """Whether ``key`` is currently claimed (no side effect)."""
        name, now = self._key("claim", namespace, key), self._now()
        with self._reaching():
            stored = self._client.get(name)
        return stored is not None and float(stored) > now

    # --- high-water marks ---------------------------------------------------------------------

    def advance(self, namespace: str, key: str, value: int, until: dt.datetime) -> bool:
        """Raise ``key``'s mark to ``value``: True iff it was not already ``>= value``.

        One script, so exactly one of any number of concurrent callers (in any process)
        passing the same ``value`` succeeds, and a lower or equal value never succeeds after a
        higher one, until the mark expires at ``until`` (a successful call resets it; after it
        the key is as if never marked).
        """
        checked_int64(value)
        name, now, end = self._key("mark", namespace, key), self._now(), until.timestamp()
        with self._reaching():
            done = self._advance(keys=[name],
                                 args=[str(value), repr(end), repr(now), _ttl_ms(end, now)])
        return int(done) == 1

    # --- throttling ---------------------------------------------------------------------------

    def record_attempt(self, namespace: str, key: str) -> None:
        name, now = self._key("attempts", namespace, key), self._now()
        member = f"{now!r}/{secrets.token_hex(8)}"
        oldest_kept = now - ATTEMPTS_KEPT - PRUNE_GRACE
        with self._reaching():
            self._record(keys=[name], args=[repr(now), member, repr(oldest_kept),
                                            (ATTEMPTS_KEPT + PRUNE_GRACE) * 1000])

    def attempts(self, namespace: str, key: str, window: int) -> tuple[int, float]:
        """(count, seconds until the oldest one in the window leaves it)."""
        name, now = self._key("attempts", namespace, key), self._now()
        with self._reaching():
            count, oldest = self._count(keys=[name], args=[repr(float(now - window))])
        retry = (float(oldest) + window - now) if oldest is not None else 0.0
        return int(count), max(0.0, retry)

    def clear_attempts(self, namespace: str, key: str) -> None:
        name = self._key("attempts", namespace, key)
        with self._reaching():
            self._client.unlink(name)

    def clear(self) -> None:
        """Forget everything: claims, marks, attempts and documents (a simulator's
        ``reset``): every key under ``idp:`` (SCAN then UNLINK), and nothing else."""
        with self._reaching():
            batch: list[Any] = []
            for name in self._client.scan_iter(match=f"{PREFIX}*", count=_SCAN_BATCH):
                batch.append(name)
                if len(batch) >= _SCAN_BATCH:
                    self._client.unlink(*batch)
                    batch = []
            if batch:
                self._client.unlink(*batch)

    # --- versioned documents ------------------------------------------------------------------

    def document_version(self, name: str) -> int | None:
        """The document's version (``None``: there is none); one read."""
        with self._reaching():
            version = self._client.hget(self._document_key(name), "version")
        return None if version is None else int(version)

    def document(self, name: str) -> tuple[int, str, str] | None:
        """``(version, seed, body)`` of the named document, if there is one."""
        with self._reaching():
            version, seed, body = self._client.hmget(self._document_key(name),
                                                     ["version", "seed", "body"])
        if version is None:
            return None
        return int(version), _text(seed or b""), _text(body or b"")

    def put_document(self, name: str, *, seed: str, body: str,
                     expected: int | None) -> int | None:
        """Write the document if its version is still ``expected`` (``None``: if there is
        none yet); the new version, or ``None`` when another writer got there first."""
        too_long = keys.document_too_long(name, body, where="state store")
        if too_long is not None:
            raise StoreError(too_long)
        version = 1 if expected is None else expected + 1
        with self._reaching():
            done = self._put(keys=[self._document_key(name)],
                             args=["" if expected is None else str(expected), str(version),
                                   seed, body])
        return version if int(done) == 1 else None

    # --- the server ---------------------------------------------------------------------------

    def persistence_warning(self) -> str | None:
        """One line when the server would lose state: on a restart (neither the append-only
        file nor snapshots: ``CONFIG GET appendonly`` / ``save``), or under memory pressure
        (a ``maxmemory`` with an eviction policy: every claim has a TTL, so even the
        ``volatile-*`` policies may evict one, letting a redeemed assertion be used again;
        https://redis.io/docs/latest/develop/reference/eviction/). ``None`` when neither, or
        when ``CONFIG`` is not allowed (managed services rename or forbid it)."""
        try:
            config: dict[str, str] = {}
            for parameter in ("appendonly", "save", "maxmemory", "maxmemory-policy"):
                answer = self._client.config_get(parameter)
                config.update({_text(k): _text(v) for k, v in answer.items()})
        except redis.exceptions.ResponseError:  # unknown command, or NOPERM
            return None
        except (redis.exceptions.RedisError, OSError) as exc:
            raise StoreError(self._message(exc)) from None
        if config.get("appendonly", "").lower() != "yes" and not config.get("save", "").strip():
            return (f"the state store {self.location} keeps neither an append-only file nor "
                    f"snapshots: redemptions, one-time codes and IAM changes would be "
                    f"forgotten if it restarts; run it with --appendonly yes")
        policy = config.get("maxmemory-policy", "noeviction")
        if config.get("maxmemory", "0") not in ("", "0") and policy != "noeviction":
            return (f"the state store {self.location} evicts keys when full "
                    f"(maxmemory-policy {policy}): a redeemed assertion or a used one-time "
                    f"code could be accepted again; run it with --maxmemory-policy noeviction")
        return None

    def close(self) -> None:
        """Close the connection pool."""
        with contextlib.suppress(redis.exceptions.RedisError, OSError):
            self._client.close()
