"""``/flags [form] [period]``: staff list the values principals confirmed with a reason.

Thin: what to list is ``bot.office.flags``; this module replies with it, split
into messages Telegram accepts.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from bot.context import Context
from bot.office.figures import Refusal
from bot.office.flags import flags_text
from bot.office.review import queue_button_for
from bot.core.ui import Screen
from bot.delivery.markup import markup
from handlers.common import reply_long
from handlers.guards import staff_only

__all__ = ["build_flags_handlers"]


@staff_only
async def flags_command(update: Update, context: Context) -> None:
    """List the confirmed warnings of the form and period named (or the defaults), in the sender's scope."""
    message = update.effective_message
    assert message is not None
    args = context.args or []
    answer = await flags_text(context.services, context.who, context.lang, args)
    if isinstance(answer, Refusal):
        await reply_long(message, answer.text)
        return
    # Under the list: the review queue of the same form and period (issue 15).
    button = queue_button_for(context.services, context.lang, args)
    await reply_long(message, answer, reply_markup=markup(Screen("", [[button]])) if button is not None else None)


def build_flags_handlers() -> list[BaseHandler[Update, Context, None]]:
    return [CommandHandler("flags", flags_command)]
