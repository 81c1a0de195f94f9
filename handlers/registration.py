"""``/start`` with or without an invite code, ``/language``, and the admin's staff tools."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.context import Context
from bot.i18n import LANGUAGES, t
from bot.menus import set_menu
from bot.services.registration import (
    DEFAULT_EXPIRES_DAYS,
    Outcome,
    UnknownSchools,
    add_staff,
    deep_link,
    issue_invites,
    redeem_invite,
    remove_staff,
)
from handlers.guards import admin_only, staff_only
from storage.people import set_language, staff_members


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
    """List office staff, with a remove button each and a button to invite one more."""
    assert update.effective_message is not None
    text, markup = await _staff_view(context)
    await update.effective_message.reply_text(text, reply_markup=markup)


async def _staff_view(context: Context) -> tuple[str, InlineKeyboardMarkup]:
    lang = context.lang
    async with context.services.db.session() as session:
        people = await staff_members(session)
    lines = [t(lang, "staff.title")]
    buttons = []
    for person in people:
        lines.append(t(lang, f"staff.row_{person.role}", name=person.name, telegram_id=person.telegram_id))
        if person.role == "staff":
            buttons.append(
                [InlineKeyboardButton(t(lang, "staff.remove_button", name=person.name), callback_data=f"staff:rm:{person.telegram_id}")]
            )
    buttons.append([InlineKeyboardButton(t(lang, "staff.invite_button"), callback_data="staff:invite")])
    lines.append(t(lang, "staff.hint"))
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


@admin_only
async def add_staff_command(update: Update, context: Context) -> None:
    """``/addstaff <telegram id> [name]``: make someone staff directly."""
    message = update.effective_message
    assert message is not None
    args = context.args or []
    if not args or not args[0].isdigit():
        await message.reply_text(t(context.lang, "staff.add_usage"))
        return
    name = " ".join(args[1:]) or args[0]
    async with context.services.db.session() as session:
        await add_staff(session, context.services.clock.now(), actor=context.who.telegram_id, telegram_id=int(args[0]), name=name)
    await message.reply_text(t(context.lang, "staff.added", name=name))
    await set_menu(context.application, int(args[0]), "staff")


@admin_only
async def staff_button(update: Update, context: Context) -> None:
    """Handle the staff list's buttons: remove a staff member, or issue a staff invite."""
    query = update.callback_query
    assert query is not None and query.data is not None
    services = context.services
    parts = query.data.split(":")
    lang = context.lang
    if parts[1] == "invite":
        async with services.db.session() as session:
            (invite,) = await issue_invites(session, services.clock.now(), staff=True, created_by=context.who.telegram_id)
        await query.answer()
        link = deep_link(await _username(context), invite.code)
        await query.message.reply_text(t(lang, "staff.invite_link", link=link, code=invite.code))  # type: ignore[union-attr]
        return
    if parts[1] == "rm" and len(parts) == 3 and parts[2].isdigit():
        async with services.db.session() as session:
            removed = await remove_staff(session, services.clock.now(), actor=context.who.telegram_id, telegram_id=int(parts[2]))
        await query.answer(t(lang, "staff.removed" if removed else "staff.not_staff"))
        if removed:
            await set_menu(context.application, int(parts[2]), None)
        text, markup = await _staff_view(context)
        try:
            await query.edit_message_text(text, reply_markup=markup)
        except BadRequest as exc:
            # Pressed on a list that is already current (removing someone twice), or on a
            # message that cannot be edited (old, or a forged press): the answer above suffices.
            if not any(reason in str(exc).lower() for reason in ("not modified", "message to edit not found")):
                raise
        return
    await query.answer()


@staff_only
async def invite_command(update: Update, context: Context) -> None:
    """``/invite <school code>...``: staff issue invite links for schools from chat."""
    message = update.effective_message
    assert message is not None
    codes = context.args or []
    if not codes:
        await message.reply_text(t(context.lang, "invite.usage"))
        return
    services = context.services
    try:
        async with services.db.session() as session:
            issued = await issue_invites(session, services.clock.now(), school_codes=codes, created_by=context.who.telegram_id)
    except UnknownSchools as exc:
        await message.reply_text(t(context.lang, "invite.unknown_schools", codes=", ".join(exc.codes)))
        return
    username = await _username(context)
    lines = [t(context.lang, "invite.header", days=DEFAULT_EXPIRES_DAYS)]
    lines += [f"{i.school_code} {i.school_name}: {deep_link(username, i.code)}" for i in issued]
    await message.reply_text("\n".join(lines))


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
    ]
