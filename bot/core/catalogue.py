"""The report catalogue: which forms principals fill in, as validated data.

Report types are data, not code (see DESIGN.md, "Report catalogue"). The office
edits ``bot/core/catalogue.toml`` (or the file named by ``CATALOGUE_PATH``) to add a
form; this module reads it with ``tomllib`` and validates it with pydantic, so a
broken catalogue stops the bot at start-up with one line saying which form and
field is wrong, instead of failing halfway through a principal's conversation.

A field also knows how to read an answer (``Field.parse``), show it back
(``Field.format``) and store it (``Field.to_storage``/``from_storage``). Bad
answers raise ``InvalidAnswer`` carrying an i18n message key, never user text.

Usage::

    catalogue = load_catalogue()              # the shipped bot/core/catalogue.toml
    form = catalogue.get("milk")
    value = form.field("days_served").parse("22天")
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

import pydantic
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from bot.core.i18n import normalise_language, t
from bot.core.numbers import NotANumber, format_number, parse_number, tidy

__all__ = [
    "ANSWER_MESSAGE_KEYS",
    "RESERVED_COMMANDS",
    "SHIPPED_CATALOGUE",
    "Answer",
    "Cadence",
    "Catalogue",
    "CatalogueInvalid",
    "Choice",
    "Field",
    "FieldType",
    "Form",
    "InvalidAnswer",
    "Text",
    "load_catalogue",
    "load_catalogue_text",
]

SHIPPED_CATALOGUE = Path(__file__).with_name("catalogue.toml")

# Commands the bot itself answers; a form shortcut must not shadow them.
# The bot's own commands: a form's shortcut may not shadow one (tests/unit/test_catalogue.py
# checks this list against every command the application wires).
RESERVED_COMMANDS = frozenset(
    {
        "start", "help", "settings", "language", "cancel", "skip", "report", "status", "history", "correct",
        "overdue", "summary", "export", "annual", "broadcast", "broadcasts", "invite", "staff", "addstaff",
        "people", "deactivate",
    }
)

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
    }
)
_UNIT_HINT_KEY = "input.unit_hint"

_IDENTIFIER = r"^[a-z][a-z0-9_]*$"
# Telegram bot commands: lower-case letters, digits, underscore; at most 32.
_COMMAND = r"^[a-z][a-z0-9_]{0,31}$"

Answer = Decimal | str | date
"""A parsed answer: numbers as Decimal, choice keys and text as str, dates."""

_Config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class CatalogueInvalid(RuntimeError):
    """The catalogue file cannot be used; ``str()`` is one line naming file, form and field."""


class Text(BaseModel):
    """A short text in both languages the bot speaks."""

    model_config = _Config

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


class Cadence(StrEnum):
    """How often a form is reported; ``event`` means any number per period, summed."""

    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMESTER = "semester"
    YEARLY = "yearly"
    EVENT = "event"


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

    model_config = _Config

    key: str = pydantic.Field(pattern=_IDENTIFIER)
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


def _shorten(shown: str, limit: int = 40) -> str:
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


class Field(BaseModel):
    """One question of a form."""

    model_config = _Config

    key: str = pydantic.Field(pattern=_IDENTIFIER)
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
        if self.main and not self.type.is_numeric:
            raise ValueError(f"main applies only to number fields, not to type {self.type.value!r}")
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
        text = raw.strip()
        if not text:
            raise InvalidAnswer("input.empty", self._params())
        if self.type.is_numeric:
            return self._parse_number(text)
        if self.type is FieldType.CHOICE:
            folded = _fold(text)
            for choice in self.choices:
                if choice.matches(folded):
                    return choice.key
            choices = Text(
                zh="、".join(choice.label.zh for choice in self.choices),
                en=", ".join(choice.label.en for choice in self.choices),
            )
            raise InvalidAnswer("input.bad_choice", self._params(choices=choices))
        if self.type is FieldType.DATE:
            return self._parse_date(text)
        if len(text) > self.max_length:
            raise InvalidAnswer("input.too_long", self._params(max_length=self.max_length, length=len(text)))
        return text

    def _parse_number(self, text: str) -> Decimal:
        units = (self.unit.zh, self.unit.en) if self.unit is not None else ()
        try:
            value = parse_number(text, units)
        except NotANumber:
            raise InvalidAnswer("input.not_a_number", self._params()) from None
        if value < 0 and (self.min is None or self.min >= 0):
            raise InvalidAnswer("input.negative", self._params())
        places = _DECIMAL_PLACES[self.type]
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)  # parse_number only returns finite values
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


class Form(BaseModel):
    """One report type: when it is due, who reports it, and its questions."""

    model_config = _Config

    # Short enough for the reports table (32) and for button data such as "go:<form>:<period>".
    key: str = pydantic.Field(pattern=_IDENTIFIER, max_length=24)
    version: int = pydantic.Field(ge=1)
    title: Text
    short: Text
    command: str = pydantic.Field(pattern=_COMMAND)
    cadence: Cadence
    event_period: Cadence | None = None
    programme: str | None = pydantic.Field(default=None, pattern=_IDENTIFIER)
    due_days: int | None = pydantic.Field(default=None, ge=0)
    lock_days: int = pydantic.Field(default=60, ge=0)
    reminder_slots: list[int] = [-3, 0, 1, 3, 7]
    fields: list[Field] = pydantic.Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _defaults_from_other_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        # The shortcut command is the form key unless the office chose another.
        if "command" not in data and isinstance(data.get("key"), str):
            data["command"] = data["key"]
        # Events (harvests) are summed per season unless the form says otherwise.
        if data.get("cadence") == Cadence.EVENT.value and data.get("event_period") is None:
            data["event_period"] = Cadence.QUARTERLY.value
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.cadence is Cadence.EVENT:
            if self.event_period is Cadence.EVENT:
                raise ValueError("event_period must be a period cadence (monthly, quarterly, semester, yearly), not 'event'")
        elif self.event_period is not None:
            raise ValueError("event_period applies only to cadence = 'event'")
        if self.command in RESERVED_COMMANDS:
            raise ValueError(f"command {self.command!r} is reserved for the bot itself")
        mains = [field.key for field in self.fields if field.main]
        if len(mains) > 1:
            raise ValueError(f"only one field may be main, not {', '.join(map(repr, mains))}")
        keys = [field.key for field in self.fields]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"duplicate field key {', '.join(map(repr, duplicates))}")
        return self

    @field_validator("reminder_slots")
    @classmethod
    def _slots_in_time_order(cls, slots: list[int]) -> list[int]:
        if len(set(slots)) != len(slots):
            raise ValueError(f"repeated reminder day in {slots}")
        # Sorted so the scheduler can walk them in time order.
        return sorted(slots)

    @property
    def is_event(self) -> bool:
        """True if any number of reports per period are allowed and summed."""
        return self.cadence is Cadence.EVENT

    @property
    def period_cadence(self) -> Cadence:
        """The cadence of the periods reports are filed under (the bucket for events)."""
        if self.cadence is Cadence.EVENT:
            assert self.event_period is not None  # set by the validator
            return self.event_period
        return self.cadence

    @property
    def numeric_fields(self) -> list[Field]:
        """The fields summed in roll-ups, in catalogue order."""
        return [field for field in self.fields if field.type.is_numeric]

    @property
    def main_field(self) -> Field | None:
        """The headline figure: the field marked ``main``, else the first number field."""
        numeric = self.numeric_fields
        return next((field for field in numeric if field.main), numeric[0] if numeric else None)

    def field(self, key: str) -> Field:
        """The field with ``key``; KeyError if the form has none such."""
        for field in self.fields:
            if field.key == key:
                return field
        raise KeyError(f"form {self.key!r} has no field {key!r}")


class Catalogue(BaseModel):
    """All forms the bot knows, in the order the catalogue lists them."""

    model_config = _Config

    forms: list[Form] = pydantic.Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        for attribute in ("key", "command"):
            values = [getattr(form, attribute) for form in self.forms]
            duplicates = sorted({value for value in values if values.count(value) > 1})
            if duplicates:
                raise ValueError(f"duplicate form {attribute} {', '.join(map(repr, duplicates))}")
        return self

    def __iter__(self) -> Iterator[Form]:  # type: ignore[override]  # forms, not pydantic's field pairs
        return iter(self.forms)

    def __len__(self) -> int:
        return len(self.forms)

    def get(self, key: str) -> Form:
        """The form with ``key``; KeyError if there is none."""
        for form in self.forms:
            if form.key == key:
                return form
        raise KeyError(f"no form {key!r} in the catalogue")

    def by_command(self, command: str) -> Form:
        """The form whose shortcut is ``/command``; KeyError if there is none."""
        for form in self.forms:
            if form.command == command:
                return form
        raise KeyError(f"no form with command {command!r} in the catalogue")

    def forms_for(self, programmes: Iterable[str]) -> list[Form]:
        """Forms a school enrolled in ``programmes`` must report (all-school forms included)."""
        enrolled = set(programmes)
        return [form for form in self.forms if form.programme is None or form.programme in enrolled]


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read and validate a catalogue file; ``None`` reads the shipped ``bot/core/catalogue.toml``."""
    path = SHIPPED_CATALOGUE if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueInvalid(f"{path}: cannot read the catalogue: {exc}") from None
    return load_catalogue_text(text, origin=str(path))


