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
from handlers.common import reply_long
from handlers.guards import staff_only

__all__ = ["build_flags_handlers"]


@staff_only
async def flags_command(update: Update, context: Context) -> None:
    """List the confirmed warnings of the form and period named (or the defaults), in the sender's scope."""
    message = update.effective_message
    assert message is not None
    answer = await flags_text(context.services, context.who, context.lang, context.args or [])
    await reply_long(message, answer.text if isinstance(answer, Refusal) else answer)


def build_flags_handlers() -> list[BaseHandler[Update, Context, None]]:
    return [CommandHandler("flags", flags_command)]
