"""What staff mean by a form and a period: the one reader for chat commands and the CLI.

``/summary``, ``/export``, ``/overdue`` and ``schoolbot summary|export`` all
read form and period words here; each surface words its refusal itself (a
chat message in the sender's language, a CLI line), from the error raised::

    form = form_arg(catalogue, "学生奶")        # UnknownForm("学生奶") if no form is called that
    period = period_arg(form, "2026年10月")     # BadPeriod("…", form) if it is not one of the form's
    form, word = scope_words(catalogue, ["2026-10", "milk"])   # /overdue's words, in any order

Buttons and stored drafts carry exact keys instead: ``stored_period``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime, tzinfo

from bot.core.catalogue import Cadence, Catalogue, Form
from bot.core.periods import DEFAULT_TZ, Period, filed_while_running, local_date, parse_period, period_of

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "ArgumentError",
    "BadPeriod",
    "UnknownForm",
    "UnknownWord",
    "find_form",
    "form_arg",
    "is_year",
    "last_finished_period",
    "period_arg",
    "read_period",
    "recent_periods",
    "sane",
    "scope_words",
    "stored_period",
]

# Years a report can be about: anything else is a typo (and buttons step from it, so 9999 would overflow).
MIN_YEAR, MAX_YEAR = 1990, 2100


class ArgumentError(ValueError):
    """A word that names no form or period; ``text`` is the word as typed."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class UnknownForm(ArgumentError):
    """No form is called ``text``."""


class BadPeriod(ArgumentError):
    """``text`` is not a period of ``form``."""

    def __init__(self, text: str, form: Form) -> None:
        super().__init__(text)
        self.form = form


class UnknownWord(ArgumentError):
    """Neither a form nor a period (or a second one of either)."""


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _names(form: Form) -> set[str]:
    names = {form.key, form.command, form.short.zh, form.short.en, form.title.zh, form.title.en}
    return {_fold(name) for name in names | set(form.aliases)}


def find_form(catalogue: Catalogue, text: str) -> Form | None:
    """The form named by key, command, title or alias (``milk``, ``/milk``, ``学生奶``, ``奶``).

    A Chinese word that is part of exactly one form's short name or aliases also names it
    (``收获`` of 收获登记); a word that fits two forms names none. None if none.
    """
    wanted = _fold(text).lstrip("/")
    if not wanted:
        return None
    for form in catalogue:
        if wanted in _names(form):
            return form
    if not re.search(r"[\u4e00-\u9fff]", wanted):
        return None
    partial = [form for form in catalogue if any(wanted in _fold(name) for name in (form.short.zh, *form.aliases))]
    return partial[0] if len(partial) == 1 else None


_MONTH = re.compile(r"(\d{4})\s*[-/.年]?\s*(\d{1,2})\s*月?")
_QUARTER = re.compile(r"(\d{4})\s*[-年]?\s*Q([1-4])")
_SEMESTER = re.compile(r"(\d{4})\s*[-年]?\s*S([12])")
_YEAR = re.compile(r"(\d{4})\s*年?")
_PATTERNS = {
    Cadence.MONTHLY: (_MONTH, "{}-{:02d}"),
    Cadence.QUARTERLY: (_QUARTER, "{}-Q{}"),
    Cadence.SEMESTER: (_SEMESTER, "{}-S{}"),
}


def _shape(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().upper()


def _read(cadence: Cadence, text: str) -> Period:
    s = _shape(text)
    if cadence in _PATTERNS:
        pattern, template = _PATTERNS[cadence]
        match = pattern.fullmatch(s)
        if match is None:
            raise ValueError(f"{text!r} is not a {cadence.value} period")
        return parse_period(cadence, template.format(match[1], int(match[2])))
    match = _YEAR.fullmatch(s)
    if match is None:
        raise ValueError(f"{text!r} is not a year")
    return parse_period(cadence, match[1])


def read_period(form: Form, text: str) -> Period:
    """The period of ``form`` that ``text`` names: ``2026-11``, ``2026年11月``, ``2026q4``, ``2026-S2``.

    Raises ValueError for anything else (the caller shows examples).
    """
    return _read(form.period_cadence, text)


def sane(period: Period) -> bool:
    """A period the office could mean (buttons step from it, so year 9999 would overflow)."""
    return MIN_YEAR <= period.start.year <= MAX_YEAR


def is_year(text: str) -> bool:
    """Four digits: a whole calendar year (``/export milk 2026``)."""
    return re.fullmatch(r"\d{4}", text) is not None


def last_finished_period(form: Form, now: datetime, tz: tzinfo = DEFAULT_TZ) -> Period:
    """The newest period that has ended: what the office summarises by default."""
    today = local_date(now, tz)
    period = period_of(form.period_cadence, today)
    return period if period.end < today else period.previous()


def recent_periods(form: Form, now: datetime, tz: tzinfo, count: int) -> list[Period]:
    """The ``count`` periods a button menu offers, newest first: from the running one for a form
    filed while it runs (harvest), else from the newest finished one (a month is filed once over)."""
    if filed_while_running(form):
        period = period_of(form.period_cadence, local_date(now, tz))
    else:
        period = last_finished_period(form, now, tz)
    periods = []
    for _ in range(count):
        periods.append(period)
        period = period.previous()
    return periods


def form_arg(catalogue: Catalogue, text: str) -> Form:
    """The form ``text`` names; ``UnknownForm`` if none."""
    form = find_form(catalogue, text)
    if form is None:
        raise UnknownForm(text)
    return form


def period_arg(form: Form, text: str) -> Period:
    """The period of ``form`` that ``text`` names, in a plausible year; ``BadPeriod`` if not."""
    try:
        period = read_period(form, text)
    except ValueError:
        raise BadPeriod(text, form) from None
    if not sane(period):
        raise BadPeriod(text, form)
    return period


def _is_period(text: str) -> bool:
    """Whether ``text`` is written like a period of some cadence (``2026-13`` is: a bad month, not a form)."""
    s = _shape(text)
    return any(pattern.fullmatch(s) for pattern in (_MONTH, _QUARTER, _SEMESTER, _YEAR))


def scope_words(catalogue: Catalogue, words: Sequence[str]) -> tuple[Form | None, str | None]:
    """At most one form and one period word, in any order (``/overdue 2026-10 milk``).

    The period word is returned as typed (stripped): which forms it fits is the
    caller's question. ``UnknownWord`` for a word that is neither, or a second one.
    """
    form: Form | None = None
    period: str | None = None
    for raw in words:
        word = raw.strip()
        named = find_form(catalogue, word)
        if named is not None and form is None:
            form = named
        elif period is None and _is_period(word):
            period = word
        else:
            raise UnknownWord(word)
    return form, period


def stored_period(catalogue: Catalogue, form_key: str, period_key: str) -> tuple[Form, Period]:
    """A form and period carried by a button or a draft, by exact key; KeyError or ValueError if stale."""
    form = catalogue.get(form_key)
    return form, parse_period(form.period_cadence, period_key)
