"""Deadline-day load test: two ``schoolbot run`` processes on one PostgreSQL behind a round-robin.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.burst --quick      # 200 principals over 60 s (a few minutes)
    .venv/bin/python -m benchmarks.burst              # 2,000 principals over 10 minutes (~15 min)
    .venv/bin/python -m benchmarks.burst --help

What runs is the product as an operator runs it: two ``python -m bot run``
processes in webhook mode (their own web server, each update processed before
it is acknowledged) on one scratch PostgreSQL database, behind a loopback
round-robin proxy (tornado) that hands each webhook POST to the next process.
Only Telegram is simulated, by this script:

* the Bot API is ``bot.offline.fakeserver`` with its flood limits on (``FloodLimits``):
  at most 30 messages in any one second overall and 1 per second in one chat,
  sliding windows, refused with real 429 answers carrying ``retry_after``;
* Telegram's webhook delivery is this script POSTing updates to the proxy
  with the secret header, at most 40 at a time (Telegram's default
  ``max_connections``); a non-2xx answer is delivered again a second later.

The scenario, in one run:

1. **Seed** (directly in the database, as the other benchmarks do):
   ``--recipients`` schools in the milk programme with one principal each;
   every report the reminder tick would ask for today is marked received, so
   nothing is due until the script says so.
2. **Burst** over ``--window-minutes``: ``--principals`` of those principals
   each file the milk report (``/milk``, period, two typed answers, supplier,
   incidents, submit: 7 updates) starting at a random moment in the window,
   thinking ``--think`` seconds between steps; each waits for the bot's reply
   (read from the fake's recorded messages) before its next step. At 10 % of
   the window the admin writes a broadcast to all principals through the
   webhook (``/broadcast`` … 确认发送); at 20 % the reports of ``--reminders``
   schools that file nothing are withdrawn, so the next reminder tick
   (every 5 s in each process) owes each of them a reminder. The burst ends
   when every report is filed, the broadcast is done and every reminder has
   arrived (or ``--drain-timeout`` passes).
3. **Floor**: the same two processes answer ``/help`` (one person lookup and
   one reply: the cheapest real handler) in the same shape — principals
   arriving at the burst's rate, 7 steps each, same think time — with no bulk
   sending. Its p99 is what the burst's p99 step latency is compared to.

Step latency is the time from the POST of an update to the arrival at the fake
of the bot's reply to it (the next question, the receipt, the help text).

It prints updates/s, p50/p95/p99 step latency of the burst and of the floor,
the 429s the fake answered, messages lost (replies, broadcast messages,
reminders, the broadcast's final report that never arrived), duplicated (the
same message twice in a chat), unhandled errors (ERROR lines and tracebacks in
the processes' logs), the bulk and combined send rates against the 30/s limit
while bulk sending lasted, the most messages admitted and attempted in any one
second, and each aim of issue 17 with met / not met. The exit status is 0 when
every aim is met.
"""

from __future__ import annotations

import argparse
import bisect
import gc
import asyncio
import itertools
import os
import random
import re
import signal
import socket
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

if __package__ in (None, ""):
    # Run as a script: make the repository importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import tornado.httpserver  # noqa: E402
import tornado.web  # noqa: E402
from sqlalchemy import func, insert, select, update  # noqa: E402

from benchmarks.scratch import scratch_database  # noqa: E402
from bot.core.catalogue import load_catalogue  # noqa: E402
from bot.core.clock import SystemClock  # noqa: E402
from bot.services import Services  # noqa: E402
from bot.offline.fakeapi import FakeTelegram  # noqa: E402
from bot.offline.fakeserver import FakeBotApiServer
from bot.offline.floodlimits import FloodLimits  # noqa: E402
from bot.core.i18n import t  # noqa: E402
from bot.core.periods import default_period  # noqa: E402
from bot.reporting.codec import go_data  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.offline.simulator import callback_query_payload, message_payload, text_content, user_payload  # noqa: E402
from scheduler.plan import plan_tick  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Broadcast, District, Person, Report, School, SchoolProgramme  # noqa: E402

TOKEN = "123456:BURST-TOKEN"
SECRET = "burst-secret"
BOT_USERNAME = "schoolbot_burst_bot"
ADMIN = 900
FIRST_CHAT = 100_000
TZ = ZoneInfo("Asia/Shanghai")
LIMIT = 30
# Telegram's default webhook max_connections: updates in flight at once.
WEBHOOK_CONNECTIONS = 40
SEED_SOURCE = "burst-seed"
TEXT = "各位校长：今天是11月学生饮用奶月报截止日，请尽快报送。谢谢配合！"
# Log lines that are unhandled errors: the level column of bot.cli's format, or a traceback.
ERROR_LINE = re.compile(r"^\S+ \S+ (ERROR|CRITICAL) |^Traceback ")
REPORT_STEPS = 7
RECEIPT = "✅ 已保存"
# What the error handler tells a user when their update failed: the step's real reply is lost.
APOLOGY = t("zh", "core.temporary_failure")
MAX_STEPS = 15  # a conversation that has not reached its receipt by then is broken


