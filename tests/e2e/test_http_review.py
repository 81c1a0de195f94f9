"""Issue 15's done-when, end to end over HTTP: the real bot process (``python -m bot run``) against
the fake Bot API on loopback. A principal files; staff return it with a reason; the principal
corrects it from the returned message's button; staff approve the correction; /summary shows
it approved. On SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from bot.offline.fakeserver import FakeBotApiServer
from storage.db import Database
from storage.models import AuditEntry, Report
from tests.e2e.conftest import ADMIN_ID, StartBot, seed_school_invite, undocumented_requests

PRINCIPAL = 1001


def _has_button(api: FakeBotApiServer, chat: int, label: str) -> bool:
    return any(label in b["text"] for b in api.fake.buttons(chat))


def _text_with(api: FakeBotApiServer, chat: int, *words: str) -> str | None:
    return next((text for text in reversed(api.fake.texts(chat)) if all(w in text for w in words)), None)


async def test_return_correct_approve_and_summary_over_http(
    api: FakeBotApiServer, e2e_db: Database, db_url: str, start_bot: StartBot
) -> None:
    code = await seed_school_invite(e2e_db)  # a milk school in 濉溪县
    bot = await start_bot(api, db_url, REMINDER_TICK_SECONDS="3600")  # no reminder in the conversation
    wang, boss = api.user(PRINCIPAL, "王校长", "zh"), api.user(ADMIN_ID, "局长", "zh")

    # The principal files the month that is due (starred).
    wang.send(f"/start {code}")
    await bot.until(api, lambda: api.fake.sent(PRINCIPAL), 30, "the welcome")
    wang.send("/milk")
    await bot.until(api, lambda: _has_button(api, PRINCIPAL, "★"), 30, "the periods")
    wang.press("★")
    await bot.until(api, lambda: "日参饮人数" in api.fake.texts(PRINCIPAL)[-1], 30, "the first question")
    wang.send("20")
    await bot.until(api, lambda: "供奶天数" in api.fake.texts(PRINCIPAL)[-1], 30, "the second question")
    wang.send("21")
    await bot.until(api, lambda: _has_button(api, PRINCIPAL, "伊利"), 30, "the suppliers")
    wang.press("伊利")
    await bot.until(api, lambda: _has_button(api, PRINCIPAL, "填 0"), 30, "the incidents question")
    wang.press("填 0")
    await bot.until(api, lambda: _has_button(api, PRINCIPAL, "提交"), 30, "the review screen")
    wang.press("提交")
    await bot.until(api, lambda: _text_with(api, PRINCIPAL, "已保存"), 30, "the receipt")
    async with e2e_db.session() as session:
        period = (await session.scalars(select(Report.period))).one()

    # Staff return it with a reason; a reason of spaces is asked again first.
    boss.send(f"/review milk {period}")
    await bot.until(api, lambda: _has_button(api, ADMIN_ID, "退回"), 30, "the card")
    assert _text_with(api, ADMIN_ID, "邹圩小学", "日参饮人数：20 人", "状态：待审核")
    boss.press("退回")
    await bot.until(api, lambda: _text_with(api, ADMIN_ID, "请输入退回"), 30, "the question for a reason")
    boss.send("   ")
    await bot.until(api, lambda: _text_with(api, ADMIN_ID, "还需要一句理由"), 30, "the question again")
    boss.send("日参饮人数偏少，请核对")
    await bot.until(api, lambda: _text_with(api, PRINCIPAL, "退回理由：日参饮人数偏少"), 30, "the principal told")

    # The principal corrects exactly that report from the returned message's button.
    assert [b["text"] for b in api.fake.buttons(PRINCIPAL)] == ["✏️ 更正学生奶"]
    wang.press("更正学生奶")
    await bot.until(api, lambda: _has_button(api, PRINCIPAL, "✏️ 日参饮人数"), 30, "the correction's review")
    wang.press("✏️ 日参饮人数")
    await bot.until(api, lambda: "日参饮人数" in api.fake.texts(PRINCIPAL)[-1], 30, "the question again")
    wang.send("25")
    await bot.until(api, lambda: _has_button(api, PRINCIPAL, "提交") and "25" in api.fake.texts(PRINCIPAL)[-1], 30, "review")
    wang.press("提交")
    await bot.until(api, lambda: _text_with(api, PRINCIPAL, "第 2 版"), 30, "the correction's receipt")

    # Back in the queue; staff approve it, and the summary shows it approved.
    boss.send(f"/review milk {period}")
    await bot.until(api, lambda: _text_with(api, ADMIN_ID, "第 2 版", "25 人", "状态：待审核"), 30, "the new card")
    boss.press("通过")
    await bot.until(api, lambda: _text_with(api, ADMIN_ID, "已审核通过（局长"), 30, "the card approved")
    boss.send(f"/summary milk {period}")
    summary = await bot.until(api, lambda: _text_with(api, ADMIN_ID, "已报 1/1 所", "已审核 1/1 份"), 30, "the summary")
    assert "日参饮人数合计 25人" in summary

    # Approved is locked for the principal.
    wang.send("/correct")
    await bot.until(api, lambda: _text_with(api, PRINCIPAL, "已由 局长"), 30, "the refusal")
    assert await bot.terminate() == 0

    async with e2e_db.session() as session:
        versions = (await session.scalars(select(Report).order_by(Report.version))).all()
        actions = (await session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("report.%")))).all()
    assert [(r.version, r.is_current, r.review) for r in versions] == [(1, False, "returned"), (2, True, "approved")]
    assert versions[0].review_reason == "日参饮人数偏少，请核对"
    assert sorted(actions) == sorted(["report.submitted", "report.returned", "report.corrected", "report.approved"])
    assert undocumented_requests(api) == []
