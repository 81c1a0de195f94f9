"""Queries behind reminders, nudges and staff digests.

Who still owes a report is an anti-join in SQL (schools expected to report a
form, minus those with a current report for the period), never a Python loop
over reports, so the tick stays close to the cost of that one query with
thousands of schools.

Claims follow one pattern: ``INSERT ... ON CONFLICT DO NOTHING RETURNING``
(PostgreSQL and SQLite ≥ 3.35 both have it) creates a row only for the first
process, and a conditional ``UPDATE ... RETURNING`` re-takes a row meant for a
retry; whoever gets the row back sends, nobody else does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, NamedTuple, Unpack

from sqlalchemy import (
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from storage.models import District, DigestSend, Draft, Person, ReminderSend, Report, Role, School, SchoolProgramme
from storage.models.reminders import SendStatus
from storage.reports import IS_CURRENT, expected_schools, has_current_report

__all__ = [
    "CHUNK",
    "Candidate",
    "Completeness",
    "ManualRow",
    "MissingRow",
    "SendKey",
    "Target",
    "claim_digests",
    "claim_manual",
    "completeness",
    "current_reporters",
    "digest_rows",
    "finish_digest",
    "finish_reminder",
    "gone_retries",
    "insert_reminders",
    "missing_reports",
    "manual_rows",
    "mark_reminders",
    "reclaim_reminders",
    "release_digests",
    "release_reminders",
    "reminder_candidates",
    "reminder_rows",
    "skip_gone_retries",
    "skip_superseded",
    "staff_without_digests",
    "start_manual_now",
]

AnySelect = Select[Unpack[tuple[Any, ...]]]

# Rows per multi-row INSERT: far below SQLite's 32,766 bound parameters.
CHUNK = 500


def _insert(session: AsyncSession, table: Any) -> Any:
    """The dialect's INSERT, which knows ``ON CONFLICT DO NOTHING``."""
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _principal_of_school() -> ColumnElement[bool]:
    return and_(Person.school_id == School.id, Person.role == Role.PRINCIPAL.value, Person.active.is_(True))


def _claimable(lease_cutoff: Any) -> ColumnElement[bool]:
    """A row another try may take: marked for retry, or claimed by a process that died (lease passed)."""
    return or_(
        ReminderSend.status == SendStatus.RETRY.value,
        and_(ReminderSend.status == SendStatus.CLAIMED.value, ReminderSend.claimed_at < lease_cutoff),
    )


# --- scheduled reminders ------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One slot of one form and period that is due now: who still needs it?"""

    form_key: str
    programme: str | None
    period: str
    slot: str


class Candidate(NamedTuple):
    """A reporter of a school that owes a report, without the slot in question done.

    A named tuple, not a dataclass: a tick over thousands of schools makes one
    per reporter, and ``_make`` on the fetched row is the cheapest object Python has.
    """

    school_id: int
    school_code: str
    school_name: str
    person_id: int
    telegram_id: int
    person_name: str
    language: str | None
    # "blocked" (blocked the bot), "busy" (a draft touched since the idle cut-off), or "send".
    action: str
    # An existing row for this slot to take again (a retry, or a claim whose lease ran out).
    send_id: int | None
    attempts: int

    @property
    def lang(self) -> str:
        return self.language or "zh"


_WIDTH = len(Candidate._fields)


def _candidate_columns(send_id: Any, attempts: Any, idle_cutoff: Any) -> list[Any]:
    """The columns of ``Candidate``, in its order, over schools ⋈ people ⟕ drafts.

    What to do with each reporter is decided here (a CASE costs the database
    nothing next to a Python branch per row).
    """
    action = case(
        (Person.blocked.is_(True), literal("blocked")),
        (Draft.updated_at > idle_cutoff, literal("busy")),
        else_=literal("send"),
    )
    return [
        School.id.label("school_id"),
        School.code.label("school_code"),
        School.name.label("school_name"),
        Person.id.label("person_id"),
        Person.telegram_id,
        Person.name.label("person_name"),
        Person.language,
        action.label("action"),
        send_id.label("send_id"),
        attempts.label("attempts"),
    ]


