"""What the tick would send now, read from the database and the clock: reminders, nudges, digests.

The plan is read-only (also what ``schoolbot reminders --at`` prints): for
each form with a due rule and each open period whose first slot has come, the
policy (``scheduler/policy.py``) names the latest due slot; one SQL anti-join
finds the reporters of schools without a current report whose row for that
slot is missing (or marked for retry). Reporters who blocked the bot are to be
recorded as ``blocked`` without a send; reporters with a draft touched in the
last ``DRAFT_IDLE_MINUTES`` are left for a later tick. Manual nudges whose
time has come, and the staff digests, are planned too; a scheduled reminder
for a report an office nudge covers in the same tick is to be recorded as
skipped, so nobody gets both at once. At night (quiet hours) the plan is empty
without a query. The pure steps (``due_reminders``, ``cover_nudged``) are
tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from bot.core.catalogue import Form
from bot.core.periods import Period
from bot.render.digest import render_escalation, render_weekly
from scheduler.digests import OverdueSchool, completeness_report, overdue_schools
from scheduler.policy import Rules, Slot, daily_digest_day, decide, open_periods, weekly_digest_day
from storage.digests import staff_without_digests
from storage.models import Person, Role
from storage.nudges import ManualRow, manual_rows
from storage.reminders import Candidate, Target, gone_retries, reminder_candidates

if TYPE_CHECKING:
    from bot.services import Services

__all__ = [
    "DIGEST_ESCALATION",
    "DIGEST_WEEKLY",
    "Action",
    "DueReminders",
    "Plan",
    "PlannedDigest",
    "Recipient",
    "cover_nudged",
    "due_reminders",
    "lease_of",
    "plan_tick",
]

DIGEST_ESCALATION = "escalation"
DIGEST_WEEKLY = "weekly"


def lease_of(settings: Any) -> timedelta:
    """How old a claim whose process never recorded an outcome must be to be taken again."""
    return timedelta(seconds=settings.send_lease_seconds)


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
    async with services.db.session() as session:
        # Staff nudges go out on holidays too: someone at the office asked for them.
        plan.manual = await manual_rows(session, now, lease_cutoff)
        if rules.may_send(now):
            idle_cutoff = now - timedelta(minutes=settings.draft_idle_minutes)
            due = due_reminders(services.catalogue, now, rules)
            targets = [Target(d.form.key, d.form.programme, d.period.key, d.slot.name) for d in due]
            found = await reminder_candidates(session, targets, lease_cutoff=lease_cutoff, idle_cutoff=idle_cutoff)
            plan.reminders = cover_nudged(due, found, plan.manual)
            plan.gone = await gone_retries(session)
        plan.digests_due = _digests_due(services.settings, now, rules)
        wanted = {k: d for k, d in plan.digests_due.items() if (digests_done or {}).get(k) != d}
        plan.digests = await _plan_digests(session, services, now, rules, lease_cutoff, wanted)
    return plan


def due_reminders(forms: Iterable[Form], now: datetime, rules: Rules) -> list[DueReminders]:
    """Per report (form, period), the slot due now and the older slots it skips, nobody assigned yet (pure).

    Worked out once per report rather than for each of possibly thousands of recipients.
    """
    due: list[DueReminders] = []
    for form in forms:
        for period, slots in open_periods(form, now, rules):
            decision = decide(slots, now, (), rules)
            if decision is not None:
                skipped = tuple(slot.name for slot in decision.skip)
                due.append(DueReminders(form, period, decision.send, skipped, []))
    return due


def cover_nudged(
    due: Sequence[DueReminders], found: Sequence[list[Candidate]], manual: Sequence[ManualRow]
) -> list[DueReminders]:
    """Give each report its candidates; one an office nudge going out now covers is ``covered`` (pure).

    Returns the reports with at least one candidate.
    """
    nudged = {
        (row.school_id, row.form_key, row.period, row.person_id)
        for row in manual
        if not (row.reported or row.blocked or not row.active)
    }
    for d, candidates in zip(due, found):
        if nudged:
            candidates = [
                c._replace(action="covered")
                if c.action == "send" and (c.school_id, d.form.key, d.period.key, c.person_id) in nudged
                else c
                for c in candidates
            ]
        d.candidates.extend(candidates)
    return [d for d in due if d.candidates]


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
                overdue = await overdue_schools(session, services.catalogue, now, rules, min_days=settings.escalate_after_days)
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
