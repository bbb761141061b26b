"""Time is injected, never patched: every time-dependent function takes a ``Clock``."""

from __future__ import annotations

import datetime as dt
import math
import threading
from typing import Final, Protocol

__all__ = ["Clock", "FixedClock", "SettableClock", "SystemClock", "format_instant",
           "parse_instant", "parse_zoned_instant", "wall_clock"]


class Clock(Protocol):
    """Something that says what time it is (always timezone-aware UTC)."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock for tests: stands still until told to move."""

    def __init__(self, at: dt.datetime | None = None) -> None:
        self._now = at or dt.datetime(2026, 1, 15, 12, 0, 0, tzinfo=dt.UTC)
        if self._now.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += dt.timedelta(seconds=seconds)


#: How far the simulated time may be from the real time (about 100 years either way).
MAX_DISTANCE: Final = dt.timedelta(days=100 * 366)


class SettableClock:
    """The simulator's clock: the real time shifted by an offset, or frozen at an instant.

    Every time-dependent check (assertion windows, credential expiry, TOTP, replay, sessions)
    reads one of these, so moving it moves both the IdP and the AWS side. Thread-safe: the
    ``Simulator``'s server thread reads it while a test moves it.

    * ``freeze(at=None)``: stand still at ``at`` (default: the current simulated time);
    * ``advance(seconds)``: move forward (or back, with a negative number), frozen or not;
    * ``resume()``: tick again from the current simulated time;
    * ``reset()``: back to the offset and frozen instant it was created with.
    """

    def __init__(self, *, offset: float = 0.0, frozen_at: dt.datetime | None = None,
                 source: Clock | None = None) -> None:
        self._source = source or SystemClock()
        self._lock = threading.Lock()
        self._initial = (float(offset), _aware(frozen_at) if frozen_at is not None else None)
        self._offset, self._frozen = self._initial
        self._within_range(self.now())

    def now(self) -> dt.datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return self._source.now() + dt.timedelta(seconds=self._offset)

    @property
    def frozen(self) -> bool:
        with self._lock:
            return self._frozen is not None

    @property
    def offset(self) -> float:
        """Seconds between the simulated time and the real time (now)."""
        with self._lock:
            if self._frozen is None:
                return self._offset
            return (self._frozen - self._source.now()).total_seconds()

    def freeze(self, at: dt.datetime | None = None) -> dt.datetime:
        """Stop the clock at ``at`` (timezone-aware) or at the current simulated time."""
        instant = _aware(at) if at is not None else self.now()
        with self._lock:
            self._frozen = self._within_range(instant)
        return instant

    def advance(self, seconds: float) -> dt.datetime:
        """Move the simulated time by ``seconds``; returns the new simulated time."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise TypeError(f"advance takes a number of seconds, not {seconds!r}")
        if not math.isfinite(seconds) or abs(seconds) > 2 * MAX_DISTANCE.total_seconds():
            raise ValueError(f"cannot advance the clock by {seconds} seconds: the simulated "
                             "time must stay within 100 years of the real time")
        step = dt.timedelta(seconds=float(seconds))
        with self._lock:
            if self._frozen is not None:
                self._frozen = self._within_range(self._frozen + step)
            else:
                self._within_range(self._source.now() + dt.timedelta(seconds=self._offset) + step)
                self._offset += step.total_seconds()
        return self.now()

    def _within_range(self, instant: dt.datetime) -> dt.datetime:
        """``instant``, or ``ValueError`` if it is more than ``MAX_DISTANCE`` from real time
        (beyond that, certificates and dates stop working; nothing has changed yet)."""
        if abs(instant - self._source.now()) > MAX_DISTANCE + dt.timedelta(days=1):
            raise ValueError(f"the simulated time must stay within 100 years of the real "
                             f"time, not {instant.isoformat()}")
        return instant

    def resume(self) -> dt.datetime:
        """Let a frozen clock tick again, from where it stood (no jump back to real time)."""
        with self._lock:
            if self._frozen is not None:
                self._offset = (self._frozen - self._source.now()).total_seconds()
                self._frozen = None
        return self.now()

    @property
    def wall(self) -> Clock:
        """The real clock underneath (what clients outside the simulation read)."""
        return self._source

    def reset(self) -> None:
        """Back to the offset and frozen instant given at construction."""
        with self._lock:
            self._offset, self._frozen = self._initial


def parse_zoned_instant(text: str, what: str) -> dt.datetime:
    """An ISO 8601 instant that names its time zone (``2030-01-01T00:00:00Z``), in UTC;
    ``ValueError`` naming ``what`` (the setting or field) otherwise."""
    shown = repr(text[:64])
    try:
        instant = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ValueError(f"{what} {shown} is not an ISO 8601 instant (for example "
                         "2030-01-01T00:00:00Z)") from None
    if instant.tzinfo is None:
        raise ValueError(f"{what} {shown} needs a time zone (Z or +HH:MM)")
    try:
        return instant.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 leaves datetime's range in UTC
        raise ValueError(f"{what} {shown} is out of range") from None


def wall_clock(clock: Clock) -> Clock:
    """The clock a client outside the simulation reads: the real one under a
    ``SettableClock``, else ``clock`` itself. Only for checks of the client's own clock
    (a SigV4 request's timestamp), never for the validity of what the simulator issued."""
    return clock.wall if isinstance(clock, SettableClock) else clock


def _aware(at: dt.datetime) -> dt.datetime:
    if not isinstance(at, dt.datetime):
        raise TypeError(f"the clock needs a datetime, not {at!r}")
    if at.tzinfo is None:
        raise ValueError("the clock needs a timezone-aware datetime (for example with "
                         "tzinfo=datetime.UTC)")
    return at.astimezone(dt.UTC)


def format_instant(when: dt.datetime) -> str:
    """``xs:dateTime`` in UTC with milliseconds and ``Z``, as ADFS writes it.

    Fractional seconds keep aws-google-auth's cache parser happy (``%Y-%m-%dT%H:%M:%S.%fZ``).
    """
    if when.tzinfo is not dt.UTC:
        when = when.astimezone(dt.UTC)
    if when.year < 1000:  # strftime's %Y does not pad such years; keep exactly its text
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    # Without strftime: the same text, a few times faster (every signed message has several).
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031 (the fastest spelling)
        when.year, when.month, when.day, when.hour, when.minute, when.second,
        when.microsecond // 1000)


def parse_instant(text: str) -> dt.datetime:
    """Parse an ``xs:dateTime`` (SAML requires UTC, SAML Core §1.3.3); raises ``ValueError``."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 leaves datetime's range
        raise ValueError(f"{text!r} is out of range") from None
