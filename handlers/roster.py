"""A roster sent as a file: the input-router consumer that previews it, and the confirm/cancel buttons.

Thin: what to answer is ``bot.office.roster_chat``; this module downloads the
file, shows a "checking" message in reply to it (edited into the preview, so
the confirm button's message quotes the file) and edits that message with the
import's progress and result.
"""

from __future__ import annotations

from telegram import Document, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler

from bot.context import Context
from bot.core.i18n import t
from bot.core.textsplit import split_text
from bot.core.ui import Screen
from bot.delivery.markup import markup
from bot.office import roster_chat
from handlers.common import edit_in_place, reply_long
from handlers.guards import admin_only

__all__ = ["build_roster_handlers", "roster_input"]


def _upload(message: Message) -> tuple[roster_chat.Upload, str] | None:
    """What was sent (and its file id), if it is a file or a photo."""
    if message.document is not None:
        document = message.document
        return roster_chat.Upload("document", document.file_name, document.file_size), document.file_id
    if message.photo:
        return roster_chat.Upload("photo", None, message.photo[-1].file_size), message.photo[-1].file_id
    return None


async def _download(context: Context, file_id: str) -> bytes | None:
    try:
        file = await context.bot.get_file(file_id)
        return bytes(await file.download_as_bytearray())
    except TelegramError:
        return None


async def _show(shown: Message, screen: Screen) -> None:
    """Replace the "checking" message with ``screen``; a long list of problems goes on in further messages."""
    parts = split_text(screen.text)
    await shown.edit_text(parts[0], reply_markup=markup(screen) if len(parts) == 1 else None)
    if len(parts) > 1:
        await reply_long(shown, "\n".join(parts[1:]), reply_markup=markup(screen))


async def roster_input(update: Update, context: Context) -> bool:
    """Input-router consumer: a roster file (or a photo sent instead) from an admin; others' roster files are refused."""
    message = update.effective_message
    if message is None or update.edited_message is not None or context.identity is None:
        return False
    sent = _upload(message)
    if sent is None or not roster_chat.concerns(context.who, sent[0]):
        return False
    upload, file_id = sent
    refused = roster_chat.refusal(context.who, upload)
    if refused is not None:
        await message.reply_text(refused.text)
        return True
    shown = await message.reply_text(roster_chat.checking(context.who, upload), do_quote=True)
    data = await _download(context, file_id)
    if data is None:
        await shown.edit_text(t(context.lang, "roster.chat.file_gone"))
        return True
    await _show(shown, await roster_chat.preview(context.services, context.who, upload, data))
    return True


def _quoted_file(update: Update) -> Document | None:
    """The roster file the pressed preview replies to."""
    query = update.callback_query
    message = query.message if query is not None else None
    source = message.reply_to_message if isinstance(message, Message) else None
    return source.document if source is not None else None


@admin_only
async def roster_button(update: Update, context: Context) -> None:
    """Import the previewed roster (read anew from the file it quotes), or drop it."""
    query = update.callback_query
    assert query is not None and query.data is not None
    refused = roster_chat.check_press(context.who, query.data)
    if refused is not None:
        await query.answer(refused.text, show_alert=True)
        return
    if query.data == "roster:no":
        await query.answer()
        await edit_in_place(query, roster_chat.cancel(context.who).text)
        return
    document = _quoted_file(update)
    data = await _download(context, document.file_id) if document is not None else None
    if document is None or data is None:
        await query.answer(t(context.lang, "roster.chat.file_gone"), show_alert=True)
        return
    await query.answer()

    async def show(text: str) -> None:
        """Tell how far the import got, in the pressed message (its buttons gone: no second press)."""
        try:
            await query.edit_message_text(text)
        except BadRequest:
            pass  # the message is gone or unchanged: progress is a courtesy

    upload = roster_chat.Upload("document", document.file_name, document.file_size)
    screen = await roster_chat.confirm(context.services, context.who, query.data, upload, data, show)
    await edit_in_place(query, screen.text, markup(screen))


def build_roster_handlers() -> list[BaseHandler[Update, Context, None]]:
    """The preview's buttons; ``roster_input`` goes to the input router."""
    return [CallbackQueryHandler(roster_button, pattern=r"^roster:")]