def _target_params(i: int, has_programme: bool) -> tuple[Any, Any, Any, Any]:
    """Bind parameters of target ``i``: form, period, slot and (when the form has one) programme."""
    return (
        bindparam(f"form_{i}", type_=String),
        bindparam(f"period_{i}", type_=String),
        bindparam(f"slot_{i}", type_=String),
        bindparam(f"programme_{i}", type_=String) if has_programme else None,
    )


def _has_slot_row(form_key: Any, period: Any, slot: Any) -> Any:
    """EXISTS a send row of the slot for the school and person of the outer query."""
    return exists().where(
        ReminderSend.form_key == form_key,
        ReminderSend.period == period,
        ReminderSend.slot == slot,
        ReminderSend.school_id == School.id,
        ReminderSend.recipient_id == Person.id,
    )


@lru_cache(maxsize=64)
def _fresh_statement(with_programme: tuple[bool, ...]) -> Any:
    """Reporters owing at least one target without any row for its slot: one row each, one flag per target.

    Columns per report rather than a row per (report, reporter): a school late
    with three reports is read once, not three times, which on SQLite is what
    makes the difference (its cost is per column fetched). Each flag is an
    anti-join (NOT EXISTS) on an index, like the bare "who has not reported"
    query. Built once per shape; values come as bind parameters (``form_0``,
    ``period_0``, ``slot_0``, ``programme_0``, ... and ``idle_cutoff``).
    """
    idle_cutoff: BindParameter[Any] = bindparam("idle_cutoff", type_=Draft.updated_at.type)
    flags = []
    for i, has_programme in enumerate(with_programme):
        form_key, period, slot, programme = _target_params(i, has_programme)
        owes = and_(~has_current_report(form_key, period), ~_has_slot_row(form_key, period, slot))
        if programme is not None:
            enrolled = exists().where(SchoolProgramme.school_id == School.id, SchoolProgramme.programme == programme)
            owes = and_(enrolled, owes)
        flags.append(owes.label(f"due_{i}"))
    # MATERIALIZED: the flags are worked out once per reporter, not again for the WHERE.
    reporters = (
        select(*_candidate_columns(cast(null(), Integer), literal(0, Integer), idle_cutoff), *flags)
        .select_from(School)
        .join(Person, _principal_of_school())
        .outerjoin(Draft, Draft.person_id == Person.id)
        .cte("reporters")
        .prefix_with("MATERIALIZED")
    )
    return (
        select(reporters)
        .where(or_(*(reporters.c[f"due_{i}"] for i in range(len(with_programme)))))
        # Claims are taken in this order everywhere, so two processes never deadlock on each other's rows.
        .order_by(reporters.c.school_id, reporters.c.person_id)
    )


@lru_cache(maxsize=64)
def _again_statement(with_programme: tuple[bool, ...]) -> Any:
    """Send rows of the targets' slots that may be taken again, with their reporter: a UNION ALL, one part per target.

    Few rows (retries and dead claims), found through the send rows' unique index.
    """
    lease_cutoff: BindParameter[Any] = bindparam("lease_cutoff")
    idle_cutoff: BindParameter[Any] = bindparam("idle_cutoff", type_=Draft.updated_at.type)
    parts = []
    for i, has_programme in enumerate(with_programme):
        form_key, period, slot, programme = _target_params(i, has_programme)
        part = (
            select(literal(i, Integer).label("target"), *_candidate_columns(ReminderSend.id, ReminderSend.attempts, idle_cutoff))
            .select_from(ReminderSend)
            .join(School, School.id == ReminderSend.school_id)
            .join(Person, and_(Person.id == ReminderSend.recipient_id, _principal_of_school()))
            .outerjoin(Draft, Draft.person_id == Person.id)
            .where(
                ReminderSend.form_key == form_key,
                ReminderSend.period == period,
                ReminderSend.slot == slot,
                _claimable(lease_cutoff),
                ~has_current_report(form_key, period),
            )
        )
        parts.append(expected_schools(part, programme))
    return union_all(*parts).order_by("target", "school_id", "person_id")


