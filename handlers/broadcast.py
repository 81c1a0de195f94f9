"""``/broadcast`` (compose a notice to principals or staff), ``/broadcasts`` (follow and stop), and their buttons.

Thin: each callback asks ``bot.office.broadcast`` and shows the screen it
returns. The message to broadcast is free input, so it reaches
``broadcast_input`` through the input router (``bot/app.py`` appends it to
the consumers). The draft lives in SQL, not in ``user_data``.
"""

from __future__ import annotations

from telegram import CallbackQuery, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.context import Context
from bot.core.i18n import t
from bot.core.ui import Alert, Screen
from bot.delivery.markup import markup
from bot.delivery.send import Outcome, deliver
from bot.office import broadcast as svc
from handlers.guards import staff_only


@staff_only
async def broadcast_command(update: Update, context: Context) -> None:
    """Start composing a notice: show the audience menu."""
    assert update.effective_message is not None
    screen = await svc.start(context.services, context.who)
    await update.effective_message.reply_text(screen.text, reply_markup=markup(screen))


@staff_only
async def composer_button(update: Update, context: Context) -> None:
    """A composer button: audience, district toggle, programme, period, "report now" button, confirm, change or cancel."""
    query = update.callback_query
    assert query is not None and query.data is not None
    result = await svc.press(context.services, context.who, query.data)
    if isinstance(result, Alert):
        await query.answer(result.text, show_alert=True)
    elif isinstance(result, svc.Closed):
        await query.answer()
        await _show(query, Screen(result.text))
    elif isinstance(result, svc.Edit):
        await query.answer()
        await _show(query, result.screen)
    elif isinstance(result, svc.Preview):
        await query.answer()
        await _preview(context, query.from_user.id, result)
    else:
        await query.answer(t(context.lang, "broadcast.queued"))
        shown = await _show(query, result.screen)
        if shown is not None:
            await svc.set_progress_message(context.services, result.broadcast_id, shown)
        context.bot_data.sender.wake()


async def broadcast_input(update: Update, context: Context) -> bool:
    """The notice itself (text, photo or document) while a draft waits for it; False if none does."""
    message = update.effective_message
    if message is None or context.identity is None or not context.who.is_staff:
        return False
    result = await svc.accept_content(context.services, context.who, _content(message))
    if result is None:
        return False
    if isinstance(result, svc.Reply):
        await message.reply_text(result.text)
        return True
    await _preview(context, message.chat_id, result)
    return True


async def _preview(context: Context, chat_id: int, preview: svc.Preview) -> None:
    """Show the notice as recipients will get it, then the panel to confirm it."""
    # The preview goes through the very function the sender uses: what staff see is what principals get.
    shown = await deliver(context.bot, chat_id, preview.payload)
    if shown.outcome is not Outcome.SENT:
        await context.bot.send_message(chat_id, t(context.lang, "broadcast.preview_failed", reason=shown.reason or ""))
        return
    await context.bot.send_message(chat_id, preview.screen.text, reply_markup=markup(preview.screen))


def _content(message: Message) -> svc.Content:
    if message.text is not None:
        return svc.Content("text", message.text)
    if message.photo:
        return svc.Content("photo", message.caption, message.photo[-1].file_id)
    if message.document is not None:
        return svc.Content("document", message.caption, message.document.file_id)
    return svc.Content("other")


@staff_only
async def broadcasts_command(update: Update, context: Context) -> None:
    """List recent broadcasts with their counts; running ones get a stop button."""
    assert update.effective_message is not None
    screen = await svc.list_recent(context.services, context.who)
    await update.effective_message.reply_text(screen.text, reply_markup=markup(screen))


@staff_only
async def stop_button(update: Update, context: Context) -> None:
    """Stop a running broadcast: unsent rows are cancelled, the progress message shows the result."""
    query = update.callback_query
    assert query is not None and query.data is not None
    outcome = await svc.cancel_running(context.services, context.who, query.data)
    await query.answer(outcome.alert, show_alert=outcome.report is None)
    if outcome.report is None:
        return
    pressed = query.message.message_id if query.message is not None else None
    if outcome.progress_message_id is not None:
        try:
            await context.bot.edit_message_text(
                outcome.report, chat_id=outcome.author_chat_id, message_id=outcome.progress_message_id
            )
        except TelegramError:
            pass  # the progress message may be gone; the list below still updates
    if pressed != outcome.progress_message_id:
        await _show(query, await svc.list_recent(context.services, context.who))


async def _show(query: CallbackQuery, screen: Screen) -> int | None:
    """Show ``screen`` in the pressed message (or anew if that one cannot be edited); return its message id."""
    try:
        edited = await query.edit_message_text(screen.text, reply_markup=markup(screen))
    except BadRequest as exc:
        if "not modified" in str(exc).lower():
            # A button of the screen already shown: nothing changes.
            return query.message.message_id if query.message is not None else None
        # Deleted, too old to edit, or never ours (a forged press): the screen still has to appear.
        sent = await query.get_bot().send_message(query.from_user.id, screen.text, reply_markup=markup(screen))
        return sent.message_id
    return edited.message_id if isinstance(edited, Message) else None


def build_broadcast_handlers() -> list[BaseHandler[Update, Context, None]]:
    return [
        CommandHandler("broadcast", broadcast_command),
        CommandHandler("broadcasts", broadcasts_command),
        CallbackQueryHandler(composer_button, pattern=r"^bc:"),
        CallbackQueryHandler(stop_button, pattern=r"^bcx:"),
    ]
