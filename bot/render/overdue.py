"""The 已锁定未报 block of ``/overdue``: missing reports of locked periods, by district, with counts.

Pure over ``bot.office.overdue_locked.LockedSchool``; the wording is in
``bot/core/locales/reminders.toml`` (``overdue.locked_*``), the district and
school lines are the digests' own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.core.i18n import t
from bot.render.reminder import fmt_date

if TYPE_CHECKING:
    from bot.office.overdue_locked import LockedSchool

__all__ = ["render_locked_block"]


def render_locked_block(schools: Sequence[LockedSchool], lang: str | None) -> list[str]:
    """The heading, each district's schools and their locked missing reports, and the counts."""
    lines = [t(lang, "overdue.locked_title")]
    counts = Counter(school.district_id for school in schools)
    district: int | None = None
    for school in schools:
        if school.district_id != district:
            district = school.district_id
            lines.append(t(lang, "digest.district", district=school.district_name, count=counts[district]))
        lines.append(t(lang, "digest.school", school=school.name, code=school.code))
        for item in school.items:
            lines.append(
                t(
                    lang,
                    "overdue.locked_item",
                    form=item.form.short.get(lang),
                    period=item.period.label(lang),
                    due=fmt_date(item.due, lang),
                    days=item.days_late,
                )
            )
    reports = sum(len(school.items) for school in schools)
    lines.append(t(lang, "overdue.locked_count", schools=len(schools), reports=reports))
    return lines
