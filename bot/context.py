"""The typed context every handler receives, and what it carries.

``Services`` is built once by ``build_application`` (database, clock,
settings, catalogue); ``Identity`` is who sent the current update, loaded once
per update by the group -1 handler in ``handlers/identity.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.core.clock import Clock
from bot.settings import Settings
from storage.db import Database
from storage.models import Role

if TYPE_CHECKING:
    from bot.core.catalogue import Catalogue


@dataclass
class Services:
    """Long-lived collaborators shared by every handler and job of one application."""

    settings: Settings
    db: Database
    clock: Clock
    catalogue: "Catalogue"
    # Feature services register themselves here (sender, scheduler...), keyed by name.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Identity:
    """Who sent an update: a principal of a school, staff, an admin, or nobody we know."""

    telegram_id: int
    language: str
    role: Role | None = None
    person_id: int | None = None
    name: str = ""
    school_id: int | None = None
    school_code: str | None = None
    school_name: str | None = None
    district_id: int | None = None
    # The programmes the person's school is enrolled in (principals; None when not read).
    programmes: frozenset[str] | None = None
    # The person's draft as read with the identity (column -> value), when ``draft_read``;
    # the report conversation continues from it instead of reading it again.
    draft: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    draft_read: bool = field(default=False, compare=False, repr=False)

    @property
    def is_principal(self) -> bool:
        return self.role is Role.PRINCIPAL

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.STAFF, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_known(self) -> bool:
        return self.role is not None


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """CallbackContext with typed access to the services and the sender's identity."""

    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any], chat_id: int | None = None, user_id: int | None = None) -> None:
        super().__init__(application, chat_id=chat_id, user_id=user_id)
        self.identity: Identity | None = None
        # Telegram's id of the update being handled (set with the identity).
        self.update_id: int | None = None

    @property
    def services(self) -> Services:
        services: Services = self.application.bot_data["services"]
        return services

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
