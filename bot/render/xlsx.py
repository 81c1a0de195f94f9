"""The export spreadsheet (openpyxl): district roll-up, every current report, who has not reported.

Numbers are written as numbers and dates as dates (never as text), so the
office can sum and filter in Excel/WPS; headers are the catalogue's Chinese
labels; the header row is frozen and columns are sized to their content.

Text is never a formula: a school name, a person's name or a note that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (OWASP formula
injection) is written as a string cell with Excel's quote prefix, so Excel, WPS
and LibreOffice show it unchanged and never evaluate it.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Font, PatternFill  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.worksheet.worksheet import Worksheet  # type: ignore[import-untyped]

from bot.core.catalogue import Form
from bot.core.fields import Field, FieldType
from bot.core.i18n import t
from bot.core.periods import DEFAULT_TZ, Period, parse_period
from bot.render import scope_label, span_label
from bot.office.summary import ExportData, Stats

__all__ = ["export_filename", "render_xlsx"]

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_TOTAL_FONT = Font(bold=True)

_FORMATS = {
    FieldType.INTEGER: "#,##0",
    FieldType.MONEY: "#,##0.00",
    FieldType.AREA_MU: "#,##0.00",
    FieldType.DECIMAL: "#,##0.####",
}
_PERCENT = "0.0%"
_DATE = "yyyy-mm-dd"
_DATETIME = "yyyy-mm-dd hh:mm"
# What spreadsheet programs read as the start of a formula (or DDE), in any text cell.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _width(value: Any) -> int:
    """Display width in Excel's character units: a Chinese character takes two."""
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    if isinstance(value, float):
        return 7
    if isinstance(value, Decimal | int):
        return len(f"{value:,}") + 1
    text = str(value) if value is not None else ""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _defuse(ws: Worksheet) -> None:
    """Make every text cell of the last appended row that looks like a formula plain text.

    openpyxl turns a string starting with ``=`` into a formula; the other
    starters stay strings but Excel re-reads them as formulas once a user edits
    the cell. The quote prefix (Excel's leading apostrophe) keeps them text.
    """
    for cell in ws[ws.max_row]:
        value = cell.value
        if isinstance(value, str) and value.startswith(_FORMULA_START):
            cell.data_type = "s"
            cell.quotePrefix = True


def _sheet(ws: Worksheet, header: Sequence[str], rows: Sequence[Sequence[Any]], formats: Sequence[str | None]) -> None:
    """Fill a sheet: styled, frozen header, typed cells with formats, sized columns, a filter."""
    ws.append(list(header))
    _defuse(ws)
    for cell in ws[1]:
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
    widths = [_width(h) for h in header]
    for row in rows:
        ws.append(list(row))
        _defuse(ws)
        for i, value in enumerate(row):
            widths[i] = max(widths[i], _width(value))
    for i, fmt in enumerate(formats, start=1):
        if fmt is None:
            continue
        for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
            cell.number_format = fmt
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), 40)
    ws.freeze_panes = "A2"
    if rows:
        ws.auto_filter.ref = ws.dimensions


def _unit(field: Field, lang: str) -> str:
    return t(lang, "summary.col_unit", unit=field.unit.get(lang)) if field.unit is not None else ""


def _rollup_sheet(ws: Worksheet, data: ExportData, lang: str) -> None:
    rollup = data.rollup
    form = rollup.form
    numeric = form.numeric_fields
    header = [
        t(lang, "summary.col_period"),
        t(lang, "summary.col_district"),
        t(lang, "summary.col_schools"),
        t(lang, "summary.col_expected"),
        t(lang, "summary.col_reported"),
        t(lang, "summary.col_on_time"),
        t(lang, "summary.col_completeness"),
        t(lang, "summary.col_on_time_rate"),
        t(lang, "summary.col_reports"),
        t(lang, "quality.col_flags"),
    ]
    formats: list[str | None] = [None, None, "0", "0", "0", "0", _PERCENT, _PERCENT, "0", "0"]
    for field in numeric:
        label, unit = field.label.get(lang), _unit(field, lang)
        header += [t(lang, f"summary.col_{kind}", field=label, unit=unit) for kind in ("sum", "avg", "min", "max")]
        fmt = _FORMATS[field.type]
        formats += [fmt, "#,##0.00", fmt, fmt]
    span = span_label(rollup.periods, lang)

    def row(stats: Stats, name: str) -> list[Any]:
        values: list[Any] = [
            span,
            name,
            stats.schools,
            stats.expected,
            stats.reported,
            stats.on_time,
            stats.completeness,
            stats.on_time_rate,
            stats.reports,
            stats.flags,
        ]
        for field in numeric:
            agg = stats.aggregate(field.key)
            values += [agg.total if agg.count else None, agg.average, agg.minimum, agg.maximum]
        return values

    rows = [row(rollup.city, scope_label(rollup.scope, lang))]
    if rollup.scope is None:
        rows += [row(stats, stats.name) for stats in rollup.districts]
    _sheet(ws, header, rows, formats)
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
        formats.append(_FORMATS.get(field.type, _DATE if field.type is FieldType.DATE else None))
    header += [
        t(lang, "summary.col_reporter"),
        t(lang, "summary.col_submitted"),
        t(lang, "summary.col_late"),
        t(lang, "summary.col_version"),
        t(lang, "quality.col_flag"),
    ]
    formats += [None, _DATETIME, None, "0", None]
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
        row += [report.reporter or "", submitted, yes if report.is_late else no, report.version]
        row.append(flags.get(report.report_id, ""))
        rows.append(row)
    _sheet(ws, header, rows, formats)


def _flag_cells(data: ExportData, lang: str) -> dict[int, str]:
    """Per report id, its confirmed warnings: "field: message (reason: ...)", one a line."""
    form = data.rollup.form
    labels = {f.key: f.label.get(lang) for f in form.fields}
    cells: dict[int, list[str]] = {}
    for flag in data.flags:
        name = labels.get(flag.field_key or "", flag.field_key or t(lang, "quality.form_level"))
        cells.setdefault(flag.report_id, []).append(t(lang, "quality.cell", field=name, message=flag.message, reason=flag.reason))
    return {report_id: "\n".join(lines) for report_id, lines in cells.items()}


def _missing_sheet(ws: Worksheet, data: ExportData, lang: str) -> None:
    header = [
        t(lang, "summary.col_period"),
        t(lang, "summary.col_district"),
        t(lang, "summary.col_school_code"),
        t(lang, "summary.col_school"),
    ]
    labels = _labels(data.rollup.form, [m.period for m in data.missing], lang)
    rows = [[labels[m.period], m.district, m.school_code, m.school_name] for m in data.missing]
    _sheet(ws, header, rows, [None] * len(header))


def render_xlsx(data: ExportData, lang: str, tz: tzinfo = DEFAULT_TZ) -> bytes:
    """The workbook as bytes: sheets 区县汇总, 报表明细, 未报学校."""
    workbook = Workbook()
    rollup_ws = workbook.active
    assert rollup_ws is not None
    rollup_ws.title = t(lang, "summary.sheet_rollup")
    _rollup_sheet(rollup_ws, data, lang)
    _reports_sheet(workbook.create_sheet(t(lang, "summary.sheet_reports")), data, lang, tz)
    _missing_sheet(workbook.create_sheet(t(lang, "summary.sheet_missing")), data, lang)
    form = data.rollup.form
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
