"""Issue 15 point 1: review states through the real application on the fake Bot API.

A principal files; staff see it in /review, return it with a reason (typed, asked
again when empty, only spaces or a command), the principal corrects it from the
returned message's button, the correction is back in the queue, staff approve
it; approved is locked for the principal (/correct, old edit buttons, withdraw),
staff reopen it with a reason. Scope and stale cards are refused. Each change is
audited. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select, update

from bot.core.clock import FixedClock
from bot.offline.simulator import Reply, Simulator, UserChat
from storage.db import Database
from storage.models import AuditEntry, Person, Report, ReviewPrompt
from storage.schools import ensure_district
from tests.conftest import SHANGHAI
from tests.factories import add_school, register_principal, register_staff, saved_reports
from tests.handlers.test_report_corrections import file_milk

PRINCIPAL, STAFF = 1001, 2001


@pytest.fixture
def clock() -> FixedClock:
    """Wednesday 2 December 2026, 10:00: November is over, due on the 5th, open for filing."""
    return FixedClock(datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI))


def last(replies: list[Reply]) -> Reply:
    return [reply for reply in replies if reply.text][-1]


def texts(replies: list[Reply]) -> str:
    return "\n".join(reply.text for reply in replies)


async def audit_actions(db: Database) -> list[str]:
    async with db.session() as session:
        rows = await session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("report.%")).order_by(AuditEntry.id))
        return list(rows.all())


async def current_milk(db: Database) -> Report:
    (report,) = [r for r in await saved_reports(db, "milk") if r.is_current]
    return report


async def world(sim: Simulator, db: Database, clock: FixedClock, district: str | None = None) -> tuple[UserChat, UserChat]:
    """A milk school in 濉溪县 with its principal, who filed November; a staff member (of ``district``)."""
    await add_school(db, clock)
    wang = await register_principal(sim, db, clock)
    await file_milk(wang)
    li = await register_staff(sim, db, clock)
    if district is not None:
        async with db.session() as session:
            district_id = (await ensure_district(session, district)).id
            await session.execute(update(Person).where(Person.telegram_id == STAFF).values(district_id=district_id))
    return wang, li


async def test_return_correct_approve_reopen_round_trip(sim: Simulator, db: Database, clock: FixedClock) -> None:
    wang, li = await world(sim, db, clock)

    queue = await li.send("/review milk 2026-11")
    heading, card = queue[0].text, queue[1]
    assert "1 份待审核" in heading and "已审核 0/1 份" in heading
    assert "邹圩小学（HB001，濉溪县）" in card.text and "日参饮人数：856 人" in card.text and "第 1 版" in card.text
    assert "状态：待审核" in card.text and card.labels == ["✅ 通过", "↩️ 退回"]

    asked = last(await li.press("退回", message_id=card.message_id))
    assert "退回理由" in asked.text or "理由" in asked.text
    before = len(wang.texts)
    done = await li.send("日参饮人数比在校生还多，请核对")
    assert "已退回" in texts(done) and "已通知 1 位填报人" in texts(done)
    first = await current_milk(db)
    assert (first.review, first.review_reason) == ("returned", "日参饮人数比在校生还多，请核对")

    notice = wang.texts[before:]
    assert any("被 李老师 退回" in text and "日参饮人数比在校生还多" in text for text in notice)
    assert wang.buttons() == ["✏️ 更正学生奶"], "one button: the report returned"

    # The returned message's button opens exactly that report, at the review.
    opened = last(await wang.press("更正"))
    assert "856" in opened.text and "对已提交的第 1 版的更正" in opened.text
    await wang.press("✏️ 日参饮人数")
    await wang.send("806")
    receipt = last(await wang.press("提交"))
    assert "第 2 版" in receipt.text
    second = await current_milk(db)
    assert (second.version, second.review) == (2, "submitted")

    queue = await li.send("/review milk 2026-11")
    card = queue[1]
    assert "第 2 版" in card.text and "806 人" in card.text
    approved = await li.press("通过", message_id=card.message_id)
    assert any(r.edited and "已审核通过（李老师" in r.text for r in approved)
    assert (await current_milk(db)).review == "approved"
    assert "没有待审核的报表" in last(await li.send("/review milk 2026-11")).text

    # Locked for the principal: /correct names who approved it and how to ask.
    locked = last(await wang.send("/correct"))
    assert "已由 李老师" in locked.text and "审核通过" in locked.text and "联系勤工俭学办公室" in locked.text
    assert not locked.buttons

    # Staff reopen with a reason; the principal is told and may correct again.
    queue_card = last(await li.send("/summary milk 2026-11"))
    assert "已审核 1/1 份" in queue_card.text
    reopened_card = [r for r in approved if r.edited][-1]
    await li.press("重新打开", message_id=reopened_card.message_id)
    before = len(wang.texts)
    await li.send("学校来电：供应商填错了")
    assert (await current_milk(db)).review == "submitted"
    assert any("重新打开" in text and "供应商填错了" in text for text in wang.texts[before:])

    assert await audit_actions(db) == [
        "report.submitted",
        "report.returned",
        "report.corrected",
        "report.approved",
        "report.reopened",
    ]


@pytest.mark.parametrize("typed", ["", "   ", "/summary"])
async def test_return_without_a_reason_is_asked_again_and_changes_nothing(
    sim: Simulator, db: Database, clock: FixedClock, typed: str
) -> None:
    wang, li = await world(sim, db, clock)
    card = (await li.send("/review milk 2026-11"))[1]
    await li.press("退回", message_id=card.message_id)
    before = len(wang.texts)
    # An empty text cannot be sent in Telegram; the closest is a message of spaces or a sticker.
    replies = await (li.send_sticker() if typed == "" else li.send(typed))
    assert "还需要一句理由" in texts(replies)
    report = await current_milk(db)
    assert report.review == "submitted" and report.review_reason is None
    assert wang.texts[before:] == []
    assert await audit_actions(db) == ["report.submitted"]
    async with db.session() as session:
        assert await session.scalar(select(ReviewPrompt.action)) == "return", "the question still waits"
    # A real reason afterwards still returns it.
    await li.send("请核对供应商")
    assert (await current_milk(db)).review == "returned"


async def test_approving_a_report_outside_ones_district_is_refused(sim: Simulator, db: Database, clock: FixedClock) -> None:
    _, li = await world(sim, db, clock, district="杜集区")
    report = await current_milk(db)
    assert "没有待审核的报表" in last(await li.send("/review milk 2026-11")).text
    for data in (f"rv:a:{report.id}", f"rv:r:{report.id}", f"rv:o:{report.id}"):
        replies = await li.press_data(data)
        alert = sim.fake.calls_to("answerCallbackQuery")[-1].params
        assert alert.get("show_alert") and "不在您的范围内" in alert["text"]
        assert not [r for r in replies if r.text and "HB001" in r.text], "nothing about the school is revealed"
    assert (await current_milk(db)).review == "submitted"
    assert await audit_actions(db) == ["report.submitted"]


async def test_old_edit_button_on_an_approved_report_refuses_in_plain_words(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    wang, li = await world(sim, db, clock)
    report = await current_milk(db)
    await wang.send("/correct")  # the list with the ✏️ button, pressed after the approval
    listed = sim.fake.last(PRINCIPAL)
    card = (await li.send("/review milk 2026-11"))[1]
    await li.press("通过", message_id=card.message_id)

    replies = await wang.press_data(f"fix:{report.id}", listed)
    said = texts(replies)
    assert "已由 李老师" in said and "不能再修改" in said and "联系勤工俭学办公室" in said
    replies = await wang.press_data(f"wd:y:{report.id}", listed)
    assert "已由 李老师" in texts(replies)
    versions = await saved_reports(db, "milk")
    assert len(versions) == 1 and versions[0].review == "approved" and not versions[0].withdrawn


async def test_approving_an_outdated_version_is_refused_and_the_card_refreshed(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    wang, li = await world(sim, db, clock)
    card = (await li.send("/review milk 2026-11"))[1]
    # The principal corrects meanwhile: the card shows version 1, the current one is version 2.
    await wang.send("/correct")
    await wang.press("学生奶")
    await wang.press("✏️ 日参饮人数")
    await wang.send("870")
    await wang.press("提交")

    replies = await li.press("通过", message_id=card.message_id)
    alert = sim.fake.calls_to("answerCallbackQuery")[-1].params
    assert alert.get("show_alert") and "更新的版本" in alert["text"]
    refreshed = [r for r in replies if r.edited][-1]
    assert "第 2 版" in refreshed.text and "870 人" in refreshed.text and "状态：待审核" in refreshed.text
    first, second = await saved_reports(db, "milk")
    assert (first.review, second.review) == ("submitted", "submitted")
    assert "report.approved" not in await audit_actions(db)
