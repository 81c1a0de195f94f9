"""``/invite`` by school code or name, and the invite buttons (name choices, ``/overdue`` schools nobody registered for).

``/invite 邹圩 HB-XS-003`` takes each word as a school code, else as a school's
name or part of it: one match is invited, several are offered as buttons (one
per school), none is said plainly and nothing is issued. Everything is within
the sender's scope (``bot.office.scope``): a school of another district is not
found, exactly as a name nobody has. The invites themselves are
``bot.office.registration.issue_invites``.

A principal invite for a school that already has an active principal is still
issued, with a warning naming that principal: the office invites again when a
new principal takes over (or the old one lost their Telegram account), and only
the office knows which. Until the old principal is deactivated both report for
the school; a second reporter who is not the head is a deputy, invited by the
principal (``/deputy``), not by the office (``principal_warnings``, also used by
``schoolbot invite``).

Callback data (re-checked on press: a forged or stale button issues nothing)::

    invite:<school id>
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import t
from bot.core.ui import Button, Screen
from bot.office import registration as reg
from bot.office.people import Press, Reply
from bot.office.roster_rows import normalise_code
from bot.office.scope import office_district
from bot.services import Identity, Services
from scheduler.digests import OverdueSchool
from storage.models import Person, Role, School
from storage.people import reporters_of_school
from storage.school_search import school_in_district, schools_named
from storage.schools import schools_by_codes

__all__ = ["invite", "invite_buttons", "invite_press", "look_up_schools", "principal_warnings", "sitting_principals"]

# Schools offered as buttons when a name matches several; past this, staff write more of it.
MAX_NAME_CHOICES = 20
# Invite buttons under /overdue, beside its nudge buttons (Telegram takes 100 in all).
MAX_OVERDUE_INVITES = 20


@dataclass(frozen=True)
class Ambiguous:
    """A word naming several schools: the first ``MAX_NAME_CHOICES`` of them, and how many in all."""

    word: str
    schools: list[School]
    total: int


@dataclass(frozen=True)
class SchoolLookup:
    """What the words of ``/invite`` name: schools found, words naming none, words naming several."""

    found: list[School]
    unknown: list[str]
    ambiguous: list[Ambiguous]


async def look_up_schools(session: AsyncSession, words: Sequence[str], scope_district_id: int | None) -> SchoolLookup:
    """Each word as a school code, else as a school's name (or part of it), within the actor's scope."""
    found: dict[int, School] = {}
    unknown: list[str] = []
    ambiguous: list[Ambiguous] = []
    for word in dict.fromkeys(w.strip() for w in words if w.strip()):
        by_code = await schools_by_codes(session, [normalise_code(word)], scope_district_id)
        if by_code:
            school = next(iter(by_code.values()))
            found[school.id] = school
            continue
        named, total = await schools_named(session, unicodedata.normalize("NFKC", word), scope_district_id, MAX_NAME_CHOICES)
        if total == 0:
            unknown.append(word)
        elif total == 1:
            found[named[0].id] = named[0]
        else:
            ambiguous.append(Ambiguous(word, named, total))
    return SchoolLookup(list(found.values()), unknown, ambiguous)


async def sitting_principals(session: AsyncSession, schools: Sequence[School]) -> list[tuple[School, list[Person]]]:
    """The schools among ``schools`` that already have an active principal, with them (deputies aside)."""
    sitting = []
    for school in schools:
        heads = [p for p in await reporters_of_school(session, school.id) if p.role == Role.PRINCIPAL]
        if heads:
            sitting.append((school, heads))
    return sitting


def principal_warnings(lang: str, sitting: Sequence[tuple[School, list[Person]]], *, cli: bool = False) -> list[str]:
    """One warning per school that will have a second principal once its new invite is used."""
    lines = []
    for school, heads in sitting:
        names = t(lang, "summary.list_separator").join(
            t(lang, "invite.p3_principal_name", name=p.name, telegram_id=p.telegram_id) for p in heads
        )
        first = heads[0].telegram_id
        deactivate = f"schoolbot people --deactivate {first}" if cli else f"/deactivate {first}"
        lines.append(t(lang, "invite.p3_has_principal", school=school.name, code=school.code, names=names, deactivate=deactivate))
    return lines


async def _links(
    session: AsyncSession, lang: str, issued: Sequence[reg.IssuedInvite], bot_username: str, schools: Sequence[School] = ()
) -> Screen:
    lines = [t(lang, "invite.header", days=reg.DEFAULT_EXPIRES_DAYS)]
    lines += [f"{i.school_code} {i.school_name}: {reg.deep_link(bot_username, i.code)}" for i in issued]
    lines += principal_warnings(lang, await sitting_principals(session, schools))
    return Screen("\n".join(lines))


def _choices(lang: str, ambiguous: Ambiguous) -> Screen:
    if ambiguous.total > MAX_NAME_CHOICES:
        return Screen(t(lang, "roster.invite.too_many", word=ambiguous.word, count=ambiguous.total))
    buttons = [
        [Button(t(lang, "roster.invite.choice_button", code=s.code, name=s.name, district=s.district.name), f"invite:{s.id}")]
        for s in ambiguous.schools
    ]
    return Screen(t(lang, "roster.invite.choose", word=ambiguous.word, count=ambiguous.total), buttons)


async def invite(services: Services, who: Identity, args: Sequence[str], bot_username: str) -> Reply:
    """``/invite <school code or name>...`` or ``/invite all``: invite links for schools of the sender's scope."""
    lang = who.language
    words = [word for word in args if word.strip()]
    if not words:
        return Reply([Screen(t(lang, "invite.usage"))])
    scope = office_district(who)
    async with services.db.session() as session:
        if [normalise_code(word) for word in words] == ["ALL"]:
            # Every school of the sender's scope that has no registered reporter yet.
            issued = await reg.issue_invites(
                session, services.clock.now(), all_unregistered=True, created_by=who.telegram_id, scope_district_id=scope
            )
            if not issued:
                return Reply([Screen(t(lang, "invite.all_registered"))])
            # Only schools nobody reports for: no principal to warn about.
            return Reply([await _links(session, lang, issued, bot_username)])
        lookup = await look_up_schools(session, words, scope)
        if lookup.unknown:
            return Reply([Screen(t(lang, "invite.unknown_schools", codes=", ".join(lookup.unknown)))])
        screens = [_choices(lang, ambiguous) for ambiguous in lookup.ambiguous]
        if lookup.found:
            codes = [school.code for school in lookup.found]
            issued = await reg.issue_invites(
                session, services.clock.now(), school_codes=codes, created_by=who.telegram_id, scope_district_id=scope
            )
            screens.insert(0, await _links(session, lang, issued, bot_username, lookup.found))
    return Reply(screens)


