"""Broadcast benchmark: 1,000 recipients through a fake Bot API that enforces Telegram's 30 messages/s.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.broadcast          # temporary SQLite database
    .venv/bin/python -m benchmarks.broadcast --pg     # SQLite, then PostgreSQL (SCHOOLBOT_TEST_PG or local)
    python benchmarks/broadcast.py --help

What runs is the real bot: ``build_application`` with its ``AIORateLimiter``,
the staff member's ``/broadcast`` conversation fed through the simulator, the
outbox written on confirmation, and the background ``BroadcastSender`` on the
wall clock. Only the Bot API is fake, and it is hostile:

* at most ``--limit`` (30) requests that carry a ``chat_id`` in any one
  second (a sliding window, checked when the request arrives); beyond that it
  answers 429 with ``retry_after: 1``;
* ``--transient`` (5 %) of the sends fail with a 500 or a time-out (before
  delivery, so a resend is not a true duplicate);
* ``--blocked`` (5) recipients have blocked the bot (403);
* every answer takes ``--latency`` seconds (half on the way in, half out, with
  jitter on the way out only, so the arrival spacing is the sender's own).

It prints the achieved rate as a fraction of the limit — API requests per
second (what Telegram limits; failed sends count too) and messages delivered
per second — from the confirmation to the final report, plus the recipients
lost (not blocked, nothing received) and duplicated (received twice).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make the repository importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select  # noqa: E402

from benchmarks.scratch import scratch_database  # noqa: E402
from telegram.error import TimedOut  # noqa: E402
from telegram.request import RequestData  # noqa: E402

from bot.app import build_application  # noqa: E402
from bot.core.clock import SystemClock  # noqa: E402
from bot.offline.fakeapi import FakeRequest, FakeTelegram  # noqa: E402
from bot.delivery.sender import BroadcastSender, sender_of  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.offline.simulator import Simulator  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Broadcast, District, OutboxRow, Person, School  # noqa: E402

STAFF = 900
FIRST_CHAT = 100_000
TEXT = "各位校长：请于12月5日前报送11月学生饮用奶数据。谢谢配合！"
LIMITED = {"sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageReplyMarkup", "copyMessage"}


class HostileTelegram(FakeTelegram):
    """FakeTelegram with Telegram's flood limit and random transient failures."""

    def __init__(self, *, limit: int, transient: float, seed: int) -> None:
        super().__init__()
        self.limit = limit
        self.transient = transient
        self.rng = random.Random(seed)
        self.window: deque[float] = deque()
        self.too_many = 0
        self.transient_errors = 0
        self.first_send: float | None = None
        self.last_send: float | None = None
        self.requests = 0

    def answer(self, method: str, params: dict[str, Any], files: dict[str, bytes] | None = None) -> tuple[int, Any]:
        if method in LIMITED and params.get("chat_id") is not None:
            now = time.monotonic()
            while self.window and now - self.window[0] >= 1.0:
                self.window.popleft()
            if len(self.window) >= self.limit:
                self.too_many += 1
                return 429, {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1},
                }
            self.window.append(now)
            self.requests += 1
            broadcast_send = method == "sendMessage" and int(params["chat_id"]) >= FIRST_CHAT
            if broadcast_send:
                self.first_send = self.first_send or now
                self.last_send = now
                if self.rng.random() < self.transient:
                    self.transient_errors += 1
                    if self.rng.random() < 0.5:
                        raise TimedOut("fake time-out before delivery")
                    return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        return super().answer(method, params, files)


class SlowRequest(FakeRequest):
    """A network round trip: half the latency before the server sees the request, half (jittered) after."""

    def __init__(self, fake: FakeTelegram, latency: float, seed: int) -> None:
        super().__init__(fake)
        self.latency = latency
        self.rng = random.Random(seed)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        await asyncio.sleep(self.latency / 2)
        try:
            return await super().do_request(url, method, request_data)
        finally:
            await asyncio.sleep(self.latency / 2 * self.rng.uniform(0.5, 1.5))


@dataclass
class Figures:
    backend: str
    recipients: int
    seconds: float
    requests: int
    delivered: int
    blocked_rows: int
    failed_rows: int
    lost: int
    duplicated: int
    flagged: int
    too_many: int
    transient: int
    limit: int

    def print(self) -> None:
        req_rate = self.requests / self.seconds
        msg_rate = self.delivered / self.seconds
        print(f"[{self.backend}] {self.recipients} recipients in {self.seconds:.1f} s (confirmation → final report)")
        print(f"  API requests : {self.requests} = {req_rate:.1f}/s = {req_rate / self.limit:.2f} of the {self.limit}/s limit")
        print(f"  delivered    : {self.delivered} = {msg_rate:.1f}/s = {msg_rate / self.limit:.2f} of the limit")
        print(f"  blocked      : {self.blocked_rows}   failed: {self.failed_rows}")
        print(f"  429 answers  : {self.too_many}   transient errors injected: {self.transient}")
        print(f"  lost         : {self.lost}   duplicated: {self.duplicated}   flagged maybe-duplicate: {self.flagged}")


