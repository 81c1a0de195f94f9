"""Who has not reported, and how complete each district is: anti-joins and GROUP BYs over current reports.

Shared by the reminders' digests and ``/overdue`` (``missing_reports``,
``completeness``) and the office summaries (``unreported_by_period``). A
school is *expected* to report a form when it is enrolled in the form's
programme (every school when the form has none); a missing report is a school
with no current version for the period — never a report of 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import String, case, func, literal, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import District, Person, Report, School
from storage.reminders import principal_of_school
from storage.reports import expected_schools, has_current_report
from storage.sql import AnySelect, fetch_rows, in_district

__all__ = [
    "Completeness",
    "MissingReport",
    "MissingRow",
    "completeness",
    "first_reported_period",
    "missing_reports",
    "unreported_by_period",
]


@dataclass(frozen=True)
class MissingRow:
    """A school without a current report, with one of its reporters (None if it has none)."""

    school_id: int
    school_code: str
    school_name: str
    district_id: int
    district_name: str
    person_id: int | None
    person_name: str | None
    blocked: bool
    # The reporter's role: ``principal`` or ``reporter`` (a deputy); None without a reporter.
    person_role: str | None = None


async def missing_reports(
    session: AsyncSession,
    *,
    form_key: str,
    programme: str | None,
    period: str,
    district_id: int | None = None,
    school_id: int | None = None,
) -> list[MissingRow]:
    """Schools expected to report ``form_key`` for ``period`` that have no current report, with their reporters.

    One row per (school, reporter); a school without reporters appears once with person None.
    """
    stmt: AnySelect = (
        select(
            School.id,
            School.code,
            School.name,
            District.id,
            District.name,
            Person.id,
            Person.name,
            Person.blocked,
            Person.role,
        )
        .select_from(School)
        .join(District, District.id == School.district_id)
        .outerjoin(Person, principal_of_school())
        .where(~has_current_report(form_key, period))
        .order_by(District.name, School.code, Person.id)
    )
    stmt = in_district(expected_schools(stmt, programme), district_id)
    if school_id is not None:
        stmt = stmt.where(School.id == school_id)
    rows = await session.execute(stmt)
    return [
        MissingRow(
            school_id=r[0],
            school_code=r[1],
            school_name=r[2],
            district_id=r[3],
            district_name=r[4],
            person_id=r[5],
            person_name=r[6],
            blocked=bool(r[7]),
            person_role=r[8],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Completeness:
    """How many of a district's expected schools have a current report."""

    district_id: int
    district_name: str
    expected: int
    reported: int


async def completeness(
    session: AsyncSession, *, form_key: str, programme: str | None, period: str, district_id: int | None = None
) -> list[Completeness]:
    """Expected and reported schools per district for one form and period (a GROUP BY, not a loop)."""
    reported = case((has_current_report(form_key, period), 1), else_=0)
    stmt = (
        select(District.id, District.name, func.count(School.id), func.coalesce(func.sum(reported), 0))
        .select_from(School)
        .join(District, District.id == School.district_id)
        .group_by(District.id, District.name)
        .order_by(District.name)
    )
    stmt = in_district(expected_schools(stmt, programme), district_id)
    rows = await session.execute(stmt)
    return [Completeness(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


@dataclass(frozen=True)
class MissingReport:
    """An expected school with no current report for a period."""

    period: str
    school_code: str
    school_name: str
    district: str
    school_id: int
    district_id: int


async def unreported_by_period(
    session: AsyncSession,
    form_key: str,
    programme: str | None,
    periods: Sequence[str],
    *,
    district_id: int | None = None,
) -> list[MissingReport]:
    """Expected (school, period) pairs without a current report, by period, district, school."""
    if not periods:
        return []
    each = [select(literal(key, String).label("period")) for key in periods]
    asked = (union_all(*each) if len(each) > 1 else each[0]).subquery("asked")
    stmt = (
        select(asked.c.period, School.code, School.name, District.name, School.id, District.id)
        .select_from(asked)
        .join(School, true())
        .join(District, District.id == School.district_id)
        .where(~has_current_report(form_key, asked.c.period))
    )
    stmt = expected_schools(stmt, programme)
    stmt = in_district(stmt, district_id).order_by(asked.c.period, District.name, School.code)
    return [
        MissingReport(
            period=period, school_code=code, school_name=name, district=district, school_id=school_id, district_id=district_id
        )
        for period, code, name, district, school_id, district_id in await fetch_rows(session, stmt)
    ]


async def first_reported_period(session: AsyncSession, form_key: str) -> str | None:
    """The earliest period key any report of ``form_key`` was ever filed for (any version); None if none was.

    Keys of one cadence sort as their periods do (``2026-09`` < ``2026-10``, ``2026-Q1`` < ``2026-Q2``).
    """
    result = await session.scalar(select(func.min(Report.period)).where(Report.form_key == form_key))
    return str(result) if result is not None else None
