"""Rendering of office summaries: phone text, XLSX, PNG chart, DOCX year-end draft.

Pure functions from the service layer's dataclasses (``bot.office.summary``)
to text or bytes; nothing here touches the database or Telegram. Rendering that
takes a while (a year's spreadsheet, a chart) is called via ``asyncio.to_thread``
by the handlers so the bot keeps answering meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bot.core.fields import Field
from bot.core.i18n import t
from bot.core.numbers import format_number, format_wan
from bot.core.periods import Period, year_periods

__all__ = ["figure", "percent", "scope_label", "span_label"]


def percent(rate: float) -> str:
    """``0.953`` → ``95%``; a rate is a share of ``expected``, so 0 when nothing is expected."""
    return f"{rate * 100:.0f}%"


def span_label(periods: Sequence[Period], lang: str) -> str:
    """One period's name, ``2026年`` for a calendar year of them, or ``first – last``."""
    if not periods:
        return ""
    if len(periods) == 1:
        return periods[0].label(lang)
    years = {p.start.year for p in periods}
    if len(years) == 1:
        (year,) = years
        full = year_periods(periods[0].cadence, year)
        if list(periods) == full:
            return t(lang, "summary.year_label", year=year)
        return t(lang, "summary.year_to_date", year=year, first=periods[0].label(lang), last=periods[-1].label(lang))
    return f"{periods[0].label(lang)} – {periods[-1].label(lang)}"


def scope_label(scope: str | None, lang: str) -> str:
    """``全市`` for the whole city, else the district's name."""
    return scope if scope else t(lang, "summary.city")


def figure(value: Decimal, field: Field | None, lang: str, *, wan: bool = False) -> str:
    """A total with its unit: ``12,345 人``; with ``wan`` and Chinese, ``1.23万人`` as reports write it."""
    unit = field.unit.get(lang) if field is not None and field.unit is not None else ""
    # Sums of money carry float-free fen at most; a total never needs more than two places.
    value = value.quantize(Decimal("0.01")) if value != value.to_integral_value() else value
    if wan and lang == "zh":
        return format_wan(value, unit)
    shown = format_number(value, lang)
    return f"{shown} {unit}".rstrip() if lang != "zh" else f"{shown}{unit}"