@dataclass
class Config:
    principals: int = 2000
    window: float = 600.0  # seconds in which the principals start filing
    recipients: int = 5000  # principals in all (the broadcast's audience)
    reminders: int = 1000  # schools owed a reminder during the burst
    think: tuple[float, float] = (1.0, 3.0)  # seconds a principal takes before each next step
    floor_seconds: float = 60.0
    floor_steps: int = REPORT_STEPS
    reply_timeout: float = 60.0  # after the webhook answered: a reply later than this is lost
    drain_timeout: float = 900.0  # after the window: how long bulk sends may take to finish
    seed: int = 17
    log_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.recipients < self.principals:
            raise ValueError("--recipients must be at least --principals (filers are principals too)")
        if self.reminders > self.recipients - self.principals:
            raise ValueError("--reminders must be at most --recipients minus --principals (schools that file nothing)")


QUICK = {"principals": 200, "window": 60.0, "recipients": 500, "reminders": 100, "floor_seconds": 20.0}


# --- Telegram ---------------------------------------------------------------------------------------------------
class BurstTelegram(FakeTelegram):
    """The fake's state, plus when each message arrived and a wake-up per chat (no polling by 2,000 waiters)."""

    def __init__(self) -> None:
        super().__init__(BOT_USERNAME)
        self.arrived: dict[int, float] = {}  # message_id → time.monotonic() of its arrival
        self._wake: dict[int, asyncio.Event] = defaultdict(asyncio.Event)

    def _new_message(self, chat_id: int, reply_parameters: Any = None, **content: Any) -> dict[str, Any]:
        message = super()._new_message(chat_id, reply_parameters, **content)
        self.arrived[message["message_id"]] = time.monotonic()
        event = self._wake.pop(chat_id, None)
        if event is not None:
            event.set()
        return message

    async def changed(self, chat_id: int, timeout: float) -> None:
        """Wait until a message arrives in ``chat_id`` (or ``timeout`` passes)."""
        try:
            await asyncio.wait_for(self._wake[chat_id].wait(), timeout)
        except TimeoutError:
            pass


def is_broadcast(message: dict[str, Any]) -> bool:
    """A copy of the burst's broadcast: the office's header, then its text."""
    return str(message.get("text", "")).endswith(TEXT)


def callback_datas(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row if "callback_data" in b]


