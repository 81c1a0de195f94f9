"""How a field's figures roll up: across schools (one period) and across periods (a year).

A form's number field says both in the catalogue (``across_schools``,
``across_periods``; default ``sum``). Students drinking milk daily are summed
over schools and *averaged* over months; a semester's insured head count is
summed over schools and the *latest* semester is the year's; premiums add up
over both. Nothing adds averages: a year view folds each period's figure with
the field's ``across_periods`` rule.

``fold`` is pure and works on period figures in period order; ``None`` is a
period with no figure (not reported, not zero) and is left out of every rule.
``fold_periods`` is the year view: a mean over periods also leaves out periods
whose figure is 0 (``idle_period``: a month without milk served, the summer
holidays), which would otherwise drag the mean down; sums are not changed by them.
Every year view (the export, the charts, the year-end draft) folds with it, so
they all state the same figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

__all__ = ["Fold", "fold", "fold_periods", "idle_period"]


class Fold(StrEnum):
    """One way to combine figures: ``sum``, ``avg`` (mean), ``last`` (the latest), ``max``."""

    SUM = "sum"
    AVG = "avg"
    LAST = "last"
    MAX = "max"

    def label(self, lang: str = "zh") -> str:
        """How the rule reads in a note under a figure ("月平均", "mean")."""
        return _LABELS[self][0 if lang == "zh" else 1]


_LABELS = {
    Fold.SUM: ("合计", "total"),
    Fold.AVG: ("平均", "mean"),
    Fold.LAST: ("最近一期", "latest"),
    Fold.MAX: ("最高", "highest"),
}


def fold(rule: Fold, figures: Sequence[Decimal | None], places: int = 2) -> Decimal | None:
    """Combine ``figures`` (in period or school order) by ``rule``; None when none is known.

    Means are rounded half-up to ``places`` decimals (0 for head counts).
    """
    known = [figure for figure in figures if figure is not None]
    if not known:
        return None
    if rule is Fold.SUM:
        return sum(known, Decimal(0))
    if rule is Fold.AVG:
        mean = sum(known, Decimal(0)) / len(known)
        return mean.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if rule is Fold.LAST:
        return known[-1]
    return max(known)


def idle_period(rule: Fold, figure: Decimal | None) -> bool:
    """True for a period a mean over periods leaves out: its figure is 0 (nothing was served)."""
    return rule is Fold.AVG and figure is not None and figure == 0


def fold_periods(rule: Fold, figures: Sequence[Decimal | None], places: int = 2) -> Decimal | None:
    """A year's figure from its periods' figures by ``rule``; a mean leaves idle (0) periods out.

    A year where every period was 0 is 0, not unknown.
    """
    if rule is Fold.AVG and any(f is not None for f in figures) and all(f is None or f == 0 for f in figures):
        return Decimal(0)
    return fold(rule, [None if idle_period(rule, f) else f for f in figures], places)
