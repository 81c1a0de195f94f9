"""``/summary``, ``/export`` and ``/annual``: the office's figures in chat.

``/summary [form] [period]`` answers with a phone-readable table (buttons switch
the form and step through periods) and a chart; ``/export [form] [period|year]``
sends an XLSX; ``/annual [year]`` sends the year-end draft as text and DOCX.
Staff limited to a district (``people.district_id``) see only that district.

Buttons carry the whole view (``sum:<action>:<form>:<period>``), so an old
button still shows what it says; one naming a form or period that no longer
parses (a forged press, an edited catalogue) is refused with an alert.
"""

from __future__ import annotations

import asyncio
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.core.catalogue import Cadence, Form
from bot.context import Context
from bot.core.i18n import t
from bot.core.periods import Period, local_date, parse_period
from bot.render import span_label
from bot.render.table import render_summary_text, split_message
from bot.office.scope import office_district
from bot.office.summary import (
    Summary,
    annual_figures,
    find_form,
    gather_export,
    last_finished_period,
    read_period,
    started_periods_of_year,
    summarise,
)
from handlers.common import Edited, edit_in_place
from handlers.guards import staff_only

_CALLBACK = re.compile(r"^sum:(?P<action>[vcx]):(?P<form>[a-z][a-z0-9_]{0,31}):(?P<period>[0-9A-Z-]{4,7})$")
_YEAR = re.compile(r"^\d{4}$")
# Years a year-end report can be about: anything else is a typo.
MIN_YEAR, MAX_YEAR = 1990, 2100


