"""Claiming what a plan found, before anything is sent: each claimed row becomes one ``Delivery``.

All claims are taken in one committed transaction per kind, through the
outbox vocabulary of ``storage.outbox``: ``INSERT ... ON CONFLICT DO NOTHING
RETURNING`` on the unique key (school, form, period, slot, recipient) for new
rows, a conditional re-take for retries and dead claims; only rows returned are
ours. Older slots missed meanwhile are inserted as ``skipped`` so they never
fire later. The ticker (``scheduler.tick``) then delivers and records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup

from bot.core.catalogue import Catalogue, Form
from bot.core.periods import Period, parse_period
from bot.delivery.markup import keyboard
from bot.delivery.send import Payload
from bot.render.reminder import reminder_text
from bot.reporting.codec import report_now
from scheduler.nudges import NOT_A_REPORTER, nudge_verdict
from scheduler.plan import DIGEST_ESCALATION, DIGEST_WEEKLY, DueReminders, Plan, lease_of
from storage.digests import claim_digests
from storage.models import SendStatus
from storage.nudges import ManualRow, claim_manual
from storage.reminders import (
    Candidate,
    current_reporters,
    finish_reminder,
    insert_reminders,
    reclaim_reminders,
    skip_superseded,
)

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["Delivery", "TickReport", "claim_digest_rows", "claim_nudges", "claim_reminders", "report_now_markup"]

# What a planned reminder's row is recorded as when claimed, per action (``busy`` is not claimed).
_ROW_STATUS: dict[str, tuple[SendStatus, str | None]] = {
    "send": (SendStatus.CLAIMED, None),
    "blocked": (SendStatus.BLOCKED, "blocked the bot before the slot"),
    "covered": (SendStatus.SKIPPED, "an office nudge for the same report went out instead"),
}

_Won = tuple[int, DueReminders, Candidate]


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
class Delivery:
    """One claimed row to deliver."""

    table: Literal["reminder", "digest"]
    row_id: int
    chat_id: int
    person_id: int
    payload: Payload
    attempts: int
    manual: bool = False


def report_now_markup(form: Form, period: Period, lang: str | None) -> InlineKeyboardMarkup | None:
    """The reminder's one button: opens ``form`` for ``period`` (the report conversation's ``go:`` button)."""
    return keyboard([[report_now(form, period, lang)]])


def _reminder_payload(school: str, form: Form, period: Period, today: date, lang: str, *, manual: bool = False) -> Payload:
    text = reminder_text(school=school, form=form, period=period, today=today, lang=lang, manual=manual)
    return Payload(text=text, reply_markup=report_now_markup(form, period, lang))


# --- scheduled reminders ----------------------------------------------------------------


def _row(due: DueReminders, c: Candidate, slot: str, status: str, error: str | None, now: datetime) -> dict[str, Any]:
    return {
        "school_id": c.school_id,
        "form_key": due.form.key,
        "period": due.period.key,
        "slot": slot,
        "recipient_id": c.person_id,
        "status": status,
        "error": error,
        "claimed_at": now,
    }


async def _claim_planned(
    session: AsyncSession, wanted: Sequence[tuple[DueReminders, Candidate]], now: datetime, lease_cutoff: datetime
) -> list[_Won]:
    """Insert the new rows and re-take the rows meant for another try; returns those won."""
    won: list[_Won] = []
    fresh = [(due, c) for due, c in wanted if c.send_id is None]
    rows = [_row(due, c, due.slot.name, _ROW_STATUS[c.action][0].value, _ROW_STATUS[c.action][1], now) for due, c in fresh]
    inserted = await insert_reminders(session, rows)
    for due, c in fresh:
        row_id = inserted.get((c.school_id, due.form.key, due.period.key, due.slot.name, c.person_id))
        if row_id is not None:
            won.append((row_id, due, c))
    for action, (status, _) in _ROW_STATUS.items():
        again = [(c.send_id, due, c) for due, c in wanted if c.send_id is not None and c.action == action]
        if again:
            taken = await reclaim_reminders(session, [send_id for send_id, _, _ in again], now, lease_cutoff, status=status.value)
            won.extend(item for item in again if item[0] in taken)
    return won


async def _skip_older(session: AsyncSession, plan: Plan, won: Sequence[_Won]) -> int:
    """Older slots passed unsent never fire later, not even after a clock jump back; returns how many were recorded."""
    skipped = [
        _row(due, c, name, SendStatus.SKIPPED.value, f"missed; {due.slot.name} sent instead", plan.now)
        for _, due, c in won
        for name in due.skip
    ]
    count = len(await insert_reminders(session, skipped))
    # Per report, the reporters whose older slots are now superseded.
    superseded: dict[tuple[str, str], list[int]] = defaultdict(list)
    for _, due, c in won:
        if due.skip:
            superseded[(due.form.key, due.period.key)].append(c.person_id)
    for due in plan.reminders:
        people = superseded.get((due.form.key, due.period.key))
        if people:
            await skip_superseded(session, form_key=due.form.key, period=due.period.key, slots=due.skip, recipient_ids=people)
    return count


async def _drop_gone(services: "Services", won: list[_Won], now: datetime) -> tuple[list[_Won], int]:
    """The plan may be a moment old: whoever stopped being this school's reporter since gets nothing."""
    sending = [(row_id, c) for row_id, _, c in won if c.action == "send"]
    if not sending:
        return won, 0
    async with services.db.session() as session:
        current = await current_reporters(session, [(c.person_id, c.school_id) for _, c in sending])
        gone = {row_id for row_id, c in sending if (c.person_id, c.school_id) not in current}
        for row_id in sorted(gone):
            await finish_reminder(session, row_id, SendStatus.SKIPPED.value, now, NOT_A_REPORTER)
    return [item for item in won if item[0] not in gone], len(gone)


