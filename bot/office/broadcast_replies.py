"""Replies to broadcasts: a principal's reply reaches its author (or the office inbox), the office answers back.

A principal answers a notice the way Telegram people do: they reply to it.
``receive`` is given the message replied to and finds what it was:

* their copy of a broadcast → a ``reply``: sent to the broadcast's author if
  they are still active office staff whose scope holds the school, else to
  every active admin (the office inbox), with the school's name and an
  "answer" button (``bcr:<reply id>``);
* the copy of a reply in a staff member's chat (or the prompt the answer button
  opened) → an ``answer``: checked against the staff member's district, sent to
  the principal who wrote (or, if they left, the school's active principals);
* an answer in a principal's chat → another reply in the same thread;
* anything else → None: the message is not about a broadcast, and the caller
  carries on as if it were no reply at all.

Refusals are plain and reveal nothing: someone who is no longer a principal is
told their reply was not passed on; an answer outside one's district is
refused without saying whose school it is. Every reply and answer is stored
(``broadcast_replies``) and writes one audit row (subject ``broadcast:<id>``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import t
from bot.core.textsplit import storable
from bot.core.ui import Button, Screen
from bot.office.broadcast_action import office_name
from bot.office.scope import office_district
from bot.services import Identity, Services
from storage import replies as store
from storage.models import BroadcastReply, ReplyKind, Role, School
from storage.people import audit

__all__ = ["Notice", "Refused", "Routed", "delivered", "prompt", "receive"]

_ANSWER_BUTTON = re.compile(r"^bcr:(\d{1,12})$")
# Room left in a 4,096-character message for what was written, after the lines around it.
_SHOWN = 3600
_EXCERPT = 40


@dataclass(frozen=True)
class Notice:
    """A message to send: ``screen`` to ``chat_id``; ``force_reply`` opens the recipient's reply box."""

    chat_id: int
    screen: Screen
    force_reply: bool = False


@dataclass(frozen=True)
class Routed:
    """A reply or answer stored: send ``notices``, then tell the writer ``ack`` (or ``ack_none`` if none arrived)."""

    reply_id: int
    notices: list[Notice]
    ack: str = ""
    ack_none: str = ""
    # False for the prompt of the answer button: it shows a reply, it does not deliver one.
    counts: bool = True


@dataclass(frozen=True)
class Refused:
    """Tell the writer ``text``; nothing was passed on."""

    text: str
    alert: bool = field(default=False)


async def receive(
    services: Services, who: Identity, *, chat_id: int, replied_to: int, text: str | None
) -> Routed | Refused | None:
    """A message written as a Telegram reply to the bot's message ``replied_to``; None if that was no broadcast."""
    lang = who.language
    async with services.db.session() as session:
        copy = await store.broadcast_copy(session, chat_id, replied_to)
        point = None if copy is not None else await store.thread_point(session, chat_id, replied_to)
        if copy is None and point is None:
            return None
        if copy is not None and copy.school_id is None:
            return None  # a staff notice: replies to those are not collected
        answering = point is not None and point.reply.kind == ReplyKind.REPLY.value
        if not answering and not who.is_principal:
            # Deactivated (or never a principal): say so plainly, pass nothing on.
            return Refused(t(lang, "broadcast.reply_not_principal"))
        if not text or not text.strip():
            return Refused(t(lang, "broadcast.reply_text_only"))
        text = storable(text)
        if point is not None and answering:
            return await _answer(services, session, who, point.reply, text)
        broadcast_id = copy.broadcast_id if copy is not None else point.reply.broadcast_id if point else 0
        excerpt = copy.text if copy is not None else point.broadcast_text if point else None
        return await _reply(services, session, who, broadcast_id, excerpt, text)


async def _reply(
    services: Services, session: AsyncSession, who: Identity, broadcast_id: int, excerpt: str | None, text: str
) -> Routed | Refused:
    """A principal's reply to a broadcast (or to an answer): to the author, or to the office inbox."""
    lang = who.language
    if who.person_id is None or who.school_id is None:
        return Refused(t(lang, "broadcast.reply_not_principal"))
    author = await _author_of(session, broadcast_id)
    school = await store.school_of(session, who.school_id)
    assert school is not None
    targets = [author] if author is not None and _in_scope(author, school) else []
    inbox = not targets
    if inbox:
        targets = [a for a in await store.active_admins(session) if a.person_id != who.person_id]
    writer = await store.contact(session, who.person_id)
    assert writer is not None
    now = services.clock.now()
    reply = await store.add_reply(
        session, now, broadcast_id=broadcast_id, kind=ReplyKind.REPLY, author=writer, school_id=school.id, text=text
    )
    audit(
        session,
        now,
        who.telegram_id,
        "broadcast.reply",
        f"broadcast:{broadcast_id}",
        reply=reply.id,
        school=school.code,
        to="inbox" if inbox else "author",
        recipients=[c.telegram_id for c in targets],
    )
    notices = [Notice(c.telegram_id, _reply_screen(c.language, reply, school, who.name, excerpt)) for c in targets]
    office = office_name(services, lang)
    ack = t(lang, "broadcast.reply_passed_inbox" if inbox else "broadcast.reply_passed", office=office, name=_name(author))
    return Routed(reply.id, notices, ack=ack, ack_none=t(lang, "broadcast.reply_nobody", office=office))


