"""A district named with /summary, /export and /annual narrows the view; nothing typed is silently ignored.

City staff ``/summary milk 2026-10 杜集区`` see 杜集区 alone (and the buttons keep it);
district staff naming another district are refused with no figures of it; a word
that is no form, period or district is named in the refusal.
"""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select, update

from bot.core.clock import FixedClock
from bot.offline.simulator import Simulator
from storage.db import Database
from storage.models import District, Person
from tests.factories import register_staff
from tests.handlers.test_summary_handlers import last_file
from tests.service.test_rollups import milk, three_schools


async def _district(db: Database, name: str) -> int:
    async with db.session() as session:
        found = await session.scalar(select(District.id).where(District.name == name))
        assert found is not None
        return int(found)


async def _confine(db: Database, telegram_id: int, district: str) -> None:
    district_id = await _district(db, district)
    async with db.session() as session:
        await session.execute(update(Person).where(Person.telegram_id == telegram_id).values(district_id=district_id))


async def test_city_staff_naming_a_district_see_that_district_only(sim: Simulator, db: Database, clock: FixedClock) -> None:
    a, b, _ = await three_schools(db, clock)  # 濉溪县 a, 杜集区 b
    await milk(db, a, "2026-10", 300)
    await milk(db, b, "2026-10", 200)
    staff = await register_staff(sim, db, clock)
    replies = await staff.send("/summary milk 2026-10 杜集区")
    text = replies[-1].text
    assert "杜集区" in text and "濉溪县" not in text and "日参饮人数合计 200人" in text
    # Any order, and the buttons keep the district: the previous month and the export are 杜集区's too.
    replies = await staff.send("/summary 杜集区 milk 2026-10")
    assert "濉溪县" not in replies[-1].text and "日参饮人数合计 200人" in replies[-1].text
    replies = await staff.press("◀")
    assert replies[0].edited and "2026年9月" in replies[0].text and "濉溪县" not in replies[0].text
    await staff.press("导出")
    _, data = last_file(sim, "sendDocument")
    sheets = load_workbook(io.BytesIO(data))
    assert {row[1].value for row in sheets["区县汇总"].iter_rows(min_row=2)} == {"杜集区"}


async def test_city_staff_export_and_annual_of_a_district(sim: Simulator, db: Database, clock: FixedClock) -> None:
    a, b, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    await milk(db, b, "2026-10", 200)
    staff = await register_staff(sim, db, clock)
    await staff.send("/export milk 濉溪县 2026-10")
    _, data = last_file(sim, "sendDocument")
    sheets = load_workbook(io.BytesIO(data))
    assert {row[1].value for row in sheets["报表明细"].iter_rows(min_row=2)} == {"濉溪县"}
    replies = await staff.send("/annual 2026 杜集区")
    assert "杜集区" in replies[0].text and "全市" not in replies[0].text
    # Named without a form: the form buttons, then the period buttons, carry the district to the workbook.
    await staff.send("/export 杜集区")
    await staff.press("学生饮用奶")
    await staff.press("2026年10月")
    _, data = last_file(sim, "sendDocument")
    sheets = load_workbook(io.BytesIO(data))
    assert {row[1].value for row in sheets["报表明细"].iter_rows(min_row=2)} == {"杜集区"}


async def test_district_staff_naming_another_district_are_refused_plainly(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    a, b, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    await milk(db, b, "2026-10", 200)
    staff = await register_staff(sim, db, clock)
    await _confine(db, 2001, "濉溪县")
    for command in ("/summary milk 2026-10 杜集区", "/export milk 2026-10 杜集区", "/annual 2026 杜集区"):
        replies = await staff.send(command)
        assert len(replies) == 1 and replies[0].text == "你只能查看濉溪县的数据。", command
    assert not sim.fake.calls_to("sendPhoto") and not sim.fake.calls_to("sendDocument")
    # Their own district changes nothing.
    replies = await staff.send("/summary milk 2026-10 濉溪县")
    assert "日参饮人数合计 300人" in replies[-1].text and "杜集区" not in replies[-1].text
    # A forged button naming the other district shows nothing of it.
    duji = await _district(db, "杜集区")
    message = {"message_id": 1, "chat": {"id": 2001, "type": "private"}, "date": 0}
    before = len(sim.fake.calls_to("sendMessage"))
    for data in (f"sum:v:milk:2026-10:d{duji}", f"sum:x:milk:2026-10:d{duji}", f"sum:e:milk:d{duji}", f"sum:y:milk:2026:d{duji}"):
        await staff.press_data(data, message)
    alerts = [c.params for c in sim.fake.calls_to("answerCallbackQuery")][-4:]
    assert all("失效" in a["text"] and a["show_alert"] for a in alerts)
    assert len(sim.fake.calls_to("sendMessage")) == before and not sim.fake.calls_to("sendDocument")


async def test_an_unknown_extra_word_is_named_not_ignored(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await three_schools(db, clock)
    staff = await register_staff(sim, db, clock)
    replies = await staff.send("/summary milk 2026-10 相山")
    assert len(replies) == 1 and "不认识“相山”" in replies[0].text and "濉溪县" in replies[0].text and "杜集区" in replies[0].text
    replies = await staff.send("/export milk 2026-10 相山")
    assert "不认识“相山”" in replies[0].text and "用法：/export" in replies[0].text
    replies = await staff.send("/annual 2026 相山")
    assert "“相山”不是年份，也不是区县名称" in replies[0].text
    replies = await staff.send("/summary milk 2026-10 濉溪县 杜集区")
    assert "一次只能看一个区县" in replies[0].text
    assert not sim.fake.calls_to("sendPhoto") and not sim.fake.calls_to("sendDocument")
    # District staff are offered only their own district's name.
    await _confine(db, 2001, "濉溪县")
    replies = await staff.send("/summary milk 2026-10 相山")
    assert "区县可选：濉溪县。" in replies[0].text and "杜集区" not in replies[0].text
