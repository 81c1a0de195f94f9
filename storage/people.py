"""Queries about people: who someone is, staff lists, reporters of a school."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.models import AuditEntry, Person, Role, School


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


async def identity_row(conn: AsyncConnection, telegram_id: int) -> IdentityRow | None:
    """Who someone is, in one small query: read on every update, so no ORM objects and no joins it
    does not need (the per-update cost is measured in benchmarks/updates.py)."""
    query = (
        select(
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
        )
        .outerjoin(School, School.id == Person.school_id)
        .where(Person.telegram_id == telegram_id, Person.active.is_(True))
    )
    row = (await conn.execute(query)).first()
    return IdentityRow._make(row) if row is not None else None


async def any_person_by_telegram_id(session: AsyncSession, telegram_id: int) -> Person | None:
    """Also inactive (removed) people, so they can be re-activated rather than duplicated."""
    return await session.scalar(select(Person).where(Person.telegram_id == telegram_id))


async def reporters_of_school(session: AsyncSession, school_id: int) -> Sequence[Person]:
    return (
        await session.scalars(
            select(Person)
            .where(Person.school_id == school_id, Person.role == Role.PRINCIPAL, Person.active.is_(True))
            .order_by(Person.id)
        )
    ).all()


async def staff_members(session: AsyncSession) -> Sequence[Person]:
    return (
        await session.scalars(
            select(Person)
            .where(Person.role.in_([Role.STAFF, Role.ADMIN]), Person.active.is_(True))
            .order_by(Person.role, Person.name)
        )
    ).all()


async def set_blocked(session: AsyncSession, telegram_id: int, blocked: bool) -> None:
    await session.execute(update(Person).where(Person.telegram_id == telegram_id).values(blocked=blocked))


async def set_language(session: AsyncSession, telegram_id: int, language: str) -> None:
    await session.execute(update(Person).where(Person.telegram_id == telegram_id).values(language=language))


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
