"""Queries for broadcasts: drafts being composed, audiences, and the outbox with its claims.

Outbox policy — at least once, no silent duplicates:

* On confirmation the broadcast turns ``sending`` and one row per recipient is
  inserted in the same transaction (``queue_broadcast``); recipients already
  known to have blocked the bot get a final ``blocked`` row at once.
* A sender claims rows with ``claim_rows``: ``status='sending'``,
  ``lease_until = now + lease``, ``attempts += 1``, in one
  ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``.
  On PostgreSQL ``SKIP LOCKED`` lets several processes claim at once without
  waiting on or taking each other's rows; on SQLite the statement runs under
  the database's single write lock, which serialises claimers just as well.
* A worker records its result only while it still holds the claim: the row is
  still ``sending`` and ``attempts`` is what its claim returned (a fencing
  token). A worker that lost its lease writes nothing.
* A row still ``sending`` after its lease ran out belongs to a worker that died
  between claiming and recording (a kill, a crash). It is claimed again; as the
  dead worker may have sent it just before dying, the new claim sets
  ``maybe_duplicate`` (and ``attempts`` > 1 shows it too). A resend after an
  ambiguous time-out sets the same flag. The lease (``DEFAULT_LEASE``) is far
  longer than one send, rate-limiter waits included, so a live worker is never
  overtaken and the only possible duplicates are those flagged rows.

The sender's side (claims, records, finishing) is ``storage.broadcast_sends``,
in the one outbox vocabulary of ``storage.outbox`` (descriptor ``BROADCASTS``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, delete, exists, func, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import outbox
from storage.models import (
    Broadcast,
    BroadcastStatus,
    District,
    OutboxRow,
    OutboxStatus,
    Person,
    Role,
    School,
    SchoolProgramme,
)
from storage.models.broadcasts import OPEN_STATUSES
from storage.outbox import Outbox
from storage.people import REPORTS_FOR_SCHOOL
from storage.reports import expected_schools, has_current_report

DEFAULT_LEASE = timedelta(minutes=5)
SEGMENTS = ("all", "districts", "programme", "area", "overdue", "staff")

BROADCASTS = Outbox(
    OutboxRow,
    held=OutboxStatus.SENDING.value,
    again=OutboxStatus.PENDING.value,
    lease=OutboxRow.lease_until,
    sent=OutboxStatus.SENT.value,
    not_before=OutboxRow.not_before,
    again_waits=True,
)
"""Broadcast rows in ``storage.outbox`` terms: a claim is taken again once ``lease_until`` has passed,
a row given back waits out ``not_before`` (its back-off)."""


# --- drafts -----------------------------------------------------------------


async def new_draft(session: AsyncSession, now: datetime, *, author_id: int, author_chat_id: int) -> Broadcast:
    """Start composing: one draft per staff member, so an older unfinished one is dropped."""
    await session.execute(
        delete(Broadcast).where(Broadcast.author_id == author_id, Broadcast.status == BroadcastStatus.DRAFT.value)
    )
    draft = Broadcast(
        token=secrets.token_urlsafe(6)[:8],
        author_id=author_id,
        author_chat_id=author_chat_id,
        status=BroadcastStatus.DRAFT.value,
        step="audience",
        audience_args={},
        total=0,
        unreachable_schools=[],
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    await session.flush()
    return draft


async def draft_of(session: AsyncSession, author_id: int) -> Broadcast | None:
    """The broadcast ``author_id`` is composing, if any."""
    return await session.scalar(
        select(Broadcast)
        .where(Broadcast.author_id == author_id, Broadcast.status == BroadcastStatus.DRAFT.value)
        .order_by(Broadcast.id.desc())
        .limit(1)
    )


async def broadcast_by_id(session: AsyncSession, broadcast_id: int, *, for_update: bool = False) -> Broadcast | None:
    query = select(Broadcast).where(Broadcast.id == broadcast_id)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def discard_draft(session: AsyncSession, draft: Broadcast) -> None:
    await session.delete(draft)


# --- audiences --------------------------------------------------------------


@dataclass(frozen=True)
class Audience:
    """Who a broadcast goes to, in storage terms (the service fills it from the draft and the catalogue)."""

    kind: str
    district_ids: tuple[int, ...] = ()
    programme: str | None = None
    area: str | None = None
    # For "overdue": the form and period no current report exists for.
    form_key: str | None = None
    period: str | None = None
    exclude_person_id: int | None = None
    # District staff: whatever the segment, only this district (None: the whole city).
    within_district: int | None = None


@dataclass(frozen=True)
class Recipient:
    person_id: int
    chat_id: int
    school_id: int | None
    blocked: bool


@dataclass(frozen=True)
class AudienceSize:
    """What the composer shows before the message is written."""

    reachable: int
    blocked: int
    schools: int
    schools_without_reporter: int

    @property
    def people(self) -> int:
        return self.reachable + self.blocked


async def _school_condition(session: AsyncSession, audience: Audience) -> ColumnElement[bool]:
    """Which schools a school segment covers."""
    match audience.kind:
        case "all":
            return true()
        case "districts":
            return School.district_id.in_(audience.district_ids)
        case "programme":
            return School.id.in_(select(SchoolProgramme.school_id).where(SchoolProgramme.programme == audience.programme))
        case "area":
            return School.area == audience.area
        case "overdue":
            # The reminders' rule: expected for the form's programme, no current report for the period.
            # Whether the due date has passed is the caller's business (bot.office.broadcast).
            assert audience.form_key is not None and audience.period is not None
            overdue = expected_schools(select(School.id), audience.programme).where(
                ~has_current_report(audience.form_key, audience.period)
            )
            return School.id.in_(overdue)
    raise ValueError(f"{audience.kind!r} is not a school segment")


async def _scoped_condition(session: AsyncSession, audience: Audience) -> ColumnElement[bool]:
    """The segment's schools, intersected with the district a district staff member is confined to."""
    condition = await _school_condition(session, audience)
    if audience.within_district is not None:
        condition = and_(condition, School.district_id == audience.within_district)
    return condition


