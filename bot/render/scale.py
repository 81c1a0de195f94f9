"""One way of writing the numbers of one chart (or table): all in 万, or all with separators.

A reader compares bars by their labels; "9153人" next to "1.08万人" makes them
do arithmetic first. So the style is chosen once, from every figure shown:
Chinese with any figure of 10,000 or more speaks 万 throughout ("1.08万人",
"0.92万人"), otherwise plain numbers with thousands separators ("9,153人").
English readers have no 万: they always get separators ("10,800 students").

Usage::

    scale = Scale.of([Decimal(10800), Decimal(9153)], "zh")
    scale.label(Decimal(9153), "人")   # "0.92万人"
    scale.unit("人")                  # "万人", for an axis title
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from bot.core.numbers import format_number

__all__ = ["WAN", "Scale"]

WAN = Decimal(10_000)
# 万 figures keep two places as the office's reports write them (1.08万人); fixed, so labels align.
_WAN_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class Scale:
    """How every figure of one chart is written: in 万 (Chinese, some figure ≥ 10,000) or plain."""

    lang: str
    wan: bool

    @classmethod
    def of(cls, values: Iterable[Decimal], lang: str) -> Scale:
        """The style for a chart showing ``values`` (None-free: 未报 has no figure to scale)."""
        return cls(lang, lang == "zh" and any(abs(v) >= WAN for v in values))

    def number(self, value: Decimal) -> str:
        """The figure without its unit: ``1.08``/``0.92`` in 万 style, ``9,153`` plain."""
        if self.wan:
            shown = (value / WAN).quantize(_WAN_PLACES, rounding=ROUND_HALF_UP)
            if shown == 0 and value != 0:
                # A figure too small for two places of 万 is not zero.
                return "<0.01" if value > 0 else "-<0.01"
            return f"{shown:f}"
        # Money carries fen at most; a figure never needs more than two places.
        if value != value.to_integral_value():
            value = value.quantize(_WAN_PLACES, rounding=ROUND_HALF_UP)
        return format_number(value, self.lang)

    def label(self, value: Decimal, unit: str) -> str:
        """A bar's label: ``1.08万人``, ``9,153人``, ``9,153 students``."""
        unit = self.unit(unit)
        number = self.number(value)
        if self.lang == "zh":
            return f"{number}{unit}"
        return f"{number} {unit}".rstrip()

    def unit(self, unit: str) -> str:
        """The unit as the axis title states it: ``万人`` in 万 style, else ``unit`` itself."""
        return f"万{unit}" if self.wan else unit

    def tick(self, value: float) -> str:
        """An axis tick: ``1.5`` (万, the axis title says so) or ``15,000``; no ``.0`` tails."""
        if self.wan:
            return f"{value / 10_000:,.2f}".rstrip("0").rstrip(".")
        return f"{value:,.2f}".rstrip("0").rstrip(".")
