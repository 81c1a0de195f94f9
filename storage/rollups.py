"""Roll-ups: per-district aggregates of the current report versions, computed in SQL.

Everything here is a GROUP BY over ``reports`` (current versions only, never the
history a correction left behind) joined to ``schools`` and ``districts``, with
``report_values`` for the numbers. Callers combine the handful of district rows
into a city total; no function here loops over report rows to aggregate them.

Definitions follow DHIS2's reporting rates:

- *expected*: schools that must report the form (those enrolled in its
  programme, or every school when the form has none) times the number of
  periods asked about;
- *reported*: (school, period) pairs of expected schools with a current report;
- *on time*: those pairs with at least one current report that was not late;
- completeness = reported / expected and on-time rate = on time / expected
  (both divided by *expected*, as DHIS2 does), computed by the caller.

Programme membership is today's, not history's; a school that left a programme
is no longer expected, but the figures it did report still count in the sums
(the report is a fact), as DHIS2 keeps data values of unassigned org units.

Years are lists of period keys (``IN``), never ``LIKE '2026-%'``: the
``(form_key, period, is_current)`` index then serves every query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar, Unpack

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    distinct,
    func,
    literal,
    literal_column,
    null,
    select,
    true,
    union_all,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import CompoundSelect

from storage.models import District, Person, Report, ReportValue, School, SchoolProgramme
from storage.reports import IS_CURRENT, expected_schools, has_current_report

__all__ = [
    "DistrictRow",
    "FieldAggregate",
    "MissingReport",
    "ReportRow",
    "RollupQuery",
    "SchoolTotal",
    "current_report_rows",
    "district_name",
    "district_rollup",
    "unreported_by_period",
    "top_schools",
    "totals_by_choice",
]


def _decimal(value: Any) -> Decimal:
    """A database number as an exact Decimal (SQLite hands back floats for NUMERIC sums)."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        # NUMERIC(18, 4): four places is all the column ever held, so rounding float noise there is exact.
        number = Decimal(repr(value)).quantize(Decimal("0.0001"))
    else:
        number = Decimal(value)
    if number == number.to_integral_value():
        return Decimal(int(number))
    return number.normalize()


@dataclass(frozen=True)
class FieldAggregate:
    """Count, sum, min and max of one numeric field (empty: count 0, total 0, no min/max)."""

    count: int = 0
    total: Decimal = Decimal(0)
    minimum: Decimal | None = None
    maximum: Decimal | None = None

    @property
    def average(self) -> Decimal | None:
        """Mean of the values given; None when nobody answered."""
        if self.count == 0:
            return None
        return _decimal((self.total / self.count).quantize(Decimal("0.01")))

    def merge(self, other: FieldAggregate) -> FieldAggregate:
        """Combine the aggregates of two disjoint sets of reports (districts into the city)."""
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        assert self.minimum is not None and self.maximum is not None
        assert other.minimum is not None and other.maximum is not None
        return FieldAggregate(
            count=self.count + other.count,
            total=self.total + other.total,
            minimum=min(self.minimum, other.minimum),
            maximum=max(self.maximum, other.maximum),
        )


@dataclass(frozen=True)
class RollupQuery:
    """What to roll up: a form, the periods it is filed under, and its numeric fields."""

    form_key: str
    programme: str | None
    periods: tuple[str, ...]
    fields: tuple[str, ...]
    district_id: int | None = None
    # Event forms (harvests) file any number of reports per school and period.
    several_per_period: bool = False


@dataclass(frozen=True)
class DistrictRow:
    """One district's figures for the periods asked (or for one of them, by period)."""

    district_id: int
    district: str
    period: str | None
    schools: int
    expected: int
    reported: int
    on_time: int
    schools_reported: int
    reports: int
    fields: Mapping[str, FieldAggregate] = field(default_factory=dict)


AnySelect = Select[Unpack[tuple[Any, ...]]]
AnyRow = Row[Unpack[tuple[Any, ...]]]
_S = TypeVar("_S", bound=AnySelect)


def _scoped(stmt: _S, district_id: int | None) -> _S:
    return stmt if district_id is None else stmt.where(School.district_id == district_id)


