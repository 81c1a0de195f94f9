"""One truth per school, form and period: corrections are new versions, history is kept."""

from __future__ import annotations

import pytest

import asyncio
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from bot.app import build_application
from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.settings import Settings
from bot.offline.simulator import Reply, Simulator, UserChat
from storage.db import Database
from storage.models import AuditEntry, Draft
from tests.conftest import SHANGHAI
from tests.factories import add_school, register_principal, saved_reports, values_of


@pytest.fixture
def clock() -> FixedClock:
    """Wednesday 2 December 2026, 10:00: November is over and due on the 5th (issue 13: a month
    is filed once it is over, so these tests moved from 26 November)."""
    return FixedClock(datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI))


def last(replies: list[Reply]) -> Reply:
    return [reply for reply in replies if reply.text][-1]


async def file_milk(chat: UserChat, drinkers: str = "856", period: str = "★") -> Reply:
    await chat.send("/milk")
    await chat.press(period)
    await chat.send(drinkers)
    await chat.send("21")
    await chat.press("伊利")
    await chat.press("填 0")
    return last(await chat.press("提交"))


async def file_harvest(chat: UserChat, income: str) -> None:
    await chat.send("/harvest")
    await chat.press("★")
    await chat.press("蔬菜")
    await chat.send("2")
    await chat.send("300")  # a quantity: income without one is a warning to confirm (issue 13)
    await chat.send(income)
    await chat.send("80")
    await chat.send("/skip")
    await chat.press("提交")


async def test_second_report_for_a_period_is_offered_as_a_correction(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    await file_milk(chat)
    await chat.send("/milk")
    replies = await chat.press("★")
    offer = last(replies)
    assert "已经提交过" in offer.text and "第 1 版" in offer.text and "王校长" in offer.text
    assert "日参饮人数：856 人" in offer.text
    assert offer.labels[0] == "✏️ 更正这份报表" and any("2026年10月" in lab for lab in offer.labels)
    replies = await chat.press("更正这份报表")
    review = last(replies)
    assert "请核对" in review.text and "856" in review.text and "对已提交的第 1 版的更正" in review.text
    await chat.press("✏️ 日参饮人数")
    await chat.send("870")
    replies = await chat.press("提交")
    receipt = last(replies)
    assert "第 2 版" in receipt.text and "原第 1 版已保留" in receipt.text and "870" in receipt.text

    first, second = await saved_reports(db, "milk")
    assert (first.version, first.is_current, values_of(first)["daily_drinkers"]) == (1, False, Decimal(856))
    assert (second.version, second.is_current, values_of(second)["daily_drinkers"]) == (2, True, Decimal(870))
    assert second.supersedes_id == first.id and second.reporter_id == first.reporter_id
    async with db.session() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "report.corrected"))
    assert entry is not None and entry.actor == 1001 and entry.detail is not None
    assert entry.detail["report_id"] == second.id and entry.detail["supersedes"] == first.id


