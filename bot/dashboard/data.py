"""What the dashboard's grid and trends show, read with one or two roll-up queries each.

The grid (``read_grid``) is one ``GROUP BY school, period`` (``storage.dashboard.grid_cells``)
turned into a cell state per school and period: on time, late, missing (past its due
date), not yet due, withdrawn. The period's state comes from ``bot.core.periods`` at
``now``, so a school that has not reported an open month is "not yet due", never
"missing" and never 0. District subtotals add the cells up in Python: a few hundred
schools' rows that the one query already returned, not another aggregation.

The trends (``read_trends``) are the summaries' roll-ups (``rollups_by_period``: one
``GROUP BY district, period`` per form for this year and last), folded by each field's rules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from enum import StrEnum

from bot.core.catalogue import Catalogue, Form
from bot.core.coverage import Coverage
from bot.core.fields import Field
from bot.core.periods import Period, PeriodState, due_date, local_date, period_state, year_periods
from bot.office.summary import Rollup, rollups_by_period
from storage.dashboard import GridCell, GridQuery, grid_cells
from storage.db import Database

__all__ = ["CellState", "Grid", "GridFilters", "Trend", "TrendPoint", "build_grid", "read_grid", "read_trends"]

# Schools per grid page: keeps a city-size page well under 300 KB on a phone.
PAGE_SIZE = 250


class CellState(StrEnum):
    """How one school stands for one period."""

    ON_TIME = "on_time"
    LATE = "late"
    MISSING = "missing"  # past its due date, nothing counted
    NOT_DUE = "not_due"  # nothing yet, and the due date has not passed
    WITHDRAWN = "withdrawn"  # its only entries were taken back


@dataclass(frozen=True)
class GridFilters:
    """The grid's query: a form and year, narrowed by district, programme and urban/rural."""

    form: Form
    year: int
    district_id: int | None = None
    enrolled: str | None = None
    area: str | None = None
    page: int = 1


@dataclass(slots=True)
class SchoolLine:
    code: str
    name: str
    cells: list[CellState]


@dataclass(frozen=True)
class Subtotal:
    """A district's (or the scope's) count of each state per period."""

    name: str
    district_id: int | None
    schools: int
    counts: tuple[dict[CellState, int], ...]

    def reported(self, i: int) -> int:
        """Schools whose report for period ``i`` counts (on time or late)."""
        return self.counts[i].get(CellState.ON_TIME, 0) + self.counts[i].get(CellState.LATE, 0)


@dataclass(frozen=True)
class DistrictBlock:
    subtotal: Subtotal
    schools: tuple[SchoolLine, ...]


@dataclass(frozen=True)
class Grid:
    filters: GridFilters
    periods: tuple[Period, ...]
    states: tuple[PeriodState, ...]
    dues: tuple[date | None, ...]
    total: Subtotal
    blocks: tuple[DistrictBlock, ...]
    schools: int
    pages: int


def cell_state(cell: GridCell | None, state: PeriodState) -> CellState:
    """One school's standing for a period, from its current entries and the period's state."""
    if cell is not None and cell.counted > 0:
        return CellState.ON_TIME if cell.on_time > 0 else CellState.LATE
    if cell is not None and cell.current > 0:
        return CellState.WITHDRAWN
    return CellState.MISSING if state.finished else CellState.NOT_DUE


def _subtotal(name: str, district_id: int | None, lines: Sequence[SchoolLine], span: int) -> Subtotal:
    counts = tuple(dict(Counter(line.cells[i] for line in lines)) for i in range(span))
    return Subtotal(name, district_id, len(lines), counts)


def _sum(name: str, district_id: int | None, parts: Sequence[Subtotal], span: int) -> Subtotal:
    counts = [Counter[CellState]() for _ in range(span)]
    for part in parts:
        for i, each in enumerate(part.counts):
            counts[i].update(each)
    return Subtotal(name, district_id, sum(p.schools for p in parts), tuple(dict(c) for c in counts))


