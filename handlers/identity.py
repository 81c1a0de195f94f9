"""Group -1: who sent this update, loaded once, before any other handler runs.

Also the private-chat rule: the bot collects nothing in groups, so group
updates stop here (a command there gets one pointer to the private chat).
"""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, BaseHandler, TypeHandler

from bot.context import Context, Identity
from bot.i18n import normalise_language, t
from bot.observability import note_role
from bot.services.registration import ensure_admin
from storage.models import Role
from storage.people import person_by_telegram_id


async def identify(update: Update, context: Context) -> None:
    """Load the sender's role, school and language for every later handler."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None:
        raise ApplicationHandlerStop
    services = context.services
    lang = normalise_language(user.language_code)
    async with services.db.session() as session:
        person = await person_by_telegram_id(session, user.id)
        if user.id in services.settings.admin_ids and (person is None or person.role != Role.ADMIN):
            person = await ensure_admin(
                session, services.clock.now(), telegram_id=user.id, name=user.full_name, language=lang
            )
        if person is not None and person.blocked and chat is not None and chat.type == ChatType.PRIVATE:
            # They write to us again, so they have unblocked the bot.
            person.blocked = False
        identity = Identity(telegram_id=user.id, language=lang)
        if person is not None:
            identity = Identity(
                telegram_id=user.id,
                language=person.language or lang,
                role=Role(person.role),
                person_id=person.id,
                name=person.name,
                school_id=person.school_id,
                school_code=person.school.code if person.school else None,
                school_name=person.school.name if person.school else None,
                district_id=person.school.district_id if person.school else person.district_id,
            )
    context.identity = identity
    note_role(identity.role.value if identity.role else "unknown")
    if chat is not None and chat.type != ChatType.PRIVATE:
        message = update.effective_message
        if message is not None and message.text and message.text.startswith("/"):
            await message.reply_text(t(identity.language, "core.private_only"))
        raise ApplicationHandlerStop


def build_identity_handlers() -> list[BaseHandler[Update, Context, None]]:
    return [TypeHandler(Update, identify)]
