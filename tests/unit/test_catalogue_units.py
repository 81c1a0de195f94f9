"""Units declared in the catalogue (issue 13, points 1 and 8): validated at load, read by each
number field, and re-asks whose example fits the field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.catalogue import SHIPPED_CATALOGUE, CatalogueInvalid, load_catalogue, load_catalogue_text
from bot.core.fields import InvalidAnswer
from bot.core.numbers import parse_figure

SHIPPED = load_catalogue()
FORM = """
[[forms]]
key = "books"
version = 1
title = { zh = "簿本订购", en = "Exercise-book orders" }
short = { zh = "簿本", en = "Books" }
cadence = "yearly"

[[forms.fields]]
key = "copies"
label = { zh = "册数", en = "Copies" }
type = "integer"
unit = { zh = "册", en = "copies" }
max = 31
"""


def refused(form: str, field: str, typed: str) -> InvalidAnswer:
    with pytest.raises(InvalidAnswer) as info:
        SHIPPED.get(form).field(field).parse(typed)
    return info.value


@pytest.mark.parametrize("factor", ["0", "-2", '"abc"', '"÷0"', "true"])
def test_a_conversion_factor_that_is_not_a_positive_number_is_one_line_naming_the_unit(factor: str) -> None:
    text = f'[[units]]\nzh = "册"\nen = "copies"\nkind = "books"\nconverts = {{ "包" = {factor} }}\n' + FORM
    with pytest.raises(CatalogueInvalid) as info:
        load_catalogue_text(text, origin="c.toml")
    message = str(info.value)
    assert message.startswith("c.toml: ") and "'册'" in message and "包" in message and "\n" not in message


def test_a_word_meaning_two_units_is_refused_naming_both() -> None:
    text = '[[units]]\nzh = "册"\nen = "copies"\nkind = "books"\naccepts = ["本"]\n'
    text += '[[units]]\nzh = "本"\nen = "volumes"\nkind = "books"\n' + FORM
    with pytest.raises(CatalogueInvalid, match="unit word '本' means both 册 and 本"):
        load_catalogue_text(text)


def test_the_shipped_catalogue_declares_the_unit_of_every_number_field() -> None:
    book = SHIPPED.unit_book
    for form in SHIPPED:
        for item in form.numeric_fields:
            assert item.unit is not None and book.unit_named(item.unit.zh) is not None, (form.key, item.key)


def test_fields_read_their_own_units_convert_theirs_and_refuse_others() -> None:
    quantity = SHIPPED.get("harvest").field("quantity")
    assert quantity.read("1200斤") == (Decimal(600), "1200斤")
    assert quantity.read("600 KG") == (Decimal(600), None)
    assert quantity.read("1.5吨") == (Decimal(1500), "1.5吨")
    assert SHIPPED.get("harvest").field("area_mu").read("1000平方米") == (Decimal("1.5"), "1000平方米")
    assert SHIPPED.get("harvest").field("income").read("¥800") == (Decimal(800), None)
    assert SHIPPED.get("harvest").field("income").read("800块钱") == (Decimal(800), None)
    assert SHIPPED.get("milk").field("daily_drinkers").read("856名") == (Decimal(856), None)
    assert SHIPPED.get("milk").field("days_served").read("21日") == (Decimal(21), None)
    assert refused("harvest", "area_mu", "1200斤").key == "input.wrong_unit"
    assert refused("milk", "daily_drinkers", "¥856").params["word"] == "¥"
    assert refused("insurance", "premium", "6000人").message("zh").startswith("「人」不是金额的单位")


def test_a_field_whose_unit_is_not_declared_takes_only_its_own_words() -> None:
    copies = load_catalogue_text(FORM).get("books").field("copies")
    assert copies.parse("12册") == Decimal(12) and copies.parse("12 copies") == Decimal(12)
    for typed in ("12本", "12元", "12个"):
        with pytest.raises(InvalidAnswer):
            copies.parse(typed)
    shipped = SHIPPED_CATALOGUE.read_text(encoding="utf-8")
    with_units = load_catalogue_text(shipped + FORM).get("books").field("copies")
    assert with_units.parse("12册") == Decimal(12)
    assert refused_key(with_units.parse, "12元") == "input.wrong_unit"
    assert refused_key(with_units.parse, "12个") == "input.wrong_unit"


def refused_key(parse: object, typed: str) -> str:
    assert callable(parse)
    with pytest.raises(InvalidAnswer) as info:
        parse(typed)
    return info.value.key


def test_re_ask_examples_fit_the_fields_range_and_unit() -> None:
    # Declared: milk days served, 0–31, example 21.
    assert SHIPPED.get("milk").field("days_served").sample().zh == "21 天"
    # Picked from the range when the catalogue gives none: a 0–31 field never gets "1.2万".
    copies = load_catalogue_text(FORM).get("books").field("copies")
    message = refused_key(copies.parse, "很多")
    assert message == "input.not_a_number"
    with pytest.raises(InvalidAnswer) as info:
        copies.parse("很多")
    assert "例如 20 册" in info.value.message("zh") and "1.2万" not in info.value.message("zh")
    assert "e.g. 20 copies" in info.value.message("en")


def test_an_example_outside_the_range_is_refused_at_load() -> None:
    with pytest.raises(CatalogueInvalid, match="example 50 is outside"):
        load_catalogue_text(FORM + "example = 50\n")


@pytest.mark.parametrize("typed", ["约3000", "3000左右", "3000-4000", "三四千", "几百"])
def test_estimates_get_the_exact_figure_re_ask(typed: str) -> None:
    error = refused("harvest", "income", typed)
    assert error.key == "input.approximate"
    assert error.message("zh").startswith("请填一个确切的数（例如 12,000 元）")
    assert error.message("en").startswith("Please send one exact figure (e.g. 12,000 yuan)")


@pytest.mark.parametrize(("form", "field"), [("harvest", "income"), ("milk", "incidents"), ("insurance", "claims")])
def test_none_words_are_zero_where_the_help_says_send_0(form: str, field: str) -> None:
    item = SHIPPED.get(form).field(field)
    assert item.none_is_zero and item.help is not None and "没有" in item.help.zh and "0" in item.help.zh
    for typed in ("无", "没有", "没", "None"):
        assert item.parse(typed) == 0


def test_none_words_are_not_a_number_elsewhere_and_parse_figure_reads_bare_numbers() -> None:
    assert refused("milk", "daily_drinkers", "没有").key == "input.not_a_number"
    assert [item.key for form in SHIPPED for item in form.numeric_fields if item.none_is_zero] == [
        "income", "incidents", "claims",
    ]  # fmt: skip
    assert parse_figure("1.2万") == Decimal(12000) and parse_figure("-5") == Decimal(-5)
