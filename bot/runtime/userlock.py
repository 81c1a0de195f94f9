"""One update per user at a time, across tasks and across processes.

In webhook mode tornado serves requests concurrently and several bot
processes may share one PostgreSQL database, so two updates from the same
principal could otherwise race on one draft. Within a process an
``asyncio.Lock`` per user serialises them; across processes a PostgreSQL
session-level advisory lock keyed by the user id does. The advisory locks use
their own small engine so that lock holders can never starve the handlers of
pool connections. SQLite means one process, where the asyncio lock suffices.
An update holds its lock connection for the whole of its processing, so that
engine's size (``max_parallel``, from ``USER_LOCK_POOL_SIZE``, by default
``DATABASE_POOL_SIZE``) is how many updates one instance serves at once;
``schoolbot doctor`` warns when it is below the concurrency Telegram may open.

Waiting is bounded by ``timeout`` (``USER_LOCK_TIMEOUT``): for the user's lock
in this process, for a connection of the lock engine, and for the advisory lock
(PostgreSQL's ``lock_timeout``). Past it ``hold`` raises ``LockUnavailable``,
which the webhook answers with 503 so Telegram delivers the update again.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.db import make_engine

# Advisory lock keys are one bigint space shared with anything else using them; a fixed
# high tag keeps ours apart from the scheduler's tick lock.
_USER_LOCK_TAG = 0x5C << 48
# PostgreSQL's SQLSTATE for "lock_timeout expired" (lock_not_available).
_LOCK_NOT_AVAILABLE = "55P03"


class LockUnavailable(Exception):
    """The user's lock could not be had within the timeout (another update of theirs is slow)."""


def _sqlstate(error: DBAPIError) -> str | None:
    orig = error.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return str(code) if code is not None else None


class UserLocks:
    """``async with locks.hold(user_id):`` around processing one update."""

    def __init__(self, database_url: str, *, max_parallel: int = 10, timeout: float = 10.0) -> None:
        self._local: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._engine: AsyncEngine | None = None
        self.timeout = timeout
        if database_url.startswith("postgresql"):
            self._engine = make_engine(
                database_url,
                pool_size=max_parallel,
                pool_timeout=timeout,
                connect_args={"server_settings": {"lock_timeout": str(max(int(timeout * 1000), 1))}},
                # A session-level advisory lock needs no transaction: lock and unlock are one
                # round trip each, without a BEGIN and COMMIT around them.
                isolation_level="AUTOCOMMIT",
            )

    @asynccontextmanager
    async def hold(self, user_id: int | None) -> AsyncIterator[None]:
        if user_id is None:
            yield
            return
        lock = self._local.get(user_id)
        if lock is None:
            lock = asyncio.Lock()
            self._local[user_id] = lock
        try:
            await asyncio.wait_for(lock.acquire(), self.timeout)
        except TimeoutError:
            raise LockUnavailable(f"user {user_id}: another update still holds the lock") from None
        try:
            if self._engine is None:
                yield
                return
            async with self._connect(user_id) as conn:
                key = _USER_LOCK_TAG | user_id
                try:
                    await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                except DBAPIError as exc:
                    if _sqlstate(exc) == _LOCK_NOT_AVAILABLE:
                        raise LockUnavailable(f"user {user_id}: another process still holds the lock") from None
                    raise
                try:
                    yield
                finally:
                    await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        finally:
            lock.release()

    @asynccontextmanager
    async def _connect(self, user_id: int) -> AsyncIterator[AsyncConnection]:
        assert self._engine is not None
        try:
            conn = await self._engine.connect()
        except PoolTimeout:
            raise LockUnavailable(f"user {user_id}: no lock connection free") from None
        try:
            yield conn
        finally:
            await conn.close()

    async def dispose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
