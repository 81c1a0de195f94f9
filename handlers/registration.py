"""``/start`` with or without an invite code, ``/language``, ``/invite``, and the admin's staff and people tools."""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.context import Context
from bot.core.i18n import LANGUAGES, t
from bot.runtime.menus import set_menu
from bot.office.roster import normalise_code
from bot.office.registration import (
    DEFAULT_EXPIRES_DAYS,
    Deactivation,
    Outcome,
    ScopeChange,
    UnknownDistrict,
    UnknownSchools,
    add_staff,
    deactivate_person,
    deep_link,
    issue_invites,
    parse_telegram_id,
    redeem_invite,
    remove_staff,
    set_staff_scope,
)
from bot.core.textsplit import split_text
from handlers.common import edit_in_place, reply_long
from handlers.guards import admin_only, staff_only
from storage.models import Role
from storage.people import any_person_by_telegram_id, list_people, set_language
from storage.schools import all_districts, school_by_code


async def start(update: Update, context: Context) -> None:
    """Greet by role, or redeem the invite code carried by a ``/start <code>`` deep link."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None and user is not None
    who = context.who
    code = context.args[0] if context.args else None
    if not code:
        if who.is_known:
            await message.reply_text(_greeting(who.role, who.language, who.name, who.school_name))
        else:
            await message.reply_text(t(who.language, "start.how_to_register", user_id=user.id))
        return
    services = context.services
    async with services.db.session() as session:
        result = await redeem_invite(
            session,
            services.clock.now(),
            telegram_id=user.id,
            name=user.full_name,
            username=user.username,
            language=who.language,
            code=code,
        )
        school_name = result.person.school.name if result.person and result.person.school else None
    if result.outcome is Outcome.THROTTLED:
        await message.reply_text(t(who.language, "start.throttled"))
    elif result.outcome is Outcome.REFUSED:
        await message.reply_text(t(who.language, "start.bad_code", user_id=user.id))
    else:
        person = result.person
        assert person is not None
        await message.reply_text(_greeting(person.role, who.language, person.name, school_name))
        await set_menu(context.application, user.id, person.role)


def _greeting(role: str | None, lang: str, name: str, school: str | None) -> str:
    return t(lang, f"start.welcome_{role}", name=name, school=school or "")


async def language(update: Update, context: Context) -> None:
    """Offer the interface languages as buttons."""
    assert update.effective_message is not None
    buttons = [[InlineKeyboardButton(t(lang, "language.name"), callback_data=f"lang:{lang}") for lang in LANGUAGES]]
    await update.effective_message.reply_text(
        t(context.lang, "language.choose"), reply_markup=InlineKeyboardMarkup(buttons)
    )


async def language_chosen(update: Update, context: Context) -> None:
    """Store the chosen language and confirm in it."""
    query = update.callback_query
    assert query is not None and query.data is not None
    lang = query.data.partition(":")[2]
    if lang not in LANGUAGES:
        await query.answer(t(context.lang, "core.stale_button"), show_alert=True)
        return
    who = context.who
    if who.is_known:
        async with context.services.db.session() as session:
            await set_language(session, who.telegram_id, lang)
    await query.answer()
    # Unknown users have no row to keep a choice in: until they register, Telegram's language rules.
    await query.edit_message_text(t(lang, "language.set" if who.is_known else "language.set_unregistered"))


@admin_only
async def staff_list(update: Update, context: Context) -> None:
    """List office staff with their scope, buttons to remove one or change their scope, and to invite one more."""
    assert update.effective_message is not None
    text, markup = await _staff_view(context)
    await reply_long(update.effective_message, text, reply_markup=markup)


# Two buttons per staff member, plus the invite button, stay under Telegram's 100.
MAX_STAFF_BUTTON_ROWS = 49


def scope_label(lang: str, district: str | None) -> str:
    """A staff member's scope as the office says it: the district, or 全市."""
    return district or t(lang, "people.city_wide")


