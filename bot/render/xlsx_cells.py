"""Cells of the export workbook: number formats, safe text, and one way to fill a sheet.

Number formats never end in a bare decimal point: ``#,##0.####`` shows an
integer as ``26,550.`` in Excel and WPS, so a field's format has exactly the
decimals it shows (``#,##0`` for head counts, ``#,##0.00`` for money, mu and
other decimals; the cell still holds the exact value).

Text is never a formula: a school name, a person's name or a note that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (OWASP formula
injection) is written as a string cell with Excel's quote prefix, so Excel, WPS
and LibreOffice show it unchanged and never evaluate it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from openpyxl.styles import Font, PatternFill  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.worksheet.worksheet import Worksheet  # type: ignore[import-untyped]

from bot.core.aggregation import Fold
from bot.core.fields import Field, FieldType

__all__ = ["COUNT", "DATE", "DATETIME", "DECIMALS", "INTEGER", "PERCENT", "figure_format", "field_format", "fill_sheet"]

INTEGER = "#,##0"
DECIMALS = "#,##0.00"
COUNT = "0"
PERCENT = "0.0%"
DATE = "yyyy-mm-dd"
DATETIME = "yyyy-mm-dd hh:mm"
# At most this many decimals are shown; the cell keeps the value as reported.
_SHOWN_PLACES = 2

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
# What spreadsheet programs read as the start of a formula (or DDE), in any text cell.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _decimals(places: int) -> str:
    return INTEGER if places == 0 else "#,##0." + "0" * places


def field_format(field: Field) -> str | None:
    """The format of a field's answers: its own decimals (at most two shown), a date, or none for text."""
    if field.type is FieldType.DATE:
        return DATE
    places = field.decimal_places
    return None if places is None else _decimals(min(places, _SHOWN_PLACES))


def figure_format(field: Field, periods: int) -> str | None:
    """The format of a rolled-up figure: a mean has decimals even when the answers are whole numbers."""
    folds = [field.across_schools] + ([field.across_periods] if periods > 1 else [])
    if Fold.AVG in folds:
        return DECIMALS
    return field_format(field)


def _width(value: Any) -> int:
    """Display width in Excel's character units: a Chinese character takes two."""
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    if isinstance(value, float):
        return 7
    if isinstance(value, Decimal | int):
        return len(f"{value:,}") + 4
    text = str(value) if value is not None else ""
    return max((sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line) for line in text.split("\n")), default=0)


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


def fill_sheet(
    ws: Worksheet,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    formats: Sequence[str | None],
    *,
    max_width: int = 40,
) -> None:
    """Fill a sheet: styled, frozen header, typed cells with formats, sized columns, a filter.

    A format applies to the column's numbers only: a 未报 text in a figure column stays text.
    """
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
            if not isinstance(cell.value, str):
                cell.number_format = fmt
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), max_width)
    ws.freeze_panes = "A2"
    if rows:
        ws.auto_filter.ref = ws.dimensions
