"""``/status`` for office staff: what is due now, per form, as the office sees it.

Per form with a due rule: the period due now (the one due soonest, else the
newest one past due: what a principal would be asked for), its due date, and
reported/expected schools in the staff member's scope (a district for district
staff), with a button to that period's summary. Forms filed at any time (no
due rule) are listed with the reports of the running period. A missing report
is counted as missing, never as 0.
"""

from __future__ import annotations

from bot.core.i18n import t
from bot.core.periods import PeriodState, default_period, local_date, period_of
from bot.core.ui import Button, Screen
from bot.office.scope import office_district
from bot.office.summary import rollup
from bot.services import Identity, Services

__all__ = ["office_status"]


async def office_status(services: Services, who: Identity) -> Screen:
    """The office's view of what is due, in ``who``'s scope."""
    lang = who.language
    now, tz = services.clock.now(), services.settings.timezone
    today = local_date(now, tz)
    district = office_district(who)
    lines: list[str] = []
    rows: list[list[Button]] = []
    scope_name = None
    for form in services.catalogue:
        period = default_period(form, now, tz) if form.due_days is not None else period_of(form.period_cadence, today)
        result = await rollup(services.db, form, [period], now, tz, district_id=district)
        scope_name = result.scope or scope_name
        (coverage,) = result.coverage
        names = {
            "form": form.short.get(lang),
            "period": period.label(lang),
            "reported": coverage.reported,
            "expected": coverage.expected,
            "missing": coverage.missing,
        }
        if coverage.due is None:
            lines.append(t(lang, "office.status_any_time", **names))
        elif coverage.state is PeriodState.OPEN or coverage.due >= today:
            lines.append(t(lang, "office.status_due", due=coverage.due.isoformat(), days=(coverage.due - today).days, **names))
        else:
            key = "office.status_closed" if coverage.state is PeriodState.CLOSED else "office.status_late"
            lines.append(t(lang, key, due=coverage.due.isoformat(), days=(today - coverage.due).days, **names))
        label = t(lang, "office.status_button", form=form.short.get(lang), period=period.label(lang))
        rows.append([Button(label, f"sum:v:{form.key}:{period.key}")])
    title = t(lang, "office.status_title", scope=scope_name or t(lang, "summary.city"), today=today.isoformat())
    return Screen("\n".join([title, *lines, "", t(lang, "office.status_hint")]), rows)