def load_catalogue_text(text: str, *, origin: str = "<catalogue>") -> Catalogue:
    """Validate catalogue TOML given as text; ``origin`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueInvalid(f"{origin}: not valid TOML: {exc}") from None
    try:
        return Catalogue.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        line = _describe(errors[0], data, origin)
        if len(errors) > 1:
            line += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise CatalogueInvalid(line) from None


def _describe(error: ErrorDetails, data: Any, origin: str) -> str:
    """One line for one pydantic error, naming forms/fields/choices by key, not index."""
    where: list[str] = []
    attributes: list[str] = []
    node: Any = data
    loc = list(error["loc"])
    i = 0
    while i < len(loc):
        part = loc[i]
        nxt = loc[i + 1] if i + 1 < len(loc) else None
        if part in _COLLECTIONS and isinstance(nxt, int):
            items = node.get(part) if isinstance(node, dict) else None
            item = items[nxt] if isinstance(items, list) and nxt < len(items) else None
            key = item.get("key") if isinstance(item, dict) else None
            label = repr(key) if isinstance(key, str) else f"#{nxt + 1}"
            where.append(f"{_COLLECTIONS[str(part)]} {label}")
            node = item
            i += 2
            continue
        attributes.append(str(part))
        node = node.get(part) if isinstance(node, dict) else None
        i += 1
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] != "value_error" and isinstance(error.get("input"), str | int | float | bool):
        message += f" (got {error['input']!r})"
    parts = [origin]
    if where:
        parts.append(", ".join(where))
    if attributes:
        parts.append(".".join(attributes))
    parts.append(message)
    return ": ".join(parts)


_COLLECTIONS = {"forms": "form", "fields": "field", "choices": "choice"}
