"""History checks leave "没有填 0" zeros and tiny counts alone (QA fix round, helper P2): ``bot.reporting.checks``.

The rule: a ``none_is_zero`` field (milk incidents, insurance claims) answered 0 is never
suspicious; an integer count is compared by no ratio when it and the figure it is
compared with (last period's, or the top of the range seen) are both at most ``SMALL_COUNT``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.reporting.checks import SMALL_COUNT, History, Previous, Spread, findings
from tests.unit.test_review_checks import MILK, MILK_OK, NOVEMBER, codes


def last_month(**values: int) -> History:
    return History(previous=Previous("2026-10", {key: Decimal(value) for key, value in values.items()}))


@pytest.mark.parametrize("before", [1, 3, 40])
def test_no_incidents_after_some_last_month_is_not_suspicious(before: int) -> None:
    assert MILK.field("incidents").none_is_zero
    assert findings(MILK, NOVEMBER, MILK_OK, last_month(incidents=before)) == []


@pytest.mark.parametrize(("before", "now"), [(1, 4), (1, SMALL_COUNT), (3, 1), (SMALL_COUNT, 1)])
def test_small_counts_on_both_sides_are_compared_by_no_ratio(before: int, now: int) -> None:
    answers = {**MILK_OK, "incidents": Decimal(now)}
    assert findings(MILK, NOVEMBER, answers, last_month(incidents=before)) == []


def test_a_count_leaving_the_small_range_is_still_checked() -> None:
    answers = {**MILK_OK, "incidents": Decimal(SMALL_COUNT + 5)}
    assert codes(findings(MILK, NOVEMBER, answers, last_month(incidents=1))) == ["history:previous:incidents"]
    # A big count falling to a small one (not to 0 of a none_is_zero field) is still a warning.
    (warning,) = findings(MILK, NOVEMBER, {**MILK_OK, "daily_drinkers": Decimal(3)}, last_month(daily_drinkers=856))
    assert warning.key == "history:previous:daily_drinkers"


def test_a_zero_of_a_field_without_none_is_zero_is_still_checked() -> None:
    assert not MILK.field("daily_drinkers").none_is_zero
    (warning,) = findings(MILK, NOVEMBER, {**MILK_OK, "daily_drinkers": Decimal(0)}, last_month(daily_drinkers=856))
    assert "少了 100%" in warning.message.zh


def test_the_range_check_leaves_small_counts_and_none_is_zero_zeros_alone() -> None:
    always_none = History(spreads={"incidents": Spread(6, Decimal(0), Decimal(0))})
    assert findings(MILK, NOVEMBER, {**MILK_OK, "incidents": Decimal(2)}, always_none) == []
    some = History(spreads={"incidents": Spread(6, Decimal(3), Decimal(5))})
    assert findings(MILK, NOVEMBER, MILK_OK, some) == []
    assert codes(findings(MILK, NOVEMBER, {**MILK_OK, "incidents": Decimal(20)}, some)) == ["history:range:incidents"]
