"""Reading the audit log back (writing is ``storage.people.audit``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry, Person


class AuditRow(NamedTuple):
    """One audit entry with the actor's name when the bot knows them."""

    at: datetime
    actor: int | None
    actor_name: str | None
    action: str
    subject: str | None
    detail: dict[str, Any] | None


async def audit_entries(
    session: AsyncSession,
    *,
    since: datetime | None = None,
    actor: int | None = None,
    school_code: str | None = None,
    limit: int | None = None,
) -> list[AuditRow]:
    """Audit rows matching every filter given, oldest first; ``limit`` keeps the newest ones.

    ``school_code`` matches rows about that school: its code as the subject, or
    ``school=CODE`` in the detail (rows whose subject is something else, a person say).
    """
    query = select(
        AuditEntry.at, AuditEntry.actor, Person.name, AuditEntry.action, AuditEntry.subject, AuditEntry.detail
    ).outerjoin(Person, Person.telegram_id == AuditEntry.actor)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if school_code is not None:
        query = query.where(or_(AuditEntry.subject == school_code, AuditEntry.detail["school"].as_string() == school_code))
    # Newest first to apply the limit, then turned round: a log reads downwards in time.
    query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if limit is not None:
        query = query.limit(limit)
    rows = [AuditRow._make(row) for row in (await session.execute(query)).all()]
    rows.reverse()
    return rows
