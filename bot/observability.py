"""One structured log line per update: kind, sender role, handler, duration, outcome.

Message text is never logged at INFO (principals' figures stay out of logs);
the user id is logged so support can follow a conversation.

PTB does not report which handler took an update, so ``instrument_handlers``
wraps every registered callback to note its name in a context variable that
``InstrumentedApplication.process_update`` reads when it writes the line.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import Application

log = logging.getLogger("schoolbot.updates")


@dataclass
class UpdateLog:
    role: str = "unknown"
    handlers: list[str] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


_current: ContextVar[UpdateLog | None] = ContextVar("schoolbot_update_log", default=None)


def note_role(role: str) -> None:
    """Record the sender's role for this update's log line (called by the identity handler)."""
    entry = _current.get()
    if entry is not None:
        entry.role = role


def note_failure(error: BaseException | None) -> None:
    """Record that a handler failed (called by the error handler)."""
    entry = _current.get()
    if entry is not None:
        entry.error = error or RuntimeError("unknown failure")


def update_kind(update: Update) -> str:
    if update.callback_query is not None:
        return "callback"
    message = update.effective_message
    if message is None:
        return "other"
    if message.text is not None:
        return "command" if message.text.startswith("/") else "text"
    for kind in ("sticker", "photo", "document", "voice", "video", "location", "contact"):
        if getattr(message, kind, None):
            return kind
    return "message"


class InstrumentedApplication(Application):  # type: ignore[type-arg]
    """An Application that writes one log line per processed update."""

    async def process_update(self, update: object) -> None:
        await self.process_update_reporting(update)

    async def process_update_reporting(self, update: object) -> UpdateLog:
        """Process one update and return what happened to it (the webhook needs to know)."""
        entry = UpdateLog()
        token = _current.set(entry)
        started = time.perf_counter()
        try:
            await super().process_update(update)
            return entry
        finally:
            _current.reset(token)
            if isinstance(update, Update):
                user = update.effective_user
                log.info(
                    "update=%s kind=%s user=%s role=%s handler=%s duration_ms=%.1f outcome=%s",
                    update.update_id,
                    update_kind(update),
                    user.id if user else "-",
                    entry.role,
                    ",".join(entry.handlers) or "-",
                    (time.perf_counter() - started) * 1000,
                    "error" if entry.failed else "ok",
                )


def _wrap(callback: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Coroutine[Any, Any, Any]]:
    name = f"{callback.__module__.rsplit('.', 1)[-1]}.{getattr(callback, '__name__', 'callback')}"

    @functools.wraps(callback)
    async def noted(*args: Any, **kwargs: Any) -> Any:
        entry = _current.get()
        if entry is not None:
            entry.handlers.append(name)
        return await callback(*args, **kwargs)

    noted._schoolbot_noted = True  # type: ignore[attr-defined]
    return noted


def instrument_handlers(application: Application) -> None:  # type: ignore[type-arg]
    """Wrap every registered handler callback so the log line can name it (group -1 excluded)."""
    for group, handlers in application.handlers.items():
        if group < 0:
            continue
        for handler in handlers:
            # A marker of our own: functools.wraps (used by the role guards) also sets __wrapped__.
            if not getattr(handler.callback, "_schoolbot_noted", False):
                handler.callback = _wrap(handler.callback)
