"""One send budget for bulk messages, however many instances run: ``SendBudget.take(chat_id)``.

Bulk senders (broadcasts, reminders, digests) call ``await budget.take(chat_id)``
before each message; it returns when the message may go.

* ``LocalBudget`` (SQLite: one process by construction) is the in-process
  ``aiolimiter`` pacer ``bot.delivery.send.bulk_pacer`` builds, unchanged.
* ``SharedBudget`` (PostgreSQL: any number of instances on one bot token) keeps
  token buckets in ``send_budget`` rows. One bucket ``bulk`` refilled at ``rate``
  per second holding at most ``cap`` tokens, and one bucket ``chat:<id>`` per chat
  refilled at one token per ``chat_interval`` holding at most one. A take is one
  statement that refills and takes atomically (the row lock orders instances)::

      INSERT ... ON CONFLICT (name) DO UPDATE
        SET tokens = least(cap, tokens + rate * elapsed) - 1, updated_at = clock_timestamp()
        WHERE least(cap, tokens + rate * elapsed) >= 1 RETURNING updated_at

  ``elapsed`` is measured on the database clock (``clock_timestamp()``), so the
  instances' own clocks do not matter. No row back means no token: the wait
  until the next one is computed from the row and the take retried.

Why per chat a row and not an advisory lock: a lock would have to be held across
the Telegram call (on a pooled connection, for a second); a row is claimed by one
short statement and released at once. Each claim runs on its own short-lived
connection checkout and commits before Telegram is called. Within one process
the bulk takes queue on an ``asyncio.Lock``, so the 30 sends in flight of one
instance poll the row one at a time instead of all at once.

The chat rows grow by one per chat ever sent to (a few tens of thousands for a
province); they are tiny and primary-key addressed.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Protocol

from aiolimiter import AsyncLimiter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["BULK_BUCKET", "BULK_CAP", "LocalBudget", "SendBudget", "SharedBudget"]

BULK_BUCKET = "bulk"
# The bulk bucket holds one and a half tokens: a taker that woke a few ms late (loop lag, a
# busy database) finds the half it missed instead of losing it, so the achieved rate stays
# near ``rate``; and any one second still grants at most floor(rate + 1.5), i.e. rate + 1
# for a whole-number rate.
BULK_CAP = 1.5

# Refill and take in one statement; :rate tokens per second, at most :cap. The casts matter:
# untyped, asyncpg would infer :cap an integer from ``:cap - 1`` and truncate 1.5 to 1.
_TAKE = text(
    """
    INSERT INTO send_budget (name, tokens, updated_at)
    VALUES (:name, CAST(:cap AS float8) - 1, clock_timestamp())
    ON CONFLICT (name) DO UPDATE
       SET tokens = least(CAST(:cap AS float8), send_budget.tokens
                     + CAST(:rate AS float8) * extract(epoch FROM clock_timestamp() - send_budget.updated_at)) - 1,
           updated_at = clock_timestamp()
     WHERE least(CAST(:cap AS float8), send_budget.tokens
                 + CAST(:rate AS float8) * extract(epoch FROM clock_timestamp() - send_budget.updated_at)) >= 1
    RETURNING updated_at
    """
)
# Seconds until the bucket holds one token again (never negative).
_WAIT = text(
    """
    SELECT greatest(0, (1 - least(CAST(:cap AS float8), tokens
                   + CAST(:rate AS float8) * extract(epoch FROM clock_timestamp() - updated_at))) / CAST(:rate AS float8))
      FROM send_budget WHERE name = :name
    """
)


class SendBudget(Protocol):
    """Where a bulk send waits for its turn."""

    async def take(self, chat_id: int, chat_interval: float = 1.0) -> None:
        """Return when one message to ``chat_id`` may be sent, at most one a ``chat_interval`` (0: no per-chat limit)."""
        ...


class LocalBudget:
    """One process: the in-process even-spacing limiter (per-chat spacing is the caller's part interval)."""

    def __init__(self, limiter: AsyncLimiter) -> None:
        self.limiter = limiter

    async def take(self, chat_id: int, chat_interval: float = 1.0) -> None:
        await self.limiter.acquire()


class SharedBudget:
    """Token buckets in PostgreSQL shared by every instance on one database (see the module docstring)."""

    def __init__(
        self, engine: AsyncEngine, *, rate: float, cap: float = BULK_CAP, chat_interval: float = 1.0, bucket: str = BULK_BUCKET
    ) -> None:
        if rate <= 0 or cap < 1 or chat_interval <= 0:
            raise ValueError("rate and chat_interval must be positive, cap at least 1")
        self.engine = engine
        self.rate = rate
        self.cap = cap
        self.chat_interval = chat_interval
        self.bucket = bucket
        self._bulk_turn = asyncio.Lock()

    async def take(self, chat_id: int, chat_interval: float | None = None) -> None:
        # The chat first: a chat that is not free yet must not waste a bulk token while it waits.
        interval = self.chat_interval if chat_interval is None else chat_interval
        if interval > 0:
            await self.take_chat(chat_id, interval)
        await self.take_bulk()

    async def take_bulk(self) -> datetime:
        """Take one bulk token; the database time it was granted."""
        async with self._bulk_turn:
            return await self._take(self.bucket, self.rate, self.cap)

    async def take_chat(self, chat_id: int, interval: float | None = None) -> datetime:
        """Take the chat's one token a ``chat_interval``; the database time it was granted."""
        return await self._take(f"chat:{chat_id}", 1.0 / (interval or self.chat_interval), 1.0)

    async def _take(self, name: str, rate: float, cap: float) -> datetime:
        params = {"name": name, "rate": rate, "cap": cap}
        while True:
            # One short transaction per attempt: the connection goes back to the pool before any wait.
            async with self.engine.begin() as conn:
                granted = (await conn.execute(_TAKE, params)).scalar_one_or_none()
                wait = None if granted is not None else (await conn.execute(_WAIT, params)).scalar_one_or_none()
            if granted is not None:
                assert isinstance(granted, datetime)
                return granted
            await asyncio.sleep(float(wait or 0.0) + 0.001)
