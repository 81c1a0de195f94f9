"""The reminder tick: what is due now, claimed in the database, then sent.

PTB's JobQueue runs :meth:`ReminderTicker.tick` every ``REMINDER_TICK_SECONDS``
(registered by :func:`start_reminders` from ``start_services``). The JobQueue
itself persists nothing, so the tick relies on nothing in memory (it only
caches which of today's digests everyone has had): each run computes from the
database and the injected clock what is due, which makes a missed tick, a
restart or a clock jump harmless.

One tick:

1. **Plan** (read-only, also what ``schoolbot reminders --at`` prints): for
   each form with a due rule and each open period whose first slot has come,
   the policy (``scheduler/policy.py``) names the latest due slot; one SQL
   anti-join finds the reporters of schools without a current report whose row
   for that slot is missing (or marked for retry). Reporters who blocked the
   bot are recorded as ``blocked`` without a send; reporters with a draft
   touched in the last ``DRAFT_IDLE_MINUTES`` are left for a later tick.
   Manual nudges whose time has come, and the staff digests, are planned too;
   a scheduled reminder for a report an office nudge covers in the same tick
   is recorded as skipped, so nobody gets both at once. At night (quiet hours)
   the plan is empty without a query.
2. **Claim** before sending, in one committed transaction:
   ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on the unique key (school,
   form, period, slot, recipient); only rows returned are ours. Older slots
   missed meanwhile are inserted as ``skipped`` so they never fire later.
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
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import func, select
from telegram import InlineKeyboardMarkup
from telegram.ext import Application, Job

from bot.core.catalogue import Form
from bot.delivery.send import PER_CHAT_INTERVAL, DeliveryResult, Outcome, Payload, bulk_budget, deliver
from bot.core.i18n import t
from bot.core.periods import Period, due_date, parse_period
from bot.delivery.markup import keyboard
from bot.reporting.codec import report_now
from scheduler.digests import (
    OverdueSchool,
    completeness_report,
    fmt_date,
    overdue_schools,
    render_escalation,
    render_weekly,
    when_text,
)
from scheduler.policy import (
    Rules,
    Slot,
    daily_digest_day,
    decide,
    manual_slot,
    open_periods,
    weekly_digest_day,
)
from storage.models import Person, Role, SendStatus
from storage.people import audit, set_blocked
from storage.reminders import (
    Candidate,
    ManualRow,
    Target,
    claim_digests,
    claim_manual,
    current_reporters,
    finish_digest,
    finish_reminder,
    gone_retries,
    insert_reminders,
    manual_rows,
    reclaim_reminders,
    release_digests,
    release_reminders,
    reminder_candidates,
    skip_gone_retries,
    skip_superseded,
    staff_without_digests,
    start_manual_now,
)

if TYPE_CHECKING:
    from bot.services import Services

__all__ = [
    "ADVISORY_LOCK_KEY",
    "DIGEST_ESCALATION",
    "DIGEST_WEEKLY",
    "lease_of",
    "MAX_ATTEMPTS",
    "NudgeOutcome",
    "Plan",
    "PlannedDigest",
    "DueReminders",
    "ReminderTicker",
    "TickReport",
    "plan_tick",
    "queue_nudges",
    "report_now_markup",
    "send_queued_now",
    "start_reminders",
    "ticker_of",
]

log = logging.getLogger(__name__)



def lease_of(settings: Any) -> timedelta:
    """How old a claim whose process never recorded an outcome must be to be taken again."""
    return timedelta(seconds=settings.send_lease_seconds)

# Why a reminder or nudge was not sent to someone who was a reporter when it was planned or queued.
NOT_A_REPORTER = "no longer a reporter"
# After this many failed tries a reminder is recorded as failed for good.
MAX_ATTEMPTS = 5
# pg_try_advisory_xact_lock key: "one reminder tick at a time" across processes on one database.
ADVISORY_LOCK_KEY = 0x5C_B0_7E_11
DIGEST_ESCALATION = "escalation"
DIGEST_WEEKLY = "weekly"
_JOB_NAME = "reminder-tick"

AnyApp = Application[Any, Any, Any, Any, Any, Any]


def report_now_markup(form: Form, period: Period, lang: str | None) -> InlineKeyboardMarkup | None:
    """The reminder's one button: opens ``form`` for ``period`` (the report conversation's ``go:`` button)."""
    return keyboard([[report_now(form, period, lang)]])


def reminder_text(
    *, school: str, form: Form, period: Period, today: date, lang: str | None, manual: bool = False
) -> str:
    """The message a reporter gets: which form, which period, when it is (was) due."""
    due = due_date(form, period)
    assert due is not None  # only forms with a due rule are reminded
    return t(
        lang,
        "reminders.nudge_message" if manual else "reminders.message",
        school=school,
        form=form.title.get(lang),
        period=period.label(lang),
        due=fmt_date(due, lang),
        when=when_text(due, today, lang),
    )


# --- the plan -------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """Who a reminder or digest goes to."""

    person_id: int
    telegram_id: int
    name: str
    language: str | None

    @property
    def lang(self) -> str:
        return self.language or "zh"


Action = Literal["send", "blocked", "busy", "covered"]
"""What the tick does with one planned reminder: send it; record it as blocked (not sent);
leave it for a later tick (a draft in progress); record it as skipped (an office nudge for the
same report goes out in this tick)."""

_ROW_STATUS: dict[str, tuple[SendStatus, str | None]] = {
    "send": (SendStatus.CLAIMED, None),
    "blocked": (SendStatus.BLOCKED, "blocked the bot before the slot"),
    "covered": (SendStatus.SKIPPED, "an office nudge for the same report went out instead"),
}


@dataclass(frozen=True)
class DueReminders:
    """One report's reminder due at this tick (a slot of a form and period) and who gets it.

    Columns per report rather than an object per recipient: what all recipients
    share is here once, and each recipient is the ``Candidate`` row as fetched
    (a tick over thousands of schools would otherwise spend most of its time
    building objects).
    """

    form: Form
    period: Period
    slot: Slot
    # Older slots passed unsent: recorded as skipped when this one is claimed.
    skip: tuple[str, ...]
    # New reporters in (school, person) order, then rows to take again; ``action`` is an ``Action``.
    candidates: list[Candidate]


@dataclass(frozen=True)
class PlannedDigest:
    """One staff member's digest of ``kind`` for ``day``; ``text`` None when there is nothing to say."""

    kind: str
    day: date
    recipient: Recipient
    text: str | None
    schools: int = 0
    unreachable: int = 0


