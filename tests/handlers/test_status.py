"""/status (what is due, filed, overdue, with buttons to file) and /history (recent reports)."""

from __future__ import annotations

from datetime import datetime

from bot.core.catalogue import load_catalogue
from bot.core.clock import FixedClock
from bot.core.periods import parse_period
from bot.offline.simulator import Reply, Simulator, UserChat
from handlers.reporting import report_now_button
from storage.db import Database
from tests.conftest import SHANGHAI
from tests.factories import add_school, register_principal, register_staff, saved_reports

CATALOGUE = load_catalogue()


def last(replies: list[Reply]) -> Reply:
    return [reply for reply in replies if reply.text][-1]


def line_with(text: str, needle: str) -> str:
    lines = [line for line in text.splitlines() if needle in line]
    assert lines, f"no line with {needle!r} in:\n{text}"
    return lines[0]


async def finish_milk(chat: UserChat, drinkers: str = "856") -> None:
    await chat.send(drinkers)
    await chat.send("21")
    await chat.press("伊利")
    await chat.press("填 0")
    await chat.press("提交")


async def test_status_shows_due_and_overdue_periods_with_buttons(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    status = last(await chat.send("/status"))
    assert "邹圩小学" in status.text and "2026-11-26" in status.text
    # Today is 26 Nov: October milk was due 5 Nov; November is not over (issue 13: not offered yet).
    assert "已逾期 21 天" in line_with(status.text, "学生奶 · 2026年10月")
    assert "已逾期 52 天" in line_with(status.text, "学生奶 · 2026年9月")
    assert "2026年11月" not in status.text
    assert "2027-02-15" in line_with(status.text, "校方责任险 · 2026年秋季学期")
    assert "已登记 0 次" in line_with(status.text, "收获登记") and "/harvest" in status.text
    assert "📝 填报学生奶（2026年10月）" in status.labels
    assert "📝 填报校方责任险（2026年秋季学期）" in status.labels

    replies = await chat.press("填报学生奶（2026年9月）")
    assert "学生奶 · 2026年9月（第 1/4 项）" in last(replies).text, "the button opens the form for that period"
    await finish_milk(chat)
    (report,) = await saved_reports(db, "milk")
    assert report.period == "2026-09" and report.is_late

    await chat.send("/milk")
    await chat.press("★")  # October, the one due
    await finish_milk(chat)
    status = last(await chat.send("/status"))
    assert "2026年9月" not in status.text, "a filed earlier period drops off"
    assert "已提交（2026-11-26 10:00）" in line_with(status.text, "学生奶 · 2026年10月")
    # Both months that are over are filed: no milk button is left.
    assert [label for label in status.labels if "学生奶" in label] == []


async def test_status_on_the_due_day_and_in_english(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock, programmes=("milk",))
    clock.set(datetime(2026, 12, 5, 15, 0, tzinfo=SHANGHAI))
    chat = await register_principal(sim, db, clock, lang="en")
    status = last(await chat.send("/status"))
    assert "due today (2026-12-05)" in line_with(status.text, "Milk · November 2026")
    assert "overdue by 30 days" in line_with(status.text, "Milk · October 2026")
    assert "Harvest" not in status.text, "no farm programme, no harvest line"
    assert "📝 File Milk (November 2026)" in status.labels


async def test_status_mentions_an_unfinished_draft(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    await chat.send("/milk")
    await chat.press("★")
    await chat.send("856")
    status = last(await chat.send("/status"))
    assert "没填完的学生饮用奶月报（2026年10月）" in status.text


async def test_history_lists_recent_reports_with_version_who_and_when(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    replies = await chat.send("/history")
    assert "还没有提交过报表" in last(replies).text
    await chat.send("/milk")
    await chat.press("2026年10月")
    await finish_milk(chat, "700")
    await chat.send("/correct")
    await chat.press("学生奶")
    await chat.press("✏️ 日参饮人数")
    await chat.send("720")
    await chat.press("提交")
    history = last(await chat.send("/history")).text
    assert "学生奶 · 2026年10月：日参饮人数 720 人" in history
    assert "第 2 版 · 王校长 · 2026-11-26 10:00（逾期）" in history
    assert "700 人" not in history, "only current versions are listed"


async def test_history_refuses_staff_and_status_shows_them_the_office_view(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await add_school(db, clock)
    staff = await register_staff(sim, db, clock)
    assert "/report_for 学校代码" in last(await staff.send("/history")).text
    # /status is the office's view of what is due (tests/handlers/test_office_commands.py), not a school's.
    status = last(await staff.send("/status")).text
    assert "报送进度（全市" in status and "/report_for" not in status


def test_report_now_button_opens_a_form_for_a_period_in_64_bytes() -> None:
    for form in CATALOGUE:
        key = {"monthly": "2026-11", "quarterly": "2026-Q4", "semester": "2026-S2"}[form.period_cadence.value]
        period = parse_period(form.period_cadence, key)
        button = report_now_button(form, period, "zh")
        assert button.callback_data == f"go:{form.key}:{period.key}"
        assert len(str(button.callback_data).encode()) <= 64
        assert form.short.zh in button.text and period.label("zh") in button.text
    milk = CATALOGUE.get("milk")
    assert report_now_button(milk, parse_period(milk.period_cadence, "2026-11"), "en").text == "📝 File Milk (November 2026)"
