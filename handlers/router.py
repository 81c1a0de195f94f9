"""Routes free text and media to whichever feature is waiting for this user's input.

PTB runs at most one handler per group, and a filter cannot look in the
database, so "is this the answer to a pending question?" is asked here: each
feature supplies a consumer that returns True when it took the message (a
principal's draft, a staff member's broadcast being written). When none does,
the catch-all answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from telegram import Update
from telegram.ext import BaseHandler, MessageHandler, filters

from bot.context import Context
from handlers.common import fallback_media, fallback_text

Consumer = Callable[[Update, Context], Awaitable[bool]]


def build_input_router(consumers: Sequence[Consumer]) -> list[BaseHandler[Update, Context, None]]:
    """One handler for every non-command private message, asking ``consumers`` in order."""

    async def route(update: Update, context: Context) -> None:
        """Offer the message to each waiting feature, else answer it generically."""
        for consume in consumers:
            if await consume(update, context):
                return
        message = update.effective_message
        if message is not None and message.text is not None:
            await fallback_text(update, context)
        else:
            await fallback_media(update, context)

    private_input = filters.ChatType.PRIVATE & ~filters.COMMAND & ~filters.StatusUpdate.ALL
    return [MessageHandler(private_input, route)]
