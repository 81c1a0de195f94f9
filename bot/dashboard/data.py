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


@dataclass(frozen=True)
class SchoolLine:
    code: str
    name: str
    cells: tuple[CellState, ...]


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
    counts: list[dict[CellState, int]] = [{} for _ in range(span)]
    for line in lines:
        for i, state in enumerate(line.cells):
            counts[i][state] = counts[i].get(state, 0) + 1
    return Subtotal(name, district_id, len(lines), tuple(counts))


def build_grid(
    filters: GridFilters, periods: Sequence[Period], states: Sequence[PeriodState], cells: Sequence[GridCell], scope: str
) -> Grid:
    """The grid from the query's rows (sorted by district name, school code), one page of schools."""
    index = {p.key: i for i, p in enumerate(periods)}
    schools: dict[int, tuple[GridCell, dict[int, GridCell]]] = {}
    for cell in cells:
        _, filed = schools.setdefault(cell.school_id, (cell, {}))
        if cell.period is not None and cell.period in index:
            filed[index[cell.period]] = cell
    districts: dict[int, tuple[str, list[SchoolLine]]] = {}
    for first, filed in schools.values():
        line = SchoolLine(
            first.school_code,
            first.school_name,
            tuple(cell_state(filed.get(i), state) for i, state in enumerate(states)),
        )
        districts.setdefault(first.district_id, (first.district, []))[1].append(line)
    every = [line for _, lines in districts.values() for line in lines]
    total = _subtotal(scope, filters.district_id, every, len(periods))
    pages = max(1, -(-len(every) // PAGE_SIZE))
    first_shown, last_shown = (filters.page - 1) * PAGE_SIZE, filters.page * PAGE_SIZE
    blocks, seen = [], 0
    for district_id, (name, lines) in districts.items():
        shown = lines[max(first_shown - seen, 0) : max(last_shown - seen, 0)]
        seen += len(lines)
        if shown:
            blocks.append(DistrictBlock(_subtotal(name, district_id, lines, len(periods)), tuple(shown)))
    dues = tuple(due_date(filters.form, p) for p in periods)
    return Grid(filters, tuple(periods), tuple(states), dues, total, tuple(blocks), len(every), pages)


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
