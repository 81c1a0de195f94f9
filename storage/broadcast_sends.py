"""The broadcast sender's side of the outbox: claiming rows with a lease, recording outcomes, finishing.

The policy is in ``storage.broadcasts``' docstring; the vocabulary (claimable,
claim, fenced record) is ``storage.outbox``'s, over ``BROADCASTS``: a claim
sets ``status='sending'``, ``lease_until = now + lease`` and ``attempts += 1``
(its fencing token) in one ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP
LOCKED) RETURNING``; a record is written only while that claim still holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import outbox
from storage.broadcasts import BROADCASTS, DEFAULT_LEASE
from storage.models import Broadcast, BroadcastStatus, OutboxRow, OutboxStatus, Person, Role
from storage.models.broadcasts import OPEN_STATUSES
from storage.people import REPORTS_FOR_SCHOOL

__all__ = [
    "NOT_IN_AUDIENCE",
    "ClaimedRow",
    "author_language",
    "authors_of",
    "claim_progress_edit",
    "claim_rows",
    "drop_stale_recipients",
    "finish_broadcasts",
    "next_due",
    "record_blocked",
    "record_failed",
    "record_parts",
    "record_retry",
    "record_sent",
]


@dataclass(frozen=True)
class ClaimedRow:
    """A row this worker holds until ``lease_until``; ``attempts`` is its fencing token."""

    id: int
    broadcast_id: int
    person_id: int
    chat_id: int
    attempts: int
    parts_sent: int
    maybe_duplicate: bool


def _sending_broadcasts() -> ColumnElement[bool]:
    return OutboxRow.broadcast_id.in_(select(Broadcast.id).where(Broadcast.status == BroadcastStatus.SENDING.value))


async def claim_rows(
    session: AsyncSession, now: datetime, *, limit: int, worker: str, lease: timedelta = DEFAULT_LEASE
) -> list[ClaimedRow]:
    """Claim up to ``limit`` sendable rows (oldest first) for ``worker`` until ``now + lease``."""
    if limit <= 0:
        return []
    values = {
        # SET sees the old values: a row taken over from an expired lease may have been sent already.
        "maybe_duplicate": or_(OutboxRow.maybe_duplicate, OutboxRow.status == OutboxStatus.SENDING.value),
        "status": OutboxStatus.SENDING.value,
        "lease_until": now + lease,
        "attempts": OutboxRow.attempts + 1,
        "worker": worker,
    }
    returning = (
        OutboxRow.id,
        OutboxRow.broadcast_id,
        OutboxRow.person_id,
        OutboxRow.chat_id,
        OutboxRow.attempts,
        OutboxRow.parts_sent,
        OutboxRow.maybe_duplicate,
    )
    where = and_(_sending_broadcasts(), outbox.claimable(BROADCASTS, now, now=now))
    result = await outbox.claim_batch(session, BROADCASTS, where, limit=limit, values=values, returning=returning)
    rows = [ClaimedRow(int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]), bool(r[6])) for r in result]
    return sorted(rows, key=lambda r: r.id)


async def next_due(session: AsyncSession) -> datetime | None:
    """When the soonest row waiting out a back-off becomes claimable (None if none waits)."""
    return await session.scalar(
        select(func.min(OutboxRow.not_before)).where(OutboxRow.status == OutboxStatus.PENDING.value, _sending_broadcasts())
    )


async def _write(session: AsyncSession, row: ClaimedRow, **values: object) -> bool:
    return await outbox.record(session, BROADCASTS, row.id, values, fence=row.attempts)


async def record_sent(
    session: AsyncSession,
    row: ClaimedRow,
    now: datetime,
    *,
    parts: int,
    maybe_duplicate: bool,
    message_ids: Sequence[int] = (),
) -> bool:
    """Sent; ``message_ids`` are the recipient's copy (a reply to any of them is a reply to the broadcast)."""
    values: dict[str, object] = {
        "status": OutboxStatus.SENT.value,
        "sent_at": now,
        "parts_sent": parts,
        "lease_until": None,
        "error": None,
    }
    if message_ids:
        # A resumed split text knows only the parts it sent itself: keep the first part's id.
        values["message_id"] = func.coalesce(OutboxRow.message_id, min(message_ids))
        values["last_message_id"] = max(message_ids)
    if maybe_duplicate:
        values["maybe_duplicate"] = True
    return await _write(session, row, **values)


async def record_parts(session: AsyncSession, row: ClaimedRow, parts: int) -> bool:
    """Some parts of a split text went out: a resumed row starts after them."""
    return await _write(session, row, parts_sent=parts)


