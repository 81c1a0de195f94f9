"""Replies to broadcasts in chat: a principal's Telegram reply to a notice, the office's answer, the answer button.

Thin: ``reply_input`` is a consumer of the input router (``bot/app.py`` asks
it first): it takes a message only when it replies to one of the bot's
messages that ``bot.office.broadcast_replies`` knows (a broadcast, a forwarded
reply, an answer); any other message, a reply to something else included, goes
on to the next consumer. ``answer_button`` is the "answer" button under a
forwarded reply (``bcr:<reply id>``).
"""

from __future__ import annotations

from telegram import ForceReply, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler

from bot.context import Context
from bot.delivery.markup import markup
from bot.office import broadcast_replies as svc
from handlers.guards import staff_only


async def reply_input(update: Update, context: Context) -> bool:
    """A Telegram reply to a broadcast or to a forwarded reply: pass it on; False if it is about neither."""
    message = update.effective_message
    replied = message.reply_to_message if message is not None else None
    if message is None or replied is None or replied.from_user is None or replied.from_user.id != context.bot.id:
        return False
    result = await svc.receive(
        context.services,
        context.who,
        chat_id=message.chat_id,
        replied_to=replied.message_id,
        text=message.text or message.caption,
    )
    if result is None:
        return False
    if isinstance(result, svc.Refused):
        await message.reply_text(result.text)
        return True
    await message.reply_text(await _deliver(context, result))
    return True


@staff_only
async def answer_button(update: Update, context: Context) -> None:
    """The answer button under a forwarded reply: a prompt whose reply is the answer."""
    query = update.callback_query
    assert query is not None and query.data is not None
    result = await svc.prompt(context.services, context.who, query.data)
    if isinstance(result, svc.Refused):
        await query.answer(result.text, show_alert=True)
        return
    await query.answer()
    await _deliver(context, result)


async def _deliver(context: Context, routed: svc.Routed) -> str:
    """Send the notices (someone who blocked the bot just does not get one), note what arrived; the writer's ack."""
    sent: list[tuple[int, int]] = []
    for notice in routed.notices:
        keyboard = ForceReply(selective=True) if notice.force_reply else markup(notice.screen)
        try:
            shown = await context.bot.send_message(notice.chat_id, notice.screen.text, reply_markup=keyboard)
        except TelegramError:
            continue
        sent.append((notice.chat_id, shown.message_id))
    return await svc.delivered(context.services, routed, sent)


def build_broadcast_reply_handlers() -> list[BaseHandler[Update, Context, None]]:
    return [CallbackQueryHandler(answer_button, pattern=r"^bcr:")]
