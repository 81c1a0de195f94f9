"""The outbox protocol, written once: which rows may be claimed, claiming them, recording the outcome.

Reminders and nudges (``reminder_sends``), staff digests (``digest_sends``) and
broadcasts (``outbox``) are all an outbox: one row per recipient, taken by one
worker before it sends, the outcome recorded after. The tables spell the states
differently (no schema change was wanted), so each has an :class:`Outbox`
descriptor naming its columns and statuses; the functions here take it.

- **Claimable**: a row given back for another try (``again``; for broadcasts
  only once its back-off, ``not_before``, has passed), a row queued for a later
  moment whose time came (``queued``: manual nudges after the quiet hours), or
  a row ``held`` by a worker whose lease ran out (it died between claiming and
  recording).
- **Claim**: new rows with ``INSERT ... ON CONFLICT DO NOTHING RETURNING``
  (whoever gets the row back sends, nobody else does); existing rows with a
  conditional ``UPDATE ... WHERE <claimable> RETURNING``, or a batch with
  ``FOR UPDATE SKIP LOCKED`` so several PostgreSQL processes claim at once
  without taking each other's rows (SQLite serialises writers anyway).
- **Record**: sent / blocked / failed, or back for another try, optionally
  not before a back-off (:func:`backoff`). A record may be fenced by the
  attempt count the claim returned, so a worker that lost its lease writes nothing.
- **Release**: claims never attempted (a crash mid-tick) go straight back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, false, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.sql import AnyRow

__all__ = [
    "CHUNK",
    "Outbox",
    "backoff",
    "chunks",
    "claim_batch",
    "claimable",
    "expired",
    "insert_new",
    "outcome_values",
    "record",
    "release",
    "take",
]

# Rows per statement: far below SQLite's 32,766 bound parameters.
CHUNK = 500

_T = TypeVar("_T")


@dataclass(frozen=True)
class Outbox:
    """How one send table spells the protocol."""

    model: Any
    # Status of a row a worker holds (claimed, sending).
    held: str
    # Status of a row given back for another try (retry, pending).
    again: str
    # The claim's time column: a held row whose value is before the lease cut-off belongs to a dead worker.
    lease: Any
    sent: str = "sent"
    # The moment a row may go (None: the table has none).
    not_before: Any = None
    # Rows given back wait out ``not_before`` (a broadcast's back-off).
    again_waits: bool = False
    # Status of rows queued for ``not_before`` (manual nudges waiting for the end of the quiet hours).
    queued: str | None = None


def chunks(items: Sequence[_T], size: int = CHUNK) -> Iterator[list[_T]]:
    """``items`` in slices of ``size`` (one statement each)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _insert(session: AsyncSession, table: Any) -> Any:
    """The dialect's INSERT, which knows ``ON CONFLICT DO NOTHING``."""
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# --- the claimable predicate ----------------------------------------------------------


def expired(box: Outbox, lease_cutoff: Any) -> ColumnElement[bool]:
    """A row held by a worker whose lease ran out before ``lease_cutoff``."""
    return and_(box.model.status == box.held, box.lease < lease_cutoff)


def claimable(box: Outbox, lease_cutoff: Any, *, now: Any = None, queued: bool = False) -> ColumnElement[bool]:
    """A row another try may take: given back (its back-off over), queued and due (``queued``), or its lease expired."""
    status = box.model.status
    again: ColumnElement[bool] = status == box.again
    if box.again_waits:
        again = and_(again, or_(box.not_before.is_(None), box.not_before <= now))
    ready = [again]
    if queued:
        ready.append(and_(status == box.queued, box.not_before <= now) if box.queued is not None else false())
    return or_(*ready, expired(box, lease_cutoff))


# --- claiming -------------------------------------------------------------------------


