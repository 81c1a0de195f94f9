"""The broadcast sender: drains the outbox in the background, within Telegram's limits.

One ``BroadcastSender`` per application (``BotData.sender``),
started by ``start_services`` and stopped by ``stop_services``. It claims
outbox rows with a lease (policy in ``storage/broadcasts.py``, claims and records in
``storage/broadcast_sends.py``), keeps up to
``concurrency`` sends in flight — each waits its turn in the bulk pacer and
PTB's ``AIORateLimiter``, so throughput approaches the limit while the limiter
does the pacing — and records each outcome as ``bot/delivery.py`` classifies it:

* a recipient deactivated, moved to another school or given another role since
  the broadcast was queued → ``cancelled`` at the claim, unsent (final: no
  later round or restart sends it);
* sent → ``sent``; ``Forbidden`` → ``blocked`` and the person is marked blocked;
  ``BadRequest`` → ``failed`` with Telegram's reason;
* ``RetryAfter`` left over after the limiter's retries → back to ``pending``
  not before Telegram's ``retry_after``; time-outs, 5xx, network errors → back
  to ``pending`` with exponential back-off (1 s, 2 s, 4 s … 5 min); after
  ``max_attempts`` claims the row fails with the last reason.

While a broadcast runs, its author's progress message is edited at most every
``PROGRESS_EVERY`` (coordinated through the database, so two processes do not
both edit); when no open row is left, exactly one process marks it done, turns
the progress message into the final counts and sends the report.

Tests drive it without the background task: ``await sender.drain_once()``
(claim one batch, send it, record it) or ``await sender.run_until_idle()``.
Several processes may run senders on one PostgreSQL database: claims never
overlap, and on PostgreSQL they draw from one shared send budget
(``storage/budget.py``), so together they stay under Telegram's limit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from telegram import Bot
from telegram.error import TelegramError

from bot.services import Services
from bot.delivery.send import PER_CHAT_INTERVAL, DeliveryResult, Outcome, Payload, bulk_budget, deliver
from bot.core.ui import Screen
from bot.delivery.markup import markup
from bot.office.broadcast import PROGRESS_EVERY, final_report, progress_panel
from bot.office.broadcast_action import payload_of
from storage import broadcast_sends as sends
from storage import broadcasts as store
from storage.budget import SendBudget
from storage.broadcast_sends import ClaimedRow
from storage.broadcasts import DEFAULT_LEASE
from storage.outbox import backoff

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=1)
BACKOFF_MAX = timedelta(minutes=5)


@dataclass(frozen=True)
class _Job:
    """What every row of one broadcast needs: the payload, and the author's language for progress."""

    payload: Payload
    lang: str


