"""Discoverable office commands (issue 15 point 6), through the real Application on the fake Bot API.

/summary and /export typed alone offer form and period buttons instead of
choosing silently; a year is an export argument in any order; /status for staff
shows what is due per form in their scope.
"""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select, update

from bot.core.clock import FixedClock
from bot.core.i18n import t
from bot.offline.simulator import Simulator
from storage.db import Database
from storage.models import District, Person
from tests.factories import register_principal, register_staff
from tests.handlers.test_summary_handlers import last_file
from tests.service.test_rollups import milk, three_schools

BAD_BUTTON = t("zh", "summary.bad_button")


async def test_summary_alone_offers_forms_then_periods_then_shows_the_table(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    a, _, _ = await three_schools(db, clock)
    await milk(db, a, "2026-09", 250)
    staff = await register_staff(sim, db, clock)
    replies = await staff.send("/summary")
    assert [r.kind for r in replies] == ["text"], "no chart or table for a form nobody chose"
    assert "查看哪一类报表的汇总" in replies[-1].text
    assert {"学生饮用奶月报", "劳动实践基地收获登记", "校方责任险学期报表"} <= set(replies[-1].labels)
    replies = await staff.press("学生饮用奶月报")
    assert replies[-1].edited and "「学生饮用奶月报」哪个期间" in replies[-1].text
    labels = replies[-1].labels
    assert labels[0] == "2026年10月" and "2026年9月" in labels and "2026年11月" not in labels, "November is not over"
    replies = await staff.press("2026年9月")
    assert replies[-1].edited and "2026年9月" in replies[-1].text and "日参饮人数合计 250人" in replies[-1].text


async def test_export_alone_offers_forms_periods_and_whole_years(sim: Simulator, db: Database, clock: FixedClock) -> None:
    a, _, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    staff = await register_staff(sim, db, clock)
    replies = await staff.send("/export")
    assert [r.kind for r in replies] == ["text"] and "导出哪一类报表" in replies[-1].text
    assert not sim.fake.calls_to("sendDocument"), "nothing exported before a form is chosen"
    await staff.press("学生饮用奶月报")
    replies = await staff.send("/export milk")  # a form without a period: the periods, not a guess
    assert "导出「学生饮用奶月报」哪个期间" in replies[-1].text and "2026年全年" in replies[-1].labels
    replies = await staff.press("2026年全年")
    assert replies[-1].kind == "document"
    name, data = last_file(sim, "sendDocument")
    assert name == "schoolbot-milk-2026.xlsx"
    assert load_workbook(io.BytesIO(data)).sheetnames


async def test_a_year_is_an_export_argument_in_any_order(sim: Simulator, db: Database, clock: FixedClock) -> None:
    a, _, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    staff = await register_staff(sim, db, clock)
    replies = await staff.send("/export 2026 milk")
    assert replies[-1].kind == "document" and last_file(sim, "sendDocument")[0] == "schoolbot-milk-2026.xlsx"
    replies = await staff.send("/export 2026")
    assert "导出哪一类报表的 2026 年全年数据" in replies[-1].text
    replies = await staff.press("学生饮用奶月报")
    assert replies[-1].kind == "document" and last_file(sim, "sendDocument")[0] == "schoolbot-milk-2026.xlsx"
    replies = await staff.send("/export 2026-10")
    assert "没有“2026-10”这张报表" in replies[-1].text, "a month means nothing without its form"


async def test_forged_picker_buttons_are_refused(sim: Simulator, db: Database, clock: FixedClock) -> None:
    staff = await register_staff(sim, db, clock)
    await staff.send("/export")
    for data in ("sum:e:uniforms", "sum:p:uniforms", "sum:y:milk:9999", "sum:y:uniforms:2026"):
        await staff.press_data(data)
        assert sim.fake.calls_to("answerCallbackQuery")[-1].params["text"] == BAD_BUTTON, data
    assert not sim.fake.calls_to("sendDocument")


async def test_status_for_staff_shows_what_is_due_in_their_scope(sim: Simulator, db: Database, clock: FixedClock) -> None:
    a, b, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    staff = await register_staff(sim, db, clock)
    replies = await staff.send("/status")
    text = replies[-1].text
    assert "报送进度（全市，2026-11-26）" in text
    # 26 November: October's milk was due on 5 November; one of the two milk schools reported.
    assert "学生奶 2026年10月：2026-11-05 截止，已过 21 天，已报 1/2 所，1 所未报" in text
    assert "收获登记" in text and "随时报送" in text
    assert "学生奶 2026年10月 汇总" in replies[-1].labels
    replies = await staff.press("学生奶 2026年10月 汇总")
    assert "2026年10月" in replies[-1].text and "已报 1/2 所" in replies[-1].text

    # District staff: only their district's schools count.
    async with db.session() as session:
        district = await session.scalar(select(District.id).where(District.name == "杜集区"))
        await session.execute(update(Person).where(Person.telegram_id == 2001).values(district_id=district))
    text = (await staff.send("/status"))[-1].text
    assert "报送进度（杜集区" in text and "已报 0/1 所，1 所未报" in text and "1/2" not in text


async def test_status_for_a_principal_is_still_their_schools(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await three_schools(db, clock)
    principal = await register_principal(sim, db, clock, 1001, school_code="HB001")
    text = (await principal.send("/status"))[-1].text
    assert "邹圩小学" in text and "报送进度" not in text
    stranger = sim.user(4242, "路人")
    assert "报送进度" not in (await stranger.send("/status"))[-1].text
