"""Per-role command menus (``setMyCommands`` with chat scopes) and ``/help`` text.

Every command a role may see is listed in ``COMMANDS``; a command is offered
only once its feature has a handler wired in the application. Staff and admins
also get a menu button that opens the office dashboard (``setChatMenuButton``,
when ``DASHBOARD_URL`` is https).
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Any

from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault, MenuButtonWebApp, WebAppInfo
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler

from bot.core.i18n import t
from bot.dashboard.links import dashboard_url
from storage.models import Role


@dataclass(frozen=True)
class Command:
    name: str
    # Roles that see it; "unknown" is somebody not registered.
    roles: frozenset[str]

    # The office's own wording where the school's would be wrong (staff have no school).
    office_key: str | None = None

    def description(self, lang: str, role: str | None = None) -> str:
        office = self.office_key is not None and role in _OFFICE
        return t(lang, self.office_key if office and self.office_key else f"commands.{self.name}")


_ALL = frozenset({"unknown", Role.PRINCIPAL, Role.REPORTER, Role.STAFF, Role.ADMIN})
_PRINCIPAL = frozenset({Role.PRINCIPAL, Role.REPORTER})
_OFFICE = frozenset({Role.STAFF, Role.ADMIN})
_ADMIN = frozenset({Role.ADMIN})

COMMANDS: list[Command] = [
    Command("start", _ALL),
    Command("help", _ALL),
    Command("report", _PRINCIPAL),
    Command("status", _PRINCIPAL | _OFFICE, "commands.p3_status_office"),
    Command("history", _PRINCIPAL),
    Command("correct", _PRINCIPAL),
    Command("cancel", _PRINCIPAL),
    Command("deputy", frozenset({Role.PRINCIPAL})),
    Command("overdue", _OFFICE),
    Command("report_for", _OFFICE),
    Command("summary", _OFFICE),
    Command("dashboard", _OFFICE),
    Command("export", _OFFICE),
    Command("annual", _OFFICE),
    Command("flags", _OFFICE),
    Command("review", _OFFICE),
    Command("broadcast", _OFFICE),
    Command("broadcasts", _OFFICE),
    Command("invite", _OFFICE),
    Command("staff", _ADMIN),
    Command("people", _ADMIN),
    Command("deactivate", _ADMIN),
    Command("language", _ALL),
]


def wired_commands(application: Application[Any, Any, Any, Any, Any, Any]) -> set[str]:
    """Commands that have a handler in this application (a feature not wired is not offered)."""
    names: set[str] = set()
    for handlers in application.handlers.values():
        for handler in handlers:
            if isinstance(handler, CommandHandler):
                names |= set(handler.commands)
    return names


def commands_for(role: str | None, wired: set[str]) -> list[Command]:
    key = role or "unknown"
    return [c for c in COMMANDS if key in c.roles and c.name in wired]


def help_text(role: str | None, lang: str, wired: set[str]) -> str:
    lines = [t(lang, f"help.intro_{role or 'unknown'}"), ""]
    lines += [f"/{c.name} — {c.description(lang, role)}" for c in commands_for(role, wired)]
    return "\n".join(lines)


async def set_menu(application: Application[Any, Any, Any, Any, Any, Any], chat_id: int | None, role: str | None) -> None:
    """Show ``role``'s commands in ``chat_id``'s menu (or the default menu for chat_id None)."""
    scope = BotCommandScopeChat(chat_id) if chat_id is not None else BotCommandScopeDefault()
    wired = wired_commands(application)
    bot = application.bot
    for lang in ("zh", "en"):
        commands = [BotCommand(c.name, c.description(lang, role)) for c in commands_for(role, wired)]
        try:
            await bot.set_my_commands(commands, scope=scope, language_code=None if lang == "zh" else lang)
        except TelegramError:
            # A menu is a convenience: never let it break registration.
            pass
    if chat_id is not None and role in _OFFICE:
        await set_dashboard_button(application, chat_id)


async def set_dashboard_button(application: Application[Any, Any, Any, Any, Any, Any], chat_id: int) -> None:
    """The chat's menu button opens the office dashboard as a Mini App (Telegram wants an https URL)."""
    url = dashboard_url(application.bot_data.services)
    if url is None or not url.startswith("https://"):
        return
    button = MenuButtonWebApp(t("zh", "dashaccess.menu_button"), WebAppInfo(url))
    try:
        await application.bot.set_chat_menu_button(chat_id=chat_id, menu_button=button)
    except TelegramError:
        pass
