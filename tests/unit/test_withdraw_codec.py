"""Issue 13: the withdraw buttons' data (≤ 64 bytes, malformed data refused) and the /flags text."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.catalogue import load_catalogue
from bot.core.periods import parse_period
from bot.office.flags import render_flags
from bot.reporting.codec import MAX_CALLBACK_BYTES, Start, Withdraw
from storage.flags import FlagRow

MILK = load_catalogue().get("milk")


@pytest.mark.parametrize("step", ["ask", "yes", "no"])
def test_withdraw_data_round_trips_within_telegrams_limit(step: str) -> None:
    biggest = Withdraw(step, 10**17 - 1)  # type: ignore[arg-type]
    data = biggest.encode()
    assert len(data.encode()) <= MAX_CALLBACK_BYTES
    assert Withdraw.decode(data) == biggest
    assert Start.decode(data) is None, "a withdraw button never starts a draft"


@pytest.mark.parametrize("data", ["wd", "wd:", "wd:x", "wd:y", "wd:y:", "wd:z:1", "wd:y:-1", "wd:1:2", "wd:" + "9" * 18, "fix:1"])
def test_malformed_withdraw_data_is_refused(data: str) -> None:
    assert Withdraw.decode(data) is None


def _row(field: str | None, value: Decimal | None) -> FlagRow:
    return FlagRow(1, "2026-10", "HB001", "邹圩小学", 1, "濉溪县", field, "rule:x", "提示", "说明", value, None)


def test_flags_text_names_school_field_value_warning_and_reason() -> None:
    period = parse_period(MILK.period_cadence, "2026-10")
    text = render_flags(MILK, period, "全市", [_row("daily_drinkers", Decimal(8560)), _row(None, None)], "zh")
    assert text.splitlines()[0] == "⚑ 学生奶 · 2026年10月 · 全市：2 个数值经填报人确认（有说明）"
    assert "1. 邹圩小学（HB001，濉溪县）· 日参饮人数：8,560 人" in text
    assert "2. 邹圩小学（HB001，濉溪县）· 整表：" in text and "　说明：说明" in text
    english = render_flags(MILK, period, "the city", [], "en")
    assert "no warnings were confirmed" in english
