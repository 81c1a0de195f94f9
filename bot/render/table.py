"""The summary as a chat message that reads on a phone.

No monospace table (it wraps into noise on a narrow screen): the period's
state and coverage first ("尚未到截止日（12月5日截止），已报 4/10 所"), the city,
then one short block per district, each with reported/expected, the rates and
the form's main figure (未报 when nobody reported it, never 0). Comparisons
with the previous period and a year ago are made only between alike coverage
(``bot.core.coverage.comparable``); otherwise both coverages are shown and
nothing is compared. Plain text, so no Markdown escaping can break it.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from bot.core.catalogue import Form
from bot.core.coverage import Coverage
from bot.core.fields import Field
from bot.core.i18n import t
from bot.core.periods import PeriodState
from bot.render import figure, percent, scope_label, span_label
from bot.office.summary import Rollup, Stats, Summary

__all__ = ["MAX_MESSAGE", "change_text", "coverage_text", "render_summary_text", "shown", "split_message"]

MAX_MESSAGE = 4096


def change_text(current: Decimal, before: Decimal, lang: str) -> str:
    """``增长 2.9%`` / ``下降 3.0%`` / ``持平``; ``无数据`` when there is nothing to compare with."""
    if before == 0:
        return t(lang, "summary.change_none")
    change = (current - before) / before * 100
    if abs(change) < Decimal("0.05"):
        return t(lang, "summary.change_flat")
    key = "summary.change_up" if change > 0 else "summary.change_down"
    return t(lang, key, percent=f"{abs(change):.1f}%")


def _day(day: date, lang: str) -> str:
    return t(lang, "coverage.day", year=day.year, month=day.month, day=day.day)


def coverage_text(form: Form, coverage: Coverage, lang: str) -> str:
    """``2026年11月：尚未到截止日（12月5日截止），已报 4/10 所`` — the period's state and who reported."""
    due = _day(coverage.due, lang) if coverage.due is not None else None
    if coverage.state is PeriodState.OPEN and not coverage.started:
        state = t(lang, "coverage.not_started")
    elif coverage.state is PeriodState.OPEN:
        state = t(lang, "coverage.open_due", due=due) if due else t(lang, "coverage.open")
    elif coverage.state is PeriodState.DUE:
        state = t(lang, "coverage.due", due=due) if due else t(lang, "coverage.due_none")
    elif coverage.state is PeriodState.LATE:
        state = t(lang, "coverage.late", due=due)
    else:
        state = t(lang, "coverage.closed")
    numbers = {"reported": coverage.reported, "expected": coverage.expected, "missing": coverage.missing}
    if form.is_event:
        count = t(lang, "coverage.count_event", **numbers)
    elif not coverage.state.finished:
        count = t(lang, "coverage.count_reported", **numbers)
    else:
        count = t(lang, "coverage.count_missing" if coverage.missing else "coverage.count_all", **numbers)
    return t(lang, "coverage.line", period=coverage.period.label(lang), state=state, count=count)


def _counts(form: Form, stats: Stats, name: str, lang: str) -> str:
    params = {
        "name": name,
        "reported": stats.reported,
        "expected": stats.expected,
        "completeness": percent(stats.completeness),
        "on_time": stats.on_time,
        "on_time_rate": percent(stats.on_time_rate),
        "reports": stats.reports,
    }
    if form.is_event:
        return t(lang, "summary.counts_event", **params)
    if form.due_days is None or not stats.finished:
        # Before the due date "按时 0 所（0%）" would read as a failure nobody made yet.
        return t(lang, "summary.counts_no_due", **params)
    return t(lang, "summary.counts", **params)


def shown(value: Decimal, field: Field) -> Decimal:
    """A figure as a text shows it: a mean of whole answers (students, days) as a whole number."""
    if field.decimal_places == 0:
        return value.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return value


def _value(stats: Stats, main: Field, lang: str) -> str:
    """The field's figure with its unit, or 未报 when nobody reported it (never "0 人")."""
    value = stats.figure(main.key)
    return t(lang, "coverage.unreported") if value is None else figure(shown(value, main), main, lang)


def _city_figure(main: Field, stats: Stats, lang: str) -> str:
    rule = main.across_schools.label(lang)
    return t(lang, "coverage.figure", field=main.label.get(lang), rule=rule, value=_value(stats, main, lang))


