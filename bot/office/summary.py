"""Office summaries: roll-ups by district and period, export data, year-end figures.

The use cases behind ``/summary``, ``/export`` and ``/annual`` and their CLI
twins. The aggregation itself is SQL in ``storage.rollups``; this module picks
the periods (the one asked, the previous one, the same one a year earlier, a
whole year), folds the few district rows into a city total and turns missing
data into ``None`` so nobody ever prints an invented figure.

Usage::

    form = catalogue.get("milk")
    summary = await summarise(db, form, parse_period(form.period_cadence, "2026-10"))
    summary.current.city.completeness      # 0.95
    summary.current.city.total("daily_drinkers")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal

from bot.core.catalogue import Form
from bot.core.periods import DEFAULT_TZ, Period, local_date, period_of, year_periods
from storage.db import Database
from storage.flags import FlagRow, flag_rows
from storage.rollups import (
    DistrictRow,
    FieldAggregate,
    RollupQuery,
    district_name,
    district_rollup,
)
from storage.completeness import MissingReport, unreported_by_period
from storage.report_rows import ReportRow, current_report_rows

__all__ = [
    "ExportData",
    "Rollup",
    "Stats",
    "Summary",
    "gather_export",
    "rollup",
    "started_periods_of_year",
    "summarise",
    "year_ago",
]


@dataclass(frozen=True)
class Stats:
    """Figures of one district, or of the city (``district_id`` None), over some periods."""

    district_id: int | None
    name: str
    schools: int = 0
    expected: int = 0
    reported: int = 0
    on_time: int = 0
    schools_reported: int = 0
    reports: int = 0
    fields: Mapping[str, FieldAggregate] = field(default_factory=dict)
    # Warnings its reporters confirmed with a reason (report_flags of counted versions).
    flags: int = 0

    @property
    def completeness(self) -> float:
        """Reported ÷ expected (0.0 when nothing is expected)."""
        return self.reported / self.expected if self.expected else 0.0

    @property
    def on_time_rate(self) -> float:
        """On time ÷ expected, as DHIS2 defines it (0.0 when nothing is expected)."""
        return self.on_time / self.expected if self.expected else 0.0

    def aggregate(self, key: str) -> FieldAggregate:
        return self.fields.get(key, FieldAggregate())

    def total(self, key: str) -> Decimal:
        """Sum of a numeric field (0 when nobody reported it)."""
        return self.aggregate(key).total

    @classmethod
    def of(cls, row: DistrictRow) -> Stats:
        return cls(
            district_id=row.district_id,
            name=row.district,
            schools=row.schools,
            expected=row.expected,
            reported=row.reported,
            on_time=row.on_time,
            schools_reported=row.schools_reported,
            reports=row.reports,
            fields=dict(row.fields),
            flags=row.flags,
        )

    @classmethod
    def combine(cls, name: str, parts: Iterable[Stats]) -> Stats:
        """Add up districts (each school is in exactly one, so counts and sums add)."""
        parts = list(parts)
        fields: dict[str, FieldAggregate] = {}
        for part in parts:
            for key, aggregate in part.fields.items():
                fields[key] = fields.get(key, FieldAggregate()).merge(aggregate)
        return cls(
            district_id=None,
            name=name,
            schools=sum(p.schools for p in parts),
            expected=sum(p.expected for p in parts),
            reported=sum(p.reported for p in parts),
            on_time=sum(p.on_time for p in parts),
            schools_reported=sum(p.schools_reported for p in parts),
            reports=sum(p.reports for p in parts),
            fields=fields,
            flags=sum(p.flags for p in parts),
        )


@dataclass(frozen=True)
class Rollup:
    """A form's figures over some periods: the city (or the scoped district) and each district."""

    form: Form
    periods: tuple[Period, ...]
    city: Stats
    districts: tuple[Stats, ...]
    # Set when a staff member sees only one district: its id and name.
    district_id: int | None = None
    scope: str | None = None


@dataclass(frozen=True)
class Summary:
    """One period's roll-up with the two comparisons the office asks for."""

    form: Form
    period: Period
    current: Rollup
    previous: Rollup
    year_ago: Rollup