@cache
def _rollup_statement(*, programme: bool, scoped: bool, by_period: bool, several_per_period: bool) -> CompoundSelect[Any]:
    """The roll-up as one statement with named parameters, built once per shape.

    Three GROUP BYs glued with UNION ALL, each row tagged with its kind — ``e``
    expected schools per district, ``f`` filed (school, period) pairs per
    district [and period], ``v`` value aggregates per district [, period] and
    field. Each branch reaches ``reports`` through the ``(form_key, period,
    is_current)`` index and ``report_values`` by report id (migration 0004
    makes that probe index-only on PostgreSQL). No shared CTE: SQLite cannot
    estimate a CTE's size and then builds a Bloom filter over all of
    ``report_values`` (a full scan) once the tables have statistics.

    Built once and cached (parameters: form, periods, fields, programme,
    district): constructing it costs more Python time than the query itself.
    """
    number = ReportValue.num_value.type
    current = (
        Report.form_key == bindparam("form"),
        Report.period.in_(bindparam("periods", expanding=True)),
        IS_CURRENT,
    )

    def in_scope(stmt: _S) -> _S:
        return stmt.where(School.district_id == bindparam("district")) if scoped else stmt

    def member(school_id: Any) -> ColumnElement[bool]:
        return and_(SchoolProgramme.school_id == school_id, SchoolProgramme.programme == bindparam("programme"))

    # Typed NULLs: PostgreSQL matches UNION column types pairwise (NULL alone is text).
    def no_number() -> ColumnElement[Any]:
        return cast(null(), number)

    def no_count() -> ColumnElement[Any]:
        return cast(null(), Integer)

    def no_text() -> ColumnElement[Any]:
        return cast(null(), String)

    expected = (
        select(
            literal_column("'e'").label("kind"),
            School.district_id.label("district_id"),
            District.name.label("name"),
            no_text().label("period"),
            no_text().label("field_key"),
            func.count().label("n1"),
            no_count().label("n2"),
            no_count().label("n3"),
            no_count().label("n4"),
            no_number().label("total"),
            no_number().label("low"),
            no_number().label("high"),
        )
        .select_from(School)
        .join(District, District.id == School.district_id)
    )
    if programme:
        expected = expected.join(SchoolProgramme, member(School.id))
    expected = in_scope(expected).group_by(School.district_id, District.name)

    # One row per (school, period) with a current report: how many, and whether
    # any came on time. Other forms have one current report per school and
    # period (the partial unique index), so the rows need no grouping, and the
    # planner can fold the subquery away (half the time on PostgreSQL).
    on_time = case((Report.is_late.is_(True), 0), else_=1)
    if several_per_period:
        pairs_stmt = (
            select(
                Report.school_id,
                School.district_id,
                Report.period,
                func.count().label("n"),
                func.max(on_time).label("on_time"),
            )
            .join(School, School.id == Report.school_id)
            .where(*current)
            .group_by(Report.school_id, School.district_id, Report.period)
        )
    else:
        pairs_stmt = (
            select(
                Report.school_id,
                School.district_id,
                Report.period,
                literal_column("1").label("n"),
                on_time.label("on_time"),
            )
            .join(School, School.id == Report.school_id)
            .where(*current)
        )
    pairs = in_scope(pairs_stmt).subquery("pairs")
    if programme:
        # Only programme members count as reported; a school that left still has its figures summed.
        expected_school: ColumnElement[Any] = case((SchoolProgramme.school_id.is_not(None), pairs.c.school_id))
    else:
        expected_school = pairs.c.school_id
    filed = (
        select(
            literal_column("'f'"),
            pairs.c.district_id,
            District.name,
            pairs.c.period if by_period else no_text(),
            no_text(),
            func.count(expected_school),
            func.coalesce(func.sum(case((expected_school.is_not(None), pairs.c.on_time), else_=0)), 0),
            func.count(distinct(expected_school)),
            func.sum(pairs.c.n),
            no_number(),
            no_number(),
            no_number(),
        )
        .select_from(pairs)
        .join(District, District.id == pairs.c.district_id)
    )
    if programme:
        filed = filed.outerjoin(SchoolProgramme, member(pairs.c.school_id))
    filed = filed.group_by(pairs.c.district_id, District.name, *([pairs.c.period] if by_period else []))

    values = (
        select(
            literal_column("'v'"),
            School.district_id,
            no_text(),
            Report.period if by_period else no_text(),
            ReportValue.field_key,
            func.count(ReportValue.num_value),
            no_count(),
            no_count(),
            no_count(),
            func.sum(ReportValue.num_value),
            func.min(ReportValue.num_value),
            func.max(ReportValue.num_value),
        )
        .select_from(Report)
        .join(School, School.id == Report.school_id)
        .join(ReportValue, ReportValue.report_id == Report.id)
        .where(*current, ReportValue.field_key.in_(bindparam("fields", expanding=True)))
        .group_by(School.district_id, ReportValue.field_key, *([Report.period] if by_period else []))
    )
    return union_all(expected, filed, in_scope(values))


