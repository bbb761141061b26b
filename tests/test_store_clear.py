"""``StateStore.clear()``: a simulator's ``reset`` forgets every claim, mark and attempt, and
the store keeps working afterwards (``store`` and ``clock`` come from ``tests/conftest.py``)."""

from __future__ import annotations

import datetime as dt

from idp.clock import FixedClock
from idp.store import StateStore


def later(clock: FixedClock, seconds: int = 300) -> dt.datetime:
    return clock.now() + dt.timedelta(seconds=seconds)


def fill(store: StateStore, clock: FixedClock) -> None:
    assert store.claim("assertion", "id-1", later(clock))
    assert store.advance("totp", "carol", 100, later(clock))
    store.record_attempt("login-user", "bob")
    store.record_attempt("login-user", "bob")


def test_clear_forgets_claims_marks_and_attempts(store, clock):
    fill(store, clock)
    assert store.claimed("assertion", "id-1")
    assert not store.advance("totp", "carol", 100, later(clock))
    assert store.attempts("login-user", "bob", 60)[0] == 2

    store.clear()

    assert not store.claimed("assertion", "id-1")
    assert store.attempts("login-user", "bob", 60) == (0, 0.0)
    assert store.advance("totp", "carol", 100, later(clock))  # the mark is gone: 100 is new


def test_the_store_works_after_clear(store, clock):
    fill(store, clock)
    store.clear()
    assert store.claim("assertion", "id-1", later(clock))
    assert not store.claim("assertion", "id-1", later(clock))  # one-time use again
    assert store.advance("totp", "carol", 5, later(clock))
    assert not store.advance("totp", "carol", 4, later(clock))
    store.record_attempt("login-user", "bob")
    assert store.attempts("login-user", "bob", 60)[0] == 1


def test_clear_on_an_empty_store_and_twice(store, clock):
    store.clear()
    store.clear()
    assert store.claim("assertion", "x", later(clock))


def test_clear_is_seen_by_another_connection_to_the_same_file(store, clock):
    """Workers share the file: one worker's clear is every worker's."""
    other = StateStore(store.path, clock)
    try:
        fill(store, clock)
        assert other.claimed("assertion", "id-1")
        store.clear()
        assert not other.claimed("assertion", "id-1")
        assert other.attempts("login-user", "bob", 60) == (0, 0.0)
    finally:
        other.close()
