"""The report catalogue: which forms principals fill in, as validated data.

Report types are data, not code (see DESIGN.md, "Report catalogue"). The office
edits ``bot/core/catalogue.toml`` (or the file named by ``CATALOGUE_PATH``) to add a
form; this module reads it with ``tomllib`` and validates it with pydantic, so a
broken catalogue stops the bot at start-up with one line saying which form and
field is wrong, instead of failing halfway through a principal's conversation.

A field also knows how to read an answer (``Field.parse``), show it back
(``Field.format``) and store it (``Field.to_storage``/``from_storage``). Bad
answers raise ``InvalidAnswer`` carrying an i18n message key, never user text.
Fields and answers live in ``bot.core.fields``.

Usage::

    catalogue = load_catalogue()              # the shipped bot/core/catalogue.toml
    form = catalogue.get("milk")
    value = form.field("days_served").parse("22天")
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

import pydantic
from pydantic import BaseModel, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from bot.core.rules import MAX_RULE_LENGTH, Expression, Kind, RuleError, compile_rule
from bot.core.units import Unit, UnitBook, parse_factor
from bot.core.fields import (
    IDENTIFIER,
    MODEL_CONFIG,
    Field,
    FieldType,
    Text,
)

__all__ = [
    "RESERVED_COMMANDS",
    "SHIPPED_CATALOGUE",
    "Cadence",
    "Catalogue",
    "CatalogueInvalid",
    "Form",
    "PERIOD_FACTS",
    "Rule",
    "Severity",
    "UnitEntry",
    "load_catalogue",
    "load_catalogue_text",
]

SHIPPED_CATALOGUE = Path(__file__).with_name("catalogue.toml")

# Commands the bot itself answers; a form shortcut must not shadow them.
# The bot's own commands: a form's shortcut may not shadow one (tests/unit/test_catalogue.py
# checks this list against every command the application wires).
RESERVED_COMMANDS = frozenset(
    {
        "start",
        "help",
        "settings",
        "language",
        "cancel",
        "skip",
        "report",
        "report_for",
        "status",
        "history",
        "correct",
        "deputy",
        "overdue",
        "summary",
        "export",
        "annual",
        "dashboard",
        "flags",
        "review",
        "broadcast",
        "broadcasts",
        "invite",
        "staff",
        "addstaff",
        "people",
        "deactivate",
    }
)

# Telegram bot commands: lower-case letters, digits, underscore; at most 32.
_COMMAND = r"^[a-z][a-z0-9_]{0,31}$"


class CatalogueInvalid(RuntimeError):
    """The catalogue file cannot be used; ``str()`` is one line naming file, form and field."""


class Cadence(StrEnum):
    """How often a form is reported; ``event`` means any number per period, summed."""

    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMESTER = "semester"
    YEARLY = "yearly"
    EVENT = "event"


class Severity(StrEnum):
    """``error``: the report cannot be submitted until fixed; ``warning``: may be submitted with a reason."""

    ERROR = "error"
    WARNING = "warning"


# Facts about the period a rule may name besides the form's fields (see ``period_facts``).
PERIOD_FACTS = ("days_in_period",)


class Rule(BaseModel):
    """A check across a form's answers, written as a small expression (``bot.core.rules``).

    ``check`` must hold: ``insured <= enrolled``. It is parsed and type-checked
    against the form's fields when the catalogue loads (see ``Form._consistent``).
    """

    model_config = MODEL_CONFIG

    key: str = pydantic.Field(pattern=IDENTIFIER, max_length=40)
    check: str = pydantic.Field(min_length=1, max_length=MAX_RULE_LENGTH)
    severity: Severity = Severity.ERROR
    message: Text
    # Set by the form's validator: the parsed expression, checked against the form's fields.
    _expression: Expression | None = PrivateAttr(default=None)

    @property
    def fields(self) -> list[str]:
        """The form fields the rule reads (period facts left out), in alphabetical order."""
        assert self._expression is not None, "rules are compiled when the form is validated"
        return sorted(name for name in self._expression.names if name not in PERIOD_FACTS)

    def holds(self, values: Mapping[str, Decimal | str | None]) -> bool | None:
        """True / False, or None when an answer it needs is missing (then it does not apply)."""
        assert self._expression is not None, "rules are compiled when the form is validated"
        return self._expression.holds(values)


class Form(BaseModel):
    """One report type: when it is due, who reports it, and its questions."""

    model_config = MODEL_CONFIG

    # Short enough for the reports table (32) and for button data such as "go:<form>:<period>".
    key: str = pydantic.Field(pattern=IDENTIFIER, max_length=24)
    version: int = pydantic.Field(ge=1)
    title: Text
    short: Text
    # Other words the office types for this form (``/summary 奶``, ``/overdue 保险``).
    aliases: list[str] = []
    command: str = pydantic.Field(pattern=_COMMAND)
    cadence: Cadence
    event_period: Cadence | None = None
    programme: str | None = pydantic.Field(default=None, pattern=IDENTIFIER)
    due_days: int | None = pydantic.Field(default=None, ge=0)
    lock_days: int = pydantic.Field(default=60, ge=0)
    reminder_slots: list[int] = [-3, 0, 1, 3, 7]
    fields: list[Field] = pydantic.Field(min_length=1)
    rules: list[Rule] = []
    # Periods are offered only once over, unless the figures are known while it runs
    # (a semester's insurance is bought at its start). Event forms are always filed as they happen.
    open_during_period: bool = False

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
        self._compile_rules()
        return self

    def _compile_rules(self) -> None:
        """Parse and type-check every rule against this form's fields; one line names a bad one."""
        kinds = {name: Kind.NUMBER for name in PERIOD_FACTS}
        choices: dict[str, frozenset[str]] = {}
        for item in self.fields:
            if item.type.is_numeric:
                kinds[item.key] = Kind.NUMBER
            elif item.type is FieldType.CHOICE:
                kinds[item.key] = Kind.TEXT
                choices[item.key] = frozenset(choice.key for choice in item.choices)
            elif item.type is FieldType.TEXT:
                kinds[item.key] = Kind.TEXT
        rule_keys = [rule.key for rule in self.rules]
        repeated = sorted({key for key in rule_keys if rule_keys.count(key) > 1})
        if repeated:
            raise ValueError(f"duplicate rule key {', '.join(map(repr, repeated))}")
        for rule in self.rules:
            try:
                rule._expression = compile_rule(rule.check, kinds, choices)
            except RuleError as exc:
                raise ValueError(f"rule {rule.key!r}: {exc}") from None

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


