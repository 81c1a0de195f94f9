"""One send budget for every message, however many instances run: ``SendBudget.take(chat_id)``.

Bulk senders (broadcasts, reminders, digests) call ``await budget.take(chat_id)``
before each message; it returns when the message may go. Interactive replies
take from the same budget in the bot's rate limiter (``bot/delivery/limiter.py``),
ahead of bulk sends.

* ``LocalBudget`` (SQLite: one process by construction) is the in-process
  ``aiolimiter`` pacer ``bot.delivery.send.bulk_pacer`` builds, unchanged.
* ``SharedBudget`` (PostgreSQL: any number of instances on one bot token) keeps
  its budget in ``send_budget`` rows:

  ``telegram``   every message of the bot, both lanes: a *schedule*, not a bucket. Its
                 ``updated_at`` is the next free send slot; slots are ``1 / TELEGRAM_RATE``
                 (28/s) apart, whoever sends (``tokens`` is unused, 0);
  ``bulk``       bulk messages only, refilled at ``rate`` (``SEND_BULK_RATE``), at most
                 ``cap``: a ceiling bulk sends never pass even when nobody else sends;
  ``chat:<id>``  one token per ``chat_interval`` (``CHAT_INTERVAL``, 1.1 s) per chat, for both lanes,
                 taken *for* the message's slot (refilled up to it, the second counted
                 from it): Telegram's 1 a second, with a tenth for the jitter between a
                 slot and the request's arrival (at exactly 1 s, two messages to one chat
                 whose first went a few ms late arrive under a second apart: a 429).

  A take is one statement that refills and takes atomically (the row lock orders
  instances) when the bucket holds at least ``need`` tokens::

      INSERT ... ON CONFLICT (name) DO UPDATE
        SET tokens = least(cap, tokens + rate * elapsed) - 1, updated_at = clock_timestamp()
        WHERE least(cap, tokens + rate * elapsed) >= need RETURNING updated_at

  ``elapsed`` is measured on the database clock (``clock_timestamp()``), so the
  instances' own clocks do not matter. No row back means no token: the same
  statement also says how long until the bucket holds ``need``, and the take is
  retried then.

The ``telegram`` schedule (a generic cell rate algorithm: one timestamp, the next
free slot). Booking a slot is one statement::

    UPDATE ... SET updated_at = greatest(updated_at, clock_timestamp()) + spacing
     WHERE updated_at <= clock_timestamp() + lead RETURNING updated_at - spacing

and the message goes when its slot comes (the taker sleeps until then). Why a
schedule and not a bucket like the others: slots never bank, so any one second
of the database clock holds at most 28 messages of all lanes and instances
(``spacing`` is rounded up to the microsecond, so 28 spacings are never under a
second). That leaves two of Telegram's 30 for the jitter between a slot and the
request's arrival, about 70 ms; the bucket of 1.75 tokens it replaces granted up
to 29 in a second and left 9 ms, and the burst benchmark's worst seconds saw 31
and 32 attempts. And a taker that wakes a little late loses nothing: the slot it
booked ahead is still its own.

Priority. ``lead`` is how far ahead a lane may book: an interactive reply
``REPLY_LEAD`` (5 s: it books at once, behind whatever is booked), a bulk send
only ``BULK_LEAD`` (one spacing). So a bulk stream keeps at most a slot or two
booked, a reply arriving meanwhile goes within about two spacings (70 ms), on
any instance, and while replies have booked ahead bulk sends wait. Nothing is
reserved per instance: a second with no replies gives bulk sends the whole rate.

Why per chat a row and not an advisory lock: a lock would have to be held across
the Telegram call (on a pooled connection, for a second); a row is claimed by one
short statement and released at once. Each claim runs on its own short-lived
connection checkout and commits before Telegram is called. Within one process
the takes of each lane queue on an ``asyncio.Lock``, so the sends in flight of
one instance poll a bucket row one at a time instead of all at once.

The chat rows grow by one per chat ever sent to (a few tens of thousands for a
province); they are tiny and primary-key addressed.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from aiolimiter import AsyncLimiter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import make_engine

__all__ = [
    "BULK_BUCKET",
    "BULK_CAP",
    "BULK_LEAD",
    "CHAT_INTERVAL",
    "Grant",
    "TELEGRAM_BUCKET",
    "REPLY_LEAD",
    "TELEGRAM_RATE",
    "LocalBudget",
    "SendBudget",
    "SharedBudget",
]

BULK_BUCKET = "bulk"
# The bulk bucket holds one and a half tokens: a taker that woke a few ms late (loop lag, a
# busy database) finds the half it missed instead of losing it, so the achieved rate stays
# near ``rate``; and any one second still grants at most floor(rate + 1.5), i.e. rate + 1
# for a whole-number rate.
BULK_CAP = 1.5
# Every message of the bot, both lanes, all instances: slots this many a second (module docstring).
TELEGRAM_BUCKET = "telegram"
TELEGRAM_RATE = 28.0
# How far ahead of now a lane may book its ``telegram`` slot, in seconds.
REPLY_LEAD = 5.0
# For a bulk send, in spacings: one keeps the stream back to back when its taker wakes up to a
# spacing late, and keeps replies at most about two spacings behind it.
BULK_LEAD = 1.0
# Seconds between two messages to one chat (see the module docstring).
CHAT_INTERVAL = 1.1
# Connections of a budget that owns its engine (``SharedBudget.connect``): the lanes' pollers
# and the chat takes in flight, each a one-statement checkout.
OWN_POOL_SIZE = 4

# Refill and take in one statement; :rate tokens per second, at most :cap, when at least :need.
# Without a grant, ``wait`` is the seconds until the bucket holds :need (the snapshot the
# statement started from; never negative). The casts matter: untyped, asyncpg would infer :cap
# an integer from ``:cap - 1`` and truncate 1.5 to 1.
_TAKE = text(
    """
    WITH took AS (
        INSERT INTO send_budget (name, tokens, updated_at)
        VALUES (:name, CAST(:cap AS float8) - 1, clock_timestamp())
        ON CONFLICT (name) DO UPDATE
           SET tokens = least(CAST(:cap AS float8), send_budget.tokens
                         + CAST(:rate AS float8) * extract(epoch FROM clock_timestamp() - send_budget.updated_at)) - 1,
               updated_at = clock_timestamp()
         WHERE least(CAST(:cap AS float8), send_budget.tokens
                     + CAST(:rate AS float8) * extract(epoch FROM clock_timestamp() - send_budget.updated_at))
               >= CAST(:need AS float8)
        RETURNING updated_at
    )
    SELECT (SELECT updated_at FROM took) AS granted,
           (SELECT greatest(0, (CAST(:need AS float8) - least(CAST(:cap AS float8), tokens
                   + CAST(:rate AS float8) * extract(epoch FROM clock_timestamp() - updated_at))) / CAST(:rate AS float8))
              FROM send_budget WHERE name = :name) AS wait
    """
)


# Book the next ``telegram`` slot (module docstring) when it is at most :lead seconds ahead; the
# slot and the seconds until it, or (no slot) the seconds until a booking could succeed. The
# final SELECT reads the snapshot the statement started from, as ``_TAKE`` does.
_BOOK = text(
    """
    WITH took AS (
        INSERT INTO send_budget (name, tokens, updated_at)
        VALUES (:name, 0, clock_timestamp() + make_interval(secs => CAST(:spacing AS float8)))
        ON CONFLICT (name) DO UPDATE
           SET updated_at = greatest(send_budget.updated_at, clock_timestamp())
                            + make_interval(secs => CAST(:spacing AS float8))
         WHERE send_budget.updated_at <= clock_timestamp() + make_interval(secs => CAST(:lead AS float8))
        RETURNING updated_at - make_interval(secs => CAST(:spacing AS float8)) AS slot
    )
    SELECT (SELECT slot FROM took) AS slot,
           extract(epoch FROM (SELECT slot FROM took) - clock_timestamp()) AS until_slot,
           (SELECT greatest(0, extract(epoch FROM updated_at - clock_timestamp()) - CAST(:lead AS float8))
              FROM send_budget WHERE name = :name) AS wait
    """
)

# Take a chat's token for a message that goes at :at (its slot): granted when the chat's bucket,
# refilled up to :at, holds one, and the chat's second then counts from :at. Without a grant,
# ``wait`` is the seconds from now until the chat has a token. The threshold is a hair under one
# so that a slot exactly an interval after the chat's last is not lost to float rounding.
_TAKE_AT = text(
    """
    WITH took AS (
        INSERT INTO send_budget (name, tokens, updated_at)
        VALUES (:name, 0, CAST(:at AS timestamptz))
        ON CONFLICT (name) DO UPDATE
           SET tokens = least(1, send_budget.tokens
                         + CAST(:rate AS float8) * extract(epoch FROM CAST(:at AS timestamptz) - send_budget.updated_at)) - 1,
               updated_at = CAST(:at AS timestamptz)
         WHERE least(1, send_budget.tokens
                     + CAST(:rate AS float8) * extract(epoch FROM CAST(:at AS timestamptz) - send_budget.updated_at))
               >= 0.999999
        RETURNING updated_at
    )
    SELECT (SELECT updated_at FROM took) AS granted,
           (SELECT greatest(0, (1 - least(1, tokens
                   + CAST(:rate AS float8) * extract(epoch FROM clock_timestamp() - updated_at))) / CAST(:rate AS float8))
              FROM send_budget WHERE name = :name) AS wait
    """
)


def spacing_of(rate: float) -> float:
    """Seconds between two slots at ``rate`` a second, rounded up to PostgreSQL's microsecond."""
    return math.ceil(1_000_000 / rate) / 1_000_000


