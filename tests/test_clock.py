"""``SettableClock``: the simulator's clock (offset from the real time, or frozen), and
``wall_clock``. The "real" time underneath is always a ``FixedClock`` here, so the real clock
never enters a test and every expected instant is exact."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from idp.clock import FixedClock, SettableClock, SystemClock, format_instant, wall_clock

REAL = dt.datetime(2026, 1, 15, 12, 0, 0, tzinfo=dt.UTC)
FROZEN = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)


def seconds(n: float) -> dt.timedelta:
    return dt.timedelta(seconds=n)


@pytest.fixture
def real() -> FixedClock:
    """The wall clock under the simulated one: moves only when a test moves it."""
    return FixedClock(REAL)


def test_ticks_with_the_real_clock_shifted_by_the_offset(real):
    clock = SettableClock(offset=90, source=real)
    assert clock.now() == REAL + seconds(90)
    assert clock.offset == 90.0
    assert not clock.frozen
    real.advance(10)
    assert clock.now() == REAL + seconds(100)
    assert clock.offset == 90.0


def test_a_new_clock_is_the_real_time(real):
    clock = SettableClock(source=real)
    assert clock.now() == REAL
    assert clock.offset == 0.0


def test_a_clock_created_frozen_stands_still(real):
    clock = SettableClock(frozen_at=FROZEN, source=real)
    assert clock.frozen
    real.advance(3600)
    assert clock.now() == FROZEN
    assert clock.offset == (FROZEN - real.now()).total_seconds()


def test_freeze_defaults_to_the_current_simulated_instant(real):
    clock = SettableClock(offset=-30, source=real)
    instant = clock.freeze()
    assert instant == REAL - seconds(30)
    real.advance(500)
    assert clock.now() == instant
    assert clock.frozen


def test_freeze_at_an_aware_instant_is_kept_in_utc(real):
    clock = SettableClock(source=real)
    paris = dt.timezone(dt.timedelta(hours=1))
    returned = clock.freeze(dt.datetime(2031, 1, 1, 1, 0, tzinfo=paris))
    assert returned == FROZEN and clock.now() == FROZEN
    assert clock.now().utcoffset() == dt.timedelta(0)


def test_freeze_at_a_naive_datetime_is_a_value_error_and_changes_nothing(real):
    clock = SettableClock(offset=5, source=real)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.freeze(dt.datetime(2031, 1, 1))
    assert not clock.frozen
    assert clock.now() == REAL + seconds(5)


def test_a_naive_frozen_at_is_refused_at_construction(real):
    with pytest.raises(ValueError, match="timezone-aware"):
        SettableClock(frozen_at=dt.datetime(2031, 1, 1), source=real)


def test_advance_while_frozen_moves_the_frozen_instant(real):
    clock = SettableClock(frozen_at=FROZEN, source=real)
    assert clock.advance(90) == FROZEN + seconds(90)
    real.advance(1000)
    assert clock.now() == FROZEN + seconds(90)
    assert clock.frozen


def test_advance_while_ticking_moves_the_offset(real):
    clock = SettableClock(offset=10, source=real)
    assert clock.advance(3600) == REAL + seconds(3610)
    assert clock.offset == 3610.0
    real.advance(1)
    assert clock.now() == REAL + seconds(3611)


@pytest.mark.parametrize("frozen_at", [None, FROZEN], ids=["ticking", "frozen"])
def test_negative_and_fractional_advance(real, frozen_at):
    clock = SettableClock(frozen_at=frozen_at, source=real)
    start = clock.now()
    assert clock.advance(-86400) == start - seconds(86400)
    assert clock.advance(0.25) == start - seconds(86400) + seconds(0.25)


def test_resume_continues_from_the_frozen_instant_without_jumping_back(real):
    clock = SettableClock(source=real)
    clock.freeze(FROZEN)
    real.advance(600)  # real time passes while frozen: the simulation does not see it
    assert clock.resume() == FROZEN
    assert not clock.frozen
    real.advance(5)
    assert clock.now() == FROZEN + seconds(5)
    assert clock.offset == (FROZEN - REAL - seconds(600)).total_seconds()


def test_resume_on_a_ticking_clock_changes_nothing(real):
    clock = SettableClock(offset=42, source=real)
    assert clock.resume() == REAL + seconds(42)
    assert clock.offset == 42.0


def test_reset_restores_the_offset_given_at_construction(real):
    clock = SettableClock(offset=30, source=real)
    clock.advance(1000)
    clock.freeze(FROZEN)
    clock.reset()
    assert not clock.frozen
    assert clock.now() == REAL + seconds(30)


def test_reset_restores_the_frozen_instant_given_at_construction(real):
    clock = SettableClock(offset=30, frozen_at=FROZEN, source=real)
    clock.advance(99)
    clock.resume()
    real.advance(7)
    clock.reset()
    assert clock.frozen and clock.now() == FROZEN
    # ... and the construction offset too: a later resume ticks from the frozen instant.
    assert clock.resume() == FROZEN


def test_wall_is_the_source_clock(real):
    clock = SettableClock(offset=10_000, source=real)
    assert clock.wall is real
    assert wall_clock(clock) is real
    assert isinstance(SettableClock().wall, SystemClock)


def test_wall_clock_of_any_other_clock_is_itself(real):
    assert wall_clock(real) is real


@pytest.mark.parametrize("frozen_at", [None, FROZEN], ids=["ticking", "frozen"])
def test_concurrent_advances_all_count(real, frozen_at):
    """Many threads advancing at once: no step is lost."""
    clock = SettableClock(frozen_at=frozen_at, source=real)
    start = clock.now()
    threads, steps = 8, 500
    barrier = threading.Barrier(threads)

    def work() -> None:
        barrier.wait()
        for _ in range(steps):
            clock.advance(1)
            clock.now()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert clock.now() == start + seconds(threads * steps)


@pytest.mark.parametrize("when", [
    dt.datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=-7))),
    dt.datetime(999, 1, 1, tzinfo=dt.UTC),
    dt.datetime(9999, 12, 31, 23, 59, 59, 1000, tzinfo=dt.UTC),
])
def test_format_instant_writes_what_strftime_would(when):
    """The fast spelling gives strftime's text exactly (milliseconds, ``Z``, UTC)."""
    utc = when.astimezone(dt.UTC)
    expected = utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    assert format_instant(when) == expected
