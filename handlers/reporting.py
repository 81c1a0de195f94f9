"""The reporting conversation in Telegram: /report, form shortcuts, /correct, /cancel, /skip.

Thin on purpose: each callback turns the update into one call of
``bot.reporting.service.Reporting`` (or ``bot.reporting.selfservice.SelfService``
for /correct) and sends back the screens it returns.
The conversation's state is the principal's ``drafts`` row, not a PTB
ConversationHandler (which keeps state in process memory), so a restart or a
second bot process carries on mid-form.

Typed answers (and stickers or photos sent instead) reach ``draft_input``
through the input router; it declines when no draft is waiting, so the
message gets the generic reply.

``report_now_button(form, period, lang)`` is the button reminders and
/status use to open a form for a period directly (data ``go:<form>:<period>``).

Office staff file for a school with ``/report_for CODE [form] [period]`` or a 代填
button (``obh:...``) of /overdue: the same conversation on a draft of their own
(``bot.reporting.onbehalf.OnBehalf``), so their answers, presses, /cancel and /skip
come here too; the school's reporters are then told (``Outcome.notices``).
"""

from __future__ import annotations

import dataclasses
import logging

from collections.abc import Awaitable, Callable

from telegram import InlineKeyboardButton, Update
from telegram.error import BadRequest, Forbidden
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.context import Context
from bot.core.catalogue import Catalogue, Form
from bot.core.i18n import t
from bot.core.periods import Period
from bot.core.ui import Screen
from bot.delivery.markup import keyboard, markup
from bot.reporting.codec import Start, report_now
from bot.reporting.onbehalf import BEHALF_PREFIX, OnBehalf
from bot.reporting.selfservice import SelfService
from bot.reporting.service import Outcome, Reporter, Reporting
from handlers.guards import principal_only, staff_only

__all__ = [
    "build_reporting_handlers",
    "draft_input",
    "report_now_button",
    "reporting_for",
    "selfservice_for",
    "send_outcome",
]

log = logging.getLogger(__name__)

# Button data prefixes this module answers.
DRAFT_PATTERN = r"^r:"
START_PATTERN = r"^(go|fix):"


def report_now_button(form: Form, period: Period, lang: str | None) -> InlineKeyboardButton:
    """A button that opens ``form`` for ``period`` straight away (for reminders and /status)."""
    board = keyboard([[report_now(form, period, lang)]])
    assert board is not None
    return board.inline_keyboard[0][0]


def _reporter(context: Context) -> Reporter:
    """The principal who sent this update (``principal_only`` let them in)."""
    who = context.who
    assert who.person_id is not None and who.school_id is not None  # principal_only let them in
    reporter = Reporter(
        person_id=who.person_id,
        telegram_id=who.telegram_id,
        school_id=who.school_id,
        lang=who.language,
        school_code=who.school_code or "",
        update_id=context.update_id,
        programmes=who.programmes,
        draft=who.draft,
        draft_read=who.draft_read,
    )
    # The draft read with the identity describes the draft before this update: good once.
    context.identity = dataclasses.replace(who, draft=None, draft_read=False)
    return reporter


def behalf_for(context: Context) -> OnBehalf:
    """Filing on behalf of a school, for the staff member who sent this update."""
    behalf = OnBehalf(context.services, context.who, context.update_id)
    # The draft read with the identity describes the draft before this update: good once.
    context.identity = dataclasses.replace(context.who, draft=None, draft_read=False)
    return behalf


def reporting_for(context: Context) -> Reporting:
    """The report conversation for the principal who sent this update."""
    return Reporting(context.services, _reporter(context))


def selfservice_for(context: Context) -> SelfService:
    """/status, /history and /correct for the principal who sent this update."""
    return SelfService(context.services, _reporter(context))


async def send_outcome(update: Update, context: Context, outcome: Outcome) -> None:
    """Answer the pressed button (if any), retire its keyboard when used, then send the screens."""
    query = update.callback_query
    if query is not None:
        await query.answer(outcome.alert, show_alert=outcome.alert is not None)
        if outcome.used_up and query.message is not None:
            try:
                await query.edit_message_reply_markup(None)
            except BadRequest:
                # Too old to edit, or already without buttons: the draft's token guards it anyway.
                log.debug("could not remove the keyboard of a used message")
    chat = update.effective_chat
    assert chat is not None
    for screen in outcome.screens:
        await context.bot.send_message(chat.id, screen.text, reply_markup=markup(screen))
    for notice in outcome.notices:
        try:
            await context.bot.send_message(notice.chat_id, notice.text)
        except (Forbidden, BadRequest) as exc:
            # Blocked the bot or never opened it: the report is saved and the office saw whom it told.
            log.info("on-behalf notice not delivered: %s", type(exc).__name__)


@principal_only
async def report_command(update: Update, context: Context) -> None:
    """Start a report: offer the school's forms (or open the form named after /report)."""
    start = Start("menu")
    if context.args:
        start = _form_start(context.services.catalogue, context.args[0]) or start
    await send_outcome(update, context, await reporting_for(context).start(start))


@principal_only
async def shortcut_command(update: Update, context: Context) -> None:
    """A form's own command (/milk, /harvest...): skip choosing the form."""
    message = update.effective_message
    assert message is not None and message.text is not None
    command = message.text.split()[0].lstrip("/").split("@")[0].lower()
    start = _form_start(context.services.catalogue, command) or Start("menu")
    await send_outcome(update, context, await reporting_for(context).start(start))


