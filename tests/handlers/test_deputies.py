"""Deputies (issue 15 point 3): a principal invites and removes other reporters of the school via ``/deputy``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.offline.simulator import Simulator, UserChat
from storage.db import Database
from storage.models import AuditEntry, Invite, Person
from tests.conftest import SHANGHAI
from tests.factories import add_person, add_school, register_principal, register_staff, saved_reports
from tests.handlers.test_report_corrections import file_milk

LINK = re.compile(r"https://t\.me/schoolbot_demo_bot\?start=([A-Za-z0-9_-]{16,})")


@pytest.fixture
def clock() -> FixedClock:
    """Wednesday 2 December 2026, 10:00: November's milk report is open and due on the 5th."""
    return FixedClock(datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI))


def ghost(chat_id: int) -> dict[str, Any]:
    """A message the bot never sent: where a forged button press claims to come from."""
    return {"message_id": 424242, "date": 1_700_000_000, "chat": {"id": chat_id, "type": "private"}, "text": "?"}


def last_answer(sim: Simulator) -> dict[str, Any]:
    return sim.fake.calls_to("answerCallbackQuery")[-1].params


async def person(db: Database, telegram_id: int) -> Person:
    async with db.session() as session:
        found = await session.scalar(select(Person).where(Person.telegram_id == telegram_id))
    assert found is not None
    return found


async def audit_rows(db: Database, action: str) -> list[AuditEntry]:
    async with db.session() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def invite_count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Invite)) or 0)


async def deputy_link(principal: UserChat) -> str:
    """The code of a fresh deputy invite, as the principal gets it from ``/deputy``."""
    await principal.send("/deputy")
    replies = await principal.press("邀请一位副填报人")
    match = LINK.search(replies[-1].text)
    assert match is not None, replies[-1].text
    return match.group(1)


async def with_deputy(sim: Simulator, db: Database, clock: FixedClock) -> tuple[UserChat, UserChat]:
    """School HB001 with principal 1001 and deputy 1002 (张老师), registered through the link."""
    await add_school(db, clock)
    principal = await register_principal(sim, db, clock)
    code = await deputy_link(principal)
    deputy = sim.user(1002, "张老师")
    await deputy.send(f"/start {code}")
    return principal, deputy


