"""Who someone is, and the office's people tools in chat: ``/start``, ``/language``, staff, ``/people``, ``/deactivate``.

Each use case takes ``Services``, owns its transaction and answers with
screens (``bot.core.ui``) and, when someone's role changed, the ``Menu`` their
chat should now show; ``handlers/identity.py`` and ``handlers/registration.py``
only send them. The rules themselves (invites, staff scope, deactivation) are
``bot.office.registration``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.core.i18n import LANGUAGES, t
from bot.core.ui import Button, Screen
from bot.office import registration as reg
from bot.office.roster import normalise_code
from bot.services import Identity, Services
from storage.models import Role
from storage.people import PersonListing, any_person_by_telegram_id, identity_row, list_people, set_blocked, set_language
from storage.schools import all_districts, school_by_code

__all__ = [
    "Menu",
    "Press",
    "Reply",
    "add_staff",
    "choose_language",
    "deactivate",
    "identify",
    "language_menu",
    "people",
    "staff_list",
    "staff_press",
    "start",
]

# Two buttons per staff member, plus the invite button, stay under Telegram's 100.
MAX_STAFF_BUTTON_ROWS = 49


@dataclass(frozen=True)
class Menu:
    """Show ``role``'s commands in ``telegram_id``'s chat (None: the menu of somebody the bot does not know)."""

    telegram_id: int
    role: Role | None


@dataclass(frozen=True)
class Reply:
    """Messages to send (long ones in pieces, buttons under the last), and a menu to set after them."""

    screens: list[Screen] = field(default_factory=list)
    menu: Menu | None = None


@dataclass(frozen=True)
class Press:
    """The answer to a pressed button: a toast (or ``alert``), then a new message or the pressed one edited."""

    answer: str | None = None
    alert: bool = False
    reply: Screen | None = None
    # Shown in place of the pressed message (a fresh one, in pieces, when it no longer fits in one).
    edit: Screen | None = None
    menu: Menu | None = None


def _say(text: str, menu: Menu | None = None) -> Reply:
    return Reply([Screen(text)], menu)


# --- who is writing -----------------------------------------------------------------


async def identify(services: Services, *, telegram_id: int, full_name: str, language: str, private: bool) -> Identity:
    """The sender's role, school and language; bootstraps or revokes an admin from ADMIN_IDS on the way."""
    admins = services.settings.admin_ids
    async with services.db.reader() as conn:
        row = await identity_row(conn, telegram_id)
    needs_admin = telegram_id in admins and (row is None or row.role != Role.ADMIN)
    # An admin row whose id left ADMIN_IDS: that list is the source of admins, so the row goes.
    revoked = row is not None and row.role == Role.ADMIN and telegram_id not in admins
    if needs_admin or revoked or (row is not None and row.blocked and private):
        # Rare writes: bootstrap an admin from ADMIN_IDS, revoke a removed one, or note
        # that a blocked user wrote again.
        async with services.db.session() as session:
            if needs_admin:
                await reg.ensure_admin(session, services.clock.now(), telegram_id=telegram_id, name=full_name, language=language)
            elif revoked:
                await reg.revoke_admin(session, services.clock.now(), telegram_id=telegram_id)
            if private:
                await set_blocked(session, telegram_id, False)
        if revoked:
            row = None  # deactivated: from now on somebody the bot does not know
        else:
            async with services.db.reader() as conn:
                row = await identity_row(conn, telegram_id)
    if row is None:
        return Identity(telegram_id=telegram_id, language=language)
    return Identity(
        telegram_id=telegram_id,
        language=row.language or language,
        role=Role(row.role),
        person_id=row.id,
        name=row.name,
        school_id=row.school_id,
        school_code=row.school_code,
        school_name=row.school_name,
        district_id=row.school_district_id if row.school_id else row.district_id,
        programmes=frozenset(row.school_programmes.split(",")) if row.school_programmes else frozenset(),
        draft=row.draft,
        draft_read=True,
    )


# --- /start and /language -----------------------------------------------------------


def _greeting(role: str | None, lang: str, name: str, school: str | None) -> str:
    return t(lang, f"start.welcome_{role}", name=name, school=school or "")


async def start(services: Services, who: Identity, *, name: str, username: str | None, code: str | None) -> Reply:
    """Greet by role, or redeem the invite code carried by a ``/start <code>`` deep link."""
    lang = who.language
    if not code:
        if who.is_known:
            return _say(_greeting(who.role, lang, who.name, who.school_name))
        return _say(t(lang, "start.how_to_register", user_id=who.telegram_id))
    async with services.db.session() as session:
        result = await reg.redeem_invite(
            session, services.clock.now(), telegram_id=who.telegram_id, name=name, username=username, language=lang, code=code
        )
        school_name = result.person.school.name if result.person and result.person.school else None
    if result.outcome is reg.Outcome.THROTTLED:
        return _say(t(lang, "start.throttled"))
    if result.outcome is reg.Outcome.REFUSED:
        return _say(t(lang, "start.bad_code", user_id=who.telegram_id))
    person = result.person
    assert person is not None
    return _say(_greeting(person.role, lang, person.name, school_name), Menu(who.telegram_id, Role(person.role)))