def labels_of(message: dict[str, Any]) -> list[tuple[str, str]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [(b["text"], b["callback_data"]) for row in rows for b in row if "callback_data" in b]


# --- the load balancer ------------------------------------------------------------------------------------------
class RoundRobin(tornado.web.RequestHandler):
    """Forward each POST to the next backend, secret header and body intact, and relay its answer."""

    def initialize(self, backends: Iterator[int], client: httpx.AsyncClient, served: Counter[int]) -> None:
        self.backends, self.client, self.served = backends, client, served

    def check_xsrf_cookie(self) -> None:
        return None

    async def post(self) -> None:
        port = next(self.backends)
        headers = {k: v for k, v in self.request.headers.items() if k.lower().startswith(("x-telegram", "content-type"))}
        try:
            answer = await self.client.post(f"http://127.0.0.1:{port}/tg", content=self.request.body, headers=headers)
        except httpx.HTTPError:
            self.set_status(502)  # that instance is down: Telegram delivers again later
            return
        self.served[port] += 1
        self.set_status(answer.status_code)
        self.finish(answer.content)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the bot processes ------------------------------------------------------------------------------------------
@dataclass
class BotProcess:
    proc: asyncio.subprocess.Process
    port: int
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def error_lines(self) -> list[str]:
        return [line for line in self.output().splitlines() if ERROR_LINE.match(line)]


async def start_bot(api_url: str, database_url: str, port: int, proxy_port: int, log_dir: Path, n: int) -> BotProcess:
    """``python -m bot run`` in webhook mode, as an operator starts it; output to ``log_dir/bot<n>.log``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BOT_", "TELEGRAM_", "DATABASE_", "ADMIN_", "WEBHOOK_", "CATALOGUE_", "FAKE_"))
    }
    env.update(
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=api_url,
        DATABASE_URL=database_url,
        ADMIN_IDS=str(ADMIN),
        BOT_USERNAME=BOT_USERNAME,
        WEBHOOK_URL=f"http://127.0.0.1:{proxy_port}/tg",
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
        QUIET_HOURS="00:00-00:00",  # never quiet: the benchmark runs at any hour
        HOLIDAYS="",
        REMINDER_TICK_SECONDS="5",
        DAILY_DIGEST_AT="off",
        WEEKLY_DIGEST="off",
        PYTHONUNBUFFERED="1",
    )
    log_path = log_dir / f"bot{n}.log"
    workdir = log_dir / f"cwd{n}"  # empty, so no stray .env file is read
    workdir.mkdir(exist_ok=True)
    with log_path.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    return BotProcess(proc, port, log_path)


async def wait_healthy(bot: BotProcess, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if bot.proc.returncode is not None:
                raise SystemExit(f"bot on port {bot.port} exited with {bot.proc.returncode}:\n{bot.output()[-3000:]}")
            try:
                if (await client.get(f"http://127.0.0.1:{bot.port}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"bot on port {bot.port} not healthy after {timeout} s:\n{bot.output()[-3000:]}")


async def stop_bot(bot: BotProcess, timeout: float = 30.0) -> int | None:
    if bot.proc.returncode is None:
        bot.proc.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(bot.proc.wait(), timeout)
    except TimeoutError:
        bot.proc.kill()
        await bot.proc.wait()
        return None


# --- seeding ----------------------------------------------------------------------------------------------------
@dataclass
class Seeded:
    chats: list[int]  # telegram ids of all principals, school i ↔ chats[i]
    school_ids: list[int]
    filers: list[int]
    reminded: list[int]  # chats whose school is owed reminders once the burst withdraws their reports
    reminder_datas: set[str]  # callback data of each reminder the tick may send (its "report now" button)
    expected_reminders: dict[int, set[str]]  # chat → the reminders it must get during the burst


async def seed(db: Database, url: str, config: Config, rng: random.Random) -> Seeded:
    """Schools, principals and every report today's tick would ask for (see the module docstring)."""
    utc = datetime.now(TZ)
    n = config.recipients
    chats = list(range(FIRST_CHAT, FIRST_CHAT + n))
    async with db.engine.begin() as conn:
        await conn.execute(insert(District), [{"id": 1, "name": "基准县"}])
        await conn.execute(
            insert(School),
            [
                {
                    "id": i + 1,
                    "code": f"B{i:05d}",
                    "name": f"基准{i}小学",
                    "district_id": 1,
                    "area": "rural",
                    "created_at": utc,
                    "updated_at": utc,
                }
                for i in range(n)
            ],
        )
        await conn.execute(insert(SchoolProgramme), [{"school_id": i + 1, "programme": "milk"} for i in range(n)])
        await conn.execute(
            insert(Person),
            [
                {
                    "id": i + 1,
                    "telegram_id": chat,
                    "name": f"校长{i}",
                    "role": "principal",
                    "school_id": i + 1,
                    "language": "zh",
                    "blocked": False,
                    "active": True,
                    "created_at": utc,
                }
                for i, chat in enumerate(chats)
            ],
        )
    if db.engine.dialect.name == "postgresql":
        # Explicit ids above: move the sequences past them, as a real import would leave them.
        async with db.engine.begin() as conn:
            for table in ("districts", "schools", "people"):
                await conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
    order = list(range(n))
    rng.shuffle(order)
    filer_idx = set(order[: config.principals])
    reminded_idx = order[config.principals : config.principals + config.reminders]

    # What the reminder tick would send now with nobody having reported: that many (form, period)s.
    settings = Settings(
        database_url=url, quiet_hours="00:00-00:00", holidays="", daily_digest_at="off", weekly_digest="off", _env_file=None
    )
    catalogue = load_catalogue()
    clock = SystemClock(TZ)
    services = Services(settings=settings, db=db, clock=clock, catalogue=catalogue)
    now = clock.now()
    plan = await plan_tick(services, now)
    owed = {
        (due.form.key, due.form.version, due.period.key): go_data(due.form, due.period)
        for due in plan.reminders
        if due.candidates
    }
    milk = catalogue.get("milk")
    filed = default_period(milk, now, TZ)  # the ★ period the filers will press
    reports = [
        {
            "school_id": i + 1,
            "form_key": form,
            "form_version": version,
            "period": period,
            "series": "",
            "version": 1,
            "is_current": True,
            "reporter_id": i + 1,
            "submitted_at": utc,
            "is_late": False,
            "source": SEED_SOURCE,
        }
        for (form, version, period) in owed
        for i in range(n)
        if not (i in filer_idx and form == "milk" and period == filed.key)
    ]
    if reports:
        async with db.engine.begin() as conn:
            await conn.execute(insert(Report), reports)
    return Seeded(
        chats=chats,
        school_ids=[i + 1 for i in range(n)],
        filers=[chats[i] for i in sorted(filer_idx)],
        reminded=[chats[i] for i in reminded_idx],
        reminder_datas=set(owed.values()) | {go_data(milk, filed)},
        expected_reminders={chats[i]: set(owed.values()) for i in reminded_idx},
    )


async def withdraw_reports(db: Database, chats: list[int]) -> None:
    """The reminded schools' seeded reports stop counting: the next tick owes them reminders."""
    schools = [chat - FIRST_CHAT + 1 for chat in chats]
    async with db.session() as session:
        for start in range(0, len(schools), 1000):
            await session.execute(
                update(Report)
                .where(Report.source == SEED_SOURCE, Report.school_id.in_(schools[start : start + 1000]))
                .values(is_current=False)
            )


# --- the run ----------------------------------------------------------------------------------------------------
@dataclass
class Step:
    chat: int
    phase: str  # "burst" or "floor"
    posted: float
    latency: float | None  # None: the reply never arrived
    apology: bool = False  # what arrived instead was the error handler's apology


@dataclass
class Figures:
    config: Config
    steps: list[Step] = field(default_factory=list)
    burst: tuple[float, float] = (0.0, 0.0)
    floor: tuple[float, float] = (0.0, 0.0)
    bulk: tuple[float, float] = (0.0, 0.0)  # broadcast confirmed → last bulk message
    bulk_messages: int = 0
    updates: dict[str, int] = field(default_factory=lambda: Counter())
    redelivered: int = 0
    refused_status: Counter[int] = field(default_factory=Counter)
    undeliverable: int = 0  # updates Telegram gave up on (never answered 2xx)
    reports_done: int = 0
    reports_saved: int = 0
    lost: Counter[str] = field(default_factory=Counter)
    duplicated: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    refused_overall: int = 0
    refused_chat: int = 0
    refused_floor: int = 0
    admitted: int = 0
    answered_429: int = 0  # 429 answers the fake's HTTP layer sent (a cross-check of the limiter's count)
    max_admitted: int = 0
    max_attempted: int = 0
    combined_rate: float = 0.0
    served: Counter[int] = field(default_factory=Counter)
    exit_codes: list[int | None] = field(default_factory=list)
    drained: bool = True
    # How late this process's loop (the fake Bot API, the proxy and the principals) woke during
    # the burst: its flood-limit clock reads arrival when a handler runs, so a late loop bunches
    # arrivals it counts. And the CPU seconds each process used over the whole run.
    loop_lag: list[float] = field(default_factory=list)
    stalls: list[tuple[float, float]] = field(default_factory=list)  # (when it ended, seconds) over STALL
    gc_pauses: list[float] = field(default_factory=list)  # this process's collections, seconds
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    refusals_after_stall: int = 0  # 429s the fake sent within a second after one of its own stalls
    chat_refusals: list[tuple[float, str]] = field(default_factory=list)  # (gap after the chat's last, kinds)

    def latencies(self, phase: str) -> list[float]:
        return sorted(s.latency for s in self.steps if s.phase == phase and s.latency is not None)

    @property
    def total_lost(self) -> int:
        return sum(self.lost.values())

    @property
    def total_duplicated(self) -> int:
        return sum(self.duplicated.values())

    @property
    def bulk_rate(self) -> float:
        start, end = self.bulk
        return self.bulk_messages / (end - start) if end > start else 0.0

    def rate(self, phase: str) -> float:
        start, end = self.burst if phase == "burst" else self.floor
        return self.updates[phase] / (end - start) if end > start else 0.0

    def aims(self) -> list[tuple[str, bool]]:
        burst_p99, floor_p99 = percentile(self.latencies("burst"), 99), percentile(self.latencies("floor"), 99)
        return [
            ("0 messages lost", self.total_lost == 0),
            ("0 duplicated", self.total_duplicated == 0),
            ("0 unhandled errors", not self.errors),
            (f"combined send rate >= 0.9 x {LIMIT}/s while bulk sends last", self.combined_rate >= 0.9 * LIMIT),
            (f"never above {LIMIT} messages in any 1-second window (attempts, 429s included)", self.max_attempted <= LIMIT),
            ("p99 step latency <= 5 x the floor's p99", bool(floor_p99) and burst_p99 <= 5 * floor_p99),
        ]

    def print(self) -> None:
        c = self.config
        burst, floor = self.latencies("burst"), self.latencies("floor")
        print(
            f"burst: {c.principals} principals filing over {c.window:.0f} s, {c.recipients}-recipient broadcast,"
            f" {c.reminders} reminders; 2 processes on PostgreSQL, limit {LIMIT}/s and 1/s per chat"
        )
        print(
            f"  updates/s          : burst {self.rate('burst'):.1f} ({self.updates['burst']} updates in {self.burst[1] - self.burst[0]:.0f} s)"
            f"   floor {self.rate('floor'):.1f} ({self.updates['floor']} in {self.floor[1] - self.floor[0]:.0f} s)"
        )
        print(f"  reports filed      : {self.reports_done} of {c.principals} (saved in the database: {self.reports_saved})")
        print("  step latency (s)   :    p50     p95     p99")
        print(
            f"    burst (report)   : {percentile(burst, 50):6.2f}  {percentile(burst, 95):6.2f}  {percentile(burst, 99):6.2f}   ({len(burst)} steps)"
        )
        print(
            f"    floor (/help)    : {percentile(floor, 50):6.2f}  {percentile(floor, 95):6.2f}  {percentile(floor, 99):6.2f}   ({len(floor)} steps)"
        )
        fp99 = percentile(floor, 99)
        print(f"    burst p99 / floor p99: {percentile(burst, 99) / fp99:.1f}x" if fp99 else "    burst p99 / floor p99: n/a")
        print(
            f"  429s received      : {self.refused_overall + self.refused_chat} during the burst"
            f" ({self.refused_overall} over 30/s, {self.refused_chat} over 1/s in a chat), {self.refused_floor} during the floor"
        )
        print(f"  messages lost      : {self.total_lost}  {dict(self.lost) or ''}")
        print(f"  duplicated         : {self.total_duplicated}  {dict(self.duplicated) or ''}")
        print(f"  unhandled errors   : {len(self.errors)} ERROR lines / tracebacks in the processes' logs")
        for line in list(dict.fromkeys(e[:200] for e in self.errors))[:5]:
            print(f"      {line}")
        bulk_s = self.bulk[1] - self.bulk[0]
        print(
            f"  bulk rate          : {self.bulk_messages} broadcast+reminder messages in {bulk_s:.0f} s = {self.bulk_rate:.1f}/s"
            f" = {self.bulk_rate / LIMIT:.2f} of the {LIMIT}/s limit"
        )
        print(
            f"  combined send rate : {self.combined_rate:.1f}/s = {self.combined_rate / LIMIT:.2f} of the limit (all messages while bulk lasted)"
        )
        print(
            f"  max in any 1 s     : {self.max_admitted} admitted (the fake's enforcement), {self.max_attempted} attempted (429s included)"
        )
        print(
            f"  webhook            : {self.redelivered} redeliveries {dict(self.refused_status) or ''},"
            f" {self.undeliverable} given up; per process {sorted(self.served.values())}"
        )
        lag = sorted(self.loop_lag)
        print(
            f"  driver loop lag    : p50 {percentile(lag, 50) * 1000:.0f} ms, p99 {percentile(lag, 99) * 1000:.0f} ms,"
            f" max {(lag[-1] if lag else 0) * 1000:.0f} ms (the fake's clock; CPU s: "
            + ", ".join(f"{k} {v:.0f}" for k, v in self.cpu_seconds.items())
            + f", over {self.floor[1] - self.burst[0]:.0f} s)"
        )
        gcs = sorted(self.gc_pauses)
        print(
            f"  driver stalls      : {len(self.stalls)} over {STALL * 1000:.0f} ms; garbage collection {len(gcs)} runs,"
            f" longest {(gcs[-1] if gcs else 0) * 1000:.0f} ms; {self.refusals_after_stall} of the burst's 429s"
            " came within 1 s after a stall"
        )
        if self.chat_refusals:
            gaps = sorted(g for g, _ in self.chat_refusals)
            pairs = Counter(k for _, k in self.chat_refusals)
            print(
                f"  per-chat 429s      : gap after the chat's previous message p50 {percentile(gaps, 50) * 1000:.0f} ms,"
                f" min {gaps[0] * 1000:.0f} ms, max {gaps[-1] * 1000:.0f} ms; previous→retried kinds {dict(pairs)}"
            )
        if not self.drained:
            print(f"  NOT DRAINED: bulk sends or reports unfinished {c.drain_timeout:.0f} s after the window")
        print("  aims (issue 17):")
        for name, met in self.aims():
            print(f"    [{'met' if met else 'NOT met'}] {name}")


STALL = 0.05  # a loop wake-up later than this is a stall worth counting


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted ``values`` (0 when empty)."""
    if not values:
        return 0.0
    rank = max(1, min(len(values), round(p / 100 * len(values) + 0.5)))
    return values[rank - 1]


class Burst:
    """One run of the scenario against ``database_url`` (migrated, empty)."""

    def __init__(self, database_url: str, config: Config) -> None:
        self.url = database_url
        self.config = config
        self.rng = random.Random(config.seed)
        self.fake = BurstTelegram()
        self.limits = FloodLimits(LIMIT, 1)
        self.figures = Figures(config)
        self.connections = asyncio.Semaphore(WEBHOOK_CONNECTIONS)
        self.client: httpx.AsyncClient | None = None
        self.proxy_url = ""
        self.conversation: dict[int, list[dict[str, Any]]] = defaultdict(list)  # chat → replies seen, in order
        self.seeded: Seeded | None = None
        self.bulk_started: float | None = None
        self.last_ack: dict[str, float] = {}

    # --- Telegram delivering one update to the webhook ---------------------------------------------------------
    async def deliver(self, phase: str, payload: dict[str, Any]) -> bool:
        """POST one update until it is answered 2xx (as Telegram redelivers), at most ~2 minutes."""
        assert self.client is not None
        update_payload = {**payload, "update_id": self.fake.next_update_id()}
        for _attempt in range(120):
            async with self.connections:
                try:
                    answer = await self.client.post(
                        self.proxy_url, json=update_payload, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                    )
                    status = answer.status_code
                except httpx.HTTPError:
                    status = 0
            if 200 <= status < 300:
                self.figures.updates[phase] += 1
                self.last_ack[phase] = time.monotonic()
                return True
            self.figures.redelivered += 1
            self.figures.refused_status[status] += 1
            await asyncio.sleep(1.0)
        self.figures.undeliverable += 1
        return False

    def is_bulk(self, message: dict[str, Any]) -> bool:
        assert self.seeded is not None
        return is_broadcast(message) or any(d in self.seeded.reminder_datas for d in callback_datas(message))

    def replies(self, chat: int) -> list[dict[str, Any]]:
        return [m for m in self.fake.sent(chat) if not self.is_bulk(m)]

    async def reply_to(self, chat: int, seen: int, timeout: float) -> dict[str, Any] | None:
        """The conversation message number ``seen`` in ``chat`` (the reply to the latest step), waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            replies = self.replies(chat)
            if len(replies) > seen:
                return replies[seen]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            await self.fake.changed(chat, remaining)

    async def converse(self, chat: int, phase: str, start_at: float, steps: int | None) -> bool:
        """One principal: the milk report (``steps`` None) or ``steps`` × /help; True when it finished."""
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        user = user_payload(chat, f"校长{chat}", "zh")
        seen = len(self.replies(chat))
        payload = {"message": message_payload(user, text_content("/milk" if steps is None else "/help"))}
        for _ in range(steps or MAX_STEPS):
            posted = time.monotonic()
            delivered = await self.deliver(phase, payload)
            reply = await self.reply_to(chat, seen, self.config.reply_timeout if delivered else 0.0)
            if reply is None:
                self.figures.steps.append(Step(chat, phase, posted, None))
                self.figures.lost["reply" if delivered else "update never accepted"] += 1
                return False
            seen += 1
            if reply.get("text") == APOLOGY:
                # The update failed (the log has why) and the user was told to try again later:
                # the answer the step should have got never came. A principal stops here.
                self.figures.steps.append(Step(chat, phase, posted, None, apology=True))
                self.figures.lost["reply (an apology instead)"] += 1
                return False
            self.figures.steps.append(Step(chat, phase, posted, self.fake.arrived[reply["message_id"]] - posted))
            if steps is None and (reply.get("text") or "").startswith(RECEIPT):
                self.figures.reports_done += 1
                return True
            await asyncio.sleep(self.rng.uniform(*self.config.think))
            if steps is not None:
                payload = {"message": message_payload(user, text_content("/help"))}
                continue
            buttons = [(label, data) for label, data in labels_of(reply) if "取消" not in label]
            submit = [b for b in buttons if "提交" in b[0]]
            if submit or buttons:
                payload = {"callback_query": callback_query_payload(user, (submit or buttons)[0][1], reply)}
            else:
                payload = {"message": message_payload(user, text_content("20"))}
        return steps is not None

    async def broadcast(self, at: float) -> None:
        """The admin writes and confirms a broadcast to all principals, through the webhook."""
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        boss = user_payload(ADMIN, "陈主任", "zh")

        async def press(label: str) -> None:
            for _ in range(300):
                for text, data in (b for m in reversed(self.fake.sent(ADMIN)) for b in labels_of(m)):
                    if label in text:
                        message = next(m for m in reversed(self.fake.sent(ADMIN)) if data in callback_datas(m))
                        await self.deliver("admin", {"callback_query": callback_query_payload(boss, data, message)})
                        return
                await self.fake.changed(ADMIN, 0.1)
            raise SystemExit(f"benchmark broken: no {label!r} button for the admin; texts: {self.fake.texts(ADMIN)[-3:]}")

        await self.deliver("admin", {"message": message_payload(boss, text_content("/broadcast"))})
        await press("全部校长")
        await self.deliver("admin", {"message": message_payload(boss, text_content(TEXT))})
        await press("确认发送")
        self.bulk_started = time.monotonic()

    async def bulk_finished(self, db: Database) -> bool:
        assert self.seeded is not None
        async with db.session() as session:
            status = await session.scalar(select(Broadcast.status).order_by(Broadcast.id.desc()).limit(1))
        if status != "done" or not any("已完成" in t for t in self.fake.texts(ADMIN)):
            return False
        for chat, datas in self.seeded.expected_reminders.items():
            got = {d for m in self.fake.sent(chat) for d in callback_datas(m)}
            if not datas <= got:
                return False
        return True

    async def run(self) -> Figures:
        c, f = self.config, self.figures
        db = Database(self.url)
        self.seeded = seeded = await seed(db, self.url, c, self.rng)
        log_dir = c.log_dir or Path(tempfile.mkdtemp(prefix="schoolbot-burst-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        ports, proxy_port = [free_port(), free_port()], free_port()
        bots: list[BotProcess] = []
        async with (
            FakeBotApiServer(self.fake, token=TOKEN, limits=self.limits) as api,
            httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=200, max_keepalive_connections=100)) as forward,
            httpx.AsyncClient(
                timeout=120,
                limits=httpx.Limits(max_connections=WEBHOOK_CONNECTIONS, max_keepalive_connections=WEBHOOK_CONNECTIONS),
            ) as client,
        ):
            self.client = client
            proxy = tornado.httpserver.HTTPServer(
                tornado.web.Application(
                    [("/tg", RoundRobin, {"backends": itertools.cycle(ports), "client": forward, "served": f.served})],
                    log_function=lambda handler: None,
                )
            )
            proxy.listen(proxy_port, address="127.0.0.1")
            self.proxy_url = f"http://127.0.0.1:{proxy_port}/tg"
            try:
                bots = [await start_bot(api.url, self.url, port, proxy_port, log_dir, n) for n, port in enumerate(ports)]
                for bot in bots:
                    await wait_healthy(bot)
                monitor = asyncio.create_task(self._watch_loop())
                # This process plays Telegram, whose servers do not pause for our garbage collector:
                # a full collection over the fake's records (120 ms measured) stalls its flood-limit
                # clock, and the requests that waited meanwhile are all counted as arriving at once.
                # Young generations are still collected every second; the full one runs after.
                gc.disable()
                young = asyncio.create_task(self._collect_young())
                try:
                    await self._burst(db, seeded)
                    monitor.cancel()
                    await self._floor(seeded)
                finally:
                    monitor.cancel()
                    young.cancel()
                    gc.enable()
            finally:
                for n, bot in enumerate(bots):
                    f.cpu_seconds[f"bot{n}"] = cpu_seconds(bot.proc.pid)
                f.cpu_seconds["driver"] = cpu_seconds(os.getpid())
                for bot in bots:
                    f.exit_codes.append(await stop_bot(bot))
                proxy.stop()
                f.answered_429 = sum(r.status == 429 for r in api.requests)
        async with db.session() as session:
            f.reports_saved = (
                await session.scalar(select(func.count()).select_from(Report).where(Report.source == "chat", Report.is_current))
                or 0
            )
        await db.dispose()
        self._account(seeded, bots)
        print(f"(process logs in {log_dir})")
        return f

    async def _collect_young(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            gc.collect(1)

    async def _watch_loop(self, period: float = 0.02) -> None:
        started: list[float] = []

        def timed(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started[:] = [time.perf_counter()]
            elif started:
                self.figures.gc_pauses.append(time.perf_counter() - started[0])

        gc.callbacks.append(timed)
        try:
            while True:
                before = time.monotonic()
                await asyncio.sleep(period)
                now = time.monotonic()
                lag = max(0.0, now - before - period)
                self.figures.loop_lag.append(lag)
                if lag > STALL:
                    self.figures.stalls.append((now, lag))
        finally:
            gc.callbacks.remove(timed)

    async def _burst(self, db: Database, seeded: Seeded) -> None:
        c, f = self.config, self.figures
        start = time.monotonic()
        starts = {chat: start + self.rng.uniform(0, c.window) for chat in seeded.filers}

        async def reminders_due() -> None:
            await asyncio.sleep(0.2 * c.window)
            await withdraw_reports(db, seeded.reminded)

        principals = asyncio.gather(*(self.converse(chat, "burst", at, None) for chat, at in starts.items()))
        await asyncio.gather(self.broadcast(start + 0.1 * c.window), reminders_due())
        deadline = start + c.window + c.drain_timeout
        try:
            await asyncio.wait_for(principals, max(1.0, deadline - time.monotonic()))
        except TimeoutError:
            # Conversations still going at the deadline are cut off (their steps are not counted):
            # say so and print what was measured, rather than nothing.
            f.drained = False
        # Updates/s over the time updates were flowing (a lost reply's wait is not traffic).
        ended = self.last_ack.get("burst", time.monotonic())
        while not await self.bulk_finished(db):
            if time.monotonic() > deadline:
                f.drained = False
                break
            await asyncio.sleep(0.5)
        f.burst = (start, ended)
        await asyncio.sleep(3)  # anything still in flight (a duplicate) lands before counting

    async def _floor(self, seeded: Seeded) -> None:
        c, f = self.config, self.figures
        count = max(10, round(c.principals * c.floor_seconds / c.window))
        chats = (seeded.filers * (count // len(seeded.filers) + 1))[:count]
        chats = list(dict.fromkeys(chats))  # one conversation per chat at a time
        start = time.monotonic()
        await asyncio.gather(
            *(self.converse(chat, "floor", start + self.rng.uniform(0, c.floor_seconds), c.floor_steps) for chat in chats)
        )
        f.floor = (start, self.last_ack.get("floor", time.monotonic()))

    def _account(self, seeded: Seeded, bots: list[BotProcess]) -> None:
        f = self.figures
        for chat in seeded.chats:
            messages = self.fake.sent(chat)
            copies = sum(is_broadcast(m) for m in messages)
            if copies == 0:
                f.lost["broadcast"] += 1
            f.duplicated["broadcast"] += max(0, copies - 1)
            reminders = Counter(d for m in messages for d in callback_datas(m) if d in seeded.reminder_datas)
            for data in seeded.expected_reminders.get(chat, set()):
                if reminders[data] == 0:
                    f.lost["reminder"] += 1
            f.duplicated["reminder"] += sum(n - 1 for n in reminders.values() if n > 1)
        for chat in seeded.filers:
            answered = sum(1 for s in f.steps if s.chat == chat and (s.latency is not None or s.apology))
            f.duplicated["reply"] += max(0, len(self.replies(chat)) - answered)
        if not any("已完成" in t for t in self.fake.texts(ADMIN)):
            f.lost["broadcast final report"] += 1
        f.lost = Counter({k: v for k, v in f.lost.items() if v})
        f.duplicated = Counter({k: v for k, v in f.duplicated.items() if v})
        bulk_times = sorted(
            self.fake.arrived[m["message_id"]] for chat in seeded.chats for m in self.fake.sent(chat) if self.is_bulk(m)
        )
        f.bulk_messages = len(bulk_times)
        if bulk_times:
            f.bulk = (self.bulk_started or bulk_times[0], bulk_times[-1])
            admitted = sum(1 for e in self.limits.admitted if f.bulk[0] <= e.at <= f.bulk[1])
            f.combined_rate = admitted / (f.bulk[1] - f.bulk[0]) if f.bulk[1] > f.bulk[0] else 0.0
        floor_start = f.floor[0]
        f.refused_overall = sum(e.scope == "overall" and e.at < floor_start for e in self.limits.refused)
        f.refused_chat = sum(e.scope == "chat" and e.at < floor_start for e in self.limits.refused)
        f.refused_floor = sum(e.at >= floor_start for e in self.limits.refused)
        # The fake's clock and this loop's share time.monotonic (FloodLimits' default clock).
        # Per chat: how far behind the chat's previous admitted message each refusal came, and
        # what the two were (b: broadcast or reminder, r: reply), to see where 1/s is missed.
        admitted_at: dict[int, list[float]] = defaultdict(list)
        for e in self.limits.admitted:
            admitted_at[e.chat_id].append(e.at)
        for e in self.limits.refused:
            if e.scope != "chat" or e.at >= floor_start:
                continue
            times = admitted_at[e.chat_id]
            # The n-th admitted request of a chat made its n-th message.
            kinds = ["b" if self.is_bulk(m) else "r" for m in self.fake.sent(e.chat_id)]
            n = bisect.bisect_right(times, e.at)
            if n and n <= len(kinds):
                pair = kinds[n - 1] + (kinds[n] if n < len(kinds) else "?")
                f.chat_refusals.append((e.at - times[n - 1], pair))
        f.refusals_after_stall = sum(
            any(0 <= e.at - end <= 1.0 for end, _ in f.stalls) for e in self.limits.refused if e.at < floor_start
        )
        f.admitted = len(self.limits.admitted)
        f.max_admitted = self.limits.max_in_window()
        f.max_attempted = self.limits.max_in_window(refused_too=True)
        f.errors = [line for bot in bots for line in bot.error_lines()]


async def run_burst(database_url: str, config: Config) -> Figures:
    """Run the scenario on a migrated, empty database; the figures (tests read them)."""
    return await Burst(database_url, config).run()


async def main(args: argparse.Namespace) -> int:
    overrides = dict(QUICK) if args.quick else {}
    for name, value in (
        ("principals", args.principals),
        ("window", args.window_minutes * 60 if args.window_minutes is not None else None),
        ("recipients", args.recipients),
        ("reminders", args.reminders),
        ("floor_seconds", args.floor_seconds),
    ):
        if value is not None:
            overrides[name] = value
    config = Config(**overrides, think=(args.think_min, args.think_max), seed=args.seed, log_dir=args.logs)  # type: ignore[arg-type]
    async with scratch_database("postgresql") as url:
        db = Database(url)
        await db.migrate()
        await db.dispose()
        started = datetime.now(TZ)
        figures = await run_burst(url, config)
    print(f"run of {started:%Y-%m-%d %H:%M} Asia/Shanghai on {socket.gethostname()} ({os.cpu_count()} CPUs)")
    figures.print()
    return 0 if all(met for _, met in figures.aims()) else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 principals over 60 s, 500 recipients, 100 reminders")
    parser.add_argument("--principals", type=int, help="principals filing a report (default 2000)")
    parser.add_argument("--window-minutes", type=float, help="minutes in which they start (default 10)")
    parser.add_argument("--recipients", type=int, help="principals in all, the broadcast's audience (default 5000)")
    parser.add_argument("--reminders", type=int, help="schools owed a reminder during the burst (default 1000)")
    parser.add_argument("--floor-seconds", type=float, help="length of the /help floor (default 60)")
    parser.add_argument("--think-min", type=float, default=1.0, help="seconds a principal thinks before a step, at least")
    parser.add_argument("--think-max", type=float, default=3.0, help="... and at most")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--logs", type=Path, help="keep the processes' logs here (default: a temporary folder)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
