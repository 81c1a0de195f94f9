"""The typed context every handler receives, and the typed ``bot_data`` it reaches.

``BotData`` is what ``build_application`` builds once per application: the
``Services`` (database, clock, settings, catalogue) and the long-lived workers
(bulk send budget, broadcast sender, reminder ticker), started by ``post_init``
and stopped by ``post_stop``/``post_shutdown``. PTB creates it through
``ContextTypes(bot_data=BotData)``; nothing is looked up by string.
``Identity`` is who sent the current update, loaded once per update by the
group -1 handler in ``handlers/identity.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiolimiter import AsyncLimiter
from telegram.ext import Application, CallbackContext, ExtBot

from bot.delivery.send import new_bulk_pacer
from bot.services import Identity, Services

if TYPE_CHECKING:
    from bot.delivery.sender import BroadcastSender
    from scheduler.tick import ReminderTicker
    from storage.budget import SendBudget


class BotData:
    """``application.bot_data``: filled by ``build_application`` right after PTB builds the application."""

    services: Services
    # Bulk sends draw from this: shared through PostgreSQL, or the local pacer on SQLite.
    budget: SendBudget
    sender: BroadcastSender
    ticker: ReminderTicker

    def __init__(self) -> None:
        # The one even-spacing limiter of this process (broadcasts and reminders share it).
        self.pacer: AsyncLimiter = new_bulk_pacer()


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """CallbackContext with typed access to the services and the sender's identity."""

    def __init__(
        self, application: Application[Any, Any, Any, Any, Any, Any], chat_id: int | None = None, user_id: int | None = None
    ) -> None:
        super().__init__(application, chat_id=chat_id, user_id=user_id)
        self.identity: Identity | None = None
        # Telegram's id of the update being handled (set with the identity).
        self.update_id: int | None = None

    @property
    def services(self) -> Services:
        return self.bot_data.services

    @property
    def who(self) -> Identity:
        """The sender's identity (set by the group -1 handler before any other handler runs)."""
        if self.identity is None:
            raise RuntimeError("identity not loaded: is handlers.identity registered in group -1?")
        return self.identity

    @property
    def lang(self) -> str:
        return self.identity.language if self.identity else "zh"


Context = BotContext