async def insert_new(
    session: AsyncSession,
    box: Outbox,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str],
    unique: Sequence[str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> dict[tuple[Any, ...], int]:
    """Insert rows unless their ``unique`` key (default ``key``) exists; returns ``{key values: id}`` of the rows inserted.

    The rows returned are ours to send; the others belong to whoever inserted them first.
    """
    inserted: dict[tuple[Any, ...], int] = {}
    columns = [getattr(box.model, name) for name in key]
    for chunk in chunks(rows):
        stmt = (
            _insert(session, box.model)
            .values([{**(defaults or {}), **row} for row in chunk])
            .on_conflict_do_nothing(index_elements=list(unique or key))
            .returning(box.model.id, *columns)
        )
        inserted.update({tuple(r[1:]): r[0] for r in await session.execute(stmt)})
    return inserted


async def take(
    session: AsyncSession,
    box: Outbox,
    where: Sequence[ColumnElement[bool]],
    *,
    values: Mapping[str, Any],
    returning: Sequence[Any] = (),
    ids: Sequence[int] | None = None,
) -> list[AnyRow]:
    """Conditionally update rows matching ``where`` (chunked over ``ids`` when given); returns the rows updated.

    ``where`` carries the claimable predicate for a claim; a row another worker
    took meanwhile no longer matches, so it is never taken twice.
    """
    columns = [box.model.id, *returning]
    batches: Iterable[list[int] | None] = chunks(ids) if ids is not None else [None]
    taken: list[AnyRow] = []
    for batch in batches:
        stmt = update(box.model).where(*where)
        if batch is not None:
            stmt = stmt.where(box.model.id.in_(batch))
        taken.extend(await session.execute(stmt.values(**values).returning(*columns)))
    return taken


async def claim_batch(
    session: AsyncSession,
    box: Outbox,
    where: ColumnElement[bool],
    *,
    limit: int,
    values: Mapping[str, Any],
    returning: Sequence[Any],
) -> list[AnyRow]:
    """Claim up to ``limit`` rows matching ``where``, oldest first, skipping rows another claimer has locked."""
    # FOR UPDATE SKIP LOCKED is PostgreSQL's; SQLAlchemy leaves it out on SQLite.
    chosen = (
        select(box.model.id).where(where).order_by(box.model.id).limit(limit).with_for_update(skip_locked=True).scalar_subquery()
    )
    result = await session.execute(update(box.model).where(box.model.id.in_(chosen)).values(**values).returning(*returning))
    return list(result)


# --- recording ------------------------------------------------------------------------


def outcome_values(box: Outbox, status: str, now: datetime, error: str | None) -> dict[str, Any]:
    """The outcome of one attempt counted when recorded (reminders, digests): status, attempts + 1, error, sent_at."""
    return {
        "status": status,
        "attempts": box.model.attempts + 1,
        "error": error,
        "sent_at": now if status == box.sent else None,
    }


async def record(session: AsyncSession, box: Outbox, row_id: int, values: Mapping[str, Any], *, fence: int | None = None) -> bool:
    """Write the outcome of one claimed row; with ``fence`` only while the claim still holds (False: lease lost)."""
    stmt = update(box.model).where(box.model.id == row_id)
    if fence is not None:
        stmt = stmt.where(box.model.status == box.held, box.model.attempts == fence)
    result = await session.execute(stmt.values(**values).returning(box.model.id))
    return result.first() is not None


async def release(session: AsyncSession, box: Outbox, ids: Iterable[int]) -> None:
    """Give claims that were never attempted back for the next try (after a crash mid-tick)."""
    id_list = list(ids)
    for chunk in chunks(id_list):
        await session.execute(
            update(box.model).where(box.model.id.in_(chunk), box.model.status == box.held).values(status=box.again)
        )


def backoff(attempts: int, *, base: timedelta, cap: timedelta, retry_after: float | None = None) -> timedelta:
    """How long a row waits before its next try: what Telegram asked for, else ``base`` doubled per attempt up to ``cap``."""
    if retry_after is not None:
        # Telegram said when: waiting longer only slows the broadcast down.
        return timedelta(seconds=retry_after)
    factor: int = 2 ** (attempts - 1)
    return min(base * factor, cap)
