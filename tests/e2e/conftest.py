"""Fixtures for end-to-end runs: the fake Bot API on loopback and the real bot as a subprocess.

The bot is started exactly as an operator starts it (``python -m bot run``) with
``TELEGRAM_API_URL`` pointing at ``bot.offline.fakeserver``; it shares nothing with the
test but the database and the HTTP socket.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.core.clock import SystemClock
from bot.offline.fakeapi import FakeTelegram
from bot.offline.fakeserver import FakeBotApiServer
from bot.office.registration import issue_invites
from storage.db import Database
from storage.models.broadcasts import OutboxRow, OutboxStatus
from storage.schools import ensure_district, upsert_school
from tests.conftest import wipe

TOKEN = "123456:TEST-TOKEN"
# How APScheduler names the reminder tick's job when it logs each run at INFO
# ('Running job "reminder-tick (trigger: ...)"', 'Job "reminder-tick (trigger: ...)" executed successfully').
TICK_JOB_LOGGED = '"reminder-tick (trigger:'
BOT_USERNAME = "schoolbot_e2e_bot"
ADMIN_ID = 900
T = TypeVar("T")

# Bot API methods (https://core.telegram.org/bots/api) the bot is allowed to call. Anything
# else, or any path outside /bot<token>/ and /file/bot<token>/, fails the run: the product
# is checked against independent Bot API servers that know only the documented API.
DOCUMENTED_METHODS = frozenset(
    {
        "getMe",
        "logOut",
        "close",
        "getUpdates",
        "setWebhook",
        "deleteWebhook",
        "getWebhookInfo",
        "sendMessage",
        "forwardMessage",
        "copyMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "sendChatAction",
        "getFile",
        "answerCallbackQuery",
        "setMyCommands",
        "deleteMyCommands",
        "getMyCommands",
        "setChatMenuButton",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "deleteMessage",
        "deleteMessages",
        "getChat",
    }
)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApiServer]:
    """The fake Bot API server, listening on an ephemeral loopback port."""
    async with FakeBotApiServer(FakeTelegram(BOT_USERNAME), token=TOKEN) as server:
        yield server


@pytest.fixture
async def e2e_db(db_url: str) -> AsyncIterator[Database]:
    """The migrated test database (both backends), empty at start and end."""
    database = Database(db_url)
    await wipe(database)
    yield database
    await wipe(database)
    await database.dispose()


async def seed_school_invite(db: Database, code: str = "HB001", name: str = "邹圩小学", district: str = "濉溪县") -> str:
    """A school and a principal invite for it; returns the invite code.

    The bot process keeps wall-clock time, so the invite is issued at the real now.
    """
    now = SystemClock(ZoneInfo("Asia/Shanghai")).now()
    async with db.session() as session:
        d = await ensure_district(session, district)
        await upsert_school(session, now, code=code, name=name, district=d, area="rural", programmes=("milk",))
        (invite,) = await issue_invites(session, now, school_codes=[code])
    return invite.code


async def wait_for(
    predicate: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0, what: str = "the condition", interval: float = 0.05
) -> None:
    """Poll ``predicate`` (sync or async) until it is true; fail naming ``what`` after ``timeout`` seconds.

    End-to-end tests wait for a condition they can observe, never for a fixed time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        outcome = predicate()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


async def outbox_settled(db: Database) -> bool:
    """Every broadcast outbox row has its outcome recorded: no send is waiting or in flight,
    so no process will send any of them again."""
    unsettled = (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)
    async with db.session() as session:
        left = await session.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.status.in_(unsettled)))
    return left == 0