async def recipients(session: AsyncSession, audience: Audience) -> list[Recipient]:
    """The people a broadcast to ``audience`` goes to: active reporters (principals, deputies) of its schools, or active staff."""
    query = select(Person.id, Person.telegram_id, Person.school_id, Person.blocked).where(Person.active.is_(True))
    if audience.kind == "staff":
        query = query.where(Person.role.in_([Role.STAFF.value, Role.ADMIN.value]))
        if audience.within_district is not None:
            # District staff reach their district's colleagues, not the city office.
            query = query.where(Person.district_id == audience.within_district)
    else:
        query = query.join(School, School.id == Person.school_id).where(
            REPORTS_FOR_SCHOOL, await _scoped_condition(session, audience)
        )
    if audience.exclude_person_id is not None:
        query = query.where(Person.id != audience.exclude_person_id)
    rows = (await session.execute(query.order_by(Person.id))).all()
    return [Recipient(int(r[0]), int(r[1]), r[2], bool(r[3])) for r in rows]


async def schools_without_reporter(session: AsyncSession, audience: Audience) -> list[int]:
    """Schools of a school segment that no active reporter (principal or deputy) can receive for."""
    if audience.kind == "staff":
        return []
    has_reporter = exists().where(Person.school_id == School.id, REPORTS_FOR_SCHOOL, Person.active.is_(True))
    query = select(School.id).where(await _scoped_condition(session, audience), ~has_reporter).order_by(School.code)
    return list((await session.scalars(query)).all())


async def audience_size(session: AsyncSession, audience: Audience) -> AudienceSize:
    people = await recipients(session, audience)
    blocked = sum(1 for p in people if p.blocked)
    schools = {p.school_id for p in people if p.school_id is not None}
    return AudienceSize(
        reachable=len(people) - blocked,
        blocked=blocked,
        schools=len(schools),
        schools_without_reporter=len(await schools_without_reporter(session, audience)),
    )


