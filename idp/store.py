"""Small shared state for every worker process: one SQLite file in WAL mode.

What must be shared between workers (and survive a restart) is tiny and append-mostly:

- ``claim``: one-time use (assertion IDs at the console and STS, TOTP time steps): an atomic
  insert that succeeds for exactly one caller until the entry expires;
- ``attempts``: failed logins per user and per address, for throttling.

SQLite gives atomicity and crash safety (a SIGKILL mid-write leaves the previous committed
state); WAL lets readers and one writer work at once; ``busy_timeout`` makes concurrent
workers wait rather than fail. Everything here is bounded: rows expire and are pruned.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path
from typing import Final

from idp.clock import Clock
from idp.errors import StoreError

__all__ = ["StateStore"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS claims (
    namespace TEXT NOT NULL, key TEXT NOT NULL, until REAL NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE TABLE IF NOT EXISTS attempts (namespace TEXT NOT NULL, key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS attempts_by_key ON attempts (namespace, key, at);
"""
#: Prune expired rows on roughly one write in this many.
_PRUNE_EVERY: Final = 200


class StateStore:
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
            self._db.executescript(_SCHEMA)
            path.chmod(0o600)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the state file {path}: {exc}") from None

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

    def _prune(self) -> None:
        now = self._now()
        self._db.execute("DELETE FROM claims WHERE until <= ?", (now,))
        self._db.execute("DELETE FROM attempts WHERE at <= ?", (now - 86_400,))

    # --- one-time use ---------------------------------------------------------------------

    def claim(self, namespace: str, key: str, until: dt.datetime) -> bool:
        """True for the first caller (across all processes) until ``until``; False after."""
        now = self._now()
        cursor = self._write(
            "INSERT INTO claims (namespace, key, until) VALUES (?, ?, ?) "
            "ON CONFLICT (namespace, key) DO UPDATE SET until = excluded.until "
            "WHERE claims.until <= ?",
            (namespace, key, until.timestamp(), now),
        )
        return cursor.rowcount == 1

    def claimed(self, namespace: str, key: str) -> bool:
        """Whether ``key`` is currently claimed (no side effect)."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM claims WHERE namespace = ? AND key = ? AND until > ?",
                (namespace, key, self._now()),
            ).fetchone()
        return row is not None

    # --- throttling -----------------------------------------------------------------------

    def record_attempt(self, namespace: str, key: str) -> None:
        self._write("INSERT INTO attempts (namespace, key, at) VALUES (?, ?, ?)",
                    (namespace, key, self._now()))

    def attempts(self, namespace: str, key: str, window: int) -> tuple[int, float]:
        """(count, seconds until the oldest one in the window leaves it)."""
        now = self._now()
        with self._lock:
            count, oldest = self._db.execute(
                "SELECT COUNT(*), MIN(at) FROM attempts WHERE namespace = ? AND key = ? "
                "AND at > ?", (namespace, key, now - window),
            ).fetchone()
        retry = (oldest + window - now) if oldest is not None else 0.0
        return int(count), max(0.0, retry)

    def clear_attempts(self, namespace: str, key: str) -> None:
        self._write("DELETE FROM attempts WHERE namespace = ? AND key = ?", (namespace, key))

    def close(self) -> None:
        with self._lock:
            self._db.close()
