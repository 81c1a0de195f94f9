"""``/start`` with or without an invite code, ``/language``, ``/invite``, and the admin's staff and people tools.

Thin: what to answer is ``bot.office.people``; this module sends the screens
and sets the command menu of anyone whose role changed.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.context import Context
from bot.core.textsplit import split_text
from bot.delivery.markup import markup
from bot.office import invites, people
from bot.runtime.menus import set_menu
from handlers.common import edit_in_place, reply_long
from handlers.guards import admin_only, staff_only


async def send_reply(update: Update, context: Context, reply: people.Reply) -> None:
    """Send the reply's screens (long ones in pieces), then set the menu it names."""
    message = update.effective_message
    assert message is not None
    for screen in reply.screens:
        await reply_long(message, screen.text, reply_markup=markup(screen))
    if reply.menu is not None:
        await set_menu(context.application, reply.menu.telegram_id, reply.menu.role)


async def answer_press(update: Update, context: Context, press: people.Press) -> None:
    """Answer a pressed button, then show what the press produced."""
    query, message = update.callback_query, update.effective_message
    assert query is not None
    await query.answer(press.answer, show_alert=press.alert or None)
    if press.alert:
        return
    if press.menu is not None:
        await set_menu(context.application, press.menu.telegram_id, press.menu.role)
    if press.reply is not None:
        assert message is not None
        await message.reply_text(press.reply.text, reply_markup=markup(press.reply))
    if press.edit is not None:
        if len(split_text(press.edit.text)) > 1 and message is not None:
            # Too long for one message now: a fresh one, in pieces, rather than a failing edit.
            await reply_long(message, press.edit.text, reply_markup=markup(press.edit))
        else:
            await edit_in_place(query, press.edit.text, markup(press.edit))


def _username(context: Context) -> str:
    return context.services.settings.bot_username or context.bot.username


async def start(update: Update, context: Context) -> None:
    """Greet by role, or redeem the invite code carried by a ``/start <code>`` deep link."""
    user = update.effective_user
    assert user is not None
    code = context.args[0] if context.args else None
    reply = await people.start(context.services, context.who, name=user.full_name, username=user.username, code=code)
    await send_reply(update, context, reply)


async def language(update: Update, context: Context) -> None:
    """Offer the interface languages as buttons."""
    await send_reply(update, context, people.Reply([people.language_menu(context.lang)]))


async def language_chosen(update: Update, context: Context) -> None:
    """Store the chosen language and confirm in it."""
    query = update.callback_query
    assert query is not None and query.data is not None
    press = await people.choose_language(context.services, context.who, query.data)
    await query.answer(press.answer, show_alert=press.alert or None)
    if press.edit is not None:
        await query.edit_message_text(press.edit.text)


@admin_only
async def staff_list(update: Update, context: Context) -> None:
    """List office staff with their scope, buttons to remove one or change their scope, and to invite one more."""
    await send_reply(update, context, people.Reply([await people.staff_list(context.services, context.lang)]))


@admin_only
async def add_staff_command(update: Update, context: Context) -> None:
    """``/addstaff <telegram id> [district] [name]``: make someone city or district staff directly."""
    await send_reply(update, context, await people.add_staff(context.services, context.who, context.args or []))


@admin_only
async def staff_button(update: Update, context: Context) -> None:
    """Handle the staff list's buttons: remove a staff member, change their scope, or issue a staff invite."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await answer_press(update, context, await people.staff_press(context.services, context.who, query.data, _username(context)))


@staff_only
async def invite_command(update: Update, context: Context) -> None:
    """``/invite <school code or name>...`` or ``/invite all``: staff issue invite links for schools of their scope."""
    reply = await invites.invite(context.services, context.who, context.args or [], _username(context))
    await send_reply(update, context, reply)


@staff_only
async def invite_button(update: Update, context: Context) -> None:
    """An invite button (one of several schools a name matched, or under /overdue): that school's invite link."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await answer_press(update, context, await invites.invite_press(context.services, context.who, query.data, _username(context)))


@admin_only
async def people_command(update: Update, context: Context) -> None:
    """``/people [district|school code]``: everyone active, with role and school or district."""
    await send_reply(update, context, await people.people(context.services, context.who, context.args or []))


@admin_only
async def deactivate_command(update: Update, context: Context) -> None:
    """``/deactivate <telegram id>``: a principal or staff member stops being known to the bot."""
    await send_reply(update, context, await people.deactivate(context.services, context.who, context.args or []))


def build_registration_handlers() -> list[BaseHandler[Update, Context, None]]:
    return [
        CommandHandler("start", start),
        CommandHandler("language", language),
        CallbackQueryHandler(language_chosen, pattern=r"^lang:"),
        CommandHandler("staff", staff_list),
        CommandHandler("addstaff", add_staff_command),
        CallbackQueryHandler(staff_button, pattern=r"^staff:"),
        CommandHandler("invite", invite_command),
        CallbackQueryHandler(invite_button, pattern=r"^invite:"),
        CommandHandler("people", people_command),
        CommandHandler("deactivate", deactivate_command),
    ]