class UnitEntry(BaseModel):
    """A ``[[units]]`` table: a unit, the words that mean it and the words it converts from.

    ``converts = { "斤" = 0.5, "平方米" = "÷666.67" }``: the typed figure times (or divided by)
    the factor is the figure in this unit. See ``bot.core.units``.
    """

    model_config = MODEL_CONFIG

    zh: str = pydantic.Field(min_length=1, max_length=12)
    en: str = pydantic.Field(min_length=1, max_length=24)
    kind: str = pydantic.Field(pattern=IDENTIFIER)
    what: Text | None = None
    accepts: list[str] = []
    converts: dict[str, Any] = {}  # checked by parse_factor (true is no factor, though pydantic would make it 1)

    def unit(self) -> Unit:
        """The unit as ``bot.core.units`` reads with it; ValueError naming the unit for a bad factor."""
        try:
            conversions = {word: parse_factor(word, raw) for word, raw in self.converts.items()}
        except ValueError as exc:
            raise ValueError(f"unit {self.zh!r}: {exc}") from None
        what = (self.what.zh, self.what.en) if self.what is not None else None
        return Unit(self.zh, self.en, self.kind, frozenset(self.accepts), conversions, what)


class Catalogue(BaseModel):
    """All forms the bot knows, in the order the catalogue lists them, and the units they use."""

    model_config = MODEL_CONFIG

    forms: list[Form] = pydantic.Field(min_length=1)
    units: list[UnitEntry] = []
    # Counting words (个, 份, 箱...) no unit declares: refused after a number unless the field's unit is one.
    other_unit_words: list[str] = []
    _book: UnitBook = PrivateAttr(default_factory=UnitBook)
    # Checks at the review (``bot.reporting.checks``): a number beyond ×ratio / ÷ratio of the
    # school's history is a warning (a field may set its own ``history_ratio``), and an event
    # entry the same as one filed in the last ``duplicate_days`` days too.
    history_ratio: Decimal = pydantic.Field(default=Decimal(3), gt=1)
    duplicate_days: int = pydantic.Field(default=7, ge=0)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        for attribute in ("key", "command"):
            values = [getattr(form, attribute) for form in self.forms]
            duplicates = sorted({value for value in values if values.count(value) > 1})
            if duplicates:
                raise ValueError(f"duplicate form {attribute} {', '.join(map(repr, duplicates))}")
        return self

    @model_validator(mode="after")
    def _unit_book(self) -> Self:
        """Build the unit book and hand it to every field, which reads its answers through it."""
        units = [entry.unit() for entry in self.units]
        try:
            book = UnitBook(units, counting=frozenset(self.other_unit_words))
        except ValueError as exc:
            raise ValueError(f"units: {exc}") from None
        self._book = book
        for form in self.forms:
            for item in form.fields:
                item._units = book
        return self

    @property
    def unit_book(self) -> UnitBook:
        """The catalogue's units (``[[units]]``)."""
        return self._book

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
            key = item.get("key", item.get("zh")) if isinstance(item, dict) else None
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


_COLLECTIONS = {"forms": "form", "fields": "field", "choices": "choice", "rules": "rule", "units": "unit"}
