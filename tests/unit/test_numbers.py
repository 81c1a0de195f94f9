"""Number input as principals type it on a phone, and numbers as reports print them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.numbers import NotANumber, format_number, format_wan, parse_number, tidy


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("12000", "12000"),
        ("12,000", "12000"),
        ("1,234,567.5", "1234567.5"),
        ("  12000  ", "12000"),
        ("0", "0"),
        ("3.5", "3.5"),
    ],
)
def test_plain_and_grouped_digits_parse(typed: str, expected: str) -> None:
    assert parse_number(typed) == Decimal(expected)


def test_full_width_digits_parse() -> None:
    assert parse_number("１２０００") == Decimal(12000)


def test_full_width_comma_parses_as_thousands_separator() -> None:
    assert parse_number("12，000") == Decimal(12000)


def test_full_width_minus_and_decimal_point_parse() -> None:
    assert parse_number("－３．５") == Decimal("-3.5")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1.2万", "12000"),
        ("1.2 万", "12000"),
        ("5千", "5000"),
        ("1.5亿", "150000000"),
        ("856万", "8560000"),
        ("1.2w", "12000"),
        ("5k", "5000"),
    ],
)
def test_arabic_digits_with_magnitude_word_parse(typed: str, expected: str) -> None:
    assert parse_number(typed) == Decimal(expected)


def test_wan_is_exact_not_float() -> None:
    value = parse_number("1.2万")
    assert value == Decimal(12000)
    assert str(value) == "12000"


def test_long_decimal_with_wan_is_not_truncated() -> None:
    # cn2an alone truncates this to 12345; the figure must survive exactly.
    assert parse_number("1.23456789万") == Decimal("12345.6789")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("三万五千", 35000),
        ("两千", 2000),
        ("一千二百", 1200),
        ("三万五", 35000),
        ("3万5千", 35000),
        ("十", 10),
        ("零", 0),
        ("壹万", 10000),
    ],
)
def test_chinese_numerals_parse(typed: str, expected: int) -> None:
    assert parse_number(typed) == Decimal(expected)


def test_chinese_decimal_has_no_float_noise() -> None:
    assert str(parse_number("一点五")) == "1.5"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("12000元", "12000"),
        ("12000 元", "12000"),
        ("1.2万元", "12000"),
        ("3.5亩", "3.5"),
        ("240人次", "240"),
        ("856人", "856"),
        ("30名", "30"),
        ("21天", "21"),
        ("3个", "3"),
        ("2起", "2"),
        ("4次", "4"),
        ("1200kg", "1200"),
        ("1200 KG", "1200"),
        ("1200公斤", "1200"),
        ("800块", "800"),
        ("800 Yuan", "800"),
        ("3.5 mu", "3.5"),
        ("三万五千元", "35000"),
    ],
)
def test_unit_suffixes_are_ignored(typed: str, expected: str) -> None:
    assert parse_number(typed) == Decimal(expected)


@pytest.mark.parametrize("typed", ["￥800", "¥800", "¥ 800", "￥1,200.50"])
def test_leading_currency_sign_is_ignored(typed: str) -> None:
    assert parse_number(typed) in {Decimal(800), Decimal("1200.5")}


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("-5", -5), ("负五", -5), ("负1.5万", -15000), ("-1.2万", -12000), ("−5", -5)],
)
def test_negatives_parse_as_negative_numbers(typed: str, expected: int) -> None:
    # Refusing them is the field's job (input.negative), not the parser's.
    assert parse_number(typed) == Decimal(expected)


@pytest.mark.parametrize(
    "typed",
    [
        "abc",
        "",
        "   ",
        "12ab34",
        "1.2.3",
        "🙂",
        "1,2",
        "12,00",
        "5-3",
        "--5",
        "负",
        "万",
        "元",
        "人次",
        "NaN",
        "inf",
        "1e3",
        ".5",
    ],
)
def test_garbage_is_not_a_number(typed: str) -> None:
    with pytest.raises(NotANumber):
        parse_number(typed)


def test_not_a_number_is_a_value_error() -> None:
    assert issubclass(NotANumber, ValueError)


def test_tidy_drops_trailing_zeros_and_exponents() -> None:
    assert str(tidy(Decimal("12000.0"))) == "12000"
    assert str(tidy(Decimal("1E+4"))) == "10000"
    assert str(tidy(Decimal("1.20"))) == "1.2"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal(12000), "12,000"),
        (Decimal("12000.0"), "12,000"),
        (Decimal("3.5"), "3.5"),
        (Decimal("1234567.25"), "1,234,567.25"),
        (Decimal("-3.50"), "-3.5"),
        (Decimal(0), "0"),
        (Decimal("1E+4"), "10,000"),
    ],
)
def test_format_number_groups_thousands_without_trailing_zeros(value: Decimal, shown: str) -> None:
    assert format_number(value, "zh") == shown
    assert format_number(value, "en") == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal(35000), "3.5万"),
        (Decimal(8560000), "856万"),
        (Decimal(5000), "5000"),
        (Decimal(10000), "1万"),
        (Decimal(12345), "1.23万"),
        (Decimal(12350), "1.24万"),  # half-up, as reports round
        (Decimal(150000000), "15000万"),
        (Decimal(-35000), "-3.5万"),
        (Decimal("9999.5"), "9999.5"),
    ],
)
def test_format_wan_writes_large_figures_in_wan(value: Decimal, shown: str) -> None:
    assert format_wan(value) == shown


def test_format_wan_appends_the_unit() -> None:
    assert format_wan(Decimal(35000), "元") == "3.5万元"
    assert format_wan(Decimal(5000), "元") == "5000元"


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_formatted_integers_parse_back(n: int) -> None:
    assert parse_number(format_number(Decimal(n))) == n
    assert parse_number(str(n)) == n


@given(st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False, allow_infinity=False))
def test_formatted_decimals_parse_back(value: Decimal) -> None:
    assert parse_number(format_number(value)) == value


@pytest.mark.parametrize(
    "text",
    [
        "约3000",
        "3000左右",
        "大概500",
        "500上下",
        "3000多",
        "3千多",
        "1000余",
        "近千",
        "3000-4000",
        "3000~4000",
        "3000到4000",
        "三四千",
        "两三百",
        "十几",
        "几百",
        "about 300",
    ],
)
def test_estimates_and_ranges_are_told_apart_from_garbage(text: str) -> None:
    from bot.core.numbers import Approximate

    with pytest.raises(Approximate):
        parse_number(text)


@pytest.mark.parametrize(
    ("text", "none"),
    [("无", True), ("没有", True), ("没", True), ("None", True), ("无。", True), ("0", False), ("有", False), ("没看懂", False)],
)
def test_none_words(text: str, none: bool) -> None:
    from bot.core.numbers import is_none_word

    assert is_none_word(text) is none
