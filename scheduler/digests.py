"""Who is overdue and how complete each form is: the facts behind the staff digests and ``/overdue``.

Shared by the daily escalation digest, the weekly completeness digest, the
``/overdue`` list and ``schoolbot reminders``: the facts come from SQL
(``storage.completeness``), the wording is rendered by ``bot.render.digest``
and ``bot.render.reminder``.

- **Overdue**: a school expected to report a form (per its programme) whose
  period is still reportable, the due date passed, and no current report.
- **Escalated**: overdue for ``ESCALATE_AFTER_DAYS`` (7) or more; listed to
  office staff once a day, grouped by district, with the school's reporters and
  "unreachable" when none can be messaged (none registered, or all blocked the bot).
- **Weekly**: per form and period that is due and still open, reported/expected
  schools per district.

Staff limited to a district (``people.district_id``) see only that district.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.catalogue import Catalogue, Form
from bot.core.periods import Period, due_date, is_locked, parse_period, reportable_periods
from scheduler.policy import Rules
from storage.completeness import Completeness, completeness, missing_reports
from storage.models import Role, School
from storage.nudges import school_in_scope

__all__ = [
    "FormCompleteness",
    "OverdueItem",
    "OverdueSchool",
    "Reporter",
    "completeness_report",
    "overdue_periods",
    "overdue_schools",
    "period_is_locked",
    "visible_school",
]


@dataclass(frozen=True)
class Reporter:
    """A registered reporter of a school, as the office sees them."""

    person_id: int
    name: str
    blocked: bool
    # A deputy the principal invited (named "张三（副）" in digests), not the principal.
    deputy: bool = False


@dataclass(frozen=True)
class OverdueItem:
    """One missing report of a school."""

    form: Form
    period: Period
    due: date
    days_overdue: int


@dataclass
class OverdueSchool:
    """A school with one or more missing reports, and who could be told."""

    school_id: int
    code: str
    name: str
    district_id: int
    district_name: str
    reporters: list[Reporter]
    items: list[OverdueItem]

    @property
    def unreachable(self) -> bool:
        """No reporter can be messaged: none registered, or every one blocked the bot."""
        return all(reporter.blocked for reporter in self.reporters)

    @property
    def reachable_reporters(self) -> list[Reporter]:
        return [reporter for reporter in self.reporters if not reporter.blocked]


def overdue_periods(
    form: Form, now: datetime, rules: Rules, *, min_days: int = 1, period: Period | None = None
) -> list[tuple[Period, date]]:
    """Periods of ``form`` at least ``min_days`` past due (and still open, unless ``period`` is given), oldest first."""
    if form.due_days is None:
        return []
    today = rules.local(now).date()
    candidates = [period] if period is not None else list(reversed(reportable_periods(form, now, rules.tz)))
    out = []
    for candidate in candidates:
        due = due_date(form, candidate)
        if due is not None and (today - due).days >= min_days:
            out.append((candidate, due))
    return out


async def overdue_schools(
    session: AsyncSession,
    catalogue: Catalogue | Iterable[Form],
    now: datetime,
    rules: Rules,
    *,
    min_days: int = 1,
    period_key: str | None = None,
    district_id: int | None = None,
    school_id: int | None = None,
) -> list[OverdueSchool]:
    """Schools with overdue reports, ordered by district name then school code.

    ``period_key`` limits the list to that period of each form whose cadence
    has it (``2026-11`` is a month: milk, not insurance), locked or not.
    """
    today = rules.local(now).date()
    schools: dict[int, OverdueSchool] = {}
    for form in catalogue:
        period = None
        if period_key is not None:
            try:
                period = parse_period(form.period_cadence, period_key)
            except ValueError:
                continue
        for missing_period, due in overdue_periods(form, now, rules, min_days=min_days, period=period):
            rows = await missing_reports(
                session,
                form_key=form.key,
                programme=form.programme,
                period=missing_period.key,
                district_id=district_id,
                school_id=school_id,
            )
            item = OverdueItem(form, missing_period, due, (today - due).days)
            for row in rows:
                school = schools.get(row.school_id)
                if school is None:
                    school = schools[row.school_id] = OverdueSchool(
                        row.school_id, row.school_code, row.school_name, row.district_id, row.district_name, [], []
                    )
                if not school.items or school.items[-1] is not item:
                    school.items.append(item)
                if row.person_id is not None and all(r.person_id != row.person_id for r in school.reporters):
                    school.reporters.append(
                        Reporter(row.person_id, row.person_name or "", row.blocked, row.person_role == Role.REPORTER)
                    )
    return sorted(schools.values(), key=lambda s: (s.district_name, s.code))


@dataclass(frozen=True)
class FormCompleteness:
    """Completeness of one form and period, per district."""

    form: Form
    period: Period
    due: date
    districts: list[Completeness]

    @property
    def expected(self) -> int:
        return sum(row.expected for row in self.districts)

    @property
    def reported(self) -> int:
        return sum(row.reported for row in self.districts)


async def completeness_report(
    session: AsyncSession,
    catalogue: Catalogue | Iterable[Form],
    now: datetime,
    rules: Rules,
    *,
    district_id: int | None = None,
) -> list[FormCompleteness]:
    """For every form with a due rule: each open period whose due date has come, reported/expected per district."""
    out = []
    today = rules.local(now).date()
    for form in catalogue:
        if form.due_days is None:
            continue
        for period in reversed(reportable_periods(form, now, rules.tz)):
            due = due_date(form, period)
            if due is None or due > today:
                continue
            rows = await completeness(
                session, form_key=form.key, programme=form.programme, period=period.key, district_id=district_id
            )
            if rows:
                out.append(FormCompleteness(form, period, due, rows))
    return out


def period_is_locked(form: Form, period: Period, now: datetime, rules: Rules) -> bool:
    """True if principals can no longer file ``period`` themselves (no nudge makes sense then)."""
    return is_locked(form, period, now, rules.tz)


async def visible_school(session: AsyncSession, school_id: int, district_id: int | None) -> School | None:
    """The school, if it exists and lies in ``district_id`` (any district for None)."""
    return await school_in_scope(session, school_id, district_id)
