"""Group -1: who sent this update, loaded once, before any other handler runs.

Also the private-chat rule: the bot collects nothing in groups, so group
updates stop here (a command there gets one pointer to the private chat).
"""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, BaseHandler, TypeHandler

from bot.context import Context
from bot.services import Identity
from bot.core.i18n import normalise_language, t
from bot.runtime.observability import note_role
from bot.office.registration import ensure_admin, revoke_admin
from storage.models import Role
from storage.people import identity_row, set_blocked


async def identify(update: Update, context: Context) -> None:
    """Load the sender's role, school and language for every later handler."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None:
        raise ApplicationHandlerStop
    services = context.services
    lang = normalise_language(user.language_code)
    async with services.db.reader() as conn:
        row = await identity_row(conn, user.id)
    is_private = chat is not None and chat.type == ChatType.PRIVATE
    needs_admin = user.id in services.settings.admin_ids and (row is None or row.role != Role.ADMIN)
    # An admin row whose id left ADMIN_IDS: that list is the source of admins, so the row goes.
    revoked = row is not None and row.role == Role.ADMIN and user.id not in services.settings.admin_ids
    if needs_admin or revoked or (row is not None and row.blocked and is_private):
        # Rare writes: bootstrap an admin from ADMIN_IDS, revoke a removed one, or note
        # that a blocked user wrote again.
        async with services.db.session() as session:
            if needs_admin:
                await ensure_admin(session, services.clock.now(), telegram_id=user.id, name=user.full_name, language=lang)
            elif revoked:
                await revoke_admin(session, services.clock.now(), telegram_id=user.id)
            if is_private:
                await set_blocked(session, user.id, False)
        if revoked:
            row = None  # deactivated: from now on somebody the bot does not know
        else:
            async with services.db.reader() as conn:
                row = await identity_row(conn, user.id)
    identity = Identity(telegram_id=user.id, language=lang)
    if row is not None:
        identity = Identity(
            telegram_id=user.id,
            language=row.language or lang,
            role=Role(row.role),
            person_id=row.id,
            name=row.name,
            school_id=row.school_id,
            school_code=row.school_code,
            school_name=row.school_name,
            district_id=row.school_district_id if row.school_id else row.district_id,
            programmes=frozenset(row.school_programmes.split(",")) if row.school_programmes else frozenset(),
            draft=row.draft,
            draft_read=True,
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
