"""Time is injected, never patched: every time-dependent function takes a ``Clock``."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock", "format_instant", "parse_instant"]


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


def format_instant(when: dt.datetime) -> str:
    """``xs:dateTime`` in UTC with milliseconds and ``Z``, as ADFS writes it.

    Fractional seconds keep aws-google-auth's cache parser happy (``%Y-%m-%dT%H:%M:%S.%fZ``).
    """
    when = when.astimezone(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


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
