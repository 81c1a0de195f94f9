"""What every use case is given: the long-lived ``Services`` and who is acting (``Identity``).

No Telegram here: the office and reporting services, the scheduler and the CLI
take these, and handlers build them from the update (``bot.context``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
        """Reports for a school: its principal or a deputy the principal invited (both file alike)."""
        return self.role in (Role.PRINCIPAL, Role.REPORTER)

    @property
    def heads_school(self) -> bool:
        """The school's principal, who alone invites and removes deputies."""
        return self.role is Role.PRINCIPAL and self.school_id is not None

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.STAFF, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_known(self) -> bool:
        return self.role is not None
