"""The office's figures in chat: what ``/summary``, ``/export`` and ``/annual`` answer, as screens and files.

The handlers (``handlers/summary.py``) pass the words typed or the button's
data and send back what comes out: a ``Screen`` (the table with its buttons,
or a refusal), a ``File`` (chart, workbook, DOCX). Staff limited to a district
see only that district.

Buttons carry the whole view (``sum:<action>:<form>:<period>``), so an old
button still shows what it says; one naming a form or period that no longer
parses (a forged press, an edited catalogue) is refused.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.catalogue import Cadence, Form
from bot.core.i18n import t
from bot.core.periods import Period, local_date, parse_period
from bot.core.ui import Button, Screen
from bot.dashboard.links import dashboard_url
from bot.office.args import (
    MAX_YEAR,
    MIN_YEAR,
    ArgumentError,
    BadPeriod,
    UnknownForm,
    find_form,
    form_arg,
    is_year,
    last_finished_period,
    period_arg,
    sane,
    scope_words,
)
from bot.office.figures_pick import form_picker, period_picker, read_pick
from bot.office.review_cards import queue_button
from bot.office.scope import office_district
from bot.office.annual import annual_figures
from bot.office.summary import Summary, gather_export, started_periods_of_year, summarise
from bot.render import span_label
from bot.render.table import render_summary_text, split_message
from bot.services import Identity, Services

__all__ = [
    "Answer",
    "File",
    "Pressed",
    "Refusal",
    "annual",
    "chart",
    "export",
    "form_and_period",
    "pick",
    "press",
    "read_button",
    "summary",
]

_CALLBACK = re.compile(r"^sum:(?P<action>[vcx]):(?P<form>[a-z][a-z0-9_]{0,31}):(?P<period>[0-9A-Z-]{4,7})$")


@dataclass(frozen=True)
class File:
    """A file to send: its bytes, name and caption."""

    data: bytes
    filename: str
    caption: str
    # A chart is shown as a photo; anything else goes as a document.
    photo: bool = False


@dataclass(frozen=True)
class Refusal:
    """Words that name nothing: the message to send instead (an alert, for a button)."""

    text: str


@dataclass(frozen=True)
class Answer:
    """What to send, in order: screens and files."""

    parts: list[Screen | File]
    # For a pressed "view" button: the screen replaces the pressed message.
    in_place: bool = False


def _default_period(services: Services, form: Form) -> Period:
    return last_finished_period(form, services.clock.now(), services.settings.timezone)


def _refusal(services: Services, lang: str, error: ArgumentError) -> str:
    if isinstance(error, BadPeriod):
        example = _default_period(services, error.form).key
        return t(lang, "summary.bad_period", text=error.text, form=error.form.short.get(lang), example=example)
    forms = t(lang, "summary.list_separator").join(f"{f.key}（{f.short.get(lang)}）" for f in services.catalogue)
    return t(lang, "summary.unknown_form", text=error.text, forms=forms)


def form_and_period(services: Services, lang: str, args: Sequence[str]) -> tuple[Form, Period] | Refusal:
    """The form and period ``[form] [period]`` name (defaults: the first form, its last finished
    period), or the refusal naming what did not parse (``/summary``, ``/flags``)."""
    try:
        return _form_and_period(services, args)
    except ArgumentError as error:
        return Refusal(_refusal(services, lang, error))


def _form_and_period(services: Services, args: Sequence[str]) -> tuple[Form, Period]:
    form = form_arg(services.catalogue, args[0]) if args else services.catalogue.forms[0]
    period = period_arg(form, args[1]) if len(args) > 1 else _default_period(services, form)
    return form, period


def _buttons(services: Services, lang: str, form: Form, period: Period) -> list[list[Button]]:
    today = local_date(services.clock.now(), services.settings.timezone)
    forms = []
    for other in services.catalogue:
        if other.key == form.key:
            label, target = t(lang, "summary.button_form_current", form=other.short.get(lang)), period
        else:
            label, target = other.short.get(lang), _default_period(services, other)
        forms.append(Button(label, f"sum:v:{other.key}:{target.key}"))
    previous, following = period.previous(), period.next()
    steps = [Button(t(lang, "summary.button_previous", period=previous.label(lang)), f"sum:v:{form.key}:{previous.key}")]
    if following.start <= today:  # nothing to show for a period that has not begun
        steps.append(Button(t(lang, "summary.button_next", period=following.label(lang)), f"sum:v:{form.key}:{following.key}"))
    tools = [
        Button(t(lang, "summary.button_chart"), f"sum:c:{form.key}:{period.key}"),
        Button(t(lang, "summary.button_export"), f"sum:x:{form.key}:{period.key}"),
        # The review queue of the view shown (issue 15).
        queue_button(form, period, lang),
    ]
    dashboard = dashboard_url(services)
    if dashboard is not None and dashboard.startswith("https://"):  # a Mini App needs https
        tools.append(Button(t(lang, "summary.button_dashboard"), "", web_app=dashboard))
    return [forms, steps, tools]


async def _summarise(services: Services, who: Identity, form: Form, period: Period) -> Summary:
    now, tz = services.clock.now(), services.settings.timezone
    return await summarise(services.db, form, period, now, tz, district_id=office_district(who))


def _table(services: Services, lang: str, summary: Summary) -> Screen:
    # A dozen districts fit easily; a huge roster is cut rather than refused by Telegram.
    text = split_message(render_summary_text(summary, lang))[0]
    return Screen(text, _buttons(services, lang, summary.form, summary.period))


async def chart(summary: Summary, lang: str) -> File:
    """The summary's chart as a PNG, with its caption."""
    # matplotlib, openpyxl and python-docx are imported on first use: they cost seconds of
    # start-up and tens of MB that the bot does not need until an office asks for a file.
    from bot.render.chart import render_chart

    form, period = summary.form, summary.period
    png = await asyncio.to_thread(render_chart, summary.current, lang)
    main = form.main_field
    names = {"form": form.short.get(lang), "period": period.label(lang)}
    if main is not None:
        caption = t(lang, "summary.chart_caption", field=main.label.get(lang), **names)
    else:
        caption = t(lang, "summary.chart_caption_plain", **names)
    return File(png, f"summary-{form.key}-{period.key}.png", caption, photo=True)


