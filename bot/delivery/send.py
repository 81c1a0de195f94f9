"""Send one message to one chat and say what happened: the rule every bulk sender shares.

Broadcasts (``bot/sender.py``) and reminders both record per recipient what
Telegram answered, so both ask :func:`deliver` and get a :class:`DeliveryResult`:

=========  ==========================================================  =========
outcome    Telegram answered                                           next step
=========  ==========================================================  =========
SENT       every part was accepted                                     done
BLOCKED    403 ``Forbidden`` (bot blocked, user deactivated)           final; mark the person blocked
FAILED     400 ``BadRequest`` ("chat not found", ...), other 4xx        final, with the reason
RETRY      ``RetryAfter`` left over after the rate limiter's retries,  try again later: after
           ``TimedOut``, ``NetworkError`` (5xx, connection errors)     ``retry_after`` s for a 429,
                                                                       else the caller's back-off
=========  ==========================================================  =========

``TimedOut`` is ambiguous: the request may have reached Telegram, so a resend
may arrive twice; the result says so (``ambiguous``) and callers record it.

Pacing. Every request goes through PTB's ``AIORateLimiter`` (configured in
``bot/app.py``): 30 requests/s per bot and the ``RetryAfter`` retries. Its
leaky bucket admits a burst of 30 after any idle moment, and a 429 then stops
*every* request for ``retry_after`` + 0.1 s; for a steady bulk stream that burst
is what trips Telegram. So bulk senders also pass :func:`bulk_pacer` (one
``aiolimiter.AsyncLimiter`` per application, the same library PTB uses) which
spaces bulk messages evenly at :data:`BULK_RATE` per second, at most 29 in any
second; interactive replies keep PTB's burst. While PTB pauses everything after a
429, bulk sends wait *before* the pacer, so they resume at the paced rate. Telegram also allows only about one message per second in one
chat, which PTB does not enforce: the parts of a split text are sent
:data:`PER_CHAT_INTERVAL` apart.

Several instances (PostgreSQL). The pacer above is per process, so two instances
would send twice the rate. On PostgreSQL ``build_application`` puts a
``storage.budget.SharedBudget`` in the services instead (:func:`bulk_budget`
finds it): bulk sends then take a token from a bulk bucket refilled at
``SEND_BULK_RATE`` (28/s by default), one a second from a row per chat, and a
slot of the ``telegram`` schedule every message of every instance shares, which
a bulk send may book only a slot ahead while interactive replies book at once.
The replies book from that schedule too, in the bot's rate limiter (``bot/delivery/limiter.py``); :func:`deliver` marks a bulk
send ``Lane.BULK`` so that limiter does not take for it twice. On SQLite (one
process) the local pacer and PTB's limiter stay.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from aiolimiter import AsyncLimiter
from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import ExtBot

from bot.delivery.limiter import Lane, SharedRateLimiter, retry_seconds
from storage.budget import CHAT_INTERVAL, SendBudget

if TYPE_CHECKING:
    from bot.context import BotData

__all__ = [
    "BULK_BURST",
    "BULK_RATE",
    "MAX_CAPTION",
    "MAX_TEXT",
    "PER_CHAT_INTERVAL",
    "DeliveryResult",
    "Outcome",
    "Payload",
    "bulk_budget",
    "bulk_pacer",
    "new_bulk_pacer",
    "classify",
    "deliver",
    "split_text",
    "telegram_length",
]

MAX_TEXT = 4096
MAX_CAPTION = 1024
# Bulk sends per second, and how far (in sends) one may run ahead after a late one. Any one
# second then holds at most BULK_BURST + BULK_RATE = 29.7, i.e. 29 bulk sends: one slot a
# second stays free for the replies and progress edits the bot sends meanwhile, under
# Telegram's 30. The 0.2 lets a send that the event loop woke a few ms late be followed
# a little early, so loop lag does not eat into the rate.
BULK_RATE = 28.5
BULK_BURST = 1.2
# Telegram's one message a second in a chat, with a tenth for jitter (storage/budget.py).
PER_CHAT_INTERVAL = CHAT_INTERVAL

Kind = Literal["text", "photo", "document"]


class Outcome(StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"
    FAILED = "failed"
    RETRY = "retry"


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one message for one chat."""

    outcome: Outcome
    # Parts delivered so far (all of them when SENT); a retry resumes from here.
    parts_sent: int = 0
    message_ids: tuple[int, ...] = ()
    reason: str | None = None
    # For RETRY after a 429: the wait Telegram asked for, in seconds (None: caller's back-off).
    retry_after: float | None = None
    # True when the failed request may still have been delivered (a time-out).
    ambiguous: bool = False

    @property
    def final(self) -> bool:
        return self.outcome is not Outcome.RETRY


