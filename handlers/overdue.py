"""``/overdue [form] [period]`` for office staff, and its nudge buttons.

The list groups overdue schools by district, with each school's reporters
(or "unreachable"), a nudge button per school and one "nudge all". A nudge is
recorded per reporter like a scheduled reminder (slot ``manual-<minute>``);
at night it is queued for the end of the quiet hours and the staff member may
confirm sending it at once.

Callback data (≤ 64 bytes; ``*`` = any; everything is re-checked on press, so a
stale or forged button gets a clear refusal, never a wrong nudge)::

    nudge:<form>:<period>:<school id>
    nudgeall:<form>:<period>
    nudgenow:<form>:<period>:<school id>:<yyyymmddHHMM>

Thin: which schools a press covers, and the scope rules (a district staff
member's district, the actor's own queued nudges), are ``bot.office.nudges``.
"""

from __future__ import annotations

import logging
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.core.catalogue import Form
from bot.context import Context
from bot.core.i18n import t
from bot.core.periods import due_date, parse_period
from bot.office import nudges
from handlers.common import reply_long
from handlers.guards import staff_only
from scheduler.digests import OverdueSchool, fmt_date, period_is_locked, render_overdue_lines
from scheduler.policy import MANUAL_PREFIX, Rules
from scheduler.tick import ticker_of

__all__ = ["build_overdue_handlers"]

log = logging.getLogger(__name__)

# Per-school buttons beyond this make a wall of buttons; "nudge all" covers the rest.
MAX_SCHOOL_BUTTONS = 30
ANY = "*"
_EXAMPLES = {"monthly": "2026-11", "quarterly": "2026-Q4", "semester": "2026-S2", "yearly": "2026"}
_STAMP = re.compile(r"^\d{12}$")


class _BadScope(ValueError):
    """A form or period in a command or button that does not (or no longer) make sense."""


def _due_forms(context: Context) -> list[Form]:
    return [form for form in context.services.catalogue if form.due_days is not None]


def _scope(context: Context, form_key: str | None, period_key: str | None) -> list[Form]:
    """The forms a (form, period) scope covers; raises _BadScope if it names nothing valid."""
    catalogue = context.services.catalogue
    if form_key is not None:
        try:
            form = catalogue.get(form_key)
        except KeyError:
            raise _BadScope(form_key) from None
        if form.due_days is None:
            raise _BadScope(form_key)
        if period_key is not None:
            parse_period(form.period_cadence, period_key)  # ValueError for another cadence's key
        return [form]
    forms = _due_forms(context)
    if period_key is not None:
        forms = [form for form in forms if _parses(form, period_key)]
        if not forms:
            raise _BadScope(period_key)
    return forms


def _parses(form: Form, period_key: str) -> bool:
    try:
        parse_period(form.period_cadence, period_key)
    except ValueError:
        return False
    return True


def _forms_hint(context: Context) -> str:
    """The forms /overdue takes, e.g. ``milk（学生奶）、insurance（校方责任险）``."""
    lang = context.lang
    hints = (t(lang, "overdue.form_hint", key=form.key, name=form.short.get(lang)) for form in _due_forms(context))
    return t(lang, "digest.names_sep").join(hints)