def build_grid(
    filters: GridFilters, periods: Sequence[Period], states: Sequence[PeriodState], cells: Sequence[GridCell], scope: str
) -> Grid:
    """The grid from the query's rows, one page of schools (every school in the subtotals).

    The rows come sorted by district name, school code and period, so one school's rows are
    adjacent: a single pass fills each school's line, starting from what the period's state
    says of a school with no report (missing once past due, else not yet due).
    """
    index = {p.key: i for i, p in enumerate(periods)}
    blank = [CellState.MISSING if state.finished else CellState.NOT_DUE for state in states]
    districts: dict[int, tuple[str, list[SchoolLine]]] = {}
    line = SchoolLine("", "", [])
    school = None
    for cell in cells:
        if cell.school_id != school:
            school, line = cell.school_id, SchoolLine(cell.school_code, cell.school_name, list(blank))
            districts.setdefault(cell.district_id, (cell.district, []))[1].append(line)
        i = index.get(cell.period) if cell.period is not None else None
        if i is not None:
            line.cells[i] = cell_state(cell, states[i])
    span = len(periods)
    subtotals = {district_id: _subtotal(name, district_id, lines, span) for district_id, (name, lines) in districts.items()}
    total = _sum(scope, filters.district_id, list(subtotals.values()), span)
    pages = max(1, -(-total.schools // PAGE_SIZE))
    first_shown, last_shown = (filters.page - 1) * PAGE_SIZE, filters.page * PAGE_SIZE
    blocks, seen = [], 0
    for district_id, (_, lines) in districts.items():
        shown = lines[max(first_shown - seen, 0) : max(last_shown - seen, 0)]
        seen += len(lines)
        if shown:
            blocks.append(DistrictBlock(subtotals[district_id], tuple(shown)))
    dues = tuple(due_date(filters.form, p) for p in periods)
    return Grid(filters, tuple(periods), tuple(states), dues, total, tuple(blocks), total.schools, pages)


async def read_grid(db: Database, filters: GridFilters, now: datetime, tz: tzinfo, scope: str) -> Grid:
    """The grid for ``filters`` at ``now`` (one statement)."""
    form = filters.form
    periods = year_periods(form.period_cadence, filters.year)
    states = [period_state(form, p, now, tz) for p in periods]
    query = GridQuery(
        form_key=form.key,
        programme=form.programme,
        periods=tuple(p.key for p in periods),
        district_id=filters.district_id,
        area=filters.area,
        enrolled=filters.enrolled,
    )
    async with db.session() as session:
        cells = await grid_cells(session, query)
    return build_grid(filters, periods, states, cells, scope)


# --- trends -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendPoint:
    """One period's headline figure (None: nobody reported, 未报) with its coverage."""

    period: Period
    value: Decimal | None
    coverage: Coverage

    @property
    def complete(self) -> bool:
        return self.coverage.complete


@dataclass(frozen=True)
class Trend:
    """A form's headline field over this year's periods (started by now) and all of last year's."""

    form: Form
    main: Field
    year: int
    this_year: tuple[TrendPoint, ...]
    last_year: tuple[TrendPoint, ...]


def _point(rolled: Mapping[Period, Rollup], period: Period, main: Field) -> TrendPoint:
    stats = rolled[period].city
    return TrendPoint(period, stats.figure(main.key), stats.coverage[0])


async def read_trends(
    db: Database, catalogue: Catalogue, year: int, now: datetime, tz: tzinfo, *, district_id: int | None = None
) -> list[Trend]:
    """Each form's headline figure over ``year`` and the year before (one roll-up per form)."""
    today = local_date(now, tz)
    trends = []
    for form in catalogue:
        main = form.main_field
        if main is None:
            continue
        this_year = [p for p in year_periods(form.period_cadence, year) if p.start <= today]
        last_year = year_periods(form.period_cadence, year - 1)
        rolled = await rollups_by_period(db, form, [*last_year, *this_year], now, tz, district_id=district_id)

        trends.append(
            Trend(
                form,
                main,
                year,
                tuple(_point(rolled, p, main) for p in this_year),
                tuple(_point(rolled, p, main) for p in last_year),
            )
        )
    return trends
