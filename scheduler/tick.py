"""The reminder tick: what is due now, claimed in the database, then sent.

PTB's JobQueue runs :meth:`ReminderTicker.tick` every ``REMINDER_TICK_SECONDS``
(registered by :func:`start_reminders` from ``start_services``). The JobQueue
itself persists nothing, so the tick relies on nothing in memory (it only
caches which of today's digests everyone has had): each run computes from the
database and the injected clock what is due, which makes a missed tick, a
restart or a clock jump harmless.

One tick:

1. **Plan** (``scheduler/plan.py``, read-only, also what ``schoolbot
   reminders --at`` prints): the reminders due now and who still needs them,
   manual nudges whose time has come, the staff digests.
2. **Claim** (``scheduler/claims.py``) before sending, in one committed
   transaction: only rows the database hands back are ours.
3. **Send** through ``bot.delivery.send.deliver`` (PTB's ``AIORateLimiter`` plus the
   shared bulk pacer) and record each outcome at once: sent; blocked (the person
   is marked blocked); failed for good; or ``retry`` for a later tick.

Exactly once. On PostgreSQL only one tick with work to do runs at a time
across processes (``pg_try_advisory_xact_lock``, taken after the read-only
plan found something; a tick that does not get it does nothing), but
the unique claims alone already keep two ticks from sending the same reminder
(tested with the lock off). If a tick dies after claiming, the claims it never
attempted are handed back for the next tick; the one in flight stays
``claimed`` until its lease (10 minutes) passes and is then sent again. That
is the one window for a duplicate: the message left but the process died
before recording it (broadcasts have the same, documented, window). A Telegram
time-out is ambiguous in the same way and is retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, Job

from bot.delivery.send import PER_CHAT_INTERVAL, DeliveryResult, Outcome, bulk_budget, deliver
from scheduler.claims import Delivery, TickReport, claim_digest_rows, claim_nudges, claim_reminders
from scheduler.nudges import NOT_A_REPORTER
from scheduler.plan import (
    DIGEST_ESCALATION,
    DIGEST_WEEKLY,
    Plan,
    lease_of,
    plan_tick,
)
from scheduler.policy import Rules
from storage.digests import finish_digest, release_digests
from storage.models import SendStatus
from storage.nudges import ManualRow, manual_rows
from storage.people import set_blocked
from storage.reminders import finish_reminder, release_reminders, skip_gone_retries

if TYPE_CHECKING:
    from bot.services import Services

# The ticker and its wiring; plans, nudges and claims live in scheduler.plan, .nudges and .claims.
__all__ = [
    "ADVISORY_LOCK_KEY",
    "DIGEST_ESCALATION",
    "DIGEST_WEEKLY",
    "MAX_ATTEMPTS",
    "ReminderTicker",
    "start_reminders",
    "ticker_of",
]

log = logging.getLogger(__name__)

# After this many failed tries a reminder is recorded as failed for good.
MAX_ATTEMPTS = 5
# pg_try_advisory_xact_lock key: "one reminder tick at a time" across processes on one database.
ADVISORY_LOCK_KEY = 0x5C_B0_7E_11
_JOB_NAME = "reminder-tick"

AnyApp = Application[Any, Any, Any, Any, Any, Any]

_STATUS_OF: dict[Outcome, SendStatus] = {
    Outcome.SENT: SendStatus.SENT,
    Outcome.BLOCKED: SendStatus.BLOCKED,
    Outcome.FAILED: SendStatus.FAILED,
    Outcome.RETRY: SendStatus.RETRY,
}


class ReminderTicker:
    """The scheduler of one application: the tick, manual nudges, and their bookkeeping."""

    def __init__(self, application: AnyApp, *, advisory_lock: bool = True) -> None:
        self.application = application
        # False only in tests that prove the unique claims alone prevent duplicates.
        self.advisory_lock = advisory_lock
        # Pause between the pieces of a split text in one chat (Telegram: about one message a second).
        self.part_interval = PER_CHAT_INTERVAL
        # One tick at a time in this process; the advisory lock does the same across processes.
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        # Digests every staff member has had (kind → day): not asked again until the next day.
        # A staff member added later that day gets the next day's digest.
        self._digests_done: dict[str, date] = {}

    @property
    def services(self) -> "Services":
        services: Services = self.application.bot_data.services
        return services

    async def tick(self) -> TickReport:
        """Send what is due now: reminders, manual nudges whose time came, staff digests."""
        async with self._lock:
            now = self.services.clock.now()
            # Most ticks find nothing to do: find out before taking the cross-process lock.
            plan = await plan_tick(self.services, now, digests_done=self._digests_done)
            for kind, day in plan.digests_due.items():
                if not any(d.kind == kind for d in plan.digests):
                    self._digests_done[kind] = day
            if plan.empty:
                return TickReport()
            async with self._exclusive() as ours:
                if not ours:
                    log.info("reminder tick skipped: another process is running one")
                    return TickReport(ran=False)
                return await self._run(plan)

    async def _run(self, plan: Plan) -> TickReport:
        """Claim and send what ``plan`` found (claims make a plan gone stale meanwhile harmless)."""
        report = TickReport()
        if plan.gone:
            async with self.services.db.session() as session:
                report.skipped += await skip_gone_retries(session, plan.gone, NOT_A_REPORTER)
        report.merge(await self._run_reminders(plan))
        report.merge(await self._run_manual(plan.manual, plan.now))
        report.merge(await self._run_digests(plan))
        if report.sent or report.nudges_sent or report.digests_sent or report.failed or report.blocked:
            log.info("reminder tick: %s", report)
        return report

    async def send_manual(self, **filters: Any) -> TickReport:
        """Send the manual nudges whose time has come now (optionally only some: slot, school_id, form_key, period)."""
        now = self.services.clock.now()
        async with self.services.db.session() as session:
            rows = await manual_rows(session, now, now - lease_of(self.services.settings), **filters)
        return await self._run_manual(rows, now)

    def kick(self) -> None:
        """Send due manual nudges in the background, without holding up the handler that queued them."""
        task = self.application.create_task(self.send_manual(), name="reminder-nudges")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Wait for background sends started by :meth:`kick` (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[bool]:
        """Hold PostgreSQL's transaction-scoped advisory lock for the whole tick (always True on SQLite)."""
        if not self.advisory_lock:
            yield True
            return
        async with self.services.db.exclusive(ADVISORY_LOCK_KEY) as ours:
            yield ours

    # --- claim, then deliver ---

    async def _run_reminders(self, plan: Plan) -> TickReport:
        jobs, report = await claim_reminders(self.services, plan)
        report.merge(await self._deliver_all(jobs))
        return report

    async def _run_manual(self, rows: Sequence[ManualRow], now: datetime) -> TickReport:
        today = Rules.from_settings(self.services.settings).local(now).date()
        jobs, report = await claim_nudges(self.services, rows, now, today)
        report.merge(await self._deliver_all(jobs))
        return report

    async def _run_digests(self, plan: Plan) -> TickReport:
        return await self._deliver_all(await claim_digest_rows(self.services, plan))

    # --- delivery ---

    async def _deliver_all(self, jobs: Sequence[Delivery]) -> TickReport:
        """Deliver claimed rows one by one, recording each outcome as soon as it is known."""
        report = TickReport()
        if not jobs:
            return report
        ordered = _interleave_chats(jobs)
        untried = {(job.table, job.row_id) for job in ordered}
        pacer = bulk_budget(self.application.bot_data)
        try:
            for job in ordered:
                # From here on this row is in flight: if we die now it waits for its lease.
                untried.discard((job.table, job.row_id))
                result = await deliver(
                    self.application.bot, job.chat_id, job.payload, pacer=pacer, part_interval=self.part_interval
                )
                await self._record(job, result, report)
        except BaseException:
            if untried:
                # Nothing was sent for these: hand them straight to the next tick.
                async with self.services.db.session() as session:
                    await release_reminders(session, [row_id for table, row_id in untried if table == "reminder"])
                    await release_digests(session, [row_id for table, row_id in untried if table == "digest"])
            raise
        return report

    async def _record(self, job: Delivery, result: DeliveryResult, report: TickReport) -> None:
        now = self.services.clock.now()
        status = _STATUS_OF[result.outcome]
        if status is SendStatus.RETRY and job.attempts + 1 >= MAX_ATTEMPTS:
            status = SendStatus.FAILED
        error = result.reason
        if result.ambiguous and error:
            error = f"{error} (may have been delivered)"
        async with self.services.db.session() as session:
            if job.table == "reminder":
                await finish_reminder(session, job.row_id, status.value, now, error)
            else:
                await finish_digest(session, job.row_id, status.value, now, error)
            if status is SendStatus.BLOCKED:
                await set_blocked(session, job.chat_id, True)
        if status is SendStatus.SENT:
            if job.table == "digest":
                report.digests_sent += 1
            elif job.manual:
                report.nudges_sent += 1
            else:
                report.sent += 1
        elif status is SendStatus.BLOCKED:
            report.blocked += 1
        elif status is SendStatus.FAILED:
            report.failed += 1
        else:
            report.retry += 1