async def _workbook(services: Services, who: Identity, lang: str, form: Form, periods: list[Period]) -> File:
    now, tz = services.clock.now(), services.settings.timezone
    data = await gather_export(services.db, form, periods, now, tz, district_id=office_district(who))
    from bot.render.missing import split_missing
    from bot.render.xlsx import export_filename, render_xlsx

    workbook = await asyncio.to_thread(render_xlsx, data, lang, now, tz)
    late, pending = split_missing(form, data.missing, now, tz)
    caption = t(
        lang,
        "export.caption",
        form=form.short.get(lang),
        period=span_label(periods, lang),
        reports=len(data.reports),
        missing=len(late),
        pending=len(pending),
    )
    return File(workbook, export_filename(form, periods), caption)


async def summary(services: Services, who: Identity, lang: str, args: Sequence[str]) -> Answer | Refusal:
    """``/summary [form] [period]``: the chart, then the table with its buttons; alone, the form buttons."""
    if not args:
        # Nothing named: offer the choice rather than guess a form.
        return Answer([form_picker(services, lang, "summary")])
    named = form_and_period(services, lang, args)
    if isinstance(named, Refusal):
        return named
    form, period = named
    result = await _summarise(services, who, form, period)
    # Chart first, table last: the buttons then sit in the newest message, under the thumb.
    return Answer([await chart(result, lang), _table(services, lang, result)])