@staff_only
async def overdue_command(update: Update, context: Context) -> None:
    """List overdue schools by district, with nudge buttons."""
    message = update.effective_message
    assert message is not None
    lang = context.lang
    catalogue = context.services.catalogue
    form_key: str | None = None
    period_key: str | None = None
    for arg in context.args or []:
        word = arg.strip()
        lowered = word.lower()
        form = next((f for f in catalogue if lowered in (f.key, f.command) or word in (f.short.zh, f.title.zh)), None)
        if form is not None and form_key is None:
            form_key = form.key
        elif period_key is None and re.fullmatch(r"\d{4}(-(\d{2}|[QqSs]\d))?", word):
            period_key = word.upper()
        else:
            await message.reply_text(
                t(lang, "overdue.unknown_arg", arg=word) + "\n" + t(lang, "overdue.usage", forms=_forms_hint(context))
            )
            return
    if form_key is not None:
        form = catalogue.get(form_key)
        if form.due_days is None:
            await message.reply_text(t(lang, "overdue.no_due_rule", form=form.title.get(lang)))
            return
        if period_key is not None and not _parses(form, period_key):
            example = _EXAMPLES.get(form.period_cadence.value, "2026-11")
            await message.reply_text(t(lang, "overdue.bad_period", arg=period_key, form=form.title.get(lang), example=example))
            return
    try:
        forms = _scope(context, form_key, period_key)
    except _BadScope:
        await message.reply_text(
            t(lang, "overdue.unknown_arg", arg=period_key or form_key or "") + "\n" + t(lang, "overdue.usage", forms=_forms_hint(context))
        )
        return
    schools = await nudges.overdue_in_scope(context.services, context.who, forms, period_key)
    now = context.services.clock.now()
    rules = Rules.from_settings(context.services.settings)
    today = rules.local(now).date()
    if not schools:
        if form_key is not None and period_key is not None:
            form = forms[0]
            period = parse_period(form.period_cadence, period_key)
            due = due_date(form, period)
            if due is not None and due >= today:
                await message.reply_text(
                    t(lang, "overdue.not_yet_due", form=form.title.get(lang), period=period.label(lang), due=fmt_date(due, lang))
                )
                return
        await message.reply_text(t(lang, "overdue.none"))
        return
    lines = [t(lang, "overdue.title", date=fmt_date(today, lang)), ""]
    lines += render_overdue_lines(schools, lang)
    unreachable = sum(1 for school in schools if school.unreachable)
    lines += ["", t(lang, "overdue.count", count=len(schools), unreachable=unreachable)]
    locked = any(period_is_locked(item.form, item.period, now, rules) for school in schools for item in school.items)
    markup = None
    if locked:
        period_label = schools[0].items[0].period.label(lang)
        lines.append(t(lang, "overdue.locked_note", period=period_label))
    else:
        markup = _nudge_keyboard(schools, form_key, period_key, lang)
        nudgeable = [school for school in schools if not school.unreachable]
        if len(nudgeable) > MAX_SCHOOL_BUTTONS:
            lines.append(t(lang, "overdue.more_buttons", shown=MAX_SCHOOL_BUTTONS, count=len(nudgeable)))
    # A few hundred schools run past one message: pieces at line breaks, the buttons under the last.
    await reply_long(message, "\n".join(lines), reply_markup=markup)


def _nudge_keyboard(
    schools: list[OverdueSchool], form_key: str | None, period_key: str | None, lang: str
) -> InlineKeyboardMarkup | None:
    scope = f"{form_key or ANY}:{period_key or ANY}"
    nudgeable = [school for school in schools if not school.unreachable]
    if not nudgeable:
        return None
    rows = [
        [InlineKeyboardButton(t(lang, "overdue.nudge_button", school=school.name), callback_data=f"nudge:{scope}:{school.school_id}")]
        for school in nudgeable[:MAX_SCHOOL_BUTTONS]
        if len(f"nudgenow:{scope}:{school.school_id}:000000000000") <= 64
    ]
    if len(f"nudgenow:{scope}:{ANY}:000000000000") <= 64:
        rows.append(
            [InlineKeyboardButton(t(lang, "overdue.nudge_all_button", count=len(nudgeable)), callback_data=f"nudgeall:{scope}")]
        )
    return InlineKeyboardMarkup(rows) if rows else None


def _optional(value: str) -> str | None:
    return None if value == ANY else value


