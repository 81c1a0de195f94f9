"""The office files a report for a school (issue 15 point 2): ``/report_for`` and the 代填 buttons of /overdue.

The world: milk schools HB001 (濉溪县, principal 1001 王校长) and HB101 (相山区, principal
1101), city staff 2001 张干事 and district staff 2002 刘干事 (相山区). On 10 January 2027
October 2026 (due 5 November) is locked: principals can no longer file it, the office can.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.offline.simulator import Reply, Simulator, UserChat
from storage.db import Database
from storage.models import AuditEntry, Draft, Person, School
from tests.conftest import SHANGHAI
from tests.factories import add_person, add_school, saved_reports, values_of
from tests.nudging import last_alert

CITY, DISTRICT = 2001, 2002
REASON = "校长住院，电话报来数据"


@pytest.fixture
def clock() -> FixedClock:
    """Sunday 10 January 2027, 10:00: October 2026 is locked, December is due."""
    return FixedClock(datetime(2027, 1, 10, 10, 0, tzinfo=SHANGHAI))


async def world(db: Database, clock: FixedClock) -> None:
    await add_school(db, clock, "HB001", "邹圩小学", "濉溪县", programmes=("milk",))
    await add_school(db, clock, "HB101", "相山小学", "相山区", programmes=("milk",))
    await add_person(db, clock, 1001, "王校长", school_code="HB001")
    await add_person(db, clock, 1101, "赵校长", school_code="HB101")
    await add_person(db, clock, CITY, "张干事", role="staff")
    await add_person(db, clock, DISTRICT, "刘干事", role="staff", district="相山区")


def text_of(replies: list[Reply]) -> str:
    return "\n".join(reply.text for reply in replies if reply.text)


def received(sim: Simulator, chat_id: int) -> list[str]:
    return [str(call.params["text"]) for call in sim.fake.calls_to("sendMessage") if call.params["chat_id"] == chat_id]


async def answer_milk(staff: UserChat) -> list[Reply]:
    """The milk questions answered as a principal would, up to the review."""
    await staff.send("856")
    await staff.send("21")
    await staff.press("伊利")
    return await staff.press("填 0")


async def audit_rows(db: Database, action: str) -> list[AuditEntry]:
    async with db.session() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def drafts(db: Database, telegram_id: int | None = None) -> list[Draft]:
    """Every draft, or only the one of the person with ``telegram_id``."""
    async with db.session() as session:
        query = select(Draft).join(Person, Person.id == Draft.person_id)
        if telegram_id is not None:
            query = query.where(Person.telegram_id == telegram_id)
        return list((await session.scalars(query)).all())


async def test_office_files_a_locked_month_with_its_reason_and_the_principal_is_told(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await world(db, clock)
    principal = sim.user(1001, "王校长")
    refused = text_of(await principal.send("/milk"))  # the principal: October is locked
    assert "2026年10月" not in refused
    staff = sim.user(CITY, "张干事")
    ask = text_of(await staff.send("/report_for HB001 milk 2026-10"))
    assert "为 邹圩小学 代填学生饮用奶月报 · 2026年10月" in ask and "代填原因" in ask
    first = text_of(await staff.send(REASON))
    assert "日参饮" in first  # the first question, as a principal gets it
    review = text_of(await answer_milk(staff))
    assert f"✍️ 代填：邹圩小学 · 原因：{REASON}" in review and "请核对" in review
    receipt = text_of(await staff.press("提交"))
    assert "第 1 版" in receipt and "已告知该校 1 位填报人。" in receipt

    (report,) = await saved_reports(db, "milk")
    assert (report.period, report.on_behalf, report.behalf_reason, report.is_current) == ("2026-10", True, REASON, True)
    assert values_of(report)["daily_drinkers"] == 856
    async with db.session() as session:
        filer = await session.get(Person, report.reporter_id)
        assert filer is not None and filer.telegram_id == CITY
    (row,) = await audit_rows(db, "report.filed_on_behalf")
    assert (row.actor, row.subject, row.detail["reason"], row.detail["period"]) == (CITY, "HB001", REASON, "2026-10")
    assert await audit_rows(db, "report.submitted") == []

    (notice,) = received(sim, 1001)[-1:]
    assert notice.startswith("📋 办公室 张干事 代填了 2026年10月 学生饮用奶月报（第 1 版）")
    assert "856" in notice and f"原因：{REASON}" in notice
    assert received(sim, 1101) == []  # another school's principal hears nothing
    history = text_of(await principal.send("/history"))
    assert f"由办公室 张干事代填（原因：{REASON}）" in history
    assert await drafts(db, CITY) == []


async def test_the_office_corrects_a_filed_report_as_a_new_version(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await world(db, clock)
    staff = sim.user(CITY, "张干事")
    await staff.send("/report_for HB001 milk 2026-10")
    await staff.send(REASON)
    await answer_milk(staff)
    await staff.press("提交")
    offer = text_of(await staff.send("/report_for HB001 milk 2026-10"))
    assert "代填原因" in offer
    existing = text_of(await staff.send("数据有误，重新核对"))
    assert "已经提交过" in existing and "由办公室 张干事代填" in existing
    await staff.press("更正这份报表")
    await staff.press("✏️ 日参饮人数")
    await staff.send("870")
    receipt = text_of(await staff.press("提交"))
    assert "第 2 版" in receipt
    first, second = await saved_reports(db, "milk")
    assert (first.is_current, second.is_current, second.behalf_reason) == (False, True, "数据有误，重新核对")
    assert values_of(second)["daily_drinkers"] == 870


async def test_filing_on_behalf_without_a_reason_asks_again_and_files_nothing(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await world(db, clock)
    staff = sim.user(CITY, "张干事")
    replies = await staff.send("/report_for HB001 milk 2026-10")
    token_data = [b["callback_data"] for row in replies[-1].buttons for b in row]
    again = text_of(await staff.send("   "))
    assert "代填原因不能为空" in again and "日参饮" not in again
    skipped = text_of(await staff.send("/skip"))
    assert "日参饮" not in skipped
    # A forged "submit" on the draft waiting for its reason changes nothing.
    (cancel,) = token_data
    token = cancel.split(":")[1]
    await staff.press_data(f"r:{token}:ok")
    assert await saved_reports(db) == []
    (draft,) = await drafts(db)
    assert draft.step == "behalf.reason" and "reason" not in (draft.notes or {}).get("behalf", {})
    cancelled = text_of(await staff.send("/cancel"))
    assert "已取消" in cancelled or "取消" in cancelled
    assert await drafts(db) == [] and await saved_reports(db) == []


async def test_a_school_outside_the_district_is_refused_like_an_unknown_code(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await world(db, clock)
    staff = sim.user(DISTRICT, "刘干事")
    outside = text_of(await staff.send("/report_for HB001 milk 2026-10"))
    unknown = text_of(await staff.send("/report_for HB999 milk 2026-10"))
    assert outside.replace("HB001", "X") == unknown.replace("HB999", "X")
    assert "邹圩小学" not in outside and "濉溪县" not in outside
    assert await drafts(db) == []
    # A forged 代填 button naming the other district's school is refused the same way.
    async with db.session() as session:
        school_id = await session.scalar(select(School.id).where(School.code == "HB001"))
    await staff.press_data(f"obh:{school_id}:milk:2026-10")
    assert last_alert(sim.fake) == "这个按钮已经失效了，请使用最新的消息。"
    assert await drafts(db) == []
    inside = text_of(await staff.send("/report_for HB101 milk 2026-10"))
    assert "为 相山小学 代填" in inside


async def test_an_unknown_school_code_says_so(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await world(db, clock)
    staff = sim.user(CITY, "张干事")
    text = text_of(await staff.send("/report_for NOPE-1"))
    assert "没有找到代码为「NOPE-1」的学校" in text and "用法" not in text
    usage = text_of(await staff.send("/report_for"))
    assert "用法：/report_for 学校代码" in usage
    bad = text_of(await staff.send("/report_for HB001 milk 2026-99"))
    assert "看不懂「2026-99」" in bad
    assert await drafts(db) == []


async def test_a_principal_cannot_file_for_a_school(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await world(db, clock)
    principal = sim.user(1001, "王校长")
    text = text_of(await principal.send("/report_for HB101 milk 2026-10"))
    assert text == "你没有使用这个命令的权限。发送 /help 查看可用的命令。"
    assert await drafts(db) == [] and await saved_reports(db) == []


async def test_the_overdue_card_offers_to_file_a_locked_report(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await world(db, clock)
    staff = sim.user(DISTRICT, "刘干事")
    listing = (await staff.send("/overdue milk 2026-10"))[-1]
    assert listing.labels == ["✍️ 代填 相山小学"]  # the district's school only
    ask = text_of(await staff.press("代填 相山小学"))
    assert "为 相山小学 代填学生饮用奶月报 · 2026年10月" in ask
    await staff.send("校长出差，电话报数")
    await answer_milk(staff)
    receipt = text_of(await staff.press("提交"))
    assert "第 1 版" in receipt
    (report,) = await saved_reports(db, "milk")
    assert (report.period, report.behalf_reason) == ("2026-10", "校长出差，电话报数")
    assert any("办公室 刘干事 代填了 2026年10月" in text for text in received(sim, 1101))