def language_menu(lang: str) -> Screen:
    """The interface languages as buttons."""
    return Screen(t(lang, "language.choose"), [[Button(t(code, "language.name"), f"lang:{code}") for code in LANGUAGES]])


async def choose_language(services: Services, who: Identity, data: str) -> Press:
    """Store the chosen language and confirm in it."""
    lang = data.partition(":")[2]
    if lang not in LANGUAGES:
        return Press(t(who.language, "core.stale_button"), alert=True)
    if who.is_known:
        async with services.db.session() as session:
            await set_language(session, who.telegram_id, lang)
    # Unknown users have no row to keep a choice in: until they register, Telegram's language rules.
    return Press(edit=Screen(t(lang, "language.set" if who.is_known else "language.set_unregistered")))


# --- the admin's staff list ---------------------------------------------------------


def scope_label(lang: str, district: str | None) -> str:
    """A staff member's scope as the office says it: the district, or 全市."""
    return district or t(lang, "people.city_wide")


def _staff_buttons(lang: str, person: PersonListing) -> list[Button]:
    return [
        Button(t(lang, "staff.remove_button", name=person.name), f"staff:rm:{person.telegram_id}"),
        Button(t(lang, "staff.scope_button", name=person.name), f"staff:scope:{person.telegram_id}"),
    ]


async def staff_list(services: Services, lang: str) -> Screen:
    """Office staff with their scope, buttons to remove one or change their scope, and to invite one more."""
    async with services.db.session() as session:
        people = await list_people(session, roles=(Role.ADMIN, Role.STAFF))
    lines = [t(lang, "staff.title")]
    buttons: list[list[Button]] = []
    for person in people:
        scope = scope_label(lang, person.district)
        lines.append(t(lang, f"staff.row_{person.role}", name=person.name, telegram_id=person.telegram_id, scope=scope))
        # Telegram takes at most 100 buttons a message: past that, /addstaff and /deactivate still work.
        if person.role == Role.STAFF and len(buttons) < MAX_STAFF_BUTTON_ROWS:
            buttons.append(_staff_buttons(lang, person))
    buttons.append([Button(t(lang, "staff.invite_button"), "staff:invite")])
    lines.append(t(lang, "staff.hint"))
    return Screen("\n".join(lines), buttons)


async def add_staff(services: Services, who: Identity, args: Sequence[str]) -> Reply:
    """``/addstaff <telegram id> [district] [name]``: make someone city or district staff directly."""
    lang = who.language
    telegram_id = reg.parse_telegram_id(args[0]) if args else None
    if telegram_id is None:
        return _say(t(lang, "staff.add_usage"))
    words = list(args[1:])
    async with services.db.session() as session:
        districts = {d.name: d for d in await all_districts(session)}
        # A known district name first or last is the scope; any other words are the name
        # (so the older "/addstaff <id> <name>" keeps working).
        district = None
        if words and words[0] in districts:
            district, words = districts[words[0]], words[1:]
        elif words and words[-1] in districts:
            district, words = districts[words[-1]], words[:-1]
        person = await reg.add_staff(
            session,
            services.clock.now(),
            actor=who.telegram_id,
            telegram_id=telegram_id,
            name=" ".join(words) or str(telegram_id),
            district=district,
        )
        name, role = person.name, person.role
    if role == Role.ADMIN:
        return _say(t(lang, "staff.already_admin", name=name))
    scope = scope_label(lang, district.name if district else None)
    return _say(t(lang, "staff.added", name=name, scope=scope), Menu(telegram_id, Role.STAFF))


async def staff_press(services: Services, who: Identity, data: str, bot_username: str) -> Press:
    """The staff list's buttons: remove a staff member, change their scope, or issue a staff invite."""
    lang = who.language
    parts = data.split(":")
    if parts[1:] == ["invite"]:
        async with services.db.session() as session:
            (invite,) = await reg.issue_invites(session, services.clock.now(), staff=True, created_by=who.telegram_id)
        link = reg.deep_link(bot_username, invite.code)
        return Press(reply=Screen(t(lang, "staff.invite_link", link=link, code=invite.code)))
    target = reg.parse_telegram_id(parts[2]) if len(parts) >= 3 else None
    if parts[1] == "rm" and len(parts) == 3 and target is not None:
        return await _remove_staff(services, who, target)
    if parts[1] == "scope" and len(parts) == 3 and target is not None:
        return await _offer_scopes(services, lang, target)
    if parts[1] == "set" and len(parts) == 4 and target is not None and parts[3].isascii() and parts[3].isdigit():
        return await _set_scope(services, who, target, int(parts[3]) or None)
    return Press(t(lang, "core.stale_button"), alert=True)


