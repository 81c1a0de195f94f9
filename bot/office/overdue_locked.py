"""Missing reports of locked periods, for ``/overdue``: 已锁定未报, kept in sight after the overdue ones.

Once a period is locked (``bot.core.periods.lock_date``) principals can no
longer file it themselves, so it gets no reminder and no nudge; but the
reports are still missing, and a list that dropped them would tell the office
that everyone filed. ``/overdue`` shows them in a block of their own: the
periods locked within the last year (older gaps are history; the year's XLSX
lists them) and not older than the first report the bot ever received for the
form (a freshly installed bot does not list every school for the months before
it existed), or the one period asked for, within the staff member's district.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from bot.core.catalogue import Form
from bot.core.periods import Period, due_date, is_locked, local_date, parse_period, period_of
from bot.office.scope import office_district
from bot.services import Identity, Services
from storage.completeness import first_reported_period, unreported_by_period

__all__ = ["LockedItem", "LockedSchool", "locked_missing", "locked_periods"]

# How far back the unasked list reaches: periods that ended within this many days.
WINDOW_DAYS = 366


@dataclass(frozen=True)
class LockedItem:
    """One missing report of a locked period."""

    form: Form
    period: Period
    due: date
    days_late: int


@dataclass
class LockedSchool:
    """A school with missing reports in locked periods."""

    school_id: int
    code: str
    name: str
    district_id: int
    district_name: str
    items: list[LockedItem] = field(default_factory=list)


def locked_periods(form: Form, now: datetime, tz: tzinfo, period: Period | None = None) -> list[Period]:
    """``period`` if it is locked; without one, the form's locked periods that ended within ``WINDOW_DAYS``, oldest first."""
    if period is not None:
        return [period] if is_locked(form, period, now, tz) else []
    today = local_date(now, tz)
    start = today - timedelta(days=WINDOW_DAYS)
    found: list[Period] = []
    candidate = period_of(form.period_cadence, today)
    while candidate.end >= start:
        if is_locked(form, candidate, now, tz):
            found.append(candidate)
        candidate = candidate.previous()
    return found[::-1]


def _period(form: Form, period_key: str | None) -> Period | None:
    return parse_period(form.period_cadence, period_key) if period_key is not None else None


async def locked_missing(services: Services, who: Identity, forms: Sequence[Form], period_key: str | None) -> list[LockedSchool]:
    """Schools ``who`` may see with missing reports of locked periods of ``forms``, by district and code.

    ``period_key`` limits the list to that period of each form whose cadence has it.
    """
    now, tz = services.clock.now(), services.settings.timezone
    today = local_date(now, tz)
    schools: dict[int, LockedSchool] = {}
    async with services.db.session() as session:
        for form in forms:
            try:
                periods = locked_periods(form, now, tz, _period(form, period_key))
            except ValueError:
                continue  # another cadence's period: not this form's
            if period_key is None:
                first = await first_reported_period(session, form.key)
                periods = [p for p in periods if first is not None and p.key >= first]
            by_key = {p.key: p for p in periods}
            # One query per form for all its locked periods.
            rows = await unreported_by_period(session, form.key, form.programme, list(by_key), district_id=office_district(who))
            for row in rows:
                period = by_key[row.period]
                due = due_date(form, period)
                assert due is not None  # /overdue lists only forms with a due rule
                school = schools.setdefault(
                    row.school_id,
                    LockedSchool(row.school_id, row.school_code, row.school_name, row.district_id, row.district),
                )
                school.items.append(LockedItem(form, period, due, (today - due).days))
    return sorted(schools.values(), key=lambda s: (s.district_name, s.code))
