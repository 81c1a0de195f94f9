"""``/review [form] [period]``, its card buttons, and the reason typed to return or reopen a report.

Thin: what to answer is ``bot.office.review``; this module sends it: the
actor's messages, the pressed card edited in place, and the notices to the
school's reporters. The reason is free input, so it reaches ``review_input``
through the input router; a command sent while a reason is asked for runs as
usual and is followed by the question again (``review_after_command``, group 1).
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import Context
from bot.delivery.markup import markup
from bot.office import review
from handlers.common import Edited, edit_in_place
from handlers.guards import staff_only

__all__ = ["build_review_followups", "build_review_handlers", "review_input"]

log = logging.getLogger(__name__)


async def _send(update: Update, context: Context, reply: review.ReviewReply) -> None:
    """Answer the press (if any), refresh the pressed card, send the actor's messages, then the notices."""
    query = update.callback_query
    if query is not None:
        await query.answer(reply.alert or reply.toast, show_alert=reply.alert is not None)
        if reply.card is not None:
            if await edit_in_place(query, reply.card.text, markup(reply.card)) is Edited.GONE:
                await context.bot.send_message(query.from_user.id, reply.card.text, reply_markup=markup(reply.card))
    chat = update.effective_chat
    assert chat is not None
    for screen in reply.screens:
        await context.bot.send_message(chat.id, screen.text, reply_markup=markup(screen))
    for notice in reply.notices:
        try:
            await context.bot.send_message(notice.chat_id, notice.screen.text, reply_markup=markup(notice.screen))
        except TelegramError as exc:
            # Blocked the bot, or gone: the return stands and the report shows it in /correct.
            log.warning("could not tell reporter %s of a review: %s", notice.chat_id, exc)


@staff_only
async def review_command(update: Update, context: Context) -> None:
    """Send the queue: a heading with the approval coverage, then one card per submitted report."""
    await _send(update, context, await review.queue(context.services, context.who, context.lang, context.args or []))


@staff_only
async def review_button(update: Update, context: Context) -> None:
    """A card's approve, return or reopen button, the cancel under a question, or 🔍 under /summary and /flags."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await _send(update, context, await review.press(context.services, context.who, context.lang, query.data))


async def review_input(update: Update, context: Context) -> bool:
    """Input-router consumer: the reason typed to return or reopen a report; False if none is asked for."""
    message = update.effective_message
    if message is None or context.identity is None or not context.who.is_staff or update.edited_message is not None:
        return False
    reply = await review.reason(context.services, context.who, context.lang, message.text)
    if reply is None:
        return False
    await _send(update, context, reply)
    return True


async def review_after_command(update: Update, context: Context) -> None:
    """After any command of a staff member: a reason still asked for is asked again."""
    if context.identity is None or not context.who.is_staff:
        return
    reply = await review.ask_again(context.services, context.who, context.lang)
    if reply is not None:
        await _send(update, context, reply)


def build_review_handlers() -> list[BaseHandler[Update, Context, None]]:
    """/review and the cards' buttons (group 0)."""
    return [CommandHandler("review", review_command), CallbackQueryHandler(review_button, pattern=r"^rv:")]


def build_review_followups() -> list[BaseHandler[Update, Context, None]]:
    """Group 1, after the command itself ran: re-ask a pending reason."""
    return [MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, review_after_command)]