def _chat_bucket(chat_id: int) -> str:
    return f"chat:{chat_id}"


@dataclass(frozen=True)
class Grant:
    """A message's grant (database clock): its ``telegram`` slot, and the time its chat's second counts
    from (the slot too; None when it took no chat token)."""

    chat: datetime | None
    telegram: datetime


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
        self,
        engine: AsyncEngine,
        *,
        rate: float,
        cap: float = BULK_CAP,
        chat_interval: float = CHAT_INTERVAL,
        bucket: str = BULK_BUCKET,
        overall_rate: float = TELEGRAM_RATE,
        bulk_lead: float = BULK_LEAD,
        reply_lead: float = REPLY_LEAD,
        overall_bucket: str = TELEGRAM_BUCKET,
        owns_engine: bool = False,
    ) -> None:
        if rate <= 0 or overall_rate <= 0 or cap < 1 or chat_interval <= 0:
            raise ValueError("rates and chat_interval must be positive, cap at least 1")
        if not 0 <= bulk_lead * spacing_of(overall_rate) <= reply_lead:
            raise ValueError("replies must book at least as far ahead as bulk sends: 0 <= bulk_lead spacings <= reply_lead")
        self.engine = engine
        self.rate = rate
        self.cap = cap
        self.chat_interval = chat_interval
        self.bucket = bucket
        self.overall_rate = overall_rate
        self.spacing = spacing_of(overall_rate)
        self.leads = {True: bulk_lead * self.spacing, False: reply_lead}
        self.overall_bucket = overall_bucket
        self.owns_engine = owns_engine
        self._bulk_turn = asyncio.Lock()
        self._overall_turn = {True: asyncio.Lock(), False: asyncio.Lock()}

    @classmethod
    def connect(cls, url: str, *, pool_timeout: float = 30.0, **options: Any) -> SharedBudget:
        """A budget on its own small pool, so a take never waits behind handlers holding the main pool."""
        # Each take is one statement: no transaction around it (one round trip, not three).
        engine = make_engine(url, pool_size=OWN_POOL_SIZE, pool_timeout=pool_timeout, isolation_level="AUTOCOMMIT")
        return cls(engine, owns_engine=True, **options)

    async def take(self, chat_id: int, chat_interval: float | None = None) -> None:
        """A bulk send: a bulk token, a ``telegram`` slot within the bulk lead, the chat's token for that slot."""
        await self.take_send(chat_id, bulk=True, chat_interval=chat_interval)

    async def take_send(self, chat_id: int | None, *, bulk: bool, chat_interval: float | None = None) -> Grant:
        """Every token one message needs, in its lane (``chat_id`` None: no chat bucket); returns when it may go."""
        # The bulk token first: a bulk send's long wait is for it (and for its slot), and the chat's
        # token must be counted from when the message goes, not from before those waits.
        if bulk:
            await self.take_bulk()
        interval = self.chat_interval if chat_interval is None else chat_interval
        while True:
            slot, at = await self.book_overall(bulk=bulk)
            if chat_id is None or interval <= 0:
                chat = None
                break
            # The chat's token is taken *for the slot*: its second counts from when the message goes.
            # (Taken before the slot was booked, it went stale while the message queued for its slot,
            # for seconds during a broadcast: another message to the chat went in between, and the
            # two arrived within a second; two queued messages to one chat kept spending each
            # other's tokens.) A chat not free at the slot leaves the slot unused (1/28 s of the
            # budget) and the message books again once the chat is free.
            chat, wait = await self._take_chat_at(chat_id, interval, slot)
            if chat is not None:
                break
            await asyncio.sleep(wait + 0.001)
        await _sleep_until(at)
        return Grant(chat, slot)

    async def take_bulk(self) -> datetime:
        """Take one bulk token; the database time it was granted."""
        async with self._bulk_turn:
            return await self._take(self.bucket, self.rate, self.cap)

    async def take_overall(self, *, bulk: bool) -> datetime:
        """Book the lane's next ``telegram`` slot and return when it comes; the slot (database time)."""
        slot, at = await self.book_overall(bulk=bulk)
        await _sleep_until(at)
        return slot

    async def book_overall(self, *, bulk: bool) -> tuple[datetime, float]:
        """Book the next ``telegram`` slot within the lane's lead: the slot, and when it comes on ``time.monotonic``."""
        params = {"name": self.overall_bucket, "spacing": self.spacing, "lead": self.leads[bulk]}
        # One booker per lane and process at a time, so the sends in flight poll one at a time;
        # the lock is not held while waiting for the slot itself.
        async with self._overall_turn[bulk]:
            while True:
                async with self.engine.begin() as conn:
                    slot, until, wait = (await conn.execute(_BOOK, params)).one()
                if slot is not None:
                    assert isinstance(slot, datetime)
                    return slot, time.monotonic() + float(until)
                await asyncio.sleep(float(wait or 0.0) + 0.001)

    async def take_chat(self, chat_id: int, interval: float | None = None) -> datetime:
        """Take the chat's one token a ``chat_interval``; the database time it was granted."""
        return await self._take(_chat_bucket(chat_id), 1.0 / (interval or self.chat_interval), 1.0)

    async def _take_chat_at(self, chat_id: int, interval: float, at: datetime) -> tuple[datetime | None, float]:
        """The chat's token for a message going at ``at``: when granted (None: not free then), and the seconds until it is free."""
        params = {"name": _chat_bucket(chat_id), "rate": 1.0 / interval, "at": at}
        async with self.engine.begin() as conn:
            granted, wait = (await conn.execute(_TAKE_AT, params)).one()
        return granted, float(wait or 0.0)

    async def _take(self, name: str, rate: float, cap: float, need: float = 1.0) -> datetime:
        params = {"name": name, "rate": rate, "cap": cap, "need": need}
        while True:
            # One short statement per attempt: the connection goes back to the pool before any wait.
            async with self.engine.begin() as conn:
                granted, wait = (await conn.execute(_TAKE, params)).one()
            if granted is not None:
                assert isinstance(granted, datetime)
                return granted
            await asyncio.sleep(float(wait or 0.0) + 0.001)

    async def dispose(self) -> None:
        """Close the budget's own connections (a budget on someone else's engine leaves it alone)."""
        if self.owns_engine:
            await self.engine.dispose()


async def _sleep_until(at: float) -> None:
    """Sleep until ``at`` on ``time.monotonic`` (at once when it has passed)."""
    delay = at - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
