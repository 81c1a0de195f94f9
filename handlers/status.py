"""A principal's self-service: /status (what is due, filed, overdue), /history (recent reports)
and the withdraw buttons of /correct (``wd:...``: ask, confirm, keep)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.context import Context
from handlers.guards import principal_only
from handlers.reporting import selfservice_for, send_outcome

__all__ = ["build_status_handlers"]


@principal_only
async def status_command(update: Update, context: Context) -> None:
    """Show each form the school must report: the period due, its due date, filed or overdue."""
    await send_outcome(update, context, await selfservice_for(context).status())


@principal_only
async def history_command(update: Update, context: Context) -> None:
    """Show the school's recent reports with key figures, version, who and when."""
    await send_outcome(update, context, await selfservice_for(context).history())


@principal_only
async def withdraw_button(update: Update, context: Context) -> None:
    """A withdraw button of /correct: ask to confirm, then withdraw the entry (or keep it)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await send_outcome(update, context, await selfservice_for(context).withdraw(query.data))


def build_status_handlers() -> list[BaseHandler[Update, Context, None]]:
    return [
        CommandHandler("status", status_command),
        CommandHandler("history", history_command),
        CallbackQueryHandler(withdraw_button, pattern=r"^wd:"),
    ]
