"""``/overdue [form] [period]`` for office staff, and its nudge buttons.

Thin: what to answer (the list, the refusals, what a press queued) is
``bot.office.overdue``; this module sends it, and runs the reminder ticker
when a press asks for nudges to go out now.
"""

from __future__ import annotations

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.context import Context
from bot.core.ui import Alert, Screen
from bot.delivery.markup import markup
from bot.office import overdue
from handlers.common import reply_long
from handlers.guards import staff_only

__all__ = ["build_overdue_handlers"]


@staff_only
async def overdue_command(update: Update, context: Context) -> None:
    """List overdue schools by district, with nudge buttons."""
    message = update.effective_message
    assert message is not None
    screen = await overdue.listing(context.services, context.who, context.lang, context.args or [])
    # A few hundred schools run past one message: pieces at line breaks, the buttons under the last.
    await reply_long(message, screen.text, reply_markup=markup(screen))


@staff_only
async def nudge_button(update: Update, context: Context) -> None:
    """Nudge one school ("nudge") or every overdue school in the list ("nudgeall")."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await _carry_out(update, context, await overdue.nudge(context.services, context.who, context.lang, query.data))


@staff_only
async def send_now_button(update: Update, context: Context) -> None:
    """Confirm sending a nudge queued during quiet hours right away."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await _carry_out(update, context, await overdue.send_now(context.services, context.who, context.lang, query.data))


async def _carry_out(update: Update, context: Context, result: Alert | overdue.Reply) -> None:
    """Answer the press, send what is due now, and tell the result."""
    query = update.callback_query
    assert query is not None
    if isinstance(result, Alert):
        await query.answer(result.text, show_alert=True)
        return
    await query.answer()
    if result.drop_buttons:
        await _drop_buttons(update)
    ticker = context.bot_data.ticker
    screen = result.screen
    if result.manual is not None:
        screen = result.manual.then(await ticker.send_manual(slot=result.manual.slot, school_id=result.manual.school_id))
    if result.kick:
        ticker.kick()
    if screen is not None:
        await _reply(update, screen)


async def _drop_buttons(update: Update) -> None:
    """Take the "send now" button off the message it was pressed on, so it is not pressed twice."""
    query = update.callback_query
    assert query is not None
    try:
        await query.edit_message_reply_markup(None)
    except BadRequest:
        pass  # already gone, or a message the bot no longer has: nothing to take off


async def _reply(update: Update, screen: Screen) -> None:
    chat = update.effective_chat
    assert chat is not None
    await chat.send_message(screen.text, reply_markup=markup(screen))


def build_overdue_handlers() -> list[BaseHandler[Update, Context, None]]:
    """/overdue and its buttons."""
    return [
        CommandHandler("overdue", overdue_command),
        CallbackQueryHandler(nudge_button, pattern=r"^nudge(all)?:"),
        CallbackQueryHandler(send_now_button, pattern=r"^nudgenow:"),
    ]
