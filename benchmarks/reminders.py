"""The reminder tick over 10,000 schools × 3 forms vs the raw SQL anti-join.

Generates 10,000 schools enrolled in every programme, one principal each, and
for each of the three reports a current one from about half of them, drawn
independently (so schools owe any mix), then, at a moment when several
reminders are due (2026-08-15 09:30 Shanghai: milk for June and July, insurance
for the spring semester), times side by side in one run:

* the tick's planning (``scheduler.tick.plan_tick``: open periods, slots, claims,
  drafts, blocked people, names and languages for the messages — everything it
  reads before sending);
* the hand-written anti-join that finds the same (report, school, principal)
  triples without a current report, one query per report (milk asks the schools
  in the milk programme, insurance every school).

Both must find the same triples (checked before printing). Prints the median of
several runs and the ratio (aim ≤ 2×), on SQLite and, with ``--pg``, PostgreSQL.

Run: ``.venv/bin/python -m benchmarks.reminders [--schools N] [--pg]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text

from benchmarks.scratch import scratch_database
from bot.core.catalogue import load_catalogue
from bot.core.clock import FixedClock
from bot.services import Services
from bot.settings import Settings
from scheduler.plan import plan_tick
from storage.db import Database
from storage.models import District, Person, Report, School, SchoolProgramme

NOW = datetime(2026, 8, 15, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
RUNS = 7

RAW_ANTI_JOIN = """
SELECT s.id, p.id
FROM schools s
{programme}
JOIN people p ON p.school_id = s.id AND p.role = 'principal' AND p.active
WHERE NOT EXISTS (
    SELECT 1 FROM reports r
    WHERE r.school_id = s.id AND r.form_key = :form AND r.period = :period AND r.is_current
)
"""
# A form of a programme asks only the schools enrolled in it; a form without one (insurance)
# asks every school.
ENROLLED = "JOIN school_programmes sp ON sp.school_id = s.id AND sp.programme = :programme"
RAW_FOR_PROGRAMME = RAW_ANTI_JOIN.format(programme=ENROLLED)
RAW_FOR_ALL = RAW_ANTI_JOIN.format(programme="")


async def populate(db: Database, schools: int) -> None:
    utc = datetime.now(timezone.utc)
    async with db.engine.begin() as conn:
        await conn.execute(insert(District), [{"id": 1, "name": "濉溪县"}])
        await conn.execute(
            insert(School),
            [
                {
                    "id": i,
                    "code": f"S{i:05d}",
                    "name": f"学校{i}",
                    "district_id": 1,
                    "area": "rural",
                    "created_at": utc,
                    "updated_at": utc,
                }
                for i in range(1, schools + 1)
            ],
        )
        await conn.execute(
            insert(SchoolProgramme),
            [{"school_id": i, "programme": p} for i in range(1, schools + 1) for p in ("milk", "insurance", "farm")],
        )
        await conn.execute(
            insert(Person),
            [
                {
                    "id": i,
                    "telegram_id": 1_000_000 + i,
                    "name": f"校长{i}",
                    "role": "principal",
                    "school_id": i,
                    "language": "zh",
                    "blocked": False,
                    "active": True,
                    "created_at": utc,
                }
                for i in range(1, schools + 1)
            ],
        )
        reports = []
        # Each school reported each report with even odds, independently (a fixed seed: the same
        # data every run), so schools owe any mix of the three.
        rng = random.Random(2026)
        for i in range(1, schools + 1):
            for form, period in (("milk", "2026-06"), ("milk", "2026-07"), ("insurance", "2026-S1")):
                if rng.random() < 0.5:
                    reports.append(
                        {
                            "school_id": i,
                            "form_key": form,
                            "form_version": 1,
                            "period": period,
                            "series": "",
                            "version": 1,
                            "is_current": True,
                            "reporter_id": i,
                            "submitted_at": utc,
                            "is_late": False,
                            "source": "bench",
                        }
                    )
        await conn.execute(insert(Report), reports)


async def measure(url: str, schools: int) -> tuple[float, float, int]:
    db = Database(url)
    await db.migrate()
    await populate(db, schools)
    settings = Settings(database_url=url, daily_digest_at="off", weekly_digest="off", _env_file=None)
    services = Services(settings=settings, db=db, clock=FixedClock(NOW), catalogue=load_catalogue())
    plan = await plan_tick(services, NOW)
    ours = {(due.form.key, due.period.key, c.school_id, c.person_id) for due, c in plan.by_action("send")}
    targets = sorted({(due.form.key, due.form.programme, due.period.key) for due in plan.reminders})

    async def raw() -> set[tuple[str, str, int, int]]:
        found: set[tuple[str, str, int, int]] = set()
        async with db.engine.connect() as conn:
            for form, programme, period in targets:
                if programme is None:
                    rows = await conn.execute(text(RAW_FOR_ALL), {"form": form, "period": period})
                else:
                    rows = await conn.execute(text(RAW_FOR_PROGRAMME), {"form": form, "programme": programme, "period": period})
                found |= {(form, period, int(s), int(p)) for s, p in rows}
        return found

    theirs = await raw()
    if theirs != ours:
        raise SystemExit(
            f"benchmark broken: the tick and the anti-join disagree ({len(ours - theirs)} only in the tick,"
            f" {len(theirs - ours)} only in the anti-join)"
        )
    tick_times, raw_times = [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        await plan_tick(services, NOW)
        tick_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        await raw()
        raw_times.append(time.perf_counter() - started)
    await db.dispose()
    return statistics.median(tick_times), statistics.median(raw_times), len(ours)


async def main(schools: int, pg: bool) -> None:
    rows = []
    for backend in ("sqlite", "postgresql") if pg else ("sqlite",):
        async with scratch_database(backend) as url:
            rows.append((backend, await measure(url, schools)))
    print(f"{schools} schools x 3 forms, reminders due at {NOW:%Y-%m-%d %H:%M} Asia/Shanghai")
    print(f"{'database':<11} {'due':>6} {'tick ms':>8} {'anti-join ms':>13} {'ratio':>6}  (aim <= 2.0)")
    for name, (tick, raw, due) in rows:
        print(f"{name:<11} {due:>6} {tick * 1000:>8.1f} {raw * 1000:>13.1f} {tick / raw:>6.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=10_000)
    parser.add_argument("--pg", action="store_true", help="also measure on the local PostgreSQL server")
    args = parser.parse_args()
    asyncio.run(main(args.schools, args.pg))
