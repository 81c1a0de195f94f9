"""A principal's self-service: /status (what is due, filed, overdue), /history (recent reports)
and the withdraw buttons of /correct (``wd:...``: ask, confirm, keep).

Office staff get their own /status: what is due per form in their scope (``bot.office.office_status``)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.context import Context
from bot.delivery.markup import markup
from bot.office.office_status import office_status
from handlers.guards import principal_only
from handlers.reporting import selfservice_for, send_outcome

__all__ = ["build_status_handlers"]


async def status_command(update: Update, context: Context) -> None:
    """What is due: the school's forms for a principal, the office's view in their scope for staff."""
    if context.who.is_staff:
        message = update.effective_message
        assert message is not None
        screen = await office_status(context.services, context.who)
        await message.reply_text(screen.text, reply_markup=markup(screen))
        return
    await principal_status(update, context)


@principal_only
async def principal_status(update: Update, context: Context) -> None:
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