async def district_rollup(session: AsyncSession, query: RollupQuery, *, by_period: bool = False) -> list[DistrictRow]:
    """Expected, reported, on-time and field aggregates per district (and per period if asked).

    One statement, one round trip (see ``_rollup_statement``). Districts appear
    when they have expected schools or current reports; with ``by_period``
    every asked period appears for each, zeros included.
    """
    if not query.periods:
        return []
    periods = list(query.periods)
    stmt = _rollup_statement(
        programme=query.programme is not None,
        scoped=query.district_id is not None,
        by_period=by_period,
        several_per_period=query.several_per_period,
    )
    params: dict[str, Any] = {
        "form": query.form_key,
        "periods": periods,
        # An empty IN list is legal but renders oddly on some backends; "" is no field key.
        "fields": list(query.fields) or [""],
    }
    if query.programme is not None:
        params["programme"] = query.programme
    if query.district_id is not None:
        params["district"] = query.district_id

    names: dict[int, str] = {}
    schools: dict[int, int] = {}
    counts: dict[tuple[int, str | None], tuple[int, int, int, int]] = {}
    aggregates: dict[tuple[int, str | None], dict[str, FieldAggregate]] = {}
    for kind, district_id, name, period, key, n1, n2, n3, n4, total, low, high in await _core(session, stmt, params):
        if kind == "e":
            names[district_id] = name
            schools[district_id] = int(n1)
        elif kind == "f":
            names.setdefault(district_id, name)
            counts[(district_id, period)] = (int(n1), int(n2), int(n3), int(n4 or 0))
        elif n1:  # a field answered by somebody (only NULLs = skipped everywhere: nothing to aggregate)
            aggregates.setdefault((district_id, period), {})[key] = FieldAggregate(
                count=int(n1), total=_decimal(total), minimum=_decimal(low), maximum=_decimal(high)
            )

    keys: list[str | None] = list(periods) if by_period else [None]
    n_periods = 1 if by_period else len(periods)
    rows: list[DistrictRow] = []
    for district_id in sorted(names, key=lambda d: (names[d], d)):
        for period in keys:
            reported, on_time, schools_reported, reports = counts.get((district_id, period), (0, 0, 0, 0))
            n_schools = schools.get(district_id, 0)
            rows.append(
                DistrictRow(
                    district_id=district_id,
                    district=names[district_id],
                    period=period,
                    schools=n_schools,
                    expected=n_schools * n_periods,
                    reported=reported,
                    on_time=on_time,
                    schools_reported=schools_reported,
                    reports=reports,
                    fields=aggregates.get((district_id, period), {}),
                )
            )
    return rows


@dataclass(frozen=True)
class SchoolTotal:
    """One school's sum of a field over the periods asked."""

    school_code: str
    school_name: str
    district: str
    total: Decimal


async def top_schools(
    session: AsyncSession,
    form_key: str,
    periods: Sequence[str],
    field_key: str,
    *,
    limit: int = 3,
    district_id: int | None = None,
) -> list[SchoolTotal]:
    """The schools with the largest sum of ``field_key`` (ties by code), largest first."""
    if not periods:
        return []
    total = func.sum(ReportValue.num_value).label("total")
    stmt = (
        select(School.code, School.name, District.name, total)
        .select_from(Report)
        .join(ReportValue, and_(ReportValue.report_id == Report.id, ReportValue.field_key == field_key))
        .join(School, School.id == Report.school_id)
        .join(District, District.id == School.district_id)
        .where(
            Report.form_key == form_key,
            Report.period.in_(list(periods)),
            IS_CURRENT,
            ReportValue.num_value.is_not(None),
        )
        .group_by(School.id, School.code, School.name, District.name)
        .order_by(total.desc(), School.code)
        .limit(limit)
    )
    stmt = _scoped(stmt, district_id)
    return [
        SchoolTotal(school_code=code, school_name=name, district=district, total=_decimal(value))
        for code, name, district, value in await _core(session, stmt)
    ]


async def totals_by_choice(
    session: AsyncSession,
    form_key: str,
    periods: Sequence[str],
    choice_field: str,
    value_field: str,
    *,
    district_id: int | None = None,
) -> dict[str, FieldAggregate]:
    """Aggregates of ``value_field`` per answer of ``choice_field`` (harvest area per crop)."""
    if not periods:
        return {}
    choice = ReportValue.__table__.alias("choice")
    value = ReportValue.__table__.alias("value")
    stmt = (
        select(
            choice.c.text_value,
            func.count(value.c.num_value),
            func.sum(value.c.num_value),
            func.min(value.c.num_value),
            func.max(value.c.num_value),
        )
        .select_from(Report)
        .join(choice, and_(choice.c.report_id == Report.id, choice.c.field_key == choice_field))
        .join(value, and_(value.c.report_id == Report.id, value.c.field_key == value_field))
        .join(School, School.id == Report.school_id)
        .where(
            Report.form_key == form_key,
            Report.period.in_(list(periods)),
            IS_CURRENT,
            value.c.num_value.is_not(None),
        )
        .group_by(choice.c.text_value)
    )
    stmt = _scoped(stmt, district_id)
    return {
        key: FieldAggregate(count=int(count), total=_decimal(total), minimum=_decimal(low), maximum=_decimal(high))
        for key, count, total, low, high in await _core(session, stmt)
        if key is not None
    }


