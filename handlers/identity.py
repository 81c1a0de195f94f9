"""Group -1: who sent this update, loaded once, before any other handler runs.

Also the private-chat rule: the bot collects nothing in groups, so group
updates stop here (a command there gets one pointer to the private chat).
Who someone is (and the admin bootstrap from ADMIN_IDS) is ``bot.office.people.identify``.
"""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, BaseHandler, TypeHandler

from bot.context import Context
from bot.core.i18n import normalise_language, t
from bot.office import people
from bot.runtime.observability import note_role


async def identify(update: Update, context: Context) -> None:
    """Load the sender's role, school and language for every later handler."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None:
        raise ApplicationHandlerStop
    is_private = chat is not None and chat.type == ChatType.PRIVATE
    identity = await people.identify(
        context.services,
        telegram_id=user.id,
        full_name=user.full_name,
        language=normalise_language(user.language_code),
        private=is_private,
    )
    context.identity = identity
    context.update_id = update.update_id
    note_role(identity.role.value if identity.role else "unknown")
    if chat is not None and chat.type != ChatType.PRIVATE:
        message = update.effective_message
        if message is not None and message.text and message.text.startswith("/"):
            await message.reply_text(t(identity.language, "core.private_only"))
        raise ApplicationHandlerStop


def build_identity_handlers() -> list[BaseHandler[Update, Context, None]]:
    return [TypeHandler(Update, identify)]