async def _staff_view(context: Context) -> tuple[str, InlineKeyboardMarkup]:
    lang = context.lang
    async with context.services.db.session() as session:
        people = await list_people(session, roles=(Role.ADMIN, Role.STAFF))
    lines = [t(lang, "staff.title")]
    buttons: list[list[InlineKeyboardButton]] = []
    for person in people:
        lines.append(
            t(
                lang,
                f"staff.row_{person.role}",
                name=person.name,
                telegram_id=person.telegram_id,
                scope=scope_label(lang, person.district),
            )
        )
        # Telegram takes at most 100 buttons a message: past that, /addstaff and /deactivate still work.
        if person.role == Role.STAFF and len(buttons) < MAX_STAFF_BUTTON_ROWS:
            buttons.append(
                [
                    InlineKeyboardButton(
                        t(lang, "staff.remove_button", name=person.name), callback_data=f"staff:rm:{person.telegram_id}"
                    ),
                    InlineKeyboardButton(
                        t(lang, "staff.scope_button", name=person.name), callback_data=f"staff:scope:{person.telegram_id}"
                    ),
                ]
            )
    buttons.append([InlineKeyboardButton(t(lang, "staff.invite_button"), callback_data="staff:invite")])
    lines.append(t(lang, "staff.hint"))
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


@admin_only
async def add_staff_command(update: Update, context: Context) -> None:
    """``/addstaff <telegram id> [district] [name]``: make someone city or district staff directly."""
    message = update.effective_message
    assert message is not None
    args = context.args or []
    telegram_id = parse_telegram_id(args[0]) if args else None
    if telegram_id is None:
        await message.reply_text(t(context.lang, "staff.add_usage"))
        return
    words = args[1:]
    services = context.services
    async with services.db.session() as session:
        districts = {d.name: d for d in await all_districts(session)}
        # A known district name first or last is the scope; any other words are the name
        # (so the older "/addstaff <id> <name>" keeps working).
        district = None
        if words and words[0] in districts:
            district, words = districts[words[0]], words[1:]
        elif words and words[-1] in districts:
            district, words = districts[words[-1]], words[:-1]
        person = await add_staff(
            session,
            services.clock.now(),
            actor=context.who.telegram_id,
            telegram_id=telegram_id,
            name=" ".join(words) or str(telegram_id),
            district=district,
        )
        name, role = person.name, person.role
    if role == Role.ADMIN:
        await message.reply_text(t(context.lang, "staff.already_admin", name=name))
        return
    scope = scope_label(context.lang, district.name if district else None)
    await message.reply_text(t(context.lang, "staff.added", name=name, scope=scope))
    await set_menu(context.application, telegram_id, Role.STAFF)


@admin_only
async def staff_button(update: Update, context: Context) -> None:
    """Handle the staff list's buttons: remove a staff member, change their scope, or issue a staff invite."""
    query = update.callback_query
    assert query is not None and query.data is not None
    services = context.services
    parts = query.data.split(":")
    lang = context.lang
    if parts[1:] == ["invite"]:
        async with services.db.session() as session:
            (invite,) = await issue_invites(session, services.clock.now(), staff=True, created_by=context.who.telegram_id)
        await query.answer()
        link = deep_link(await _username(context), invite.code)
        await query.message.reply_text(t(lang, "staff.invite_link", link=link, code=invite.code))  # type: ignore[union-attr]
        return
    target = parse_telegram_id(parts[2]) if len(parts) >= 3 else None
    if parts[1] == "rm" and len(parts) == 3 and target is not None:
        async with services.db.session() as session:
            removed = await remove_staff(session, services.clock.now(), actor=context.who.telegram_id, telegram_id=target)
        await query.answer(t(lang, "staff.removed" if removed else "staff.not_staff"))
        if removed:
            await set_menu(context.application, target, None)
        await _refresh_staff_list(query, context)
        return
    if parts[1] == "scope" and len(parts) == 3 and target is not None:
        await _offer_scopes(query, context, target)
        return
    if parts[1] == "set" and len(parts) == 4 and target is not None and parts[3].isascii() and parts[3].isdigit():
        await _set_scope(query, context, target, int(parts[3]) or None)
        return
    await query.answer(t(lang, "core.stale_button"), show_alert=True)