async def _remove_staff(services: Services, who: Identity, telegram_id: int) -> Press:
    """Withdraw a staff role, and show the staff list as it is now in place of the one pressed."""
    async with services.db.session() as session:
        removed = await reg.remove_staff(session, services.clock.now(), actor=who.telegram_id, telegram_id=telegram_id)
    answer = t(who.language, "staff.removed" if removed else "staff.not_staff")
    # Pressed on a list that is already current (removing someone twice), or on a message
    # that cannot be edited (old, or a forged press): the answer to the press suffices.
    listing = await staff_list(services, who.language)
    return Press(answer, edit=listing, menu=Menu(telegram_id, None) if removed else None)


async def _offer_scopes(services: Services, lang: str, telegram_id: int) -> Press:
    """A staff member's scope picker: 全市 and every district, the current one ticked."""
    async with services.db.session() as session:
        person = await any_person_by_telegram_id(session, telegram_id)
        districts = list(await all_districts(session))
    if person is None or not person.active or person.role != Role.STAFF:
        return Press(t(lang, "staff.not_staff"), alert=True)
    current = next((d.name for d in districts if d.id == person.district_id), None)
    choices = [(0, t(lang, "people.city_wide"), person.district_id is None)]
    choices += [(d.id, d.name, d.id == person.district_id) for d in districts]
    buttons = [
        [Button(("✓ " if ticked else "") + label, f"staff:set:{telegram_id}:{district_id}")]
        for district_id, label, ticked in choices
    ]
    text = t(lang, "staff.scope_choose", name=person.name, scope=scope_label(lang, current))
    return Press(reply=Screen(text, buttons))


async def _set_scope(services: Services, who: Identity, telegram_id: int, district_id: int | None) -> Press:
    """Apply a scope picked in the picker (0 in the data: city-wide), and say what it is now."""
    lang = who.language
    try:
        async with services.db.session() as session:
            outcome, person, district = await reg.set_staff_scope(
                session, services.clock.now(), actor=who.telegram_id, telegram_id=telegram_id, district_id=district_id
            )
            name = person.name if person else ""
    except reg.UnknownDistrict:
        return Press(t(lang, "core.stale_button"), alert=True)
    if outcome is reg.ScopeChange.NOT_STAFF:
        return Press(t(lang, "staff.not_staff"), alert=True)
    scope = scope_label(lang, district.name if district else None)
    key = "staff.scope_changed" if outcome is reg.ScopeChange.CHANGED else "staff.scope_unchanged"
    # A forged or old picker cannot be edited: the answer already told the admin.
    return Press(t(lang, key, name=name, scope=scope), edit=Screen(t(lang, key, name=name, scope=scope)))


# --- /people, /deactivate (``/invite`` is bot.office.invites) --------------------------------------------------


async def people(services: Services, who: Identity, args: Sequence[str]) -> Reply:
    """``/people [district|school code]``: everyone active, with role and school or district."""
    lang = who.language
    value = " ".join(args).strip()
    async with services.db.session() as session:
        district_id = school_id = None
        if value:
            districts = list(await all_districts(session))
            district = next((d for d in districts if d.name == value), None)
            school = None if district else await school_by_code(session, normalise_code(value))
            if district is None and school is None:
                known = "、".join(d.name for d in districts) or "—"
                return _say(t(lang, "people.unknown_filter", value=value, districts=known))
            district_id = district.id if district else None
            school_id = school.id if school else None
        found = await list_people(session, district_id=district_id, school_id=school_id)
    if not found:
        return _say(t(lang, "people.none"))
    lines = [t(lang, "people.title", count=len(found))]
    for person in found:
        where = f"{person.school_code} {person.school_name}" if person.school_code else scope_label(lang, person.district)
        role = t(lang, f"people.role_{person.role}")
        lines.append(t(lang, "people.row", name=person.name, role=role, scope=where, telegram_id=person.telegram_id))
    lines.append(t(lang, "people.hint"))
    return _say("\n".join(lines))


_DEACTIVATION_TEXT = {
    reg.Deactivation.DONE: "people.deactivated",
    reg.Deactivation.ALREADY: "people.already_inactive",
    reg.Deactivation.UNKNOWN: "people.unknown_person",
    reg.Deactivation.SELF: "people.cannot_deactivate_self",
    reg.Deactivation.PROTECTED: "people.cannot_deactivate_admin",
}


async def deactivate(services: Services, who: Identity, args: Sequence[str]) -> Reply:
    """``/deactivate <telegram id>``: a principal or staff member stops being known to the bot."""
    lang = who.language
    telegram_id = reg.parse_telegram_id(args[0]) if len(args) == 1 else None
    if telegram_id is None:
        return _say(t(lang, "people.deactivate_usage"))
    async with services.db.session() as session:
        outcome, person = await reg.deactivate_person(
            session, services.clock.now(), actor=who.telegram_id, telegram_id=telegram_id, admin_ids=services.settings.admin_ids
        )
        name = person.name if person else ""
        role = t(lang, f"people.role_{person.role}") if person else ""
    text = t(lang, _DEACTIVATION_TEXT[outcome], name=name, role=role, telegram_id=telegram_id)
    return _say(text, Menu(telegram_id, None) if outcome is reg.Deactivation.DONE else None)
