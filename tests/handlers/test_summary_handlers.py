"""/summary, /export and /annual through the real application on the fake Bot API."""

from __future__ import annotations

import io
from datetime import datetime

import docx
from openpyxl import load_workbook
from sqlalchemy import select, update

from bot.core.clock import FixedClock
from bot.offline.fakeapi import Call
from bot.offline.simulator import Simulator
from storage.db import Database
from storage.models import District, Person
from tests.conftest import SHANGHAI
from tests.factories import add_school, register_principal, register_staff
from tests.service.test_rollups import harvest, milk, three_schools

PNG = b"\x89PNG\r\n\x1a\n"


def last_file(sim: Simulator, method: str) -> tuple[str, bytes]:
    calls: list[Call] = [c for c in sim.fake.calls_to(method) if c.files]
    assert calls, f"no {method} with a file"
    ((name, data),) = calls[-1].files.items()
    return name, data


async def test_summary_shows_table_buttons_and_chart(sim: Simulator, db: Database, clock: FixedClock) -> None:
    a, b, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    await milk(db, b, "2026-10", 200, late=True, at=datetime(2026, 11, 9, 9, tzinfo=SHANGHAI))
    staff = await register_staff(sim, db, clock)
    replies = await staff.send("/summary milk 2026-10")
    assert [r.kind for r in replies] == ["photo", "text"]
    text = replies[1].text
    assert "学生饮用奶月报" in text and "2026年10月" in text
    assert "全市：已报 2/2 所（100%），按时 1 所（50%）" in text
    assert "日参饮人数合计 500人" in text
    assert text.index("全市") < text.index("濉溪县")
    labels = replies[1].labels
    assert "✓ 学生奶" in labels and "收获登记" in labels and "校方责任险" in labels
    assert any(label.startswith("◀ 2026年9月") for label in labels)
    assert any(label.startswith("2026年11月") for label in labels)  # November has begun
    assert not any(label.startswith("2026年12月") for label in labels)
    assert "学生奶" in replies[0].text
    _, png = last_file(sim, "sendPhoto")
    assert png.startswith(PNG) and len(png) > 10_000


async def test_summary_buttons_step_to_previous_period_and_switch_form(sim: Simulator, db: Database, clock: FixedClock) -> None:
    a, _, c = await three_schools(db, clock)
    await milk(db, a, "2026-09", 250)
    await harvest(db, c, "2026-Q3", "x1", "5000")
    staff = await register_staff(sim, db, clock)
    await staff.send("/summary milk 2026-10")
    replies = await staff.press("◀")
    assert replies[0].edited and "2026年9月" in replies[0].text and "日参饮人数合计 250人" in replies[0].text
    replies = await staff.press("收获登记")
    assert replies[0].edited and "劳动实践基地收获登记" in replies[0].text
    assert "2026年第三季度" in replies[0].text and "销售收入合计 5,000元" in replies[0].text


async def test_chart_and_export_buttons_send_files(sim: Simulator, db: Database, clock: FixedClock) -> None:
    a, _, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    staff = await register_staff(sim, db, clock)
    await staff.send("/summary milk 2026-10")
    photos_before = len(sim.fake.calls_to("sendPhoto"))
    replies = await staff.press("图表")
    assert [r.kind for r in replies] == ["photo"] and len(sim.fake.calls_to("sendPhoto")) == photos_before + 1
    replies = await staff.press("导出")
    assert [r.kind for r in replies] == ["document"]
    name, data = last_file(sim, "sendDocument")
    assert name == "schoolbot-milk-2026-10.xlsx"
    workbook = load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == ["说明", "区县汇总", "报表明细", "未报学校", "待报学校"]


async def test_forged_summary_button_is_refused_clearly(sim: Simulator, db: Database, clock: FixedClock) -> None:
    staff = await register_staff(sim, db, clock)
    await staff.press_data("sum:v:nosuchform:2026-10", {"message_id": 1, "chat": {"id": 2001, "type": "private"}, "date": 0})
    await staff.press_data("sum:v:milk:2026-Q9", {"message_id": 1, "chat": {"id": 2001, "type": "private"}, "date": 0})
    alerts = [c.params for c in sim.fake.calls_to("answerCallbackQuery")]
    assert len(alerts) == 2 and all("失效" in a["text"] and a["show_alert"] for a in alerts)
    assert not sim.fake.calls_to("sendPhoto")


