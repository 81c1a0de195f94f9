"""Saved reports: versioned writes with one current version, and the reads around them.

One truth per school, form, period and series: saving supersedes the current
version and inserts the next one in the same transaction. The partial unique
index ``uq_reports_current`` (see ``storage.models.reports``) makes it a
schema fact, so when two reporters of one school submit the same period at
the same instant, one transaction fails on the index and ``save_report_retrying``
runs it again on top of the winner: one ends current, the other is history.

A submission from the conversation says which version it was made against
(``NewReport.check_based_on``): the current version it corrects, or none for a
first report. If the series' current version is another one by the time the
save runs (someone else filed or corrected it meanwhile, in any process), the
save writes nothing and raises ``CurrentChanged``. The check reads the current
version in the transaction that writes the next one, and the unique indexes
make a concurrent writer fail and re-read, so it holds across processes.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, literal_column, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import Person, Report, ReportFlag, ReportValue, School, SchoolProgramme
from storage.people import REPORTS_FOR_SCHOOL

SelectT = TypeVar("SelectT", bound=Select[Any])
MAX_ATTEMPTS = 6

# Written bare on purpose. SQLite uses the partial unique index ``uq_reports_current``
# (school, form, period ... WHERE is_current) only when the query says exactly
# ``is_current``; SQLAlchemy writes ``IS_CURRENT`` as ``IS 1``, which
# sends SQLite to the (form, period, is_current) index instead, and an anti-join over
# every school turns quadratic (minutes at 10,000 schools instead of milliseconds).
IS_CURRENT: ColumnElement[bool] = literal_column(f"{Report.__tablename__}.is_current")
# A withdrawn entry's current version is kept for the history and counts nowhere: every sum,
# count, export and "has it been filed" of current figures reads ``COUNTED``, not ``IS_CURRENT``.
NOT_WITHDRAWN: ColumnElement[bool] = Report.withdrawn.is_(False)
COUNTED: ColumnElement[bool] = and_(IS_CURRENT, NOT_WITHDRAWN)


def has_current_report(form_key: Any, period: Any) -> ColumnElement[bool]:
    """EXISTS a current, not withdrawn report of ``form_key`` for ``period`` by the school of the
    outer query (a withdrawn report counts as not filed)."""
    return exists().where(
        Report.school_id == School.id,
        Report.form_key == form_key,
        Report.period == period,
        IS_CURRENT,
        NOT_WITHDRAWN,
    )


def expected_schools(stmt: SelectT, programme: str | None) -> SelectT:
    """Limit ``stmt`` (over ``schools``) to those expected to report a form of ``programme``
    (every school when the form has no programme)."""
    if programme is None:
        return stmt
    return stmt.join(SchoolProgramme, and_(SchoolProgramme.school_id == School.id, SchoolProgramme.programme == programme))


# PostgreSQL's "deadlock detected" and "could not serialize": the transaction may simply run again.
_RETRYABLE_SQLSTATES = {"40P01", "40001"}


def _retryable(exc: DBAPIError) -> bool:
    """A lost race worth running again: a unique index, a deadlock, or SQLite's writer lock."""
    if isinstance(exc, IntegrityError):
        return True
    if getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "locked" in str(exc).lower()


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
    # Compare-and-set: when ``check_based_on``, the save happens only if the series' current
    # version is ``based_on`` (a report id; None: there is none, this is the first report).
    based_on: int | None = None
    check_based_on: bool = False
    # The words as typed for values whose unit was converted (field_key -> "1200斤").
    originals: Mapping[str, str] = field(default_factory=dict)
    # Warnings the principal confirmed with a reason, stored with the version.
    flags: Sequence[NewFlag] = ()
    # This version takes the entry back: kept in the history, excluded from sums.
    withdrawn: bool = False
    # Filed by the office for the school, and why (``reporter_id`` is then the staff member).
    behalf_reason: str | None = None
    # A principal's save: refused (``ReportApproved``, nothing written) when the office has
    # approved the series' current version meanwhile (issue 15: approved is locked for them).
    unless_approved: bool = False