@dataclass
class Plan:
    """Everything due at ``now``, before anything is claimed."""

    now: datetime
    rules: Rules
    reminders: list[DueReminders] = field(default_factory=list)
    manual: list[ManualRow] = field(default_factory=list)
    digests: list[PlannedDigest] = field(default_factory=list)
    # Digest kinds due now (kind → day), whether or not anyone still needs them.
    digests_due: dict[str, date] = field(default_factory=dict)
    # Reminders marked for retry whose recipient is no longer a reporter of the school: recorded skipped.
    gone: list[int] = field(default_factory=list)

    @property
    def may_send(self) -> bool:
        return self.rules.may_send(self.now)

    @property
    def empty(self) -> bool:
        return not (any(due.candidates for due in self.reminders) or self.manual or self.digests or self.gone)

    def by_action(self, action: str) -> list[tuple[DueReminders, Candidate]]:
        return [(due, c) for due in self.reminders for c in due.candidates if c.action == action]


async def plan_tick(services: "Services", now: datetime, *, digests_done: Mapping[str, date] | None = None) -> Plan:
    """What would go out at ``now`` given what the database already records (reads only).

    ``digests_done`` (kind → day) names digests this process already saw done
    for every staff member, so the tick need not ask again all day.
    """
    settings = services.settings
    rules = Rules.from_settings(settings)
    plan = Plan(now=now, rules=rules)
    if rules.is_quiet(now):
        # Nothing goes out unasked at night; a nudge confirmed for "now" was sent when confirmed.
        return plan
    lease_cutoff = now - lease_of(settings)
    idle_cutoff = now - timedelta(minutes=settings.draft_idle_minutes)
    async with services.db.session() as session:
        if rules.may_send(now):
            # Per report (form, period): the decision and the names of the slots it skips, worked
            # out once here rather than for each of possibly thousands of recipients.
            due: list[DueReminders] = []
            for form in services.catalogue:
                for period, slots in open_periods(form, now, rules):
                    decision = decide(slots, now, (), rules)
                    if decision is not None:
                        skipped = tuple(slot.name for slot in decision.skip)
                        due.append(DueReminders(form, period, decision.send, skipped, []))
            targets = [Target(d.form.key, d.form.programme, d.period.key, d.slot.name) for d in due]
            # An office nudge for the same report going out now stands in for the scheduled reminder.
            plan.manual = await manual_rows(session, now, lease_cutoff)
            nudged = {
                (row.school_id, row.form_key, row.period, row.person_id)
                for row in plan.manual
                if not (row.reported or row.blocked or not row.active)
            }
            found = await reminder_candidates(session, targets, lease_cutoff=lease_cutoff, idle_cutoff=idle_cutoff)
            for d, candidates in zip(due, found):
                if nudged:
                    candidates = [
                        c._replace(action="covered")
                        if c.action == "send" and (c.school_id, d.form.key, d.period.key, c.person_id) in nudged
                        else c
                        for c in candidates
                    ]
                d.candidates.extend(candidates)
            plan.reminders = [d for d in due if d.candidates]
            plan.gone = await gone_retries(session)
        else:
            # Staff nudges go out on holidays too: someone at the office asked for them.
            plan.manual = await manual_rows(session, now, lease_cutoff)
        plan.digests_due = _digests_due(services.settings, now, rules)
        wanted = {k: d for k, d in plan.digests_due.items() if (digests_done or {}).get(k) != d}
        plan.digests = await _plan_digests(session, services, now, rules, lease_cutoff, wanted)
    return plan


