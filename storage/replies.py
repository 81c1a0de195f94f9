"""Queries for replies to broadcasts: which message a Telegram reply points at, the thread, who gets it.

A principal's reply points at their copy of a broadcast (``broadcast_outbox``
records the message ids the sender got back) or at an answer the office sent
them; a staff member's points at the copy of a reply the bot forwarded, or at
the prompt to answer it (``broadcast_reply_messages``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Broadcast, BroadcastReply, OutboxRow, OutboxStatus, Person, ReplyKind, ReplyMessage, Role, School

__all__ = [
    "BroadcastCopy",
    "Contact",
    "ThreadPoint",
    "active_admins",
    "add_reply",
    "broadcast_author",
    "broadcast_copy",
    "contact",
    "principals_of",
    "remember_messages",
    "reply_by_id",
    "school_of",
    "set_delivered",
    "thread_point",
]


@dataclass(frozen=True)
class BroadcastCopy:
    """The copy of a broadcast a recipient got, found from a message id in their chat."""

    broadcast_id: int
    author_id: int
    school_id: int | None
    text: str | None


@dataclass(frozen=True)
class ThreadPoint:
    """A reply or answer that a message of the bot shows, with its broadcast."""

    reply: BroadcastReply
    broadcast_text: str | None


@dataclass(frozen=True)
class Contact:
    """Someone a reply or an answer can be sent to."""

    person_id: int
    telegram_id: int
    name: str
    role: str
    language: str | None
    district_id: int | None
    school_id: int | None
    active: bool


async def broadcast_copy(session: AsyncSession, chat_id: int, message_id: int) -> BroadcastCopy | None:
    """The broadcast whose copy in ``chat_id`` includes ``message_id`` (any part of a split text)."""
    row = (
        await session.execute(
            select(OutboxRow.broadcast_id, Broadcast.author_id, OutboxRow.school_id, Broadcast.text)
            .join(Broadcast, Broadcast.id == OutboxRow.broadcast_id)
            .where(
                OutboxRow.chat_id == chat_id,
                OutboxRow.status == OutboxStatus.SENT.value,
                OutboxRow.message_id <= message_id,
                OutboxRow.last_message_id >= message_id,
            )
            .order_by(OutboxRow.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return BroadcastCopy(int(row.broadcast_id), int(row.author_id), row.school_id, row.text)


async def thread_point(session: AsyncSession, chat_id: int, message_id: int) -> ThreadPoint | None:
    """The reply or answer the bot's message ``message_id`` in ``chat_id`` shows, if any."""
    row = (
        await session.execute(
            select(BroadcastReply, Broadcast.text)
            .join(ReplyMessage, ReplyMessage.reply_id == BroadcastReply.id)
            .join(Broadcast, Broadcast.id == BroadcastReply.broadcast_id)
            .where(ReplyMessage.chat_id == chat_id, ReplyMessage.message_id == message_id)
        )
    ).first()
    return None if row is None else ThreadPoint(row[0], row[1])


async def reply_by_id(session: AsyncSession, reply_id: int) -> ThreadPoint | None:
    row = (
        await session.execute(
            select(BroadcastReply, Broadcast.text)
            .join(Broadcast, Broadcast.id == BroadcastReply.broadcast_id)
            .where(BroadcastReply.id == reply_id)
        )
    ).first()
    return None if row is None else ThreadPoint(row[0], row[1])


async def broadcast_author(session: AsyncSession, broadcast_id: int) -> int | None:
    return await session.scalar(select(Broadcast.author_id).where(Broadcast.id == broadcast_id))


def _contact(person: Person) -> Contact:
    return Contact(
        person.id,
        person.telegram_id,
        person.name,
        person.role,
        person.language,
        person.district_id,
        person.school_id,
        person.active,
    )


async def contact(session: AsyncSession, person_id: int) -> Contact | None:
    person = await session.get(Person, person_id)
    return None if person is None else _contact(person)


async def active_admins(session: AsyncSession) -> list[Contact]:
    """The office inbox: every active admin."""
    people = await session.scalars(
        select(Person).where(Person.role == Role.ADMIN.value, Person.active.is_(True)).order_by(Person.id)
    )
    return [_contact(p) for p in people]


async def principals_of(session: AsyncSession, school_id: int) -> list[Contact]:
    """Active principals of a school, oldest registration first."""
    people = await session.scalars(
        select(Person)
        .where(Person.school_id == school_id, Person.role == Role.PRINCIPAL.value, Person.active.is_(True))
        .order_by(Person.id)
    )
    return [_contact(p) for p in people]


async def school_of(session: AsyncSession, school_id: int | None) -> School | None:
    return None if school_id is None else await session.get(School, school_id)


async def add_reply(
    session: AsyncSession,
    now: datetime,
    *,
    broadcast_id: int,
    kind: ReplyKind,
    author: Contact,
    school_id: int | None,
    text: str,
    parent_id: int | None = None,
) -> BroadcastReply:
    reply = BroadcastReply(
        broadcast_id=broadcast_id,
        kind=kind.value,
        parent_id=parent_id,
        school_id=school_id,
        author_id=author.person_id,
        author_chat_id=author.telegram_id,
        text=text,
        delivered=0,
        created_at=now,
    )
    session.add(reply)
    await session.flush()
    return reply


async def remember_messages(session: AsyncSession, reply_id: int, messages: Iterable[tuple[int, int]]) -> None:
    """Note the bot's messages (chat id, message id) that show ``reply_id``; a message noted twice keeps its first."""
    rows = [{"chat_id": chat, "message_id": message, "reply_id": reply_id} for chat, message in messages]
    if not rows:
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(insert(ReplyMessage).values(rows).on_conflict_do_nothing())


async def set_delivered(session: AsyncSession, reply_id: int, delivered: int) -> None:
    await session.execute(update(BroadcastReply).where(BroadcastReply.id == reply_id).values(delivered=delivered))
