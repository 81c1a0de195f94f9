"""``/deputy``: a principal invites and removes the school's deputies (other reporters of the school).

Thin: the rules and the screens are ``bot.office.deputies``; this module sends them.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.context import Context
from bot.office import deputies
from handlers.registration import answer_press, send_reply


def _username(context: Context) -> str:
    return context.services.settings.bot_username or context.bot.username


async def deputy_command(update: Update, context: Context) -> None:
    """List the school's deputies with remove buttons, and a button for a one-time invite link."""
    await send_reply(update, context, await deputies.overview(context.services, context.who))


async def deputy_button(update: Update, context: Context) -> None:
    """Handle the deputy list's buttons: an invite link, remove (asks first), confirm, back to the list."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await answer_press(update, context, await deputies.press(context.services, context.who, query.data, _username(context)))


def build_deputy_handlers() -> list[BaseHandler[Update, Context, None]]:
    return [
        CommandHandler("deputy", deputy_command),
        CallbackQueryHandler(deputy_button, pattern=r"^deputy:"),
    ]