class _Refusal(Exception):
    """Bad arguments: carries the message to send instead."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _form_arg(context: Context, text: str | None) -> Form:
    catalogue = context.services.catalogue
    if text is None:
        return catalogue.forms[0]
    form = find_form(catalogue, text)
    if form is None:
        forms = t(context.lang, "summary.list_separator").join(f"{f.key}（{f.short.get(context.lang)}）" for f in catalogue)
        raise _Refusal(t(context.lang, "summary.unknown_form", text=text, forms=forms))
    return form


def _default_period(context: Context, form: Form) -> Period:
    services = context.services
    return last_finished_period(form, services.clock.now(), services.settings.timezone)


def _period_arg(context: Context, form: Form, text: str | None) -> Period:
    if text is None:
        return _default_period(context, form)
    try:
        period = read_period(form, text)
        if _sane(period):
            return period
    except ValueError:
        pass
    example = _default_period(context, form).key
    raise _Refusal(t(context.lang, "summary.bad_period", text=text, form=form.short.get(context.lang), example=example))


def _sane(period: Period) -> bool:
    """A period the office could mean (buttons step from it, so year 9999 would overflow)."""
    return MIN_YEAR <= period.start.year <= MAX_YEAR


def _keyboard(context: Context, form: Form, period: Period) -> InlineKeyboardMarkup:
    lang = context.lang
    today = local_date(context.services.clock.now(), context.services.settings.timezone)
    forms = []
    for other in context.services.catalogue:
        if other.key == form.key:
            label = t(lang, "summary.button_form_current", form=other.short.get(lang))
            target = period
        else:
            label, target = other.short.get(lang), _default_period(context, other)
        forms.append(InlineKeyboardButton(label, callback_data=f"sum:v:{other.key}:{target.key}"))
    previous, following = period.previous(), period.next()
    steps = [
        InlineKeyboardButton(
            t(lang, "summary.button_previous", period=previous.label(lang)), callback_data=f"sum:v:{form.key}:{previous.key}"
        )
    ]
    if following.start <= today:  # nothing to show for a period that has not begun
        steps.append(
            InlineKeyboardButton(
                t(lang, "summary.button_next", period=following.label(lang)), callback_data=f"sum:v:{form.key}:{following.key}"
            )
        )
    tools = [
        InlineKeyboardButton(t(lang, "summary.button_chart"), callback_data=f"sum:c:{form.key}:{period.key}"),
        InlineKeyboardButton(t(lang, "summary.button_export"), callback_data=f"sum:x:{form.key}:{period.key}"),
    ]
    return InlineKeyboardMarkup([forms, steps, tools])


async def _summary(context: Context, form: Form, period: Period) -> Summary:
    return await summarise(context.services.db, form, period, district_id=office_district(context.who))


def _text(context: Context, summary: Summary) -> str:
    # A dozen districts fit easily; a huge roster is cut rather than refused by Telegram.
    return split_message(render_summary_text(summary, context.lang))[0]


async def _send_chart(update: Update, context: Context, summary: Summary) -> None:
    chat = update.effective_chat
    assert chat is not None
    form, period, lang = summary.form, summary.period, context.lang
    # matplotlib, openpyxl and python-docx are imported on first use: they cost seconds of
    # start-up and tens of MB that the bot does not need until an office asks for a file.
    from bot.render.chart import render_chart
    png = await asyncio.to_thread(render_chart, summary.current, lang)
    main = form.main_field
    names = {"form": form.short.get(lang), "period": period.label(lang)}
    if main is not None:
        caption = t(lang, "summary.chart_caption", field=main.label.get(lang), **names)
    else:
        caption = t(lang, "summary.chart_caption_plain", **names)
    await context.bot.send_photo(chat.id, InputFile(png, filename=f"summary-{form.key}-{period.key}.png"), caption=caption)


async def _send_export(update: Update, context: Context, form: Form, periods: list[Period]) -> None:
    chat = update.effective_chat
    assert chat is not None
    services, lang = context.services, context.lang
    data = await gather_export(services.db, form, periods, district_id=office_district(context.who))
    from bot.render.xlsx import export_filename, render_xlsx
    workbook = await asyncio.to_thread(render_xlsx, data, lang, services.settings.timezone)
    caption = t(
        lang,
        "summary.export_caption",
        form=form.short.get(lang),
        period=span_label(periods, lang),
        reports=len(data.reports),
        missing=len(data.missing),
    )
    await context.bot.send_document(chat.id, InputFile(workbook, filename=export_filename(form, periods)), caption=caption)


@staff_only
async def summary_command(update: Update, context: Context) -> None:
    """Show the chart and the summary table for the form and period named (or the defaults)."""
    message = update.effective_message
    assert message is not None
    args = context.args or []
    try:
        form = _form_arg(context, args[0] if args else None)
        period = _period_arg(context, form, args[1] if len(args) > 1 else None)
    except _Refusal as refusal:
        await message.reply_text(refusal.text)
        return
    summary = await _summary(context, form, period)
    # Chart first, table last: the buttons then sit in the newest message, under the thumb.
    await _send_chart(update, context, summary)
    await message.reply_text(_text(context, summary), reply_markup=_keyboard(context, form, period))


@staff_only
async def summary_button(update: Update, context: Context) -> None:
    """Switch form or period in place, or send the chart or spreadsheet of the view shown."""
    query = update.callback_query
    assert query is not None
    match = _CALLBACK.match(query.data or "")
    form = find_form(context.services.catalogue, match["form"]) if match else None
    period: Period | None = None
    if match and form is not None:
        try:
            period = parse_period(form.period_cadence, match["period"])
        except ValueError:
            period = None
        if period is not None and not _sane(period):
            period = None
    if match is None or form is None or period is None:
        await query.answer(t(context.lang, "summary.bad_button"), show_alert=True)
        return
    await query.answer()
    action = match["action"]
    if action == "c":
        await _send_chart(update, context, await _summary(context, form, period))
    elif action == "x":
        await _send_export(update, context, form, [period])
    else:
        summary = await _summary(context, form, period)
        text, keyboard = _text(context, summary), _keyboard(context, form, period)
        if await edit_in_place(query, text, keyboard) is Edited.GONE:
            # Pressed on a message the bot cannot edit: the view still has to appear.
            await context.bot.send_message(query.from_user.id, text, reply_markup=keyboard)


@staff_only
async def export_command(update: Update, context: Context) -> None:
    """Send the XLSX for the form and period (or whole year) named, or the defaults."""
    message = update.effective_message
    assert message is not None
    args = context.args or []
    services = context.services
    try:
        form = _form_arg(context, args[0] if args else None)
        span = args[1] if len(args) > 1 else None
        if span is not None and _YEAR.match(span) and form.period_cadence is not Cadence.YEARLY:
            # A whole year of a monthly/quarterly/semester form, up to the period running now.
            year = int(span)
            periods = []
            if MIN_YEAR <= year <= MAX_YEAR:
                periods = started_periods_of_year(form, year, services.clock.now(), services.settings.timezone)
            if not periods:
                example = _default_period(context, form).key
                name = form.short.get(context.lang)
                raise _Refusal(t(context.lang, "summary.bad_period", text=span, form=name, example=example))
        else:
            periods = [_period_arg(context, form, span)]
    except _Refusal as refusal:
        await message.reply_text(refusal.text + "\n" + t(context.lang, "summary.export_usage"))
        return
    await _send_export(update, context, form, periods)


@staff_only
async def annual_command(update: Update, context: Context) -> None:
    """Send the year-end report draft for the year named (default: this year) as text and DOCX."""
    message = update.effective_message
    assert message is not None
    services, lang = context.services, context.lang
    args = context.args or []
    now = services.clock.now()
    year = int(args[0]) if args and _YEAR.match(args[0]) else local_date(now, services.settings.timezone).year
    if (args and not _YEAR.match(args[0])) or not MIN_YEAR <= year <= MAX_YEAR:
        await message.reply_text(t(lang, "summary.annual_usage"))
        return
    annual = await annual_figures(
        services.db, services.catalogue, year, now, services.settings.timezone, district_id=office_district(context.who)
    )
    from bot.render.annual import render_annual_docx, render_annual_text
    for chunk in split_message(render_annual_text(annual, lang)):
        await message.reply_text(chunk)
    document = await asyncio.to_thread(render_annual_docx, annual, lang)
    await message.reply_document(
        InputFile(document, filename=f"schoolbot-annual-{year}.docx"), caption=t(lang, "summary.annual_caption", year=year)
    )


def build_summary_handlers() -> list[BaseHandler[Update, Context, None]]:
    return [
        CommandHandler("summary", summary_command),
        CommandHandler("export", export_command),
        CommandHandler("annual", annual_command),
        CallbackQueryHandler(summary_button, pattern=r"^sum:"),
    ]
