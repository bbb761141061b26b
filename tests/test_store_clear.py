"""``StateStore.clear()``: a simulator's ``reset`` forgets every claim, mark and attempt, and
the store keeps working afterwards; with both backends (``clock`` comes from
``tests/conftest.py``, the Redis server from ``tests/support/redis_server.py``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from idp.clock import FixedClock
from idp.store import StateStore
from tests.support.redis_server import another, open_backend


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path,
          clock: FixedClock) -> Iterator[StateStore]:
    """A fresh store of each backend."""
    state = open_backend(request.param, request, tmp_path, clock)
    yield state
    state.close()


def later(clock: FixedClock, seconds: int = 300) -> dt.datetime:
    return clock.now() + dt.timedelta(seconds=seconds)


def fill(store: StateStore, clock: FixedClock) -> None:
    assert store.claim("assertion", "id-1", later(clock))
    assert store.advance("totp", "carol", 100, later(clock))
    store.record_attempt("login-user", "bob")
    store.record_attempt("login-user", "bob")


def test_clear_forgets_claims_marks_and_attempts(store: StateStore, clock: FixedClock) -> None:
    fill(store, clock)
    assert store.claimed("assertion", "id-1")
    assert not store.advance("totp", "carol", 100, later(clock))
    assert store.attempts("login-user", "bob", 60)[0] == 2

    store.clear()

    assert not store.claimed("assertion", "id-1")
    assert store.attempts("login-user", "bob", 60) == (0, 0.0)
    assert store.advance("totp", "carol", 100, later(clock))  # the mark is gone: 100 is new


def test_the_store_works_after_clear(store: StateStore, clock: FixedClock) -> None:
    fill(store, clock)
    store.clear()
    assert store.claim("assertion", "id-1", later(clock))
    assert not store.claim("assertion", "id-1", later(clock))  # one-time use again
    assert store.advance("totp", "carol", 5, later(clock))
    assert not store.advance("totp", "carol", 4, later(clock))
    store.record_attempt("login-user", "bob")
    assert store.attempts("login-user", "bob", 60)[0] == 1


def test_clear_on_an_empty_store_and_twice(store: StateStore, clock: FixedClock) -> None:
    store.clear()
    store.clear()
    assert store.claim("assertion", "x", later(clock))


def test_clear_is_seen_by_another_connection_to_the_same_file(store: StateStore,
                                                              request: pytest.FixtureRequest,
                                                              clock: FixedClock) -> None:
    """Workers share the state: one worker's clear is every worker's."""
    other = another(store, request, clock)
    try:
        fill(store, clock)
        assert other.claimed("assertion", "id-1")
        store.clear()
        assert not other.claimed("assertion", "id-1")
        assert other.attempts("login-user", "bob", 60) == (0, 0.0)
    finally:
        other.close()
