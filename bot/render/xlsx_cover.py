"""The export's cover sheet (说明 / About): what the workbook holds and how far to trust it.

It states the form, the period(s), the scope (the city or one district), when
it was generated (the injected moment, in ``TIMEZONE``), the coverage of each
period (expected, reported, on time, and its state: not over / not yet due /
past due / locked), which figures are incomplete, and how each field rolls up
across schools and periods. The office files the workbook; the cover is what
makes a printed 区县汇总 honest about the data behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from openpyxl.styles import Font  # type: ignore[import-untyped]
from openpyxl.worksheet.worksheet import Worksheet  # type: ignore[import-untyped]

from bot.core.aggregation import Fold
from bot.core.catalogue import Form
from bot.core.coverage import Coverage, incomplete
from bot.core.i18n import t
from bot.core.periods import Period, PeriodState
from bot.render import span_label
from bot.render.reminder import fmt_date
from bot.render.xlsx_cells import DATE, PERCENT

__all__ = ["CoverFacts", "cover_sheet", "state_label"]

_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)


@dataclass(frozen=True)
class CoverFacts:
    """What the cover states, gathered by the workbook's renderer."""

    form: Form
    periods: Sequence[Period]
    scope: str
    coverage: Sequence[Coverage]
    now: datetime
    tz: tzinfo
    # (sheet name, what it holds), in workbook order.
    sheets: Sequence[tuple[str, str]]
    # Approval coverage (issue 15): (approved, reports) of the counted reports.
    approval: tuple[int, int] = (0, 0)


def state_label(state: PeriodState, lang: str) -> str:
    """未到期（期间未结束） / 未到期 / 已过截止日 / 已锁定."""
    return t(lang, f"export.state_{state.value}")


def _incomplete_text(coverage: Sequence[Coverage], lang: str) -> str:
    if not coverage:
        return t(lang, "export.cover_unknown")
    gaps = incomplete(coverage)
    if not gaps:
        return t(lang, "export.cover_complete")
    parts = [
        t(lang, "export.cover_gap", period=c.period.label(lang), state=state_label(c.state, lang), coverage=c.label(lang))
        for c in gaps
    ]
    return t(lang, "export.cover_incomplete", periods=t(lang, "summary.list_separator").join(parts))


def _rates_basis(facts: CoverFacts, lang: str) -> list[tuple[str, str]]:
    """What 完整率 and 及时率 count over several periods, when some are not yet due; and that a
    district's mean over periods is over the periods it reported, so districts need not add up."""
    if len(facts.periods) < 2:
        return []
    lines = []
    pending = [c for c in facts.coverage if not c.state.finished]
    if pending:
        names = t(lang, "summary.list_separator").join(
            t(lang, "export.cover_rates_period", period=c.period.label(lang), state=state_label(c.state, lang)) for c in pending
        )
        lines.append((t(lang, "export.cover_rates"), t(lang, "export.cover_rates_value", periods=names)))
    if any(f.across_periods is Fold.AVG for f in facts.form.numeric_fields):
        lines.append((t(lang, "export.cover_means"), t(lang, "export.cover_means_value")))
    return lines


def _rules(ws: Worksheet, form: Form, several: bool, lang: str) -> None:
    ws.append([t(lang, "export.cover_rules")])
    ws.cell(ws.max_row, 1).font = _BOLD
    header = [t(lang, "export.col_field"), t(lang, "export.col_unit"), t(lang, "export.col_across_schools")]
    if several:
        header.append(t(lang, "export.col_across_periods"))
    ws.append(header)
    for cell in ws[ws.max_row]:
        cell.font = _BOLD
    for field in form.numeric_fields:
        row = [field.label.get(lang), field.unit.get(lang) if field.unit is not None else "", field.across_schools.label(lang)]
        if several:
            row.append(field.across_periods.label(lang))
        ws.append(row)


def _coverage_table(ws: Worksheet, coverage: Sequence[Coverage], lang: str) -> None:
    ws.append([t(lang, "export.cover_coverage")])
    ws.cell(ws.max_row, 1).font = _BOLD
    ws.append(
        [
            t(lang, "summary.col_period"),
            t(lang, "export.col_state"),
            t(lang, "export.col_due"),
            t(lang, "summary.col_expected"),
            t(lang, "summary.col_reported"),
            t(lang, "summary.col_on_time"),
            t(lang, "summary.col_completeness"),
        ]
    )
    for cell in ws[ws.max_row]:
        cell.font = _BOLD
    for c in coverage:
        rate = c.reported / c.expected if c.expected else None
        # On time only once the period is past its due date: before it, early reports are not "on time" yet.
        on_time = c.on_time if c.state.finished else t(lang, "export.on_time_not_due")
        ws.append([c.period.label(lang), state_label(c.state, lang), c.due, c.expected, c.reported, on_time, rate])
        row = ws.max_row
        ws.cell(row, 3).number_format = DATE
        ws.cell(row, 7).number_format = PERCENT


def cover_sheet(ws: Worksheet, facts: CoverFacts, lang: str) -> None:
    """Fill ``ws`` with the cover: the facts as label/value lines, then the coverage and roll-up tables."""
    form = facts.form
    ws.append([t(lang, "export.cover_title", form=form.title.get(lang))])
    ws.cell(1, 1).font = _TITLE
    local = facts.now.astimezone(facts.tz)
    lines = [
        (t(lang, "export.cover_form"), t(lang, "export.cover_form_value", title=form.title.get(lang), key=form.key)),
        (t(lang, "export.cover_periods"), span_label(facts.periods, lang)),
        (t(lang, "export.cover_scope"), facts.scope),
        (
            t(lang, "export.cover_generated"),
            t(lang, "export.cover_at", date=fmt_date(local.date(), lang), time=f"{local:%H:%M}", tz=str(facts.tz)),
        ),
        (t(lang, "export.cover_data"), _incomplete_text(facts.coverage, lang)),
        *_rates_basis(facts, lang),
        (t(lang, "review.cover_label"), t(lang, "review.cover_value", approved=facts.approval[0], reports=facts.approval[1])),
    ]
    for label, value in lines:
        ws.append([label, value])
        ws.cell(ws.max_row, 1).font = _BOLD
    ws.append([])
    _coverage_table(ws, facts.coverage, lang)
    ws.append([])
    _rules(ws, form, len(facts.periods) > 1, lang)
    ws.append([])
    ws.append([t(lang, "export.cover_sheets")])
    ws.cell(ws.max_row, 1).font = _BOLD
    for name, what in facts.sheets:
        ws.append([name, what])
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 60
    for letter in "CDEFG":
        ws.column_dimensions[letter].width = 12
