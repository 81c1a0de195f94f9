"""Office summaries: roll-ups by district and period, export data, year-end figures.

The use cases behind ``/summary``, ``/export`` and ``/annual`` and their CLI
twins. The aggregation itself is SQL in ``storage.rollups``; this module picks
the periods (the one asked, the previous one, the same one a year earlier, a
whole year), folds the few district rows into a city total and turns missing
data into ``None`` so nobody ever prints an invented figure.

Usage::

    form = catalogue.get("milk")
    summary = await summarise(db, form, parse_period(form.period_cadence, "2026-10"), clock.now(), tz)
    summary.current.city.completeness      # 0.95
    summary.current.city.figure("daily_drinkers")   # Decimal, or None: nobody reported (未报)
    summary.current.coverage[0].state      # PeriodState.LATE: past its due date
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.aggregation import Fold, fold_periods
from bot.core.catalogue import Form
from bot.core.coverage import Coverage, comparable
from bot.core.periods import DEFAULT_TZ, Period, due_date, local_date, period_of, period_state, year_periods
from storage.db import Database
from storage.flags import FlagRow, flag_rows
from storage.rollups import (
    DistrictRow,
    FieldAggregate,
    RollupQuery,
    district_name,
    district_rollup,
    merged_fields,
)
from storage.completeness import MissingReport, unreported_by_period
from storage.report_rows import ReportRow, current_report_rows

__all__ = [
    "MEAN_PLACES",
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


# Decimals a mean keeps at least (sums keep the answers' own places).
MEAN_PLACES = 2


@dataclass(frozen=True)
class Stats:
    """Figures of one district, or of the city (``district_id`` None), over some periods.

    ``coverage`` has one ``Coverage`` per period in period order (who was expected,
    who reported, on time, the due date and the period's state) and ``by_period``
    the field aggregates of each of those periods: ``figure`` folds them by the
    field's rules. ``fields`` are the raw aggregates over all the periods.
    """

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
    # Reports the office approved (issue 15): approval coverage is ``approved``/``reports``.
    approved: int = 0
    coverage: tuple[Coverage, ...] = ()
    by_period: tuple[Mapping[str, FieldAggregate], ...] = ()
    # Whose fields' rules ``figure`` follows; None (hand-made rows): figures add up.
    form: Form | None = field(default=None, compare=False, repr=False)

    @property
    def completeness(self) -> float:
        """Reported ÷ expected (0.0 when nothing is expected)."""
        return self.reported / self.expected if self.expected else 0.0

    @property
    def on_time_rate(self) -> float:
        """On time ÷ expected, as DHIS2 defines it (0.0 when nothing is expected)."""
        return self.on_time / self.expected if self.expected else 0.0

    @property
    def finished(self) -> bool:
        """Every period is past its due date (late or locked): only then is "on time" a figure."""
        return bool(self.coverage) and all(c.state.finished for c in self.coverage)

    @property
    def due_coverage(self) -> tuple[Coverage, ...]:
        """The periods past their due date: the only ones whose on-time count is final."""
        return tuple(c for c in self.coverage if c.state.finished)

    @property
    def on_time_due(self) -> int | None:
        """Reports on time in the periods past their due date; None when none is (nothing to tell yet)."""
        due = self.due_coverage
        return sum(c.on_time for c in due) if due else None

    @property
    def on_time_rate_due(self) -> float | None:
        """On time ÷ expected over the periods past their due date; None before any due date passed."""
        due = self.due_coverage
        expected = sum(c.expected for c in due)
        return sum(c.on_time for c in due) / expected if due and expected else None

    @property
    def unreported(self) -> bool:
        """Nothing was reported here: its figures are 未报, never 0."""
        return self.reports == 0

    def aggregate(self, key: str) -> FieldAggregate:
        """Count, sum, min and max of a field over all the periods (raw: no rule applied)."""
        return self.fields.get(key, FieldAggregate())

    def total(self, key: str) -> Decimal:
        """Sum of a numeric field (0 when nobody reported it; ``figure`` tells the two apart)."""
        return self.aggregate(key).total

    def figure(self, key: str) -> Decimal | None:
        """The field's figure by its rules, None when no counted report answered it (未报, not 0).

        Within each period the schools' figures fold by ``across_schools`` (an event
        form's entries of a school add up first), then the periods' figures by
        ``across_periods``: a year of daily drinkers is the mean of the months.
        """
        spec = next((f for f in self.form.numeric_fields if f.key == key), None) if self.form else None
        # A mean keeps two decimals even of whole answers (20.83 days, not 21): the XLSX and
        # summary --json state it exactly; a text may show it as a whole number.
        places = max(spec.decimal_places or 0, MEAN_PLACES) if spec is not None else MEAN_PLACES
        parts = self.by_period or (self.fields,)
        if len(self.coverage) == len(parts):
            filing = [c.reported for c in self.coverage]
        else:
            filing = [self.schools_reported] * len(parts)
        rule = spec.across_schools if spec is not None else Fold.SUM
        several = self.form is not None and self.form.is_event
        figures = [_across_schools(rule, part.get(key), n, several, places) for part, n in zip(parts, filing)]
        # A mean over months leaves out the months at 0 (no milk served), as the year-end draft does.
        return fold_periods(spec.across_periods if spec is not None else Fold.SUM, figures, places)

    @classmethod
    def of(cls, row: DistrictRow, *, form: Form | None = None, periods: Sequence[tuple[Coverage, DistrictRow]] = ()) -> Stats:
        """A district's figures from its roll-up row (over all periods) and its rows per period."""
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
            approved=row.approved,
            coverage=tuple(coverage for coverage, _ in periods),
            by_period=tuple(dict(period_row.fields) for _, period_row in periods),
            form=form,
        )

    @classmethod
    def combine(cls, name: str, parts: Iterable[Stats], *, form: Form | None = None) -> Stats:
        """Add up districts (each school is in exactly one, so counts, sums and coverage add)."""
        parts = list(parts)
        form = form or next((p.form for p in parts if p.form is not None), None)
        spans = {len(p.coverage) for p in parts}
        span = spans.pop() if len(spans) == 1 else 0
        coverage = tuple(_add_coverage([p.coverage[i] for p in parts]) for i in range(span))
        by_period = tuple(merged_fields([p.by_period[i] for p in parts]) for i in range(span) if parts[0].by_period)
        return cls(
            district_id=None,
            name=name,
            schools=sum(p.schools for p in parts),
            expected=sum(p.expected for p in parts),
            reported=sum(p.reported for p in parts),
            on_time=sum(p.on_time for p in parts),
            schools_reported=sum(p.schools_reported for p in parts),
            reports=sum(p.reports for p in parts),
            fields=merged_fields([p.fields for p in parts]),
            flags=sum(p.flags for p in parts),
            approved=sum(p.approved for p in parts),
            coverage=coverage,
            by_period=by_period,
            form=form,
        )


