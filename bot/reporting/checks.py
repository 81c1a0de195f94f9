"""What the review finds wrong or odd in a draft: rules, history and duplicates.

Pure: ``findings(form, period, answers, history, ...)`` gets the answers as
values (numbers as ``Decimal``) and what is known of the school's history
(``History``: last period's report, the spread of its own past values and of
other schools' this period, its recent event entries) and returns a list of
``Finding``: a code, ``error`` or ``warning``, the fields it is about and the
message in both languages, with the figures in it.

Three sources, in this order (DHIS2's validation rules, min–max outlier ranges
and follow-up flags are the model; the wording is the principal's own):

* the form's catalogue rules (``Form.rules``), with ``days_in_period`` from the period;
* history, per number field: beyond ×ratio / ÷ratio of last period's value
  ("比上月 856 人多了 9 倍"), or, with no previous value, beyond a range learned
  from the school's past periods and other schools this period, widened by the
  same ratio (a plausibility check must not nag about ordinary variation);
* event forms: the same answers (text fields aside) as an entry the school filed
  in the last ``duplicate_days`` days, naming that entry's date.

Two history cases are not suspicious and say nothing: a field whose help says "没有
填 0" (``none_is_zero``: incidents, claims) answered 0 — none this time is the answer
hoped for, whatever came before; and an integer count that stays small on both sides,
the answer and the figure compared with (last period's, or the top of the range) both
at most ``SMALL_COUNT`` — 1 incident after 3, or 4 after 1, is ordinary variation, not
a typo, while a ratio of tiny numbers is a big one.

An error must be fixed before submitting; a warning may be confirmed with a
one-line reason, kept with the value (``report_flags``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from bot.core.catalogue import Form, Severity
from bot.core.fields import Answer
from bot.core.fields import Field, FieldType, Text
from bot.core.i18n import LANGUAGES, t
from bot.core.numbers import format_number, tidy
from bot.core.periods import Period, parse_period

# A range learned from fewer values than this says nothing.
MIN_SPREAD = 3
# Integer counts both at most this are compared by no ratio (see the module's docstring).
SMALL_COUNT = 5
_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Spread:
    """How far a field's values went: ``count`` values from ``low`` to ``high``."""

    count: int
    low: Decimal
    high: Decimal

    def merged(self, other: Spread | None) -> Spread:
        if other is None or other.count == 0:
            return self
        if self.count == 0:
            return other
        return Spread(self.count + other.count, min(self.low, other.low), max(self.high, other.high))


@dataclass(frozen=True)
class Previous:
    """The school's report of an earlier period: its key and its answers."""

    period: str
    values: Mapping[str, Answer]


@dataclass(frozen=True)
class Entry:
    """An event entry the school filed (a harvest): when (local date) and its answers."""

    report_id: int
    day: date
    values: Mapping[str, Answer]


@dataclass(frozen=True)
class History:
    """What the checks know of the school's past; empty when nothing is known."""

    previous: Previous | None = None
    # Per number field: the school's own past periods and other schools' this period, merged.
    spreads: Mapping[str, Spread] = field(default_factory=dict)
    recent: Sequence[Entry] = ()


@dataclass(frozen=True)
class Finding:
    """One thing the review found. ``key`` tells findings apart (a reason is kept per key)."""

    code: str
    severity: Severity
    fields: tuple[str, ...]
    message: Text
    detail: Mapping[str, Any] = field(default_factory=dict)
    # The field a history check is about (None: the form as a whole).
    field_key: str | None = None

    @property
    def key(self) -> str:
        return self.code if self.field_key is None else f"{self.code}:{self.field_key}"

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


def findings(
    form: Form,
    period: Period,
    answers: Mapping[str, Answer | None],
    history: History,
    *,
    ratio: Decimal = Decimal(3),
) -> list[Finding]:
    """Every finding on ``answers`` (errors first, then warnings, in the form's order)."""
    found = rule_findings(form, period, answers)
    if form.is_event:
        found += duplicate_findings(form, answers, history.recent)
    else:
        for item in form.numeric_fields:
            value = answers.get(item.key)
            if isinstance(value, Decimal):
                finding = history_finding(item, value, history, period, item.history_ratio or ratio)
                if finding is not None:
                    found.append(finding)
    return sorted(found, key=lambda f: not f.is_error)


def days_in_period(period: Period) -> Decimal:
    return Decimal((period.end - period.start).days + 1)


def rule_findings(form: Form, period: Period, answers: Mapping[str, Answer | None]) -> list[Finding]:
    """The catalogue rules that definitely fail (an unanswered field makes a rule not apply)."""
    values: dict[str, Decimal | str | None] = {"days_in_period": days_in_period(period)}
    for item in form.fields:
        value = answers.get(item.key)
        if isinstance(value, Decimal | str) or value is None:
            values[item.key] = value
    found = []
    for rule in form.rules:
        if rule.holds(values) is False:
            shown = {key: str(values[key]) for key in rule.fields if values.get(key) is not None}
            found.append(Finding(f"rule:{rule.key}", rule.severity, tuple(rule.fields), rule.message, shown))
    return found


