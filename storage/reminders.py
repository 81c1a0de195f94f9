"""Queries behind scheduled reminders: who still owes a report, and the reminders' side of the outbox.

Who still owes a report is an anti-join in SQL (schools expected to report a
form, minus those with a current report for the period), never a Python loop
over reports, so the tick stays close to the cost of that one query with
thousands of schools.

Claims, records and releases are ``storage.outbox``'s, over ``REMINDERS``: a
new row is created only for the first process (``INSERT ... ON CONFLICT DO
NOTHING RETURNING``), a row meant for a retry is re-taken by a conditional
``UPDATE ... RETURNING``; whoever gets the row back sends, nobody else does.
Manual nudges are in ``storage.nudges``, staff digests in ``storage.digests``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from storage import outbox
from storage.models import Draft, Person, ReminderSend, School, SchoolProgramme
from storage.models.reminders import SendStatus
from storage.outbox import Outbox, chunks
from storage.people import REPORTS_FOR_SCHOOL
from storage.reports import expected_schools, has_current_report

__all__ = [
    "REMINDERS",
    "Candidate",
    "SendKey",
    "Target",
    "current_reporters",
    "finish_reminder",
    "gone_retries",
    "insert_reminders",
    "principal_of_school",
    "reclaim_reminders",
    "release_reminders",
    "reminder_candidates",
    "reminder_rows",
    "skip_gone_retries",
    "skip_superseded",
]

REMINDERS = Outbox(
    ReminderSend,
    held=SendStatus.CLAIMED.value,
    again=SendStatus.RETRY.value,
    lease=ReminderSend.claimed_at,
    sent=SendStatus.SENT.value,
    not_before=ReminderSend.not_before,
    queued=SendStatus.PENDING.value,
)
"""Reminder and nudge sends: a claim is taken again once ``claimed_at`` is older than the lease."""


def principal_of_school() -> ColumnElement[bool]:
    """The joined person is an active reporter (principal or deputy) of the joined school."""
    return and_(Person.school_id == School.id, REPORTS_FOR_SCHOOL, Person.active.is_(True))


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
        .join(Person, principal_of_school())
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
            .join(Person, and_(Person.id == ReminderSend.recipient_id, principal_of_school()))
            .outerjoin(Draft, Draft.person_id == Person.id)
            .where(
                ReminderSend.form_key == form_key,
                ReminderSend.period == period,
                ReminderSend.slot == slot,
                outbox.claimable(REMINDERS, lease_cutoff),
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

_KEY = ("school_id", "form_key", "period", "slot", "recipient_id")
# The unique constraint's column order.
_UNIQUE = ("form_key", "period", "slot", "school_id", "recipient_id")
_DEFAULTS = {"attempts": 0, "error": None, "not_before": None, "requested_by": None, "sent_at": None}


async def insert_reminders(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[SendKey, int]:
    """Insert send rows unless their key exists; returns ``{key: id}`` of the rows inserted (ours to send).

    Each row needs school_id, form_key, period, slot, recipient_id, status,
    claimed_at; optionally not_before, requested_by, error.
    """
    inserted = await outbox.insert_new(session, REMINDERS, rows, key=_KEY, unique=_UNIQUE, defaults=_DEFAULTS)
    return {(k[0], k[1], k[2], k[3], k[4]): row_id for k, row_id in inserted.items()}


async def reclaim_reminders(
    session: AsyncSession, ids: Sequence[int], now: datetime, lease_cutoff: datetime, status: str = SendStatus.CLAIMED.value
) -> set[int]:
    """Take rows meant for another try (retry, or a claim whose lease passed); returns the ids taken."""
    where = [outbox.claimable(REMINDERS, lease_cutoff)]
    rows = await outbox.take(session, REMINDERS, where, values={"status": status, "claimed_at": now}, ids=ids)
    return {row[0] for row in rows}


async def release_reminders(session: AsyncSession, ids: Iterable[int]) -> None:
    """Give claims that were never attempted back for the next tick (after a crash mid-tick)."""
    await outbox.release(session, REMINDERS, ids)


async def finish_reminder(session: AsyncSession, send_id: int, status: str, now: datetime, error: str | None = None) -> None:
    """Record what Telegram answered for one claimed reminder."""
    await outbox.record(session, REMINDERS, send_id, outbox.outcome_values(REMINDERS, status, now, error))


async def skip_superseded(
    session: AsyncSession, *, form_key: str, period: str, slots: Sequence[str], recipient_ids: Sequence[int]
) -> None:
    """Older slots still marked for retry when a newer slot goes out: they will never be sent."""
    if not slots or not recipient_ids:
        return
    for batch in chunks(recipient_ids):
        where = [
            ReminderSend.form_key == form_key,
            ReminderSend.period == period,
            ReminderSend.slot.in_(list(slots)),
            ReminderSend.recipient_id.in_(batch),
            ReminderSend.status == SendStatus.RETRY.value,
        ]
        values = {"status": SendStatus.SKIPPED.value, "error": "superseded by a later slot"}
        await outbox.take(session, REMINDERS, where, values=values)


async def reminder_rows(session: AsyncSession, **filters: Any) -> Sequence[ReminderSend]:
    """Send rows matching column filters, in id order (tests and the CLI read the record)."""
    stmt = select(ReminderSend).order_by(ReminderSend.id)
    for name, value in filters.items():
        stmt = stmt.where(getattr(ReminderSend, name) == value)
    return (await session.scalars(stmt)).all()


async def current_reporters(session: AsyncSession, pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Of ``(person_id, school_id)`` pairs, those whose person still actively reports for that school.

    Asked right before sending: a reporter deactivated, moved to another school
    or given another role after the reminder was planned or queued gets nothing.
    """
    wanted = set(pairs)
    people = sorted({person_id for person_id, _ in wanted})
    current: set[tuple[int, int]] = set()
    for batch in chunks(people):
        rows = await session.execute(
            select(Person.id, Person.school_id).where(
                Person.id.in_(batch),
                Person.active.is_(True),
                REPORTS_FOR_SCHOOL,
                Person.school_id.is_not(None),
            )
        )
        current.update((int(r[0]), int(r[1] or 0)) for r in rows)
    return current & wanted


def _not_reporter_any_more() -> ColumnElement[bool]:
    """The send row's recipient no longer actively reports for the row's school."""
    return ~exists().where(
        Person.id == ReminderSend.recipient_id,
        Person.active.is_(True),
        REPORTS_FOR_SCHOOL,
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
    where = [ReminderSend.status == SendStatus.RETRY.value, _not_reporter_any_more()]
    values = {"status": SendStatus.SKIPPED.value, "error": error}
    return len(await outbox.take(session, REMINDERS, where, values=values, ids=ids))
