"""Invites and registration: issuing one-time codes and redeeming them.

A code is 96 random bits (``secrets.token_urlsafe(12)``, 16 characters that
fit a ``/start`` deep link); only its SHA-256 is stored, so a leaked database
does not leak usable invites. Refusals never say whether a code existed, and
a user who sends more than ``MAX_BAD_CODES`` bad codes in ``THROTTLE_WINDOW``
is refused without the code being looked at.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry, Invite, Person, Role, School
from storage.people import any_person_by_telegram_id, audit

MAX_BAD_CODES = 5
THROTTLE_WINDOW = timedelta(minutes=10)
DEFAULT_EXPIRES_DAYS = 30


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def new_code() -> str:
    return secrets.token_urlsafe(12)


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


@dataclass(frozen=True)
class IssuedInvite:
    school_code: str | None
    school_name: str | None
    role: str
    code: str
    expires_at: datetime


class UnknownSchools(ValueError):
    def __init__(self, codes: Sequence[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = list(codes)


async def issue_invites(
    session: AsyncSession,
    now: datetime,
    *,
    school_codes: Sequence[str] = (),
    all_unregistered: bool = False,
    staff: bool = False,
    count: int = 1,
    expires_days: int = DEFAULT_EXPIRES_DAYS,
    created_by: int | None = None,
) -> list[IssuedInvite]:
    """Create invites: one per named (or unregistered) school, or ``count`` staff invites."""
    if expires_days < 1:
        raise ValueError("expires_days must be at least 1")
    expires_at = now + timedelta(days=expires_days)
    targets: list[School | None]
    if staff:
        targets = [None] * count
    elif all_unregistered:
        registered = select(Person.school_id).where(
            Person.role == Role.PRINCIPAL, Person.active.is_(True), Person.school_id.is_not(None)
        )
        targets = list(
            (await session.scalars(select(School).where(School.id.not_in(registered)).order_by(School.code))).all()
        )
    else:
        wanted = list(dict.fromkeys(c.strip() for c in school_codes if c.strip()))
        found = {s.code: s for s in (await session.scalars(select(School).where(School.code.in_(wanted)))).all()}
        missing = [c for c in wanted if c not in found]
        if missing:
            raise UnknownSchools(missing)
        targets = [found[c] for c in wanted]
    issued = []
    for school in targets:
        code = new_code()
        role = Role.STAFF if school is None else Role.PRINCIPAL
        session.add(
            Invite(
                code_hash=hash_code(code),
                role=role,
                school_id=school.id if school else None,
                created_at=now,
                expires_at=expires_at,
                created_by=created_by,
            )
        )
        issued.append(
            IssuedInvite(school.code if school else None, school.name if school else None, role, code, expires_at)
        )
    audit(session, now, created_by, "invite.issued", None, count=len(issued), staff=staff)
    return issued


class Outcome(StrEnum):
    REGISTERED = "registered"
    ALREADY = "already"
    REFUSED = "refused"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class Redemption:
    outcome: Outcome
    person: Person | None = None


async def _recent_refusals(session: AsyncSession, telegram_id: int, now: datetime) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.actor == telegram_id,
                AuditEntry.action == "invite.refused",
                AuditEntry.at > now - THROTTLE_WINDOW,
            )
        )
        or 0
    )


async def redeem_invite(
    session: AsyncSession,
    now: datetime,
    *,
    telegram_id: int,
    name: str,
    username: str | None,
    language: str,
    code: str,
) -> Redemption:
    """Bind the sender to the invite's school (or make them staff), once."""
    if await _recent_refusals(session, telegram_id, now) >= MAX_BAD_CODES:
        audit(session, now, telegram_id, "invite.throttled")
        return Redemption(Outcome.THROTTLED)
    # Claim the invite atomically: of two people racing for one code, exactly one wins.
    claimed = await session.execute(
        update(Invite)
        .where(Invite.code_hash == hash_code(code), Invite.used_at.is_(None), Invite.expires_at > now)
        .values(used_at=now, used_by=telegram_id)
        .returning(Invite.id, Invite.role, Invite.school_id)
    )
    row = claimed.first()
    if row is None:
        audit(session, now, telegram_id, "invite.refused")
        return Redemption(Outcome.REFUSED)
    person = await any_person_by_telegram_id(session, telegram_id)
    role = Role(row.role)
    if person is not None and person.active and person.role == Role.ADMIN:
        # Admins are office people: the invite is spent, their role stays.
        audit(session, now, telegram_id, "invite.redeemed_by_admin", str(row.id))
        return Redemption(Outcome.ALREADY, person)
    if person is None:
        person = Person(telegram_id=telegram_id, name=name, created_at=now, blocked=False, active=True)
        session.add(person)
    person.name = name or person.name
    person.username = username
    person.language = person.language or language
    person.role = role
    person.school_id = row.school_id
    person.active = True
    person.blocked = False
    await session.flush()
    # Load the school now: lazy loading is not available in async code.
    await session.refresh(person, ["school"])
    audit(session, now, telegram_id, "invite.redeemed", str(row.school_id or "staff"), role=role.value)
    return Redemption(Outcome.REGISTERED, person)


async def ensure_admin(session: AsyncSession, now: datetime, *, telegram_id: int, name: str, language: str) -> Person:
    """Admins come from ADMIN_IDS: give them a person row the first time they write."""
    person = await any_person_by_telegram_id(session, telegram_id)
    if person is None:
        person = Person(
            telegram_id=telegram_id, name=name, role=Role.ADMIN, language=language, created_at=now, blocked=False, active=True
        )
        session.add(person)
        audit(session, now, telegram_id, "admin.bootstrapped")
    elif person.role != Role.ADMIN or not person.active:
        person.role, person.active, person.school_id = Role.ADMIN, True, None
        audit(session, now, telegram_id, "admin.bootstrapped")
    await session.flush()
    return person


async def add_staff(session: AsyncSession, now: datetime, *, actor: int, telegram_id: int, name: str) -> Person:
    """Make a Telegram user office staff (an admin's action in chat)."""
    person = await any_person_by_telegram_id(session, telegram_id)
    if person is None:
        person = Person(telegram_id=telegram_id, name=name, created_at=now, blocked=False)
        session.add(person)
    if person.role == Role.ADMIN and person.active:
        return person
    person.role, person.school_id, person.active = Role.STAFF, None, True
    person.name = name or person.name
    await session.flush()
    audit(session, now, actor, "staff.added", str(telegram_id))
    return person


async def remove_staff(session: AsyncSession, now: datetime, *, actor: int, telegram_id: int) -> bool:
    """Withdraw someone's staff role; admins cannot be removed in chat (they come from ADMIN_IDS)."""
    person = await any_person_by_telegram_id(session, telegram_id)
    if person is None or not person.active or person.role != Role.STAFF:
        return False
    person.active = False
    audit(session, now, actor, "staff.removed", str(telegram_id))
    return True
