"""Benchmark: the dashboard's completeness grid against the hand-written roll-up query.

Usage::

    .venv/bin/python benchmarks/dashboard.py            # SQLite (a temporary file)
    .venv/bin/python benchmarks/dashboard.py --pg       # SQLite and PostgreSQL side by side

The data is ``benchmarks/rollup.py``'s: ``--years`` (10) years of the three shipped forms
for ``--schools`` (1,000) schools in ten districts, bulk-inserted. On it, it times

1. the grid page for milk and the last year, rendered server-side to HTML by
   ``bot.dashboard.pages.serve`` exactly as the server calls it (its reads, the cell
   states, the district subtotals, the Jinja2 template; one page of 250 schools shown,
   every school counted in the subtotals), against
2. the hand-written roll-up query for the same form and year (one ``GROUP BY district,
   period`` statement, ``benchmarks/rollup.py``'s), and, for reference, a hand-written
   ``GROUP BY school, period`` returning the grid's cells without any rendering;

checks that the grid's city row agrees with the hand-written roll-up, and prints the
medians and ratios (aim: grid ≤ 2× the roll-up query). Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.rollup import MILK, Counts, _in, compare, generate, rollup_sql  # noqa: E402
from benchmarks.scratch import scratch_database  # noqa: E402
from bot.core.catalogue import load_catalogue  # noqa: E402
from bot.core.clock import FixedClock  # noqa: E402
from bot.core.periods import DEFAULT_TZ, year_periods  # noqa: E402
from bot.dashboard.pages import serve  # noqa: E402
from bot.dashboard.viewer import Page, Viewer  # noqa: E402
from bot.services import Services  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402

VIEWER = Viewer(person_id=1, telegram_id=1, name="bench", role="staff", district_id=None)


def cells_sql(periods: list[str]) -> tuple[str, dict[str, Any]]:
    """The grid's cells by hand: every milk school with its current entries per period."""
    period_list, params = _in("p", periods)
    sql = f"""
    SELECT s.id, s.code, s.name, d.id, d.name, f.period, f.current, f.counted, f.on_time
    FROM schools s
    JOIN districts d ON d.id = s.district_id
    JOIN school_programmes sp ON sp.school_id = s.id AND sp.programme = :programme
    LEFT JOIN (
        SELECT school_id, period, count(*) AS current,
               sum(CASE WHEN NOT withdrawn THEN 1 ELSE 0 END) AS counted,
               sum(CASE WHEN NOT withdrawn AND NOT is_late THEN 1 ELSE 0 END) AS on_time
        FROM reports WHERE form_key = :form AND period IN ({period_list}) AND is_current
        GROUP BY school_id, period
    ) f ON f.school_id = s.id
    ORDER BY d.name, s.code, f.period
    """
    return sql, {**params, "form": MILK.key, "programme": MILK.programme}


@dataclass
class Result:
    backend: str
    counts: Counts
    grid_ms: float
    rollup_ms: float
    cells_ms: float
    page_bytes: int


def city_row(page: Page) -> list[str]:
    """The grid's first body row (the city's ``reported/expected`` per period)."""
    html = page.body.decode()
    row = html[html.index('<tr class="total">') :]
    row = row[: row.index("</tr>")]
    return [cell.split(">", 1)[1].split("<", 1)[0] for cell in row.split("<td")[1:]]


async def bench(db: Database, backend: str, args: argparse.Namespace) -> Result:
    await db.migrate()
    print(f"[{backend}] generating {args.years} years x {args.schools} schools ...", flush=True)
    counts = await generate(db, args.schools, args.years, args.first_year)
    print(f"[{backend}] {counts.reports:,} reports, {counts.values:,} values in {counts.seconds:.1f} s", flush=True)
    last_year = args.first_year + args.years - 1
    # The office reads in early December: October is late (past due), the year still runs.
    now = datetime(last_year, 12, 3, 9, tzinfo=DEFAULT_TZ)
    keys = [p.key for p in year_periods(MILK.period_cadence, last_year)]
    settings = Settings(database_url=db.engine.url.render_as_string(hide_password=False), _env_file=None)
    services = Services(settings=settings, db=db, clock=FixedClock(now), catalogue=load_catalogue())
    query = {"form": [MILK.key], "year": [str(last_year)]}
    r_sql, r_params = rollup_sql(MILK, keys)
    c_sql, c_params = cells_sql(keys)

    async def grid() -> Page:
        return await serve("grid", query, VIEWER, services, now)

    async def hand(sql: str, params: dict[str, Any]) -> list[Any]:
        async with db.engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())

    grid_ms, page, rollup_ms, rows = await compare(grid, lambda: hand(r_sql, r_params), args.runs)
    _, _, cells_ms, cells = await compare(grid, lambda: hand(c_sql, c_params), max(args.runs // 3, 3))
    # The grid's city row against the hand-written roll-up: reported/expected per month.
    by_district = {(row[0], row[1]): int(row[3]) for row in rows}  # one row per field: the counts repeat
    reported: dict[str, int] = {}
    for (_, period), n in by_district.items():
        reported[period] = reported.get(period, 0) + n
    schools = len({row[0] for row in cells})
    want = [f"{reported.get(key, 0)}/{schools}" for key in keys]
    assert city_row(page) == want, (city_row(page), want)
    return Result(backend, counts, grid_ms, rollup_ms, cells_ms, len(page.body))


async def run(backend: str, args: argparse.Namespace) -> Result:
    async with scratch_database(backend) as url:
        db = Database(url)
        try:
            return await bench(db, backend, args)
        finally:
            await db.dispose()


def report(results: list[Result], runs: int) -> None:
    print()
    print(f"median of {runs} runs; ratio = grid page / hand-written roll-up query (aim: <= 2x)")
    header = f"{'':40}" + "".join(f"{r.backend:>22}" for r in results)
    print(header)
    print("-" * len(header))

    def line(label: str, cell: Any) -> None:
        print(f"{label:40}" + "".join(f"{cell(r):>22}" for r in results))

    line("reports / values", lambda r: f"{r.counts.reports:,} / {r.counts.values:,}")
    line("grid page, milk, 1 year (HTML)", lambda r: f"{r.grid_ms:.1f} ms")
    line("  hand-written roll-up GROUP BY", lambda r: f"{r.rollup_ms:.1f} ms")
    line("  ratio", lambda r: f"{r.grid_ms / r.rollup_ms:.2f}x")
    line("  hand-written cells, no HTML (ref.)", lambda r: f"{r.cells_ms:.1f} ms")
    line("page weight", lambda r: f"{r.page_bytes / 1024:.0f} KB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", action="store_true", help="also run on PostgreSQL (creates and drops its own database)")
    parser.add_argument("--schools", type=int, default=1000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--first-year", type=int, default=2016)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per measurement (median reported)")
    args = parser.parse_args()
    results = [asyncio.run(run("sqlite", args))]
    if args.pg:
        results.append(asyncio.run(run("postgresql", args)))
    report(results, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
