"""The bot's rate limiter on PostgreSQL: every request takes from the one shared send budget.

PTB sends every Bot API request through ``Application.bot.rate_limiter``. On
PostgreSQL (several instances may serve one bot token) that is
:class:`SharedRateLimiter`, so handlers stay as they are and still every message
of every instance counts against Telegram's limits:

* A message (``MESSAGE_METHODS``: what Telegram's ~30/s overall and 1/s per chat
  count) takes its chat's token and a slot of the shared ``telegram`` schedule
  (``storage/budget.py``) and goes when its slot comes. An interactive reply books
  the next free slot at once; a bulk send (a broadcast, reminder or digest, marked
  ``rate_limit_args=Lane.BULK`` by ``bot.delivery.send.deliver``, which already took
  its tokens through ``SharedBudget.take``) only when that slot is a spacing away.
  So replies keep priority over bulk sends across instances, and one chat hears
  at most one message a second whichever instance sends it.
* Edits, callback answers, chat actions and the rest are not messages: they go
  at once.
* ``RetryAfter`` (a 429 that got through anyway: the jitter between a grant and
  the request's arrival, another client on the token) is waited out and the
  request tries again with a fresh token. A reply is retried until
  ``max_wait`` seconds of ``retry_after`` have passed (a minute by default: a
  reply must not be lost to a 429, so its user does not get the apology), a bulk
  send ``bulk_retries`` times (its sender records RETRY and tries later); giving
  up is logged with what was waited.
* The database down (the budget cannot be asked) does not silence the bot: the
  message goes without a token, with a WARNING, so the user still gets the
  "temporary failure" note.

Why not PTB's ``AIORateLimiter`` on PostgreSQL: it is per process, so two
instances attempt up to twice Telegram's limit, every request of a process
pauses after a 429, and a reply gives up after three retries; measured with two
instances and a reminder running (README, "Deadline-day burst") that lost
replies by the hundred. On SQLite the bot is one process and the in-process
``AIORateLimiter`` already is the whole budget, so it stays there (and with the
in-memory fake transport of tests and the console, where there is no Telegram
to share: see ``bot.app.build_rate_limiter``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from storage.budget import SharedBudget

__all__ = ["MESSAGE_METHODS", "Lane", "SharedRateLimiter", "retry_seconds"]

log = logging.getLogger(__name__)

# Methods that create a message: what Telegram's 30/s overall and 1/s per chat count.
MESSAGE_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "sendAudio",
        "sendVideo",
        "sendVoice",
        "sendAnimation",
        "sendSticker",
        "sendLocation",
        "sendContact",
        "sendPoll",
        "copyMessage",
        "forwardMessage",
    }
)

Result = bool | dict[str, Any] | list[dict[str, Any]]


class Lane(StrEnum):
    """Which lane a request is in (PTB's ``rate_limit_args``; none means interactive)."""

    INTERACTIVE = "interactive"
    # Its tokens were taken by the bulk sender (SharedBudget.take); a retry takes again, as bulk.
    BULK = "bulk"


def retry_seconds(exc: RetryAfter) -> float:
    """``RetryAfter.retry_after`` in seconds: an int, or a timedelta when ``PTB_TIMEDELTA=1``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def _chat_of(data: dict[str, Any]) -> int | None:
    """The numeric chat a request goes to (None: no chat, or an ``@channel`` name)."""
    with contextlib.suppress(TypeError, ValueError):
        return int(data["chat_id"])
    return None


class SharedRateLimiter(BaseRateLimiter[Lane]):
    """PTB's rate limiter drawing from a :class:`storage.budget.SharedBudget` (see the module docstring)."""

    def __init__(
        self,
        budget: SharedBudget,
        *,
        max_wait: float = 60.0,
        bulk_retries: int = 3,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.budget = budget
        self.max_wait = max_wait
        self.bulk_retries = bulk_retries
        self._sleep = sleep  # tests pass a recorder

    async def initialize(self) -> None:
        """Nothing to open: the budget connects on its first take."""

    async def shutdown(self) -> None:
        """Close the budget's own connections (PTB calls this as the bot shuts down)."""
        await self.budget.dispose()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Lane | None,
    ) -> Result:
        """Take the request's tokens (messages only), send it, and wait out any 429 within the lane's bound."""
        lane = rate_limit_args or Lane.INTERACTIVE
        message = endpoint in MESSAGE_METHODS and data.get("chat_id") is not None
        chat = _chat_of(data) if message else None
        retries, waited = 0, 0.0
        while True:
            if message and (retries or lane is Lane.INTERACTIVE):
                await self._take(endpoint, chat, lane)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                pause = retry_seconds(exc) + 0.1
                retries += 1
                if (retries > self.bulk_retries) if lane is Lane.BULK else (waited + pause > self.max_wait):
                    log.warning(
                        "%s %s to chat %s: giving up after %d retries and %.1f s of 429s",
                        lane,
                        endpoint,
                        chat,
                        retries - 1,
                        waited,
                    )
                    raise
                log.info("%s %s to chat %s: 429, retrying in %.1f s", lane, endpoint, chat, pause)
                waited += pause
                await self._sleep(pause)

    async def _take(self, endpoint: str, chat: int | None, lane: Lane) -> None:
        try:
            await self.budget.take_send(chat, bulk=lane is Lane.BULK)
        except (SQLAlchemyError, OSError) as exc:
            # The database is down: the message still goes (unpaced; a 429 is waited out above),
            # so a user hears of the outage instead of nothing (bot/runtime's apology needs this).
            log.warning("%s %s to chat %s: send budget unavailable (%s), sending without a token", lane, endpoint, chat, exc)
