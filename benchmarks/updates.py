"""Processing cost per update: a full report conversation vs a floor handler.

Both run through the same application stack (``build_application``: rate
limiter, instrumented update log, defaults) on the same in-memory Bot API and
the same SQLAlchemy engine, side by side in one run:

* floor — one handler that replies and commits one row (the least any bot
  that records something must do per update);
* report — a principal files the milk report end to end (``/milk``, the
  period, two typed answers, two buttons, submit; a new school each round),
  the draft read and written in SQL on every update, the report saved with
  its values.

Prints microseconds per update and the ratio (aim ≤ 2×), then each kind of
update against the floor, on SQLite and, with ``--pg``, on PostgreSQL (a
scratch database created and dropped here).

Run: ``.venv/bin/python -m benchmarks.updates [--rounds N] [--pg]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from telegram import Update
from telegram.ext import AIORateLimiter, MessageHandler, filters

from benchmarks.scratch import scratch_database
from bot.app import build_application
from bot.core.clock import FixedClock
from bot.context import Context
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.office.registration import issue_invites
from bot.settings import Settings
from bot.offline.simulator import Simulator
from storage.db import Database
from storage.models import AuditEntry
from storage.schools import ensure_district, upsert_school

SHANGHAI = ZoneInfo("Asia/Shanghai")


def unpaced() -> AIORateLimiter:
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=3)


async def floor_reply(update: Update, context: Context) -> None:
    """The floor: commit one row, reply once."""
    services = context.services
    async with services.db.session() as session:
        session.add(AuditEntry(at=services.clock.now(), actor=update.effective_user.id, action="floor"))  # type: ignore[union-attr]
    await update.effective_message.reply_text("ok")  # type: ignore[union-attr]


STEPS = ("command", "period", "typed answer", "button answer", "submit")


@dataclass
class Measured:
    report: float  # seconds per update, median over rounds
    floor: float
    steps: dict[str, float]  # seconds per update of each kind, median


async def measure(url: str, rounds: int) -> Measured:
    db = Database(url)
    await db.migrate()
    clock = FixedClock(datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI))
    settings = Settings(database_url=url, bot_username="bench_bot", _env_file=None)
    # One school and principal per round, so every round is a whole first report (a correction
    # would skip the questions and measure only the heaviest steps).
    codes = [f"B{i}" for i in range(rounds)]
    async with db.session() as session:
        district = await ensure_district(session, "濉溪县")
        for code in codes:
            await upsert_school(
                session, clock.now(), code=code, name=f"{code}小学", district=district, area="rural", programmes=["milk"]
            )
        invites = await issue_invites(session, clock.now(), school_codes=codes)

    fake = FakeTelegram()
    # Telegram's 30 messages/s would pace the side that sends more; processing cost is what is
    # measured here, so the limiter stays in the path with its rates at 0 (PTB: no pacing).
    report_app = build_application(settings, request=FakeRequest(fake), db=db, clock=clock, rate_limiter=unpaced())
    floor_app = build_application(settings, request=FakeRequest(fake), db=db, clock=clock, rate_limiter=unpaced())
    floor_app.handlers.clear()
    floor_app.add_handler(MessageHandler(filters.ALL, floor_reply))

    report_times: list[float] = []
    floor_times: list[float] = []
    step_times: dict[str, list[float]] = defaultdict(list)
    async with report_app, floor_app:
        report_sim, floor_sim = Simulator(report_app, fake), Simulator(floor_app, fake)
        principals = [report_sim.user(1001 + i, f"校长{i}") for i in range(rounds)]
        for principal, invite in zip(principals, invites):
            await principal.send(f"/start {invite.code}")
        floor_user = floor_sim.user(5001, "floor")
        for principal in principals:
            # One report per round, driven by what the newest message shows: buttons are
            # pressed, questions answered.
            round_time = 0.0
            updates = 0

            async def step(kind: str, update: Awaitable[object]) -> None:
                nonlocal round_time, updates
                started = time.perf_counter()
                await update
                took = time.perf_counter() - started
                step_times[kind].append(took)
                round_time += took
                updates += 1

            await step("command", principal.send("/milk"))
            for _ in range(15):
                newest = fake.last(principal.user_id)
                labels = [b["text"] for row in (newest.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
                if any("提交" in label for label in labels):
                    await step("submit", principal.press("提交"))
                    break
                if labels:
                    await step("period" if updates == 1 else "button answer", principal.press(labels[0]))
                else:
                    await step("typed answer", principal.send("20"))
            else:
                raise SystemExit("benchmark broken: the conversation never reached its review")
            report_times.append(round_time / updates)

            started = time.perf_counter()
            for _ in range(updates):
                await floor_user.send("hi")
            floor_times.append((time.perf_counter() - started) / updates)
            # The fake keeps every message for tests to read; a real server does not.
            fake.calls.clear()
            fake.messages.clear()
    async with db.engine.connect() as conn:
        saved = (await conn.execute(text("SELECT count(*) FROM reports"))).scalar()
    await db.dispose()
    if saved != rounds:
        raise SystemExit(f"benchmark broken: {saved} reports saved for {rounds} rounds")
    return Measured(
        statistics.median(report_times),
        statistics.median(floor_times),
        {kind: statistics.median(step_times[kind]) for kind in STEPS},
    )


async def main(rounds: int, pg: bool) -> None:
    rows = []
    for backend in ("sqlite", "postgresql") if pg else ("sqlite",):
        async with scratch_database(backend) as url:
            rows.append((backend, await measure(url, rounds)))
    print(f"{'database':<11} {'report µs/update':>17} {'floor µs/update':>16} {'ratio':>6}  (aim <= 2.0)")
    for name, m in rows:
        print(f"{name:<11} {m.report * 1e6:>17.0f} {m.floor * 1e6:>16.0f} {m.report / m.floor:>6.2f}")
    print()
    print("each kind of update of the conversation / the floor (median):")
    print(f"{'database':<11} " + " ".join(f"{kind:>14}" for kind in STEPS))
    for name, m in rows:
        print(f"{name:<11} " + " ".join(f"{m.steps[kind] / m.floor:>13.2f}x" for kind in STEPS))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--pg", action="store_true", help="also measure on the local PostgreSQL server")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.pg))
