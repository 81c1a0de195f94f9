"""Manual nudges from the office: queued per reporter and overdue report, sent by the tick when their time comes.

``queue_nudges`` records a ``pending`` row per reporter (``/overdue``'s button,
via ``bot.office.nudges``); ``send_queued_now`` brings a night-time nudge
forward when the staff member confirms; the ticker (``scheduler.tick``) claims
and sends them, asking ``nudge_verdict`` whether each still applies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scheduler.digests import OverdueSchool
from scheduler.policy import Rules, manual_slot
from storage.models import SendStatus
from storage.nudges import ManualRow, start_manual_now
from storage.people import audit
from storage.reminders import insert_reminders

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["NOT_A_REPORTER", "NudgeOutcome", "nudge_rows", "nudge_verdict", "queue_nudges", "send_queued_now"]

# Why a reminder or nudge was not sent to someone who was a reporter when it was planned or queued.
NOT_A_REPORTER = "no longer a reporter"


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
    async with services.db.session() as session:
        inserted = await insert_reminders(session, nudge_rows(reachable, slot=slot, now=now, not_before=not_before, actor=actor))
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


def nudge_rows(
    schools: Sequence[OverdueSchool], *, slot: str, now: datetime, not_before: datetime, actor: int
) -> list[dict[str, Any]]:
    """One pending send row per reachable reporter of each school and each of its overdue reports (pure)."""
    return [
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
        for school in schools
        for item in school.items
        for reporter in school.reachable_reporters
    ]


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


def nudge_verdict(row: ManualRow, *, known: bool, still_reporter: bool) -> tuple[str, str] | None:
    """Why a claimed nudge is not sent after all, as (status, error); None: send it (pure).

    ``known``: its form and period are still in the catalogue; ``still_reporter``:
    the person is still an active principal of the school, asked after the claim.
    """
    if not known:
        return SendStatus.FAILED.value, "form or period no longer in the catalogue"
    if row.reported:
        return SendStatus.SKIPPED.value, "reported before the nudge went out"
    if not row.active or not still_reporter:
        return SendStatus.SKIPPED.value, NOT_A_REPORTER
    if row.blocked:
        return SendStatus.BLOCKED.value, "blocked the bot"
    return None
