"""The SQLite state backend (the default): one file in WAL mode shared by every worker process.

What the operations mean (``claim``, ``advance``, ``attempts``, the versioned documents) is
``idp.store.StateStore``'s contract; this is how one SQLite file keeps it.

SQLite gives atomicity and crash safety (a SIGKILL mid-write leaves the previous committed
state); WAL lets readers and one writer work at once; ``busy_timeout`` makes concurrent
workers wait rather than fail. Each operation is one SQL statement, so it is atomic across
threads and processes without an explicit transaction.

Everything here is bounded, whatever callers pass. Rows expire and are pruned. Keys often come
from requests (usernames, client addresses, assertion IDs), so no key is stored verbatim: every
table holds the 32-byte SHA-256 digest of the key (UTF-8; lone surrogates via
``surrogatepass``, so no ``str`` is refused). Lookups digest the key the same way, so they work
with keys of any length, and SHA-256's collision resistance keeps different keys apart.
Namespaces are constants in code and must be short identifiers (``ValueError`` otherwise). The
schema enforces both (``CHECK`` on digest and namespace length), so a row has a fixed maximum
size now and for any later caller.

Upgrading an older state file: the old tables ``claims`` and ``attempts`` held raw keys. The
digest-keyed tables have new names (``claims_v2``, ``attempts_v2``, plus the new ``marks``),
so the old columns never mix with digests. On open, inside one ``BEGIN IMMEDIATE`` transaction
(so concurrent workers starting together migrate once), live rows of the old tables are copied
with their keys digested and the old tables are dropped. Migrating rather than letting old rows
lapse keeps a redeemed assertion or a signed-out console cookie refused across the upgrade
(sign-outs last as long as the session's credentials). Old TOTP step claims are copied too but
the TOTP check now reads ``marks``, so for at most ~90 seconds after the upgrade a code used just
before it could be used once more. Dropping the old tables assumes the workers sharing the file
are upgraded together (``idp serve`` restarts all of them); a process still running the old code
would then fail its writes.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path
from typing import Any, Final

from idp.clock import Clock
from idp.errors import StoreError
from idp.store import keys
from idp.store.keys import ATTEMPTS_KEPT, PRUNE_GRACE, checked, checked_int64, digest

__all__ = ["SqliteStore"]

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS claims_v2 (
        namespace TEXT NOT NULL CHECK (length(namespace) BETWEEN 1 AND 32),
        key BLOB NOT NULL CHECK (typeof(key) = 'blob' AND length(key) = 32),
        until REAL NOT NULL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS attempts_v2 (
        namespace TEXT NOT NULL CHECK (length(namespace) BETWEEN 1 AND 32),
        key BLOB NOT NULL CHECK (typeof(key) = 'blob' AND length(key) = 32),
        at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS attempts_v2_by_key ON attempts_v2 (namespace, key, at)",
    """CREATE TABLE IF NOT EXISTS marks (
        namespace TEXT NOT NULL CHECK (length(namespace) BETWEEN 1 AND 32),
        key BLOB NOT NULL CHECK (typeof(key) = 'blob' AND length(key) = 32),
        value INTEGER NOT NULL,
        until REAL NOT NULL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS documents (
        name TEXT NOT NULL PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 32),
        version INTEGER NOT NULL,
        seed TEXT NOT NULL CHECK (length(seed) <= 128),
        body TEXT NOT NULL
    ) WITHOUT ROWID""",
)
#: Tables of the first schema (raw keys), migrated then dropped on open.
_LEGACY: Final = {
    "claims": "INSERT OR IGNORE INTO claims_v2 (namespace, key, until) "
              "SELECT namespace, idp_digest(key), until FROM claims "
              "WHERE until > ? AND length(namespace) BETWEEN 1 AND 32",
    "attempts": "INSERT INTO attempts_v2 (namespace, key, at) "
                "SELECT namespace, idp_digest(key), at FROM attempts "
                "WHERE at > ? AND length(namespace) BETWEEN 1 AND 32",
}
#: Prune expired rows on roughly one write in this many.
_PRUNE_EVERY: Final = 200


def _legacy_digest(key: object) -> bytes:
    return digest(key if isinstance(key, str) else str(key))


class SqliteStore:
    """The shared state file (``DATA_DIR/state.sqlite3``), safe across threads and processes."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._writes = 0
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=10, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._create_and_migrate()
            path.chmod(0o600)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the state file {path}: {exc}") from None

    @property
    def location(self) -> str:
        """The state file's path (for messages)."""
        return str(self.path)

    def _create_and_migrate(self) -> None:
        """The current tables; rows of the raw-key tables copied with digested keys."""
        db = self._db
        db.create_function("idp_digest", 1, _legacy_digest, deterministic=True)
        now = self._now()
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                db.execute(statement)
            for table, copy in _LEGACY.items():
                exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                    "AND name = ?", (table,)).fetchone()
                if exists:
                    since = now if table == "claims" else now - ATTEMPTS_KEPT
                    db.execute(copy, (since,))
                    db.execute(f"DROP TABLE {table}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _write(self, sql: str, args: tuple[object, ...]) -> sqlite3.Cursor:
        try:
            with self._lock:
                cursor = self._db.execute(sql, args)
                self._writes += 1
                if self._writes % _PRUNE_EVERY == 0:
                    self._prune()
                return cursor
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the state file {self.path}: {exc}") from None

    def _read(self, sql: str, args: tuple[object, ...]) -> Any:
        """The first row (``None`` if there is none)."""
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the state file {self.path}: {exc}") from None

    def _prune(self) -> None:
        # A day's grace: a simulated clock moved forward and back again (Simulator.clock,
        # the admin API) still finds what expired only in the moved time.
        now = self._now() - PRUNE_GRACE
        self._db.execute("DELETE FROM claims_v2 WHERE until <= ?", (now,))
        self._db.execute("DELETE FROM marks WHERE until <= ?", (now,))
        self._db.execute("DELETE FROM attempts_v2 WHERE at <= ?", (now - ATTEMPTS_KEPT,))

    # --- one-time use ---------------------------------------------------------------------

    def claim(self, namespace: str, key: str, until: dt.datetime) -> bool:
        """True for the first caller (across all processes) until ``until``; False after."""
        cursor = self._write(
            "INSERT INTO claims_v2 (namespace, key, until) VALUES (?, ?, ?) "
            "ON CONFLICT (namespace, key) DO UPDATE SET until = excluded.until "
            "WHERE claims_v2.until <= ?",
            (checked(namespace), digest(key), until.timestamp(), self._now()),
        )
        return cursor.rowcount == 1

    def claimed(self, namespace: str, key: str) -> bool:
        """Whether ``key`` is currently claimed (no side effect)."""
        row = self._read(
            "SELECT 1 FROM claims_v2 WHERE namespace = ? AND key = ? AND until > ?",
            (checked(namespace), digest(key), self._now()),
        )
        return row is not None

    # --- high-water marks -----------------------------------------------------------------

    def advance(self, namespace: str, key: str, value: int, until: dt.datetime) -> bool:
        """Raise ``key``'s mark to ``value``: True iff it was not already ``>= value``.

        One statement, so exactly one of any number of concurrent callers (in any process)
        passing the same ``value`` succeeds, and a lower or equal value never succeeds after a
        higher one, until the mark expires at ``until`` (a successful call resets it; after it
        the key is as if never marked).
        """
        checked_int64(value)
        cursor = self._write(
            "INSERT INTO marks (namespace, key, value, until) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (namespace, key) DO UPDATE "
            "SET value = excluded.value, until = excluded.until "
            "WHERE marks.value < excluded.value OR marks.until <= ?",
            (checked(namespace), digest(key), value, until.timestamp(), self._now()),
        )
        return cursor.rowcount == 1

    # --- throttling -----------------------------------------------------------------------

    def record_attempt(self, namespace: str, key: str) -> None:
        self._write("INSERT INTO attempts_v2 (namespace, key, at) VALUES (?, ?, ?)",
                    (checked(namespace), digest(key), self._now()))

    def attempts(self, namespace: str, key: str, window: int) -> tuple[int, float]:
        """(count, seconds until the oldest one in the window leaves it)."""
        now = self._now()
        row = self._read(
            "SELECT COUNT(*), MIN(at) FROM attempts_v2 WHERE namespace = ? AND key = ? "
            "AND at > ?", (checked(namespace), digest(key), now - window),
        )
        count, oldest = row
        retry = (oldest + window - now) if oldest is not None else 0.0
        return int(count), max(0.0, retry)

    def clear_attempts(self, namespace: str, key: str) -> None:
        self._write("DELETE FROM attempts_v2 WHERE namespace = ? AND key = ?",
                    (checked(namespace), digest(key)))

    def clear(self) -> None:
        """Forget everything: claims, marks, attempts and documents (a simulator's
        ``reset``)."""
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for table in ("claims_v2", "marks", "attempts_v2", "documents"):
                        self._db.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the state file {self.path}: {exc}") from None

    # --- versioned documents ----------------------------------------------------------------

    def document_version(self, name: str) -> int | None:
        """The document's version (``None``: there is none); one indexed read."""
        row = self._read("SELECT version FROM documents WHERE name = ?", (checked(name),))
        return None if row is None else int(row[0])

    def document(self, name: str) -> tuple[int, str, str] | None:
        """``(version, seed, body)`` of the named document, if there is one."""
        row = self._read("SELECT version, seed, body FROM documents WHERE name = ?",
                         (checked(name),))
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))

    def put_document(self, name: str, *, seed: str, body: str,
                     expected: int | None) -> int | None:
        """Write the document if its version is still ``expected`` (``None``: if there is
        none yet); the new version, or ``None`` when another writer got there first."""
        too_long = keys.document_too_long(name, body, where="state file")
        if too_long is not None:
            raise StoreError(too_long)
        if expected is None:
            cursor = self._write("INSERT OR IGNORE INTO documents (name, version, seed, body) "
                                 "VALUES (?, 1, ?, ?)", (checked(name), seed, body))
            return 1 if cursor.rowcount == 1 else None
        cursor = self._write("UPDATE documents SET version = version + 1, seed = ?, body = ? "
                             "WHERE name = ? AND version = ?",
                             (seed, body, checked(name), expected))
        return expected + 1 if cursor.rowcount == 1 else None

    def persistence_warning(self) -> str | None:
        """``None``: the file keeps every committed write across a restart of the process."""
        return None

    def close(self) -> None:
        with self._lock:
            self._db.close()
