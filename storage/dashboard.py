"""The dashboard's reads (issue 16 point 3): the completeness grid, a school's versions, the review queue.

Each page reads with one grouped statement where it can:

* ``grid_cells``: every expected school of a form with, per period it filed, a letter for
  the cell (on time, late, withdrawn; approved or not): one ``GROUP BY school, period``
  over the current reports, outer-joined to the schools and grouped by school, so a school
  that filed nothing still has its row;
* ``school_by_code`` / ``school_versions`` / ``school_flags``: one school (inside a scope),
  every version it ever filed with its answers, and the warnings its principals confirmed;
* ``awaiting_review``: the review queue of ``/review`` (``storage.reviews.in_review``: counted
  current versions still ``submitted``) in its order, with how many warnings each carries.

A missing report is a school with no entry for the period, never a 0; withdrawn entries
have a letter of their own so the grid can show them as withdrawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import District, Person, Report, ReportFlag, ReportValue, School, SchoolProgramme
from storage.reports import IS_CURRENT, NOT_WITHDRAWN, expected_schools
from storage.reviews import APPROVED, in_review
from storage.sql import AnySelect, exact_decimal, fetch_rows, in_district

__all__ = [
    "GridQuery",
    "GridRow",
    "SchoolInfo",
    "VersionRow",
    "awaiting_review",
    "district_choices",
    "grid_cells",
    "school_by_code",
    "school_flags",
    "school_versions",
]


@dataclass(frozen=True)
class GridQuery:
    """Which schools and periods the grid shows: a form's expected schools, narrowed by filters."""

    form_key: str
    programme: str | None
    periods: tuple[str, ...]
    district_id: int | None = None
    # "urban" / "rural"; None: both.
    area: str | None = None
    # Only schools enrolled in this programme as well (a filter on top of the form's own).
    enrolled: str | None = None


# A filed cell's state, decided in SQL: on time, late (something counts), withdrawn (nothing
# counts); upper case when every counted entry is approved.
ON_TIME, LATE, WITHDRAWN = "o", "l", "w"


@dataclass(slots=True)
class GridRow:
    """One expected school with its filed periods as ``"2026-09o,2026-10L"`` (None: nothing filed).

    Each item is a period key followed by one letter (``ON_TIME``, ``LATE``, ``WITHDRAWN``;
    upper case: approved); a period the school did not file is absent, never a 0.
    """

    school_id: int
    school_code: str
    school_name: str
    district_id: int
    district: str
    filed: str | None


def _filtered(stmt: AnySelect, query: GridQuery) -> AnySelect:
    stmt = in_district(expected_schools(stmt, query.programme), query.district_id)
    if query.area is not None:
        stmt = stmt.where(School.area == query.area)
    if query.enrolled is not None and query.enrolled != query.programme:
        also = select(SchoolProgramme.school_id).where(SchoolProgramme.programme == query.enrolled)
        stmt = stmt.where(School.id.in_(also))
    return stmt


async def grid_cells(session: AsyncSession, query: GridQuery) -> list[GridRow]:
    """Every school of the grid with its filed periods' states, by district name and school code.

    One statement: the current reports grouped by school and period give each cell's letter;
    grouped again by school, one row per school carries its letters (a city's 1,000 rows,
    not 12,000), so nothing is decided per cell in Python but where the letter goes.
    """
    counted = func.sum(case((NOT_WITHDRAWN, 1), else_=0))
    on_time = func.sum(case((and_(NOT_WITHDRAWN, Report.is_late.is_(False)), 1), else_=0))
    approved = func.sum(case((and_(NOT_WITHDRAWN, Report.review == APPROVED), 1), else_=0))
    letter = case(
        (counted == 0, WITHDRAWN),
        (approved == counted, case((on_time > 0, ON_TIME.upper()), else_=LATE.upper())),
        (on_time > 0, ON_TIME),
        else_=LATE,
    )
    filed = (
        select(Report.school_id.label("school_id"), (Report.period + letter).label("cell"))
        .where(Report.form_key == query.form_key, Report.period.in_(list(query.periods)), IS_CURRENT)
        .group_by(Report.school_id, Report.period)
        .subquery("filed")
    )
    stmt: AnySelect = (
        select(School.id, School.code, School.name, District.id, District.name, func.aggregate_strings(filed.c.cell, ","))
        .select_from(School)
        .join(District, District.id == School.district_id)
        .outerjoin(filed, filed.c.school_id == School.id)
        .group_by(School.id, School.code, School.name, District.id, District.name)
        .order_by(District.name, School.code)
    )
    rows = await fetch_rows(session, _filtered(stmt, query))
    return [GridRow(*row) for row in rows]


async def district_choices(session: AsyncSession, district_id: int | None = None) -> list[tuple[int, str]]:
    """The districts a filter may offer (only the scoped one for district staff), by name."""
    stmt = select(District.id, District.name).order_by(District.name)
    if district_id is not None:
        stmt = stmt.where(District.id == district_id)
    return [(int(i), str(n)) for i, n in await fetch_rows(session, stmt)]


@dataclass(frozen=True)
class SchoolInfo:
    id: int
    code: str
    name: str
    district_id: int
    district: str
    area: str
    programmes: tuple[str, ...]


