"""Reporting periods, due dates and locks, as pure functions of an injected time.

A report is filed under a period: a month (``2026-11``), a quarter
(``2026-Q4``), a school semester (``2026-S1`` = spring, Feb–Jul;
``2026-S2`` = autumn, Aug 2026–Jan 2027) or a year (``2026``). Event forms
(harvests) are filed under their ``event_period``.

Nothing here reads the clock: callers pass ``now`` (an aware datetime) and the
office's time zone, so every rule is testable at any date. Dates such as "due
on 5 December" mean the whole of that day in the office's zone, not in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from bot.core.catalogue import Cadence, Form
from bot.core.i18n import t

__all__ = [
    "DEFAULT_TZ",
    "Period",
    "PeriodState",
    "default_period",
    "due_date",
    "filed_while_running",
    "is_late",
    "is_over",
    "is_locked",
    "local_date",
    "lock_date",
    "parse_period",
    "period_of",
    "period_state",
    "periods_between",
    "reportable_periods",
    "year_periods",
]

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")

# School years in China: spring semester from February, autumn from August;
# January belongs to the autumn semester that began the previous August.
_SPRING_START_MONTH = 2
_AUTUMN_START_MONTH = 8


@dataclass(frozen=True, order=True)
class Period:
    """A span of days a report covers; ``end`` is inclusive."""

    cadence: Cadence
    start: date
    end: date

    @property
    def key(self) -> str:
        """Stable text key: ``2026-11``, ``2026-Q4``, ``2026-S1``, ``2026-S2``, ``2026``."""
        year = self.start.year
        match self.cadence:
            case Cadence.MONTHLY:
                return f"{year}-{self.start.month:02d}"
            case Cadence.QUARTERLY:
                return f"{year}-Q{(self.start.month - 1) // 3 + 1}"
            case Cadence.SEMESTER:
                return f"{year}-S{1 if self.start.month == _SPRING_START_MONTH else 2}"
            case Cadence.YEARLY:
                return str(year)
        raise ValueError(f"no periods for cadence {self.cadence!r}")

    def label(self, lang: str | None = None) -> str:
        """Human name: ``2026年11月`` / ``November 2026``, ``2026年第四季度`` / ``Q4 2026``, ..."""
        year = self.start.year
        match self.cadence:
            case Cadence.MONTHLY:
                month = self.start.month
                name = t(lang, "period.month_names").split(",")[month - 1]
                return t(lang, "period.monthly", year=year, month=month, month_name=name)
            case Cadence.QUARTERLY:
                quarter = (self.start.month - 1) // 3 + 1
                name = t(lang, "period.quarter_names").split(",")[quarter - 1]
                return t(lang, "period.quarterly", year=year, quarter=quarter, quarter_name=name)
            case Cadence.SEMESTER:
                if self.start.month == _SPRING_START_MONTH:
                    return t(lang, "period.semester_spring", year=year)
                return t(lang, "period.semester_autumn", year=year, next_year_short=f"{(year + 1) % 100:02d}")
            case Cadence.YEARLY:
                return t(lang, "period.yearly", year=year)
        raise ValueError(f"no periods for cadence {self.cadence!r}")

    def next(self) -> Period:
        """The period right after this one."""
        return period_of(self.cadence, self.end + timedelta(days=1))

    def previous(self) -> Period:
        """The period right before this one."""
        return period_of(self.cadence, self.start - timedelta(days=1))

    def contains(self, day: date) -> bool:
        """True if ``day`` falls within this period."""
        return self.start <= day <= self.end


def _month_end(year: int, month: int) -> date:
    """Last day of a month (leap Februaries included)."""
    first_of_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return first_of_next - timedelta(days=1)


def _require_period_cadence(cadence: Cadence) -> None:
    if cadence is Cadence.EVENT:
        raise ValueError("'event' is not a period cadence; use the form's period_cadence (its event_period)")


def period_of(cadence: Cadence, day: date) -> Period:
    """The period of ``cadence`` that contains ``day``."""
    _require_period_cadence(cadence)
    year, month = day.year, day.month
    match cadence:
        case Cadence.MONTHLY:
            return Period(cadence, date(year, month, 1), _month_end(year, month))
        case Cadence.QUARTERLY:
            first = (month - 1) // 3 * 3 + 1
            return Period(cadence, date(year, first, 1), _month_end(year, first + 2))
        case Cadence.SEMESTER:
            if month < _SPRING_START_MONTH:
                year -= 1  # January closes the autumn semester that began last August
            elif month < _AUTUMN_START_MONTH:
                return Period(cadence, date(year, _SPRING_START_MONTH, 1), _month_end(year, _AUTUMN_START_MONTH - 1))
            return Period(cadence, date(year, _AUTUMN_START_MONTH, 1), _month_end(year + 1, _SPRING_START_MONTH - 1))
        case Cadence.YEARLY:
            return Period(cadence, date(year, 1, 1), date(year, 12, 31))
    raise ValueError(f"unknown cadence {cadence!r}")


_KEY_PATTERNS = {
    Cadence.MONTHLY: (re.compile(r"(\d{4})-(\d{2})"), "2026-11"),
    Cadence.QUARTERLY: (re.compile(r"(\d{4})-Q(\d)"), "2026-Q4"),
    Cadence.SEMESTER: (re.compile(r"(\d{4})-S(\d)"), "2026-S1 (spring) or 2026-S2 (autumn)"),
    Cadence.YEARLY: (re.compile(r"(\d{4})()"), "2026"),
}


def parse_period(cadence: Cadence, key: str) -> Period:
    """The period whose ``.key`` is ``key``; ValueError for a malformed key or another cadence's key."""
    _require_period_cadence(cadence)
    pattern, example = _KEY_PATTERNS[cadence]
    match = pattern.fullmatch(key)
    if match is None:
        raise ValueError(f"{key!r} is not a {cadence.value} period key (expected e.g. {example})")
    year = int(match[1])
    if year < 1:
        raise ValueError(f"{key!r}: year must be 0001 or later")
    number = int(match[2]) if match[2] else 1
    match cadence:
        case Cadence.MONTHLY if 1 <= number <= 12:
            return period_of(cadence, date(year, number, 1))
        case Cadence.QUARTERLY if 1 <= number <= 4:
            return period_of(cadence, date(year, number * 3 - 2, 1))
        case Cadence.SEMESTER if number in (1, 2):
            month = _SPRING_START_MONTH if number == 1 else _AUTUMN_START_MONTH
            return period_of(cadence, date(year, month, 1))
        case Cadence.YEARLY:
            return period_of(cadence, date(year, 1, 1))
    raise ValueError(f"{key!r} is not a {cadence.value} period key (expected e.g. {example})")


