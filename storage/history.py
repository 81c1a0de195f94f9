"""A school's history as the checks at the review need it (issue 13 points 3, 4, 6).

Three reads, each one round trip:

* ``past_reports``: the school's current reports of a form for the periods before
  one, newest first, with their answers (last period's value at each question, the
  school's own min–max range);
* ``peer_spread``: per number field, how many other schools answered this period and
  their lowest and highest figure (an SQL aggregate, not a loop over rows);
* ``recent_entries``: the school's event entries (harvests) filed since a moment, with
  their answers, to spot one sent twice.

Withdrawn entries count nowhere, so none of these reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Report, ReportValue
from storage.reports import COUNTED
from storage.sql import exact_decimal, fetch_rows

__all__ = ["PastReport", "PeerSpread", "past_reports", "peer_spread", "recent_entries"]

Values = dict[str, tuple[Decimal | None, str | None]]


@dataclass
class PastReport:
    """A current report's period, id, submission time and answers (``field -> (number, text)``)."""

    report_id: int
    period: str
    series: str
    submitted_at: datetime
    values: Values = field(default_factory=dict)


@dataclass(frozen=True)
class PeerSpread:
    count: int
    low: Decimal
    high: Decimal


_LIVE = (COUNTED,)


async def _with_values(session: AsyncSession, ids: Select[int]) -> list[PastReport]:
    """Reports (chosen by the ``ids`` subquery) with their answers, in the subquery's order."""
    stmt = (
        select(
            Report.id,
            Report.period,
            Report.series,
            Report.submitted_at,
            ReportValue.field_key,
            ReportValue.num_value,
            ReportValue.text_value,
        )
        .outerjoin(ReportValue, ReportValue.report_id == Report.id)
        .where(Report.id.in_(ids))
        .order_by(Report.period.desc(), Report.submitted_at.desc(), Report.id.desc())
    )
    found: dict[int, PastReport] = {}
    for row in await fetch_rows(session, stmt):
        report = found.setdefault(row.id, PastReport(row.id, row.period, row.series, row.submitted_at))
        if row.field_key is not None:
            number = exact_decimal(row.num_value) if row.num_value is not None else None
            report.values[row.field_key] = (number, row.text_value)
    return list(found.values())


async def past_reports(session: AsyncSession, school_id: int, form_key: str, before: str, limit: int = 12) -> list[PastReport]:
    """The school's current reports of ``form_key`` for periods before ``before``, newest first (at most ``limit``).

    Period keys of one cadence sort as text in time order (``2026-09`` < ``2026-10``, ``2026-S1`` < ``2026-S2``).
    """
    ids = (
        select(Report.id)
        .where(Report.school_id == school_id, Report.form_key == form_key, Report.period < before, *_LIVE)
        .order_by(Report.period.desc())
        .limit(limit)
    )
    return await _with_values(session, ids)


async def peer_spread(session: AsyncSession, school_id: int, form_key: str, period: str) -> dict[str, PeerSpread]:
    """Per number field: how many other schools answered it for ``period``, lowest and highest figure."""
    stmt = (
        select(ReportValue.field_key, func.count(), func.min(ReportValue.num_value), func.max(ReportValue.num_value))
        .join(Report, Report.id == ReportValue.report_id)
        .where(
            Report.form_key == form_key,
            Report.period == period,
            *_LIVE,
            Report.school_id != school_id,
            ReportValue.num_value.is_not(None),
        )
        .group_by(ReportValue.field_key)
    )
    return {
        key: PeerSpread(int(count), exact_decimal(low), exact_decimal(high))
        for key, count, low, high in await fetch_rows(session, stmt)
    }


async def recent_entries(session: AsyncSession, school_id: int, form_key: str, since: datetime) -> list[PastReport]:
    """The school's current entries of ``form_key`` submitted at or after ``since``, newest first."""
    ids = select(Report.id).where(
        Report.school_id == school_id, Report.form_key == form_key, Report.submitted_at >= since, *_LIVE
    )
    reports = await _with_values(session, ids)
    return sorted(reports, key=lambda report: (report.submitted_at, report.report_id), reverse=True)