def year_ago(period: Period) -> Period:
    """The same period one year earlier (2026-11 → 2025-11, 2026-S2 → 2025-S2)."""
    return period_of(period.cadence, period.start.replace(year=period.start.year - 1))


def started_periods_of_year(form: Form, year: int, now: datetime | None = None, tz: tzinfo = DEFAULT_TZ) -> list[Period]:
    """The form's periods that start in ``year`` and, given ``now``, have started by today."""
    periods = year_periods(form.period_cadence, year)
    if now is None:
        return periods
    today = local_date(now, tz)
    return [period for period in periods if period.start <= today]


def _query(form: Form, periods: Sequence[Period], district_id: int | None) -> RollupQuery:
    return RollupQuery(
        form_key=form.key,
        programme=form.programme,
        periods=tuple(dict.fromkeys(p.key for p in periods)),
        fields=tuple(f.key for f in form.numeric_fields),
        district_id=district_id,
        several_per_period=form.is_event,
    )


async def _scope_name(db: Database, district_id: int | None) -> str | None:
    if district_id is None:
        return None
    async with db.session() as session:
        return await district_name(session, district_id) or "?"


def _rollup(
    form: Form, periods: Sequence[Period], rows: Iterable[DistrictRow], district_id: int | None, scope: str | None
) -> Rollup:
    districts = tuple(Stats.of(row) for row in rows)
    return Rollup(
        form=form,
        periods=tuple(periods),
        city=Stats.combine(scope or "", districts),
        districts=districts,
        district_id=district_id,
        scope=scope,
    )


async def rollup(db: Database, form: Form, periods: Sequence[Period], *, district_id: int | None = None) -> Rollup:
    """The form's figures summed over ``periods`` (a month, a season, a year)."""
    scope = await _scope_name(db, district_id)
    async with db.session() as session:
        rows = await district_rollup(session, _query(form, periods, district_id))
    return _rollup(form, periods, rows, district_id, scope)


async def rollups_by_period(
    db: Database, form: Form, periods: Sequence[Period], *, district_id: int | None = None
) -> dict[Period, Rollup]:
    """One roll-up per period, from one GROUP BY district, period."""
    scope = await _scope_name(db, district_id)
    async with db.session() as session:
        rows = await district_rollup(session, _query(form, periods, district_id), by_period=True)
    by_key: dict[str, list[DistrictRow]] = {}
    for row in rows:
        assert row.period is not None
        by_key.setdefault(row.period, []).append(row)
    return {p: _rollup(form, [p], by_key.get(p.key, []), district_id, scope) for p in periods}


async def summarise(db: Database, form: Form, period: Period, *, district_id: int | None = None) -> Summary:
    """The period's roll-up with the previous period and the same period a year earlier.

    All three come from one grouped query (district × period), so the
    comparisons cost a few more rows, not more round trips (the confirmed
    warnings come in the same statement).
    """
    previous, earlier = period.previous(), year_ago(period)
    by_period = await rollups_by_period(db, form, [period, previous, earlier], district_id=district_id)
    return Summary(form=form, period=period, current=by_period[period], previous=by_period[previous], year_ago=by_period[earlier])


# --- export -------------------------------------------------------------------


@dataclass(frozen=True)
class ExportData:
    """What the spreadsheet shows: the roll-up, every current report, who has not reported,
    and the warnings confirmed with a reason."""

    rollup: Rollup
    reports: list[ReportRow]
    missing: list[MissingReport]
    flags: list[FlagRow] = field(default_factory=list)


async def gather_export(db: Database, form: Form, periods: Sequence[Period], *, district_id: int | None = None) -> ExportData:
    """Read everything the export needs in one transaction (one consistent snapshot)."""
    scope = await _scope_name(db, district_id)
    keys = [p.key for p in periods]
    async with db.session() as session:
        rows = await district_rollup(session, _query(form, periods, district_id))
        reports = await current_report_rows(session, form.key, keys, [f.key for f in form.fields], district_id=district_id)
        missing = await unreported_by_period(session, form.key, form.programme, keys, district_id=district_id)
        flags = await flag_rows(session, form.key, keys, district_id=district_id)
    return ExportData(rollup=_rollup(form, periods, rows, district_id, scope), reports=reports, missing=missing, flags=flags)