async def claim_reminders(services: "Services", plan: Plan) -> tuple[list[Delivery], TickReport]:
    """Claim the plan's scheduled reminders; the deliveries to make, and what the claim already recorded."""
    report = TickReport(deferred=len(plan.by_action("busy")))
    wanted = [(due, c) for due in plan.reminders for c in due.candidates if c.action != "busy"]
    if not wanted:
        return [], report
    now = plan.now
    async with services.db.session() as session:
        won = await _claim_planned(session, wanted, now, now - lease_of(services.settings))
        report.skipped += await _skip_older(session, plan, won)
    report.blocked += sum(1 for _, _, c in won if c.action == "blocked")
    report.skipped += sum(1 for _, _, c in won if c.action == "covered")
    won, gone = await _drop_gone(services, won, now)
    report.skipped += gone
    today = plan.rules.local(now).date()
    jobs = [
        Delivery(
            "reminder",
            row_id,
            c.telegram_id,
            c.person_id,
            _reminder_payload(c.school_name, due.form, due.period, today, c.lang),
            c.attempts,
        )
        for row_id, due, c in won
        if c.action == "send"
    ]
    return jobs, report


# --- manual nudges --------------------------------------------------------------------------


def _form_period(catalogue: Catalogue, form_key: str, period_key: str) -> tuple[Form, Period] | None:
    try:
        form = catalogue.get(form_key)
        period = parse_period(form.period_cadence, period_key)
    except (KeyError, ValueError):
        return None
    if form.due_days is None:
        return None
    return form, period


async def claim_nudges(
    services: "Services", rows: Sequence[ManualRow], now: datetime, today: date
) -> tuple[list[Delivery], TickReport]:
    """Claim manual nudges whose time came; those that no longer apply are recorded at once, not delivered."""
    report = TickReport()
    if not rows:
        return [], report
    async with services.db.session() as session:
        taken = await claim_manual(session, [row.send_id for row in rows], now, now - lease_of(services.settings))
        # Queued maybe hours ago (quiet hours): asked again now, after the claim.
        current = await current_reporters(session, [(row.person_id, row.school_id) for row in rows if row.send_id in taken])
    jobs: list[Delivery] = []
    finals: list[tuple[int, str, str]] = []
    for row in (row for row in rows if row.send_id in taken):
        found = _form_period(services.catalogue, row.form_key, row.period)
        verdict = nudge_verdict(row, known=found is not None, still_reporter=(row.person_id, row.school_id) in current)
        if verdict is not None:
            finals.append((row.send_id, *verdict))
        elif found is not None:
            payload = _reminder_payload(row.school_name, *found, today, row.language or "zh", manual=True)
            jobs.append(Delivery("reminder", row.send_id, row.telegram_id, row.person_id, payload, row.attempts, manual=True))
    if finals:
        async with services.db.session() as session:
            for row_id, status, error in finals:
                await finish_reminder(session, row_id, status, now, error)
        report.blocked += sum(1 for _, status, _ in finals if status == SendStatus.BLOCKED.value)
        report.skipped += sum(1 for _, status, _ in finals if status == SendStatus.SKIPPED.value)
    return jobs, report


# --- digests --------------------------------------------------------------------------------


async def claim_digest_rows(services: "Services", plan: Plan) -> list[Delivery]:
    """Claim the plan's digests; one with nothing to say is recorded too, so later ticks today do not recompute it."""
    if not plan.digests:
        return []
    now = plan.now
    lease_cutoff = now - lease_of(services.settings)
    jobs: list[Delivery] = []
    async with services.db.session() as session:
        for kind in (DIGEST_ESCALATION, DIGEST_WEEKLY):
            for day in sorted({d.day for d in plan.digests if d.kind == kind}):
                digests = [d for d in plan.digests if d.kind == kind and d.day == day]
                empty = [d.recipient.person_id for d in digests if d.text is None]
                await claim_digests(
                    session,
                    kind=kind,
                    day=day,
                    recipient_ids=empty,
                    now=now,
                    lease_cutoff=lease_cutoff,
                    status=SendStatus.SKIPPED.value,
                    error="nothing to report",
                )
                with_text = [d for d in digests if d.text is not None]
                ids = [d.recipient.person_id for d in with_text]
                won = await claim_digests(session, kind=kind, day=day, recipient_ids=ids, now=now, lease_cutoff=lease_cutoff)
                for d in with_text:
                    claim = won.get(d.recipient.person_id)
                    if claim is not None and d.text is not None:
                        row_id, attempts = claim
                        jobs.append(
                            Delivery(
                                "digest", row_id, d.recipient.telegram_id, d.recipient.person_id, Payload(text=d.text), attempts
                            )
                        )
    return jobs
