"""Logging policy: one structured line per update, and secrets redacted everywhere.

One line per update (INFO): kind, sender role, handler, duration, outcome.
Message text is never logged above DEBUG (principals' figures and free text
stay out of logs); the user id is logged so support can follow a conversation.
At DEBUG, PTB and httpx log whole updates and request URLs: that may include
principals' free text, and the URLs carry the bot token, which
``SecretRedactor`` (installed by ``bot.cli`` before any command runs) turns
into ``bot<redacted>``, as it does with the token and the webhook secret in any
message, argument or traceback.

PTB does not report which handler took an update, so ``instrument_handlers``
wraps every registered callback to note its name in a context variable that
``InstrumentedApplication.process_update`` reads when it writes the line.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Coroutine, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TextIO

from telegram import Update
from telegram.ext import Application

log = logging.getLogger("schoolbot.updates")

REDACTED = "<redacted>"
# A bot token in a Bot API URL (``.../bot123456:AA.../getMe``), whoever's token it is.
_TOKEN_IN_URL = re.compile(r"bot\d+:[A-Za-z0-9_-]+")
# A bare token anywhere (an exception quoting the token Telegram rejected).
_BARE_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")


class SecretRedactor(logging.Filter):
    """Replace secrets in a record (message, arguments, traceback, stack) before any handler writes it."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        text = _TOKEN_IN_URL.sub("bot" + REDACTED, text)
        return _BARE_TOKEN.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: logging reports it; keep the raw parts safe
            message = self.redact(f"{record.msg} {record.args!r}")
            record.msg, record.args = message, None
        else:
            cleaned = self.redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_installed = SecretRedactor()


def install_redaction(secrets: Iterable[str | None]) -> SecretRedactor:
    """Redact ``secrets`` (and any bot token) in everything the root logger's handlers write.

    A filter on each handler, not on loggers: records of every library reach the
    root's handlers by propagation, and handler filters see all of them.
    """
    global _installed
    redactor = SecretRedactor(secrets)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig()
    for handler in root.handlers:
        for old in [f for f in handler.filters if isinstance(f, SecretRedactor)]:
            handler.removeFilter(old)
        handler.addFilter(redactor)
    _installed = redactor
    return redactor


class RedactingStream:
    """A text stream (``sys.stdout``/``sys.stderr``) that redacts what is written to it.

    Commands print errors themselves (``print(..., file=sys.stderr)``), some with
    an exception's message in them: the token Telegram rejected, say. Wrapping
    the streams covers every command, including ones written later.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def redact(text: str) -> str:
    """``text`` with the installed secrets and any bot token replaced (for output printed without logging)."""
    return _installed.redact(text)


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
