"""The export spreadsheet (openpyxl): a cover, the district roll-up, every current report, who is late
and who is not yet due.

Sheets, in order (the README's "XLSX column set" lists every column): 说明
(the cover: form, periods, scope, coverage per period, when generated, how
fields roll up; ``bot.render.xlsx_cover``), 区县汇总 (one row for the city or
the district, then one per district; each field's figure by its own roll-up
rules, never a sum of averages; 未报 where nothing was reported), 报表明细
(every current report), 未报学校 (expected reports past their due date: period,
due date, days late, locked) and 待报学校 (not yet due, with the due date).

Numbers are written as numbers and dates as dates (never as text), so the
office can sum and filter in Excel/WPS; headers are the catalogue's Chinese
labels; the header row is frozen and columns are sized to their content.
Formats and formula-safe text are ``bot.render.xlsx_cells``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from openpyxl.worksheet.worksheet import Worksheet  # type: ignore[import-untyped]

from bot.core.catalogue import Form
from bot.core.fields import Field, FieldType
from bot.core.i18n import t
from bot.core.periods import DEFAULT_TZ, Period, parse_period
from bot.office.summary import ExportData, Stats
from bot.render import scope_label, span_label
from bot.render.filer import filed_by
from bot.render.missing import MissingLine, split_missing
from bot.render.xlsx_cells import COUNT, DATE, DATETIME, PERCENT, field_format, figure_format, fill_sheet
from bot.render.xlsx_cover import CoverFacts, cover_sheet, state_label

if TYPE_CHECKING:
    from storage.report_rows import ReportRow

__all__ = ["export_filename", "render_xlsx"]

_TOTAL_FONT = Font(bold=True)


def _unit(field: Field, lang: str) -> str:
    return t(lang, "summary.col_unit", unit=field.unit.get(lang)) if field.unit is not None else ""


def _rule(field: Field, several: bool, lang: str) -> str:
    """How the figure column rolls up: 合计 / 平均 for one period, （各校合计，各期平均） over several."""
    if not several:
        return field.across_schools.label(lang)
    return t(lang, "export.rule_pair", schools=field.across_schools.label(lang), periods=field.across_periods.label(lang))


def _figure(stats: Stats, field: Field, lang: str) -> Decimal | str | None:
    """The field's figure by its roll-up rules; 未报 when the district reported nothing (never 0)."""
    value = stats.figure(field.key)
    if value is not None:
        return value
    return t(lang, "export.unreported") if stats.unreported else None


def _on_time(stats: Stats, lang: str) -> tuple[int | str, float | str]:
    """按时份数 and 及时率 over the periods past their due date; 未到截止日 before any is
    (reports in early are not yet "on time": the others may still be)."""
    on_time, rate = stats.on_time_due, stats.on_time_rate_due
    if on_time is None or rate is None:
        not_due = t(lang, "export.on_time_not_due")
        return not_due, not_due
    return on_time, rate


def _rollup_sheet(ws: Worksheet, data: ExportData, lang: str) -> None:
    rollup = data.rollup
    form = rollup.form
    numeric = form.numeric_fields
    several = len(rollup.periods) > 1
    # Over a year with periods not yet due, on time counts only those past their due date: say so.
    partly_due = several and not rollup.city.finished and bool(rollup.city.due_coverage)
    on_time_suffix = t(lang, "export.col_on_time_due") if partly_due else ""
    header = [
        t(lang, "summary.col_period"),
        t(lang, "summary.col_district"),
        t(lang, "summary.col_schools"),
        t(lang, "summary.col_expected"),
        t(lang, "summary.col_reported"),
        t(lang, "summary.col_on_time") + on_time_suffix,
        t(lang, "summary.col_completeness"),
        t(lang, "summary.col_on_time_rate") + on_time_suffix,
        t(lang, "summary.col_reports"),
        t(lang, "quality.col_flags"),
        t(lang, "review.col_approved"),
    ]
    formats: list[str | None] = [None, None, COUNT, COUNT, COUNT, COUNT, PERCENT, PERCENT, COUNT, COUNT, COUNT]
    for field in numeric:
        label, unit = field.label.get(lang), _unit(field, lang)
        header.append(t(lang, "export.col_figure", field=label, rule=_rule(field, several, lang), unit=unit))
        header += [t(lang, f"export.col_{kind}", field=label, unit=unit) for kind in ("min", "max")]
        formats += [figure_format(field, len(rollup.periods)), field_format(field), field_format(field)]
    span = span_label(rollup.periods, lang)

    def row(stats: Stats, name: str) -> list[Any]:
        on_time, on_time_rate = _on_time(stats, lang)
        values: list[Any] = [
            span,
            name,
            stats.schools,
            stats.expected,
            stats.reported,
            on_time,
            stats.completeness,
            on_time_rate,
            stats.reports,
            stats.flags,
            stats.approved,
        ]
        for field in numeric:
            agg = stats.aggregate(field.key)
            values += [_figure(stats, field, lang), agg.minimum, agg.maximum]
        return values

    rows = [row(rollup.city, scope_label(rollup.scope, lang))]
    if rollup.scope is None:
        rows += [row(stats, stats.name) for stats in rollup.districts]
    fill_sheet(ws, header, rows, formats)
    for cell in ws[2]:
        cell.font = _TOTAL_FONT