async def test_principal_invites_a_deputy_who_registers_as_reporter_and_files(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    principal, deputy = await with_deputy(sim, db, clock)
    assert "副填报人" in deputy.texts[-1] and "邹圩小学" in deputy.texts[-1]
    registered = await person(db, 1002)
    assert registered.role == "reporter" and registered.school is not None and registered.school.code == "HB001"
    (invited,) = await audit_rows(db, "deputy.invited")
    assert (invited.actor, invited.subject, invited.detail) == (1001, "HB001", {"role": "reporter", "expires_days": 7})
    receipt = await file_milk(deputy)
    assert "已保存" in receipt.text or "已提交" in receipt.text
    (report,) = await saved_reports(db, "milk")
    assert report.reporter_id == registered.id
    listing = await principal.send("/deputy")
    assert "张老师" in listing[-1].text and "移除 张老师" in listing[-1].labels
    people = (await sim.user(900, "陈主任").send("/people HB001"))[-1].text
    assert "张老师" in people and "副填报人" in people


async def test_deputy_sees_the_reporting_commands_but_not_deputy(sim: Simulator, db: Database, clock: FixedClock) -> None:
    principal, deputy = await with_deputy(sim, db, clock)
    help_text = (await deputy.send("/help"))[-1].text
    assert "副填报人" in help_text and "/report" in help_text and "/deputy" not in help_text
    assert "/deputy" in (await principal.send("/help"))[-1].text


async def test_a_deputy_inviting_a_deputy_is_refused_plainly(sim: Simulator, db: Database, clock: FixedClock) -> None:
    _, deputy = await with_deputy(sim, db, clock)
    before = await invite_count(db)
    replies = await deputy.send("/deputy")
    assert "只有本校校长可以邀请或移除副填报人" in replies[-1].text and not replies[-1].buttons
    await deputy.press_data("deputy:invite", ghost(1002))
    answer = last_answer(sim)
    assert "只有本校校长" in answer["text"] and answer["show_alert"] is True
    assert not LINK.search(" ".join(deputy.texts))
    assert await invite_count(db) == before
    assert len(await audit_rows(db, "deputy.invited")) == 1


async def test_staff_cannot_use_deputy(sim: Simulator, db: Database, clock: FixedClock) -> None:
    staff = await register_staff(sim, db, clock)
    replies = await staff.send("/deputy")
    assert "没有使用这个命令的权限" in replies[-1].text
    await staff.press_data("deputy:rmok:1002", ghost(2001))
    assert "没有使用这个命令的权限" in last_answer(sim)["text"]


async def test_principal_removes_a_deputy_after_confirming_and_history_stays(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    principal, deputy = await with_deputy(sim, db, clock)
    await file_milk(deputy)
    await principal.send("/deputy")
    asked = await principal.press("移除 张老师")
    assert "确定移除副填报人 张老师" in asked[-1].text and asked[-1].edited
    assert (await person(db, 1002)).active is True  # asking changes nothing
    done = await principal.press("确认移除")
    assert "张老师" not in done[-1].text and "还没有副填报人" in done[-1].text
    assert "已移除 张老师" in last_answer(sim)["text"]
    removed = await person(db, 1002)
    assert removed.active is False and removed.role == "reporter"
    (report,) = await saved_reports(db, "milk")
    assert report.reporter_id == removed.id and report.reporter is not None and report.reporter.name == "张老师"
    (row,) = await audit_rows(db, "deputy.removed")
    assert (row.actor, row.subject, row.detail) == (1001, "HB001", {"person": "person:1002", "name": "张老师"})
    # A second press on the same confirm button removes nothing and records nothing.
    await principal.press_data("deputy:rmok:1002", ghost(1001))
    assert "不是本校的副填报人" in last_answer(sim)["text"]
    assert len(await audit_rows(db, "deputy.removed")) == 1


async def test_removed_deputy_trying_to_file_is_refused(sim: Simulator, db: Database, clock: FixedClock) -> None:
    principal, deputy = await with_deputy(sim, db, clock)
    await deputy.send("/milk")
    await deputy.press("★")  # a draft in flight when the principal removes them
    await principal.send("/deputy")
    await principal.press("移除 张老师")
    await principal.press("确认移除")
    replies = await deputy.send("856")
    replies += await deputy.send("/milk")
    assert all("邀请链接" in r.text or "注册" in r.text for r in replies if r.text), [r.text for r in replies]
    assert not any("日参饮" in r.text for r in replies)
    assert await saved_reports(db, "milk") == []


async def test_principal_removing_someone_of_another_school_is_refused(sim: Simulator, db: Database, clock: FixedClock) -> None:
    principal, _ = await with_deputy(sim, db, clock)
    await add_school(db, clock, code="HB002", name="袁店中心校")
    await add_person(db, clock, 3001, "外校副手", role="reporter", school_code="HB002")
    await add_person(db, clock, 3002, "本校另一位校长", school_code="HB001")
    for data in ("deputy:rm:3001", "deputy:rmok:3001", "deputy:rmok:3002", "deputy:rmok:1001"):
        replies = await principal.press_data(data, ghost(1001))
        answer = last_answer(sim)
        assert "不是本校的副填报人" in answer["text"] and answer["show_alert"] is True, data
        assert not any("袁店" in r.text or "外校副手" in r.text for r in replies)
    for telegram_id in (3001, 3002, 1001):
        assert (await person(db, telegram_id)).active is True
    assert await audit_rows(db, "deputy.removed") == []


async def test_forged_deputy_data_is_a_stale_button(sim: Simulator, db: Database, clock: FixedClock) -> None:
    principal, _ = await with_deputy(sim, db, clock)
    for data in ("deputy:rm:abc", "deputy:rm:", "deputy:zap:1002", "deputy:rm:1002:9", "deputy:rmok:-5"):
        await principal.press_data(data, ghost(1001))
        assert last_answer(sim)["show_alert"] is True, data
    assert (await person(db, 1002)).active is True


async def test_deputy_invite_used_twice_is_refused(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    principal = await register_principal(sim, db, clock)
    code = await deputy_link(principal)
    await sim.user(1002, "张老师").send(f"/start {code}")
    replies = await sim.user(1003, "赵老师").send(f"/start {code}")
    assert "无效、已被使用或已过期" in replies[-1].text and "邹圩小学" not in replies[-1].text
    async with db.session() as session:
        assert await session.scalar(select(Person).where(Person.telegram_id == 1003)) is None


async def test_expired_deputy_invite_is_refused(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    principal = await register_principal(sim, db, clock)
    code = await deputy_link(principal)
    clock.advance(timedelta(days=7, minutes=1))
    replies = await sim.user(1002, "张老师").send(f"/start {code}")
    assert "已过期" in replies[-1].text
    async with db.session() as session:
        assert await session.scalar(select(Person).where(Person.telegram_id == 1002)) is None


async def test_principal_opening_their_own_deputy_link_stays_principal(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    principal = await register_principal(sim, db, clock)
    code = await deputy_link(principal)
    await principal.send(f"/start {code}")
    assert (await person(db, 1001)).role == "principal"
    replies = await sim.user(1002, "张老师").send(f"/start {code}")
    assert "无效" in replies[-1].text  # the link is spent


async def test_overdue_list_names_deputies_marked(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await with_deputy(sim, db, clock)
    staff = await register_staff(sim, db, clock)
    clock.set(datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI))  # November's milk is 3 days overdue
    text = "\n".join(r.text for r in await staff.send("/overdue"))
    assert "王校长、张老师（副）" in text


async def test_deputies_are_told_of_an_office_filing_and_cannot_file_for_another_school(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    from tests.handlers.test_on_behalf import CITY, REASON, answer_milk, received, world

    clock.set(datetime(2027, 1, 10, 10, 0, tzinfo=SHANGHAI))  # October 2026 is locked
    await world(db, clock)
    await add_person(db, clock, 1002, "张老师", role="reporter", school_code="HB001")
    deputy = sim.user(1002, "张老师")
    refused = (await deputy.send("/report_for HB101 milk 2026-10"))[-1].text
    assert "没有使用这个命令的权限" in refused
    staff = sim.user(CITY, "张干事")
    await staff.send("/report_for HB001 milk 2026-10")
    await staff.send(REASON)
    await answer_milk(staff)
    receipt = (await staff.press("提交"))[-1].text
    assert "已告知该校 2 位填报人" in receipt
    assert received(sim, 1002)[-1].startswith("📋 办公室 张干事 代填了 2026年10月")