async def test_summary_button_on_a_message_the_bot_cannot_edit_shows_the_view_anew(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    a, _, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    staff = await register_staff(sim, db, clock)
    # A valid view named on a message the bot never sent (deleted, or a forged press).
    replies = await staff.press_data("sum:v:milk:2026-10", {"message_id": 1, "chat": {"id": 2001, "type": "private"}, "date": 0})
    assert any("学生饮用奶月报" in r.text and "2026年10月" in r.text for r in replies), [r.text for r in replies]
    assert not any("故障" in r.text for r in replies), "not the error handler's apology"


async def test_unknown_form_and_bad_period_get_clear_messages(sim: Simulator, db: Database, clock: FixedClock) -> None:
    staff = await register_staff(sim, db, clock)
    replies = await staff.send("/summary 校服")
    assert "没有“校服”这张报表" in replies[0].text and "milk" in replies[0].text
    assert replies[0].text.count("用法") == 1, replies[0].text  # one usage line, not two
    replies = await staff.send("/summary milk 2026-Q4")
    assert "不是「学生奶」的报送期间" in replies[0].text and "2026-10" in replies[0].text
    replies = await staff.send("/summary milk 2026年10月")
    assert "2026年10月" in replies[-1].text and "已报" in replies[-1].text
    assert replies[0].text.count("用法") <= 1  # one usage line, not two


async def test_the_office_names_a_form_as_it_speaks_of_it(sim: Simulator, db: Database, clock: FixedClock) -> None:
    a, _, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    staff = await register_staff(sim, db, clock)
    for words in ("/summary 奶 2026-10", "/summary 2026年10月 学生奶", "/summary 牛奶 2026-10"):
        replies = await staff.send(words)
        assert "学生饮用奶月报" in replies[-1].text and "2026年10月" in replies[-1].text, (words, [r.text for r in replies])
        assert "300" in replies[-1].text
    replies = await staff.send("/summary 保险")
    assert not any("没有“保险”" in r.text for r in replies) and any("校方责任险" in r.text for r in replies)


async def test_summary_defaults_to_the_last_finished_period(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await three_schools(db, clock)
    staff = await register_staff(sim, db, clock)
    replies = await staff.send("/summary milk")
    assert "2026年10月" in replies[-1].text  # 26 November: October is the newest finished month
    assert "本期还没有学校报送" in replies[-1].text and "0/2 所（0%）" in replies[-1].text


async def test_export_of_a_year_sends_a_workbook_that_parses_back(sim: Simulator, db: Database, clock: FixedClock) -> None:
    a, b, _ = await three_schools(db, clock)
    await milk(db, a, "2026-09", 280)
    await milk(db, a, "2026-10", 300)
    staff = await register_staff(sim, db, clock)
    replies = await staff.send("/export milk 2026")
    assert replies[0].kind == "document" and "2026年" in replies[0].text
    name, data = last_file(sim, "sendDocument")
    assert name == "schoolbot-milk-2026.xlsx"
    sheets = load_workbook(io.BytesIO(data))
    city = [c.value for c in sheets["区县汇总"][2]]
    # Eleven months have begun by 26 November, two schools each.
    assert city[1] == "全市" and city[3] == 22 and city[4] == 2
    assert len(list(sheets["报表明细"].iter_rows(min_row=2))) == 2
    # Missing only past due: January–October less the two filed (18); November is 待报 (2).
    assert len(list(sheets["未报学校"].iter_rows(min_row=2))) == 18
    assert len(list(sheets["待报学校"].iter_rows(min_row=2))) == 2


async def test_annual_sends_the_draft_as_text_and_docx(sim: Simulator, db: Database, clock: FixedClock) -> None:
    a, b, c = await three_schools(db, clock)
    await harvest(db, a, "2026-Q3", "h1", "25000", area="3.5")
    await harvest(db, c, "2026-Q2", "h1", "10000", area="2")
    await milk(db, a, "2026-10", 30000)  # an implausible school, but a clear number in 万
    staff = await register_staff(sim, db, clock)
    replies = await staff.send("/annual 2026")
    text = "\n".join(r.text for r in replies if r.kind == "text")
    assert "目前，全市已建立劳动实践场所2个" in text
    # Planted area of the harvests, labelled as such (the sites' land area comes from the roster).
    assert "种植蔬菜5.5亩【数据不全：第四季度尚未结束】（收获登记所填种植面积）" in text
    assert "实现销售收入3.5万元【数据不全：第四季度尚未结束】" in text
    assert "日参饮量3万人次" in text
    assert "参保学生数未报" in text and "保费未报" in text
    assert replies[-1].kind == "document"
    name, data = last_file(sim, "sendDocument")
    assert name == "schoolbot-annual-2026.docx"
    paragraphs = [p.text for p in docx.Document(io.BytesIO(data)).paragraphs]
    assert any("实现销售收入3.5万元" in p for p in paragraphs)


async def test_annual_with_a_bad_year_shows_usage(sim: Simulator, db: Database, clock: FixedClock) -> None:
    staff = await register_staff(sim, db, clock)
    for bad in ("/annual 去年", "/annual 0001"):
        replies = await staff.send(bad)
        assert "用法：/annual" in replies[0].text


async def test_principal_is_refused_summary_export_and_annual(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    principal = await register_principal(sim, db, clock)
    for command in ("/summary", "/export milk 2026", "/annual 2026"):
        replies = await principal.send(command)
        assert len(replies) == 1 and "没有使用这个命令的权限" in replies[0].text
    assert not sim.fake.calls_to("sendPhoto") and not sim.fake.calls_to("sendDocument")


async def test_district_scoped_staff_see_only_their_district(sim: Simulator, db: Database, clock: FixedClock) -> None:
    a, b, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    await milk(db, b, "2026-10", 200)
    staff = await register_staff(sim, db, clock)
    async with db.session() as session:
        duji = await session.scalar(select(District.id).where(District.name == "杜集区"))
        await session.execute(update(Person).where(Person.telegram_id == 2001).values(district_id=duji))
    replies = await staff.send("/summary milk 2026-10")
    assert "杜集区" in replies[-1].text and "濉溪县" not in replies[-1].text
    assert "日参饮人数合计 200人" in replies[-1].text
    await staff.send("/export milk 2026-10")
    _, data = last_file(sim, "sendDocument")
    sheets = load_workbook(io.BytesIO(data))
    districts = {row[1].value for row in sheets["区县汇总"].iter_rows(min_row=2)}
    assert districts == {"杜集区"}
    assert {row[1].value for row in sheets["报表明细"].iter_rows(min_row=2)} == {"杜集区"}
    replies = await staff.send("/annual 2026")
    assert "杜集区" in replies[0].text and "全市" not in replies[0].text