@staff_only
async def nudge_button(update: Update, context: Context) -> None:
    """Nudge one school ("nudge") or every overdue school in the list ("nudgeall")."""
    query = update.callback_query
    assert query is not None and query.data is not None
    lang = context.lang
    parts = query.data.split(":")
    kind = parts[0]
    valid = (kind == "nudge" and len(parts) == 4 and parts[3].isdigit()) or (kind == "nudgeall" and len(parts) == 3)
    try:
        if not valid:
            raise _BadScope(query.data)
        form_key, period_key = _optional(parts[1]), _optional(parts[2])
        forms = _scope(context, form_key, period_key)
    except ValueError:
        await query.answer(t(lang, "overdue.stale"), show_alert=True)
        return
    school_id = int(parts[3]) if kind == "nudge" else None
    services = context.services
    result = await nudges.nudge(services, context.who, forms, period_key, school_id)
    if isinstance(result, nudges.Refused):
        await query.answer(t(lang, "overdue.stale"), show_alert=True)
        return
    if isinstance(result, nudges.NothingOverdue):
        key = "overdue.nothing_overdue" if result.school is None else "overdue.reported_meanwhile"
        await query.answer()
        await _reply(update, t(lang, key, school=result.school or ""))
        return
    outcome = result.outcome
    rules = Rules.from_settings(services.settings)
    await query.answer()
    lines: list[str] = []
    if school_id is not None and outcome.unreachable:
        await _reply(update, t(lang, "overdue.unreachable_one", school=outcome.unreachable[0].name))
        return
    if outcome.queued == 0:
        await _reply(update, t(lang, "overdue.already_nudged"))
        return
    scope = f"{parts[1]}:{parts[2]}"
    stamp = outcome.slot.removeprefix(MANUAL_PREFIX)
    if outcome.quiet:
        quiet = services.settings.quiet_hours
        target = outcome.schools[0].name if school_id is not None else t(lang, "overdue.target_all", count=len(outcome.schools))
        button = InlineKeyboardButton(
            t(lang, "overdue.send_now_button"), callback_data=f"nudgenow:{scope}:{school_id if school_id is not None else ANY}:{stamp}"
        )
        await _reply(
            update,
            t(
                lang,
                "overdue.queued_quiet",
                quiet=f"{quiet.start:%H:%M}–{quiet.end:%H:%M}",
                target=target,
                at=f"{outcome.not_before.astimezone(rules.tz):%H:%M}",
            ),
            InlineKeyboardMarkup([[button]]),
        )
        return
    ticker = ticker_of(context.application)
    if school_id is not None:
        # One school: a handful of messages, sent before answering so the result can be told.
        report = await ticker.send_manual(slot=outcome.slot, school_id=school_id)
        school = outcome.schools[0]
        names = t(lang, "digest.names_sep").join(r.name for r in school.reachable_reporters)
        failed = report.failed + report.retry + report.blocked
        lines.append(
            t(lang, "overdue.nudged_one", school=school.name, names=names)
            if not failed
            else t(lang, "overdue.nudge_failed", school=school.name, sent=report.nudges_sent, failed=failed)
        )
    else:
        # Every school: possibly hundreds of messages; they go out in the background at the bulk pace.
        ticker.kick()
        people = len({r.person_id for school in outcome.schools for r in school.reachable_reporters})
        lines.append(t(lang, "overdue.nudge_all_started", schools=len(outcome.schools), people=people))
        if outcome.unreachable:
            names = t(lang, "digest.names_sep").join(school.name for school in outcome.unreachable)
            lines.append(t(lang, "overdue.nudge_all_unreachable", count=len(outcome.unreachable), schools=names))
    await _reply(update, "\n".join(lines))


@staff_only
async def send_now_button(update: Update, context: Context) -> None:
    """Confirm sending a nudge queued during quiet hours right away."""
    query = update.callback_query
    assert query is not None and query.data is not None
    lang = context.lang
    parts = query.data.split(":")
    valid = len(parts) == 5 and (parts[3] == ANY or parts[3].isdigit()) and _STAMP.match(parts[4]) is not None
    try:
        if not valid:
            raise _BadScope(query.data)
        form_key, period_key = _optional(parts[1]), _optional(parts[2])
        _scope(context, form_key, period_key)
    except ValueError:
        await query.answer(t(lang, "overdue.stale"), show_alert=True)
        return
    school_id = int(parts[3]) if parts[3] != ANY else None
    services = context.services
    slot = f"{MANUAL_PREFIX}{parts[4]}"
    moved = await nudges.send_now(
        services, context.who, slot=slot, school_id=school_id, form_key=form_key, period_key=period_key
    )
    if moved is None:
        await query.answer(t(lang, "overdue.stale"), show_alert=True)
        return
    await query.answer()
    await _drop_buttons(update)
    if not moved:
        await _reply(update, t(lang, "overdue.nothing_queued"))
        return
    ticker = ticker_of(context.application)
    if school_id is not None:
        report = await ticker.send_manual(slot=slot, school_id=school_id)
        await _reply(update, t(lang, "overdue.sent_now", count=report.nudges_sent))
    else:
        ticker.kick()
        await _reply(update, t(lang, "overdue.sent_now", count=moved))


async def _drop_buttons(update: Update) -> None:
    """Take the "send now" button off the message it was pressed on, so it is not pressed twice."""
    query = update.callback_query
    assert query is not None
    try:
        await query.edit_message_reply_markup(None)
    except BadRequest:
        pass  # already gone, or a message the bot no longer has: nothing to take off


async def _reply(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    chat = update.effective_chat
    assert chat is not None
    await chat.send_message(text, reply_markup=markup)


def build_overdue_handlers() -> list[BaseHandler[Update, Context, None]]:
    """/overdue and its buttons."""
    return [
        CommandHandler("overdue", overdue_command),
        CallbackQueryHandler(nudge_button, pattern=r"^nudge(all)?:"),
        CallbackQueryHandler(send_now_button, pattern=r"^nudgenow:"),
    ]