async def record_blocked(session: AsyncSession, row: ClaimedRow, reason: str) -> bool:
    """Final: the person blocked the bot; remember it so later broadcasts skip them."""
    held = await _write(session, row, status=OutboxStatus.BLOCKED.value, error=reason[:300], lease_until=None)
    if held:
        await session.execute(update(Person).where(Person.id == row.person_id).values(blocked=True))
    return held


async def record_failed(session: AsyncSession, row: ClaimedRow, reason: str, *, parts: int) -> bool:
    return await _write(session, row, status=OutboxStatus.FAILED.value, error=reason[:300], parts_sent=parts, lease_until=None)


async def record_retry(
    session: AsyncSession, row: ClaimedRow, not_before: datetime, reason: str, *, parts: int, ambiguous: bool
) -> bool:
    """Give the row back for a later attempt (not before ``not_before``)."""
    values: dict[str, object] = {
        "status": OutboxStatus.PENDING.value,
        "not_before": not_before,
        "lease_until": None,
        "error": reason[:300],
        "parts_sent": parts,
    }
    if ambiguous:
        # After a time-out the message may have arrived: the resend may be a duplicate.
        values["maybe_duplicate"] = True
    return await _write(session, row, **values)


NOT_IN_AUDIENCE = "recipient no longer in the audience (deactivated, moved or role changed)"


def _still_in_audience() -> ColumnElement[bool]:
    """The row's person still qualifies: an active reporter (principal or deputy) of the row's school, or (no school) active staff."""
    return and_(
        Person.active.is_(True),
        or_(
            and_(
                OutboxRow.school_id.is_not(None),
                REPORTS_FOR_SCHOOL,
                Person.school_id == OutboxRow.school_id,
            ),
            and_(OutboxRow.school_id.is_(None), Person.role.in_([Role.STAFF.value, Role.ADMIN.value])),
        ),
    )


async def drop_stale_recipients(session: AsyncSession, rows: Sequence[ClaimedRow]) -> set[int]:
    """Rows whose recipient no longer qualifies: recorded ``cancelled`` (final, never resent); returns their ids.

    A row queued for a school's principal still goes only if that person is an
    active principal of that very school; a staff row only if they are still
    active staff. Checked right after the claim, so a deactivation or a move
    made while the broadcast was queued is honoured.
    """
    if not rows:
        return set()
    query = (
        select(OutboxRow.id)
        .join(Person, Person.id == OutboxRow.person_id)
        .where(OutboxRow.id.in_([row.id for row in rows]), _still_in_audience())
    )
    valid = set((await session.scalars(query)).all())
    dropped: set[int] = set()
    for row in rows:
        if row.id not in valid and await _write(
            session, row, status=OutboxStatus.CANCELLED.value, error=NOT_IN_AUDIENCE, lease_until=None
        ):
            dropped.add(row.id)
    return dropped


async def authors_of(session: AsyncSession, broadcast_ids: Iterable[int]) -> list[tuple[Broadcast, str | None]]:
    """The broadcasts with their author's language (what the sender needs to send them and report progress)."""
    result = await session.execute(
        select(Broadcast, Person.language)
        .join(Person, Person.id == Broadcast.author_id)
        .where(Broadcast.id.in_(list(broadcast_ids)))
    )
    return [(broadcast, language) for broadcast, language in result.all()]


async def finish_broadcasts(session: AsyncSession, now: datetime) -> list[int]:
    """Mark ``done`` every sending broadcast with no open row; returns those this call finished.

    Conditional, so when two processes race exactly one of them gets each id (and reports it).
    """
    open_rows = exists().where(OutboxRow.broadcast_id == Broadcast.id, OutboxRow.status.in_(OPEN_STATUSES))
    result = await session.execute(
        update(Broadcast)
        .where(Broadcast.status == BroadcastStatus.SENDING.value, ~open_rows)
        .values(status=BroadcastStatus.DONE.value, finished_at=now, updated_at=now)
        .returning(Broadcast.id)
    )
    return sorted(int(r[0]) for r in result)


async def claim_progress_edit(session: AsyncSession, broadcast_id: int, now: datetime, every: timedelta) -> bool:
    """True (and the slot is taken) if nobody edited this broadcast's progress in the last ``every``."""
    result = await session.execute(
        update(Broadcast)
        .where(
            Broadcast.id == broadcast_id,
            Broadcast.status == BroadcastStatus.SENDING.value,
            Broadcast.progress_message_id.is_not(None),
            or_(Broadcast.progress_at.is_(None), Broadcast.progress_at <= now - every),
        )
        .values(progress_at=now)
        .returning(Broadcast.id)
    )
    return result.first() is not None


async def author_language(session: AsyncSession, broadcast: Broadcast) -> str | None:
    """The language the broadcast's author reads (for the final report)."""
    return await session.scalar(select(Person.language).where(Person.id == broadcast.author_id))
