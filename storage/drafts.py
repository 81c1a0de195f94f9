"""Drafts: a principal's report conversation in flight, one row per person.

The conversation's whole state (form, version, period, step, answers) lives
here rather than in process memory, so a restart or a second bot process
carries on exactly where the principal stopped (see REFERENCE.md on
ConversationHandler). Every update claims the row first (``claim_draft``), so
two processes handling the same person take turns instead of overwriting each
other's answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Draft

__all__ = ["claim_draft", "delete_draft", "draft_of", "start_draft"]


async def claim_draft(session: AsyncSession, person_id: int) -> Draft | None:
    """Lock the person's draft for this transaction and return it (None if there is none).

    A no-op UPDATE takes the lock on both backends: the row lock on PostgreSQL
    (like ``FOR UPDATE``), the database write lock on SQLite, where a plain
    read would later fail to upgrade to a write if another process wrote in
    between. ``populate_existing`` makes sure we read what the last holder wrote.
    """
    # One statement: the lock and the read (UPDATE ... RETURNING), not an UPDATE then a SELECT.
    claimed = await session.scalars(
        update(Draft).where(Draft.person_id == person_id).values(token=Draft.token).returning(Draft),
        execution_options={"populate_existing": True},
    )
    return claimed.one_or_none()


async def draft_of(session: AsyncSession, person_id: int) -> Draft | None:
    """The person's draft, read without locking (for status screens)."""
    return await session.scalar(select(Draft).where(Draft.person_id == person_id))


async def start_draft(
    session: AsyncSession,
    *,
    person_id: int,
    token: str,
    now: datetime,
    form_key: str,
    form_version: int,
    step: str,
    period: str | None = None,
    answers: Mapping[str, str | None] | None = None,
    correction_of: int | None = None,
) -> Draft:
    """Replace whatever draft the person had with a new one (one draft per person)."""
    await session.execute(delete(Draft).where(Draft.person_id == person_id))
    draft = Draft(
        person_id=person_id,
        token=token,
        form_key=form_key,
        form_version=form_version,
        period=period,
        step=step,
        answers=dict(answers or {}),
        editing=False,
        correction_of=correction_of,
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    await session.flush()
    return draft


async def delete_draft(session: AsyncSession, draft_id: int, token: str | None = None) -> bool:
    """Delete a draft; with ``token``, only if it is still that draft. True if a row went."""
    statement = delete(Draft).where(Draft.id == draft_id)
    if token is not None:
        statement = statement.where(Draft.token == token)
    result = await session.execute(statement.returning(Draft.id))
    return result.first() is not None