def history_finding(item: Field, value: Decimal, history: History, period: Period, ratio: Decimal) -> Finding | None:
    """A warning when ``value`` is far from last period's, or (none known) from the range seen."""
    if item.none_is_zero and value == 0:
        return None  # "没有填 0": none this time is never suspicious
    previous = history.previous
    before = previous.values.get(item.key) if previous is not None else None
    if previous is not None and isinstance(before, Decimal):
        if _small_counts(item, value, before):
            return None
        return _against_previous(item, value, before, previous.period, period, ratio)
    spread = history.spreads.get(item.key)
    if spread is None or spread.count < MIN_SPREAD or _small_counts(item, value, spread.high):
        return None
    if value > spread.high * ratio:
        key = "checks.range_high"
    elif value < spread.low / ratio:
        key = "checks.range_low"
    else:
        return None
    detail = {"value": str(value), "low": str(spread.low), "high": str(spread.high), "count": spread.count}
    message = _text(
        key,
        lambda lang: {
            "field": item.label.get(lang),
            "value": item.format(value, lang),
            "low": format_number(spread.low, lang),
            "high": item.format(spread.high, lang),
        },
    )
    return Finding("history:range", Severity.WARNING, (item.key,), message, detail, item.key)


def _small_counts(item: Field, value: Decimal, other: Decimal) -> bool:
    """Both figures are small integer counts: no ratio between them means anything."""
    return item.type is FieldType.INTEGER and max(value, other) <= SMALL_COUNT


def _against_previous(
    item: Field, value: Decimal, before: Decimal, before_period: str, period: Period, ratio: Decimal
) -> Finding | None:
    if before > 0 and value > before * ratio:
        key = "checks.previous_high"
    elif value < before / ratio:
        key = "checks.previous_low"
    else:
        return None
    times = value / before if before else Decimal(0)
    less = (before - value) / before * _HUNDRED if before else Decimal(0)
    when = _previous_name(before_period, period)
    detail = {"value": str(value), "previous": str(before), "period": before_period, "ratio": str(tidy(round(times, 2)))}
    message = _text(
        key,
        lambda lang: {
            "field": item.label.get(lang),
            "value": item.format(value, lang),
            "previous": item.format(before, lang),
            "when": when(lang),
            # "多了 9 倍" is ten times as many; English says "10 times".
            "more": _figure(times - 1, lang),
            "times": _figure(times, lang),
            "less": _figure(less, lang),
        },
    )
    return Finding("history:previous", Severity.WARNING, (item.key,), message, detail, item.key)


def _previous_name(before: str, period: Period) -> Callable[[str], str]:
    """ "上月" when ``before`` is the period right before, else that period's name."""
    if before == period.previous().key:
        return lambda lang: t(lang, f"checks.last_{period.cadence.value}")
    try:
        return parse_period(period.cadence, before).label
    except ValueError:
        return lambda lang: before


def _figure(number: Decimal, lang: str) -> str:
    """9, 2.5, 90: a ratio or a percentage, to one decimal below 10, whole above."""
    rounded = number.quantize(Decimal("0.1")) if number < 10 else number.quantize(Decimal(1))
    return format_number(rounded, lang)


def duplicate_findings(form: Form, answers: Mapping[str, Answer | None], recent: Sequence[Entry]) -> list[Finding]:
    """A warning when an entry filed lately has the same answers (text fields such as a note aside)."""
    compared = [item for item in form.fields if item.type is not FieldType.TEXT]
    same = next((e for e in recent if all(_same(answers.get(i.key), e.values.get(i.key)) for i in compared)), None)
    if same is None:
        return []
    # Named by its first answer (the crop) and its headline figure (the income).
    shown = compared[:1] + [item for item in [form.main_field] if item is not None and item not in compared[:1]]
    message = _text(
        "checks.duplicate", lambda lang: {"date": same.day.isoformat(), "figures": _figures(shown, same.values, lang)}
    )
    detail = {"report_id": same.report_id, "date": same.day.isoformat()}
    return [Finding("duplicate", Severity.WARNING, (), message, detail)]


def _figures(items: Sequence[Field], values: Mapping[str, Answer], lang: str) -> str:
    """ "蔬菜，12,000 元": an entry's answers to ``items``, to tell it apart."""
    separator = t(lang, "report.figure_separator")
    return separator.join(item.format(values[item.key], lang) for item in items if item.key in values)


def _same(a: Answer | None, b: Answer | None) -> bool:
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a == b  # 3.5 and 3.50 are the same figure
    return a == b


def _text(key: str, params: Callable[[str], Mapping[str, object]]) -> Text:
    """A message in both languages, each with its own figures."""
    zh, en = (t(lang, key, **params(lang)) for lang in LANGUAGES)
    return Text(zh=zh, en=en)


__all__ = [
    "MIN_SPREAD",
    "SMALL_COUNT",
    "Entry",
    "Finding",
    "History",
    "Previous",
    "Spread",
    "days_in_period",
    "duplicate_findings",
    "findings",
    "history_finding",
    "noted_previous",
    "noted_spreads",
    "rule_findings",
]


# --- last period's report, as the draft's notes keep it ("previous") -------------------------
def noted_previous(notes: Mapping[str, Any]) -> tuple[str, Mapping[str, str]] | None:
    """The period and answers (as drafts keep them) of the school's last report, if noted."""
    previous = notes.get("previous")
    if not isinstance(previous, Mapping) or not isinstance(previous.get("values"), Mapping):
        return None
    return str(previous.get("period", "")), previous["values"]


def noted_spreads(notes: Mapping[str, Any]) -> dict[str, Spread]:
    """The spread of the school's own past figures per field, as noted with its last report."""
    previous = notes.get("previous")
    spreads = previous.get("spread") if isinstance(previous, Mapping) else None
    if not isinstance(spreads, Mapping):
        return {}
    return {key: Spread(int(n), Decimal(low), Decimal(high)) for key, (n, low, high) in spreads.items()}
