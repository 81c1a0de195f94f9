"""The checks at the review (issue 13 points 2, 3, 6), without a database: ``bot.reporting.checks``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot.core.catalogue import SHIPPED_CATALOGUE, Cadence, CatalogueInvalid, Severity, load_catalogue, load_catalogue_text
from bot.core.periods import parse_period
from bot.reporting.checks import (
    Entry,
    Finding,
    History,
    Previous,
    Spread,
    days_in_period,
    findings,
    noted_previous,
    noted_spreads,
)

CATALOGUE = load_catalogue()
CATALOGUE_TEXT = SHIPPED_CATALOGUE.read_text(encoding="utf-8")
MILK, INSURANCE, HARVEST = (CATALOGUE.get(key) for key in ("milk", "insurance", "harvest"))
NOVEMBER = parse_period(Cadence.MONTHLY, "2026-11")
Q4 = parse_period(Cadence.QUARTERLY, "2026-Q4")
SPRING = parse_period(Cadence.SEMESTER, "2026-S2")

MILK_OK = {"daily_drinkers": Decimal(856), "days_served": Decimal(21), "supplier": "yili", "incidents": Decimal(0)}
HARVEST_OK = {
    "crop": "vegetables",
    "area_mu": Decimal("3.5"),
    "quantity": Decimal(300),
    "income": Decimal(12000),
    "participants": Decimal(240),
}


def codes(found: list[Finding]) -> list[str]:
    return [finding.key for finding in found]


def test_a_clean_report_has_no_findings() -> None:
    assert findings(MILK, NOVEMBER, MILK_OK, History()) == []
    assert findings(HARVEST, Q4, HARVEST_OK, History()) == []


def test_insured_beyond_enrolled_is_an_error_naming_both_fields() -> None:
    answers = {
        "students_enrolled": Decimal(1200),
        "students_insured": Decimal(1300),
        "premium": Decimal(6000),
        "claims": Decimal(0),
    }
    (error,) = findings(INSURANCE, SPRING, answers, History())
    assert error.code == "rule:insured_within_enrolled" and error.severity is Severity.ERROR and error.is_error
    assert set(error.fields) == {"students_enrolled", "students_insured"} and error.field_key is None
    assert error.message.zh == "参保学生数不能多于在校学生数。" and "enrolled" in error.message.en
    assert error.detail == {"students_enrolled": "1200", "students_insured": "1300"}


@pytest.mark.parametrize(
    ("days", "month", "fails"), [(31, "2026-11", True), (30, "2026-11", False), (31, "2026-12", False), (29, "2026-02", True)]
)
def test_days_served_are_checked_against_the_days_in_the_month(days: int, month: str, fails: bool) -> None:
    period = parse_period(Cadence.MONTHLY, month)
    found = findings(MILK, period, {**MILK_OK, "days_served": Decimal(days)}, History())
    assert (codes(found) == ["rule:days_within_month"]) is fails


def test_days_in_period() -> None:
    assert days_in_period(NOVEMBER) == 30 and days_in_period(parse_period(Cadence.MONTHLY, "2028-02")) == 29
    assert days_in_period(Q4) == 92


def test_income_without_quantity_is_a_warning_unless_trees_flowers_or_seedlings() -> None:
    answers = {**HARVEST_OK, "quantity": None}
    (warning,) = findings(HARVEST, Q4, answers, History())
    assert warning.key == "rule:income_needs_quantity" and warning.severity is Severity.WARNING
    assert findings(HARVEST, Q4, {**answers, "crop": "trees"}, History()) == []
    assert findings(HARVEST, Q4, {**answers, "income": Decimal(0)}, History()) == []


def test_ten_times_last_month_is_a_warning_in_the_principals_words() -> None:
    history = History(previous=Previous("2026-10", {"daily_drinkers": Decimal(856)}))
    (warning,) = findings(MILK, NOVEMBER, {**MILK_OK, "daily_drinkers": Decimal(8560)}, history)
    assert warning.key == "history:previous:daily_drinkers" and warning.field_key == "daily_drinkers"
    assert warning.message.zh == "日参饮人数 8,560 人，比上月 856 人多了 9 倍，确认无误吗？"
    assert warning.message.en == "Students drinking daily: 8,560 students is 10 times last month’s 856 students. Is that right?"
    assert warning.detail == {"value": "8560", "previous": "856", "period": "2026-10", "ratio": "10"}


def test_a_tenth_of_last_month_is_a_warning_too_and_a_third_is_not() -> None:
    history = History(previous=Previous("2026-10", {"daily_drinkers": Decimal(856)}))
    (warning,) = findings(MILK, NOVEMBER, {**MILK_OK, "daily_drinkers": Decimal(86)}, history)
    assert "少了 90%" in warning.message.zh and "90% less than last month’s 856" in warning.message.en
    assert findings(MILK, NOVEMBER, {**MILK_OK, "daily_drinkers": Decimal(300)}, history) == []
    assert findings(MILK, NOVEMBER, {**MILK_OK, "daily_drinkers": Decimal(2568)}, history) == []  # exactly ×3
    assert codes(findings(MILK, NOVEMBER, {**MILK_OK, "daily_drinkers": Decimal(2569)}, history))


def test_an_older_previous_period_is_named() -> None:
    history = History(previous=Previous("2026-08", {"daily_drinkers": Decimal(100)}))
    (warning,) = findings(MILK, NOVEMBER, {**MILK_OK, "daily_drinkers": Decimal(1000)}, history)
    assert "比2026年8月 100 人多了 9 倍" in warning.message.zh and "August 2026’s 100" in warning.message.en


def test_the_ratio_comes_from_the_catalogue_or_the_field() -> None:
    history = History(previous=Previous("2026-10", {"daily_drinkers": Decimal(100)}))
    answers = {**MILK_OK, "daily_drinkers": Decimal(400)}
    assert codes(findings(MILK, NOVEMBER, answers, history)) == ["history:previous:daily_drinkers"]
    assert findings(MILK, NOVEMBER, answers, history, ratio=Decimal(5)) == []
    text = CATALOGUE_TEXT.replace('key = "daily_drinkers"\n', 'key = "daily_drinkers"\nhistory_ratio = 5\n', 1)
    milk = load_catalogue_text(text).get("milk")
    assert findings(milk, NOVEMBER, answers, history) == []


def test_without_a_previous_value_the_range_seen_is_used() -> None:
    history = History(spreads={"daily_drinkers": Spread(5, Decimal(400), Decimal(900))})
    (warning,) = findings(MILK, NOVEMBER, {**MILK_OK, "daily_drinkers": Decimal(3000)}, history)
    assert warning.key == "history:range:daily_drinkers" and "400–900 人" in warning.message.zh
    assert "far above" in warning.message.en
    (low,) = findings(MILK, NOVEMBER, {**MILK_OK, "daily_drinkers": Decimal(100)}, history)
    assert "远低于" in low.message.zh
    assert findings(MILK, NOVEMBER, {**MILK_OK, "daily_drinkers": Decimal(2700)}, history) == []
    few = History(spreads={"daily_drinkers": Spread(2, Decimal(400), Decimal(900))})
    assert findings(MILK, NOVEMBER, {**MILK_OK, "daily_drinkers": Decimal(30000)}, few) == [], "two values are no range"


def test_a_previous_value_takes_the_place_of_the_range() -> None:
    history = History(
        previous=Previous("2026-10", {"daily_drinkers": Decimal(2000)}),
        spreads={"daily_drinkers": Spread(5, Decimal(400), Decimal(500))},
    )
    assert findings(MILK, NOVEMBER, {**MILK_OK, "daily_drinkers": Decimal(2100)}, history) == []


def test_spreads_merge() -> None:
    merged = Spread(2, Decimal(5), Decimal(9)).merged(Spread(3, Decimal(1), Decimal(7)))
    assert merged == Spread(5, Decimal(1), Decimal(9))
    assert Spread(0, Decimal(0), Decimal(0)).merged(merged) == merged


def test_the_same_harvest_again_is_a_warning_naming_its_date() -> None:
    recent = [Entry(7, date(2026, 11, 24), {**HARVEST_OK, "area_mu": Decimal("3.50")})]
    (warning,) = findings(HARVEST, Q4, HARVEST_OK, History(recent=recent))
    assert warning.code == "duplicate" and warning.detail == {"report_id": 7, "date": "2026-11-24"}
    assert warning.message.zh == "与 2026-11-24 登记的一条完全相同（蔬菜，12,000 元），是不是重复提交了？"
    assert warning.message.en == "This is the same as the entry filed on 2026-11-24 (Vegetables, 12,000 yuan). Was it sent twice?"
    # A note does not make it another harvest; another figure does.
    assert codes(findings(HARVEST, Q4, {**HARVEST_OK, "note": "卖给食堂"}, History(recent=recent))) == ["duplicate"]
    assert findings(HARVEST, Q4, {**HARVEST_OK, "income": Decimal(12001)}, History(recent=recent)) == []
    assert findings(HARVEST, Q4, {**HARVEST_OK, "crop": "fruit"}, History(recent=recent)) == []


def test_errors_come_before_warnings() -> None:
    history = History(previous=Previous("2026-10", {"daily_drinkers": Decimal(856)}))
    found = findings(MILK, NOVEMBER, {**MILK_OK, "daily_drinkers": Decimal(8560), "days_served": Decimal(31)}, history)
    assert codes(found) == ["rule:days_within_month", "history:previous:daily_drinkers"]


def test_notes_are_read_back() -> None:
    notes = {
        "previous": {"period": "2026-10", "values": {"daily_drinkers": "856"}, "spread": {"daily_drinkers": [3, "800", "856"]}}
    }
    assert noted_previous(notes) == ("2026-10", {"daily_drinkers": "856"})
    assert noted_spreads(notes) == {"daily_drinkers": Spread(3, Decimal(800), Decimal(856))}
    assert noted_previous({}) is None and noted_spreads({}) == {}


def test_the_catalogue_declares_ratio_duplicate_days_and_repeatable_fields() -> None:
    assert CATALOGUE.history_ratio == 3 and CATALOGUE.duplicate_days == 7
    assert MILK.field("supplier").repeatable and not MILK.field("days_served").repeatable
    with pytest.raises(CatalogueInvalid, match="history_ratio"):
        load_catalogue_text(CATALOGUE_TEXT.replace("history_ratio = 3", "history_ratio = 1"))
