"""The office's figures in chat: what ``/summary``, ``/export`` and ``/annual`` answer, as screens and files.

The handlers (``handlers/summary.py``) pass the words typed or the button's
data and send back what comes out: a ``Screen`` (the table with its buttons,
or a refusal), a ``File`` (chart, workbook, DOCX). Staff limited to a district
see only that district; city staff narrow a view by naming one
(``/summary milk 2026-11 相山区``, ``bot.office.figures_scope``). A word that is
none of form, period and district is refused by name, never ignored.

Buttons carry the whole view (``sum:<action>:<form>:<period>[:d<district>]``), so an old
button still shows what it says; one naming a form or period that no longer
parses (a forged press, an edited catalogue) is refused.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

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
    UnknownWord,
    find_form,
    form_arg,
    is_year,
    last_finished_period,
    period_arg,
    sane,
    scope_words,
)
from bot.office.figures_pick import district_suffix, form_picker, period_picker, read_pick
from bot.office.figures_scope import Narrowed, NotInScope, OutOfScope, button_district, narrow
from bot.office.review_cards import queue_button
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
    "in_scope",
    "pick",
    "press",
    "read_button",
    "summary",
]

_CALLBACK = re.compile(
    r"^sum:(?P<action>[vcx]):(?P<form>[a-z][a-z0-9_]{0,31}):(?P<period>[0-9A-Z-]{4,7})(?::d(?P<district>\d{1,9}))?$"
)


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


def _scoped_refusal(services: Services, lang: str, error: ArgumentError, narrowed: Narrowed) -> str:
    """What did not parse among words that could also name a district: a stray word says so, with the choices."""
    if not isinstance(error, UnknownWord):
        return _refusal(services, lang, error)
    separator = t(lang, "summary.list_separator")
    forms = separator.join(f"{f.key}（{f.short.get(lang)}）" for f in services.catalogue)
    return t(lang, "summary.p3_unknown_word", text=error.text, forms=forms, districts=separator.join(narrowed.names) or "—")


async def _narrowed(services: Services, who: Identity, lang: str, args: Sequence[str]) -> Narrowed | Refusal:
    """The district named among ``args`` taken out, or the refusal (another district's, or a second one)."""
    narrowed = await narrow(services, who, lang, args)
    return Refusal(narrowed.text) if isinstance(narrowed, OutOfScope) else narrowed


def form_and_period(services: Services, lang: str, args: Sequence[str]) -> tuple[Form, Period] | Refusal:
    """The form and period ``[form] [period]`` name (defaults: the first form, its last finished
    period), or the refusal naming what did not parse or was one word too many (``/flags``, ``/review``)."""
    try:
        return _form_and_period(services, args)
    except ArgumentError as error:
        return Refusal(_refusal(services, lang, error))


def _form_and_period(services: Services, args: Sequence[str]) -> tuple[Form, Period]:
    """A form and a period in either order (``/summary 2026年10月 学生奶``); the form is required."""
    if len(args) > 2:
        raise UnknownWord(args[2])  # never silently ignored: it may have been meant to narrow the view
    words = list(args)
    if len(words) == 2 and find_form(services.catalogue, words[0]) is None and find_form(services.catalogue, words[1]):
        words.reverse()
    form = form_arg(services.catalogue, words[0]) if words else services.catalogue.forms[0]
    period = period_arg(form, words[1]) if len(words) > 1 else _default_period(services, form)
    return form, period


def _buttons(services: Services, lang: str, form: Form, period: Period, district_id: int | None) -> list[list[Button]]:
    today = local_date(services.clock.now(), services.settings.timezone)
    end = district_suffix(district_id)  # every button keeps the district shown
    forms = []
    for other in services.catalogue:
        if other.key == form.key:
            label, target = t(lang, "summary.button_form_current", form=other.short.get(lang)), period
        else:
            label, target = other.short.get(lang), _default_period(services, other)
        forms.append(Button(label, f"sum:v:{other.key}:{target.key}{end}"))
    previous, following = period.previous(), period.next()
    steps = [Button(t(lang, "summary.button_previous", period=previous.label(lang)), f"sum:v:{form.key}:{previous.key}{end}")]
    if following.start <= today:  # nothing to show for a period that has not begun
        label = t(lang, "summary.button_next", period=following.label(lang))
        steps.append(Button(label, f"sum:v:{form.key}:{following.key}{end}"))
    tools = [
        Button(t(lang, "summary.button_chart"), f"sum:c:{form.key}:{period.key}{end}"),
        Button(t(lang, "summary.button_export"), f"sum:x:{form.key}:{period.key}{end}"),
        # The review queue of the view shown (issue 15).
        queue_button(form, period, lang),
    ]
    dashboard = dashboard_url(services)
    if dashboard is not None and dashboard.startswith("https://"):  # a Mini App needs https
        tools.append(Button(t(lang, "summary.button_dashboard"), "", web_app=dashboard))
    return [forms, steps, tools]


async def _summarise(services: Services, form: Form, period: Period, district_id: int | None) -> Summary:
    now, tz = services.clock.now(), services.settings.timezone
    return await summarise(services.db, form, period, now, tz, district_id=district_id)


def _table(services: Services, lang: str, summary: Summary, district_id: int | None) -> Screen:
    # A dozen districts fit easily; a huge roster is cut rather than refused by Telegram.
    text = split_message(render_summary_text(summary, lang))[0]
    return Screen(text, _buttons(services, lang, summary.form, summary.period, district_id))


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


async def _workbook(services: Services, lang: str, form: Form, periods: list[Period], district_id: int | None) -> File:
    now, tz = services.clock.now(), services.settings.timezone
    data = await gather_export(services.db, form, periods, now, tz, district_id=district_id)
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
    """``/summary [form] [period] [district]``: the chart, then the table with its buttons; no form, the form buttons."""
    narrowed = await _narrowed(services, who, lang, args)
    if isinstance(narrowed, Refusal):
        return narrowed
    district = narrowed.district_id
    if not narrowed.words:
        # No form named: offer the choice rather than guess one (for the district named, if any).
        return Answer([form_picker(services, lang, "summary", district_id=district)])
    try:
        form, period = _form_and_period(services, narrowed.words)
    except ArgumentError as error:
        usage = t(lang, "summary.p3_usage", district=(narrowed.names or ["?"])[0])
        return Refusal(_scoped_refusal(services, lang, error, narrowed) + "\n" + usage)
    result = await _summarise(services, form, period, district)
    # Chart first, table last: the buttons then sit in the newest message, under the thumb.
    return Answer([await chart(result, lang), _table(services, lang, result, district)])


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
    """``/export [form] [period|year] [district]`` (in any order): the XLSX; what is not named is offered as buttons."""
    narrowed = await _narrowed(services, who, lang, args)
    if isinstance(narrowed, Refusal):
        return narrowed
    district = narrowed.district_id
    try:
        form, span = scope_words(services.catalogue, narrowed.words)
        if form is None:
            if span is not None and not is_year(span):
                raise UnknownForm(span)  # a period means nothing without its form
            # No form: offer them (for the year named, if one was).
            year = int(span) if span is not None else None
            return Answer([form_picker(services, lang, "export", year, district_id=district)])
        if span is None:
            return Answer([period_picker(services, lang, "export", form, district)])
        periods = _export_periods(services, form, span)
    except ArgumentError as error:
        return Refusal(_scoped_refusal(services, lang, error, narrowed) + "\n" + t(lang, "summary.export_usage"))
    return Answer([await _workbook(services, lang, form, periods, district)])


async def pick(services: Services, who: Identity, lang: str, data: str) -> Answer | Refusal:
    """A picker button: a form's periods in place of the form buttons, or a whole year's workbook."""
    chosen = read_pick(services, data)
    if chosen is None:
        return Refusal(t(lang, "summary.bad_button"))
    try:
        district = await button_district(services, who, chosen.district_id)
    except NotInScope:
        return Refusal(t(lang, "summary.bad_button"))
    if chosen.year is None:
        return Answer([period_picker(services, lang, chosen.purpose, chosen.form, district)], in_place=True)
    try:
        periods = _export_periods(services, chosen.form, str(chosen.year))
    except BadPeriod as error:  # a year with no period begun yet
        return Refusal(_refusal(services, lang, error))
    return Answer([await _workbook(services, lang, chosen.form, periods, district)])


@dataclass(frozen=True)
class Pressed:
    """A summary button read back: chart (``c``), spreadsheet (``x``) or view (``v``) of a form's period."""

    action: str
    form: Form
    period: Period
    # The district the button names, as pressed (``press`` checks it against the presser).
    district_id: int | None = None


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
                district = int(match["district"]) if match["district"] is not None else None
                return Pressed(match["action"], form, period, district)
    return Refusal(t(lang, "summary.bad_button"))


async def in_scope(services: Services, who: Identity, lang: str, pressed: Pressed) -> Pressed | Refusal:
    """The pressed view with its district checked against the presser (none named: their own scope)."""
    try:
        district = await button_district(services, who, pressed.district_id)
    except NotInScope:
        return Refusal(t(lang, "summary.bad_button"))  # gone, or forged by staff of another district
    return replace(pressed, district_id=district)


async def press(services: Services, lang: str, pressed: Pressed) -> Answer:
    """A summary button checked by ``in_scope``: switch form or period in place, or send the chart or spreadsheet."""
    form, period, district = pressed.form, pressed.period, pressed.district_id
    if pressed.action == "x":
        return Answer([await _workbook(services, lang, form, [period], district)])
    result = await _summarise(services, form, period, district)
    if pressed.action == "c":
        return Answer([await chart(result, lang)])
    return Answer([_table(services, lang, result, district)], in_place=True)


async def annual(services: Services, who: Identity, lang: str, args: Sequence[str]) -> Answer | Refusal:
    """``/annual [year] [district]``: the year-end report draft as text and DOCX (default: this year)."""
    now = services.clock.now()
    tz = services.settings.timezone
    narrowed = await _narrowed(services, who, lang, args)
    if isinstance(narrowed, Refusal):
        return narrowed
    words = narrowed.words
    year = int(words[0]) if words and is_year(words[0]) else local_date(now, tz).year
    if len(words) > 1 or (words and not is_year(words[0])):
        stray = words[1] if words and is_year(words[0]) else words[0]
        districts = t(lang, "summary.list_separator").join(narrowed.names) or "—"
        return Refusal(t(lang, "annual.p3_unknown_word", text=stray, districts=districts) + "\n" + t(lang, "annual.usage"))
    if not MIN_YEAR <= year <= MAX_YEAR:
        return Refusal(t(lang, "annual.usage"))
    figures = await annual_figures(services.db, services.catalogue, year, now, tz, district_id=narrowed.district_id)
    from bot.render.annual import render_annual_text
    from bot.render.annual_docx import render_annual_docx

    office = services.settings.office_name
    parts: list[Screen | File] = [Screen(chunk) for chunk in split_message(render_annual_text(figures, lang, office=office))]
    document = await asyncio.to_thread(render_annual_docx, figures, lang, office=office)
    parts.append(File(document, f"schoolbot-annual-{year}.docx", t(lang, "annual.caption", year=year)))
    return Answer(parts)