async def seed(db: Database, n: int, now: datetime) -> list[int]:
    """``n`` principals, four per school, in one transaction."""
    chats = list(range(FIRST_CHAT, FIRST_CHAT + n))
    async with db.session() as session:
        district = District(name="基准区")
        session.add(district)
        await session.flush()
        schools = [
            {
                "code": f"B{i:04d}",
                "name": f"基准{i}小学",
                "district_id": district.id,
                "area": "rural",
                "created_at": now,
                "updated_at": now,
            }
            for i in range((n + 3) // 4)
        ]
        await session.execute(insert(School), schools)
        ids = (await session.scalars(select(School.id).order_by(School.code))).all()
        people = [
            {
                "telegram_id": chat,
                "name": f"校长{chat}",
                "role": "principal",
                "school_id": ids[i // 4],
                "language": "zh",
                "blocked": False,
                "active": True,
                "created_at": now,
            }
            for i, chat in enumerate(chats)
        ]
        await session.execute(insert(Person), people)
    return chats


async def run(backend: str, url: str, args: argparse.Namespace) -> Figures:
    db = Database(url)
    await db.migrate()
    clock = SystemClock(timezone.utc)
    chats = await seed(db, args.recipients, clock.now())
    fake = HostileTelegram(limit=args.limit, transient=args.transient, seed=args.seed)
    rng = random.Random(args.seed)
    fake.blocked.update(rng.sample(chats, args.blocked))
    settings = Settings(database_url=url, telegram_api_url="http://fake.invalid", admin_ids=frozenset({STAFF}), _env_file=None)
    app = build_application(settings, request=SlowRequest(fake, args.latency, args.seed), db=db, clock=clock)
    async with app:
        app.bot_data.sender = BroadcastSender(app, paced=not args.unpaced)
        sender = sender_of(app)
        await sender.start()
        staff = Simulator(app, fake).user(STAFF, "李主任")
        await staff.send("/broadcast")
        await staff.press("全部校长")
        await staff.send(TEXT)
        fake.requests = 0
        started = time.monotonic()
        await staff.press("确认发送")
        while True:
            await asyncio.sleep(0.05)
            async with db.session() as session:
                status = await session.scalar(select(Broadcast.status).order_by(Broadcast.id.desc()).limit(1))
            if status == "done" and any("已完成" in (m.get("text") or "") for m in fake.sent(STAFF)):
                break
            if time.monotonic() - started > args.timeout:
                raise SystemExit(f"[{backend}] not finished after {args.timeout} s")
        seconds = time.monotonic() - started
        await sender.stop()
    async with db.session() as session:
        rows = (await session.scalars(select(OutboxRow))).all()
    await db.dispose()
    received = {chat: fake.texts(chat).count(TEXT) for chat in chats}
    return Figures(
        backend=backend,
        recipients=len(chats),
        seconds=seconds,
        requests=fake.requests,
        delivered=sum(received.values()),
        blocked_rows=sum(r.status == "blocked" for r in rows),
        failed_rows=sum(r.status == "failed" for r in rows),
        lost=sum(1 for chat, n in received.items() if n == 0 and chat not in fake.blocked),
        duplicated=sum(1 for n in received.values() if n > 1),
        flagged=sum(bool(r.maybe_duplicate) for r in rows),
        too_many=fake.too_many,
        transient=fake.transient_errors,
        limit=args.limit,
    )


async def main(args: argparse.Namespace) -> int:
    results: list[Figures] = []
    for backend in ("sqlite", "postgresql") if args.pg else ("sqlite",):
        async with scratch_database(backend) as url:
            results.append(await run(backend, url, args))
    for figures in results:
        figures.print()
    return 0 if all(f.lost == 0 and f.duplicated == 0 for f in results) else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", action="store_true", help="also run on a temporary PostgreSQL database")
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=30, help="requests per second the fake allows")
    parser.add_argument("--transient", type=float, default=0.05, help="share of sends failing with 500/time-out")
    parser.add_argument("--blocked", type=int, default=5, help="recipients who blocked the bot")
    parser.add_argument("--latency", type=float, default=0.06, help="round trip of one request, seconds")
    parser.add_argument("--unpaced", action="store_true", help="without the bulk pacer (PTB's limiter alone)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=110.0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