def periods_between(cadence: Cadence, first_day: date, last_day: date) -> list[Period]:
    """Every period that overlaps ``first_day``..``last_day`` (inclusive), oldest first."""
    if first_day > last_day:
        return []
    periods = [period_of(cadence, first_day)]
    while periods[-1].end < last_day:
        periods.append(periods[-1].next())
    return periods


def year_periods(cadence: Cadence, year: int) -> list[Period]:
    """The periods that start in calendar ``year`` (autumn semester 2026 counts for 2026)."""
    periods = periods_between(cadence, date(year, 1, 1), date(year, 12, 31))
    return [period for period in periods if period.start.year == year]


def local_date(dt: datetime, tz: tzinfo = DEFAULT_TZ) -> date:
    """The calendar day ``dt`` falls on in ``tz``; naive datetimes are refused."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        # A naive time could be UTC or local; guessing shifts deadlines by 8 h.
        raise ValueError(f"naive datetime {dt.isoformat()}: pass an aware datetime")
    return dt.astimezone(tz).date()


def _check(form: Form, period: Period) -> None:
    if period.cadence is not form.period_cadence:
        raise ValueError(f"form {form.key!r} is filed per {form.period_cadence.value} period, not {period.key!r}")


def due_date(form: Form, period: Period) -> date | None:
    """The last day a report for ``period`` is on time; None if the form has no due rule."""
    _check(form, period)
    if form.due_days is None:
        return None
    return period.end + timedelta(days=form.due_days)


def lock_date(form: Form, period: Period) -> date:
    """The last day ``period`` can still be reported without the office's help."""
    due = due_date(form, period)
    return (due if due is not None else period.end) + timedelta(days=form.lock_days)


