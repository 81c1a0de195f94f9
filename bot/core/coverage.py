"""Coverage: how complete the reports behind a figure are, and whether two figures compare.

Every figure the office reads carries one ``Coverage`` per period it is built
on: the schools expected to report, those that did, those on time, the due
date and the period's state (``bot.core.periods.PeriodState``: open, due, late,
closed). A figure over several periods (a year) carries a tuple of them.

Two periods' figures are compared (上升/下降 x%) only when their coverage is
alike (``comparable``): both in the same stage (not over / over but not yet
due / past due), and both fully reported or both not. Otherwise the
comparison is shown with both coverages ("上期 10/10 所，本期 4/10 所，暂不比较").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from bot.core.periods import Period, PeriodState

__all__ = ["Coverage", "comparable", "incomplete"]


@dataclass(frozen=True)
class Coverage:
    """One period's reporting coverage for a form (in a scope: the city or a district)."""

    period: Period
    state: PeriodState
    due: date | None
    expected: int
    reported: int
    on_time: int
    # False for a period that has not begun yet (an open period in the future).
    started: bool = True

    @property
    def complete(self) -> bool:
        """Every expected school has reported and the period is over (nothing expected: not complete)."""
        return self.state is not PeriodState.OPEN and self.expected > 0 and self.reported >= self.expected

    @property
    def missing(self) -> int:
        """Expected schools without a report (never negative)."""
        return max(self.expected - self.reported, 0)

    @property
    def stage(self) -> str:
        """``open`` (not over), ``due`` (over, due date ahead) or ``finished`` (late or closed)."""
        return "finished" if self.state.finished else self.state.value

    def label(self, lang: str = "zh") -> str:
        """ "4/10 所" / "4/10 schools"."""
        return f"{self.reported}/{self.expected} 所" if lang == "zh" else f"{self.reported}/{self.expected} schools"


def comparable(a: Coverage, b: Coverage) -> bool:
    """True when figures built on ``a`` and ``b`` may be compared as they stand."""
    return a.stage == b.stage and a.complete == b.complete and a.reported > 0 and b.reported > 0


def incomplete(coverages: Sequence[Coverage]) -> list[Coverage]:
    """The periods whose figures are not final: not over, not fully reported (in period order)."""
    return [c for c in coverages if not c.complete]
