"""RFC 6238 codes: one step of drift, each code once, never an older code after a newer one."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest

from idp.authn.totp import TotpGuard
from idp.store import SqliteStore
from tests.support.demo import CAROL_SECRET


def test_totp_accepts_one_step_of_drift_but_not_two(clock, store):
    """RFC 6238 §5.2: the previous step is still accepted; older ones are not."""
    guard = TotpGuard(clock, store)
    old = pyotp.TOTP(CAROL_SECRET).at(clock.now())
    clock.advance(30)
    assert guard.check("u1", CAROL_SECRET, old) is None
    clock.advance(60)
    assert guard.check("u2", CAROL_SECRET, old) == "invalid"
    assert guard.check("u3", CAROL_SECRET, "12ab56") == "invalid"


@pytest.fixture
def guards(clock, store) -> Iterator[tuple[TotpGuard, TotpGuard]]:
    """Two guards on two connections to one state file, as two worker processes hold them."""
    other = SqliteStore(store.path, clock)
    yield TotpGuard(clock, store), TotpGuard(clock, other)
    other.close()


def code_at(clock, steps: int) -> str:
    """The code of the time step ``steps`` away from now."""
    return str(pyotp.TOTP(CAROL_SECRET).at(clock.now() + dt.timedelta(seconds=30 * steps)))


def test_a_code_is_accepted_once_in_any_worker(guards, clock):
    first, second = guards
    code = code_at(clock, 0)
    assert first.check("carol", CAROL_SECRET, code) is None
    assert second.check("carol", CAROL_SECRET, code) == "reused"
    assert first.check("carol", CAROL_SECRET, code) == "reused"
    assert second.check("dave", CAROL_SECRET, code) is None, "marks are per user"


def test_an_older_code_is_refused_after_a_newer_one(guards, clock):
    """After step N+1 is used, N-1 (still within the drift window) is refused, and N too."""
    first, second = guards
    assert first.check("carol", CAROL_SECRET, code_at(clock, +1)) is None
    assert second.check("carol", CAROL_SECRET, code_at(clock, -1)) == "reused"
    assert first.check("carol", CAROL_SECRET, code_at(clock, 0)) == "reused"
    assert second.check("carol", CAROL_SECRET, code_at(clock, +1)) == "reused"


def test_a_newer_code_is_accepted_after_an_older_one(guards, clock):
    first, second = guards
    assert first.check("carol", CAROL_SECRET, code_at(clock, -1)) is None
    assert second.check("carol", CAROL_SECRET, code_at(clock, +1)) is None
    assert first.check("carol", CAROL_SECRET, code_at(clock, 0)) == "reused"


def test_codes_keep_working_as_time_moves_on(guards, clock):
    """Each step's code once, step after step, alternating workers, long past any mark."""
    for step in range(6):
        guard = guards[step % 2]
        assert guard.check("carol", CAROL_SECRET, code_at(clock, 0)) is None, step
        assert guard.check("carol", CAROL_SECRET, code_at(clock, 0)) == "reused", step
        clock.advance(30 if step < 3 else 300)


def test_racing_submissions_of_one_code_are_accepted_exactly_once(guards, clock):
    """16 threads (8 per worker connection) submit the same code at the same instant."""
    racers = 16
    for round_ in range(3):
        code = code_at(clock, 0)
        barrier = threading.Barrier(racers)

        def submit(guard: TotpGuard, code: str = code,
                   barrier: threading.Barrier = barrier) -> str | None:
            barrier.wait()
            return guard.check("carol", CAROL_SECRET, code)

        with ThreadPoolExecutor(racers) as pool:
            outcomes = list(pool.map(submit, [guards[i % 2] for i in range(racers)]))
        assert outcomes.count(None) == 1, f"round {round_}: {outcomes}"
        assert outcomes.count("reused") == racers - 1, f"round {round_}: {outcomes}"
        clock.advance(30)
