"""Shared fixtures: a fresh database per backend, an application on a fake Bot API.

Every test that asks for ``db`` runs twice: on SQLite and on PostgreSQL. The
PostgreSQL server is ``SCHOOLBOT_TEST_PG`` (default: the local one, trust auth);
each run creates its own database and drops it at the end. Without a reachable
server the PostgreSQL half is skipped locally, but fails under ``CI=true`` so a
green CI always means both backends passed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from bot.app import build_application
from bot.clock import FixedClock
from bot.fakeapi import FakeRequest, FakeTelegram
from bot.settings import Settings
from bot.simulator import Simulator
from storage.db import Database
from storage.models import Base

SHANGHAI = ZoneInfo("Asia/Shanghai")
PG_SERVER = os.environ.get("SCHOOLBOT_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")
BACKENDS = ["sqlite", "postgresql"]


async def _pg_admin(sql: str) -> None:
    import asyncpg

    dsn = PG_SERVER.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _create_pg_database() -> str:
    name = f"schoolbot_test_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    return name


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await db.migrate()
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str | None]]:
    """Migrate one fresh database per backend for the whole run; drop them at the end."""
    urls: dict[str, str | None] = {}
    sqlite_path = Path(tmp_path_factory.mktemp("db")) / "test.db"
    urls["sqlite"] = f"sqlite+aiosqlite:///{sqlite_path}"
    asyncio.run(_migrate(urls["sqlite"]))
    pg_name = None
    try:
        pg_name = _create_pg_database()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means "no PostgreSQL here"
        if os.environ.get("CI"):
            raise RuntimeError(f"PostgreSQL is required under CI: {exc}") from exc
        urls["postgresql"] = None
    else:
        urls["postgresql"] = f"{PG_SERVER}/{pg_name}"
        asyncio.run(_migrate(urls["postgresql"]))
    yield urls
    if pg_name:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, database_urls: dict[str, str | None]) -> str:
    url = database_urls[request.param]
    if url is None:
        pytest.skip("no PostgreSQL server reachable (set SCHOOLBOT_TEST_PG)")
    return url


async def wipe(db: Database) -> None:
    """Empty every table, keeping the schema (faster than re-migrating per test)."""
    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await wipe(database)
    yield database
    await wipe(database)
    await database.dispose()


@pytest.fixture
def clock() -> FixedClock:
    """Thursday 2026-11-26, 10:00 in Shanghai: a working morning."""
    return FixedClock(datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI))


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram()


def make_settings(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "telegram_api_url": "http://fake.invalid",
        "admin_ids": frozenset({900}),
        "bot_username": "schoolbot_demo_bot",
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url)


@pytest.fixture
async def sim(settings: Settings, db: Database, clock: FixedClock, fake: FakeTelegram) -> AsyncIterator[Simulator]:
    """A running application on the fake Bot API, with the database and clock above."""
    application = build_application(settings, request=FakeRequest(fake), db=db, clock=clock)
    async with application:
        yield Simulator(application, fake)