def _export_periods(services: Services, form: Form, span: str | None) -> list[Period]:
    if span is not None and is_year(span) and form.period_cadence is not Cadence.YEARLY:
        # A whole year of a monthly/quarterly/semester form, up to the period running now.
        year = int(span)
        periods: list[Period] = []
        if MIN_YEAR <= year <= MAX_YEAR:
            periods = started_periods_of_year(form, year, services.clock.now(), services.settings.timezone)
        if not periods:
            raise BadPeriod(span, form)
        return periods
    return [period_arg(form, span) if span is not None else _default_period(services, form)]


async def export(services: Services, who: Identity, lang: str, args: Sequence[str]) -> Answer | Refusal:
    """``/export [form] [period|year]`` (in any order): the XLSX; what is not named is offered as buttons."""
    try:
        form, span = scope_words(services.catalogue, args)
        if form is None:
            if span is not None and not is_year(span):
                raise UnknownForm(span)  # a period means nothing without its form
            # No form: offer them (for the year named, if one was).
            return Answer([form_picker(services, lang, "export", int(span) if span is not None else None)])
        if span is None:
            return Answer([period_picker(services, lang, "export", form)])
        periods = _export_periods(services, form, span)
    except ArgumentError as error:
        return Refusal(_refusal(services, lang, error) + "\n" + t(lang, "summary.export_usage"))
    return Answer([await _workbook(services, who, lang, form, periods)])


async def pick(services: Services, who: Identity, lang: str, data: str) -> Answer | Refusal:
    """A picker button: a form's periods in place of the form buttons, or a whole year's workbook."""
    chosen = read_pick(services, data)
    if chosen is None:
        return Refusal(t(lang, "summary.bad_button"))
    if chosen.year is None:
        return Answer([period_picker(services, lang, chosen.purpose, chosen.form)], in_place=True)
    return await export(services, who, lang, [chosen.form.key, str(chosen.year)])


@dataclass(frozen=True)
class Pressed:
    """A summary button read back: chart (``c``), spreadsheet (``x``) or view (``v``) of a form's period."""

    action: str
    form: Form
    period: Period


def read_button(services: Services, lang: str, data: str) -> Pressed | Refusal:
    """The view a summary button names, or the refusal for a stale or forged one."""
    match = _CALLBACK.match(data)
    form = find_form(services.catalogue, match["form"]) if match else None
    if match is not None and form is not None:
        try:
            period = parse_period(form.period_cadence, match["period"])
        except ValueError:
            pass
        else:
            if sane(period):
                return Pressed(match["action"], form, period)
    return Refusal(t(lang, "summary.bad_button"))


async def press(services: Services, who: Identity, lang: str, pressed: Pressed) -> Answer:
    """A summary button: switch form or period in place, or send the chart or spreadsheet of the view."""
    form, period = pressed.form, pressed.period
    if pressed.action == "x":
        return Answer([await _workbook(services, who, lang, form, [period])])
    result = await _summarise(services, who, form, period)
    if pressed.action == "c":
        return Answer([await chart(result, lang)])
    return Answer([_table(services, lang, result)], in_place=True)


async def annual(services: Services, who: Identity, lang: str, args: Sequence[str]) -> Answer | Refusal:
    """``/annual [year]``: the year-end report draft as text and DOCX (default: this year)."""
    now = services.clock.now()
    tz = services.settings.timezone
    year = int(args[0]) if args and is_year(args[0]) else local_date(now, tz).year
    if (args and not is_year(args[0])) or not MIN_YEAR <= year <= MAX_YEAR:
        return Refusal(t(lang, "annual.usage"))
    figures = await annual_figures(services.db, services.catalogue, year, now, tz, district_id=office_district(who))
    from bot.render.annual import render_annual_text
    from bot.render.annual_docx import render_annual_docx

    office = services.settings.office_name
    parts: list[Screen | File] = [Screen(chunk) for chunk in split_message(render_annual_text(figures, lang, office=office))]
    document = await asyncio.to_thread(render_annual_docx, figures, lang, office=office)
    parts.append(File(document, f"schoolbot-annual-{year}.docx", t(lang, "annual.caption", year=year)))
    return Answer(parts)
