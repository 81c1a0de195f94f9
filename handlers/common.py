"""``/help``, the catch-all for anything no feature handled, and the error handler."""

from __future__ import annotations

import logging

from enum import Enum

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ApplicationHandlerStop, BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import Context
from bot.core.i18n import t
from bot.runtime.menus import help_text, wired_commands
from bot.runtime.observability import note_failure
from bot.core.textsplit import split_text

log = logging.getLogger(__name__)

# Telegram refuses longer texts; a message this long was pasted by mistake.
MAX_TEXT = 4096


async def reply_long(message: Message, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> list[Message]:
    """Reply with ``text`` in as many messages as Telegram's 4,096-unit limit needs.

    Lists that grow with the roster (invites, staff, overdue schools) use this; the
    buttons, if any, go under the last piece, where the reader's eye ends.
    """
    parts = split_text(text)
    sent = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        sent.append(await message.reply_text(part, reply_markup=reply_markup if last else None))
    return sent


class Edited(Enum):
    """What became of an edit in place."""

    DONE = "done"
    UNCHANGED = "unchanged"  # the message already shows exactly this
    GONE = "gone"  # deleted, too old, or never the bot's (a forged press)


# Telegram's words for an edit that cannot happen; anything else is a real failure.
_UNEDITABLE = ("message to edit not found", "message can't be edited", "message_id_invalid")


async def edit_in_place(query: CallbackQuery, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> Edited:
    """Show ``text`` in the message whose button was pressed, telling apart why it could not be."""
    try:
        await query.edit_message_text(text, reply_markup=reply_markup)
    except BadRequest as exc:
        reason = str(exc).lower()
        if "not modified" in reason:
            return Edited.UNCHANGED
        if any(words in reason for words in _UNEDITABLE):
            return Edited.GONE
        raise
    return Edited.DONE


async def help_command(update: Update, context: Context) -> None:
    """List what the sender may do, by role."""
    assert update.effective_message is not None
    who = context.who
    await update.effective_message.reply_text(
        help_text(who.role.value if who.role else None, who.language, wired_commands(context.application))
    )


async def unknown_command(update: Update, context: Context) -> None:
    """A command nobody handles: say so and point at /help."""
    assert update.effective_message is not None
    await update.effective_message.reply_text(t(context.lang, "core.unknown_command"))


async def fallback_text(update: Update, context: Context) -> None:
    """Free text no conversation was waiting for."""
    message = update.effective_message
    assert message is not None
    who = context.who
    if message.text and len(message.text) > MAX_TEXT:
        await message.reply_text(t(who.language, "core.too_long", limit=MAX_TEXT))
    elif not who.is_known:
        await message.reply_text(t(who.language, "core.not_registered", user_id=who.telegram_id))
    else:
        await message.reply_text(t(who.language, "core.what_now"))


async def fallback_media(update: Update, context: Context) -> None:
    """A sticker, photo, voice note or file nobody asked for."""
    assert update.effective_message is not None
    await update.effective_message.reply_text(t(context.lang, "core.text_only"))


async def stale_button(update: Update, context: Context) -> None:
    """A button no handler recognises (an old message, or forged data)."""
    query = update.callback_query
    assert query is not None
    await query.answer(t(context.lang, "core.stale_button"), show_alert=True)


async def on_error(update: object, context: Context) -> None:
    """Log the failure, tell the user their answers are safe, and stop this update here.

    Stopping matters when identification (group -1) failed, e.g. the database is
    down: later groups would otherwise run without knowing who is writing.
    """
    note_failure(context.error)
    log.error("update failed", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat and update.effective_chat.type == "private":
        lang = context.identity.language if context.identity else "zh"
        try:
            await context.bot.send_message(update.effective_chat.id, t(lang, "core.temporary_failure"))
        except TelegramError:
            log.warning("could not tell the user about the failure")
    raise ApplicationHandlerStop


def build_help_handlers() -> list[BaseHandler[Update, Context, None]]:
    return [CommandHandler("help", help_command)]


def build_fallback_handlers() -> list[BaseHandler[Update, Context, None]]:
    """Last resort for commands and buttons: registered after every feature in group 0."""
    return [
        MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, unknown_command),
        CallbackQueryHandler(stale_button),
    ]
