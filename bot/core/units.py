"""Units belong to fields: what a number field is measured in, and what it converts from.

The catalogue declares units once (``[[units]]``) and each number field names
one by its Chinese label (``unit = { zh = "公斤", en = "kg" }``). A unit has a
*kind* (weight, money, area, people, ...), the words that mean it (``accepts``)
and the words it converts from with their factor (``converts``): 公斤 accepts
公斤/kg/千克 and converts 斤 ×0.5 and 吨 ×1000; 亩 converts 平方米 ÷666.67.

Reading an answer splits the typed text into a number and a trailing unit
word. The word decides what happens:

- none, or one the field's unit accepts: the number as typed;
- one it converts from: the number times the factor, and the original words
  are kept so the review can show "600 公斤（原文：1200斤）";
- a unit word of any other unit the catalogue knows (人 in a money field, 元
  in a head count, 平方米 in a weight): refused with ``WrongUnit``, which
  names the word and what the field wants.

Nothing here knows Telegram or the database; ``bot.core.catalogue`` validates
the ``[[units]]`` tables into ``Unit`` values and asks a ``UnitBook``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = ["Conversion", "Reading", "Unit", "UnitBook", "WrongUnit", "fold_word", "parse_factor"]

# A division (÷666.67) rarely ends: its result is rounded to this many places.
DIVISION_PLACES = 2


def fold_word(word: str) -> str:
    """Width and case folded, so "ＫＧ" and "kg" are one word."""
    return unicodedata.normalize("NFKC", word).strip().casefold()


@dataclass(frozen=True)
class Conversion:
    """``value × factor`` (or ``value ÷ divisor``) turns the typed unit into the field's."""

    word: str
    factor: Decimal
    divide: bool = False

    def apply(self, value: Decimal) -> Decimal:
        if not self.divide:
            return value * self.factor
        quantum = Decimal(1).scaleb(-DIVISION_PLACES)
        return (value / self.factor).quantize(quantum, rounding=ROUND_HALF_UP)

    def describe(self) -> str:
        """How the catalogue wrote it: ×0.5, ÷666.67."""
        return f"{'÷' if self.divide else '×'}{self.factor:f}"


def parse_factor(word: str, raw: object) -> Conversion:
    """A catalogue factor: a number (multiply), or a string "×0.5", "*0.5", "÷666.67", "/666.67"."""
    divide = False
    text = str(raw).strip()
    if isinstance(raw, str):
        if text[:1] in ("÷", "/"):
            divide, text = True, text[1:].strip()
        elif text[:1] in ("×", "*", "x"):
            text = text[1:].strip()
    if isinstance(raw, bool):
        raise ValueError(f"conversion from {word!r}: {raw!r} is not a number")
    try:
        factor = Decimal(text)
    except InvalidOperation:
        raise ValueError(f'conversion from {word!r}: {raw!r} is not a number (write 0.5, "×1000" or "÷666.67")') from None
    if not factor.is_finite() or factor <= 0:
        raise ValueError(f"conversion from {word!r}: the factor must be a positive number, not {raw!r}")
    return Conversion(word, factor, divide)


@dataclass(frozen=True)
class Unit:
    """A unit of measure: its names, its kind, its words and its conversions."""

    zh: str
    en: str
    kind: str
    accepts: frozenset[str] = frozenset()
    converts: Mapping[str, Conversion] = field(default_factory=dict)
    # What the unit measures, for re-asks: ("金额", "an amount of money"); None: say the field's label.
    what: tuple[str, str] | None = None

    def words(self) -> frozenset[str]:
        """Every folded word that means this unit as it is (its names and accepted words)."""
        return frozenset(fold_word(w) for w in (self.zh, self.en, *self.accepts)) - {""}

    def name(self, lang: str | None) -> str:
        return self.en if lang == "en" else self.zh


class WrongUnit(ValueError):
    """The answer names a unit the field does not take (人 typed for a sum of money)."""

    def __init__(self, word: str, wanted: Unit | None, kind: str | None) -> None:
        super().__init__(word)
        self.word = word
        self.wanted = wanted
        self.kind = kind


@dataclass(frozen=True)
class Reading:
    """A number read with its unit: the value in the field's unit, and the words as typed when converted."""

    number: str  # the text left for the number parser ("1200" of "1200斤")
    word: str | None  # the unit word found, folded; None when there was none
    conversion: Conversion | None = None

    def value(self, number: Decimal) -> Decimal:
        """The parsed ``number`` in the field's unit."""
        return self.conversion.apply(number) if self.conversion is not None else number


@dataclass
class UnitBook:
    """All units a catalogue knows, and the words that must not be taken for another unit."""

    units: list[Unit] = field(default_factory=list)
    # Words that are a unit of no declared unit but still must not be stripped silently
    # (counting words: 个, 次, 份...): any field may take them only if its own unit lists them.
    counting: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self._by_zh = {u.zh: u for u in self.units}
        owner: dict[str, Unit] = {}
        for unit in self.units:
            for word in unit.words():
                other = owner.setdefault(word, unit)
                if other is not unit:
                    raise ValueError(f"unit word {word!r} means both {other.zh} and {unit.zh}")
        self._owner = owner
        known = set(owner) | {fold_word(w) for w in self.counting}
        for unit in self.units:
            known |= {fold_word(w) for w in unit.converts}
        # Longest first: "人次" is one word, not "人" after "次"; "万元" before "元".
        self._known = sorted(known, key=len, reverse=True)

    def unit_named(self, zh: str) -> Unit | None:
        """The declared unit whose Chinese name is ``zh`` (how a field refers to it)."""
        return self._by_zh.get(zh)

    def kind_of(self, word: str) -> str | None:
        unit = self._owner.get(fold_word(word))
        if unit is not None:
            return unit.kind
        for candidate in self.units:
            if fold_word(word) in {fold_word(w) for w in candidate.converts}:
                return candidate.kind
        return None

    def read(self, text: str, unit: Unit | None, extra: Iterable[str] = ()) -> Reading:
        """Split ``text`` (already NFKC-folded and lower-cased) into its number and unit word.

        ``unit`` is the field's declared unit (None: a field with no unit, or one
        the book does not declare, whose ``extra`` words are then all it takes).
        Raises ``WrongUnit`` for a unit word the field does not take.
        """
        own = (unit.words() if unit is not None else frozenset()) | {fold_word(w) for w in extra}
        conversions = {fold_word(w): c for w, c in unit.converts.items()} if unit is not None else {}
        for word in sorted(own | set(conversions) | set(self._known), key=len, reverse=True):
            if not word or not text.endswith(word) or len(text) == len(word):
                continue
            number = text[: -len(word)].rstrip()
            if word in own:
                return Reading(number, word)
            if word in conversions:
                return Reading(number, word, conversions[word])
            raise WrongUnit(word, unit, self.kind_of(word))
        return Reading(text, None)
