"""Queries about people: who someone is, staff lists, reporters of a school."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from typing import Any, NamedTuple

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.models import AuditEntry, District, Draft, Invite, Person, Role, School, SchoolProgramme

# The roles that report for one school: its principal and the deputies the principal invited.
SCHOOL_ROLES = (Role.PRINCIPAL.value, Role.REPORTER.value)
REPORTS_FOR_SCHOOL = Person.role.in_(SCHOOL_ROLES)
"""The person reports for their school (principal or deputy); add ``Person.active`` and the school yourself."""


async def person_by_telegram_id(session: AsyncSession, telegram_id: int) -> Person | None:
    return await session.scalar(select(Person).where(Person.telegram_id == telegram_id, Person.active.is_(True)))


class IdentityRow(NamedTuple):
    """The columns ``identity_row`` reads."""

    id: int
    role: str
    name: str
    language: str | None
    blocked: bool
    school_id: int | None
    district_id: int | None
    school_code: str | None
    school_name: str | None
    school_district_id: int | None
    # The school's programmes, comma-separated (None without a school or programmes).
    school_programmes: str | None
    # The person's draft as stored (column name -> value), or None without one.
    draft: dict[str, Any] | None


_PERSON_COLUMNS = (
    Person.id,
    Person.role,
    Person.name,
    Person.language,
    Person.blocked,
    Person.school_id,
    Person.district_id,
    School.code.label("school_code"),
    School.name.label("school_name"),
    School.district_id.label("school_district_id"),
    select(func.aggregate_strings(SchoolProgramme.programme, ","))
    .where(SchoolProgramme.school_id == Person.school_id)
    .scalar_subquery()
    .label("school_programmes"),
)
_DRAFT_COLUMNS = tuple(Draft.__table__.columns)
_DRAFT_NAMES = tuple(column.name for column in _DRAFT_COLUMNS)
_DRAFT_START = len(_PERSON_COLUMNS)
_DRAFT_ID = _DRAFT_START + _DRAFT_NAMES.index("id")  # NULL when the person has no draft

# Built once: the statement runs on every update, and a prebuilt one skips SQLAlchemy's
# per-call construction and cache-key work.
_IDENTITY = (
    select(*_PERSON_COLUMNS, *(column.label(f"draft_{column.name}") for column in _DRAFT_COLUMNS))
    .outerjoin(School, School.id == Person.school_id)
    .outerjoin(Draft, Draft.person_id == Person.id)
    .where(Person.telegram_id == bindparam("telegram_id"), Person.active.is_(True))
)


async def identity_row(conn: AsyncConnection, telegram_id: int) -> IdentityRow | None:
    """Who someone is, their school's programmes and their draft if any, in one small query.

    Read on every update, so no ORM objects. The programmes and the draft come
    along because a principal's update nearly always needs them: reading them
    here saves the conversation a statement each (it is written back with a revision check, see
    ``storage.drafts.attach_draft``); the per-update cost is measured in
    benchmarks/updates.py.
    """
    row = (await conn.execute(_IDENTITY, {"telegram_id": telegram_id})).first()
    if row is None:
        return None
    draft = dict(zip(_DRAFT_NAMES, row[_DRAFT_START:])) if row[_DRAFT_ID] is not None else None
    return IdentityRow._make((*row[:_DRAFT_START], draft))


async def any_person_by_telegram_id(session: AsyncSession, telegram_id: int) -> Person | None:
    """Also inactive (removed) people, so they can be re-activated rather than duplicated."""
    return await session.scalar(select(Person).where(Person.telegram_id == telegram_id))


async def reporters_of_school(session: AsyncSession, school_id: int) -> Sequence[Person]:
    return (
        await session.scalars(
            select(Person).where(Person.school_id == school_id, REPORTS_FOR_SCHOOL, Person.active.is_(True)).order_by(Person.id)
        )
    ).all()


async def deactivate_deputy(session: AsyncSession, telegram_id: int, school_id: int) -> str | None:
    """Deactivate ``telegram_id`` if an active deputy of ``school_id``, atomically; their name, or None.

    The row and every report it filed stay (``reports.reporter_id``); a second press finds nothing.
    """
    result = await session.execute(
        update(Person)
        .where(
            Person.telegram_id == telegram_id,
            Person.role == Role.REPORTER,
            Person.school_id == school_id,
            Person.active.is_(True),
        )
        .values(active=False)
        .returning(Person.name)
    )
    return result.scalar_one_or_none()


async def staff_members(session: AsyncSession) -> Sequence[Person]:
    return (
        await session.scalars(
            select(Person)
            .where(Person.role.in_([Role.STAFF, Role.ADMIN]), Person.active.is_(True))
            .order_by(Person.role, Person.name)
        )
    ).all()


class PersonListing(NamedTuple):
    """One person as the office lists them: who, role, and where they belong."""

    telegram_id: int
    name: str
    role: str
    active: bool
    school_code: str | None
    school_name: str | None
    # A principal's school's district, or a staff member's own district; None = city-wide.
    district: str | None


async def list_people(
    session: AsyncSession,
    *,
    roles: Sequence[str] = (),
    district_id: int | None = None,
    school_id: int | None = None,
    telegram_id: int | None = None,
    include_inactive: bool = False,
) -> list[PersonListing]:
    """People by role, then school code or district, then name; filters combine.

    ``district_id`` keeps principals of that district's schools and staff of that
    district (city staff and admins have no district, so they drop out).
    """
    own_district = District.__table__.alias("own_district")
    school_district = District.__table__.alias("school_district")
    query = (
        select(
            Person.telegram_id,
            Person.name,
            Person.role,
            Person.active,
            School.code,
            School.name,
            func.coalesce(school_district.c.name, own_district.c.name),
        )
        .outerjoin(School, School.id == Person.school_id)
        .outerjoin(school_district, school_district.c.id == School.district_id)
        .outerjoin(own_district, own_district.c.id == Person.district_id)
    )
    if roles:
        query = query.where(Person.role.in_(list(roles)))
    if not include_inactive:
        query = query.where(Person.active.is_(True))
    if district_id is not None:
        query = query.where(
            (School.district_id == district_id) | (Person.school_id.is_(None) & (Person.district_id == district_id))
        )
    if school_id is not None:
        query = query.where(Person.school_id == school_id)
    if telegram_id is not None:
        query = query.where(Person.telegram_id == telegram_id)
    order = case({Role.ADMIN.value: 0, Role.STAFF.value: 1}, value=Person.role, else_=2)
    query = query.order_by(order, School.code, own_district.c.name, Person.name, Person.telegram_id)
    return [PersonListing._make(row) for row in (await session.execute(query)).all()]


async def set_blocked(session: AsyncSession, telegram_id: int, blocked: bool) -> None:
    await session.execute(update(Person).where(Person.telegram_id == telegram_id).values(blocked=blocked))


async def set_language(session: AsyncSession, telegram_id: int, language: str) -> None:
    await session.execute(update(Person).where(Person.telegram_id == telegram_id).values(language=language))


class ClaimedInvite(NamedTuple):
    """An invite just claimed by ``claim_invite``: what it grants."""

    id: int
    role: str
    school_id: int | None
    district_id: int | None


def add_invite(
    session: AsyncSession,
    *,
    code_hash: str,
    role: str,
    school_id: int | None,
    district_id: int | None,
    created_at: datetime,
    expires_at: datetime,
    created_by: int | None,
) -> None:
    """Store a new invite (only the hash of its code)."""
    session.add(
        Invite(
            code_hash=code_hash,
            role=role,
            school_id=school_id,
            district_id=district_id,
            created_at=created_at,
            expires_at=expires_at,
            created_by=created_by,
        )
    )


async def claim_invite(session: AsyncSession, code_hash: str, now: datetime, telegram_id: int) -> ClaimedInvite | None:
    """Mark the unused, unexpired invite with ``code_hash`` used by ``telegram_id``, atomically.

    Of two people racing for one code, exactly one gets it; the other gets None.
    """
    claimed = await session.execute(
        update(Invite)
        .where(Invite.code_hash == code_hash, Invite.used_at.is_(None), Invite.expires_at > now)
        .values(used_at=now, used_by=telegram_id)
        .returning(Invite.id, Invite.role, Invite.school_id, Invite.district_id)
    )
    row = claimed.first()
    return ClaimedInvite._make(row) if row is not None else None


async def recent_audit_counts(
    session: AsyncSession, actor: int, actions: Sequence[str], now: datetime, window: timedelta
) -> dict[str, int]:
    """How many of each of ``actions`` ``actor`` did in the ``window`` before ``now``."""
    result = await session.execute(
        select(AuditEntry.action, func.count())
        .where(AuditEntry.actor == actor, AuditEntry.action.in_(list(actions)), AuditEntry.at > now - window)
        .group_by(AuditEntry.action)
    )
    return {action: int(count) for action, count in result}


def add_person(session: AsyncSession, **fields: Any) -> Person:
    """A new person row (flushed with the caller's transaction)."""
    person = Person(**fields)
    session.add(person)
    return person


async def deactivate_admin(session: AsyncSession, telegram_id: int) -> bool:
    """Deactivate ``telegram_id``'s active admin row; whether there was one."""
    result = await session.execute(
        update(Person)
        .where(Person.telegram_id == telegram_id, Person.role == Role.ADMIN, Person.active.is_(True))
        .values(active=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def load_school(session: AsyncSession, person: Person) -> None:
    """Load ``person.school`` now: lazy loading is not available in async code."""
    await session.refresh(person, ["school"])


def audit(
    session: AsyncSession,
    at: datetime,
    actor: int | None,
    action: str,
    subject: str | None = None,
    **detail: object,
) -> None:
    """Record an action in the audit log (committed with the caller's transaction)."""
    session.add(AuditEntry(at=at, actor=actor, action=action, subject=subject, detail=detail or None))
