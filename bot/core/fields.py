"""One question of a report form and its answers: read (``Field.parse``), shown back
(``Field.format``) and stored (``Field.to_storage``/``from_storage``).

Bad answers raise ``InvalidAnswer`` carrying an i18n message key, never user text.
``bot.core.catalogue`` puts fields into forms and reads them from the catalogue file;
import these names from there.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Self

import pydantic
from pydantic import BaseModel, ConfigDict, PrivateAttr, field_validator, model_validator

from bot.core.aggregation import Fold
from bot.core.i18n import normalise_language, t
from bot.core.numbers import Approximate, NotANumber, format_number, is_none_word, parse_figure, tidy
from bot.core.units import Unit, UnitBook, WrongUnit

# Every message key InvalidAnswer can carry; the locale test checks each one
# exists in both languages.
ANSWER_MESSAGE_KEYS = frozenset(
    {
        "input.empty",
        "input.not_a_number",
        "input.negative",
        "input.too_small",
        "input.too_large",
        "input.not_whole",
        "input.too_many_decimals",
        "input.bad_choice",
        "input.bad_date",
        "input.too_long",
        "input.wrong_unit",
        "input.approximate",
    }
)
_UNIT_HINT_KEY = "input.unit_hint"

IDENTIFIER = r"^[a-z][a-z0-9_]*$"

Answer = Decimal | str | date
"""A parsed answer: numbers as Decimal, choice keys and text as str, dates."""

# Catalogue models are frozen and refuse unknown keys (a typo in the TOML is an error).
MODEL_CONFIG = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Text(BaseModel):
    """A short text in both languages the bot speaks."""

    model_config = MODEL_CONFIG

    zh: str = pydantic.Field(min_length=1)
    en: str = pydantic.Field(min_length=1)

    def get(self, lang: str | None = None) -> str:
        """The text in ``lang`` (a Telegram language code is fine); Chinese by default."""
        return self.en if normalise_language(lang) == "en" else self.zh


class FieldType(StrEnum):
    """What kind of answer a field takes."""

    INTEGER = "integer"
    DECIMAL = "decimal"
    MONEY = "money"
    AREA_MU = "area_mu"
    CHOICE = "choice"
    TEXT = "text"
    DATE = "date"

    @property
    def is_numeric(self) -> bool:
        """True for types stored in the numeric column."""
        return self in _DECIMAL_PLACES


# How many decimals an answer may carry. Money is to the fen; storage should
# keep a scale of at least max(...) = 4.
_DECIMAL_PLACES = {
    FieldType.INTEGER: 0,
    FieldType.MONEY: 2,
    FieldType.AREA_MU: 2,
    FieldType.DECIMAL: 4,
}


class InvalidAnswer(ValueError):
    """A principal's answer does not fit the field; carries an i18n key, not text.

    ``params`` values may be ``Text`` (rendered in the reader's language),
    ``Decimal`` (formatted with separators), or plain ``str``/``int``.
    """

    def __init__(self, key: str, params: dict[str, Text | Decimal | str | int]) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def message(self, lang: str | None) -> str:
        """The re-ask text for this answer in ``lang``."""
        rendered: dict[str, str | int] = {}
        for name, value in self.params.items():
            if isinstance(value, Text):
                rendered[name] = value.get(lang)
            elif isinstance(value, Decimal):
                rendered[name] = format_number(value, lang)
            else:
                rendered[name] = value
        unit = rendered.get("unit", "")
        rendered["unit_hint"] = t(lang, _UNIT_HINT_KEY, unit=unit) if unit else ""
        return t(lang, self.key, **rendered)


class Choice(BaseModel):
    """One option of a choice field; ``aliases`` are extra words a principal may type."""

    model_config = MODEL_CONFIG

    key: str = pydantic.Field(pattern=IDENTIFIER)
    label: Text
    aliases: list[str] = []

    def matches(self, answer: str) -> bool:
        """True if typed ``answer`` (already folded) names this choice."""
        names = [self.key, self.label.zh, self.label.en, *self.aliases]
        return answer in {_fold(name) for name in names}


def _fold(text: str) -> str:
    """Fold width and case so "Ｆｌｏｗｅｒｓ" matches "flowers"."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?|(\d{4})(\d{2})(\d{2})", re.ASCII)