def _interleave_chats(jobs: Sequence[Delivery]) -> list[Delivery]:
    """Order sends so one chat's messages are spread out (Telegram allows about one a second per chat)."""
    seen: dict[int, int] = defaultdict(int)
    ranked = []
    for index, job in enumerate(jobs):
        ranked.append((seen[job.chat_id], index, job))
        seen[job.chat_id] += 1
    return [job for _, _, job in sorted(ranked, key=lambda item: (item[0], item[1]))]


# --- wiring -------------------------------------------------------------------------------


def ticker_of(application: AnyApp) -> ReminderTicker:
    """The application's ticker (created by ``bot.app.build_application``; tests tick it directly)."""
    ticker: ReminderTicker = application.bot_data.ticker
    return ticker


async def _tick_job(context: Any) -> None:
    """JobQueue callback: one tick."""
    await ticker_of(context.application).tick()


def start_reminders(application: AnyApp) -> Job[Any] | None:
    """Register the repeating tick on PTB's JobQueue (called from ``start_services``)."""
    job_queue = application.job_queue
    if job_queue is None:
        log.warning("no JobQueue (install python-telegram-bot[job-queue]): reminders are off")
        return None
    for job in job_queue.get_jobs_by_name(_JOB_NAME):
        job.schedule_removal()
    interval = application.bot_data.services.settings.reminder_tick_seconds
    return job_queue.run_repeating(
        _tick_job,
        interval=interval,
        # Let the update backlog drain before the first tick.
        first=min(30, interval),
        name=_JOB_NAME,
        job_kwargs={
            # APScheduler's default grace is 1 s: a tick late behind a busy loop would be silently dropped.
            "misfire_grace_time": None,
            # Ticks missed while the loop was blocked run once, not once each.
            "coalesce": True,
            "max_instances": 1,
        },
    )
