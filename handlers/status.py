"""A principal's self-service: /status (what is due, filed, overdue) and /history (recent reports)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

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


def build_status_handlers() -> list[BaseHandler[Update, Context, None]]:
    return [CommandHandler("status", status_command), CommandHandler("history", history_command)]