async def test_choosing_another_period_instead_of_correcting(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    await file_milk(chat)
    await chat.send("/milk")
    await chat.press("★")
    replies = await chat.press("2026年10月")
    assert "日参饮人数" in last(replies).text
    await chat.send("700")
    await chat.send("20")
    await chat.press("蒙牛")
    await chat.press("填 0")
    await chat.press("提交")
    periods = sorted((r.period, r.version) for r in await saved_reports(db, "milk"))
    assert periods == [("2026-10", 1), ("2026-11", 1)]


async def test_correct_command_lists_recent_reports_and_opens_the_review(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    replies = await chat.send("/correct")
    assert "没有可以更正的报表" in last(replies).text
    await file_milk(chat)
    replies = await chat.send("/correct")
    # Issue 13: each entry says when it was filed and its first choice, and can be withdrawn.
    assert last(replies).labels == ["学生奶 · 2026年11月 · 12-02 10:00 伊利 856 人", "↩️ 撤回"]
    replies = await chat.press("学生奶")
    assert "请核对" in last(replies).text and "更正" in last(replies).text
    await chat.press("✏️ 供奶企业")
    await chat.press("光明")
    await chat.press("提交")
    first, second = await saved_reports(db, "milk")
    assert values_of(first)["supplier"] == "yili" and values_of(second)["supplier"] == "bright"
    assert (second.version, second.is_current, first.is_current) == (2, True, False)


async def test_harvest_reports_are_separate_and_a_correction_keeps_its_series(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI))  # two quarters open: the period menu comes
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    await file_harvest(chat, "5000")
    await file_harvest(chat, "7000")
    first, second = await saved_reports(db, "harvest")
    assert first.series != second.series and first.is_current and second.is_current, "two harvests, both count"
    assert first.period == second.period == "2026-Q4"

    replies = await chat.send("/correct")
    labels = last(replies).labels
    assert any("5,000" in lab for lab in labels) and any("7,000" in lab for lab in labels)
    await chat.press("5,000")
    await chat.press("✏️ 销售收入")
    await chat.send("5200")
    await chat.press("提交")
    reports = await saved_reports(db, "harvest")
    assert len(reports) == 3
    correction = reports[-1]
    assert correction.series == first.series and correction.version == 2 and correction.supersedes_id == first.id
    current = sorted(values_of(r)["income"] for r in reports if r.is_current)  # type: ignore[type-var]
    assert current == [Decimal(5200), Decimal(7000)]


async def test_correction_of_an_on_time_report_after_the_deadline_stays_on_time(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    await file_milk(chat)
    clock.set(datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI))  # November milk was due 5 December
    await chat.send("/correct")
    await chat.press("学生奶")
    await chat.press("✏️ 供奶天数")  # issue 13: a correction that changes nothing is not saved
    await chat.send("20")
    replies = await chat.press("提交")
    assert "逾期" not in last(replies).text
    first, second = await saved_reports(db, "milk")
    assert second.version == 2 and second.is_late is False


async def test_new_report_while_a_draft_has_answers_asks_continue_or_discard(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    await chat.send("/milk")
    await chat.press("★")
    await chat.send("856")
    replies = await chat.send("/report")
    prompt = last(replies)
    assert "没填完的学生饮用奶月报（2026年11月）" in prompt.text and "1/4" in prompt.text and "供奶天数" in prompt.text
    assert prompt.labels == ["继续填写", "放弃，重新开始"]

    replies = await chat.press("继续填写")
    assert "请填写供奶天数" in last(replies).text
    replies = await chat.send("/insurance")
    assert "没填完" in last(replies).text
    replies = await chat.press("放弃")
    assert "请填写在校学生数" in last(replies).text, "discarding starts what was asked for"
    async with db.session() as session:
        draft = await session.scalar(select(Draft))
    assert draft is not None and draft.form_key == "insurance" and draft.answers == {}


async def test_same_form_again_continues_the_draft(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    await chat.send("/milk")
    await chat.press("★")
    await chat.send("856")
    replies = await chat.send("/milk")
    assert "请填写供奶天数" in last(replies).text


@pytest.mark.committed  # two Databases race on committed rows
async def test_two_reporters_submitting_the_same_period_at_once_file_one_version_and_tell_the_other(
    settings: Settings, db: Database, clock: FixedClock
) -> None:
    await add_school(db, clock)
    # Two bot processes: separate applications and engines on one database.
    fakes = [FakeTelegram(), FakeTelegram()]
    dbs = [Database(db.url), Database(db.url)]
    apps = [build_application(settings, request=FakeRequest(f), db=d, clock=clock) for f, d in zip(fakes, dbs, strict=True)]
    try:
        async with apps[0], apps[1]:
            sims = [Simulator(app, fake) for app, fake in zip(apps, fakes, strict=True)]
            chats = [
                await register_principal(sims[0], db, clock, user_id=1001),
                await register_principal(sims[1], db, clock, user_id=1002),
            ]
            for chat, drinkers in zip(chats, ("856", "860"), strict=True):
                await chat.send("/milk")
                await chat.press("★")
                await chat.send(drinkers)
                await chat.send("21")
                await chat.press("伊利")
                await chat.press("填 0")
            results = await asyncio.gather(*(chat.press("提交") for chat in chats))
            texts = sorted(last(replies).text for replies in results)
            assert "已保存" in texts[1] and "第 1 版" in texts[1]
            assert "刚被 王校长" in texts[0] and "没有保存" in texts[0], "the other one is told, not made version 2"
    finally:
        for d in dbs:
            await d.dispose()
    (report,) = await saved_reports(db, "milk")
    assert (report.version, report.is_current) == (1, True)
    async with db.session() as session:
        assert await session.scalar(select(Draft)) is None
        actions = list(await session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("report.%"))))
    assert actions == ["report.submitted"]