# Signs before a sum of money; only money fields take them (¥800 is no head count).
_CURRENCY_SIGNS = ("¥", "$")
# Round figures for re-ask examples, the first inside the field's range is shown.
_EXAMPLES = tuple(Decimal(n) for n in (12000, 1200, 120, 20, 12, 3, 1))
# For a field built without a catalogue: it takes its own unit words only.
_NO_UNITS = UnitBook()


def _shorten(shown: str, limit: int = 40) -> str:
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


class Field(BaseModel):
    """One question of a form."""

    model_config = MODEL_CONFIG

    key: str = pydantic.Field(pattern=IDENTIFIER)
    label: Text
    type: FieldType
    unit: Text | None = None
    required: bool = True
    min: Decimal | None = None
    max: Decimal | None = None
    help: Text | None = None
    choices: list[Choice] = []
    default: str | None = None
    max_length: int = pydantic.Field(default=500, ge=1)
    # The form's headline figure in summaries and charts (harvest income, daily drinkers...).
    main: bool = False
    # "无 / 没有 / none" is read as 0 (fields whose help says "没有填 0").
    none_is_zero: bool = False
    # The figure re-asks show ("例如 21 天"); it must be inside min–max. None: one is picked from the range.
    example: Decimal | None = None
    # The catalogue's units (set when the catalogue is validated); None: only the field's own unit words.
    _units: UnitBook | None = PrivateAttr(default=None)
    # Offer a one-tap "same as last time" button with last period's answer (issue 13 point 4).
    repeatable: bool = False
    # Warn at the review beyond this factor of the school's history (×r / ÷r); None: the catalogue's.
    history_ratio: Decimal | None = pydantic.Field(default=None, gt=1)
    # How the figure rolls up across schools in one period and across periods in a year
    # (bot.core.aggregation): daily drinkers sum over schools, average over months.
    across_schools: Fold = Fold.SUM
    across_periods: Fold = Fold.SUM

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_not_negative_by_default(cls, data: Any) -> Any:
        # Counts, money and areas are never negative; a field that allows it
        # says so with an explicit min.
        if isinstance(data, dict) and "min" not in data and data.get("type") in {kind.value for kind in _DECIMAL_PLACES}:
            return {**data, "min": 0}
        return data

    @field_validator("default", mode="before")
    @classmethod
    def _default_as_text(cls, value: Any) -> Any:
        # `default = 0` in TOML is as natural as `default = "0"`; both mean the answer "0".
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.min is not None or self.max is not None) and not self.type.is_numeric:
            raise ValueError(f"min/max apply only to number fields, not to type {self.type.value!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        if self.type is FieldType.CHOICE:
            if len(self.choices) < 2:
                raise ValueError(f"a choice field needs at least 2 choices, has {len(self.choices)}")
            keys = [choice.key for choice in self.choices]
            duplicates = sorted({key for key in keys if keys.count(key) > 1})
            if duplicates:
                raise ValueError(f"duplicate choice key {', '.join(map(repr, duplicates))}")
        elif self.choices:
            raise ValueError(f"choices apply only to type 'choice', not to {self.type.value!r}")
        if self.none_is_zero and not self.type.is_numeric:
            raise ValueError(f"none_is_zero applies only to number fields, not to type {self.type.value!r}")
        if self.example is not None and not self.type.is_numeric:
            raise ValueError(f"example applies only to number fields, not to type {self.type.value!r}")
        if self.example is not None and not (
            (self.min is None or self.example >= self.min) and (self.max is None or self.example <= self.max)
        ):
            raise ValueError(f"example {self.example} is outside min–max")
        if self.main and not self.type.is_numeric:
            raise ValueError(f"main applies only to number fields, not to type {self.type.value!r}")
        if not self.type.is_numeric and "across_schools" in self.model_fields_set:
            raise ValueError(f"across_schools applies only to number fields, not to type {self.type.value!r}")
        if not self.type.is_numeric and "across_periods" in self.model_fields_set:
            raise ValueError(f"across_periods applies only to number fields, not to type {self.type.value!r}")
        if self.default is not None:
            try:
                self.parse(self.default)
            except InvalidAnswer as exc:
                raise ValueError(f"default {self.default!r} is not a valid answer ({exc.key})") from None
        return self

    @property
    def decimal_places(self) -> int | None:
        """Most decimals a numeric answer may have; None for other types."""
        return _DECIMAL_PLACES.get(self.type)

    def _params(self, **extra: Text | Decimal | str | int) -> dict[str, Text | Decimal | str | int]:
        params: dict[str, Text | Decimal | str | int] = {"field": self.label}
        if self.unit is not None:
            params["unit"] = self.unit
        params.update(extra)
        return params

    def _quantity(self, value: Decimal) -> Text:
        """A bound or an answer with its unit, in both languages, for messages.

        A pasted thousand-digit number is shown shortened: echoed whole, the re-ask
        would itself exceed Telegram's 4,096-character limit.
        """
        return Text(zh=_shorten(self.format(value, "zh")), en=_shorten(self.format(value, "en")))

    def parse(self, raw: str) -> Answer:
        """Turn what the principal typed into a value, or raise ``InvalidAnswer``.

        Skipping an optional field is the conversation's business (a button),
        so empty input is refused here for every field.
        """
        return self.read(raw)[0]

    def read(self, raw: str) -> tuple[Answer, str | None]:
        """``parse``, and the words as typed when a unit was converted ("1200斤" read as 600 公斤)."""
        text = raw.strip()
        if not text:
            raise InvalidAnswer("input.empty", self._params())
        if self.type.is_numeric:
            value, converted = self._read_number(text)
            return self._check_number(value), text if converted else None
        if self.type is FieldType.CHOICE:
            folded = _fold(text)
            for choice in self.choices:
                if choice.matches(folded):
                    return choice.key, None
            choices = Text(
                zh="、".join(choice.label.zh for choice in self.choices),
                en=", ".join(choice.label.en for choice in self.choices),
            )
            raise InvalidAnswer("input.bad_choice", self._params(choices=choices))
        if self.type is FieldType.DATE:
            return self._parse_date(text), None
        if len(text) > self.max_length:
            raise InvalidAnswer("input.too_long", self._params(max_length=self.max_length, length=len(text)))
        return text, None

    # ----- numbers ---------------------------------------------------------------------------
    @property
    def declared_unit(self) -> Unit | None:
        """The catalogue's unit this field is measured in (None: not declared, or no unit)."""
        if self.unit is None or self._units is None:
            return None
        return self._units.unit_named(self.unit.zh)

    def _read_number(self, text: str) -> tuple[Decimal, bool]:
        """The typed number in the field's unit, and whether a unit was converted.

        The field's unit decides which words may follow the number (``bot.core.units``),
        not a list shared by every field: 斤 is converted in a weight, refused in an area.
        """
        folded = unicodedata.normalize("NFKC", text).strip().lower()
        if self.none_is_zero and is_none_word(folded):
            return Decimal(0), False
        sign = "-" if folded.startswith(("-", "−", "负")) else ""
        body = folded[1:].lstrip() if sign else folded
        try:
            if body[:1] in _CURRENCY_SIGNS:
                if self.type is not FieldType.MONEY:
                    raise WrongUnit(body[0], self.declared_unit, "money")
                body = body[1:].lstrip()
            book = self._units if self._units is not None else _NO_UNITS
            own = (self.unit.zh, self.unit.en) if self.unit is not None else ()
            reading = book.read(body, self.declared_unit, own)
            value = reading.value(parse_figure(sign + reading.number))
        except WrongUnit as exc:
            raise InvalidAnswer(
                "input.wrong_unit", self._params(word=exc.word, what=self._what(), example=self.sample())
            ) from None
        except Approximate:
            raise InvalidAnswer("input.approximate", self._params(example=self.sample())) from None
        except NotANumber:
            raise InvalidAnswer("input.not_a_number", self._params(example=self.sample())) from None
        return tidy(value), reading.conversion is not None

    def _check_number(self, value: Decimal) -> Decimal:
        """Refuse a number the field does not take: negative, too many decimals, out of range."""
        if value < 0 and (self.min is None or self.min >= 0):
            raise InvalidAnswer("input.negative", self._params())
        places = _DECIMAL_PLACES[self.type]
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)  # parse_figure only returns finite values
        if places == 0 and exponent < 0:
            raise InvalidAnswer("input.not_whole", self._params())
        if -exponent > places:
            raise InvalidAnswer("input.too_many_decimals", self._params(places=places))
        if self.min is not None and value < self.min:
            raise InvalidAnswer("input.too_small", self._params(min=self._quantity(self.min), value=self._quantity(value)))
        if self.max is not None and value > self.max:
            # Echo the value read: "1.2万" against a max of 1000 shows 12,000.
            raise InvalidAnswer("input.too_large", self._params(max=self._quantity(self.max), value=self._quantity(value)))
        return value

    def _what(self) -> Text:
        """What the field measures, for "「人」不是金额的单位": the unit's ``what``, else the label."""
        unit = self.declared_unit
        if unit is not None and unit.what is not None:
            return Text(zh=unit.what[0], en=unit.what[1])
        return self.label

    def sample(self) -> Text:
        """A figure to show in a re-ask, inside the field's own range, with its unit: "21 天", "12,000 元"."""
        if self.example is not None:
            return self._quantity(tidy(self.example))
        low = self.min if self.min is not None else Decimal(0)
        high = self.max * 2 / 3 if self.max is not None else None
        pick = next((c for c in _EXAMPLES if c >= low and (high is None or c <= high)), None)
        if pick is None:
            pick = self.max if self.max is not None and low > (self.max * 2 / 3) else low
        return self._quantity(tidy(pick))

    def _parse_date(self, text: str) -> date:
        match = _DATE.fullmatch(unicodedata.normalize("NFKC", text))
        if match:
            year, month, day = (int(part) for part in match.groups() if part is not None)
            try:
                return date(year, month, day)
            except ValueError:
                pass  # 2026-02-30: well-formed, but no such day
        raise InvalidAnswer("input.bad_date", self._params())

    def choice(self, key: str) -> Choice:
        """The choice with ``key``; KeyError if this field has none such."""
        for choice in self.choices:
            if choice.key == key:
                return choice
        raise KeyError(f"field {self.key!r} has no choice {key!r}")

    def format(self, value: Answer, lang: str | None = None) -> str:
        """Show an answer back to a reader: ``12,000 元``, ``3.5 亩``, a choice label, ``2026-11-28``."""
        if self.type.is_numeric:
            if not isinstance(value, Decimal):
                raise TypeError(f"field {self.key!r} expects a Decimal, got {value!r}")
            if self.type is FieldType.MONEY and value != value.to_integral_value():
                shown = f"{value.quantize(Decimal('0.01')):,f}"  # 12,000.50 元, as receipts write it
            else:
                shown = format_number(value, lang)
            return f"{shown} {self.unit.get(lang)}" if self.unit is not None else shown
        if self.type is FieldType.CHOICE:
            try:
                return self.choice(str(value)).label.get(lang)
            except KeyError:
                return str(value)  # a choice dropped from a newer catalogue version
        if self.type is FieldType.DATE:
            if not isinstance(value, date):
                raise TypeError(f"field {self.key!r} expects a date, got {value!r}")
            return value.isoformat()
        return str(value)

    def to_storage(self, value: Answer | None) -> tuple[Decimal | None, str | None]:
        """Split an answer into the (numeric, text) columns; a skipped answer is (None, None)."""
        if value is None:
            return None, None
        if self.type.is_numeric:
            if not isinstance(value, Decimal):
                raise TypeError(f"field {self.key!r} expects a Decimal, got {value!r}")
            return value, None
        if self.type is FieldType.DATE:
            if not isinstance(value, date):
                raise TypeError(f"field {self.key!r} expects a date, got {value!r}")
            return None, value.isoformat()
        if not isinstance(value, str):
            raise TypeError(f"field {self.key!r} expects text, got {value!r}")
        return None, value

    def from_storage(self, num: Decimal | None, text: str | None) -> Answer | None:
        """Rebuild an answer from the (numeric, text) columns; inverse of ``to_storage``."""
        if num is None and text is None:
            return None
        if self.type.is_numeric:
            if num is None:
                raise ValueError(f"field {self.key!r} is numeric but only text {text!r} is stored")
            # The database hands back its own scale (12000.0000): show what was typed.
            return tidy(Decimal(num))
        if text is None:
            raise ValueError(f"field {self.key!r} stores text but only number {num} is stored")
        if self.type is FieldType.DATE:
            return date.fromisoformat(text)
        return text
