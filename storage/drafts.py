"""Drafts: a principal's report conversation in flight, one row per person.

The conversation's whole state (form, version, period, step, answers) lives
here rather than in process memory, so a restart or a second bot process
carries on exactly where the principal stopped (see REFERENCE.md on
ConversationHandler).

Two processes handling the same person must never overwrite each other's
answers. An update continues the draft read with the sender's identity
(``attach_draft``): every ORM write of a draft checks its ``revision`` (the
mapper's version counter), so a draft changed meanwhile is not overwritten but
raises ``StaleDataError``, and the update is then done again on the draft
claimed under a lock (``claim_draft``). The common case costs one read and one
write; the race costs one more round.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from storage.models import Draft

__all__ = ["DraftRaced", "attach_draft", "claim_draft", "delete_draft", "draft_of", "last_update_id_seen", "start_draft"]


class DraftRaced(Exception):
    """Another process started a draft for the person after this update read that there was none."""


def attach_draft(session: AsyncSession, values: Mapping[str, Any]) -> Draft:
    """A draft read earlier without a lock (every column, as stored), made part of ``session``.

    No statement is sent: the object is set up as if just loaded. Writing it
    (an UPDATE or DELETE through the ORM) checks that its revision is still the
    one read, and raises ``sqlalchemy.orm.exc.StaleDataError`` if not.
    """
    draft = Draft(**values)
    make_transient_to_detached(draft)
    session.add(draft)
    return draft


async def last_update_id_seen(session: AsyncSession) -> int:
    """The newest update id any draft has taken (0 with none): an update at or below it only resumes."""
    return int(await session.scalar(select(func.max(Draft.last_update_id))) or 0)


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
    notes: Mapping[str, Any] | None = None,
    correction_of: int | None = None,
    school_id: int | None = None,
    replace: bool = True,
) -> Draft:
    """Replace whatever draft the person had with a new one (one draft per person).

    ``replace=False`` when the caller knows the person has no draft (read at
    the start of the update): then nothing is deleted first, and a draft that
    appeared meanwhile (another process) raises ``DraftRaced`` instead of
    being replaced unseen.
    """
    if replace:
        await session.execute(delete(Draft).where(Draft.person_id == person_id))
    draft = Draft(
        person_id=person_id,
        token=token,
        form_key=form_key,
        form_version=form_version,
        period=period,
        step=step,
        answers=dict(answers or {}),
        notes=dict(notes) if notes else None,
        editing=False,
        correction_of=correction_of,
        school_id=school_id,
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    try:
        await session.flush()
    except IntegrityError as exc:
        if replace:
            raise
        raise DraftRaced(person_id) from exc
    return draft


async def delete_draft(session: AsyncSession, draft_id: int, *, revision: int | None = None) -> bool:
    """Delete a draft; with ``revision``, only if nobody changed it since it was read at that
    revision. True if a row went."""
    statement = delete(Draft).where(Draft.id == draft_id)
    if revision is not None:
        statement = statement.where(Draft.revision == revision)
    result = await session.execute(statement.returning(Draft.id))
    return result.first() is not None