def _across_schools(rule: Fold, aggregate: FieldAggregate | None, filing: int, several: bool, places: int) -> Decimal | None:
    """One period's figure of a field over the schools whose reports answered it."""
    if aggregate is None or aggregate.count == 0:
        return None
    if rule is Fold.AVG:
        # An event form's entries add up per school first: the mean is over schools that filed.
        schools = filing if several and filing > 0 else aggregate.count
        return (aggregate.total / schools).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if rule is Fold.MAX:
        return aggregate.maximum
    # Schools have no order, so "the latest" school means nothing: LAST across schools adds up.
    return aggregate.total


def _add_coverage(parts: Sequence[Coverage]) -> Coverage:
    """The city's coverage of one period from its districts' (same period, state and due date)."""
    first = parts[0]
    return Coverage(
        period=first.period,
        state=first.state,
        due=first.due,
        expected=sum(c.expected for c in parts),
        reported=sum(c.reported for c in parts),
        on_time=sum(c.on_time for c in parts),
        started=first.started,
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

    @property
    def coverage(self) -> tuple[Coverage, ...]:
        """The city's (or the scoped district's) coverage, one per period in period order."""
        return self.city.coverage


@dataclass(frozen=True)
class Summary:
    """One period's roll-up with the two comparisons the office asks for."""

    form: Form
    period: Period
    current: Rollup
    previous: Rollup
    year_ago: Rollup

    def comparable(self, other: Rollup) -> bool:
        """True when ``other``'s figures (previous period, a year ago) may be compared with this period's."""
        if not self.current.coverage or not other.coverage:
            return False
        return comparable(self.current.coverage[0], other.coverage[0])


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


@dataclass(frozen=True)
class _When:
    """The moment figures are read at: it decides each period's state (open, due, late, closed)."""

    now: datetime
    tz: tzinfo

    def coverage(self, form: Form, period: Period, row: DistrictRow) -> Coverage:
        return Coverage(
            period=period,
            state=period_state(form, period, self.now, self.tz),
            due=due_date(form, period),
            expected=row.schools,
            reported=row.reported,
            on_time=row.on_time,
            started=period.start <= local_date(self.now, self.tz),
        )


def _rollup(
    form: Form, periods: Sequence[Period], rows: Iterable[DistrictRow], when: _When, district_id: int | None, scope: str | None
) -> Rollup:
    """The roll-up over ``periods`` from by-period rows (with, for several periods, the rows over all)."""
    ordered = sorted(set(periods), key=lambda p: p.start)
    by_district: dict[int, dict[str | None, DistrictRow]] = {}
    for row in rows:
        by_district.setdefault(row.district_id, {})[row.period] = row
    districts = []
    for rows_of in by_district.values():  # rows come sorted by district name
        whole = rows_of[None] if len(ordered) > 1 else rows_of[ordered[0].key]
        per_period = [(when.coverage(form, p, rows_of[p.key]), rows_of[p.key]) for p in ordered]
        districts.append(Stats.of(whole, form=form, periods=per_period))
    city = Stats.combine(scope or "", districts, form=form)
    if not districts:  # nobody expected, nothing filed: the periods still have a state and a due date
        empty = [when.coverage(form, p, DistrictRow(0, "", p.key, 0, 0, 0, 0, 0, 0)) for p in ordered]
        city = Stats(None, scope or "", coverage=tuple(empty), by_period=tuple({} for _ in empty), form=form)
    return Rollup(form=form, periods=tuple(periods), city=city, districts=tuple(districts), district_id=district_id, scope=scope)


async def _rows(session: AsyncSession, form: Form, periods: Sequence[Period], district_id: int | None) -> list[DistrictRow]:
    """District × period rows (one GROUP BY), with each district's row over all periods when there are several."""
    query = _query(form, periods, district_id)
    return await district_rollup(session, query, by_period=True, totals=len(query.periods) > 1)


async def rollup(
    db: Database, form: Form, periods: Sequence[Period], now: datetime, tz: tzinfo, *, district_id: int | None = None
) -> Rollup:
    """The form's figures over ``periods`` (a month, a season, a year), with their coverage at ``now``."""
    scope = await _scope_name(db, district_id)
    async with db.session() as session:
        rows = await _rows(session, form, periods, district_id)
    return _rollup(form, periods, rows, _When(now, tz), district_id, scope)


async def rollups_by_period(
    db: Database, form: Form, periods: Sequence[Period], now: datetime, tz: tzinfo, *, district_id: int | None = None
) -> dict[Period, Rollup]:
    """One roll-up per period, from one GROUP BY district, period."""
    scope = await _scope_name(db, district_id)
    async with db.session() as session:
        rows = await district_rollup(session, _query(form, periods, district_id), by_period=True)
    by_key: dict[str, list[DistrictRow]] = {}
    for row in rows:
        assert row.period is not None
        by_key.setdefault(row.period, []).append(row)
    when = _When(now, tz)
    return {p: _rollup(form, [p], by_key.get(p.key, []), when, district_id, scope) for p in periods}


async def summarise(
    db: Database, form: Form, period: Period, now: datetime, tz: tzinfo, *, district_id: int | None = None
) -> Summary:
    """The period's roll-up with the previous period and the same period a year earlier.

    All three come from one grouped query (district × period), so the
    comparisons cost a few more rows, not more round trips (the confirmed
    warnings come in the same statement). Each carries its coverage at ``now``.
    """
    previous, earlier = period.previous(), year_ago(period)
    by_period = await rollups_by_period(db, form, [period, previous, earlier], now, tz, district_id=district_id)
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


async def gather_export(
    db: Database, form: Form, periods: Sequence[Period], now: datetime, tz: tzinfo, *, district_id: int | None = None
) -> ExportData:
    """Read everything the export needs in one transaction (one consistent snapshot)."""
    scope = await _scope_name(db, district_id)
    keys = [p.key for p in periods]
    async with db.session() as session:
        rows = await _rows(session, form, periods, district_id)
        reports = await current_report_rows(session, form.key, keys, [f.key for f in form.fields], district_id=district_id)
        missing = await unreported_by_period(session, form.key, form.programme, keys, district_id=district_id)
        flags = await flag_rows(session, form.key, keys, district_id=district_id)
    rolled = _rollup(form, periods, rows, _When(now, tz), district_id, scope)
    return ExportData(rollup=rolled, reports=reports, missing=missing, flags=flags)