def _answer(field: Field, stored: tuple[Decimal | None, str | None] | None, lang: str) -> Any:
    """A stored answer as the cell value: a number, a date, a choice's label or text."""
    if stored is None:
        return None
    value = field.from_storage(*stored)
    if value is None or isinstance(value, Decimal | date):
        return value
    if field.type is FieldType.CHOICE:
        return field.format(value, lang)
    return value


def _labels(form: Form, keys: Sequence[str], lang: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for key in dict.fromkeys(keys):
        try:
            labels[key] = parse_period(form.period_cadence, key).label(lang)
        except ValueError:
            labels[key] = key  # a key of an older catalogue's cadence: show it as stored
    return labels


def _reports_sheet(ws: Worksheet, data: ExportData, lang: str, tz: tzinfo) -> None:
    form = data.rollup.form
    header = [
        t(lang, "summary.col_period"),
        t(lang, "summary.col_district"),
        t(lang, "summary.col_school_code"),
        t(lang, "summary.col_school"),
    ]
    formats: list[str | None] = [None, None, None, None]
    if form.is_event:
        header.append(t(lang, "summary.col_series"))
        formats.append(None)
    for field in form.fields:
        header.append(field.label.get(lang) + _unit(field, lang))
        formats.append(field_format(field))
    header += [
        t(lang, "summary.col_reporter"),
        t(lang, "summary.col_submitted"),
        t(lang, "summary.col_late"),
        t(lang, "summary.col_version"),
        t(lang, "quality.col_flag"),
        t(lang, "review.col_state"),
    ]
    formats += [None, DATETIME, None, COUNT, None, None]
    labels = _labels(form, [r.period for r in data.reports], lang)
    flags = _flag_cells(data, lang)
    yes, no = t(lang, "summary.yes"), t(lang, "summary.no")
    rows = []
    for report in data.reports:
        row: list[Any] = [labels[report.period], report.district, report.school_code, report.school_name]
        if form.is_event:
            row.append(report.series)
        row += [_answer(field, report.values.get(field.key), lang) for field in form.fields]
        # Excel has no time zones: write the office's local time.
        submitted = report.submitted_at.astimezone(tz).replace(tzinfo=None)
        row += [_filed_by(report, lang), submitted, yes if report.is_late else no, report.version]
        row.append(flags.get(report.report_id, ""))
        row.append(t(lang, f"review.state_label_{report.review}"))
        rows.append(row)
    fill_sheet(ws, header, rows, formats)


def _filed_by(report: "ReportRow", lang: str) -> str:
    """填报人: as the review cards say it (``bot.render.filer``)."""
    return filed_by(lang, report.reporter, report.on_behalf, report.behalf_reason)


def _flag_cells(data: ExportData, lang: str) -> dict[int, str]:
    """Per report id, its confirmed warnings: "field: message (reason: ...)", one a line."""
    form = data.rollup.form
    labels = {f.key: f.label.get(lang) for f in form.fields}
    cells: dict[int, list[str]] = {}
    for flag in data.flags:
        name = labels.get(flag.field_key or "", flag.field_key or t(lang, "quality.form_level"))
        cells.setdefault(flag.report_id, []).append(t(lang, "quality.cell", field=name, message=flag.message, reason=flag.reason))
    return {report_id: "\n".join(lines) for report_id, lines in cells.items()}


def _place(line: MissingLine, labels: dict[str, str]) -> list[Any]:
    missing = line.report
    return [labels[missing.period], missing.district, missing.school_code, missing.school_name]


_PLACE_HEADER = ("summary.col_period", "summary.col_district", "summary.col_school_code", "summary.col_school")


def _missing_sheet(ws: Worksheet, form: Form, lines: Sequence[MissingLine], lang: str) -> None:
    """未报学校: reports past their due date, with the due date, days late and whether the period is locked."""
    header = [t(lang, key) for key in _PLACE_HEADER]
    header += [t(lang, "export.col_due"), t(lang, "export.col_days_late"), t(lang, "export.col_locked")]
    labels = _labels(form, [line.report.period for line in lines], lang)
    yes, no = t(lang, "summary.yes"), t(lang, "summary.no")
    rows = [[*_place(line, labels), line.due, line.days_late, yes if line.locked else no] for line in lines]
    fill_sheet(ws, header, rows, [None, None, None, None, DATE, COUNT, None])


def _pending_sheet(ws: Worksheet, form: Form, lines: Sequence[MissingLine], lang: str) -> None:
    """待报学校: expected reports not yet due (the period runs, or its due date is ahead), with the due date."""
    header = [t(lang, key) for key in _PLACE_HEADER] + [t(lang, "export.col_due"), t(lang, "export.col_state")]
    labels = _labels(form, [line.report.period for line in lines], lang)
    rows = [[*_place(line, labels), line.due, state_label(line.state, lang) if line.state else ""] for line in lines]
    fill_sheet(ws, header, rows, [None, None, None, None, DATE, None])


def render_xlsx(data: ExportData, lang: str, now: datetime, tz: tzinfo = DEFAULT_TZ) -> bytes:
    """The workbook as bytes: sheets 说明, 区县汇总, 报表明细, 未报学校, 待报学校 (``now``: when it is generated)."""
    form = data.rollup.form
    late, pending = split_missing(form, data.missing, now, tz)
    keys = (
        "export.sheet_cover",
        "summary.sheet_rollup",
        "summary.sheet_reports",
        "summary.sheet_missing",
        "export.sheet_pending",
    )
    names = [t(lang, key) for key in keys]
    workbook = Workbook()
    cover_ws = workbook.active
    assert cover_ws is not None
    cover_ws.title = names[0]
    sheets = [(name, t(lang, f"export.about_{key}")) for name, key in zip(names[1:], ("rollup", "reports", "missing", "pending"))]
    scope = scope_label(data.rollup.scope, lang)
    cover_sheet(
        cover_ws,
        CoverFacts(
            form,
            data.rollup.periods,
            scope,
            data.rollup.coverage,
            now,
            tz,
            sheets,
            approval=(data.rollup.city.approved, data.rollup.city.reports),
        ),
        lang,
    )
    _rollup_sheet(workbook.create_sheet(names[1]), data, lang)
    _reports_sheet(workbook.create_sheet(names[2]), data, lang, tz)
    _missing_sheet(workbook.create_sheet(names[3]), form, late, lang)
    _pending_sheet(workbook.create_sheet(names[4]), form, pending, lang)
    workbook.properties.title = f"{form.title.get(lang)} · {span_label(data.rollup.periods, lang)}"
    workbook.properties.creator = "schoolbot"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export_filename(form: Form, periods: Sequence[Period]) -> str:
    """An ASCII file name (``schoolbot-milk-2026-10.xlsx``) every phone and mail client keeps intact."""
    if not periods:
        return f"schoolbot-{form.key}.xlsx"
    first, last = periods[0].key, periods[-1].key
    years = sorted({p.start.year for p in periods})
    if first == last:
        span = first
    elif len(years) == 1:
        span = str(years[0])
    else:
        span = f"{first}_{last}"
    return f"schoolbot-{form.key}-{span}.xlsx"