def _digests_due(settings: Any, now: datetime, rules: Rules) -> dict[str, date]:
    """Digest kinds due at ``now``, each with the day it is for."""
    due: dict[str, date] = {}
    day = daily_digest_day(now, settings.daily_digest_at, rules)
    if day is not None:
        due[DIGEST_ESCALATION] = day
    week_day = weekly_digest_day(now, settings.weekly_digest, rules)
    if week_day is not None:
        due[DIGEST_WEEKLY] = week_day
    return due


async def _plan_digests(
    session: Any, services: "Services", now: datetime, rules: Rules, lease_cutoff: datetime, due: dict[str, date]
) -> list[PlannedDigest]:
    settings = services.settings
    waiting = await staff_without_digests(session, due, lease_cutoff)
    out: list[PlannedDigest] = []
    today = rules.local(now).date()
    overdue: list[OverdueSchool] | None = None
    weekly: dict[int | None, Any] = {}
    for person, kinds in waiting:
        recipient = _recipient(person)
        if DIGEST_ESCALATION in kinds:
            if overdue is None:
                overdue = await overdue_schools(
                    session, services.catalogue, now, rules, min_days=settings.escalate_after_days
                )
            mine = _in_scope(overdue, person)
            text = render_escalation(mine, today, settings.escalate_after_days, recipient.lang) if mine else None
            unreachable = sum(1 for s in mine if s.unreachable)
            out.append(PlannedDigest(DIGEST_ESCALATION, due[DIGEST_ESCALATION], recipient, text, len(mine), unreachable))
        if DIGEST_WEEKLY in kinds:
            scope = _district_of(person)
            if scope not in weekly:
                weekly[scope] = await completeness_report(session, services.catalogue, now, rules, district_id=scope)
            text = render_weekly(weekly[scope], today, recipient.lang)
            out.append(PlannedDigest(DIGEST_WEEKLY, due[DIGEST_WEEKLY], recipient, text))
    return out


def _district_of(person: Person) -> int | None:
    """The district a staff member's digests cover; None (the whole city) for city staff and admins."""
    return person.district_id if person.role == Role.STAFF.value else None


def _in_scope(schools: Sequence[OverdueSchool], person: Person) -> list[OverdueSchool]:
    """Staff limited to a district see only that district."""
    scope = _district_of(person)
    if scope is None:
        return list(schools)
    return [s for s in schools if s.district_id == scope]


def _recipient(person: Person) -> Recipient:
    return Recipient(person.id, person.telegram_id, person.name, person.language)


# --- claiming and sending -------------------------------------------------------------


