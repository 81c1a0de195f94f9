"""Corrections never silently overwrite: a submission is saved only on top of the version its
principal saw, a draft belongs to its school, and every version is audited."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from bot.core.clock import FixedClock
from bot.offline.simulator import Reply, Simulator, UserChat
from storage.db import Database
from storage.models import AuditEntry, Draft, Person, Report, School
from storage.reports import CurrentChanged, NewReport, save_report_retrying
from tests.conftest import SHANGHAI
from tests.factories import add_person, add_school, register_principal, saved_reports, values_of
from tests.handlers.test_report_corrections import file_milk
from tests.handlers.test_report_stale import data_of, milk_at_review

# Committed data: processes race on committed data.
pytestmark = pytest.mark.committed


def last(replies: list[Reply]) -> Reply:
    return [reply for reply in replies if reply.text][-1]


async def two_principals(sim: Simulator, db: Database, clock: FixedClock) -> tuple[UserChat, UserChat]:
    """王校长 (registered by invite) and 李校长 (written directly), both reporters of HB001."""
    await add_school(db, clock)
    wang = await register_principal(sim, db, clock)
    await add_person(db, clock, 1002, "李校长", school_code="HB001")
    return wang, sim.user(1002, "李校长")


async def correction_at_review(chat: UserChat, drinkers: str) -> Reply:
    """/correct the November milk report, changing the daily drinkers; stop at the review."""
    await chat.send("/correct")
    await chat.press("学生奶")
    await chat.press("✏️ 日参饮人数")
    return last(await chat.send(drinkers))


async def audit_rows(db: Database) -> list[AuditEntry]:
    async with db.session() as session:
        query = select(AuditEntry).where(AuditEntry.action.like("report.%")).order_by(AuditEntry.id)
        return list(await session.scalars(query))


async def drafts(db: Database) -> list[Draft]:
    async with db.session() as session:
        return list(await session.scalars(select(Draft)))


async def test_a_correction_opened_on_a_version_corrected_meanwhile_is_refused_with_the_current_figures(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    wang, li = await two_principals(sim, db, clock)
    await file_milk(wang)
    review = await correction_at_review(wang, "870")
    assert "对已提交的第 1 版的更正" in review.text
    # Meanwhile 李校长 corrects the same report: version 2.
    clock.set(datetime(2026, 11, 26, 10, 5, tzinfo=SHANGHAI))
    await correction_at_review(li, "880")
    assert "第 2 版" in last(await li.press("提交")).text

    clock.set(datetime(2026, 11, 26, 10, 9, tzinfo=SHANGHAI))
    refused = last(await wang.press("提交"))
    assert "这份报表刚被 李校长 在 11月26日 10:05 更正为第 2 版" in refused.text and "没有保存" in refused.text
    current_figures, own_answers = refused.text.split("你刚才填写的内容")
    assert "日参饮人数：880 人" in current_figures, "the version now current is shown"
    assert "日参饮人数：870 人" in own_answers, "what the principal typed is not lost"
    first, second = await saved_reports(db, "milk")
    assert (second.version, second.is_current, values_of(second)["daily_drinkers"]) == (2, True, Decimal(880))
    assert await drafts(db) == [], "the stale correction's draft ends"
    assert [row.detail["version"] for row in await audit_rows(db) if row.detail] == [1, 2], "nothing audited for it"

    # The button corrects the current version, not the one the stale draft saw.
    assert refused.labels == ["✏️ 在第 2 版基础上更正"] and data_of(refused, "更正") == f"fix:{second.id}"
    assert len(data_of(refused, "更正").encode()) <= 64
    again = last(await wang.press("在第 2 版基础上更正"))
    assert "对已提交的第 2 版的更正" in again.text and "880" in again.text
    await wang.press("✏️ 日参饮人数")
    await wang.send("870")
    receipt = last(await wang.press("提交"))
    assert "已保存" in receipt.text and "第 3 版" in receipt.text
    third = (await saved_reports(db, "milk"))[-1]
    assert (third.version, third.supersedes_id, values_of(third)["daily_drinkers"]) == (3, second.id, Decimal(870))


async def test_the_later_of_two_racing_first_submissions_is_told_the_report_was_just_filed(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    wang, li = await two_principals(sim, db, clock)
    # Both start November's milk before either has filed it: both drafts reach the review.
    await milk_at_review(wang)
    await li.send("/milk")
    await li.press("★")
    await li.send("900")
    await li.send("20")
    await li.press("蒙牛")
    assert "请核对" in last(await li.press("填 0")).text
    clock.set(datetime(2026, 11, 26, 10, 5, tzinfo=SHANGHAI))
    assert "第 1 版" in last(await li.press("提交")).text

    told = last(await wang.press("提交"))
    assert "这份报表刚被 李校长 在 11月26日 10:05 提交了（第 1 版）" in told.text and "没有保存" in told.text
    filed, own = told.text.split("你刚才填写的内容")
    assert "日参饮人数：900 人" in filed and "蒙牛" in filed, "the report just filed is shown"
    assert "日参饮人数：856 人" in own and "伊利" in own
    (report,) = await saved_reports(db, "milk")
    assert (report.version, report.is_current, report.reporter_id) == (1, True, (await person(db, 1002)).id)
    assert [row.action for row in await audit_rows(db)] == ["report.submitted"], "no version 2, no 'correction'"
    assert await drafts(db) == []
    assert data_of(told, "在第 1 版基础上更正") == f"fix:{report.id}"
    opened = last(await wang.press("在第 1 版基础上更正"))
    assert "对已提交的第 1 版的更正" in opened.text and "900" in opened.text


async def test_harvest_entries_filed_at_once_by_two_reporters_both_count(sim: Simulator, db: Database, clock: FixedClock) -> None:
    chats = await two_principals(sim, db, clock)
    for chat, income in zip(chats, ("5000", "7000"), strict=True):
        await chat.send("/harvest")
        await chat.press("★")
        await chat.press("蔬菜")
        await chat.send("2")
        await chat.send("300")  # a quantity: income without one is a warning to confirm (issue 13)
        await chat.send(income)
        await chat.send("80")
        await chat.send("/skip")
    for chat in chats:
        assert "已保存" in last(await chat.press("提交")).text
    reports = await saved_reports(db, "harvest")
    assert [(r.version, r.is_current) for r in reports] == [(1, True), (1, True)]
    assert reports[0].series != reports[1].series


async def test_first_submissions_racing_across_processes_save_exactly_one_version(db: Database, clock: FixedClock) -> None:
    school = await add_school(db, clock)
    first = NewReport(
        school_id=school.id,
        form_key="milk",
        form_version=1,
        period="2026-11",
        values={"daily_drinkers": (Decimal(856), None)},
        reporter_id=None,
        submitted_at=clock.now(),
        is_late=False,
        based_on=None,
        check_based_on=True,
    )
    # Separate engines act as separate bot processes, each sure the report is not filed yet.
    others = [Database(db.url) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(
                save_report_retrying(d, replace(first, values={"daily_drinkers": (Decimal(800 + i), None)}))
                for i, d in enumerate(others)
            ),
            return_exceptions=True,
        )
    finally:
        for d in others:
            await d.dispose()
    saved = [r for r in results if isinstance(r, Report)]
    refused = [r for r in results if isinstance(r, CurrentChanged)]
    assert len(saved) == 1 and len(refused) == 3, results
    assert {exc.current_id for exc in refused} == {saved[0].id}
    (report,) = await saved_reports(db, "milk")
    assert (report.version, report.is_current) == (1, True)

    # A correction made against version 1 after another one superseded it writes nothing either.
    correction = replace(first, based_on=report.id)
    await save_report_retrying(db, correction)
    with pytest.raises(CurrentChanged):
        await save_report_retrying(db, correction)
    assert [r.version for r in await saved_reports(db, "milk")] == [1, 2]


async def person(db: Database, telegram_id: int) -> Person:
    async with db.session() as session:
        found = await session.scalar(select(Person).where(Person.telegram_id == telegram_id))
    assert found is not None
    return found


async def move_to(db: Database, telegram_id: int, school_code: str) -> None:
    async with db.session() as session:
        school_id = await session.scalar(select(School.id).where(School.code == school_code))
        await session.execute(update(Person).where(Person.telegram_id == telegram_id).values(school_id=school_id))


@pytest.mark.parametrize("next_update", ["submit", "answer", "status"])
async def test_a_correction_draft_is_discarded_when_its_principal_moves_to_another_school(
    sim: Simulator, db: Database, clock: FixedClock, next_update: str
) -> None:
    await add_school(db, clock)
    await add_school(db, clock, code="HB002", name="城关小学")
    chat = await register_principal(sim, db, clock)
    await file_milk(chat)
    await chat.send("/correct")
    await chat.press("学生奶")  # at the review
    if next_update == "answer":
        await chat.press("✏️ 日参饮人数")
    await move_to(db, 1001, "HB002")  # reassigned by the office while the draft is open

    sent = {"submit": lambda: chat.press("提交"), "answer": lambda: chat.send("870"), "status": lambda: chat.send("/status")}
    replies = await sent[next_update]()
    texts = [reply.text for reply in replies if reply.text]
    assert any("你已不再是邹圩小学的填报人" in text and "已作废" in text for text in texts), texts
    assert not any("没填完" in text for text in texts), "the discarded draft is not offered to continue"
    (report,) = await saved_reports(db, "milk")
    assert (report.version, report.is_current) == (1, True), "nothing saved under the old school"
    async with db.session() as session:
        new_school = await session.scalar(select(School.id).where(School.code == "HB002"))
    assert all(r.school_id != new_school for r in await saved_reports(db)), "nor under the new one"
    assert await drafts(db) == []


@pytest.mark.parametrize("next_update", ["submit", "answer", "status"])
async def test_a_new_report_draft_is_discarded_when_its_principal_moves_to_another_school(
    sim: Simulator, db: Database, clock: FixedClock, next_update: str
) -> None:
    await add_school(db, clock)
    await add_school(db, clock, code="HB002", name="城关小学")
    chat = await register_principal(sim, db, clock)
    if next_update == "answer":
        await chat.send("/milk")
        await chat.press("★")  # November chosen, the first question asked
    else:
        await milk_at_review(chat)
    (draft,) = await drafts(db)
    assert draft.school_id is not None, "a draft records the school it was started for"
    await move_to(db, 1001, "HB002")  # reassigned by the office while the draft is open

    sent = {"submit": lambda: chat.press("提交"), "answer": lambda: chat.send("856"), "status": lambda: chat.send("/status")}
    replies = await sent[next_update]()
    texts = [reply.text for reply in replies if reply.text]
    assert any("你已不再是邹圩小学的填报人" in text and "已作废" in text for text in texts), texts
    assert await saved_reports(db) == [], "nothing saved under the old school nor the new one"
    assert await drafts(db) == []


async def test_every_version_is_audited_under_the_school_code_with_the_changed_fields(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    await file_milk(chat)
    await correction_at_review(chat, "870")
    await chat.press("✏️ 供奶企业")
    await chat.press("光明")
    await chat.press("提交")
    first, second = await saved_reports(db, "milk")

    submitted, corrected = await audit_rows(db)
    assert (submitted.action, submitted.actor, submitted.subject) == ("report.submitted", 1001, "HB001")
    assert submitted.detail == {
        "form": "milk",
        "period": "2026-10",
        "version": 1,
        "report_id": first.id,
        "supersedes": None,
    }
    assert (corrected.action, corrected.actor, corrected.subject) == ("report.corrected", 1001, "HB001")
    assert corrected.detail == {
        "form": "milk",
        "period": "2026-10",
        "version": 2,
        "report_id": second.id,
        "supersedes": first.id,
        "changed": {
            "daily_drinkers": {"before": "856", "after": "870"},
            "supplier": {"before": "yili", "after": "bright"},
        },
    }
