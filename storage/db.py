"""The database: one async engine and session factory per process, plus migrations.

SQLite (the default) gets WAL, foreign keys and a busy timeout so the bot,
the scheduler and CLI commands can share one file; PostgreSQL is the path to
several processes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

_HERE = Path(__file__).resolve().parent


def database_unavailable(error: BaseException | None) -> bool:
    """Whether ``error`` (or what caused it) is the database being unreachable, not a bug: the
    webhook answers 503 so Telegram redelivers, the dashboard 503 with Retry-After."""
    while error is not None:
        if isinstance(error, (OperationalError, InterfaceError, PoolTimeout, OSError)):
            return True
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        error = error.__cause__ or error.__context__
    return False


def make_engine(url: str, *, pool_size: int | None = None, pool_timeout: float | None = None, **kwargs: Any) -> AsyncEngine:
    """Create the engine, with SQLite tuned for a bot that writes on most updates.

    ``pool_size`` caps the connections (no overflow beyond it) and ``pool_timeout``
    is how long a checkout waits before ``sqlalchemy.exc.TimeoutError``, which the
    webhook answers with 503. An in-memory SQLite database has a single shared
    connection and no pool to size.
    """
    if pool_size is not None and not _in_memory(url):
        kwargs.setdefault("pool_size", pool_size)
        kwargs.setdefault("max_overflow", 0)
    if pool_timeout is not None and not _in_memory(url):
        kwargs.setdefault("pool_timeout", pool_timeout)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # No pool_pre_ping: on asyncpg it is three round trips per checkout (BEGIN, a statement,
    # ROLLBACK), about a tenth of a webhook process's CPU in the deadline burst (py-spy,
    # README "Deadline-day burst"), and the send budget checks out once per token. A
    # connection the server dropped fails its first statement instead; SQLAlchemy then
    # invalidates every older connection of the pool, the update answers with the
    # "temporary failure" note (webhook: 503, redelivered) and the next checkout connects
    # anew (tests/e2e/test_http_recovery.py). pool_recycle retires connections a proxy or
    # firewall may have cut silently.
    kwargs.setdefault("pool_recycle", 1800)
    return create_async_engine(url, **kwargs)


def _in_memory(url: str) -> bool:
    return url.startswith("sqlite") and (":memory:" in url or url.rstrip("/").endswith(":"))


class Database:
    """The engine and session factory the whole process shares."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncConnection]:
        """A connection for a single read, outside any transaction.

        On PostgreSQL it is in autocommit mode, which spares the BEGIN and
        ROLLBACK round trips a transaction costs (one statement is atomic on its
        own). SQLite's driver runs reads outside a transaction anyway, and
        switching its mode would cost two trips to aiosqlite's thread.
        """
        async with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    @asynccontextmanager
    async def exclusive(self, key: int) -> AsyncIterator[bool]:
        """Hold PostgreSQL's transaction-scoped advisory lock ``key`` while inside; yields whether it was got.

        Not waited for: another process holding it means False at once. The lock
        goes with the transaction, which ends (rolls back) on leaving. Always True
        on SQLite, whose single writer serialises processes anyway.
        """
        if self.dialect != "postgresql":
            yield True
            return
        async with self.engine.connect() as conn:
            async with conn.begin():
                yield bool(await conn.scalar(select(func.pg_try_advisory_xact_lock(key))))

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (all of it, or nothing)."""
        if self.dialect == "sqlite":
            await self._migrate_sqlite()
            return
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def _migrate_sqlite(self) -> None:
        # SQLite's own recipe for schema changes (sqlite.org/lang_altertable.html, "other kinds of
        # table schema changes"): foreign keys off *outside* the transaction, every change inside one
        # explicit transaction, PRAGMA foreign_key_check before committing, keys back on. Alembic's
        # batch mode adds a constraint by copying the table, dropping it and renaming the copy; with
        # foreign keys on, dropping a table other rows point at fails ("FOREIGN KEY constraint
        # failed") or cascades, and the driver's implicit transactions leave half a migration behind.
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            try:
                await conn.run_sync(_upgrade_in_one_transaction)
            finally:
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")

    async def current_revision(self) -> str | None:
        async with self.engine.connect() as conn:
            return await conn.run_sync(_current)

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(connection: Connection | None = None) -> "Config":
    """Alembic's config pointing at the migrations shipped inside the package."""
    # Imported here: Alembic is needed only when migrating, and costs start-up time otherwise.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), "head")


def _upgrade_in_one_transaction(connection: Connection) -> None:
    # pysqlite opens transactions only before DML, so DDL would commit statement by statement.
    connection.exec_driver_sql("BEGIN")
    try:
        _upgrade(connection)
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration left {len(broken)} rows pointing at nothing, first {tuple(broken[0])}: rolled back")
    except BaseException:
        connection.exec_driver_sql("ROLLBACK")
        raise
    connection.exec_driver_sql("COMMIT")


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def include_for_dialect(dialect: str) -> Callable[..., bool]:
    """Alembic ``include_object``: leave out what the models create on another dialect only
    (``Index(...).ddl_if(dialect=...)``), so comparing models and database stays exact."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        wanted = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        return wanted is None or wanted == dialect

    return include
