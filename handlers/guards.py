"""One guard for office commands: anyone but staff gets the same neutral refusal."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from telegram import Update

from bot.context import Context
from bot.core.i18n import t

R = TypeVar("R")
# PTB types handler callbacks as returning coroutines, not any awaitable.
Callback = Callable[[Update, Context], Coroutine[Any, Any, R]]


async def refuse(update: Update, context: Context) -> None:
    """The same answer whether the command exists for others or not: reveals nothing."""
    if update.callback_query is not None:
        await update.callback_query.answer(t(context.lang, "core.not_allowed"), show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(t(context.lang, "core.not_allowed"))


def staff_only(callback: Callback[R]) -> Callback[R | None]:
    """Run ``callback`` only for office staff and admins."""

    @functools.wraps(callback)
    async def guarded(update: Update, context: Context) -> Any:
        if not context.who.is_staff:
            await refuse(update, context)
            return None
        return await callback(update, context)

    return guarded


def admin_only(callback: Callback[R]) -> Callback[R | None]:
    """Run ``callback`` only for admins."""

    @functools.wraps(callback)
    async def guarded(update: Update, context: Context) -> Any:
        if not context.who.is_admin:
            await refuse(update, context)
            return None
        return await callback(update, context)

    return guarded


def principal_only(callback: Callback[R]) -> Callback[R | None]:
    """Run ``callback`` only for registered reporters of a school."""

    @functools.wraps(callback)
    async def guarded(update: Update, context: Context) -> Any:
        who = context.who
        if not who.is_principal:
            key = "core.report_staff" if who.is_staff else "core.not_registered"
            message = update.effective_message
            if update.callback_query is not None:
                await update.callback_query.answer(t(context.lang, key, user_id=who.telegram_id), show_alert=True)
            elif message is not None:
                await message.reply_text(t(context.lang, key, user_id=who.telegram_id))
            return None
        return await callback(update, context)

    return guarded
