"""Saved reports: versioned writes with one current version, and the reads around them.

One truth per school, form, period and series: saving supersedes the current
version and inserts the next one in the same transaction. The partial unique
index ``uq_reports_current`` (see ``storage.models.reports``) makes it a
schema fact, so when two reporters of one school submit the same period at
the same instant, one transaction fails on the index and ``save_report_retrying``
runs it again on top of the winner: one ends current, the other is history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import Report, ReportValue

MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class NewReport:
    """What a submission writes: the values are ``field_key -> (number, text)``."""

    school_id: int
    form_key: str
    form_version: int
    period: str
    values: Mapping[str, tuple[Decimal | None, str | None]]
    reporter_id: int | None
    submitted_at: datetime
    is_late: bool
    series: str = ""
    source: str = "chat"


async def save_report(session: AsyncSession, new: NewReport) -> Report:
    """Supersede the current version (if any) and insert the next, in the caller's transaction."""
    key = (
        Report.school_id == new.school_id,
        Report.form_key == new.form_key,
        Report.period == new.period,
        Report.series == new.series,
    )
    superseded = (
        await session.execute(
            update(Report).where(*key, Report.is_current.is_(True)).values(is_current=False).returning(Report.id)
        )
    ).scalar()
    latest = await session.scalar(select(func.max(Report.version)).where(*key))
    report = Report(
        school_id=new.school_id,
        form_key=new.form_key,
        form_version=new.form_version,
        period=new.period,
        series=new.series,
        version=(latest or 0) + 1,
        is_current=True,
        reporter_id=new.reporter_id,
        submitted_at=new.submitted_at,
        is_late=new.is_late,
        supersedes_id=superseded,
        source=new.source,
    )
    report.values = [ReportValue(field_key=k, num_value=num, text_value=txt) for k, (num, txt) in new.values.items()]
    session.add(report)
    await session.flush()
    return report


async def save_report_retrying(db: Database, new: NewReport) -> Report:
    """Save in its own transaction, re-running it when a concurrent save won the race.

    Returns only after the commit, so the caller may say "saved".
    """
    for attempt in range(MAX_ATTEMPTS):
        try:
            async with db.session() as session:
                return await save_report(session, new)
        except IntegrityError:
            pass  # another version became current meanwhile: go again on top of it
        except OperationalError as exc:
            if "locked" not in str(exc).lower():  # SQLite's writer lock; anything else is real
                raise
        await asyncio.sleep(0.01 * (attempt + 1))
    raise RuntimeError(f"could not save report for school {new.school_id} after {MAX_ATTEMPTS} attempts")


async def current_report(
    session: AsyncSession, school_id: int, form_key: str, period: str, series: str = ""
) -> Report | None:
    return await session.scalar(
        select(Report).where(
            Report.school_id == school_id,
            Report.form_key == form_key,
            Report.period == period,
            Report.series == series,
            Report.is_current.is_(True),
        )
    )


async def report_by_id(session: AsyncSession, report_id: int) -> Report | None:
    return await session.get(Report, report_id)


async def versions_of(session: AsyncSession, report: Report) -> Sequence[Report]:
    """Every version of the report's series, oldest first (the audit trail)."""
    return (
        await session.scalars(
            select(Report)
            .where(
                Report.school_id == report.school_id,
                Report.form_key == report.form_key,
                Report.period == report.period,
                Report.series == report.series,
            )
            .order_by(Report.version)
        )
    ).all()


async def recent_reports(session: AsyncSession, school_id: int, limit: int = 10) -> Sequence[Report]:
    """The school's current reports, newest first."""
    return (
        await session.scalars(
            select(Report)
            .where(Report.school_id == school_id, Report.is_current.is_(True))
            .order_by(Report.submitted_at.desc(), Report.id.desc())
            .limit(limit)
        )
    ).all()


async def reported_periods(session: AsyncSession, school_id: int, form_key: str, periods: Sequence[str]) -> set[str]:
    """Which of ``periods`` already have a current report of ``form_key`` for the school."""
    if not periods:
        return set()
    rows = await session.scalars(
        select(Report.period)
        .where(
            Report.school_id == school_id,
            Report.form_key == form_key,
            Report.period.in_(list(periods)),
            Report.is_current.is_(True),
        )
        .distinct()
    )
    return set(rows.all())