async def reminder_candidates(
    session: AsyncSession, targets: Sequence[Target], *, lease_cutoff: datetime, idle_cutoff: datetime
) -> list[list[Candidate]]:
    """For each target (in order), reporters of schools without a current report whose slot is not done.

    Each list holds first the reporters without any row for the slot, in
    (school, person) order, then the rows to take again (``send_id`` set), in
    the same order. A reporter whose draft was touched after ``idle_cutoff``
    has action "busy". Two queries for all targets; in steady state (every
    reminder of the slot sent) they return nothing and cost about as much as
    the anti-join itself.
    """
    out: list[list[Candidate]] = [[] for _ in targets]
    if not targets:
        return out
    shape = tuple(target.programme is not None for target in targets)
    params: dict[str, Any] = {"lease_cutoff": lease_cutoff, "idle_cutoff": idle_cutoff}
    for i, target in enumerate(targets):
        params.update({f"form_{i}": target.form_key, f"period_{i}": target.period, f"slot_{i}": target.slot})
        if target.programme is not None:
            params[f"programme_{i}"] = target.programme
    make = Candidate._make
    for row in await session.execute(_fresh_statement(shape), params):
        # One object per reporter, shared by every target the reporter owes.
        candidate = make(row[:_WIDTH])
        for i, owes in enumerate(row[_WIDTH:]):
            if owes:
                out[i].append(candidate)
    for row in await session.execute(_again_statement(shape), params):
        out[row[0]].append(make(row[1:]))
    return out


SendKey = tuple[int, str, str, str, int]
"""(school_id, form_key, period, slot, recipient_id): the unique key of a send."""


