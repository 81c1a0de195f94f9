"""QA fix round (helper P2): filing on behalf and review as the office expects, through the real Application.

The world of ``tests.handlers.test_review_states``: on 2 December 2026 the milk school
HB001's principal 王校长 filed November; staff 李老师 review it. An approved report is
locked for the principal, not for the office: the office's correction on behalf is a
new version, submitted again (the approval stays in the history), back in the queue.
"""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from openpyxl import load_workbook

from bot.core.clock import FixedClock
from bot.offline.simulator import Reply, Simulator
from storage.db import Database
from tests.conftest import SHANGHAI
from tests.factories import add_school, register_principal, register_staff, saved_reports, values_of
from tests.handlers.test_report_corrections import file_milk
from tests.handlers.test_export_workbook import rows
from tests.handlers.test_summary_handlers import last_file
from tests.service.test_rollups import milk
from tests.handlers.test_review_states import audit_actions, current_milk, last, texts, world

REASON = "学校来电：日参饮人数报错了"


@pytest.fixture
def clock() -> FixedClock:
    """Wednesday 2 December 2026, 10:00: November is over and open; December is still running."""
    return FixedClock(datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI))


def labels(reply: Reply) -> list[str]:
    return [label for label in reply.labels]


async def test_the_office_corrects_an_approved_report_on_behalf_and_it_is_back_in_the_queue(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    wang, li = await world(sim, db, clock)
    card = (await li.send("/review milk 2026-11"))[1]
    await li.press("通过", message_id=card.message_id)
    assert (await current_milk(db)).review == "approved"

    await li.send("/report_for HB001 milk 2026-11")
    existing = texts(await li.send(REASON))
    assert "已经提交过" in existing
    opened = texts(await li.press("更正这份报表"))
    assert "不能再修改" not in opened and "联系勤工俭学办公室" not in opened
    assert "已由 李老师 审核通过" in opened and "回到待审核" in opened, "staff are told what submitting does"
    await li.press("✏️ 日参饮人数")
    await li.send("806")
    receipt = texts(await li.press("提交"))
    assert "第 2 版" in receipt

    first, second = await saved_reports(db, "milk")
    assert (first.review, first.is_current) == ("approved", False), "the approval stays in the history"
    assert (second.review, second.is_current, second.behalf_reason) == ("submitted", True, REASON)
    assert values_of(second)["daily_drinkers"] == 806
    assert await audit_actions(db) == ["report.submitted", "report.approved", "report.filed_on_behalf"]
    queue = await li.send("/review milk 2026-11")
    assert "第 2 版" in queue[1].text and "806 人" in queue[1].text and "状态：待审核" in queue[1].text
    assert any("代填了" in text and "806" in text for text in wang.texts), "the principal is told"


async def test_staff_on_a_reporters_command_or_button_are_pointed_to_report_for(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    _, li = await world(sim, db, clock)
    for command in ("/history", "/correct", "/milk"):
        said = last(await li.send(command)).text
        assert "/report_for 学校代码" in said and "不能代填" not in said, command
    # 📝 立即填报 under their own broadcast's preview: the reporters' go: button.
    mark = len(sim.fake.calls)
    await li.press_data("go:milk:2026-11")
    (alert,) = [c.params for c in sim.fake.calls[mark:] if c.method == "answerCallbackQuery"]
    assert alert.get("show_alert") and "/report_for 学校代码 milk 2026-11" in alert["text"] and len(alert["text"]) <= 200
    # The command it names works.
    assert "代填原因" in texts(await li.send("/report_for HB001 milk 2026-11"))


async def test_report_for_a_month_still_running_is_refused_before_the_reason_with_ended_months_offered(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    _, li = await world(sim, db, clock)
    refused = last(await li.send("/report_for HB001 milk 2026-12"))
    assert "还没有结束" in refused.text and "代填原因" not in refused.text, "no reason asked for a month that cannot be filed"
    assert refused.labels == ["✍️ 代填 2026年11月", "✍️ 代填 2026年10月", "✍️ 代填 2026年9月"]
    asked = texts(await li.press("2026年11月", message_id=refused.message_id))
    assert "代填学生饮用奶月报 · 2026年11月" in asked and "代填原因" in asked
    existing = texts(await li.send(REASON))
    assert "已经提交过" in existing, "November, the month chosen, is open (the principal filed it)"


async def test_no_incidents_after_one_last_month_is_saved_without_a_warning(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await add_school(db, clock)
    wang = await register_principal(sim, db, clock)
    await wang.send("/milk")
    await wang.press("2026年10月")
    for typed in ("856", "21"):
        await wang.send(typed)
    await wang.press("伊利")
    await wang.send("1")
    assert "第 1 版" in texts(await wang.press("提交"))
    await wang.send("/milk")
    await wang.press("2026年11月")
    for typed in ("850", "20"):
        await wang.send(typed)
    await wang.press("伊利")
    review = texts(await wang.press("填 0"))
    assert "⚠️" not in review and "确认无误" not in review and "饮奶安全事件：0 起" in review
    assert "第 1 版" in texts(await wang.press("提交")), "saved straight away: no reason asked"
    november = (await saved_reports(db, "milk"))[-1]
    assert (november.period, list(november.flags)) == ("2026-11", [])


async def test_cards_and_the_xlsx_say_alike_who_filed_on_behalf_or_that_nobody_is_recorded(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    _, li = await world(sim, db, clock)
    other = await add_school(db, clock, "HB002", "孙土楼小学", "杜集区", programmes=("milk",))
    await milk(db, other.id, "2026-11", 300)  # no filer recorded, as the demo's invented history
    await li.send("/report_for HB001 milk 2026-11")
    await li.send(REASON)
    await li.press("更正这份报表")
    await li.press("✏️ 日参饮人数")
    await li.send("806")
    await li.press("提交")

    behalf = f"由办公室 李老师代填（原因：{REASON}）"
    cards = {card.text.splitlines()[0]: card.text for card in (await li.send("/review milk 2026-11"))[1:]}
    (ours,) = [text for title, text in cards.items() if "HB001" in title]
    (theirs,) = [text for title, text in cards.items() if "HB002" in title]
    assert f"填报：{behalf} · " in ours
    assert "填报：未记录 · " in theirs and "勤工俭学办公室" not in theirs
    await li.send("/export milk 2026-11")
    _, data = last_file(sim, "sendDocument")
    filers = {row["学校"]: row["填报人"] for row in rows(load_workbook(io.BytesIO(data)), "报表明细")}
    assert (filers["邹圩小学"], filers["孙土楼小学"]) == (behalf, "未记录")


async def test_a_confirmed_warning_on_the_card_is_said_once_and_a_sticker_at_its_reason_asks_for_words(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await add_school(db, clock)
    wang = await register_principal(sim, db, clock)
    await file_milk(wang, period="2026年10月")
    await wang.send("/milk")
    await wang.press("2026年11月")
    for typed in ("8560", "21"):
        await wang.send(typed)
    await wang.press("伊利")
    await wang.press("填 0")
    assert "确认无误" in texts(await wang.press("提交"))
    said = texts(await wang.send_sticker())
    assert "请点击按钮选择" not in said and "文字" in said, "the reason prompt waits for typed words"
    assert "第 1 版" in texts(await wang.send("新增两个班"))
    li = await register_staff(sim, db, clock)
    card = (await li.send("/review milk 2026-11"))[1].text
    (flag,) = [line for line in card.splitlines() if line.startswith("⚠️")]
    assert flag == "⚠️ 日参饮人数 8,560 人，比上月 856 人多了 9 倍，确认无误吗？", "the field and value said once"
    assert "填报人说明：新增两个班" in card


async def test_a_returned_report_in_correct_is_marked_apart_from_the_withdraw_button(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    wang, li = await world(sim, db, clock)
    card = (await li.send("/review milk 2026-11"))[1]
    await li.press("退回", message_id=card.message_id)
    await li.send("请核对供应商")
    listed = last(await wang.send("/correct"))
    returned, withdraw = listed.labels
    assert returned.startswith("🔁 已退回：学生奶 · 2026年11月") and withdraw == "↩️ 撤回", "two symbols, two meanings"


async def test_the_behalf_reason_prompt_names_the_form_on_cancel_and_asks_for_words_on_a_sticker(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    _, li = await world(sim, db, clock)
    await li.send("/report_for HB001 milk 2026-11")
    said = texts(await li.send_sticker())
    assert "请点击按钮选择" not in said and "代填原因" in said and "文字" in said
    cancelled = texts(await li.send("/cancel"))
    assert "已取消学生饮用奶月报（2026年11月）的填报" in cancelled and "报表的填报" not in cancelled
    assert "我没有在等待" in texts(await li.send("随便写点什么")), "nothing waits any more"
