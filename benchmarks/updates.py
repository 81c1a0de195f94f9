"""Processing cost per update: a full report conversation vs a floor handler.

Both run through the same application stack (``build_application``: rate
limiter, instrumented update log, defaults) on the same in-memory Bot API and
the same SQLAlchemy engine, side by side in one run:

* floor — one handler that replies and commits one row (the least any bot
  that records something must do per update);
* report — a principal files the milk report end to end (``/milk``, the
  period, four answers, submit), the draft read and written in SQL on every
  update, the report saved with its values.

Prints microseconds per update and the ratio (aim ≤ 2×), on SQLite and, with
``--pg``, on PostgreSQL (a scratch database created and dropped here).

Run: ``.venv/bin/python -m benchmarks.updates [--rounds N] [--pg]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from telegram import Update
from telegram.ext import AIORateLimiter, MessageHandler, filters

from benchmarks.scratch import scratch_database
from bot.app import build_application
from bot.clock import FixedClock
from bot.context import Context
from bot.fakeapi import FakeRequest, FakeTelegram
from bot.services.registration import issue_invites
from bot.settings import Settings
from bot.simulator import Simulator
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


async def measure(url: str, rounds: int) -> tuple[float, float]:
    db = Database(url)
    await db.migrate()
    clock = FixedClock(datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI))
    settings = Settings(database_url=url, bot_username="bench_bot", _env_file=None)  # type: ignore[call-arg]
    async with db.session() as session:
        district = await ensure_district(session, "濉溪县")
        await upsert_school(session, clock.now(), code="B1", name="邹圩小学", district=district, area="rural", programmes=["milk"])
        (invite,) = await issue_invites(session, clock.now(), school_codes=["B1"])

    fake = FakeTelegram()
    # Telegram's 30 messages/s would pace the side that sends more; processing cost is what is
    # measured here, so the limiter stays in the path with its rates at 0 (PTB: no pacing).
    report_app = build_application(settings, request=FakeRequest(fake), db=db, clock=clock, rate_limiter=unpaced())
    floor_app = build_application(settings, request=FakeRequest(fake), db=db, clock=clock, rate_limiter=unpaced())
    floor_app.handlers.clear()
    floor_app.add_handler(MessageHandler(filters.ALL, floor_reply))

    report_times: list[float] = []
    floor_times: list[float] = []
    async with report_app, floor_app:
        report_sim, floor_sim = Simulator(report_app, fake), Simulator(floor_app, fake)
        principal = report_sim.user(1001, "王校长")
        await principal.send(f"/start {invite.code}")
        floor_user = floor_sim.user(5001, "floor")
        for round_ in range(rounds):
            # One report per round (a correction of it after the first), driven by what the
            # newest message shows: buttons are pressed, questions answered.
            started = time.perf_counter()
            await principal.send("/milk")
            updates = 1
            for _ in range(15):
                newest = fake.last(principal.user_id)
                labels = [b["text"] for row in (newest.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
                updates += 1
                if any("提交" in label for label in labels):
                    await principal.press("提交")
                    break
                if labels:
                    correct = [label for label in labels if "更正" in label]
                    await principal.press(correct[0] if correct else labels[0])
                else:
                    await principal.send("20")
            else:
                raise SystemExit("benchmark broken: the conversation never reached its review")
            report_times.append((time.perf_counter() - started) / updates)

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
    return statistics.median(report_times), statistics.median(floor_times)


async def main(rounds: int, pg: bool) -> None:
    rows = []
    for backend in ("sqlite", "postgresql") if pg else ("sqlite",):
        async with scratch_database(backend) as url:
            rows.append((backend, await measure(url, rounds)))
    print(f"{'database':<11} {'report µs/update':>17} {'floor µs/update':>16} {'ratio':>6}  (aim <= 2.0)")
    for name, (report, floor) in rows:
        print(f"{name:<11} {report * 1e6:>17.0f} {floor * 1e6:>16.0f} {report / floor:>6.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--pg", action="store_true", help="also measure on the local PostgreSQL server")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.pg))
