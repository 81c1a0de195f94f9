"""The year-end draft's words for periods and coverage: 11月, 春季、秋季两学期, what is missing.

Pure text from ``bot.office.annual``'s coverage: "6月仅 4/10 所报送", "11月尚未到截止日
（12月5日），已报 6/10 所", runs of months not begun or not reported read as one span
("1月至9月未报"). ``bot.render.annual`` puts them into the draft's sentences.
"""

from __future__ import annotations

from datetime import date

from bot.core.catalogue import Cadence
from bot.core.coverage import Coverage
from bot.core.i18n import t
from bot.core.periods import Period, PeriodState, filed_while_running
from bot.office.annual import FormYear

__all__ = ["coverage_notes", "date_words", "gap_words", "short_label", "span_words"]


def short_label(period: Period, lang: str) -> str:
    """A period named inside its year: 11月, 第四季度, 秋季学期."""
    match period.cadence:
        case Cadence.MONTHLY:
            name = t(lang, "period.month_names").split(",")[period.start.month - 1]
            return t(lang, "annual.short_month", month=period.start.month, month_name=name)
        case Cadence.QUARTERLY:
            quarter = (period.start.month - 1) // 3
            return t(lang, "annual.short_quarter", quarter_name=t(lang, "period.quarter_names").split(",")[quarter])
        case Cadence.SEMESTER:
            return t(lang, "annual.short_spring" if period.start.month < 8 else "annual.short_autumn")
    return t(lang, "annual.short_year")


def span_words(periods: list[Period], lang: str) -> str:
    """1月至11月, 春季、秋季两学期, 第一季度."""
    if not periods:
        return ""
    if len(periods) == 1:
        return short_label(periods[0], lang)
    if periods[0].cadence is Cadence.SEMESTER and len(periods) == 2:
        return t(lang, "annual.span_semesters")
    return t(lang, "annual.span", first=short_label(periods[0], lang), last=short_label(periods[-1], lang))


def date_words(day: date, lang: str) -> str:
    return t(lang, "annual.date", year=day.year, month=day.month, day=day.day, iso=day.isoformat())


def _gap_kind(gap: Coverage, year: FormYear) -> str:
    if year.as_of < gap.period.start:
        return "not_started"
    if gap.state is PeriodState.OPEN:
        # A form filed only after its period cannot have reports yet: a count would say nothing.
        # An event (a harvest) has no expected count; a form filed only after its period
        # cannot have reports yet, so "0/10 so far" would say nothing.
        if year.form.is_event:
            return "open_event"
        return "open" if filed_while_running(year.form) or gap.reported else "open_event"
    if gap.state is PeriodState.DUE and gap.due is not None:
        return "due"
    return "none" if gap.reported == 0 else "partial"


def gap_words(gaps: tuple[Coverage, ...], year: FormYear, lang: str) -> str:
    """What is missing, period by period; runs of periods not begun or not reported read as a span."""
    runs: list[tuple[str, list[Coverage]]] = []
    for gap in gaps:
        kind = _gap_kind(gap, year)
        if runs and runs[-1][0] == kind and kind in ("not_started", "none"):
            runs[-1][1].append(gap)
        else:
            runs.append((kind, [gap]))
    words = []
    for kind, run in runs:
        first = run[0]
        period = span_words([c.period for c in run], lang)
        due = t(lang, "annual.date_short", month=first.due.month, day=first.due.day) if first.due is not None else ""
        words.append(t(lang, f"annual.gap_{kind}", period=period, reported=first.reported, expected=first.expected, due=due))
    return t(lang, "annual.gap_separator").join(words)


def coverage_notes(year: FormYear, lang: str) -> str:
    """Begun periods that are not over or not yet due: "，其中11月尚未到截止日"."""
    notes = []
    for coverage in year.started:
        if coverage.state is PeriodState.OPEN:
            notes.append(t(lang, "annual.coverage_state_open", period=short_label(coverage.period, lang)))
        elif coverage.state is PeriodState.DUE and coverage.due is not None and not year.form.is_event:
            notes.append(t(lang, "annual.coverage_state_due", period=short_label(coverage.period, lang)))
    return t(lang, "annual.coverage_notes", notes=t(lang, "annual.list_separator").join(notes)) if notes else ""
