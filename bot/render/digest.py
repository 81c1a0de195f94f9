"""The texts of the staff digests and the overdue list: schools by district, completeness per form.

Pure functions over the facts ``scheduler.digests`` gathers (``OverdueSchool``,
``FormCompleteness``); the wording is in ``bot/core/locales/reminders.toml``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from bot.core.i18n import t
from bot.render.reminder import fmt_date

if TYPE_CHECKING:
    # Types only: the facts module renders through this one.
    from scheduler.digests import FormCompleteness, OverdueSchool, Reporter

__all__ = ["render_escalation", "render_overdue_lines", "render_school", "render_weekly", "reporter_name"]


def reporter_name(reporter: Reporter, lang: str | None) -> str:
    """A reporter as the office reads them: a deputy is marked (张三（副）), the principal is not."""
    return t(lang, "deputy.marked_name", name=reporter.name) if reporter.deputy else reporter.name


def _names(reporters: Sequence[Reporter], lang: str | None) -> str:
    return t(lang, "digest.names_sep").join(reporter_name(reporter, lang) for reporter in reporters)


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