def _coverage_label(stats: Stats, lang: str) -> str:
    """``4/10 所`` of a one-period roll-up."""
    if len(stats.coverage) == 1:
        return stats.coverage[0].label(lang)
    return t(lang, "coverage.count_reported", reported=stats.reported, expected=stats.expected)


def _compare(main: Field, summary: Summary, lang: str) -> list[str]:
    now = summary.current.city.figure(main.key)
    lines = []
    for key, other in (("summary.compare_previous", summary.previous), ("summary.compare_year_ago", summary.year_ago)):
        period = span_label(other.periods, lang)
        before = other.city.figure(main.key)
        if other.city.unreported or before is None:
            # "0 students" would read as a fact; nobody reported anything then.
            lines.append(t(lang, f"{key}_none", period=period))
        elif now is None or not summary.comparable(other):
            lines.append(_apart(key, period, figure(shown(before, main), main, lang), other.city, summary.current.city, lang))
        else:
            value = figure(shown(before, main), main, lang)
            lines.append(t(lang, key, period=period, value=value, change=change_text(now, before, lang)))
    return lines


def _apart(key: str, period: str, value: str, other: Stats, current: Stats, lang: str) -> str:
    """Why a comparison is not made: the coverages when they differ ("上期 10/10 所，本期 4/10 所"),
    else what keeps this period's figure from being final ("本期尚未到截止日（12月5日）")."""
    before, now = _coverage_label(other, lang), _coverage_label(current, lang)
    if before != now or len(current.coverage) != 1:
        # A month 4/10 reported against a finished one is no "63% drop": show both coverages.
        apart = key.replace("summary.", "coverage.") + "_apart"
        return t(lang, apart, period=period, value=value, before=before, now=now)
    coverage = current.coverage[0]
    if coverage.state is PeriodState.DUE and coverage.due is not None:
        reason = t(lang, "coverage.apart_due", due=_day(coverage.due, lang))
    elif coverage.state is PeriodState.OPEN:
        reason = t(lang, "coverage.apart_open" if coverage.started else "coverage.apart_not_started")
    else:
        reason = t(lang, "coverage.apart_other", before=before, now=now)
    return t(lang, key.replace("summary.", "coverage.") + "_reason", period=period, value=value, reason=reason)


def render_summary_text(summary: Summary, lang: str) -> str:
    """The whole summary message: heading, the period's coverage, city (or the staff member's district), then districts."""
    form, current = summary.form, summary.current
    main = form.main_field
    header_key = "summary.header_scoped" if current.scope else "summary.header"
    lines = [t(lang, header_key, form=form.title.get(lang), period=summary.period.label(lang), scope=current.scope or "")]
    city = current.city
    lines += [coverage_text(form, coverage, lang) for coverage in current.coverage]
    counts = _counts(form, city, scope_label(current.scope, lang), lang)
    if city.reports:
        # Approval coverage beside reporting coverage (issue 15): how much of it the office checked.
        counts += t(lang, "review.summary_coverage", approved=city.approved, reports=city.reports)
    lines.append(counts)
    if main is not None:
        lines.append(_city_figure(main, city, lang))
        lines += _compare(main, summary, lang)
    if city.flags:
        # How much of the figure rests on a principal's word: the office can ask /flags which ones.
        names = {"form": form.key, "period": summary.period.key}
        lines.append(t(lang, "quality.summary_flags", count=city.flags, **names))
    if city.expected == 0:
        lines.append(t(lang, "summary.nobody_expected"))
    elif city.reported == 0:
        lines.append(t(lang, "summary.nothing_reported"))
    if current.scope is None and current.districts:
        lines.append("")
        lines += _district_blocks(form, current, main, lang)
    return "\n".join(lines)


def _district_blocks(form: Form, rollup: Rollup, main: Field | None, lang: str) -> list[str]:
    lines: list[str] = []
    for stats in rollup.districts:
        lines.append(_counts(form, stats, t(lang, "summary.district_mark", name=stats.name), lang))
        if main is not None:
            lines.append(t(lang, "summary.district_total", field=main.label.get(lang), value=_value(stats, main, lang)))
    return lines


def split_message(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Cut a long text at line breaks into messages Telegram accepts (≤ 4,096 characters)."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:  # a single monster line: cut it hard
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        chunks.append(current)
    return chunks