def is_late(form: Form, period: Period, submitted_at: datetime, tz: tzinfo = DEFAULT_TZ) -> bool:
    """True if a report submitted at ``submitted_at`` came after its due day ended in ``tz``."""
    due = due_date(form, period)
    return due is not None and local_date(submitted_at, tz) > due


def is_locked(form: Form, period: Period, now: datetime, tz: tzinfo = DEFAULT_TZ) -> bool:
    """True if ``period`` can no longer be reported by the principal alone."""
    return local_date(now, tz) > lock_date(form, period)


class PeriodState(StrEnum):
    """How complete a period's reports can be expected to be at a moment.

    ``open``: the period is not over (reports may still change what they count);
    ``due``: over, and its due date has not passed (or the form has none);
    ``late``: its due date has passed, principals can still file;
    ``closed``: locked, only the office can still file.
    Figures are compared between periods only in the same state.
    """

    OPEN = "open"
    DUE = "due"
    LATE = "late"
    CLOSED = "closed"

    @property
    def finished(self) -> bool:
        """True once every school's report should be in (late or closed)."""
        return self in (PeriodState.LATE, PeriodState.CLOSED)


def period_state(form: Form, period: Period, now: datetime, tz: tzinfo = DEFAULT_TZ) -> PeriodState:
    """Where ``period`` of ``form`` stands at ``now`` (see ``PeriodState``)."""
    today = local_date(now, tz)
    if today <= period.end:
        return PeriodState.OPEN
    if is_locked(form, period, now, tz):
        return PeriodState.CLOSED
    due = due_date(form, period)
    if due is None or today <= due:
        return PeriodState.DUE
    return PeriodState.LATE


def filed_while_running(form: Form) -> bool:
    """True if ``form``'s period may be filed before it is over: events (a harvest is filed when it
    happens) and forms that say ``open_during_period``. Others wait for the period to end."""
    return form.is_event or form.open_during_period


def is_over(period: Period, now: datetime, tz: tzinfo = DEFAULT_TZ) -> bool:
    """True once the last day of ``period`` has ended in ``tz``."""
    return local_date(now, tz) > period.end


def reportable_periods(form: Form, now: datetime, tz: tzinfo = DEFAULT_TZ) -> list[Period]:
    """Periods of ``form`` a principal may file now, newest first: not locked, and over
    (started, for a form filed while its period runs; see ``filed_while_running``).

    Milk on 26 Nov offers October and September, not November: a month is reported once it is over.
    """
    today = local_date(now, tz)
    periods: list[Period] = []
    period = period_of(form.period_cadence, today)
    if not filed_while_running(form):
        period = period.previous()
    # Lock dates only grow with the period, so the first locked one ends the walk.
    while not is_locked(form, period, now, tz):
        periods.append(period)
        period = period.previous()
    return periods


def default_period(form: Form, now: datetime, tz: tzinfo = DEFAULT_TZ) -> Period:
    """The period a principal most likely means: the reportable one due soonest, else the newest
    reportable one, else (nothing can be filed now) the current one.

    Monthly milk (due 5 days after month end): on 3 Dec → 2026-11 (due 5 Dec); on 28 Nov →
    2026-10 (November is not over; October was due on 5 Nov).
    """
    today = local_date(now, tz)
    open_periods = reportable_periods(form, now, tz)
    due_ahead = [(due, period) for period in open_periods if (due := due_date(form, period)) is not None and due >= today]
    if due_ahead:
        return min(due_ahead)[1]
    if open_periods:
        return open_periods[0]
    return period_of(form.period_cadence, today)