async def insert_reminders(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[SendKey, int]:
    """Insert send rows unless their key exists; returns ``{key: id}`` of the rows inserted (ours to send).

    Each row needs school_id, form_key, period, slot, recipient_id, status,
    claimed_at; optionally not_before, requested_by, error.
    """
    inserted: dict[SendKey, int] = {}
    for start in range(0, len(rows), CHUNK):
        chunk = [
            {"attempts": 0, "error": None, "not_before": None, "requested_by": None, "sent_at": None, **row}
            for row in rows[start : start + CHUNK]
        ]
        stmt = (
            _insert(session, ReminderSend)
            .values(chunk)
            .on_conflict_do_nothing(index_elements=["form_key", "period", "slot", "school_id", "recipient_id"])
            .returning(
                ReminderSend.id,
                ReminderSend.school_id,
                ReminderSend.form_key,
                ReminderSend.period,
                ReminderSend.slot,
                ReminderSend.recipient_id,
            )
        )
        inserted.update({(r[1], r[2], r[3], r[4], r[5]): r[0] for r in await session.execute(stmt)})
    return inserted


async def reclaim_reminders(
    session: AsyncSession, ids: Sequence[int], now: datetime, lease_cutoff: datetime, status: str = SendStatus.CLAIMED.value
) -> set[int]:
    """Take rows meant for another try (retry, or a claim whose lease passed); returns the ids taken."""
    taken: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        result = await session.execute(
            update(ReminderSend)
            .where(ReminderSend.id.in_(list(ids[start : start + CHUNK])), _claimable(lease_cutoff))
            .values(status=status, claimed_at=now)
            .returning(ReminderSend.id)
        )
        taken.update(result.scalars())
    return taken


async def mark_reminders(
    session: AsyncSession, ids: Iterable[int], status: str, *, error: str | None = None, only_status: Iterable[str] = ()
) -> None:
    """Set the status of rows (optionally only of rows currently in ``only_status``)."""
    id_list = list(ids)
    for start in range(0, len(id_list), CHUNK):
        stmt = update(ReminderSend).where(ReminderSend.id.in_(id_list[start : start + CHUNK]))
        allowed = list(only_status)
        if allowed:
            stmt = stmt.where(ReminderSend.status.in_(allowed))
        values: dict[str, Any] = {"status": status}
        if error is not None:
            values["error"] = error
        await session.execute(stmt.values(**values))


async def release_reminders(session: AsyncSession, ids: Iterable[int]) -> None:
    """Give claims that were never attempted back for the next tick (after a crash mid-tick)."""
    await mark_reminders(session, ids, SendStatus.RETRY.value, only_status=[SendStatus.CLAIMED.value])


async def finish_reminder(
    session: AsyncSession, send_id: int, status: str, now: datetime, error: str | None = None
) -> None:
    """Record what Telegram answered for one claimed reminder."""
    await session.execute(
        update(ReminderSend)
        .where(ReminderSend.id == send_id)
        .values(
            status=status,
            attempts=ReminderSend.attempts + 1,
            error=error,
            sent_at=now if status == SendStatus.SENT.value else None,
        )
    )


async def skip_superseded(
    session: AsyncSession, *, form_key: str, period: str, slots: Sequence[str], recipient_ids: Sequence[int]
) -> None:
    """Older slots still marked for retry when a newer slot goes out: they will never be sent."""
    if not slots or not recipient_ids:
        return
    for start in range(0, len(recipient_ids), CHUNK):
        await session.execute(
            update(ReminderSend)
            .where(
                ReminderSend.form_key == form_key,
                ReminderSend.period == period,
                ReminderSend.slot.in_(list(slots)),
                ReminderSend.recipient_id.in_(list(recipient_ids[start : start + CHUNK])),
                ReminderSend.status == SendStatus.RETRY.value,
            )
            .values(status=SendStatus.SKIPPED.value, error="superseded by a later slot")
        )


async def reminder_rows(session: AsyncSession, **filters: Any) -> Sequence[ReminderSend]:
    """Send rows matching column filters, in id order (tests and the CLI read the record)."""
    stmt = select(ReminderSend).order_by(ReminderSend.id)
    for name, value in filters.items():
        stmt = stmt.where(getattr(ReminderSend, name) == value)
    return (await session.scalars(stmt)).all()


# --- manual nudges ---------------------------------------------------------------


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
    reported = exists().where(
        Report.school_id == ReminderSend.school_id,
        Report.form_key == ReminderSend.form_key,
        Report.period == ReminderSend.period,
        IS_CURRENT,
    )
    stmt = (
        select(
            ReminderSend.id,
            ReminderSend.status,
            ReminderSend.school_id,
            School.name,
            ReminderSend.form_key,
            ReminderSend.period,
            ReminderSend.slot,
            Person.id,
            Person.telegram_id,
            Person.name,
            Person.language,
            Person.blocked,
            # Still a reporter of that school: active, a principal, not moved elsewhere since queueing.
            and_(
                Person.active.is_(True), Person.role == Role.PRINCIPAL.value, Person.school_id == ReminderSend.school_id
            ).label("still_reporter"),
            reported,
            ReminderSend.attempts,
        )
        .join(School, School.id == ReminderSend.school_id)
        .join(Person, Person.id == ReminderSend.recipient_id)
        .where(ReminderSend.slot.like("manual-%"))
        .where(
            or_(
                and_(ReminderSend.status == SendStatus.PENDING.value, ReminderSend.not_before <= now),
                _claimable(lease_cutoff),
            )
        )
        .order_by(ReminderSend.id)
    )
    if slot is not None:
        stmt = stmt.where(ReminderSend.slot == slot)
    if school_id is not None:
        stmt = stmt.where(ReminderSend.school_id == school_id)
    if form_key is not None:
        stmt = stmt.where(ReminderSend.form_key == form_key)
    if period is not None:
        stmt = stmt.where(ReminderSend.period == period)
    rows = await session.execute(stmt)
    return [
        ManualRow(
            send_id=r[0],
            status=r[1],
            school_id=r[2],
            school_name=r[3],
            form_key=r[4],
            period=r[5],
            slot=r[6],
            person_id=r[7],
            telegram_id=r[8],
            person_name=r[9],
            language=r[10],
            blocked=bool(r[11]),
            active=bool(r[12]),
            reported=bool(r[13]),
            attempts=r[14] or 0,
        )
        for r in rows
    ]


async def current_reporters(session: AsyncSession, pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Of ``(person_id, school_id)`` pairs, those whose person is still an active principal of that school.

    Asked right before sending: a reporter deactivated, moved to another school
    or given another role after the reminder was planned or queued gets nothing.
    """
    wanted = set(pairs)
    people = sorted({person_id for person_id, _ in wanted})
    current: set[tuple[int, int]] = set()
    for start in range(0, len(people), CHUNK):
        rows = await session.execute(
            select(Person.id, Person.school_id).where(
                Person.id.in_(people[start : start + CHUNK]),
                Person.active.is_(True),
                Person.role == Role.PRINCIPAL.value,
                Person.school_id.is_not(None),
            )
        )
        current.update((int(r[0]), int(r[1] or 0)) for r in rows)
    return current & wanted


def _not_reporter_any_more() -> ColumnElement[bool]:
    """The send row's recipient is no longer an active principal of the row's school."""
    return ~exists().where(
        Person.id == ReminderSend.recipient_id,
        Person.active.is_(True),
        Person.role == Role.PRINCIPAL.value,
        Person.school_id == ReminderSend.school_id,
    )


async def gone_retries(session: AsyncSession) -> list[int]:
    """Rows marked for retry whose recipient left the school (deactivated, moved, another role) since (reads only)."""
    stmt = (
        select(ReminderSend.id)
        .where(ReminderSend.status == SendStatus.RETRY.value, _not_reporter_any_more())
        .order_by(ReminderSend.id)
    )
    return list((await session.scalars(stmt)).all())


async def skip_gone_retries(session: AsyncSession, ids: Sequence[int], error: str) -> int:
    """Record those retries as skipped, for good: no later tick resends them (still checked, so a race is harmless)."""
    skipped = 0
    for start in range(0, len(ids), CHUNK):
        result = await session.execute(
            update(ReminderSend)
            .where(
                ReminderSend.id.in_(list(ids[start : start + CHUNK])),
                ReminderSend.status == SendStatus.RETRY.value,
                _not_reporter_any_more(),
            )
            .values(status=SendStatus.SKIPPED.value, error=error)
            .returning(ReminderSend.id)
        )
        skipped += len(result.scalars().all())
    return skipped


async def claim_manual(session: AsyncSession, ids: Sequence[int], now: datetime, lease_cutoff: datetime) -> set[int]:
    """Take manual rows for sending: pending ones due, retries, dead claims; returns the ids taken."""
    taken: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        result = await session.execute(
            update(ReminderSend)
            .where(
                ReminderSend.id.in_(list(ids[start : start + CHUNK])),
                or_(
                    and_(ReminderSend.status == SendStatus.PENDING.value, ReminderSend.not_before <= now),
                    _claimable(lease_cutoff),
                ),
            )
            .values(status=SendStatus.CLAIMED.value, claimed_at=now)
            .returning(ReminderSend.id)
        )
        taken.update(result.scalars())
    return taken


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
    if requested_by is not None:
        stmt = stmt.where(ReminderSend.requested_by == requested_by)
    if district_id is not None:
        stmt = stmt.where(ReminderSend.school_id.in_(select(School.id).where(School.district_id == district_id)))
    if school_id is not None:
        stmt = stmt.where(ReminderSend.school_id == school_id)
    if form_key is not None:
        stmt = stmt.where(ReminderSend.form_key == form_key)
    if period is not None:
        stmt = stmt.where(ReminderSend.period == period)
    result = await session.execute(stmt.values(not_before=now).returning(ReminderSend.id))
    return len(result.scalars().all())


# --- who is missing a report, completeness -------------------------------------------


@dataclass(frozen=True)
class MissingRow:
    """A school without a current report, with one of its reporters (None if it has none)."""

    school_id: int
    school_code: str
    school_name: str
    district_id: int
    district_name: str
    person_id: int | None
    person_name: str | None
    blocked: bool


async def missing_reports(
    session: AsyncSession,
    *,
    form_key: str,
    programme: str | None,
    period: str,
    district_id: int | None = None,
    school_id: int | None = None,
) -> list[MissingRow]:
    """Schools expected to report ``form_key`` for ``period`` that have no current report, with their reporters.

    One row per (school, reporter); a school without reporters appears once with person None.
    """
    stmt: AnySelect = (
        select(
            School.id,
            School.code,
            School.name,
            District.id,
            District.name,
            Person.id,
            Person.name,
            Person.blocked,
        )
        .select_from(School)
        .join(District, District.id == School.district_id)
        .outerjoin(Person, _principal_of_school())
        .where(~has_current_report(form_key, period))
        .order_by(District.name, School.code, Person.id)
    )
    stmt = expected_schools(stmt, programme)
    if district_id is not None:
        stmt = stmt.where(School.district_id == district_id)
    if school_id is not None:
        stmt = stmt.where(School.id == school_id)
    rows = await session.execute(stmt)
    return [
        MissingRow(
            school_id=r[0],
            school_code=r[1],
            school_name=r[2],
            district_id=r[3],
            district_name=r[4],
            person_id=r[5],
            person_name=r[6],
            blocked=bool(r[7]),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Completeness:
    """How many of a district's expected schools have a current report."""

    district_id: int
    district_name: str
    expected: int
    reported: int


async def completeness(
    session: AsyncSession, *, form_key: str, programme: str | None, period: str, district_id: int | None = None
) -> list[Completeness]:
    """Expected and reported schools per district for one form and period (a GROUP BY, not a loop)."""
    reported = case((has_current_report(form_key, period), 1), else_=0)
    stmt = (
        select(District.id, District.name, func.count(School.id), func.coalesce(func.sum(reported), 0))
        .select_from(School)
        .join(District, District.id == School.district_id)
        .group_by(District.id, District.name)
        .order_by(District.name)
    )
    stmt = expected_schools(stmt, programme)
    if district_id is not None:
        stmt = stmt.where(School.district_id == district_id)
    rows = await session.execute(stmt)
    return [Completeness(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


# --- staff digests -------------------------------------------------------------------------


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
            ~or_(
                DigestSend.status == SendStatus.RETRY.value,
                and_(DigestSend.status == SendStatus.CLAIMED.value, DigestSend.claimed_at < lease_cutoff),
            ),
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
    values = [
        {
            "kind": kind,
            "day": day,
            "recipient_id": rid,
            "status": status,
            "attempts": 0,
            "error": error,
            "claimed_at": now,
            "sent_at": None,
        }
        for rid in recipient_ids
    ]
    stmt = (
        _insert(session, DigestSend)
        .values(values)
        .on_conflict_do_nothing(index_elements=["kind", "day", "recipient_id"])
        .returning(DigestSend.id, DigestSend.recipient_id)
    )
    won.update({r[1]: (r[0], 0) for r in await session.execute(stmt)})
    rest = [rid for rid in recipient_ids if rid not in won]
    if rest:
        result = await session.execute(
            update(DigestSend)
            .where(
                DigestSend.kind == kind,
                DigestSend.day == day,
                DigestSend.recipient_id.in_(rest),
                or_(
                    DigestSend.status == SendStatus.RETRY.value,
                    and_(DigestSend.status == SendStatus.CLAIMED.value, DigestSend.claimed_at < lease_cutoff),
                ),
            )
            .values(status=status, claimed_at=now, error=error)
            .returning(DigestSend.id, DigestSend.recipient_id, DigestSend.attempts)
        )
        won.update({r[1]: (r[0], r[2]) for r in result})
    return won


async def finish_digest(session: AsyncSession, row_id: int, status: str, now: datetime, error: str | None = None) -> None:
    await session.execute(
        update(DigestSend)
        .where(DigestSend.id == row_id)
        .values(
            status=status,
            attempts=DigestSend.attempts + 1,
            error=error,
            sent_at=now if status == SendStatus.SENT.value else None,
        )
    )


async def digest_rows(session: AsyncSession, **filters: Any) -> Sequence[DigestSend]:
    stmt = select(DigestSend).order_by(DigestSend.id)
    for name, value in filters.items():
        stmt = stmt.where(getattr(DigestSend, name) == value)
    return (await session.scalars(stmt)).all()


async def release_digests(session: AsyncSession, ids: Iterable[int]) -> None:
    """Give digest claims that were never attempted back for the next tick."""
    id_list = list(ids)
    if id_list:
        await session.execute(
            update(DigestSend)
            .where(DigestSend.id.in_(id_list), DigestSend.status == SendStatus.CLAIMED.value)
            .values(status=SendStatus.RETRY.value)
        )