async def _refresh_staff_list(query: CallbackQuery, context: Context) -> None:
    """Show the staff list as it is now, in place of the one pressed."""
    text, markup = await _staff_view(context)
    if len(split_text(text)) > 1:
        # Too long for one message now: a fresh list, in pieces, rather than a failing edit.
        await reply_long(query.message, text, reply_markup=markup)  # type: ignore[arg-type]
        return
    # Pressed on a list that is already current (removing someone twice), or on a message
    # that cannot be edited (old, or a forged press): the answer to the press suffices.
    await edit_in_place(query, text, markup)


async def _offer_scopes(query: CallbackQuery, context: Context, telegram_id: int) -> None:
    """A staff member's scope picker: 全市 and every district, the current one ticked."""
    lang = context.lang
    async with context.services.db.session() as session:
        person = await any_person_by_telegram_id(session, telegram_id)
        districts = list(await all_districts(session))
    if person is None or not person.active or person.role != Role.STAFF:
        await query.answer(t(lang, "staff.not_staff"), show_alert=True)
        return
    current = next((d.name for d in districts if d.id == person.district_id), None)
    choices = [(0, t(lang, "people.city_wide"), person.district_id is None)]
    choices += [(d.id, d.name, d.id == person.district_id) for d in districts]
    buttons = [
        [InlineKeyboardButton(("✓ " if ticked else "") + label, callback_data=f"staff:set:{telegram_id}:{district_id}")]
        for district_id, label, ticked in choices
    ]
    await query.answer()
    await query.message.reply_text(  # type: ignore[union-attr]
        t(lang, "staff.scope_choose", name=person.name, scope=scope_label(lang, current)),
        reply_markup=InlineKeyboardMarkup(buttons),
    )


async def _set_scope(query: CallbackQuery, context: Context, telegram_id: int, district_id: int | None) -> None:
    """Apply a scope picked in the picker (0 in the data: city-wide), and say what it is now."""
    lang = context.lang
    services = context.services
    try:
        async with services.db.session() as session:
            outcome, person, district = await set_staff_scope(
                session, services.clock.now(), actor=context.who.telegram_id, telegram_id=telegram_id, district_id=district_id
            )
            name = person.name if person else ""
    except UnknownDistrict:
        await query.answer(t(lang, "core.stale_button"), show_alert=True)
        return
    if outcome is ScopeChange.NOT_STAFF:
        await query.answer(t(lang, "staff.not_staff"), show_alert=True)
        return
    scope = scope_label(lang, district.name if district else None)
    key = "staff.scope_changed" if outcome is ScopeChange.CHANGED else "staff.scope_unchanged"
    await query.answer(t(lang, key, name=name, scope=scope))
    # A forged or old picker cannot be edited: the answer above already told the admin.
    await edit_in_place(query, t(lang, key, name=name, scope=scope))


@staff_only
async def invite_command(update: Update, context: Context) -> None:
    """``/invite <school code>...`` or ``/invite all``: staff issue invite links for schools of their scope."""
    message = update.effective_message
    assert message is not None
    codes = [normalise_code(code) for code in context.args or []]
    if not codes:
        await message.reply_text(t(context.lang, "invite.usage"))
        return
    services = context.services
    who = context.who
    # "/invite all": every school of the sender's scope that has no registered reporter yet.
    every = codes == ["ALL"]
    try:
        async with services.db.session() as session:
            issued = await issue_invites(
                session,
                services.clock.now(),
                school_codes=[] if every else codes,
                all_unregistered=every,
                created_by=who.telegram_id,
                scope_district_id=None if who.is_admin else who.district_id,
            )
    except UnknownSchools as exc:
        await message.reply_text(t(context.lang, "invite.unknown_schools", codes=", ".join(exc.codes)))
        return
    if not issued:
        await message.reply_text(t(context.lang, "invite.all_registered"))
        return
    username = await _username(context)
    lines = [t(context.lang, "invite.header", days=DEFAULT_EXPIRES_DAYS)]
    lines += [f"{i.school_code} {i.school_name}: {deep_link(username, i.code)}" for i in issued]
    await reply_long(message, "\n".join(lines))


