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

Who has not reported is in ``storage.completeness``, the per-report detail of
the exports in ``storage.report_rows``.

Years are lists of period keys (``IN``), never ``LIKE '2026-%'``: the
``(form_key, period, is_current)`` index then serves every query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    and_,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import District, Report, ReportValue, School
from storage.rollup_statement import rollup_statement
from storage.reports import COUNTED
from storage.sql import exact_decimal, fetch_rows, in_district

__all__ = [
    "DistrictRow",
    "FieldAggregate",
    "RollupQuery",
    "SchoolTotal",
    "district_name",
    "district_rollup",
    "merged_fields",
    "top_schools",
    "totals_by_choice",
]


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
        return exact_decimal((self.total / self.count).quantize(Decimal("0.01")))

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
    # Warnings confirmed with a reason in the counted reports (report_flags).
    flags: int = 0
    # Counted reports the office approved (issue 15: approval coverage is approved / reports).
    approved: int = 0


# --- rolling up -------------------------------------------------------------------------


def _params(query: RollupQuery) -> dict[str, Any]:
    """The roll-up statement's parameters for ``query``."""
    params: dict[str, Any] = {
        "form": query.form_key,
        "periods": list(query.periods),
        # An empty IN list is legal but renders oddly on some backends; "" is no field key.
        "fields": list(query.fields) or [""],
    }
    if query.programme is not None:
        params["programme"] = query.programme
    if query.district_id is not None:
        params["district"] = query.district_id
    return params


@dataclass
class _Tagged:
    """The roll-up's tagged rows sorted by kind: names and schools per district, counts and aggregates per key."""

    names: dict[int, str] = field(default_factory=dict)
    schools: dict[int, int] = field(default_factory=dict)
    counts: dict[tuple[int, str | None], tuple[int, int, int, int]] = field(default_factory=dict)
    aggregates: dict[tuple[int, str | None], dict[str, FieldAggregate]] = field(default_factory=dict)
    flags: dict[tuple[int, str | None], int] = field(default_factory=dict)
    approved: dict[tuple[int, str | None], int] = field(default_factory=dict)

    def row(
        self,
        district_id: int,
        period: str | None,
        expected: int,
        fields: Mapping[str, FieldAggregate],
        flags: int,
        approved: int = 0,
    ) -> DistrictRow:
        """The district's row for ``period`` (None: all periods) with the figures given."""
        reported, on_time, schools_reported, reports = self.counts.get((district_id, period), (0, 0, 0, 0))
        return DistrictRow(
            district_id=district_id,
            district=self.names[district_id],
            period=period,
            schools=self.schools.get(district_id, 0),
            expected=expected,
            reported=reported,
            on_time=on_time,
            schools_reported=schools_reported,
            reports=reports,
            fields=fields,
            flags=flags,
            approved=approved,
        )

    def add(self, kind: str, district_id: int, name: str, period: str | None, key: str, *numbers: Any) -> None:
        n1, n2, n3, n4, total, low, high = numbers
        if kind == "e":
            self.names[district_id] = name
            self.schools[district_id] = int(n1)
        elif kind == "f":
            self.names.setdefault(district_id, name)
            self.counts[(district_id, period)] = (int(n1), int(n2), int(n3), int(n4 or 0))
            self.approved[(district_id, period)] = int(total or 0)
        elif kind == "g":
            self.flags[(district_id, period)] = int(n1)
        elif n1:  # a field answered by somebody (only NULLs = skipped everywhere: nothing to aggregate)
            self.aggregates.setdefault((district_id, period), {})[key] = FieldAggregate(
                count=int(n1), total=exact_decimal(total), minimum=exact_decimal(low), maximum=exact_decimal(high)
            )


def merged_fields(parts: Sequence[Mapping[str, FieldAggregate]]) -> dict[str, FieldAggregate]:
    """Field aggregates of disjoint sets of reports (several periods) as one."""
    merged: dict[str, FieldAggregate] = {}
    for part in parts:
        for key, aggregate in part.items():
            merged[key] = merged.get(key, FieldAggregate()).merge(aggregate)
    return merged


def _district_rows(tagged: _Tagged, periods: Sequence[str], by_period: bool, totals: bool) -> list[DistrictRow]:
    """One row per district (by name), and per asked period with ``by_period``, zeros included.

    With ``totals`` each district's per-period rows are followed by its row over
    all the periods (``period`` None): filed pairs counted in SQL (schools that
    filed at least once are a distinct count), values and flags added up here.
    """
    keys: list[str | None] = list(periods) if by_period else [None]
    n_periods = 1 if by_period else len(periods)
    names = tagged.names
    rows: list[DistrictRow] = []
    for district_id in sorted(names, key=lambda d: (names[d], d)):
        n_schools = tagged.schools.get(district_id, 0)
        for period in keys:
            fields = tagged.aggregates.get((district_id, period), {})
            flags = tagged.flags.get((district_id, period), 0)
            approved = tagged.approved.get((district_id, period), 0)
            rows.append(tagged.row(district_id, period, n_schools * n_periods, fields, flags, approved))
        if by_period and totals:
            fields = merged_fields([tagged.aggregates.get((district_id, p), {}) for p in periods])
            flags = sum(tagged.flags.get((district_id, p), 0) for p in periods)
            approved = sum(tagged.approved.get((district_id, p), 0) for p in periods)
            rows.append(tagged.row(district_id, None, n_schools * len(periods), fields, flags, approved))
    return rows


async def district_rollup(
    session: AsyncSession, query: RollupQuery, *, by_period: bool = False, totals: bool = False
) -> list[DistrictRow]:
    """Expected, reported, on-time and field aggregates per district (and per period if asked).

    One statement, one round trip (see ``storage.rollup_statement``). Districts appear
    when they have expected schools or current reports; with ``by_period``
    every asked period appears for each, zeros included, and with ``totals`` also
    the district's row over all of them (``period`` None).
    """
    if not query.periods:
        return []
    stmt = rollup_statement(
        programme=query.programme is not None,
        scoped=query.district_id is not None,
        by_period=by_period,
        several_per_period=query.several_per_period,
        totals=totals,
    )
    tagged = _Tagged()
    for row in await fetch_rows(session, stmt, _params(query)):
        tagged.add(*row)
    return _district_rows(tagged, query.periods, by_period, totals)


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
            COUNTED,
            ReportValue.num_value.is_not(None),
        )
        .group_by(School.id, School.code, School.name, District.name)
        .order_by(total.desc(), School.code)
        .limit(limit)
    )
    stmt = in_district(stmt, district_id)
    return [
        SchoolTotal(school_code=code, school_name=name, district=district, total=exact_decimal(value))
        for code, name, district, value in await fetch_rows(session, stmt)
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
            COUNTED,
            value.c.num_value.is_not(None),
        )
        .group_by(choice.c.text_value)
    )
    stmt = in_district(stmt, district_id)
    return {
        key: FieldAggregate(count=int(count), total=exact_decimal(total), minimum=exact_decimal(low), maximum=exact_decimal(high))
        for key, count, total, low, high in await fetch_rows(session, stmt)
        if key is not None
    }


async def district_name(session: AsyncSession, district_id: int) -> str | None:
    """The name of a district (for headings of a district-scoped summary)."""
    return await session.scalar(select(District.name).where(District.id == district_id))