async def invite_press(services: Services, who: Identity, data: str, bot_username: str) -> Press:
    """An invite button (a name's choice, or a school under /overdue): one invite link for that school."""
    lang = who.language
    raw = data.removeprefix("invite:")
    if not who.is_staff or not raw.isascii() or not raw.isdigit():
        return Press(t(lang, "core.stale_button" if who.is_staff else "core.not_allowed"), alert=True)
    async with services.db.session() as session:
        school = await school_in_district(session, int(raw), office_district(who))
        if school is None:
            return Press(t(lang, "core.stale_button"), alert=True)
        issued = await reg.issue_invites(
            session,
            services.clock.now(),
            school_codes=[school.code],
            created_by=who.telegram_id,
            scope_district_id=office_district(who),
        )
        links = await _links(session, lang, issued, bot_username, [school])
    return Press(reply=links)


def invite_buttons(schools: Sequence[OverdueSchool], lang: str) -> list[list[Button]]:
    """An invite button for each listed school nobody is registered for (the first ``MAX_OVERDUE_INVITES``)."""
    nobody = [school for school in schools if not school.reporters]
    return [
        [Button(t(lang, "roster.invite.button", school=school.name), f"invite:{school.school_id}")]
        for school in nobody[:MAX_OVERDUE_INVITES]
    ]
