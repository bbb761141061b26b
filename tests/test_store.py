"""The shared state: one-time claims, high-water marks, attempts, documents; bounded whatever
the key. The behaviour tests run against both backends (``store[sqlite]``, ``store[redis]``: a
real redis-server, see ``tests/support/redis_server.py``); the file's own tests (size on disk,
migrating old files, reopening) against SQLite only. Redis-only tests: ``test_store_redis.py``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import idp.store.keys
from idp.clock import FixedClock
from idp.errors import StoreError
from idp.store import SqliteStore, StateStore
from tests.support.redis_server import another, open_backend

LONG = 250 * 1024
WRITES = 100


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path,
          clock: FixedClock) -> Iterator[StateStore]:
    """A fresh store of each backend."""
    state = open_backend(request.param, request, tmp_path, clock)
    yield state
    state.close()


@pytest.fixture
def second(store: StateStore, request: pytest.FixtureRequest,
           clock: FixedClock) -> Iterator[StateStore]:
    """Another connection to the same state, as a second worker process would hold."""
    other = another(store, request, clock)
    yield other
    other.close()


@pytest.fixture
def sqlite_store(tmp_path: Path, clock: FixedClock) -> Iterator[SqliteStore]:
    """The state file itself, for the tests of what it holds on disk."""
    state = SqliteStore(tmp_path / "state.sqlite3", clock)
    yield state
    state.close()


def later(clock: FixedClock, seconds: int = 60) -> dt.datetime:
    return clock.now() + dt.timedelta(seconds=seconds)


def on_disk(path: Path) -> int:
    """Bytes the state file holds once the WAL is checkpointed into it."""
    with sqlite3.connect(path, timeout=10) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def long_key(i: int) -> str:
    """250 KB keys that differ only in their last characters."""
    return "u" * LONG + f"{i:04d}"


# --- claims -----------------------------------------------------------------------------------


def test_a_claim_succeeds_once_across_connections_until_it_expires(store: StateStore,
                                                                   second: StateStore,
                                                                   clock: FixedClock) -> None:
    assert store.claim("assertion", "id-1", later(clock))
    assert not second.claim("assertion", "id-1", later(clock))
    assert second.claimed("assertion", "id-1") and not second.claimed("assertion", "id-2")
    assert not store.claimed("console-logout", "id-1"), "namespaces are separate"
    clock.advance(60)
    assert not store.claimed("assertion", "id-1")
    assert second.claim("assertion", "id-1", later(clock))


# --- high-water marks -------------------------------------------------------------------------


def test_a_mark_only_moves_up(store: StateStore, second: StateStore, clock: FixedClock) -> None:
    assert store.advance("totp-step", "carol", 10, later(clock))
    assert not second.advance("totp-step", "carol", 10, later(clock)), "equal is not higher"
    assert not second.advance("totp-step", "carol", 9, later(clock))
    assert second.advance("totp-step", "carol", 11, later(clock))
    assert not store.advance("totp-step", "carol", 10, later(clock))
    assert store.advance("totp-step", "dave", 1, later(clock)), "keys are separate"
    assert store.advance("other", "carol", 1, later(clock)), "namespaces are separate"


def test_an_expired_mark_is_as_if_never_set(store: StateStore, clock: FixedClock) -> None:
    assert store.advance("totp-step", "carol", 10, later(clock, 30))
    clock.advance(30)
    assert store.advance("totp-step", "carol", 3, later(clock, 30))
    assert not store.advance("totp-step", "carol", 3, later(clock, 30))


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, True, 1.5])
def test_a_mark_is_a_64_bit_integer(store: StateStore, clock: FixedClock, value: Any) -> None:
    with pytest.raises(ValueError, match="64-bit"):
        store.advance("totp-step", "carol", value, later(clock))


def race(calls: Sequence[Callable[[], bool]]) -> list[bool]:
    """Run every call at once (threads released together); their results in order."""
    results: list[bool | None] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(r is not None for r in results)
    return [bool(r) for r in results]


def test_racing_advances_to_the_same_value_succeed_exactly_once(store: StateStore,
                                                                second: StateStore,
                                                                clock: FixedClock) -> None:
    for round_ in range(5):
        calls = [partial(s.advance, "totp-step", "carol", round_, later(clock))
                 for s in (store, second) * 8]
        assert race(calls).count(True) == 1, f"round {round_}"


def test_racing_claims_of_one_key_succeed_exactly_once(store: StateStore, second: StateStore,
                                                       clock: FixedClock) -> None:
    for round_ in range(5):
        calls = [partial(s.claim, "assertion", f"id-{round_}", later(clock))
                 for s in (store, second) * 8]
        assert race(calls).count(True) == 1, f"round {round_}"


def test_a_mark_keeps_all_64_bits(store: StateStore, clock: FixedClock) -> None:
    """Near 2**63 neighbours differ (Redis's Lua numbers are doubles: compared as text)."""
    top = 2**63 - 1
    assert store.advance("totp-step", "carol", top - 1, later(clock))
    assert store.advance("totp-step", "carol", top, later(clock))
    assert not store.advance("totp-step", "carol", top - 1, later(clock))
    assert store.advance("totp-step", "dave", -(2**63), later(clock))
    assert store.advance("totp-step", "dave", -(2**63) + 1, later(clock))
    assert not store.advance("totp-step", "dave", -(2**63), later(clock))
    assert store.advance("totp-step", "erin", -10, later(clock))
    assert store.advance("totp-step", "erin", -5, later(clock))
    assert not store.advance("totp-step", "erin", -9, later(clock))
    assert store.advance("totp-step", "erin", 0, later(clock))
    assert store.advance("totp-step", "erin", 9, later(clock))
    assert not store.advance("totp-step", "erin", 8, later(clock))
    assert store.advance("totp-step", "erin", 10, later(clock))


def test_attempts_count_within_the_window_and_say_when_the_oldest_leaves(
        store: StateStore, clock: FixedClock) -> None:
    store.record_attempt("login-user", "bob")
    clock.advance(10)
    store.record_attempt("login-user", "bob")
    store.record_attempt("login-user", "bob")
    assert store.attempts("login-user", "bob", 60) == (3, 50.0)
    assert store.attempts("login-user", "bob", 5) == (2, 5.0)
    assert store.attempts("login-addr", "bob", 60) == (0, 0.0), "namespaces are separate"
    clock.advance(50)
    assert store.attempts("login-user", "bob", 60) == (2, 10.0)
    clock.advance(10)
    assert store.attempts("login-user", "bob", 60) == (0, 0.0)


# --- keys are stored as fixed-size digests ----------------------------------------------------


def test_a_250_kb_key_costs_a_fixed_few_bytes_in_every_table(sqlite_store: SqliteStore,
                                                             clock: FixedClock) -> None:
    """A 250 KB username used to grow the file by ~0.5 MB per failed login (key + index)."""
    store = sqlite_store
    before = on_disk(store.path)
    for i in range(WRITES):
        key = long_key(i)
        assert store.claim("assertion", key, later(clock))
        assert store.advance("totp-step", key, 1, later(clock))
        store.record_attempt("login-user", key)
    grown = on_disk(store.path) - before
    print(f"{grown} bytes for {3 * WRITES} writes of {LONG}-character keys")
    assert grown < WRITES * 3 * 1024, f"{grown} bytes for {3 * WRITES} writes"


def test_long_keys_still_find_their_own_rows_and_no_one_elses(
        store: StateStore, second: StateStore, clock: FixedClock) -> None:
    first, other = long_key(1), long_key(2)
    assert store.claim("assertion", first, later(clock))
    assert second.claimed("assertion", first) and not second.claimed("assertion", other)
    assert not second.claim("assertion", first, later(clock))
    assert second.claim("assertion", other, later(clock))

    assert store.advance("totp-step", first, 5, later(clock))
    assert not second.advance("totp-step", first, 5, later(clock))
    assert second.advance("totp-step", other, 5, later(clock))

    for _ in range(3):
        store.record_attempt("login-user", first)
    second.record_attempt("login-user", other)
    assert store.attempts("login-user", first, 300)[0] == 3
    assert second.attempts("login-user", other, 300)[0] == 1
    second.clear_attempts("login-user", first)
    assert store.attempts("login-user", first, 300) == (0, 0.0)
    assert store.attempts("login-user", other, 300)[0] == 1


def test_no_key_is_stored_verbatim(sqlite_store: SqliteStore, clock: FixedClock) -> None:
    store = sqlite_store
    store.claim("assertion", "secret-looking-id", later(clock))
    store.advance("totp-step", "carol", 1, later(clock))
    store.record_attempt("login-user", "mallory")
    with sqlite3.connect(store.path) as conn:
        for query in ("SELECT typeof(key), length(key) FROM claims_v2",
                      "SELECT typeof(key), length(key) FROM marks",
                      "SELECT typeof(key), length(key) FROM attempts_v2"):
            assert conn.execute(query).fetchall() == [("blob", 32)], query
    conn.close()
    for path in (store.path, store.path.with_name(store.path.name + "-wal")):
        assert b"mallory" not in path.read_bytes(), path


def test_any_str_is_a_key_even_a_lone_surrogate(store: StateStore, clock: FixedClock) -> None:
    """Request text may hold lone surrogates; they are keys like any other, not errors."""
    assert store.claim("assertion", "\udcff", later(clock))
    assert store.claimed("assertion", "\udcff") and not store.claimed("assertion", "\udcfe")
    assert not store.claimed("assertion", "")


@pytest.mark.parametrize("namespace", ["", "x" * 33, "Login", "login user", "ns\n", "é"])
def test_namespaces_are_short_identifiers(store: StateStore, clock: FixedClock,
                                          namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        store.claim(namespace, "k", later(clock))
    with pytest.raises(ValueError, match="namespace"):
        store.record_attempt(namespace, "k")
    with pytest.raises(ValueError, match="namespace"):
        store.advance(namespace, "k", 1, later(clock))


# --- upgrading a file written by the raw-key schema -------------------------------------------

_OLD_SCHEMA = """
CREATE TABLE claims (
    namespace TEXT NOT NULL, key TEXT NOT NULL, until REAL NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE TABLE attempts (namespace TEXT NOT NULL, key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX attempts_by_key ON attempts (namespace, key, at);
"""


def test_an_old_state_file_opens_and_keeps_its_live_entries(tmp_path: Path,
                                                            clock: FixedClock) -> None:
    """Live claims (e.g. a signed-out console cookie) and recent failures survive the upgrade;
    the raw-key tables, expired rows and 250 KB keys do not."""
    path = tmp_path / "old.sqlite3"
    now = clock.now().timestamp()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_OLD_SCHEMA)
        conn.executemany("INSERT INTO claims VALUES (?, ?, ?)", [
            ("console-logout", "ASIAEXAMPLE", now + 3600),
            ("assertion", "stale", now - 1),
        ])
        conn.executemany("INSERT INTO attempts VALUES (?, ?, ?)", [
            ("login-user", "x" * LONG, now - 10), ("login-user", "x" * LONG, now - 20),
            ("login-user", "bob", now - 90_000),
        ])
    conn.close()

    state = SqliteStore(path, clock)
    try:
        assert state.claimed("console-logout", "ASIAEXAMPLE")
        assert not state.claim("console-logout", "ASIAEXAMPLE", later(clock))
        assert not state.claimed("assertion", "stale")
        assert state.attempts("login-user", "x" * LONG, 300)[0] == 2
        assert state.attempts("login-user", "bob", 100_000)[0] == 0
    finally:
        state.close()
    with sqlite3.connect(path) as conn:
        tables = {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"claims_v2", "attempts_v2", "marks", "documents"}
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    reopened = SqliteStore(path, clock)  # and again: nothing left to migrate
    try:
        assert reopened.claimed("console-logout", "ASIAEXAMPLE")
    finally:
        reopened.close()


def test_a_claim_survives_pruning_when_the_clock_moves_forward_and_back(
        store: StateStore, clock: FixedClock) -> None:
    """A simulated clock moved two hours ahead and back (Simulator.clock) still finds an
    assertion redeemed before: pruning keeps expired rows for a day."""
    start = clock.now()
    assert store.claim("assertion", "redeemed", start + dt.timedelta(minutes=6))
    clock.advance(7200)
    for n in range(450):  # enough writes to prune more than once
        store.claim("assertion", f"other-{n}", clock.now() + dt.timedelta(minutes=6))
    clock.advance(-7200)
    assert store.claimed("assertion", "redeemed")
    assert not store.claim("assertion", "redeemed", start + dt.timedelta(minutes=6))


# --- versioned documents (the IAM twin's state) --------------------------------------------

def test_a_document_is_written_once_then_only_over_the_version_read(store: StateStore,
                                                                    second: StateStore) -> None:
    """Compare-and-set: of two workers writing over version 1, exactly one wins."""
    assert store.document("iam") is None and store.document_version("iam") is None
    assert store.put_document("iam", seed="s", body="{}", expected=None) == 1
    assert second.put_document("iam", seed="s", body="{}", expected=None) is None
    assert store.put_document("iam", seed="s", body='{"a":1}', expected=1) == 2
    assert second.put_document("iam", seed="s", body='{"b":1}', expected=1) is None
    assert second.document("iam") == (2, "s", '{"a":1}')
    assert second.document_version("iam") == 2


def test_documents_are_cleared_with_the_rest(store: StateStore) -> None:
    store.put_document("iam", seed="s", body="{}", expected=None)
    store.clear()
    assert store.document("iam") is None


def test_a_document_past_the_limit_is_refused_and_nothing_changes(
        store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idp.store.keys, "MAX_DOCUMENT_CHARS", 10)
    store.put_document("iam", seed="s", body="{}", expected=None)
    with pytest.raises(StoreError, match="at most 10"):
        store.put_document("iam", seed="s", body="x" * 11, expected=1)
    assert store.document("iam") == (1, "s", "{}")


def test_a_document_survives_reopening_the_file(sqlite_store: SqliteStore,
                                                clock: FixedClock) -> None:
    store = sqlite_store
    store.put_document("iam", seed="s", body='{"k":"v"}', expected=None)
    store.close()
    again = SqliteStore(store.path, clock)
    try:
        assert again.document("iam") == (1, "s", '{"k":"v"}')
    finally:
        again.close()
