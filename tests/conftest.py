"""Shared fixtures: a fresh database per backend, an application on a fake Bot API.

Every test that asks for ``db`` runs twice: on SQLite and on PostgreSQL. The
PostgreSQL server is ``SCHOOLBOT_TEST_PG`` (default: the local one, trust auth);
each run creates its own database and drops it at the end. Without a reachable
server the PostgreSQL half is skipped locally, but fails under ``CI=true`` so a
green CI always means both backends passed. Under pytest-xdist (``scripts/test``
runs two workers) each worker process migrates its own pair, named by its pid.

By default ``db`` runs the whole test inside one outer transaction that is rolled
back at the end (:class:`RolledBackDatabase`): nothing is committed, so nothing is
wiped. A test whose data must be committed, because another connection, engine or
process has to see it (races, several instances, advisory locks, the bot as a
subprocess, statement counts), is marked ``@pytest.mark.committed``: its ``db`` is
a plain :class:`~storage.db.Database` on a database emptied before and after.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, AsyncTransaction

from bot.app import build_application
from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.settings import Settings
from bot.offline.simulator import Simulator
from storage.db import Database
from storage.models import Base

SHANGHAI = ZoneInfo("Asia/Shanghai")
PG_SERVER = os.environ.get("SCHOOLBOT_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")
BACKENDS = ["sqlite", "postgresql"]
# Every sequence of the database back to its start value (its next nextval() returns the start).
RESTART_SEQUENCES = "SELECT setval(seqrelid, seqstart, false) FROM pg_sequence"


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
    """Empty every table, keeping the schema (faster than re-migrating per test).

    DELETE, children first, not TRUNCATE: on tables this small TRUNCATE ... CASCADE costs
    about 0.3 s on PostgreSQL (new files for every table), DELETE a few milliseconds.
    Sequences start afresh, as TRUNCATE ... RESTART IDENTITY did."""
    async with db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
        if db.dialect == "postgresql":
            await conn.execute(text(RESTART_SEQUENCES))


# Tables the product writes on purpose on their own connection, committed at once (the send
# budget is shared between instances through them): not a test's leak, emptied after each test.
SHARED_TABLES = ("send_budget",)


class RolledBackDatabase(Database):
    """A :class:`Database` whose sessions and reads all run on one connection, inside an
    outer transaction that :meth:`close` rolls back, so a test leaves nothing behind.

    SQLAlchemy's "joining a session into an external transaction": every ``session()``
    joins with ``join_transaction_mode="create_savepoint"``, so its commit releases a
    SAVEPOINT and its rollback (an error, a lost race) goes back to it, as a transaction
    of its own would. ``reader()`` runs in a savepoint too, so a failed read cannot poison
    the outer transaction on PostgreSQL. ``engine`` stays a real engine: what opens its own
    connection (a health check, an advisory lock) still can, but sees no uncommitted data.

    Sessions from different tasks take turns on the one connection (one statement at a
    time is all a connection allows); a task that waits too long for its turn means the
    test needs ``@pytest.mark.committed``. ``dispose()`` is a no-op because the
    application disposes of its database at shutdown, and tests read it afterwards.
    """

    TURN_TIMEOUT = 10.0

    def __init__(self, url: str) -> None:
        super().__init__(url)
        if self.dialect == "sqlite":
            _sqlite_savepoints(self)
        self._conn: AsyncConnection | None = None
        self._outer: AsyncTransaction | None = None
        self._turn_lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    async def begin(self) -> None:
        self._conn = await self.engine.connect()
        self._outer = await self._conn.begin()
        if self.dialect == "postgresql":
            # Sequences ignore rollbacks: start them afresh, as TRUNCATE ... RESTART IDENTITY did.
            await self._conn.execute(text(RESTART_SEQUENCES))

    async def close(self) -> None:
        """Roll everything back; fail the test if rows remain, which another connection committed."""
        assert self._conn is not None
        try:
            if self._outer is not None and self._outer.is_active:
                await self._outer.rollback()
            tables = [t for t in Base.metadata.sorted_tables if t.name not in SHARED_TABLES]
            anything = " OR ".join(f'EXISTS (SELECT 1 FROM "{t.name}")' for t in tables)
            leaked = bool(await self._conn.scalar(text(f"SELECT {anything}")))
            await self._conn.rollback()
        finally:
            await self._conn.close()
        if leaked:
            await wipe(self)
        else:
            # Shared state committed by design on its own connections: next test starts afresh.
            async with self.engine.begin() as conn:
                for name in SHARED_TABLES:
                    await conn.execute(text(f'DELETE FROM "{name}"'))
        await self.engine.dispose()
        if leaked:
            raise AssertionError("rows were committed outside the test's transaction: mark the test @pytest.mark.committed")

    async def dispose(self) -> None:
        """Kept open until the test ends (see the class docstring)."""

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[AsyncConnection]:
        assert self._conn is not None, "RolledBackDatabase.begin() was not awaited"
        task = asyncio.current_task()
        if self._owner is not None and self._owner is task:  # nested in the same task: already our turn
            yield self._conn
            return
        try:
            await asyncio.wait_for(self._turn_lock.acquire(), self.TURN_TIMEOUT)
        except TimeoutError:
            raise AssertionError(
                "waited for the shared test connection: tasks hold sessions at once; mark the test @pytest.mark.committed"
            ) from None
        self._owner = task
        try:
            yield self._conn
        finally:
            self._owner = None
            self._turn_lock.release()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._turn() as conn:
            async with (
                AsyncSession(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False) as session,
                session.begin(),
            ):
                yield session

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncConnection]:
        async with self._turn() as conn, conn.begin_nested():
            yield conn


def _sqlite_savepoints(database: Database) -> None:
    """Let SQLAlchemy, not the sqlite3 driver, begin transactions, so SAVEPOINT works
    (the recipe in SQLAlchemy's aiosqlite dialect notes)."""

    @event.listens_for(database.engine.sync_engine, "connect")
    def _no_driver_transactions(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(database.engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


@asynccontextmanager
async def committed_database(url: str) -> AsyncIterator[Database]:
    """A plain :class:`Database` on tables emptied before and after: for data other
    connections, engines or processes must see."""
    database = Database(url)
    await wipe(database)
    try:
        yield database
    finally:
        await wipe(database)
        await database.dispose()


@pytest.fixture
async def db(request: pytest.FixtureRequest, db_url: str) -> AsyncIterator[Database]:
    """The test database; rolled back at the end unless the test is marked ``committed``."""
    if request.node.get_closest_marker("committed") is not None:
        async with committed_database(db_url) as database:
            yield database
        return
    rolled_back = RolledBackDatabase(db_url)
    await rolled_back.begin()
    try:
        yield rolled_back
    finally:
        await rolled_back.close()


@pytest.fixture
async def committed_db(db_url: str) -> AsyncIterator[Database]:
    """The test database with real commits, emptied before and after (as ``@pytest.mark.committed``)."""
    async with committed_database(db_url) as database:
        yield database


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
