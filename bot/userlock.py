"""One update per user at a time, across tasks and across processes.

In webhook mode tornado serves requests concurrently and several bot
processes may share one PostgreSQL database, so two updates from the same
principal could otherwise race on one draft. Within a process an
``asyncio.Lock`` per user serialises them; across processes a PostgreSQL
session-level advisory lock keyed by the user id does. The advisory locks use
their own small engine so that lock holders can never starve the handlers of
pool connections. SQLite means one process, where the asyncio lock suffices.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import make_engine

# Advisory lock keys are one bigint space shared with anything else using them; a fixed
# high tag keeps ours apart from the scheduler's tick lock.
_USER_LOCK_TAG = 0x5C << 48


class UserLocks:
    """``async with locks.hold(user_id):`` around processing one update."""

    def __init__(self, database_url: str, *, max_parallel: int = 16) -> None:
        self._local: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._engine: AsyncEngine | None = None
        if database_url.startswith("postgresql"):
            self._engine = make_engine(database_url, pool_size=max_parallel, max_overflow=0)

    @asynccontextmanager
    async def hold(self, user_id: int | None) -> AsyncIterator[None]:
        if user_id is None:
            yield
            return
        lock = self._local.get(user_id)
        if lock is None:
            lock = asyncio.Lock()
            self._local[user_id] = lock
        async with lock:
            if self._engine is None:
                yield
                return
            async with self._engine.connect() as conn:
                key = _USER_LOCK_TAG | user_id
                await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                try:
                    yield
                finally:
                    await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    await conn.commit()

    async def dispose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
