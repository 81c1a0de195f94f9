"""The one converter from the UI model (``bot.core.ui``) to Telegram's inline keyboard."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo

from bot.core.ui import Button, Screen


def keyboard(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    """Rows of buttons as an inline keyboard; None when there are none (Telegram then shows no keyboard)."""
    if not any(rows):
        return None
    return InlineKeyboardMarkup([[_button(b) for b in row] for row in rows if row])


def _button(button: Button) -> InlineKeyboardButton:
    if button.web_app is not None:
        return InlineKeyboardButton(button.label, web_app=WebAppInfo(button.web_app))
    return InlineKeyboardButton(button.label, callback_data=button.data)


def markup(screen: Screen) -> InlineKeyboardMarkup | None:
    """A screen's buttons as an inline keyboard."""
    return keyboard(screen.buttons)


__all__ = ["keyboard", "markup"]