@dataclass
class BotProcess:
    """``python -m bot run`` in a subprocess, its output captured to files."""

    proc: asyncio.subprocess.Process
    stdout_path: Path
    stderr_path: Path

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(errors="replace")

    def ticks(self) -> tuple[int, int]:
        """Reminder ticks this process has (started, finished), as its log says."""
        lines = [line for line in self.output().splitlines() if TICK_JOB_LOGGED in line]
        started = sum("Running job" in line for line in lines)
        finished = sum("executed successfully" in line or "raised an exception" in line for line in lines)
        return started, finished

    def check_alive(self) -> None:
        """Raise (ending any wait at once) if the bot has exited."""
        if self.proc.returncode is not None:
            raise AssertionError(f"the bot exited with {self.proc.returncode}:\n{self.output()[-3000:]}")

    async def until(
        self, server: FakeBotApiServer, predicate: Callable[[], T], timeout: float = 10.0, what: str | None = None
    ) -> T:
        """``server.wait_for`` that fails at once, with the bot's output, if the bot dies."""

        def check() -> T:
            self.check_alive()
            return predicate()

        try:
            return await server.wait_for(check, timeout, what)
        except AssertionError as exc:
            if self.proc.returncode is None:
                raise AssertionError(f"{exc}\n--- bot output ---\n{self.output()[-3000:]}") from None
            raise

    async def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, as a process manager stops the bot; the exit code."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"the bot ignored SIGTERM for {timeout}s:\n{self.output()[-3000:]}") from None


async def more_ticks(bots: Sequence[BotProcess], count: int, timeout: float) -> None:
    """Wait until each bot has run ``count`` more reminder ticks from start to end after now, so
    "nothing further arrives" is observed over ticks that happened, not assumed after a pause.
    A tick already running when this is called does not count."""
    targets = [bot.ticks()[0] + count for bot in bots]

    def enough() -> bool:
        for bot in bots:
            bot.check_alive()
        return all(bot.ticks()[1] >= target for bot, target in zip(bots, targets))

    await wait_for(enough, timeout, f"{count} more reminder tick(s) on each bot")


StartBot = Callable[..., Awaitable[BotProcess]]


@pytest.fixture
async def start_bot(tmp_path: Path) -> AsyncIterator[StartBot]:
    """Start the real bot against a server; every process started is killed at teardown."""
    started: list[BotProcess] = []

    async def start(server: FakeBotApiServer, database_url: str, **extra_env: str) -> BotProcess:
        n = len(started)
        env = {
            key: value
            for key, value in os.environ.items()
            # Nothing from the developer's shell may steer the bot under test.
            if not key.startswith(("BOT_", "TELEGRAM_", "DATABASE_", "ADMIN_", "WEBHOOK_", "CATALOGUE_"))
        }
        env.update(
            BOT_TOKEN=server.token,
            TELEGRAM_API_URL=server.url,
            DATABASE_URL=database_url,
            ADMIN_IDS=str(ADMIN_ID),
            BOT_USERNAME=BOT_USERNAME,
            PYTHONUNBUFFERED="1",
        )
        env.update(extra_env)
        stdout_path, stderr_path = tmp_path / f"bot{n}.out", tmp_path / f"bot{n}.err"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            # cwd is empty so no stray .env file is read.
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                env=env,
                cwd=tmp_path,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        process = BotProcess(proc, stdout_path, stderr_path)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.returncode is None:
            process.proc.kill()
            await process.proc.wait()


def undocumented_requests(server: FakeBotApiServer) -> list[Any]:
    """Requests that were not a documented Bot API method (or a file download) under the token."""
    bad = []
    for request in server.requests:
        prefix, _, rest = request.path.partition(f"/bot{server.token}/")
        if prefix == "" and rest in DOCUMENTED_METHODS:
            continue
        if request.path.startswith(f"/file/bot{server.token}/"):
            continue
        bad.append((request.http_method, request.path, request.status))
    return bad


@pytest.fixture
async def pg_db(database_urls: dict[str, str | None]) -> AsyncIterator[tuple[str, Database]]:
    """The PostgreSQL test database alone, for scenarios only a database server has
    (several processes, a server outage). Fails under CI when there is no server."""
    url = database_urls["postgresql"]
    if url is None:
        pytest.skip("several instances need PostgreSQL (no server reachable)")
    database = Database(url)
    await wipe(database)
    yield url, database
    await wipe(database)
    await database.dispose()


async def run_cli(server: FakeBotApiServer, database_url: str, *args: str, cwd: Path, **extra_env: str) -> tuple[int, str]:
    """``python -m bot <args>`` against ``server`` as an operator runs it (e.g. ``webhook set``): exit code, output."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BOT_", "TELEGRAM_", "DATABASE_", "ADMIN_", "WEBHOOK_", "CATALOGUE_"))
    }
    env.update(BOT_TOKEN=server.token, TELEGRAM_API_URL=server.url, DATABASE_URL=database_url, **extra_env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode("utf-8", errors="replace")
