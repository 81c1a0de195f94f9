"""The real bot killed with SIGKILL in the middle of a report, then restarted: nothing lost or doubled."""

from __future__ import annotations

import signal

from sqlalchemy import select

from bot.fakeserver import FakeBotApiServer
from storage.db import Database
from storage.models import Report
from tests.e2e.conftest import StartBot, seed_school_invite

PRINCIPAL = 1001


async def test_report_survives_a_kill_between_two_answers(
    api: FakeBotApiServer, e2e_db: Database, db_url: str, start_bot: StartBot
) -> None:
    code = await seed_school_invite(e2e_db)  # a milk school
    env = {"REMINDER_TICK_SECONDS": "3600"}  # keep reminders out of this conversation
    bot = await start_bot(api, db_url, **env)
    wang = api.user(PRINCIPAL, "王校长", "zh")
    wang.send(f"/start {code}")
    await bot.until(api, lambda: api.fake.sent(PRINCIPAL), 30, "the welcome")
    wang.send("/milk")
    await bot.until(api, lambda: any("2026年11月" in b["text"] for b in api.fake.buttons(PRINCIPAL)), 30, "periods")
    wang.press("2026年11月")
    await bot.until(api, lambda: "日参饮人数" in api.fake.texts(PRINCIPAL)[-1], 30, "the first question")
    wang.send("20")
    await bot.until(api, lambda: "供奶天数" in api.fake.texts(PRINCIPAL)[-1], 30, "the second question")

    # Killed at once: PTB may not have confirmed "20" yet, so the restarted bot can get it again.
    bot.proc.send_signal(signal.SIGKILL)
    await bot.proc.wait()
    bot = await start_bot(api, db_url, **env)
    await bot.until(api, lambda: len(api.fake.calls_to("getUpdates")) >= 2 and not api.pending, 40, "the backlog")

    wang.send("21")
    await bot.until(api, lambda: any("供奶企业" in b or "伊利" in b["text"] for b in api.fake.buttons(PRINCIPAL)), 30, "suppliers")
    wang.press("伊利")
    await bot.until(api, lambda: "事故" in api.fake.texts(PRINCIPAL)[-1] or "起" in api.fake.texts(PRINCIPAL)[-1], 30, "incidents")
    wang.send("0")
    await bot.until(api, lambda: any("提交" in b["text"] for b in api.fake.buttons(PRINCIPAL)), 30, "the review")
    wang.press("提交")
    await bot.until(api, lambda: any("已保存" in t for t in api.fake.texts(PRINCIPAL)), 30, "the receipt")
    assert await bot.terminate() == 0

    async with e2e_db.session() as session:
        reports = (await session.scalars(select(Report))).all()
    assert len(reports) == 1
    values = {v.field_key: v.num_value for v in reports[0].values}
    assert values["daily_drinkers"] == 20 and values["days_served"] == 21 and values["incidents"] == 0
    assert sum("已保存" in t for t in api.fake.texts(PRINCIPAL)) == 1
