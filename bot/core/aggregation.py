"""How a field's figures roll up: across schools (one period) and across periods (a year).

A form's number field says both in the catalogue (``across_schools``,
``across_periods``; default ``sum``). Students drinking milk daily are summed
over schools and *averaged* over months; a semester's insured head count is
summed over schools and the *latest* semester is the year's; premiums add up
over both. Nothing adds averages: a year view folds each period's figure with
the field's ``across_periods`` rule.

``fold`` is pure and works on period figures in period order; ``None`` is a
period with no figure (not reported, not zero) and is left out of every rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

__all__ = ["Fold", "fold"]


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