@dataclass(frozen=True)
class NewFlag:
    """A warning confirmed with a reason (see ``storage.models.ReportFlag``)."""

    code: str
    message: str
    reason: str
    field_key: str | None = None
    detail: Mapping[str, Any] | None = None


class ReportApproved(Exception):
    """The series' current version is approved: a principal's save on top of it is refused."""

    def __init__(self, report_id: int) -> None:
        super().__init__(report_id)
        self.report_id = report_id


class CurrentChanged(Exception):
    """The series' current version is no longer the one the submission was made against."""

    def __init__(self, current_id: int | None) -> None:
        super().__init__(current_id)
        self.current_id = current_id


async def save_report(session: AsyncSession, new: NewReport) -> Report:
    """Supersede the current version (if any) and insert the next, in the caller's transaction.

    Raises ``CurrentChanged`` (having written nothing) when ``new.check_based_on`` and the
    current version is not ``new.based_on``.
    """
    # Saves for one school take turns on PostgreSQL, so racing reporters queue instead of
    # colliding in the unique indexes, where PostgreSQL can deadlock. NO KEY UPDATE does not block
    # other tables' foreign-key checks on the school. SQLite serialises writers anyway (and has no
    # FOR UPDATE: the statement would be a plain read); a race there ends in the unique index and
    # is run again by save_report_retrying.
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(select(School.id).where(School.id == new.school_id).with_for_update(key_share=True))
    key = (
        Report.school_id == new.school_id,
        Report.form_key == new.form_key,
        Report.period == new.period,
        Report.series == new.series,
    )
    # The newest version and the current one in one read (a first report, the common case, then
    # writes nothing but itself).
    latest, superseded, live, approved = (
        await session.execute(
            select(
                func.max(Report.version),
                func.max(case((IS_CURRENT, Report.id))),
                func.max(case((COUNTED, Report.id))),
                func.max(case((and_(COUNTED, Report.review == "approved"), Report.id))),
            ).where(*key)
        )
    ).one()
    if new.unless_approved and approved is not None:
        raise ReportApproved(approved)
    # A withdrawn current version is there for the history only: filing anew goes on top of it
    # as if there were none (and nobody can correct it, so ``based_on`` never names it).
    if new.check_based_on and live != new.based_on:
        raise CurrentChanged(live)
    if superseded is not None:
        await session.execute(update(Report).where(Report.id == superseded).values(is_current=False))
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
        withdrawn=new.withdrawn,
        on_behalf=new.behalf_reason is not None,
        behalf_reason=new.behalf_reason,
    )
    report.values = [
        ReportValue(field_key=k, num_value=num, text_value=txt, original=new.originals.get(k))
        for k, (num, txt) in new.values.items()
    ]
    report.flags = [
        ReportFlag(
            field_key=f.field_key, code=f.code, message=f.message, detail=dict(f.detail) if f.detail else None, reason=f.reason
        )
        for f in new.flags
    ]
    session.add(report)
    await session.flush()
    return report


async def save_report_retrying(
    db: Database,
    new: NewReport,
    *,
    also: Callable[[AsyncSession, Report], Awaitable[None]] | None = None,
) -> Report:
    """Save in its own transaction, re-running it when a concurrent save won the race.

    ``also`` runs in the same transaction after the report is written (and again
    on every retry): the conversation deletes its draft and writes the audit row
    there, so a report, its audit row and the end of its draft commit together
    or not at all. Returns only after the commit, so the caller may say "saved".
    ``CurrentChanged`` and ``ReportApproved`` are not retried: on top of the winner the answer is the same.
    """
    for attempt in range(MAX_ATTEMPTS):
        try:
            async with db.session() as session:
                report = await save_report(session, new)
                if also is not None:
                    await also(session, report)
                return report
        except DBAPIError as exc:
            if not _retryable(exc):
                raise
        await asyncio.sleep(0.01 * (attempt + 1))
    raise RuntimeError(f"could not save report for school {new.school_id} after {MAX_ATTEMPTS} attempts")