@admin_only
async def people_command(update: Update, context: Context) -> None:
    """``/people [district|school code]``: everyone active, with role and school or district."""
    message = update.effective_message
    assert message is not None
    lang = context.lang
    value = " ".join(context.args or []).strip()
    async with context.services.db.session() as session:
        district_id = school_id = None
        if value:
            districts = list(await all_districts(session))
            district = next((d for d in districts if d.name == value), None)
            school = None if district else await school_by_code(session, normalise_code(value))
            if district is None and school is None:
                known = "、".join(d.name for d in districts) or "—"
                await message.reply_text(t(lang, "people.unknown_filter", value=value, districts=known))
                return
            district_id = district.id if district else None
            school_id = school.id if school else None
        people = await list_people(session, district_id=district_id, school_id=school_id)
    if not people:
        await message.reply_text(t(lang, "people.none"))
        return
    lines = [t(lang, "people.title", count=len(people))]
    for person in people:
        if person.school_code:
            where = f"{person.school_code} {person.school_name}"
        else:
            where = scope_label(lang, person.district)
        lines.append(
            t(
                lang,
                "people.row",
                name=person.name,
                role=t(lang, f"people.role_{person.role}"),
                scope=where,
                telegram_id=person.telegram_id,
            )
        )
    lines.append(t(lang, "people.hint"))
    await reply_long(message, "\n".join(lines))


@admin_only
async def deactivate_command(update: Update, context: Context) -> None:
    """``/deactivate <telegram id>``: a principal or staff member stops being known to the bot."""
    message = update.effective_message
    assert message is not None
    lang = context.lang
    args = context.args or []
    telegram_id = parse_telegram_id(args[0]) if len(args) == 1 else None
    if telegram_id is None:
        await message.reply_text(t(lang, "people.deactivate_usage"))
        return
    services = context.services
    async with services.db.session() as session:
        outcome, person = await deactivate_person(
            session,
            services.clock.now(),
            actor=context.who.telegram_id,
            telegram_id=telegram_id,
            admin_ids=services.settings.admin_ids,
        )
        name = person.name if person else ""
        role = t(lang, f"people.role_{person.role}") if person else ""
    key = {
        Deactivation.DONE: "people.deactivated",
        Deactivation.ALREADY: "people.already_inactive",
        Deactivation.UNKNOWN: "people.unknown_person",
        Deactivation.SELF: "people.cannot_deactivate_self",
        Deactivation.PROTECTED: "people.cannot_deactivate_admin",
    }[outcome]
    await message.reply_text(t(lang, key, name=name, role=role, telegram_id=telegram_id))
    if outcome is Deactivation.DONE:
        await set_menu(context.application, telegram_id, None)


async def _username(context: Context) -> str:
    return context.services.settings.bot_username or context.bot.username


def build_registration_handlers() -> list[BaseHandler[Update, Context, None]]:
    return [
        CommandHandler("start", start),
        CommandHandler("language", language),
        CallbackQueryHandler(language_chosen, pattern=r"^lang:"),
        CommandHandler("staff", staff_list),
        CommandHandler("addstaff", add_staff_command),
        CallbackQueryHandler(staff_button, pattern=r"^staff:"),
        CommandHandler("invite", invite_command),
        CommandHandler("people", people_command),
        CommandHandler("deactivate", deactivate_command),
    ]