@dataclass(frozen=True)
class ReportRow:
    """One current report with its answers, for the export's detail sheet."""

    report_id: int
    period: str
    series: str
    version: int
    is_late: bool
    submitted_at: datetime
    source: str
    school_code: str
    school_name: str
    district: str
    reporter: str | None
    values: dict[str, tuple[Decimal | None, str | None]]


async def current_report_rows(
    session: AsyncSession,
    form_key: str,
    periods: Sequence[str],
    fields: Sequence[str],
    *,
    district_id: int | None = None,
) -> list[ReportRow]:
    """Every current report of the form in the periods with its ``fields``, by district, school, period.

    One row per report: the values are pivoted into columns by a GROUP BY
    (``max(CASE WHEN field_key = ... )``), so a year of a thousand schools comes
    back as a few thousand rows rather than four times as many value rows.
    """
    if not periods:
        return []
    report_columns = (
        Report.id,
        Report.period,
        Report.series,
        Report.version,
        Report.is_late,
        Report.submitted_at,
        Report.source,
        School.code,
        School.name,
        District.name,
        Person.name,
    )
    pivot = []
    for key in fields:
        pivot.append(func.max(case((ReportValue.field_key == key, ReportValue.num_value))))
        pivot.append(func.max(case((ReportValue.field_key == key, ReportValue.text_value))))
    stmt = _scoped(
        select(*report_columns, *pivot)
        .select_from(Report)
        .join(School, School.id == Report.school_id)
        .join(District, District.id == School.district_id)
        .outerjoin(Person, Person.id == Report.reporter_id)
        .outerjoin(ReportValue, ReportValue.report_id == Report.id)
        .where(Report.form_key == form_key, Report.period.in_(list(periods)), IS_CURRENT)
        .group_by(*report_columns),
        district_id,
    ).order_by(District.name, School.code, Report.period, Report.submitted_at, Report.id)
    rows = []
    n = len(report_columns)
    for row in await _core(session, stmt):
        rid, period, series, version, late, submitted, source, code, name, district, reporter = row[:n]
        answers = row[n:]
        values = {
            key: (answers[2 * i], answers[2 * i + 1])
            for i, key in enumerate(fields)
            if answers[2 * i] is not None or answers[2 * i + 1] is not None
        }
        rows.append(
            ReportRow(
                report_id=rid,
                period=period,
                series=series,
                version=version,
                is_late=bool(late),
                submitted_at=submitted,
                source=source,
                school_code=code,
                school_name=name,
                district=district,
                reporter=reporter,
                values=values,
            )
        )
    return rows


async def _core(
    session: AsyncSession, stmt: AnySelect | CompoundSelect[Unpack[tuple[Any, ...]]], params: dict[str, Any] | None = None
) -> Sequence[AnyRow]:
    """Run a column SELECT on the session's connection, skipping the ORM's result machinery.

    Rows of plain columns need no identity map; for a year's export the ORM's
    per-row processing costs more than the query itself.
    """
    connection = await session.connection()
    result = await connection.execute(stmt, params or {})
    rows: Sequence[AnyRow] = result.all()
    return rows


@dataclass(frozen=True)
class MissingReport:
    """An expected school with no current report for a period."""

    period: str
    school_code: str
    school_name: str
    district: str


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
        select(asked.c.period, School.code, School.name, District.name)
        .select_from(asked)
        .join(School, true())
        .join(District, District.id == School.district_id)
        .where(~has_current_report(form_key, asked.c.period))
    )
    stmt = expected_schools(stmt, programme)
    stmt = _scoped(stmt, district_id).order_by(asked.c.period, District.name, School.code)
    return [
        MissingReport(period=period, school_code=code, school_name=name, district=district)
        for period, code, name, district in await _core(session, stmt)
    ]


async def district_name(session: AsyncSession, district_id: int) -> str | None:
    """The name of a district (for headings of a district-scoped summary)."""
    return await session.scalar(select(District.name).where(District.id == district_id))
