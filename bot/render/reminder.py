"""The texts of reminders: what a reporter reads when a report is (nearly) due, and how dates are said.

Pure functions over the catalogue's forms and periods; the wording is in
``bot/core/locales/reminders.toml``. The scheduler sends them
(``scheduler.claims``), the office's lists and digests reuse the dates.
"""

from __future__ import annotations

from datetime import date

from bot.core.catalogue import Form
from bot.core.i18n import t
from bot.core.periods import Period, due_date

__all__ = ["fmt_date", "reminder_text", "when_text"]


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


def reminder_text(*, school: str, form: Form, period: Period, today: date, lang: str | None, manual: bool = False) -> str:
    """The message a reporter gets: which form, which period, when it is (was) due."""
    due = due_date(form, period)
    assert due is not None  # only forms with a due rule are reminded
    return t(
        lang,
        "reminders.nudge_message" if manual else "reminders.message",
        school=school,
        form=form.title.get(lang),
        period=period.label(lang),
        due=fmt_date(due, lang),
        when=when_text(due, today, lang),
    )
