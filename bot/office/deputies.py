"""A school's deputies: ``/deputy`` for its principal, and the buttons under it.

A deputy (role ``reporter``) files for the school exactly like its principal and
gets the same reminders, but invites and removes nobody. Only the school's
principal invites one (a one-time link through the office's invite machinery,
bound to the school with role reporter) and removes one (asked first); both are
audited (``deputy.invited``, ``deputy.removed``). Every press is checked here
against the presser's own school, so a forged button naming somebody of another
school changes nothing and says no more than "not a deputy of your school".
A removed deputy is deactivated, not deleted: the reports they filed keep them.
"""

from __future__ import annotations

from bot.core.i18n import t
from bot.core.ui import Button, Screen
from bot.office import registration as reg
from bot.office.people import Menu, Press, Reply
from bot.services import Identity, Services
from storage.models import Role
from storage.people import PersonListing, audit, deactivate_deputy, list_people
from storage.schools import school_by_code

__all__ = ["DEPUTY_EXPIRES_DAYS", "MAX_DEPUTY_BUTTONS", "overview", "press"]

# A deputy's link is passed on by a principal, not handed out by the office: shorter-lived.
DEPUTY_EXPIRES_DAYS = 7
# One remove button per deputy (plus the invite button) stays far under Telegram's 100.
MAX_DEPUTY_BUTTONS = 30


def _refusal(who: Identity) -> str | None:
    """Why ``who`` may not manage deputies (None: they may): only a school's principal does."""
    if who.heads_school:
        return None
    if who.role is Role.REPORTER:
        return t(who.language, "deputy.only_principal")
    return t(who.language, "core.not_allowed")


async def _deputies(services: Services, who: Identity) -> list[PersonListing]:
    async with services.db.session() as session:
        return await list_people(session, roles=(Role.REPORTER.value,), school_id=who.school_id)


def _listing(who: Identity, deputies: list[PersonListing]) -> Screen:
    """The school's deputies, a remove button each, and the invite button."""
    lang = who.language
    lines = [t(lang, "deputy.title", school=who.school_name or "")]
    if deputies:
        lines += [t(lang, "deputy.row", name=d.name, telegram_id=d.telegram_id) for d in deputies]
    else:
        lines.append(t(lang, "deputy.none"))
    lines += ["", t(lang, "deputy.hint")]
    buttons = [[Button(t(lang, "deputy.invite_button"), "deputy:invite")]]
    buttons += [
        [Button(t(lang, "deputy.remove_button", name=d.name), f"deputy:rm:{d.telegram_id}")]
        for d in deputies[:MAX_DEPUTY_BUTTONS]
    ]
    return Screen("\n".join(lines), buttons)


async def overview(services: Services, who: Identity) -> Reply:
    """``/deputy``: the school's deputies with remove buttons, and a button for a one-time invite link."""
    refusal = _refusal(who)
    if refusal is not None:
        return Reply([Screen(refusal)])
    return Reply([_listing(who, await _deputies(services, who))])


async def press(services: Services, who: Identity, data: str, bot_username: str) -> Press:
    """The deputy list's buttons: ``invite``, ``rm:<id>`` (asks first), ``rmok:<id>`` (removes), ``list``."""
    refusal = _refusal(who)
    if refusal is not None:
        return Press(refusal, alert=True)
    parts = data.split(":")
    if parts[1:] == ["invite"]:
        return await _invite(services, who, bot_username)
    if parts[1:] == ["list"]:
        return Press(edit=_listing(who, await _deputies(services, who)))
    target = reg.parse_telegram_id(parts[2]) if len(parts) == 3 else None
    if target is not None and parts[1] == "rm":
        return await _confirm_removal(services, who, target)
    if target is not None and parts[1] == "rmok":
        return await _remove(services, who, target)
    return Press(t(who.language, "core.stale_button"), alert=True)


async def _invite(services: Services, who: Identity, bot_username: str) -> Press:
    """Issue one invite for the principal's school with role reporter, and show its link."""
    assert who.school_code is not None
    now = services.clock.now()
    async with services.db.session() as session:
        school = await school_by_code(session, who.school_code)
        assert school is not None  # the identity was read with it
        issued = reg.issue_one(
            session, now, school, None, DEPUTY_EXPIRES_DAYS, who.telegram_id, role=Role.REPORTER, action="deputy.invited"
        )
    link = reg.deep_link(bot_username, issued.code)
    text = t(who.language, "deputy.invite_link", link=link, days=DEPUTY_EXPIRES_DAYS, school=school.name)
    return Press(reply=Screen(text))


def _deputy_named(deputies: list[PersonListing], telegram_id: int) -> PersonListing | None:
    return next((d for d in deputies if d.telegram_id == telegram_id), None)


async def _confirm_removal(services: Services, who: Identity, telegram_id: int) -> Press:
    """Ask before removing: the deputy must be an active deputy of the presser's own school."""
    lang = who.language
    deputy = _deputy_named(await _deputies(services, who), telegram_id)
    if deputy is None:
        return Press(t(lang, "deputy.not_a_deputy"), alert=True)
    buttons = [
        [
            Button(t(lang, "deputy.confirm_button"), f"deputy:rmok:{telegram_id}"),
            Button(t(lang, "deputy.keep_button"), "deputy:list"),
        ]
    ]
    return Press(edit=Screen(t(lang, "deputy.confirm", name=deputy.name), buttons))


async def _remove(services: Services, who: Identity, telegram_id: int) -> Press:
    """Deactivate the deputy (history kept), audit it, and show the list as it is now."""
    lang = who.language
    assert who.school_id is not None
    async with services.db.session() as session:
        name = await deactivate_deputy(session, telegram_id, who.school_id)
        if name is not None:
            audit(
                session,
                services.clock.now(),
                who.telegram_id,
                "deputy.removed",
                who.school_code,
                person=reg.person_subject(telegram_id),
                name=name,
            )
    if name is None:
        # Removed already (a second press), or never a deputy of this school (a forged button).
        return Press(t(lang, "deputy.not_a_deputy"), alert=True)
    listing = _listing(who, await _deputies(services, who))
    return Press(t(lang, "deputy.removed", name=name), edit=listing, menu=Menu(telegram_id, None))
