"""Who is overdue, how complete each form is, and the staff digests that say so.

Shared by the daily escalation digest, the weekly completeness digest, the
``/overdue`` list and ``schoolbot reminders``: the facts come from SQL
(``storage.reminders``), the wording from ``bot/core/locales/reminders.toml``.

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

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.catalogue import Catalogue, Form
from bot.core.i18n import t
from bot.core.periods import Period, due_date, is_locked, parse_period, reportable_periods
from scheduler.policy import Rules
from storage.models import School
from storage.reminders import Completeness, completeness, missing_reports

__all__ = [
    "FormCompleteness",
    "OverdueItem",
    "OverdueSchool",
    "Reporter",
    "completeness_report",
    "fmt_date",
    "overdue_periods",
    "overdue_schools",
    "render_escalation",
    "render_overdue_lines",
    "render_weekly",
    "visible_school",
    "when_text",
]


@dataclass(frozen=True)
class Reporter:
    """A registered reporter of a school, as the office sees them."""

    person_id: int
    name: str
    blocked: bool


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
                    school.reporters.append(Reporter(row.person_id, row.person_name or "", row.blocked))
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


# --- wording --------------------------------------------------------------------------


def fmt_date(day: date, lang: str | None) -> str:
    return t(lang, "reminders.date", year=day.year, month=day.month, day=day.day)


def when_text(due: date, today: date, lang: str | None) -> str:
    """``还有 3 天截止`` / ``今天截止`` / ``已逾期 2 天``, relative to ``today``."""
    days = (due - today).days
    if days > 1:
        return t(lang, "reminders.due_in", days=days)
    if days == 1:
        return t(lang, "reminders.due_tomorrow")
    if days == 0:
        return t(lang, "reminders.due_today")
    if days == -1:
        return t(lang, "reminders.overdue_one")
    return t(lang, "reminders.overdue_days", days=-days)


def _names(reporters: Sequence[Reporter], lang: str | None) -> str:
    return t(lang, "digest.names_sep").join(reporter.name for reporter in reporters)


def render_school(school: OverdueSchool, lang: str | None) -> list[str]:
    """A school's block: its name, each missing report, and who can be told (or that nobody can)."""
    lines = [t(lang, "digest.school", school=school.name, code=school.code)]
    for item in school.items:
        lines.append(
            t(
                lang,
                "digest.item",
                form=item.form.short.get(lang),
                period=item.period.label(lang),
                due=fmt_date(item.due, lang),
                days=item.days_overdue,
            )
        )
    if not school.reporters:
        lines.append(t(lang, "digest.unreachable_none"))
    elif school.unreachable:
        lines.append(t(lang, "digest.unreachable_blocked", names=_names(school.reporters, lang)))
    else:
        lines.append(t(lang, "digest.reporters", names=_names(school.reporters, lang)))
        blocked = [r for r in school.reporters if r.blocked]
        if blocked:
            lines.append(t(lang, "digest.some_blocked", names=_names(blocked, lang)))
    return lines


def render_overdue_lines(schools: Sequence[OverdueSchool], lang: str | None) -> list[str]:
    """Schools grouped by district, a heading per district, a blank line between blocks."""
    lines: list[str] = []
    counts = Counter(school.district_id for school in schools)
    district: int | None = None
    for school in schools:
        if school.district_id != district:
            district = school.district_id
            if lines:
                lines.append("")
            lines.append(t(lang, "digest.district", district=school.district_name, count=counts[district]))
        lines.extend(render_school(school, lang))
    return lines


def render_escalation(schools: Sequence[OverdueSchool], today: date, after_days: int, lang: str | None) -> str:
    """The daily digest for staff: long-overdue schools by district."""
    lines = [t(lang, "digest.escalation_title", date=fmt_date(today, lang), days=after_days), ""]
    lines += render_overdue_lines(schools, lang)
    unreachable = sum(1 for s in schools if s.unreachable)
    lines += ["", t(lang, "digest.escalation_summary", count=len(schools), unreachable=unreachable)]
    lines.append(t(lang, "digest.escalation_footer"))
    return "\n".join(lines)


def _percent(reported: int, expected: int) -> int:
    return round(100 * reported / expected) if expected else 100


def render_weekly(rows: Sequence[FormCompleteness], today: date, lang: str | None) -> str:
    """The weekly digest for staff: reported/expected per form, period and district."""
    lines = [t(lang, "digest.weekly_title", date=fmt_date(today, lang))]
    if not rows:
        lines += ["", t(lang, "digest.weekly_nothing")]
    for row in rows:
        lines += [
            "",
            t(
                lang,
                "digest.weekly_form",
                form=row.form.short.get(lang),
                period=row.period.label(lang),
                due=fmt_date(row.due, lang),
            ),
        ]
        for district in row.districts:
            lines.append(
                t(
                    lang,
                    "digest.weekly_row",
                    district=district.district_name,
                    reported=district.reported,
                    expected=district.expected,
                    percent=_percent(district.reported, district.expected),
                )
            )
        if len(row.districts) > 1:
            lines.append(
                t(
                    lang,
                    "digest.weekly_total",
                    reported=row.reported,
                    expected=row.expected,
                    percent=_percent(row.reported, row.expected),
                )
            )
    lines += ["", t(lang, "digest.weekly_footer")]
    return "\n".join(lines)


def period_is_locked(form: Form, period: Period, now: datetime, rules: Rules) -> bool:
    """True if principals can no longer file ``period`` themselves (no nudge makes sense then)."""
    return is_locked(form, period, now, rules.tz)


async def visible_school(session: AsyncSession, school_id: int, district_id: int | None) -> School | None:
    """The school, if it exists and lies in ``district_id`` (any district for None)."""
    school = await session.get(School, school_id)
    if school is None or (district_id is not None and school.district_id != district_id):
        return None
    return school