async def _answer(services: Services, session: AsyncSession, who: Identity, reply: BroadcastReply, text: str) -> Routed | Refused:
    """Staff answering a principal's reply: within their district only, to the principal who wrote."""
    lang = who.language
    school = await store.school_of(session, reply.school_id)
    refusal = _answer_refusal(who, school)
    if refusal is not None:
        return refusal
    assert school is not None and who.person_id is not None
    writer = await store.contact(session, who.person_id)
    assert writer is not None
    principal = await store.contact(session, reply.author_id)
    still_there = (
        principal is not None and principal.active and principal.role == Role.PRINCIPAL.value and principal.school_id == school.id
    )
    targets = [principal] if still_there and principal is not None else await store.principals_of(session, school.id)
    now = services.clock.now()
    answer = await store.add_reply(
        session,
        now,
        broadcast_id=reply.broadcast_id,
        kind=ReplyKind.ANSWER,
        author=writer,
        school_id=school.id,
        text=text,
        parent_id=reply.id,
    )
    audit(
        session,
        now,
        who.telegram_id,
        "broadcast.answer",
        f"broadcast:{reply.broadcast_id}",
        reply=reply.id,
        answer=answer.id,
        school=school.code,
        recipients=[c.telegram_id for c in targets],
    )
    notices = [Notice(c.telegram_id, _answer_screen(services, c.language, answer, who.name)) for c in targets]
    return Routed(
        answer.id,
        notices,
        ack=t(lang, "broadcast.answer_passed", school=school.name),
        ack_none=t(lang, "broadcast.answer_nobody", school=school.name),
    )


async def prompt(services: Services, who: Identity, data: str) -> Routed | Refused:
    """The answer button of a forwarded reply: a prompt to reply to (checked like the answer itself)."""
    lang = who.language
    match = _ANSWER_BUTTON.match(data)
    async with services.db.session() as session:
        point = await store.reply_by_id(session, int(match[1])) if match else None
        if point is None or point.reply.kind != ReplyKind.REPLY.value:
            return Refused(t(lang, "broadcast.stale"), alert=True)
        school = await store.school_of(session, point.reply.school_id)
        refusal = _answer_refusal(who, school)
        if refusal is not None:
            return Refused(refusal.text, alert=True)
        assert school is not None
        screen = Screen(t(lang, "broadcast.answer_prompt", school=school.name, text=_cut(point.reply.text, _EXCERPT)))
        return Routed(point.reply.id, [Notice(who.telegram_id, screen, force_reply=True)], counts=False)


async def delivered(services: Services, routed: Routed, sent: Sequence[tuple[int, int]]) -> str:
    """Note the messages that arrived (chat id, message id), so replies to them continue the thread; the writer's ack."""
    async with services.db.session() as session:
        await store.remember_messages(session, routed.reply_id, sent)
        if routed.counts:
            await store.set_delivered(session, routed.reply_id, len(sent))
    return routed.ack if sent else routed.ack_none


# --- helpers ------------------------------------------------------------------------


async def _author_of(session: AsyncSession, broadcast_id: int) -> store.Contact | None:
    """The broadcast's author if still active office staff."""
    author_id = await store.broadcast_author(session, broadcast_id)
    author = await store.contact(session, author_id) if author_id is not None else None
    if author is None or not author.active or author.role not in (Role.STAFF.value, Role.ADMIN.value):
        return None
    return author


def _in_scope(staff: store.Contact, school: School) -> bool:
    """Whether ``staff`` may see this school: city staff and admins everywhere, district staff in their district."""
    return staff.role == Role.ADMIN.value or staff.district_id is None or staff.district_id == school.district_id


def _answer_refusal(who: Identity, school: School | None) -> Refused | None:
    if not who.is_staff or who.person_id is None:
        return Refused(t(who.language, "core.not_allowed"))
    district = office_district(who)
    if school is None or (district is not None and school.district_id != district):
        # Not theirs to answer; nothing about the school is said.
        return Refused(t(who.language, "broadcast.answer_out_of_scope"))
    return None


def _name(contact: store.Contact | None) -> str:
    return contact.name if contact is not None else ""


def _cut(text: str | None, limit: int) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _reply_screen(lang: str | None, reply: BroadcastReply, school: School, name: str, excerpt: str | None) -> Screen:
    text = t(
        lang,
        "broadcast.reply_notice",
        id=reply.broadcast_id,
        school=school.name,
        code=school.code,
        name=name,
        notice=_cut(excerpt, _EXCERPT),
        text=_cut(reply.text, _SHOWN),
    )
    return Screen(text, [[Button(t(lang, "broadcast.button_answer"), f"bcr:{reply.id}")]])


def _answer_screen(services: Services, lang: str | None, answer: BroadcastReply, name: str) -> Screen:
    office = office_name(services, lang)
    return Screen(
        t(lang, "broadcast.answer_notice", office=office, name=name, id=answer.broadcast_id, text=_cut(answer.text, _SHOWN))
    )