@dataclass(frozen=True)
class Payload:
    """A message as principals receive it: text, or a photo/document with an optional caption."""

    kind: Kind = "text"
    text: str | None = None
    file_id: str | None = None
    # Attached to the last part only (e.g. a reminder's "report now" button).
    reply_markup: InlineKeyboardMarkup | None = field(default=None, compare=False)

    def parts(self) -> list[str]:
        """The texts to send in order: a long text split on paragraphs; media is one part."""
        if self.kind == "text":
            return split_text(self.text or "")
        return [self.text or ""]

    @property
    def caption_too_long(self) -> bool:
        return self.kind != "text" and telegram_length(self.text or "") > MAX_CAPTION


def telegram_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


# Where a too-long block may be cut, best first: paragraphs, lines, sentence ends, spaces.
_CUTS = (re.compile(r"(?<=\n\n)"), re.compile(r"(?<=\n)"), re.compile(r"(?<=[。！？；.!?;])"), re.compile(r"(?<=\s)"))


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` (Telegram) characters, on paragraph boundaries if possible."""
    text = text.strip()
    if telegram_length(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, limit, 0):
        if telegram_length(current + piece) <= limit:
            current += piece
            continue
        if current.strip():
            parts.append(current.strip())
        current = piece
    if current.strip():
        parts.append(current.strip())
    return parts


def _pieces(text: str, limit: int, level: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit``, each keeping its trailing separator."""
    if telegram_length(text) <= limit:
        return [text]
    if level == len(_CUTS):
        return _hard_cut(text, limit)
    out: list[str] = []
    for chunk in _CUTS[level].split(text):
        if chunk:
            out.extend(_pieces(chunk, limit, level + 1))
    return out


def _hard_cut(text: str, limit: int) -> list[str]:
    """Last resort for a block with no break at all: cut by code points, never inside a surrogate pair."""
    out: list[str] = []
    current = ""
    for char in text:
        if telegram_length(current + char) > limit:
            out.append(current)
            current = ""
        current += char
    if current:
        out.append(current)
    return out


def classify(exc: Exception, parts_sent: int = 0) -> DeliveryResult:
    """Turn an exception from a send into the outcome table of this module."""
    reason = f"{type(exc).__name__}: {exc}"[:300]
    # Order matters: BadRequest and TimedOut are both NetworkError subclasses in PTB.
    if isinstance(exc, RetryAfter):
        return DeliveryResult(Outcome.RETRY, parts_sent, reason=reason, retry_after=max(retry_seconds(exc), 1.0))
    if isinstance(exc, Forbidden):
        return DeliveryResult(Outcome.BLOCKED, parts_sent, reason=reason)
    if isinstance(exc, (BadRequest, ChatMigrated)):
        return DeliveryResult(Outcome.FAILED, parts_sent, reason=reason)
    if isinstance(exc, TimedOut):
        return DeliveryResult(Outcome.RETRY, parts_sent, reason=reason, ambiguous=True)
    if isinstance(exc, NetworkError):
        return DeliveryResult(Outcome.RETRY, parts_sent, reason=reason)
    if isinstance(exc, TelegramError):
        # Unrecognised API errors (a garbled answer, a wrong token) are worth another try, not a verdict.
        return DeliveryResult(Outcome.RETRY, parts_sent, reason=reason)
    raise exc


def bulk_budget(bot_data: BotData) -> SendBudget:
    """The budget bulk sends draw from (``build_application`` chose it: shared or local)."""
    return bot_data.budget


def new_bulk_pacer() -> AsyncLimiter:
    """A leaky bucket of capacity BULK_BURST draining at BULK_RATE: no burst beyond 0.2 of a send."""
    return AsyncLimiter(BULK_BURST, BULK_BURST / BULK_RATE)


def bulk_pacer(bot_data: BotData) -> AsyncLimiter:
    """The application's one even-spacing limiter for bulk sends (broadcasts and reminders share it)."""
    return bot_data.pacer


async def deliver(
    bot: Bot,
    chat_id: int,
    payload: Payload | str,
    *,
    start_part: int = 0,
    pacer: SendBudget | AsyncLimiter | None = None,
    on_part: Callable[[int], Awaitable[None]] | None = None,
    part_interval: float = PER_CHAT_INTERVAL,
) -> DeliveryResult:
    """Send ``payload`` to ``chat_id`` (from part ``start_part`` on) and classify the outcome.

    ``on_part(n)`` runs after each part but the last, so a caller can record
    progress and a resumed delivery does not repeat the parts already sent.
    Exceptions that are not Telegram's (bugs) propagate.
    """
    if isinstance(payload, str):
        payload = Payload(text=payload)
    parts = payload.parts()
    if not parts:
        return DeliveryResult(Outcome.FAILED, reason="empty message")
    message_ids: list[int] = []
    sent = start_part
    lane = _lane(bot, bulk=pacer is not None)
    for index in range(start_part, len(parts)):
        if index > start_part:
            # Telegram allows about one message a second in one chat.
            await asyncio.sleep(part_interval)
        last = index == len(parts) - 1
        try:
            if pacer is not None:
                await _flood_pause(bot)
                if isinstance(pacer, AsyncLimiter):
                    await pacer.acquire()
                else:
                    # The shared budget (PostgreSQL) or its local stand-in: see storage/budget.py.
                    # Its per-chat spacing is the caller's part interval (Telegram's 1/s per chat).
                    await pacer.take(chat_id, part_interval)
            message = await _send_part(bot, chat_id, payload, parts[index], last, lane)
        except TelegramError as exc:
            return classify(exc, sent)
        sent = index + 1
        message_ids.append(message.message_id)
        if on_part is not None and not last:
            await on_part(sent)
    return DeliveryResult(Outcome.SENT, sent, tuple(message_ids))


async def _flood_pause(bot: Bot) -> None:
    """Wait while PTB's rate limiter is pausing every request after a 429.

    AIORateLimiter holds the requests that arrive during the pause and then
    releases them all at once; a bulk send that waits *before* taking its
    place in the pacer resumes at the paced rate instead of joining that herd
    (which would earn the next 429). The event is private to PTB, so its
    absence is tolerated.
    """
    event = getattr(getattr(bot, "rate_limiter", None), "_retry_after_event", None)
    if isinstance(event, asyncio.Event) and not event.is_set():
        await event.wait()


def _lane(bot: Bot, *, bulk: bool) -> dict[str, Any]:
    """``rate_limit_args`` for the shared limiter: a bulk send took its tokens already (PTB's own limiter takes none)."""
    if bulk and isinstance(bot, ExtBot) and isinstance(bot.rate_limiter, SharedRateLimiter):
        return {"rate_limit_args": Lane.BULK}
    return {}


async def _send_part(bot: Bot, chat_id: int, payload: Payload, text: str, last: bool, lane: dict[str, Any]) -> Message:
    markup = payload.reply_markup if last else None
    if payload.kind == "photo":
        return await bot.send_photo(chat_id, payload.file_id or "", caption=text or None, reply_markup=markup, **lane)
    if payload.kind == "document":
        return await bot.send_document(chat_id, payload.file_id or "", caption=text or None, reply_markup=markup, **lane)
    return await bot.send_message(chat_id, text, reply_markup=markup, **lane)
