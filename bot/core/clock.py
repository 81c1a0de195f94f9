"""Injected time: the whole bot asks a clock, never ``datetime.now()``.

Reminders, periods and expiries are then testable at any moment in
``Asia/Shanghai`` without sleeping.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time, timezone-aware."""

    tz: tzinfo

    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in the bot's timezone."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(timezone.utc).astimezone(self.tz)

    def today(self) -> date:
        return self.now().date()


class FixedClock:
    """A clock tests set and move by hand."""

    def __init__(self, at: datetime, tz: tzinfo | None = None) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self.tz = tz or at.tzinfo
        self._at = at.astimezone(self.tz)

    def now(self) -> datetime:
        return self._at

    def today(self) -> date:
        return self._at.date()

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(self.tz)

    def advance(self, delta: timedelta) -> None:
        self._at = self._at + delta
