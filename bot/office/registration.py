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

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import District, Person, Role, School
from storage.people import (
    ClaimedInvite,
    add_invite,
    add_person,
    any_person_by_telegram_id,
    audit,
    claim_invite,
    deactivate_admin,
    load_school,
    recent_audit_counts,
)
from storage.schools import district_by_id, district_by_name, district_names, schools_by_codes, schools_without_reporter

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
    # The district a staff invite is bound to (None: city-wide staff, or a school invite).
    district: str | None = None


class UnknownSchools(ValueError):
    def __init__(self, codes: Sequence[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = list(codes)


class UnknownDistrict(ValueError):
    """A district name the roster does not have; ``known`` lists the ones it has."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = list(known)


async def district_named(session: AsyncSession, name: str) -> District:
    """The district called ``name``, or ``UnknownDistrict`` naming the known ones."""
    found = await district_by_name(session, name.strip())
    if found is None:
        raise UnknownDistrict(name.strip(), await district_names(session))
    return found


async def _staff_district(session: AsyncSession, district: str | None, scope_district_id: int | None) -> District | None:
    """The district a staff invite binds to: the one named, within the actor's own (district staff)."""
    bound = await district_named(session, district) if district is not None else None
    if scope_district_id is not None:
        # District staff create staff of their own district only: never wider, never elsewhere.
        own = await district_by_id(session, scope_district_id)
        assert own is not None
        if bound is not None and bound.id != own.id:
            raise UnknownDistrict(bound.name, [own.name])
        bound = own
    return bound


async def _named_schools(session: AsyncSession, codes: Sequence[str], scope_district_id: int | None) -> list[School]:
    """The schools with these codes, in the order given; ``UnknownSchools`` for any not in scope."""
    wanted = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
    found = await schools_by_codes(session, wanted, scope_district_id)
    missing = [c for c in wanted if c not in found]
    if missing:
        raise UnknownSchools(missing)
    return [found[c] for c in wanted]


async def issue_invites(
    session: AsyncSession,
    now: datetime,
    *,
    school_codes: Sequence[str] = (),
    all_unregistered: bool = False,
    staff: bool = False,
    district: str | None = None,
    count: int = 1,
    expires_days: int = DEFAULT_EXPIRES_DAYS,
    created_by: int | None = None,
    scope_district_id: int | None = None,
) -> list[IssuedInvite]:
    """Create invites: one per named (or unregistered) school, or ``count`` staff invites.

    ``scope_district_id`` is the actor's scope (district staff): schools outside it
    are refused exactly as unknown codes are, so the refusal does not reveal that
    they exist. Staff invites may name a ``district``; the invitee becomes staff of it.
    """
    if expires_days < 1:
        raise ValueError("expires_days must be at least 1")
    targets: list[School | None]
    bound: District | None = None
    if staff:
        bound = await _staff_district(session, district, scope_district_id)
        targets = [None] * count
    elif all_unregistered:
        targets = list(await schools_without_reporter(session, scope_district_id))
    else:
        targets = list(await _named_schools(session, school_codes, scope_district_id))
    issued = [issue_one(session, now, school, bound, expires_days, created_by) for school in targets]
    if staff:
        audit(
            session,
            now,
            created_by,
            "invite.issued",
            None,
            role=Role.STAFF.value,
            count=count,
            district=bound.name if bound else None,
            expires_days=expires_days,
        )
    return issued


def issue_one(
    session: AsyncSession,
    now: datetime,
    school: School | None,
    bound: District | None,
    expires_days: int,
    created_by: int | None,
    *,
    role: Role | None = None,
    action: str = "invite.issued",
) -> IssuedInvite:
    """One invite: for ``school``'s principal (or ``role``: a deputy), or (``school`` None) for staff of ``bound``.

    A school invite is audited as ``action`` (a staff batch is audited once by ``issue_invites``).
    """
    code = new_code()
    role = role or (Role.STAFF if school is None else Role.PRINCIPAL)
    expires_at = now + timedelta(days=expires_days)
    add_invite(
        session,
        code_hash=hash_code(code),
        role=role,
        school_id=school.id if school else None,
        district_id=bound.id if bound else None,
        created_at=now,
        expires_at=expires_at,
        created_by=created_by,
    )
    if school is not None:
        audit(session, now, created_by, action, school.code, role=role.value, expires_days=expires_days)
    return IssuedInvite(
        school.code if school else None,
        school.name if school else None,
        role,
        code,
        expires_at,
        bound.name if bound else None,
    )


class Outcome(StrEnum):
    REGISTERED = "registered"
    ALREADY = "already"
    REFUSED = "refused"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class Redemption:
    outcome: Outcome
    person: Person | None = None


async def _recent_attempts(session: AsyncSession, telegram_id: int, now: datetime) -> tuple[int, bool]:
    """Refused codes in the throttle window, and whether a throttle was already recorded in it."""
    counts = await recent_audit_counts(session, telegram_id, ["invite.refused", "invite.throttled"], now, THROTTLE_WINDOW)
    return int(counts.get("invite.refused", 0)), bool(counts.get("invite.throttled"))


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
    """Bind the sender to the invite's school (or make them staff, of its district if any), once."""
    refusals, throttle_noted = await _recent_attempts(session, telegram_id, now)
    if refusals >= MAX_BAD_CODES:
        # One row per throttle window, not per attempt: a script hammering /start cannot flood the log.
        if not throttle_noted:
            audit(session, now, telegram_id, "invite.throttled", person_subject(telegram_id), refusals=refusals)
        return Redemption(Outcome.THROTTLED)
    # Claim the invite atomically: of two people racing for one code, exactly one wins.
    row = await claim_invite(session, hash_code(code), now, telegram_id)
    if row is None:
        audit(session, now, telegram_id, "invite.refused")
        return Redemption(Outcome.REFUSED)
    person = await any_person_by_telegram_id(session, telegram_id)
    if person is not None and person.active and person.role == Role.ADMIN:
        # Admins are office people: the invite is spent, their role stays.
        audit(session, now, telegram_id, "invite.redeemed_by_admin", person_subject(telegram_id), invite=row.id)
        return Redemption(Outcome.ALREADY, person)
    if person is not None and person.active and _own_deputy_link(person, row):
        # The principal opened their own school's deputy link: spent, and nobody is demoted.
        audit(session, now, telegram_id, "invite.redeemed_by_principal", person_subject(telegram_id), invite=row.id)
        return Redemption(Outcome.ALREADY, person)
    if person is None:
        person = add_person(session, telegram_id=telegram_id, name=name, created_at=now, blocked=False, active=True)
    person.name = name or person.name
    person.username = username
    person.language = person.language or language
    await _grant(session, now, person, row)
    return Redemption(Outcome.REGISTERED, person)


def _own_deputy_link(person: Person, row: ClaimedInvite) -> bool:
    return person.role == Role.PRINCIPAL and row.role == Role.REPORTER and person.school_id == row.school_id


async def _grant(session: AsyncSession, now: datetime, person: Person, row: ClaimedInvite) -> None:
    """Give ``person`` what the claimed invite grants, and record it."""
    role = Role(row.role)
    telegram_id = person.telegram_id
    person.role = role
    person.school_id = row.school_id
    # A principal's or deputy's district is their school's; staff keep the invite's (None: city-wide).
    person.district_id = row.district_id if role == Role.STAFF else None
    person.active = True
    person.blocked = False
    await session.flush()
    await load_school(session, person)
    if person.school is not None:
        audit(session, now, telegram_id, "invite.redeemed", person.school.code, role=role.value, invite=row.id)
        return
    district = await district_by_id(session, row.district_id)
    audit(
        session,
        now,
        telegram_id,
        "invite.redeemed",
        person_subject(telegram_id),
        role=role.value,
        district=district.name if district else None,
        invite=row.id,
    )


def person_subject(telegram_id: int) -> str:
    """The audit subject for changes to one person (the convention: ``person:<telegram id>``)."""
    return f"person:{telegram_id}"


async def ensure_admin(session: AsyncSession, now: datetime, *, telegram_id: int, name: str, language: str) -> Person:
    """Admins come from ADMIN_IDS: give them a person row the first time they write."""
    person = await any_person_by_telegram_id(session, telegram_id)
    if person is None:
        person = add_person(
            session,
            telegram_id=telegram_id,
            name=name,
            role=Role.ADMIN,
            language=language,
            created_at=now,
            blocked=False,
            active=True,
        )
        audit(session, now, telegram_id, "admin.bootstrapped", person_subject(telegram_id))
    elif person.role != Role.ADMIN or not person.active:
        before = person.role if person.active else None
        person.role, person.active, person.school_id, person.district_id = Role.ADMIN, True, None, None
        audit(session, now, telegram_id, "admin.bootstrapped", person_subject(telegram_id), before=before)
    await session.flush()
    return person


async def revoke_admin(session: AsyncSession, now: datetime, *, telegram_id: int) -> None:
    """An admin row whose id left ADMIN_IDS: deactivate it (history kept), once."""
    if await deactivate_admin(session, telegram_id):
        audit(session, now, None, "admin.revoked", person_subject(telegram_id))


MAX_TELEGRAM_ID = 2**63 - 1  # people.telegram_id is a signed 64-bit column


def parse_telegram_id(text: str) -> int | None:
    """A Telegram user id typed by someone: ASCII digits, positive, within signed 64 bits."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= MAX_TELEGRAM_ID else None


async def add_staff(
    session: AsyncSession,
    now: datetime,
    *,
    actor: int,
    telegram_id: int,
    name: str,
    district: District | None = None,
) -> Person:
    """Make a Telegram user office staff (an admin's action in chat): of ``district``, or city-wide."""
    person = await any_person_by_telegram_id(session, telegram_id)
    if person is None:
        person = add_person(session, telegram_id=telegram_id, name=name, created_at=now, blocked=False)
    if person.role == Role.ADMIN and person.active:
        return person
    before = person.role if person.active and person.role else None
    person.role, person.school_id, person.active = Role.STAFF, None, True
    person.district_id = district.id if district else None
    person.name = name or person.name
    await session.flush()
    audit(
        session,
        now,
        actor,
        "staff.added",
        person_subject(telegram_id),
        district=district.name if district else None,
        before=before,
    )
    return person


class ScopeChange(StrEnum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    NOT_STAFF = "not_staff"


async def set_staff_scope(
    session: AsyncSession, now: datetime, *, actor: int, telegram_id: int, district_id: int | None
) -> tuple[ScopeChange, Person | None, District | None]:
    """Move a staff member to one district's scope, or city-wide (``district_id`` None)."""
    person = await any_person_by_telegram_id(session, telegram_id)
    if person is None or not person.active or person.role != Role.STAFF:
        return ScopeChange.NOT_STAFF, person, None
    target = await district_by_id(session, district_id)
    if district_id is not None and target is None:
        raise UnknownDistrict(str(district_id), [])
    if person.district_id == district_id:
        return ScopeChange.UNCHANGED, person, target
    before = await district_by_id(session, person.district_id)
    person.district_id = district_id
    audit(
        session,
        now,
        actor,
        "staff.scope_changed",
        person_subject(telegram_id),
        before=before.name if before else None,
        after=target.name if target else None,
    )
    return ScopeChange.CHANGED, person, target


class Deactivation(StrEnum):
    DONE = "done"
    ALREADY = "already"
    UNKNOWN = "unknown"
    SELF = "self"
    PROTECTED = "protected"


async def deactivate_person(
    session: AsyncSession,
    now: datetime,
    *,
    actor: int | None,
    telegram_id: int,
    admin_ids: frozenset[int],
) -> tuple[Deactivation, Person | None]:
    """Deactivate a principal or staff member (the row and its history stay).

    Nobody deactivates themself, nor an admin listed in ADMIN_IDS: that list is
    the source of admins, and ``ensure_admin`` would only bring them back.
    """
    person = await any_person_by_telegram_id(session, telegram_id)
    if person is None:
        return Deactivation.UNKNOWN, None
    if actor is not None and telegram_id == actor:
        return Deactivation.SELF, person
    if telegram_id in admin_ids:
        return Deactivation.PROTECTED, person
    if not person.active:
        return Deactivation.ALREADY, person
    person.active = False
    district = await district_by_id(session, person.district_id)
    audit(
        session,
        now,
        actor,
        "person.deactivated",
        person_subject(telegram_id),
        role=person.role,
        school=person.school.code if person.school else None,
        district=district.name if district else None,
    )
    return Deactivation.DONE, person


async def remove_staff(session: AsyncSession, now: datetime, *, actor: int, telegram_id: int) -> bool:
    """Withdraw someone's staff role; admins cannot be removed in chat (they come from ADMIN_IDS)."""
    person = await any_person_by_telegram_id(session, telegram_id)
    if person is None or not person.active or person.role != Role.STAFF:
        return False
    person.active = False
    audit(session, now, actor, "staff.removed", person_subject(telegram_id))
    return True
