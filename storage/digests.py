"""Queries behind the staff digests: who still needs today's digest, and the digests' side of the outbox.

One ``digest_sends`` row per (kind, day, staff member), claimed before sending
through ``storage.outbox`` over ``DIGESTS``; a digest with nothing to say is
recorded too (``skipped``), so later ticks that day do not work it out again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import outbox
from storage.models import DigestSend, Person, Role
from storage.models.reminders import SendStatus
from storage.outbox import Outbox

__all__ = ["DIGESTS", "claim_digests", "digest_rows", "finish_digest", "release_digests", "staff_without_digests"]

DIGESTS = Outbox(
    DigestSend,
    held=SendStatus.CLAIMED.value,
    again=SendStatus.RETRY.value,
    lease=DigestSend.claimed_at,
    sent=SendStatus.SENT.value,
)
"""Digest sends: a claim is taken again once ``claimed_at`` is older than the lease."""


async def staff_without_digests(
    session: AsyncSession, due: dict[str, date], lease_cutoff: datetime
) -> list[tuple[Person, list[str]]]:
    """Active, reachable staff and admins with the digests (``{kind: day}``) they still need, in one query.

    A digest is needed when its row is missing, marked for retry, or claimed by a process that died.
    """
    if not due:
        return []
    done = {
        kind: exists().where(
            DigestSend.kind == kind,
            DigestSend.day == day,
            DigestSend.recipient_id == Person.id,
            ~outbox.claimable(DIGESTS, lease_cutoff),
        )
        for kind, day in due.items()
    }
    kinds = list(done)
    rows = await session.execute(
        select(Person, *(done[kind] for kind in kinds))
        .where(
            Person.role.in_([Role.STAFF.value, Role.ADMIN.value]),
            Person.active.is_(True),
            Person.blocked.is_(False),
            or_(*(~done[kind] for kind in kinds)),
        )
        .order_by(Person.id)
    )
    return [(r[0], [kind for kind, finished in zip(kinds, r[1:]) if not finished]) for r in rows]


async def claim_digests(
    session: AsyncSession,
    *,
    kind: str,
    day: date,
    recipient_ids: Sequence[int],
    now: datetime,
    lease_cutoff: datetime,
    status: str = SendStatus.CLAIMED.value,
    error: str | None = None,
) -> dict[int, tuple[int, int]]:
    """Claim the ``kind`` digest of ``day`` for these staff; returns ``{recipient_id: (row id, attempts)}`` of those won."""
    won: dict[int, tuple[int, int]] = {}
    if not recipient_ids:
        return won
    rows = [{"kind": kind, "day": day, "recipient_id": rid} for rid in recipient_ids]
    defaults = {"status": status, "attempts": 0, "error": error, "claimed_at": now, "sent_at": None}
    inserted = await outbox.insert_new(
        session, DIGESTS, rows, key=("recipient_id",), unique=("kind", "day", "recipient_id"), defaults=defaults
    )
    won.update({key[0]: (row_id, 0) for key, row_id in inserted.items()})
    rest = [rid for rid in recipient_ids if rid not in won]
    if rest:
        where = [
            DigestSend.kind == kind,
            DigestSend.day == day,
            DigestSend.recipient_id.in_(rest),
            outbox.claimable(DIGESTS, lease_cutoff),
        ]
        values = {"status": status, "claimed_at": now, "error": error}
        taken = await outbox.take(
            session, DIGESTS, where, values=values, returning=[DigestSend.recipient_id, DigestSend.attempts]
        )
        won.update({r[1]: (r[0], r[2]) for r in taken})
    return won


async def finish_digest(session: AsyncSession, row_id: int, status: str, now: datetime, error: str | None = None) -> None:
    """Record what Telegram answered for one claimed digest."""
    await outbox.record(session, DIGESTS, row_id, outbox.outcome_values(DIGESTS, status, now, error))


async def digest_rows(session: AsyncSession, **filters: Any) -> Sequence[DigestSend]:
    """Digest rows matching column filters, in id order (tests read the record)."""
    stmt = select(DigestSend).order_by(DigestSend.id)
    for name, value in filters.items():
        stmt = stmt.where(getattr(DigestSend, name) == value)
    return (await session.scalars(stmt)).all()


async def release_digests(session: AsyncSession, ids: Iterable[int]) -> None:
    """Give digest claims that were never attempted back for the next tick."""
    await outbox.release(session, DIGESTS, ids)