@dataclass
class TickReport:
    """What one tick (or one manual send) did, for logs, the CLI and tests."""

    ran: bool = True
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    retry: int = 0
    deferred: int = 0
    skipped: int = 0
    digests_sent: int = 0
    nudges_sent: int = 0

    def merge(self, other: "TickReport") -> None:
        for name in ("sent", "blocked", "failed", "retry", "deferred", "skipped", "digests_sent", "nudges_sent"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class _Job:
    """One claimed row to deliver."""

    table: Literal["reminder", "digest"]
    row_id: int
    chat_id: int
    person_id: int
    payload: Payload
    attempts: int
    manual: bool = False


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
        db = self.services.db
        if db.dialect != "postgresql" or not self.advisory_lock:
            yield True
            return
        async with db.engine.connect() as conn:
            async with conn.begin():
                ours = bool(await conn.scalar(select(func.pg_try_advisory_xact_lock(ADVISORY_LOCK_KEY))))
                # The lock goes with this transaction, which ends (rolls back) when the tick is done.
                yield ours

    # --- scheduled reminders ---

    async def _run_reminders(self, plan: Plan) -> TickReport:
        report = TickReport(deferred=len(plan.by_action("busy")))
        wanted = [(due, c) for due in plan.reminders for c in due.candidates if c.action != "busy"]
        if not wanted:
            return report
        now = plan.now
        today = plan.rules.local(now).date()
        won: list[tuple[int, DueReminders, Candidate]] = []
        async with self.services.db.session() as session:
            fresh = [(due, c) for due, c in wanted if c.send_id is None]
            rows = [
                {
                    "school_id": c.school_id,
                    "form_key": due.form.key,
                    "period": due.period.key,
                    "slot": due.slot.name,
                    "recipient_id": c.person_id,
                    "status": _ROW_STATUS[c.action][0].value,
                    "error": _ROW_STATUS[c.action][1],
                    "claimed_at": now,
                }
                for due, c in fresh
            ]
            inserted = await insert_reminders(session, rows)
            for due, c in fresh:
                row_id = inserted.get((c.school_id, due.form.key, due.period.key, due.slot.name, c.person_id))
                if row_id is not None:
                    won.append((row_id, due, c))
            for action, (status, _) in _ROW_STATUS.items():
                again = [(c.send_id, due, c) for due, c in wanted if c.send_id is not None and c.action == action]
                if again:
                    taken = await reclaim_reminders(
                        session, [send_id for send_id, _, _ in again], now, now - lease_of(self.services.settings), status=status.value
                    )
                    won.extend(item for item in again if item[0] in taken)
            # Older slots passed unsent never fire later, not even after a clock jump back.
            skipped = [
                {
                    "school_id": c.school_id,
                    "form_key": due.form.key,
                    "period": due.period.key,
                    "slot": name,
                    "recipient_id": c.person_id,
                    "status": SendStatus.SKIPPED.value,
                    "error": f"missed; {due.slot.name} sent instead",
                    "claimed_at": now,
                }
                for _, due, c in won
                for name in due.skip
            ]
            report.skipped += len(await insert_reminders(session, skipped))
            # Per report, the reporters whose older slots are now superseded.
            superseded: dict[tuple[str, str], list[int]] = defaultdict(list)
            for _, due, c in won:
                if due.skip:
                    superseded[(due.form.key, due.period.key)].append(c.person_id)
            for due in plan.reminders:
                people = superseded.get((due.form.key, due.period.key))
                if people:
                    await skip_superseded(session, form_key=due.form.key, period=due.period.key, slots=due.skip, recipient_ids=people)
        report.blocked += sum(1 for _, _, c in won if c.action == "blocked")
        report.skipped += sum(1 for _, _, c in won if c.action == "covered")
        sending = [(row_id, due, c) for row_id, due, c in won if c.action == "send"]
        if sending:
            # The plan may be a moment old: whoever stopped being this school's reporter since gets nothing.
            async with self.services.db.session() as session:
                current = await current_reporters(session, [(c.person_id, c.school_id) for _, _, c in sending])
                gone = [row_id for row_id, _, c in sending if (c.person_id, c.school_id) not in current]
                for row_id in gone:
                    await finish_reminder(session, row_id, SendStatus.SKIPPED.value, now, NOT_A_REPORTER)
            report.skipped += len(gone)
            won = [item for item in won if item[0] not in set(gone)]
        jobs = [
            _Job(
                "reminder",
                row_id,
                c.telegram_id,
                c.person_id,
                Payload(
                    text=reminder_text(school=c.school_name, form=due.form, period=due.period, today=today, lang=c.lang),
                    reply_markup=report_now_markup(due.form, due.period, c.lang),
                ),
                c.attempts,
            )
            for row_id, due, c in won
            if c.action == "send"
        ]
        report.merge(await self._deliver_all(jobs))
        return report

    # --- manual nudges ---

    async def _run_manual(self, rows: Sequence[ManualRow], now: datetime) -> TickReport:
        report = TickReport()
        if not rows:
            return report
        today = Rules.from_settings(self.services.settings).local(now).date()
        async with self.services.db.session() as session:
            taken = await claim_manual(session, [row.send_id for row in rows], now, now - lease_of(self.services.settings))
            # Queued maybe hours ago (quiet hours): asked again now, after the claim.
            current = await current_reporters(
                session, [(row.person_id, row.school_id) for row in rows if row.send_id in taken]
            )
        jobs: list[_Job] = []
        finals: list[tuple[int, str, str]] = []
        for row in rows:
            if row.send_id not in taken:
                continue
            found = self._form_period(row.form_key, row.period)
            if found is None:
                finals.append((row.send_id, SendStatus.FAILED.value, "form or period no longer in the catalogue"))
            elif row.reported:
                finals.append((row.send_id, SendStatus.SKIPPED.value, "reported before the nudge went out"))
            elif not row.active or (row.person_id, row.school_id) not in current:
                finals.append((row.send_id, SendStatus.SKIPPED.value, NOT_A_REPORTER))
            elif row.blocked:
                finals.append((row.send_id, SendStatus.BLOCKED.value, "blocked the bot"))
            else:
                form, period = found
                lang = row.language or "zh"
                text = reminder_text(school=row.school_name, form=form, period=period, today=today, lang=lang, manual=True)
                payload = Payload(text=text, reply_markup=report_now_markup(form, period, lang))
                jobs.append(_Job("reminder", row.send_id, row.telegram_id, row.person_id, payload, row.attempts, manual=True))
        if finals:
            async with self.services.db.session() as session:
                for row_id, status, error in finals:
                    await finish_reminder(session, row_id, status, now, error)
            report.blocked += sum(1 for _, status, _ in finals if status == SendStatus.BLOCKED.value)
            report.skipped += sum(1 for _, status, _ in finals if status == SendStatus.SKIPPED.value)
        report.merge(await self._deliver_all(jobs))
        return report

    def _form_period(self, form_key: str, period_key: str) -> tuple[Form, Period] | None:
        try:
            form = self.services.catalogue.get(form_key)
            period = parse_period(form.period_cadence, period_key)
        except (KeyError, ValueError):
            return None
        if form.due_days is None:
            return None
        return form, period

    # --- digests ---

    async def _run_digests(self, plan: Plan) -> TickReport:
        report = TickReport()
        if not plan.digests:
            return report
        now = plan.now
        jobs: list[_Job] = []
        async with self.services.db.session() as session:
            for kind in (DIGEST_ESCALATION, DIGEST_WEEKLY):
                for day in sorted({d.day for d in plan.digests if d.kind == kind}):
                    digests = [d for d in plan.digests if d.kind == kind and d.day == day]
                    # Nothing to say is recorded too, so later ticks today do not recompute it.
                    await claim_digests(
                        session,
                        kind=kind,
                        day=day,
                        recipient_ids=[d.recipient.person_id for d in digests if d.text is None],
                        now=now,
                        lease_cutoff=now - lease_of(self.services.settings),
                        status=SendStatus.SKIPPED.value,
                        error="nothing to report",
                    )
                    with_text = [d for d in digests if d.text is not None]
                    won = await claim_digests(
                        session,
                        kind=kind,
                        day=day,
                        recipient_ids=[d.recipient.person_id for d in with_text],
                        now=now,
                        lease_cutoff=now - lease_of(self.services.settings),
                    )
                    for d in with_text:
                        claim = won.get(d.recipient.person_id)
                        if claim is not None and d.text is not None:
                            row_id, attempts = claim
                            payload = Payload(text=d.text)
                            jobs.append(_Job("digest", row_id, d.recipient.telegram_id, d.recipient.person_id, payload, attempts))
        report.merge(await self._deliver_all(jobs))
        return report

    # --- delivery ---

    async def _deliver_all(self, jobs: Sequence[_Job]) -> TickReport:
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

    async def _record(self, job: _Job, result: DeliveryResult, report: TickReport) -> None:
        now = self.services.clock.now()
        status = {
            Outcome.SENT: SendStatus.SENT,
            Outcome.BLOCKED: SendStatus.BLOCKED,
            Outcome.FAILED: SendStatus.FAILED,
            Outcome.RETRY: SendStatus.RETRY,
        }[result.outcome]
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


def _interleave_chats(jobs: Sequence[_Job]) -> list[_Job]:
    """Order sends so one chat's messages are spread out (Telegram allows about one a second per chat)."""
    seen: dict[int, int] = defaultdict(int)
    ranked = []
    for index, job in enumerate(jobs):
        ranked.append((seen[job.chat_id], index, job))
        seen[job.chat_id] += 1
    return [job for _, _, job in sorted(ranked, key=lambda item: (item[0], item[1]))]


# --- manual nudges from the office -------------------------------------------------------


@dataclass
class NudgeOutcome:
    """What queuing a staff nudge did."""

    slot: str
    # Schools with at least one reachable reporter, and those with none.
    schools: list[OverdueSchool]
    unreachable: list[OverdueSchool]
    # Reporters newly queued (0 when the same minute's nudge was already queued).
    queued: int
    # When the nudge goes out: now, or the end of the quiet hours.
    not_before: datetime
    quiet: bool


async def queue_nudges(
    services: "Services",
    schools: Sequence[OverdueSchool],
    *,
    actor: int,
    now: datetime,
    district_id: int | None = None,
) -> NudgeOutcome:
    """Record a nudge for every reporter of ``schools`` and each of their overdue reports.

    Rows are ``pending`` until ``not_before``: now, or the end of the quiet hours
    when it is night (the staff member may then confirm sending at once). The
    slot is the local minute, so pressing twice in a minute queues nothing more.
    ``district_id`` is the actor's district: schools outside it are never nudged,
    whatever the caller passed. One audit row per school nudged.
    """
    if district_id is not None:
        schools = [school for school in schools if school.district_id == district_id]
    rules = Rules.from_settings(services.settings)
    quiet = rules.is_quiet(now)
    not_before = rules.end_of_quiet(now) if quiet else now
    slot = manual_slot(now, rules.tz)
    reachable = [school for school in schools if not school.unreachable]
    rows = [
        {
            "school_id": school.school_id,
            "form_key": item.form.key,
            "period": item.period.key,
            "slot": slot,
            "recipient_id": reporter.person_id,
            "status": SendStatus.PENDING.value,
            "claimed_at": now,
            "not_before": not_before,
            "requested_by": actor,
        }
        for school in reachable
        for item in school.items
        for reporter in school.reachable_reporters
    ]
    async with services.db.session() as session:
        inserted = await insert_reminders(session, rows)
        queued_per_school: dict[int, int] = defaultdict(int)
        for key in inserted:
            queued_per_school[key[0]] += 1
        for school in reachable:
            # Only a press that queued something is a change (the same minute pressed again is not).
            if queued_per_school.get(school.school_id):
                audit(
                    session,
                    now,
                    actor,
                    "nudge",
                    school.code,
                    slot=slot,
                    reports=[f"{i.form.key}:{i.period.key}" for i in school.items],
                    queued=queued_per_school[school.school_id],
                    quiet=quiet,
                )
    return NudgeOutcome(
        slot=slot,
        schools=reachable,
        unreachable=[school for school in schools if school.unreachable],
        queued=len(inserted),
        not_before=not_before,
        quiet=quiet,
    )


async def send_queued_now(
    services: "Services",
    *,
    slot: str,
    now: datetime,
    actor: int,
    district_id: int | None = None,
    school_id: int | None = None,
    form_key: str | None = None,
    period: str | None = None,
) -> int:
    """A staff member confirmed: their own queued nudges of ``slot`` (in their district) go now, not after the quiet hours."""
    async with services.db.session() as session:
        return await start_manual_now(
            session,
            now,
            slot=slot,
            school_id=school_id,
            form_key=form_key,
            period=period,
            requested_by=actor,
            district_id=district_id,
        )


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