async def school_by_code(session: AsyncSession, code: str, district_id: int | None) -> SchoolInfo | None:
    """The school with ``code`` inside the scope (None: no such school, or outside the district)."""
    stmt = in_district(
        select(School.id, School.code, School.name, District.id, District.name, School.area, SchoolProgramme.programme)
        .join(District, District.id == School.district_id)
        .outerjoin(SchoolProgramme, SchoolProgramme.school_id == School.id)
        .where(School.code == code)
        .order_by(SchoolProgramme.programme),
        district_id,
    )
    rows = await fetch_rows(session, stmt)
    if not rows:
        return None
    first = rows[0]
    programmes = tuple(r[6] for r in rows if r[6] is not None)
    return SchoolInfo(first[0], first[1], first[2], first[3], first[4], first[5], programmes)


@dataclass
class VersionRow:
    """One saved version of a school's report, with its answers (``field -> (number, text)``)."""

    report_id: int
    form_key: str
    period: str
    series: str
    version: int
    is_current: bool
    withdrawn: bool
    is_late: bool
    submitted_at: datetime
    source: str
    reporter: str | None
    # The office's review of this version: submitted / approved / returned, by whom, when, why.
    review: str = "submitted"
    reviewer: str | None = None
    reviewed_at: datetime | None = None
    review_reason: str | None = None
    values: dict[str, tuple[Decimal | None, str | None]] = field(default_factory=dict)


async def school_versions(session: AsyncSession, school_id: int, limit: int = 200) -> list[VersionRow]:
    """The school's saved versions (every form, history included), newest period first, at most ``limit``."""
    reviewer = aliased(Person)
    ids = (
        select(Report.id)
        .where(Report.school_id == school_id)
        .order_by(Report.period.desc(), Report.submitted_at.desc(), Report.id.desc())
        .limit(limit)
    )
    stmt = (
        select(
            Report.id,
            Report.form_key,
            Report.period,
            Report.series,
            Report.version,
            Report.is_current,
            Report.withdrawn,
            Report.is_late,
            Report.submitted_at,
            Report.source,
            Person.name,
            ReportValue.field_key,
            ReportValue.num_value,
            ReportValue.text_value,
            Report.review,
            reviewer.name,
            Report.reviewed_at,
            Report.review_reason,
        )
        .outerjoin(Person, Person.id == Report.reporter_id)
        .outerjoin(reviewer, reviewer.id == Report.reviewed_by_id)
        .outerjoin(ReportValue, ReportValue.report_id == Report.id)
        .where(Report.id.in_(ids))
        .order_by(Report.period.desc(), Report.submitted_at.desc(), Report.id.desc())
    )
    found: dict[int, VersionRow] = {}
    for r in await fetch_rows(session, stmt):
        row = found.get(r[0])
        if row is None:
            row = found[r[0]] = VersionRow(
                *(r[0], r[1], r[2], r[3], r[4], bool(r[5]), bool(r[6]), bool(r[7]), r[8], r[9], r[10]),
                review=r[14],
                reviewer=r[15],
                reviewed_at=r[16],
                review_reason=r[17],
            )
        if r[11] is not None:
            row.values[r[11]] = (exact_decimal(r[12]) if r[12] is not None else None, r[13])
    return list(found.values())


@dataclass(frozen=True)
class SchoolFlag:
    report_id: int
    field_key: str | None
    code: str
    message: str
    reason: str


async def school_flags(session: AsyncSession, report_ids: Sequence[int]) -> list[SchoolFlag]:
    """The confirmed warnings of these report versions (current or not: the history shows them all)."""
    if not report_ids:
        return []
    stmt = (
        select(ReportFlag.report_id, ReportFlag.field_key, ReportFlag.code, ReportFlag.message, ReportFlag.reason)
        .where(ReportFlag.report_id.in_(list(report_ids)))
        .order_by(ReportFlag.report_id, ReportFlag.id)
    )
    return [SchoolFlag(*r) for r in await fetch_rows(session, stmt)]


@dataclass(frozen=True)
class Submitted:
    """A current report as the review queue lists it."""

    report_id: int
    period: str
    series: str
    version: int
    is_late: bool
    submitted_at: datetime
    school_code: str
    school_name: str
    district: str
    reporter: str | None
    flags: int


async def awaiting_review(
    session: AsyncSession, form_key: str, periods: Sequence[str], *, district_id: int | None = None, limit: int = 200
) -> tuple[int, list[Submitted]]:
    """How many reports of the form the periods have awaiting review, and the first ``limit`` in ``/review``'s order."""
    if not periods:
        return 0, []
    flags = select(ReportFlag.report_id.label("report_id"), func.count().label("n")).group_by(ReportFlag.report_id).subquery("f")
    base = (
        select(
            Report.id,
            Report.period,
            Report.series,
            Report.version,
            Report.is_late,
            Report.submitted_at,
            School.code,
            School.name,
            District.name,
            Person.name,
            func.coalesce(flags.c.n, 0),
            func.count().over(),
        )
        .join(School, School.id == Report.school_id)
        .join(District, District.id == School.district_id)
        .outerjoin(Person, Person.id == Report.reporter_id)
        .outerjoin(flags, flags.c.report_id == Report.id)
        .where(in_review(form_key, periods))
        .order_by(District.name, School.code, Report.period, Report.submitted_at, Report.id)
        .limit(limit)
    )
    rows = await fetch_rows(session, in_district(base, district_id))
    total = int(rows[0][11]) if rows else 0
    return total, [Submitted(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8], r[9], int(r[10])) for r in rows]