def _form_start(catalogue: Catalogue, name: str) -> Start | None:
    name = name.lstrip("/").lower()
    for form in catalogue:
        if name in (form.key, form.command):
            return Start("form", form_key=form.key)
    return None


@principal_only
async def correct_command(update: Update, context: Context) -> None:
    """List the school's recent reports that can still be corrected."""
    await send_outcome(update, context, await selfservice_for(context).corrections())


async def cancel_command(update: Update, context: Context) -> None:
    """Throw away the draft, whatever step it is at."""
    if context.who.is_staff:
        reporting = await behalf_for(context).cancelling()
        if reporting is not None:
            await send_outcome(update, context, await reporting.cancel())
            return
    if not context.who.is_principal:
        # Only principals have drafts; for anyone else there is simply nothing to cancel.
        await send_outcome(update, context, Outcome(screens=[Screen(t(context.lang, "report.nothing_to_cancel"))]))
        return
    await send_outcome(update, context, await reporting_for(context).cancel())


async def skip_command(update: Update, context: Context) -> None:
    """Leave the optional question unanswered and go on."""
    if context.who.is_staff and await _behalf_step(update, context, lambda reporting: reporting.skip()):
        return
    if not context.who.is_principal:
        await send_outcome(update, context, Outcome(screens=[Screen(t(context.lang, "report.nothing_to_skip"))]))
        return
    await send_outcome(update, context, await reporting_for(context).skip())


async def draft_button(update: Update, context: Context) -> None:
    """Any button of the draft: form, period, choice, skip, edit, submit, cancel..."""
    query = update.callback_query
    assert query is not None and query.data is not None
    data = query.data
    if context.who.is_staff:
        if not await _behalf_step(update, context, lambda reporting: reporting.press(data)):
            await send_outcome(update, context, Outcome(alert=t(context.lang, "core.stale_button")))
        return
    await _principal_press(update, context)


@principal_only
async def _principal_press(update: Update, context: Context) -> None:
    """A principal's press on their draft."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await send_outcome(update, context, await reporting_for(context).press(query.data))


async def _behalf_step(update: Update, context: Context, act: Callable[[Reporting], Awaitable[Outcome]]) -> bool:
    """Carry on office staff's on-behalf draft with ``act``; False when they have none (in their scope)."""
    reporting = await behalf_for(context).continuing()
    if reporting is None:
        return False
    await send_outcome(update, context, await act(reporting))
    return True


@staff_only
async def report_for_command(update: Update, context: Context) -> None:
    """/report_for CODE [form] [period]: the office files for a school; the reason is asked first."""
    await send_outcome(update, context, await behalf_for(context).start(context.args or []))


@staff_only
async def behalf_button(update: Update, context: Context) -> None:
    """A 代填 button of /overdue: file that school's missing report, the reason first."""
    query = update.callback_query
    assert query is not None and query.data is not None
    await send_outcome(update, context, await behalf_for(context).pressed(query.data))


async def start_button(update: Update, context: Context) -> None:
    """A "report now" (go:) or "correct this" (fix:) button: open that draft directly."""
    query = update.callback_query
    assert query is not None and query.data is not None
    if context.who.is_staff:
        # Their own broadcast's preview carries the reporters' button: say how the office files.
        await send_outcome(update, context, behalf_for(context).reporter_button(query.data))
        return
    await _principal_start(update, context)


@principal_only
async def _principal_start(update: Update, context: Context) -> None:
    """A principal's "report now" or "correct this" press."""
    query = update.callback_query
    assert query is not None and query.data is not None
    start = Start.decode(query.data)
    if start is None or start.kind not in ("go", "fix"):
        await send_outcome(update, context, Outcome(alert=t(context.lang, "core.stale_button")))
        return
    await send_outcome(update, context, await reporting_for(context).start(start))


async def draft_input(update: Update, context: Context) -> bool:
    """Input-router consumer: a typed answer, or a sticker/photo where an answer is due."""
    message = update.effective_message
    if message is None or not (context.who.is_principal or context.who.is_staff):
        return False
    if context.who.is_staff:
        if not OnBehalf(context.services, context.who, context.update_id).has_draft():
            return False  # staff type free text for other things too: only an on-behalf draft takes it
        found = await behalf_for(context).continuing()
        if found is None:
            return False
        reporting = found
    else:
        reporting = reporting_for(context)
    if update.edited_message is not None:
        # Telegram sends edits of old messages too; an edit must not answer the current question.
        outcome = await reporting.edited()
    elif message.text is not None:
        outcome = await reporting.text(message.text)
    else:
        outcome = await reporting.media()
    await send_outcome(update, context, outcome)
    return outcome.consumed


def build_reporting_handlers(catalogue: Catalogue) -> list[BaseHandler[Update, Context, None]]:
    """The conversation's commands and buttons; ``draft_input`` goes to the input router."""
    shortcuts = [form.command for form in catalogue]
    return [
        CommandHandler("report", report_command),
        CommandHandler("correct", correct_command),
        CommandHandler("cancel", cancel_command),
        CommandHandler("skip", skip_command),
        CommandHandler("report_for", report_for_command),
        # After the fixed commands: a catalogue form whose command collides with one never shadows it.
        CommandHandler(shortcuts, shortcut_command),
        CallbackQueryHandler(draft_button, pattern=DRAFT_PATTERN),
        CallbackQueryHandler(start_button, pattern=START_PATTERN),
        CallbackQueryHandler(behalf_button, pattern=rf"^{BEHALF_PREFIX}:"),
    ]
