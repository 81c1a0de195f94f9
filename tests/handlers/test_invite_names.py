"""/invite by school name (one match, several to choose from, none), and invite buttons under /overdue."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.core.i18n import t
from bot.offline.fakeapi import FakeTelegram
from bot.offline.simulator import Simulator
from storage.db import Database
from storage.models import AuditEntry, Invite, School
from tests.factories import add_person, add_school
from tests.nudging import overdue_list
from tests.service.test_scheduler_tick import App, app, at  # noqa: F401


async def seed(db: Database, clock: FixedClock) -> None:
    await add_school(db, clock, "HB001", "双堆集镇邹圩小学", "濉溪县")
    await add_school(db, clock, "HB002", "五沟镇袁店中心校", "濉溪县")
    await add_school(db, clock, "HB003", "濉溪县实验小学", "濉溪县")
    await add_school(db, clock, "XS001", "相山区实验小学", "相山区")


async def invites_for(db: Database) -> list[str]:
    async with db.session() as session:
        rows = await session.scalars(select(School.code).join(Invite, Invite.school_id == School.id).order_by(School.code))
        return list(rows.all())


async def test_a_name_or_part_of_one_invites_its_school(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    admin = sim.user(900, "陈主任")
    replies = await admin.send("/invite 邹圩 HB002")
    assert "HB001 双堆集镇邹圩小学: https://t.me/schoolbot_demo_bot?start=" in replies[0].text
    assert "HB002 五沟镇袁店中心校: https://t.me/" in replies[0].text
    assert await invites_for(db) == ["HB001", "HB002"]


async def test_a_name_matching_several_schools_offers_a_choice(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    admin = sim.user(900, "陈主任")
    replies = await admin.send("/invite 实验小学")
    assert replies[-1].text == "“实验小学”对应 2 所学校，请选择要邀请的一所（或改用学校代码）："
    assert replies[-1].labels == ["HB003 濉溪县实验小学（濉溪县）", "XS001 相山区实验小学（相山区）"]
    assert await invites_for(db) == [], "nothing is issued before the choice"
    chosen = await admin.press("XS001")
    assert "XS001 相山区实验小学: https://t.me/" in chosen[-1].text
    assert await invites_for(db) == ["XS001"]


async def test_district_staff_choose_only_within_their_district(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    await add_person(db, clock, 2001, "李老师", role="staff", district="濉溪县")
    staff = sim.user(2001, "李老师")
    # One match in their district: invited at once, the other district's school never shown.
    replies = await staff.send("/invite 实验小学")
    assert "HB003 濉溪县实验小学" in replies[0].text and "相山区" not in replies[0].text
    # A forged choice naming the other district's school issues nothing.
    async with db.session() as session:
        foreign = await session.scalar(select(School.id).where(School.code == "XS001"))
    pressed = await staff.press_data(f"invite:{foreign}", sim.fake.last(2001))
    assert not any("XS001" in r.text for r in pressed)
    assert sim.fake.calls_to("answerCallbackQuery")[-1].params["text"] == t("zh", "core.stale_button")
    assert await invites_for(db) == ["HB003"]


async def test_a_name_matching_nothing_says_so_and_issues_nothing(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    replies = await sim.user(900, "陈主任").send("/invite 邹圩 不存在的学校")
    assert replies[0].text == t("zh", "invite.unknown_schools", codes="不存在的学校")
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Invite)) == 0


async def test_overdue_offers_an_invite_for_schools_nobody_registered_for(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    chat = await overdue_list(app, db, clock, fake, at(11, 13, 10), user_id=2001)
    labels = [b["text"] for b in fake.buttons(2001)]
    # HB003 has nobody; HB002's only reporter blocked the bot (registered, so no invite).
    assert [label for label in labels if label.startswith("✉️")] == ["✉️ 邀请 HB003小学"]
    replies = await chat.press("✉️ 邀请 HB003小学")
    assert "HB003 HB003小学: https://t.me/" in replies[-1].text
    async with db.session() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "invite.issued"))
    assert entry is not None and entry.actor == 2001 and entry.subject == "HB003"


async def test_district_staff_get_no_invite_button_for_another_district(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await overdue_list(app, db, clock, fake, at(11, 13, 10), user_id=2002)
    assert not any(b["text"].startswith("✉️") for b in fake.buttons(2002))
