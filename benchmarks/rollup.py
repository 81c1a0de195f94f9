"""Benchmark: the office's roll-ups against hand-written SQL on ten years of a thousand schools.

Usage::

    .venv/bin/python benchmarks/rollup.py            # SQLite (a temporary file)
    .venv/bin/python benchmarks/rollup.py --pg       # SQLite and PostgreSQL side by side

PostgreSQL: a database of its own is created on ``SCHOOLBOT_TEST_PG``
(default ``postgresql+asyncpg://postgres@127.0.0.1:5432``) and dropped at the end.

It generates ``--years`` (10) years of the three shipped forms for ``--schools``
(1,000) schools in ten districts — monthly milk reports from the milk-programme
schools, semester insurance reports from all, one to three harvests per season
from the farm schools, with a few corrected reports (old versions kept) and
gaps — using bulk Core inserts. Then, on the same database, it times

1. the one-month ``/summary`` roll-up — ``bot.office.summary.summarise``,
   which also fetches the previous month and the same month a year earlier —
   against one hand-written ``GROUP BY`` statement returning the same numbers;
2. the one-year export's reads — ``gather_export`` (roll-up, every current
   report with its values, the missing schools) — against hand-written SQL
   returning the same rows (a pivoting ``GROUP BY`` for the reports);

asserts both sides agree, and prints the medians and ratios (aim: roll-up ≤ 1.5×).
Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scratch import scratch_database  # noqa: E402
from bot.core.catalogue import Form, load_catalogue  # noqa: E402
from bot.core.periods import DEFAULT_TZ, Period, due_date, parse_period, year_periods  # noqa: E402
from bot.office.summary import Summary, gather_export, summarise  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import District, Report, ReportValue, School, SchoolProgramme  # noqa: E402

T = TypeVar("T")
U = TypeVar("U")
CATALOGUE = load_catalogue()
MILK, HARVEST, INSURANCE = (CATALOGUE.get(k) for k in ("milk", "harvest", "insurance"))
CHUNK = 20_000


# --- data --------------------------------------------------------------------------


@dataclass
class Counts:
    reports: int = 0
    values: int = 0
    seconds: float = 0.0


async def generate(db: Database, schools: int, years: int, first_year: int) -> Counts:
    """Fill the database with bulk Core inserts (the ORM would take minutes for this)."""
    rng = random.Random(20261128)
    counts = Counts()
    started = time.perf_counter()
    created = datetime(first_year, 1, 1, tzinfo=timezone.utc)
    district_rows = [{"id": i, "name": f"区县{i:02d}"} for i in range(1, 11)]
    school_rows: list[dict[str, Any]] = []
    programme_rows: list[dict[str, Any]] = []
    for i in range(1, schools + 1):
        school_rows.append(
            {
                "id": i,
                "code": f"S{i:05d}",
                "name": f"第{i}学校",
                "district_id": (i - 1) % 10 + 1,
                "area": "urban" if i % 3 == 0 else "rural",
                "created_at": created,
                "updated_at": created,
            }
        )
        programme_rows.append({"school_id": i, "programme": "insurance"})
        if rng.random() < 0.8:
            programme_rows.append({"school_id": i, "programme": "milk"})
        if rng.random() < 0.5:
            programme_rows.append({"school_id": i, "programme": "farm"})
    milk_schools = {r["school_id"] for r in programme_rows if r["programme"] == "milk"}
    farm_schools = {r["school_id"] for r in programme_rows if r["programme"] == "farm"}

    reports: list[dict[str, Any]] = []
    values: list[dict[str, Any]] = []
    next_id = 1

    async def flush(conn: Any, force: bool = False) -> None:
        if reports and (force or len(values) >= CHUNK):
            await conn.execute(insert(Report), reports)
            await conn.execute(insert(ReportValue), values)
            counts.reports += len(reports)
            counts.values += len(values)
            reports.clear()
            values.clear()

    def add(form: Form, period: Period, school: int, answers: dict[str, Any], series: str = "") -> None:
        nonlocal next_id
        due = due_date(form, period)
        submitted = datetime.combine(due or period.end, datetime.min.time(), timezone.utc) - timedelta(days=rng.randint(-3, 4))
        late = due is not None and submitted.date() > due
        versions = 2 if rng.random() < 0.03 else 1  # a correction keeps the first version as history
        for version in range(1, versions + 1):
            reports.append(
                {
                    "id": next_id,
                    "school_id": school,
                    "form_key": form.key,
                    "form_version": 1,
                    "period": period.key,
                    "series": series,
                    "version": version,
                    "is_current": version == versions,
                    "reporter_id": None,
                    "submitted_at": submitted + timedelta(days=version - 1),
                    "is_late": late,
                    "supersedes_id": next_id - 1 if version > 1 else None,
                    "source": "bench",
                }
            )
            for key, answer in answers.items():
                num, txt = (None, answer) if isinstance(answer, str) else (answer, None)
                if num is not None and version < versions:
                    num = num + 7  # the figure the correction fixed
                values.append({"report_id": next_id, "field_key": key, "num_value": num, "text_value": txt})
            next_id += 1

    async with db.engine.begin() as conn:
        await conn.execute(insert(District), district_rows)
        await conn.execute(insert(School), school_rows)
        await conn.execute(insert(SchoolProgramme), programme_rows)
        for year in range(first_year, first_year + years):
            for period in year_periods(MILK.period_cadence, year):
                for school in sorted(milk_schools):
                    if rng.random() < 0.95:
                        add(
                            MILK,
                            period,
                            school,
                            {
                                "daily_drinkers": rng.randint(50, 1500),
                                "days_served": rng.randint(15, 23),
                                "supplier": rng.choice(("yili", "mengniu", "bright")),
                                "incidents": 0,
                            },
                        )
                await flush(conn)
            for period in year_periods(INSURANCE.period_cadence, year):
                for school in range(1, schools + 1):
                    if rng.random() < 0.95:
                        insured = rng.randint(200, 2500)
                        add(
                            INSURANCE,
                            period,
                            school,
                            {
                                "students_enrolled": insured + rng.randint(0, 50),
                                "students_insured": insured,
                                "premium": insured * 5,
                                "claims": rng.randint(0, 2),
                            },
                        )
                await flush(conn)
            for period in year_periods(HARVEST.period_cadence, year):
                for school in sorted(farm_schools):
                    for n in range(rng.choice((0, 1, 2, 2, 3))):
                        add(
                            HARVEST,
                            period,
                            school,
                            {
                                "crop": rng.choice(("vegetables", "fruit", "trees")),
                                "area_mu": Decimal(rng.randint(5, 120)) / 10,
                                "quantity": rng.randint(100, 20000),
                                "income": rng.randint(0, 50000),
                                "participants": rng.randint(20, 400),
                            },
                            series=f"h{n}",
                        )
                await flush(conn)
        await flush(conn, force=True)
    # Planner statistics and PostgreSQL's visibility map, as autovacuum (or a
    # periodic ANALYZE / PRAGMA optimize on SQLite) keeps them on a live database.
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE" if db.dialect == "postgresql" else "ANALYZE"))
    counts.seconds = time.perf_counter() - started
    return counts


# --- the hand-written side ----------------------------------------------------------


def _in(prefix: str, items: list[str]) -> tuple[str, dict[str, str]]:
    names = {f"{prefix}{i}": item for i, item in enumerate(items)}
    return ", ".join(f":{n}" for n in names), names


def rollup_sql(form: Form, periods: list[str]) -> tuple[str, dict[str, Any]]:
    """One statement giving what /summary shows: expected, reported, on time, reports, approved
    reports, confirmed warnings and field aggregates by district and period, over the counted
    (current, not withdrawn) reports."""
    period_list, period_params = _in("p", periods)
    field_list, field_params = _in("f", [f.key for f in form.numeric_fields])
    params: dict[str, Any] = {**period_params, **field_params, "form": form.key, "programme": form.programme}
    sql = f"""
    WITH cur AS (
        SELECT r.id, r.school_id, r.period, r.is_late, r.review FROM reports r
        WHERE r.form_key = :form AND r.period IN ({period_list}) AND r.is_current AND NOT r.withdrawn
    ), expected AS (
        SELECT s.district_id, count(*) AS schools
        FROM schools s JOIN school_programmes sp ON sp.school_id = s.id AND sp.programme = :programme
        GROUP BY s.district_id
    ), filed AS (
        SELECT s.district_id, c.period,
               count(DISTINCT sp.school_id) AS reported,
               count(DISTINCT CASE WHEN NOT c.is_late THEN sp.school_id END) AS on_time,
               count(*) AS reports,
               sum(CASE WHEN c.review = 'approved' THEN 1 ELSE 0 END) AS approved
        FROM cur c JOIN schools s ON s.id = c.school_id
        LEFT JOIN school_programmes sp ON sp.school_id = c.school_id AND sp.programme = :programme
        GROUP BY s.district_id, c.period
    ), flagged AS (
        SELECT s.district_id, c.period, count(*) AS flags
        FROM cur c JOIN report_flags g ON g.report_id = c.id JOIN schools s ON s.id = c.school_id
        GROUP BY s.district_id, c.period
    ), vals AS (
        SELECT s.district_id, c.period, v.field_key,
               count(v.num_value) AS n, sum(v.num_value) AS total, min(v.num_value) AS lo, max(v.num_value) AS hi
        FROM cur c JOIN report_values v ON v.report_id = c.id JOIN schools s ON s.id = c.school_id
        WHERE v.field_key IN ({field_list})
        GROUP BY s.district_id, c.period, v.field_key
    )
    SELECT d.name, f.period, e.schools, f.reported, f.on_time, f.reports, f.approved, g.flags,
           v.field_key, v.n, v.total, v.lo, v.hi
    FROM expected e JOIN districts d ON d.id = e.district_id
    JOIN filed f ON f.district_id = e.district_id
    LEFT JOIN flagged g ON g.district_id = f.district_id AND g.period = f.period
    LEFT JOIN vals v ON v.district_id = f.district_id AND v.period = f.period
    """
    return sql, params


def export_sql(form: Form, periods: list[str]) -> tuple[str, dict[str, Any]]:
    """One row per current report with its school, district, reporter and every field (pivoted by GROUP BY)."""
    period_list, params = _in("p", periods)
    params["form"] = form.key
    columns = []
    for i, field in enumerate(form.fields):
        params[f"k{i}"] = field.key
        column = "v.num_value" if field.type.is_numeric else "v.text_value"
        columns.append(f"max(CASE WHEN v.field_key = :k{i} THEN {column} END) AS c{i}")
    sql = f"""
    SELECT r.id, r.period, r.series, r.version, r.is_late, r.submitted_at, s.code, s.name, d.name, p.name,
           {", ".join(columns)}
    FROM reports r
    JOIN schools s ON s.id = r.school_id
    JOIN districts d ON d.id = s.district_id
    LEFT JOIN people p ON p.id = r.reporter_id
    JOIN report_values v ON v.report_id = r.id
    WHERE r.form_key = :form AND r.period IN ({period_list}) AND r.is_current
    GROUP BY r.id, r.period, r.series, r.version, r.is_late, r.submitted_at, s.code, s.name, d.name, p.name
    ORDER BY d.name, s.code, r.period, r.submitted_at, r.id
    """
    return sql, params


def missing_sql(form: Form, periods: list[str]) -> tuple[str, dict[str, Any]]:
    """Expected (school, period) pairs without a current report."""
    selects = []
    params: dict[str, Any] = {"form": form.key, "programme": form.programme}
    for i, period in enumerate(periods):
        params[f"p{i}"] = period
        selects.append(f"SELECT :p{i} AS period")
    sql = f"""
    SELECT q.period, s.code, s.name, d.name
    FROM ({" UNION ALL ".join(selects)}) q
    CROSS JOIN schools s
    JOIN school_programmes sp ON sp.school_id = s.id AND sp.programme = :programme
    JOIN districts d ON d.id = s.district_id
    WHERE NOT EXISTS (
        SELECT 1 FROM reports r
        WHERE r.school_id = s.id AND r.form_key = :form AND r.period = q.period AND r.is_current
    )
    """
    return sql, params


def _num(value: Any) -> Decimal | None:
    if value is None:
        return None
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return number.quantize(Decimal("0.0001"))


def canonical_summary(summary: Summary) -> dict[tuple[str, str], tuple[Any, ...]]:
    out = {}
    for rollup in (summary.current, summary.previous, summary.year_ago):
        for d in rollup.districts:
            if d.reports == 0:
                continue  # the hand-written query has no row for a district and period without reports
            fields = tuple(sorted((k, a.count, _num(a.total), _num(a.minimum), _num(a.maximum)) for k, a in d.fields.items()))
            out[(d.name, rollup.periods[0].key)] = (d.schools, d.reported, d.on_time, d.reports, d.approved, d.flags, fields)
    return out


def canonical_rows(rows: list[Any]) -> dict[tuple[str, str], tuple[Any, ...]]:
    grouped: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        grouped.setdefault((row[0], row[1]), []).append(row)
    out = {}
    for key, group in grouped.items():
        name, period, schools, reported, on_time, reports, approved, flags = group[0][:8]
        fields = tuple(
            sorted((r[8], int(r[9]), _num(r[10]), _num(r[11]), _num(r[12])) for r in group if r[8] is not None and r[9])
        )
        out[key] = (schools, reported, on_time, reports, int(approved or 0), int(flags or 0), fields)
    return out


# --- timing ------------------------------------------------------------------------------


async def _timed(work: Callable[[], Awaitable[T]]) -> tuple[float, T]:
    started = time.perf_counter()
    result = await work()
    return (time.perf_counter() - started) * 1000, result


async def compare(ours: Callable[[], Awaitable[T]], hand: Callable[[], Awaitable[U]], runs: int) -> tuple[float, T, float, U]:
    """Median milliseconds of each, run alternately so a busy machine slows both alike."""
    for _ in range(2):  # warm-up: connection pool, prepared statements, page cache
        await ours()
        await hand()
    ours_ms: list[float] = []
    hand_ms: list[float] = []
    for _ in range(runs):
        elapsed, ours_result = await _timed(ours)
        ours_ms.append(elapsed)
        elapsed, hand_result = await _timed(hand)
        hand_ms.append(elapsed)
    return statistics.median(ours_ms), ours_result, statistics.median(hand_ms), hand_result


@dataclass
class Result:
    backend: str
    counts: Counts
    rollup_ms: float
    rollup_hand_ms: float
    export_ms: float
    export_hand_ms: float
    export_rows: int


async def bench(db: Database, backend: str, args: argparse.Namespace) -> Result:
    await db.migrate()
    print(f"[{backend}] generating {args.years} years x {args.schools} schools ...", flush=True)
    counts = await generate(db, args.schools, args.years, args.first_year)
    print(f"[{backend}] {counts.reports:,} reports, {counts.values:,} values in {counts.seconds:.1f} s", flush=True)
    last_year = args.first_year + args.years - 1
    # The office reads in early December: October is late (past due), the year still runs.
    now = datetime(last_year, 12, 3, 9, tzinfo=DEFAULT_TZ)
    month = parse_period(MILK.period_cadence, f"{last_year}-10")
    periods = [month.key, month.previous().key, f"{last_year - 1}-10"]
    sql, params = rollup_sql(MILK, periods)

    async def hand_rollup() -> list[Any]:
        async with db.engine.connect() as conn:
            return list((await conn.execute(text(sql), params)).all())

    rollup_ms, summary, rollup_hand_ms, rows = await compare(
        lambda: summarise(db, MILK, month, now, DEFAULT_TZ), hand_rollup, args.runs
    )
    ours, theirs = canonical_summary(summary), canonical_rows(rows)
    assert ours == theirs, f"roll-ups differ:\n{sorted(ours.items())[:2]}\n{sorted(theirs.items())[:2]}"

    year = year_periods(MILK.period_cadence, last_year)
    keys = [p.key for p in year]
    r_sql, r_params = rollup_sql(MILK, keys)
    e_sql, e_params = export_sql(MILK, keys)
    m_sql, m_params = missing_sql(MILK, keys)

    async def hand_export() -> tuple[list[Any], list[Any], list[Any]]:
        async with db.engine.connect() as conn:
            return (
                list((await conn.execute(text(r_sql), r_params)).all()),
                list((await conn.execute(text(e_sql), e_params)).all()),
                list((await conn.execute(text(m_sql), m_params)).all()),
            )

    export_ms, data, export_hand_ms, (_, report_rows, missing_rows) = await compare(
        lambda: gather_export(db, MILK, year, now, DEFAULT_TZ), hand_export, args.runs
    )
    assert [r.report_id for r in data.reports] == [row[0] for row in report_rows], "export rows differ"
    for ours_row, row in zip(data.reports, report_rows):
        for i, field in enumerate(MILK.fields):
            num, txt = ours_row.values.get(field.key, (None, None))
            got = _num(num) if field.type.is_numeric else txt
            want = _num(row[10 + i]) if field.type.is_numeric else row[10 + i]
            assert got == want, (ours_row.report_id, field.key, got, want)
    assert len(data.missing) == len(missing_rows), (len(data.missing), len(missing_rows))
    return Result(backend, counts, rollup_ms, rollup_hand_ms, export_ms, export_hand_ms, len(report_rows))


async def run_sqlite(args: argparse.Namespace) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        try:
            return await bench(db, "sqlite", args)
        finally:
            await db.dispose()


async def run_pg(args: argparse.Namespace) -> Result:
    async with scratch_database("postgresql") as url:
        db = Database(url)
        try:
            return await bench(db, "postgresql", args)
        finally:
            await db.dispose()


def report(results: list[Result], runs: int) -> None:
    print()
    print(f"median of {runs} runs; ratio = ours / hand-written SQL (aim for the roll-up: <= 1.5x)")
    header = f"{'':34}" + "".join(f"{r.backend:>24}" for r in results)
    print(header)
    print("-" * len(header))

    def line(label: str, cell: Callable[[Result], str]) -> None:
        print(f"{label:34}" + "".join(f"{cell(r):>24}" for r in results))

    line("reports / values", lambda r: f"{r.counts.reports:,} / {r.counts.values:,}")
    line("generation", lambda r: f"{r.counts.seconds:.1f} s")
    line("/summary roll-up, 1 month (ours)", lambda r: f"{r.rollup_ms:.2f} ms")
    line("  hand-written GROUP BY", lambda r: f"{r.rollup_hand_ms:.2f} ms")
    line("  ratio", lambda r: f"{r.rollup_ms / r.rollup_hand_ms:.2f}x")
    line("export reads, 1 year (ours)", lambda r: f"{r.export_ms:.1f} ms ({r.export_rows:,} rows)")
    line("  hand-written SQL", lambda r: f"{r.export_hand_ms:.1f} ms")
    line("  ratio", lambda r: f"{r.export_ms / r.export_hand_ms:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", action="store_true", help="also run on PostgreSQL (creates and drops its own database)")
    parser.add_argument("--schools", type=int, default=1000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--first-year", type=int, default=2016)
    parser.add_argument("--runs", type=int, default=21, help="timed runs per measurement (median reported)")
    args = parser.parse_args()
    results = [asyncio.run(run_sqlite(args))]
    if args.pg:
        results.append(asyncio.run(run_pg(args)))
    report(results, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
