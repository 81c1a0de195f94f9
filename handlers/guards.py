"""One guard for office and reporting commands: who may run a callback, and what the others are told.

``guard(allowed, refusal)`` is the one helper; ``staff_only``, ``admin_only``
and ``principal_only`` are its three uses. A refusal is an alert under a
pressed button, or a reply to a message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from telegram import Update

from bot.context import Context
from bot.core.i18n import t
from bot.services import Identity

R = TypeVar("R")
# PTB types handler callbacks as returning coroutines, not any awaitable.
Callback = Callable[[Update, Context], Coroutine[Any, Any, R]]


async def answer(update: Update, text: str) -> None:
    """Tell the sender ``text``: an alert under a pressed button, or a reply to their message."""
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(text)


async def refuse(update: Update, context: Context) -> None:
    """The same answer whether the command exists for others or not: reveals nothing."""
    await answer(update, t(context.lang, "core.not_allowed"))


def guard(allowed: Callable[[Identity], bool], refusal: Callable[[Identity], str]) -> Callable[[Callback[R]], Callback[R | None]]:
    """A decorator running the callback only when ``allowed(who)``; otherwise the sender is told ``refusal(who)``."""

    def decorate(callback: Callback[R]) -> Callback[R | None]:
        @functools.wraps(callback)
        async def guarded(update: Update, context: Context) -> Any:
            who = context.who
            if not allowed(who):
                await answer(update, refusal(who))
                return None
            return await callback(update, context)

        return guarded

    return decorate


def _not_allowed(who: Identity) -> str:
    return t(who.language, "core.not_allowed")


def _not_a_reporter(who: Identity) -> str:
    key = "core.report_staff" if who.is_staff else "core.not_registered"
    return t(who.language, key, user_id=who.telegram_id)


def staff_only(callback: Callback[R]) -> Callback[R | None]:
    """Run ``callback`` only for office staff and admins."""
    return guard(lambda who: who.is_staff, _not_allowed)(callback)


def admin_only(callback: Callback[R]) -> Callback[R | None]:
    """Run ``callback`` only for admins."""
    return guard(lambda who: who.is_admin, _not_allowed)(callback)


def principal_only(callback: Callback[R]) -> Callback[R | None]:
    """Run ``callback`` only for registered reporters of a school."""
    return guard(lambda who: who.is_principal, _not_a_reporter)(callback)
