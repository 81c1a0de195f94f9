"""``/dashboard``: a one-time link that opens the office dashboard in a desk browser.

Thin: the link is issued by ``bot.dashboard.links``; this module sends it, with no link
preview (Telegram's preview fetcher would open the link and use it up).
"""

from __future__ import annotations

from telegram import LinkPreviewOptions, Update
from telegram.ext import BaseHandler, CommandHandler

from bot.context import Context
from bot.dashboard.links import dashboard_link
from handlers.guards import staff_only


@staff_only
async def dashboard_command(update: Update, context: Context) -> None:
    """Send the staff member a fresh one-time sign-in link to the dashboard."""
    assert update.effective_message is not None
    link = await dashboard_link(context.services, context.who)
    await update.effective_message.reply_text(link.text, link_preview_options=LinkPreviewOptions(is_disabled=True))


def build_dashboard_handlers() -> list[BaseHandler[Update, Context, None]]:
    return [CommandHandler("dashboard", dashboard_command)]