class BroadcastSender:
    """Claims outbox rows and sends them; see the module docstring for the policy."""

    def __init__(
        self,
        application: Any,
        *,
        concurrency: int = 30,
        lease: timedelta = DEFAULT_LEASE,
        max_attempts: int = 8,
        idle_poll: float = 1.0,
        part_interval: float = PER_CHAT_INTERVAL,
        worker: str | None = None,
        paced: bool = True,
    ) -> None:
        self.application = application
        self.concurrency = concurrency
        self.lease = lease
        self.max_attempts = max_attempts
        self.idle_poll = idle_poll
        self.part_interval = part_interval
        # Off only to measure what the bulk pacer buys (benchmarks/broadcast.py --unpaced).
        self.paced = paced
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{id(self) & 0xFFFF:04x}"
        self._jobs: dict[int, _Job] = {}
        self._touched: set[int] = set()
        self._last_progress: datetime | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # --- collaborators ------------------------------------------------------------
    @property
    def services(self) -> Services:
        services: Services = self.application.bot_data.services
        return services

    @property
    def bot(self) -> Bot:
        bot: Bot = self.application.bot
        return bot

    @property
    def pacer(self) -> SendBudget | None:
        # The application's one bulk budget (shared across instances on PostgreSQL).
        return bulk_budget(self.application.bot_data) if self.paced else None

    def now(self) -> datetime:
        return self.services.clock.now()

    # --- background life ----------------------------------------------------------
    async def start(self) -> None:
        """Run in the background until ``stop`` (idempotent)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name=f"broadcast-sender-{self.worker}")

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, let sends in flight finish (up to ``timeout``), then end.

        A send cut off here stays claimed until its lease runs out and is then
        retried and flagged as a possible duplicate (storage/broadcasts.py).
        """
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    def wake(self) -> None:
        """Something was queued: look now instead of at the next poll."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.run_until_idle()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the sender
                log.exception("broadcast sender round failed; retrying")
            if self._stopping:
                break
            try:
                # Poll too: retries come due, and another process may have queued a broadcast.
                await asyncio.wait_for(self._wake.wait(), await self._idle_wait())
            except TimeoutError:
                pass

    async def _idle_wait(self) -> float:
        """Sleep until the next back-off ends, but never longer than ``idle_poll``."""
        try:
            async with self.services.db.session() as session:
                due = await sends.next_due(session)
        except Exception:  # noqa: BLE001 - the next round reports database trouble
            return self.idle_poll
        if due is None:
            return self.idle_poll
        return min(max((due - self.now()).total_seconds(), 0.01), self.idle_poll)

    # --- draining -------------------------------------------------------------------
    async def drain_once(self, limit: int | None = None) -> int:
        """Claim one batch (up to ``limit`` or ``concurrency`` rows), send it, record it; return its size."""
        rows = await self._claim(limit or self.concurrency)
        if rows:
            await asyncio.gather(*(self._process(row) for row in rows))
        await self._progress()
        await self._finish()
        return len(rows)

    async def run_until_idle(self) -> int:
        """Send until nothing is claimable and nothing is in flight; return how many rows were claimed.

        Claims keep ``concurrency`` sends in flight, so a slow answer or a split
        text's one-second pause never holds the others up.
        """
        in_flight: set[asyncio.Task[None]] = set()
        claimed = 0
        try:
            while True:
                room = self.concurrency - len(in_flight)
                # Claim in batches of at least half the window, not after every single answer.
                if not self._stopping and room > 0 and (not in_flight or room * 2 >= self.concurrency):
                    rows = await self._claim(room)
                    claimed += len(rows)
                    in_flight |= {asyncio.create_task(self._process(row)) for row in rows}
                if not in_flight:
                    break
                _, in_flight = await asyncio.wait(in_flight, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                await self._progress()
        finally:
            if in_flight:
                # Cancelled from outside (stop timed out): the leases bring these rows back later.
                for task in in_flight:
                    task.cancel()
                await asyncio.gather(*in_flight, return_exceptions=True)
        await self._progress()
        await self._finish()
        return claimed

    async def _claim(self, limit: int) -> list[ClaimedRow]:
        async with self.services.db.session() as session:
            rows = await sends.claim_rows(session, self.now(), limit=limit, worker=self.worker, lease=self.lease)
            # Queued earlier: someone deactivated, moved or given another role since gets nothing.
            dropped = await sends.drop_stale_recipients(session, rows)
            if dropped:
                log.info("%d outbox rows dropped: recipient no longer in the audience", len(dropped))
                rows = [row for row in rows if row.id not in dropped]
            missing = {row.broadcast_id for row in rows} - set(self._jobs)
            if missing:
                for broadcast, language in await sends.authors_of(session, missing):
                    lang = language or "zh"
                    # Header and "report now" button in the author's language, as the preview showed them.
                    self._jobs[broadcast.id] = _Job(payload_of(broadcast, self.services.catalogue, lang), lang)
        self._touched |= {row.broadcast_id for row in rows}
        return rows

    async def _process(self, row: ClaimedRow) -> None:
        """Send one claimed row and record the outcome (never raises: the row must not be lost)."""
        job = self._jobs[row.broadcast_id]
        try:
            result = await deliver(
                self.bot,
                row.chat_id,
                job.payload,
                start_part=row.parts_sent,
                pacer=self.pacer,
                on_part=partial(self._record_parts, row),
                part_interval=self.part_interval,
            )
        except Exception as exc:  # noqa: BLE001 - a bug in one send must not stop the others
            log.exception("sending outbox row %s failed unexpectedly", row.id)
            result = DeliveryResult(Outcome.RETRY, row.parts_sent, reason=f"{type(exc).__name__}: {exc}")
        try:
            await self._record(row, result)
        except Exception:  # noqa: BLE001 - the lease brings the row back (flagged maybe_duplicate)
            log.exception("could not record outbox row %s (%s)", row.id, result.outcome)

    async def _record_parts(self, row: ClaimedRow, parts: int) -> None:
        async with self.services.db.session() as session:
            await sends.record_parts(session, row, parts)

    async def _record(self, row: ClaimedRow, result: DeliveryResult) -> None:
        now = self.now()
        reason = result.reason or ""
        async with self.services.db.session() as session:
            if result.outcome is Outcome.SENT:
                held = await sends.record_sent(
                    session, row, now, parts=result.parts_sent, maybe_duplicate=False, message_ids=result.message_ids
                )
            elif result.outcome is Outcome.BLOCKED:
                held = await sends.record_blocked(session, row, reason)
            elif result.outcome is Outcome.FAILED:
                held = await sends.record_failed(session, row, reason, parts=result.parts_sent)
            elif row.attempts >= self.max_attempts:
                reason = f"gave up after {row.attempts} attempts: {reason}"
                held = await sends.record_failed(session, row, reason, parts=result.parts_sent)
            else:
                wait = backoff(row.attempts, base=BACKOFF_BASE, cap=BACKOFF_MAX, retry_after=result.retry_after)
                held = await sends.record_retry(
                    session, row, now + wait, reason, parts=result.parts_sent, ambiguous=result.ambiguous
                )
        if not held:
            log.warning("outbox row %s: lease lost before recording %s", row.id, result.outcome)

    # --- progress and completion ----------------------------------------------------
    async def _progress(self) -> None:
        """Edit the progress message of broadcasts this sender worked on, at most every PROGRESS_EVERY."""
        now = self.now()
        if self._last_progress is not None and now - self._last_progress < PROGRESS_EVERY:
            return
        self._last_progress = now
        for broadcast_id in sorted(self._touched):
            async with self.services.db.session() as session:
                if not await sends.claim_progress_edit(session, broadcast_id, now, PROGRESS_EVERY):
                    continue
                broadcast = await store.broadcast_by_id(session, broadcast_id)
                counts = (await store.counts(session, [broadcast_id]))[broadcast_id]
            if broadcast is None or broadcast.progress_message_id is None:
                continue
            job = self._jobs.get(broadcast_id)
            panel = progress_panel(job.lang if job else "zh", broadcast, counts)
            await self._edit(broadcast.author_chat_id, broadcast.progress_message_id, panel)

    async def _finish(self) -> None:
        """Mark finished broadcasts done (exactly one process wins each) and report them."""
        async with self.services.db.session() as session:
            finished = await sends.finish_broadcasts(session, self.now())
        for broadcast_id in finished:
            self._touched.discard(broadcast_id)
            self._jobs.pop(broadcast_id, None)
            await self.report(broadcast_id)

    async def report(self, broadcast_id: int) -> None:
        """Final counts into the progress message, and the report (who was not reached) as a new message."""
        async with self.services.db.session() as session:
            broadcast = await store.broadcast_by_id(session, broadcast_id)
            if broadcast is None:
                return
            counts = (await store.counts(session, [broadcast_id]))[broadcast_id]
            missed = await store.not_reached(session, broadcast)
            language = await sends.author_language(session, broadcast)
        lang = language or "zh"
        text = final_report(lang, broadcast, counts, missed)
        if broadcast.progress_message_id is not None:
            await self._edit(broadcast.author_chat_id, broadcast.progress_message_id, Screen(text.split("\n", 1)[0]))
        result = await deliver(self.bot, broadcast.author_chat_id, text)
        if result.outcome is not Outcome.SENT:
            log.warning("final report of broadcast %s not delivered: %s", broadcast_id, result.reason)

    async def _edit(self, chat_id: int, message_id: int, panel: Screen) -> None:
        try:
            await self.bot.edit_message_text(panel.text, chat_id=chat_id, message_id=message_id, reply_markup=markup(panel))
        except TelegramError as exc:
            # Progress is a courtesy ("message is not modified", a deleted message): never fail a send for it.
            log.info("progress message %s/%s not edited: %s", chat_id, message_id, exc)


def sender_of(application: Any) -> BroadcastSender:
    """The application's sender (created by ``bot.app.build_application``)."""
    sender: BroadcastSender = application.bot_data.sender
    return sender


async def stop_sender(application: Any) -> None:
    """Stop the application's sender (``post_stop``: before PTB shuts the bot's HTTP client down)."""
    await sender_of(application).stop()