def withdrawal(report: Report, *, reporter_id: int | None, at: datetime) -> NewReport:
    """What taking ``report`` (a current version) back writes: the next version of its series,
    marked withdrawn, with the same values. Saved with ``save_report``, it raises ``CurrentChanged``
    (having written nothing) when ``report`` is no longer the series' counted version."""
    return NewReport(
        school_id=report.school_id,
        form_key=report.form_key,
        form_version=report.form_version,
        period=report.period,
        series=report.series,
        values={v.field_key: (v.num_value, v.text_value) for v in report.values},
        originals={v.field_key: v.original for v in report.values if v.original is not None},
        reporter_id=reporter_id,
        submitted_at=at,
        is_late=report.is_late,
        based_on=report.id,
        check_based_on=True,
        # Kept with the copy for the history; no count reads a withdrawn version's flags.
        flags=[NewFlag(f.code, f.message, f.reason, f.field_key, f.detail) for f in report.flags],
        withdrawn=True,
    )


async def current_report(session: AsyncSession, school_id: int, form_key: str, period: str, series: str = "") -> Report | None:
    """The series' current version, unless it is withdrawn (then there is nothing to correct)."""
    return await session.scalar(
        select(Report).where(
            Report.school_id == school_id,
            Report.form_key == form_key,
            Report.period == period,
            Report.series == series,
            COUNTED,
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


async def recent_reports(session: AsyncSession, school_id: int, limit: int = 10, *, withdrawn: bool = False) -> Sequence[Report]:
    """The school's current reports, newest first (with the withdrawn ones when ``withdrawn``)."""
    return (
        await session.scalars(
            select(Report)
            .where(Report.school_id == school_id, IS_CURRENT if withdrawn else COUNTED)
            .order_by(Report.submitted_at.desc(), Report.id.desc())
            .limit(limit)
        )
    ).all()


async def reported_periods(session: AsyncSession, school_id: int, form_key: str, periods: Sequence[str]) -> set[str]:
    """Which of ``periods`` already have a current, not withdrawn report of ``form_key`` for the school."""
    if not periods:
        return set()
    rows = await session.scalars(
        select(Report.period)
        .where(
            Report.school_id == school_id,
            Report.form_key == form_key,
            Report.period.in_(list(periods)),
            COUNTED,
        )
        .distinct()
    )
    return set(rows.all())


async def count_current_reports(session: AsyncSession, school_id: int, form_key: str, period: str) -> int:
    """How many current, not withdrawn reports (series) of ``form_key`` the school has for ``period`` (events: how many harvests)."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Report)
            .where(
                Report.school_id == school_id,
                Report.form_key == form_key,
                Report.period == period,
                COUNTED,
            )
        )
        or 0
    )


async def count_reports_from(session: AsyncSession, source: str) -> int:
    """How many report versions came from ``source`` (the demo loader checks it has not run yet)."""
    return int(await session.scalar(select(func.count()).select_from(Report).where(Report.source == source)) or 0)


async def schools_with_reporter(session: AsyncSession) -> list[tuple[School, int | None]]:
    """Every school (by code) with its first active principal's id (None when it has none)."""
    schools = (await session.scalars(select(School).order_by(School.code))).all()
    first = (
        select(Person.school_id, func.min(Person.id))
        .where(REPORTS_FOR_SCHOOL, Person.active.is_(True))
        .group_by(Person.school_id)
    )
    reporters = {school_id: person_id for school_id, person_id in (await session.execute(first)).all()}
    return [(school, reporters.get(school.id)) for school in schools]
