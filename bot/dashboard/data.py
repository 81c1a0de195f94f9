"""What the dashboard's grid and trends show, read with one or two roll-up queries each.

The grid (``read_grid``) is one statement (``storage.dashboard.grid_cells``): a row per
school whose filed periods carry their state, decided in SQL (on time, late, withdrawn;
approved or not). A period it did not file is missing once past its due date, else not
yet due: the period's state comes from ``bot.core.periods`` at ``now``, so a school that
has not reported an open month is "not yet due", never "missing" and never 0. District
subtotals count each period's column in Python: a few hundred schools' rows that the one
query already returned, not another aggregation.

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
from storage.dashboard import LATE, ON_TIME, WITHDRAWN, GridQuery, GridRow, grid_cells
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
    # Per period: every counted entry approved by the office.
    approved: list[bool]


@dataclass(frozen=True)
class Subtotal:
    """A district's (or the scope's) count of each state per period, and of approved cells."""

    name: str
    district_id: int | None
    schools: int
    counts: tuple[dict[CellState, int], ...]
    approved: tuple[int, ...]

    def reported(self, i: int) -> int:
        """Schools whose report for period ``i`` counts (on time or late)."""
        return self.counts[i].get(CellState.ON_TIME, 0) + self.counts[i].get(CellState.LATE, 0)

    def coverage(self) -> tuple[int, int]:
        """Approved cells and reported cells over every period: the approval coverage (已审核 a/b)."""
        return sum(self.approved), sum(self.reported(i) for i in range(len(self.counts)))


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


# The query's letter for a filed cell (upper case: approved).
LETTERS = {ON_TIME: CellState.ON_TIME, LATE: CellState.LATE, WITHDRAWN: CellState.WITHDRAWN}
LETTERS |= {letter.upper(): state for letter, state in LETTERS.items() if letter != WITHDRAWN}


def _subtotal(name: str, district_id: int | None, lines: Sequence[SchoolLine], span: int) -> Subtotal:
    columns = list(zip(*(line.cells for line in lines), strict=True)) or [()] * span
    approved = list(zip(*(line.approved for line in lines), strict=True)) or [()] * span
    counts = tuple(dict(Counter(column)) for column in columns)
    return Subtotal(name, district_id, len(lines), counts, tuple(sum(column) for column in approved))


def _sum(name: str, district_id: int | None, parts: Sequence[Subtotal], span: int) -> Subtotal:
    counts = [Counter[CellState]() for _ in range(span)]
    for part in parts:
        for i, each in enumerate(part.counts):
            counts[i].update(each)
    approved = tuple(sum(part.approved[i] for part in parts) for i in range(span))
    return Subtotal(name, district_id, sum(p.schools for p in parts), tuple(dict(c) for c in counts), approved)


def _line(row: GridRow, blank: list[CellState], index: Mapping[str, int]) -> SchoolLine:
    """A school's row of cells: the period's blank state, where it filed the query's letter."""
    line = SchoolLine(row.school_code, row.school_name, list(blank), [False] * len(blank))
    for item in row.filed.split(",") if row.filed else ():
        i = index.get(item[:-1])
        if i is not None:
            line.cells[i] = LETTERS[item[-1]]
            line.approved[i] = item[-1].isupper()
    return line


def build_grid(
    filters: GridFilters, periods: Sequence[Period], states: Sequence[PeriodState], rows: Sequence[GridRow], scope: str
) -> Grid:
    """The grid from the query's rows, one page of schools (every school in the subtotals).

    The rows come sorted by district name and school code, one per school: a single pass
    fills each school's line, starting from what the period's state says of a school with
    no report (missing once past due, else not yet due).
    """
    index = {p.key: i for i, p in enumerate(periods)}
    blank = [CellState.MISSING if state.finished else CellState.NOT_DUE for state in states]
    districts: dict[int, tuple[str, list[SchoolLine]]] = {}
    for row in rows:
        districts.setdefault(row.district_id, (row.district, []))[1].append(_line(row, blank, index))
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
        rows = await grid_cells(session, query)
    return build_grid(filters, periods, states, rows, scope)


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
