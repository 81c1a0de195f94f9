"""Units belong to fields: accepted words, conversions, and units of another kind refused."""

from decimal import Decimal

import pytest

from bot.core.units import Unit, UnitBook, WrongUnit, parse_factor

KG = Unit("公斤", "kg", "weight", frozenset({"千克", "kg"}), {"斤": parse_factor("斤", 0.5), "吨": parse_factor("吨", "×1000")})
YUAN = Unit("元", "yuan", "money", frozenset({"块", "块钱", "¥", "rmb"}), {"万元": parse_factor("万元", 10000)})
MU = Unit("亩", "mu", "area", frozenset(), {"平方米": parse_factor("平方米", "÷666.67"), "公顷": parse_factor("公顷", 15)})
PEOPLE = Unit("人", "students", "people", frozenset({"名", "位"}))
BOOK = UnitBook([KG, YUAN, MU, PEOPLE], counting=frozenset({"个", "次"}))


def read(text: str, unit: Unit | None) -> tuple[str, Decimal | None]:
    reading = BOOK.read(text, unit)
    return reading.number, reading.value(Decimal(reading.number)) if reading.number.replace(".", "").isdigit() else None


def test_accepted_words_leave_the_number_as_typed() -> None:
    assert read("600公斤", KG) == ("600", Decimal(600))
    assert read("600 kg", KG) == ("600", Decimal(600))
    assert read("600千克", KG) == ("600", Decimal(600))
    assert read("856名", PEOPLE) == ("856", Decimal(856))
    assert BOOK.read("1.2万元", YUAN).number == "1.2", "万元 converts ×10,000"
    assert BOOK.read("1.2万元", YUAN).value(Decimal("1.2")) == Decimal(12000)


def test_converted_words_multiply_or_divide() -> None:
    assert read("1200斤", KG) == ("1200", Decimal(600))
    assert read("2吨", KG) == ("2", Decimal(2000))
    assert read("1000平方米", MU) == ("1000", Decimal("1.50"))
    assert read("2公顷", MU) == ("2", Decimal(30))
    assert BOOK.read("1200斤", KG).conversion is not None
    assert BOOK.read("600公斤", KG).conversion is None


@pytest.mark.parametrize(
    ("text", "unit", "word", "kind"),
    [
        ("856人", YUAN, "人", "people"),
        ("12000元", PEOPLE, "元", "money"),
        ("3平方米", KG, "平方米", "area"),
        ("5斤", MU, "斤", "weight"),
        ("5个", KG, "个", None),
        ("30块", PEOPLE, "块", "money"),
    ],
)
def test_a_unit_of_another_kind_is_refused_naming_the_word(text: str, unit: Unit, word: str, kind: str | None) -> None:
    with pytest.raises(WrongUnit) as refused:
        BOOK.read(text, unit)
    assert (refused.value.word, refused.value.kind, refused.value.wanted) == (word, kind, unit)


def test_a_field_with_no_declared_unit_takes_its_own_words_only() -> None:
    assert BOOK.read("12套", None, extra=["套"]).number == "12"
    with pytest.raises(WrongUnit):
        BOOK.read("12元", None, extra=["套"])
    assert BOOK.read("12", None).word is None


def test_one_word_cannot_mean_two_units() -> None:
    with pytest.raises(ValueError, match="means both"):
        UnitBook([KG, Unit("斤", "jin", "weight", frozenset({"kg"}))])


@pytest.mark.parametrize("raw", [0, -1, "abc", "÷0", True])
def test_a_factor_must_be_a_positive_number(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_factor("斤", raw)
