"""/overdue keeps locked missing reports in sight: 已锁定未报, after the overdue ones, in the staff member's scope.

The world is ``two_districts``: milk schools in 濉溪县 (HB001–HB004, HB004 filed October)
and 相山区 (HB101), all of them filed September. On 10 January 2027 October (due 5 Nov,
locked after 4 Jan) is locked; November (due 5 Dec) and December (due 5 Jan) are overdue.
"""

from __future__ import annotations

from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeTelegram
from storage.db import Database
from tests.nudging import office
from tests.service.test_scheduler_digests import two_districts
from tests.service.test_scheduler_tick import App, app, at  # noqa: F401

JANUARY = at(1, 10, 10, year=2027)


async def test_locked_missing_reports_follow_the_overdue_ones_with_counts(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await two_districts(db, clock)
    clock.set(JANUARY)
    replies = await (await office(app, fake)).send("/overdue")
    text = "\n".join(r.text for r in replies)
    overdue, locked = text.split("🔒 已锁定未报")
    assert "学生奶 2026年11月：截止 2026年12月5日，已逾期 36 天" in overdue
    assert "2026年10月" not in overdue
    assert "共 5 所学校" in overdue  # November: all five, HB004 included
    assert "学生奶 2026年10月：截止 2026年11月5日，已逾期 66 天，已锁定" in locked
    assert "学生奶 2026年11月" not in locked and "2026年9月" not in locked  # September was filed by all
    assert locked.index("【濉溪县】3 所学校") < locked.index("【相山区】1 所学校")
    assert "HB004" not in locked
    assert "已锁定未报：共 4 所学校、4 份报表。" in locked
    # Nudge buttons are for the overdue (still fileable) reports only.
    data = [button["callback_data"] for row in replies[-1].buttons for button in row]
    nudges = [d for d in data if d.startswith("nudge")]
    assert nudges and not any("2026-10" in d for d in nudges)
    # The office may file a locked report itself (issue 15): a 代填 button per locked school.
    assert sum(d.startswith("obh:") and d.endswith(":milk:2026-10") for d in data) == 4
    assert any(label.startswith("🔔 全部提醒") for label in replies[-1].labels)


async def test_district_staff_see_locked_missing_reports_of_their_district_only(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await two_districts(db, clock)
    clock.set(JANUARY)
    replies = await (await office(app, fake, 2002)).send("/overdue")
    text = "\n".join(r.text for r in replies)
    locked = text.split("🔒 已锁定未报")[1]
    assert "HB101小学（HB101）" in locked and "已锁定未报：共 1 所学校、1 份报表。" in locked
    assert "濉溪县" not in text and "HB001" not in text


async def test_a_locked_period_asked_for_shows_its_missing_schools_without_nudge_buttons(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await two_districts(db, clock)
    clock.set(JANUARY)
    replies = await (await office(app, fake)).send("/overdue milk 2026-10")
    text = replies[-1].text
    assert "目前没有逾期未报的学校。" in text  # nothing fileable is overdue for October
    assert "已锁定未报：共 4 所学校、4 份报表。" in text and "HB001小学" in text
    # No nudge buttons: only the office's 代填, one per school (issue 15).
    labels = replies[-1].labels
    assert len(labels) == 4 and all(label.startswith("✍️ 代填") for label in labels)


async def test_locked_months_before_the_bot_had_any_report_are_not_listed(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await two_districts(db, clock)
    clock.set(at(11, 13, 10))  # August is locked by now, but nothing before September was ever filed
    text = "\n".join(r.text for r in await (await office(app, fake)).send("/overdue"))
    assert "🔒" not in text and "2026年8月" not in text
    explicit = (await (await office(app, fake)).send("/overdue milk 2026-08"))[-1].text
    assert "已锁定未报：共 5 所学校、5 份报表。" in explicit
