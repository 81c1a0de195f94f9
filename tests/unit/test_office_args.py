"""The one reader of form and period words (``bot.office.args``), shared by chat and CLI."""

from __future__ import annotations

import pytest

from bot.core.catalogue import load_catalogue
from bot.office.args import BadPeriod, UnknownForm, UnknownWord, find_form, form_arg, period_arg, scope_words, stored_period

CATALOGUE = load_catalogue()
MILK = CATALOGUE.get("milk")


@pytest.mark.parametrize("word", ["milk", "/milk", "MILK", "学生奶"])
def test_a_form_is_found_by_key_command_or_name(word: str) -> None:
    assert form_arg(CATALOGUE, word).key == "milk"


@pytest.mark.parametrize(
    ("word", "key"),
    [("奶", "milk"), ("牛奶", "milk"), ("保险", "insurance"), ("险", "insurance"), ("收获", "harvest"), ("责任险", "insurance")],
)
def test_a_form_is_found_by_the_words_a_clerk_types(word: str, key: str) -> None:
    assert form_arg(CATALOGUE, word).key == key


def test_part_of_one_short_name_names_that_form_and_part_of_two_names_none() -> None:
    assert form_arg(CATALOGUE, "校方").key == "insurance"  # part of 校方责任险 only
    assert form_arg(CATALOGUE, "登记").key == "harvest"
    for word in ("区", "报表", "表", "mil"):  # in no short name or alias, only in titles, or not Chinese
        with pytest.raises(UnknownForm):
            form_arg(CATALOGUE, word)
    harvest = CATALOGUE.get("harvest")
    rival = MILK.model_copy(update={"aliases": ["收获奶"]})
    assert find_form([harvest, MILK], "获") is harvest  # type: ignore[arg-type]
    assert find_form([harvest, rival], "获") is None  # type: ignore[arg-type]  # part of two forms: neither


def test_an_unknown_form_names_the_word() -> None:
    with pytest.raises(UnknownForm) as caught:
        form_arg(CATALOGUE, "校服")
    assert caught.value.text == "校服"


@pytest.mark.parametrize("word", ["2026-10", "2026年10月", "２０２６-10", "2026/10"])
def test_a_month_is_read_as_staff_write_it(word: str) -> None:
    assert period_arg(MILK, word).key == "2026-10"


@pytest.mark.parametrize("word", ["2026-Q4", "9999-01", "someday"])
def test_a_period_of_another_cadence_or_an_implausible_year_is_refused(word: str) -> None:
    with pytest.raises(BadPeriod) as caught:
        period_arg(MILK, word)
    assert caught.value.form is MILK and caught.value.text == word


def test_scope_words_take_a_form_and_a_period_in_any_order() -> None:
    form, word = scope_words(CATALOGUE, ["2026-10", "milk"])
    assert form is MILK and word == "2026-10"
    assert scope_words(CATALOGUE, []) == (None, None)


@pytest.mark.parametrize("words", [["uniforms"], ["milk", "milk"], ["2026-10", "2026-11"]])
def test_scope_words_refuse_a_word_that_is_neither_or_a_second_one(words: list[str]) -> None:
    with pytest.raises(UnknownWord):
        scope_words(CATALOGUE, words)


def test_a_period_shaped_word_is_a_period_even_when_it_is_a_bad_one() -> None:
    # "2026-13" is a bad month, not a form: the caller says "not a period of milk".
    assert scope_words(CATALOGUE, ["milk", "2026-13"]) == (MILK, "2026-13")


def test_stored_keys_are_read_exactly() -> None:
    form, period = stored_period(CATALOGUE, "milk", "2026-10")
    assert form is MILK and period.key == "2026-10"
    with pytest.raises(ValueError):
        stored_period(CATALOGUE, "milk", "2026年10月")
    with pytest.raises(KeyError):
        stored_period(CATALOGUE, "uniforms", "2026-10")