async def district_names(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    rows = await session.execute(select(District.id, District.name).where(District.id.in_(list(ids))))
    return {int(r[0]): str(r[1]) for r in rows}


async def programmes_in_use(session: AsyncSession) -> list[str]:
    return list((await session.scalars(select(SchoolProgramme.programme).distinct().order_by(SchoolProgramme.programme))).all())


# --- queueing ---------------------------------------------------------------


async def queue_broadcast(
    session: AsyncSession,
    draft: Broadcast,
    now: datetime,
    people: Sequence[Recipient],
    unreachable: Sequence[int],
) -> bool:
    """Turn the draft into a sending broadcast with one outbox row per recipient, in the caller's transaction.

    False if the draft was already queued (a second press of "send", or another
    process): the status change is conditional, so rows are inserted once.
    """
    result = await session.execute(
        update(Broadcast)
        .where(Broadcast.id == draft.id, Broadcast.status == BroadcastStatus.DRAFT.value)
        .values(
            status=BroadcastStatus.SENDING.value,
            step="sent",
            total=len(people),
            unreachable_schools=list(unreachable),
            confirmed_at=now,
            updated_at=now,
        )
        .returning(Broadcast.id)
    )
    if result.first() is None:
        return False
    if people:
        await session.execute(
            insert(OutboxRow),
            [
                {
                    "broadcast_id": draft.id,
                    "person_id": p.person_id,
                    "chat_id": p.chat_id,
                    "school_id": p.school_id,
                    "status": OutboxStatus.BLOCKED.value if p.blocked else OutboxStatus.PENDING.value,
                    "attempts": 0,
                    "parts_sent": 0,
                    "maybe_duplicate": False,
                    "error": "blocked before this broadcast" if p.blocked else None,
                }
                for p in people
            ],
        )
    await session.refresh(draft)
    return True


# --- progress, completion, cancellation --------------------------------------


@dataclass
class Counts:
    """Rows of one broadcast by status."""

    by_status: dict[str, int] = field(default_factory=dict)
    maybe_duplicate: int = 0

    def __getitem__(self, status: str) -> int:
        return self.by_status.get(status, 0)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def sent(self) -> int:
        return self[OutboxStatus.SENT.value]

    @property
    def failed(self) -> int:
        return self[OutboxStatus.FAILED.value]

    @property
    def blocked(self) -> int:
        return self[OutboxStatus.BLOCKED.value]

    @property
    def cancelled(self) -> int:
        return self[OutboxStatus.CANCELLED.value]

    @property
    def open(self) -> int:
        return sum(self[s] for s in OPEN_STATUSES)


async def counts(session: AsyncSession, broadcast_ids: Iterable[int]) -> dict[int, Counts]:
    ids = list(broadcast_ids)
    out = {i: Counts() for i in ids}
    if not ids:
        return out
    rows = await session.execute(
        select(
            OutboxRow.broadcast_id,
            OutboxRow.status,
            func.count(),
            func.sum(case((OutboxRow.maybe_duplicate.is_(True), 1), else_=0)),
        )
        .where(OutboxRow.broadcast_id.in_(ids))
        .group_by(OutboxRow.broadcast_id, OutboxRow.status)
    )
    for broadcast_id, status, n, dup in rows:
        out[int(broadcast_id)].by_status[str(status)] = int(n)
        out[int(broadcast_id)].maybe_duplicate += int(dup or 0)
    return out


async def set_progress_message(session: AsyncSession, broadcast_id: int, message_id: int, now: datetime) -> None:
    await session.execute(
        update(Broadcast).where(Broadcast.id == broadcast_id).values(progress_message_id=message_id, progress_at=now)
    )


async def cancel_broadcast(session: AsyncSession, broadcast_id: int, now: datetime) -> bool:
    """Stop a sending broadcast: rows not yet sent (or abandoned by a dead worker) become ``cancelled``.

    Rows a live worker is sending right now finish and are recorded as they end.
    """
    result = await session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.SENDING.value)
        .values(status=BroadcastStatus.CANCELLED.value, finished_at=now, updated_at=now)
        .returning(Broadcast.id)
    )
    if result.first() is None:
        return False
    await session.execute(
        update(OutboxRow)
        .where(
            OutboxRow.broadcast_id == broadcast_id,
            or_(OutboxRow.status == OutboxStatus.PENDING.value, outbox.expired(BROADCASTS, now)),
        )
        .values(status=OutboxStatus.CANCELLED.value, lease_until=None)
    )
    return True


async def recent_broadcasts(session: AsyncSession, limit: int = 10, *, author_id: int | None = None) -> list[Broadcast]:
    """The latest queued broadcasts, newest first (only ``author_id``'s when given)."""
    query = select(Broadcast).where(Broadcast.status != BroadcastStatus.DRAFT.value)
    if author_id is not None:
        query = query.where(Broadcast.author_id == author_id)
    return list((await session.scalars(query.order_by(Broadcast.id.desc()).limit(limit))).all())


async def sending_broadcast_ids(session: AsyncSession) -> list[int]:
    return list((await session.scalars(select(Broadcast.id).where(Broadcast.status == BroadcastStatus.SENDING.value))).all())


@dataclass(frozen=True)
class NotReached:
    """Who a finished broadcast missed: schools (none of their reporters got it) and school-less people."""

    schools: list[str]
    people: list[str]


async def not_reached(session: AsyncSession, broadcast: Broadcast) -> NotReached:
    """Schools none of whose reporters received ``broadcast``, plus segment schools with no reporter."""
    reached = func.sum(case((OutboxRow.status == OutboxStatus.SENT.value, 1), else_=0))
    missed_schools = (
        select(OutboxRow.school_id)
        .where(OutboxRow.broadcast_id == broadcast.id, OutboxRow.school_id.is_not(None))
        .group_by(OutboxRow.school_id)
        .having(reached == 0)
    )
    unreachable = [int(i) for i in broadcast.unreachable_schools or []]
    schools = (
        await session.execute(
            select(School.code, School.name)
            .where(or_(School.id.in_(missed_schools), School.id.in_(unreachable)))
            .order_by(School.code)
        )
    ).all()
    people = (
        await session.scalars(
            select(Person.name)
            .join(OutboxRow, OutboxRow.person_id == Person.id)
            .where(
                OutboxRow.broadcast_id == broadcast.id,
                OutboxRow.school_id.is_(None),
                OutboxRow.status != OutboxStatus.SENT.value,
            )
            .order_by(Person.name)
        )
    ).all()
    return NotReached([f"{code} {name}" for code, name in schools], list(people))


async def outbox_rows(session: AsyncSession, broadcast_id: int) -> list[OutboxRow]:
    return list(
        (await session.scalars(select(OutboxRow).where(OutboxRow.broadcast_id == broadcast_id).order_by(OutboxRow.id))).all()
    )
