"""The roll-up's one statement: expected schools, filed (school, period) pairs and value aggregates per district.

``storage.rollups.district_rollup`` runs it and folds its tagged rows; it is
built here once per shape (programme or not, one district or all, by period
or not — with or without the totals over all periods —, event form or not)
and cached, values coming as bind parameters.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    distinct,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.sql.selectable import CompoundSelect

from storage.models import District, Report, ReportFlag, ReportValue, School, SchoolProgramme
from storage.reports import COUNTED
from storage.sql import AnySelect

__all__ = ["rollup_statement"]

_S = TypeVar("_S", bound=AnySelect)

_CURRENT = (
    Report.form_key == bindparam("form"),
    Report.period.in_(bindparam("periods", expanding=True)),
    COUNTED,
)


def _in_scope(stmt: _S, scoped: bool) -> _S:
    return stmt.where(School.district_id == bindparam("district")) if scoped else stmt


def _member(school_id: Any) -> ColumnElement[bool]:
    return and_(SchoolProgramme.school_id == school_id, SchoolProgramme.programme == bindparam("programme"))


# Typed NULLs: PostgreSQL matches UNION column types pairwise (NULL alone is text).
def _no_number() -> ColumnElement[Any]:
    return cast(null(), ReportValue.num_value.type)


def _no_count() -> ColumnElement[Any]:
    return cast(null(), Integer)


def _no_text() -> ColumnElement[Any]:
    return cast(null(), String)


def _expected_branch(*, programme: bool, scoped: bool) -> AnySelect:
    """``e`` rows: expected schools per district."""
    expected = (
        select(
            literal_column("'e'").label("kind"),
            School.district_id.label("district_id"),
            District.name.label("name"),
            _no_text().label("period"),
            _no_text().label("field_key"),
            func.count().label("n1"),
            _no_count().label("n2"),
            _no_count().label("n3"),
            _no_count().label("n4"),
            _no_number().label("total"),
            _no_number().label("low"),
            _no_number().label("high"),
        )
        .select_from(School)
        .join(District, District.id == School.district_id)
    )
    if programme:
        expected = expected.join(SchoolProgramme, _member(School.id))
    return _in_scope(expected, scoped).group_by(School.district_id, District.name)


def _pairs(*, scoped: bool, several_per_period: bool) -> Any:
    """One row per (school, period) with a current report: how many, whether any came on time, and
    how many the office approved (issue 15).

    Other forms than event forms have one current report per school and period
    (the partial unique index), so the rows need no grouping, and the planner
    can fold the subquery away (half the time on PostgreSQL).
    """
    on_time = case((Report.is_late.is_(True), 0), else_=1)
    approved = case((Report.review == "approved", 1), else_=0)
    if several_per_period:
        columns: tuple[Any, ...] = (
            func.count().label("n"),
            func.max(on_time).label("on_time"),
            func.sum(approved).label("approved"),
        )
    else:
        columns = (literal_column("1").label("n"), on_time.label("on_time"), approved.label("approved"))
    stmt = (
        select(Report.school_id, School.district_id, Report.period, *columns)
        .join(School, School.id == Report.school_id)
        .where(*_CURRENT)
    )
    if several_per_period:
        stmt = stmt.group_by(Report.school_id, School.district_id, Report.period)
    return _in_scope(stmt, scoped).subquery("pairs")


def _filed_branch(*, programme: bool, scoped: bool, by_period: bool, several_per_period: bool) -> AnySelect:
    """``f`` rows: filed (school, period) pairs per district [and period]; ``total`` carries the
    counted reports the office approved (approval coverage rides on the same scan)."""
    pairs = _pairs(scoped=scoped, several_per_period=several_per_period)
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
            pairs.c.period if by_period else _no_text(),
            _no_text(),
            func.count(expected_school),
            func.coalesce(func.sum(case((expected_school.is_not(None), pairs.c.on_time), else_=0)), 0),
            func.count(distinct(expected_school)),
            func.sum(pairs.c.n),
            cast(func.sum(pairs.c.approved), ReportValue.num_value.type),
            _no_number(),
            _no_number(),
        )
        .select_from(pairs)
        .join(District, District.id == pairs.c.district_id)
    )
    if programme:
        filed = filed.outerjoin(SchoolProgramme, _member(pairs.c.school_id))
    return filed.group_by(pairs.c.district_id, District.name, *([pairs.c.period] if by_period else []))


def _values_branch(*, scoped: bool, by_period: bool) -> AnySelect:
    """``v`` rows: value aggregates per district [, period] and field."""
    values = (
        select(
            literal_column("'v'"),
            School.district_id,
            _no_text(),
            Report.period if by_period else _no_text(),
            ReportValue.field_key,
            func.count(ReportValue.num_value),
            _no_count(),
            _no_count(),
            _no_count(),
            func.sum(ReportValue.num_value),
            func.min(ReportValue.num_value),
            func.max(ReportValue.num_value),
        )
        .select_from(Report)
        .join(School, School.id == Report.school_id)
        .join(ReportValue, ReportValue.report_id == Report.id)
        .where(*_CURRENT, ReportValue.field_key.in_(bindparam("fields", expanding=True)))
        .group_by(School.district_id, ReportValue.field_key, *([Report.period] if by_period else []))
    )
    return _in_scope(values, scoped)


def _flags_branch(*, scoped: bool, by_period: bool) -> AnySelect:
    """``g`` rows: warnings confirmed with a reason per district [, period] (issue 13)."""
    flags = (
        select(
            literal_column("'g'"),
            School.district_id,
            _no_text(),
            Report.period if by_period else _no_text(),
            _no_text(),
            func.count(ReportFlag.id),
            _no_count(),
            _no_count(),
            _no_count(),
            _no_number(),
            _no_number(),
            _no_number(),
        )
        .select_from(Report)
        .join(School, School.id == Report.school_id)
        .join(ReportFlag, ReportFlag.report_id == Report.id)
        .where(*_CURRENT)
        .group_by(School.district_id, *([Report.period] if by_period else []))
    )
    return _in_scope(flags, scoped)


@cache
def rollup_statement(
    *, programme: bool, scoped: bool, by_period: bool, several_per_period: bool, totals: bool = False
) -> CompoundSelect[Any]:
    """The roll-up as one statement with named parameters, built once per shape.

    Four GROUP BYs glued with UNION ALL, each row tagged with its kind — ``e``
    expected schools per district, ``f`` filed (school, period) pairs per
    district [and period], ``v`` value aggregates per district [, period] and
    field, ``g`` confirmed warnings per district [, period] (the ``f`` rows also count the
    reports the office approved). Each branch reaches ``reports`` through the ``(form_key, period,
    is_current)`` index and ``report_values`` by report id (migration 0004
    makes that probe index-only on PostgreSQL). No shared CTE: SQLite cannot
    estimate a CTE's size and then builds a Bloom filter over all of
    ``report_values`` (a full scan) once the tables have statistics.

    With ``by_period`` and ``totals`` a second ``f`` branch adds each district's
    filed pairs over all the periods (period NULL): the schools that filed at
    least once in a year are a distinct count, which per-period rows cannot give.

    Built once and cached (parameters: form, periods, fields, programme,
    district): constructing it costs more Python time than the query itself.
    """
    filed = [_filed_branch(programme=programme, scoped=scoped, by_period=by_period, several_per_period=several_per_period)]
    if by_period and totals:
        filed.append(_filed_branch(programme=programme, scoped=scoped, by_period=False, several_per_period=several_per_period))
    return union_all(
        _expected_branch(programme=programme, scoped=scoped),
        *filed,
        _values_branch(scoped=scoped, by_period=by_period),
        _flags_branch(scoped=scoped, by_period=by_period),
    )
