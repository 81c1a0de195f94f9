"""Queries behind manual nudges: staff-queued reminders waiting for their moment, then claimed and sent.

A nudge is a ``reminder_sends`` row with a ``manual-<minute>`` slot, queued
``pending`` until ``not_before`` (now, or the end of the quiet hours). It is
claimed like any reminder (``storage.outbox`` over ``REMINDERS``), with the
queued rows whose time came claimable too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import outbox
from storage.models import Person, ReminderSend, Report, School
from storage.models.reminders import SendStatus
from storage.people import REPORTS_FOR_SCHOOL
from storage.reminders import REMINDERS
from storage.reports import COUNTED

__all__ = ["ManualRow", "claim_manual", "manual_rows", "school_in_scope", "start_manual_now"]


@dataclass(frozen=True)
class ManualRow:
    """A staff nudge for one reporter, with what is needed to send it and to check it still applies."""

    send_id: int
    status: str
    school_id: int
    school_name: str
    form_key: str
    period: str
    slot: str
    person_id: int
    telegram_id: int
    person_name: str
    language: str | None
    blocked: bool
    # Still an active principal of ``school_id`` (not deactivated, moved or given another role).
    active: bool
    reported: bool
    attempts: int


def _ready(now: datetime, lease_cutoff: datetime) -> ColumnElement[bool]:
    """A manual row that may go now: pending with ``not_before`` passed, a retry, or a dead claim."""
    return outbox.claimable(REMINDERS, lease_cutoff, now=now, queued=True)


def _manual_columns() -> list[Any]:
    """The columns of ``ManualRow``, in its order, over sends ⋈ schools ⋈ people."""
    reported = exists().where(
        Report.school_id == ReminderSend.school_id,
        Report.form_key == ReminderSend.form_key,
        Report.period == ReminderSend.period,
        COUNTED,
    )
    # Still a reporter of that school: active, principal or deputy, not moved elsewhere since queueing.
    still_reporter = and_(Person.active.is_(True), REPORTS_FOR_SCHOOL, Person.school_id == ReminderSend.school_id)
    return [
        ReminderSend.id.label("send_id"),
        ReminderSend.status,
        ReminderSend.school_id,
        School.name.label("school_name"),
        ReminderSend.form_key,
        ReminderSend.period,
        ReminderSend.slot,
        Person.id.label("person_id"),
        Person.telegram_id,
        Person.name.label("person_name"),
        Person.language,
        Person.blocked,
        still_reporter.label("active"),
        reported.label("reported"),
        ReminderSend.attempts,
    ]


def _filtered(stmt: Any, filters: dict[str, Any]) -> Any:
    """Narrow a statement over ``reminder_sends`` to the given column values (None: any)."""
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(ReminderSend, name) == value)
    return stmt


def _manual_row(row: Any) -> ManualRow:
    flags = {name: bool(row[name]) for name in ("blocked", "active", "reported")}
    return ManualRow(**{**row, **flags, "attempts": row["attempts"] or 0})


async def manual_rows(
    session: AsyncSession,
    now: datetime,
    lease_cutoff: datetime,
    *,
    slot: str | None = None,
    school_id: int | None = None,
    form_key: str | None = None,
    period: str | None = None,
) -> list[ManualRow]:
    """Manual nudges ready to go: pending with ``not_before`` passed, retries, and dead claims."""
    stmt = (
        select(*_manual_columns())
        .join(School, School.id == ReminderSend.school_id)
        .join(Person, Person.id == ReminderSend.recipient_id)
        .where(ReminderSend.slot.like("manual-%"), _ready(now, lease_cutoff))
        .order_by(ReminderSend.id)
    )
    stmt = _filtered(stmt, {"slot": slot, "school_id": school_id, "form_key": form_key, "period": period})
    return [_manual_row(row) for row in (await session.execute(stmt)).mappings()]


async def claim_manual(session: AsyncSession, ids: Sequence[int], now: datetime, lease_cutoff: datetime) -> set[int]:
    """Take manual rows for sending: pending ones due, retries, dead claims; returns the ids taken."""
    values = {"status": SendStatus.CLAIMED.value, "claimed_at": now}
    rows = await outbox.take(session, REMINDERS, [_ready(now, lease_cutoff)], values=values, ids=ids)
    return {row[0] for row in rows}


async def start_manual_now(
    session: AsyncSession,
    now: datetime,
    *,
    slot: str,
    school_id: int | None = None,
    form_key: str | None = None,
    period: str | None = None,
    requested_by: int | None = None,
    district_id: int | None = None,
) -> int:
    """A staff member confirmed sending queued nudges now: bring their ``not_before`` forward.

    ``requested_by`` (a Telegram id) limits it to that staff member's own nudges,
    ``district_id`` to schools of that district.
    """
    stmt = update(ReminderSend).where(
        ReminderSend.slot == slot, ReminderSend.status == SendStatus.PENDING.value, ReminderSend.not_before > now
    )
    if district_id is not None:
        stmt = stmt.where(ReminderSend.school_id.in_(select(School.id).where(School.district_id == district_id)))
    filters = {"requested_by": requested_by, "school_id": school_id, "form_key": form_key, "period": period}
    stmt = _filtered(stmt, filters)
    result = await session.execute(stmt.values(not_before=now).returning(ReminderSend.id))
    return len(result.scalars().all())


async def school_in_scope(session: AsyncSession, school_id: int, district_id: int | None) -> School | None:
    """The school, if it exists and lies in ``district_id`` (any district for None)."""
    school = await session.get(School, school_id)
    if school is None or (district_id is not None and school.district_id != district_id):
        return None
    return school
