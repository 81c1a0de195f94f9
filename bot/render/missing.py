"""Missing means missing: which of an export's unreported (school, period) pairs are late (未报) and which
are not yet due (待报).

A report is *missing* (未报) only once its due date has passed (period state
``late`` or ``closed``); a period still running or before its due date is
*pending* (待报), listed with its due date. Each line carries its period, due
date, days late and whether the period is locked. Pure: the moment is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING

from bot.core.catalogue import Form
from bot.core.periods import Period, PeriodState, due_date, local_date, parse_period, period_state

if TYPE_CHECKING:
    from storage.completeness import MissingReport

__all__ = ["MissingLine", "split_missing"]


@dataclass(frozen=True)
class MissingLine:
    """One expected school without a report for a period, with where that period stands."""

    report: MissingReport
    period: Period | None  # None: a key of an older catalogue's cadence
    state: PeriodState | None
    due: date | None
    days_late: int | None

    @property
    def locked(self) -> bool:
        return self.state is PeriodState.CLOSED

    @property
    def late(self) -> bool:
        """Past its due date (or of a period that can no longer be read: counted as missing, never hidden)."""
        return self.state is None or self.state.finished


def _line(form: Form, missing: MissingReport, now: datetime, tz: tzinfo) -> MissingLine:
    try:
        period = parse_period(form.period_cadence, missing.period)
    except ValueError:
        return MissingLine(missing, None, None, None, None)
    due = due_date(form, period)
    state = period_state(form, period, now, tz)
    days = (local_date(now, tz) - due).days if due is not None and state.finished else None
    return MissingLine(missing, period, state, due, days)


def split_missing(
    form: Form, missing: Sequence[MissingReport], now: datetime, tz: tzinfo
) -> tuple[list[MissingLine], list[MissingLine]]:
    """``(late, pending)``: the past-due missing reports (未报) and those not yet due (待报), in the given order."""
    lines = [_line(form, m, now, tz) for m in missing]
    return [line for line in lines if line.late], [line for line in lines if not line.late]
