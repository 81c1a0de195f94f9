"""Invites and /start: registering principals and staff, refusing bad codes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.offline.simulator import Simulator
from storage.db import Database
from storage.models import Invite, Person
from tests.factories import add_school, invite_code, register_principal


async def test_principal_registers_with_invite_link(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    code = await invite_code(db, clock, "HB001")
    chat = sim.user(1001, "王校长")
    replies = await chat.send(f"/start {code}")
    assert "邹圩小学" in replies[-1].text and "填报人" in replies[-1].text
    async with db.session() as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == 1001))
    assert person is not None and person.role == "principal" and person.school is not None
    assert person.school.code == "HB001"
    menus = [c for c in sim.fake.calls_to("setMyCommands") if c.params.get("scope", {}).get("chat_id") == 1001]
    assert menus, "registration sets the principal's command menu"


async def test_start_without_code_explains_and_shows_id(sim: Simulator) -> None:
    replies = await sim.user(4242, "路人").send("/start")
    assert "邀请链接" in replies[0].text and "4242" in replies[0].text


async def test_english_speaker_is_answered_in_english(sim: Simulator) -> None:
    replies = await sim.user(4243, "Ann", language_code="en-GB").send("/start")
    assert "invite link" in replies[0].text


async def test_second_invite_use_is_refused(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    code = await invite_code(db, clock, "HB001")
    await sim.user(1001).send(f"/start {code}")
    replies = await sim.user(1002).send(f"/start {code}")
    assert "无效、已被使用或已过期" in replies[0].text
    assert "邹圩小学" not in replies[0].text
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Person)) == 1


async def test_expired_invite_is_refused(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    code = await invite_code(db, clock, "HB001")
    clock.advance(timedelta(days=31))
    replies = await sim.user(1001).send(f"/start {code}")
    assert "已过期" in replies[0].text


async def test_forged_code_reveals_nothing(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    replies = await sim.user(1001).send("/start AAAAAAAAAAAAAAAA")
    assert "邹圩小学" not in replies[0].text and "HB001" not in replies[0].text
    assert "无效" in replies[0].text


async def test_sixth_bad_code_in_ten_minutes_is_throttled(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    chat = sim.user(1001)
    for i in range(5):
        await chat.send(f"/start forged{i:011d}")
    good = await invite_code(db, clock, "HB001")
    replies = await chat.send(f"/start {good}")
    assert "尝试次数过多" in replies[0].text
    clock.advance(timedelta(minutes=11))
    replies = await chat.send(f"/start {good}")
    assert "邹圩小学" in replies[0].text


async def test_invite_codes_are_stored_hashed(db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    code = await invite_code(db, clock, "HB001")
    assert len(code) >= 16  # 96 bits of token_urlsafe
    async with db.session() as session:
        stored = (await session.scalars(select(Invite.code_hash))).all()
    assert code not in stored and len(stored[0]) == 64


async def test_school_may_have_two_reporters(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    await register_principal(sim, db, clock, 1001)
    await register_principal(sim, db, clock, 1002)
    async with db.session() as session:
        count = await session.scalar(select(func.count()).select_from(Person).where(Person.role == "principal"))
    assert count == 2


async def test_staff_invite_makes_staff(sim: Simulator, db: Database, clock: FixedClock) -> None:
    code = await invite_code(db, clock)
    replies = await sim.user(2001, "李老师").send(f"/start {code}")
    assert "办公室工作人员" in replies[0].text


async def test_admin_removes_staff_and_a_second_press_is_harmless(sim: Simulator, db: Database, clock: FixedClock) -> None:
    from tests.factories import register_staff

    await register_staff(sim, db, clock, 2001)
    admin = sim.user(900, "陈主任")
    listing = await admin.send("/staff")
    assert "李老师" in listing[0].text
    remove = next(b for row in listing[0].buttons for b in row if "李老师" in b["text"])
    message = sim.fake.last(900)
    await admin.press_data(remove["callback_data"], message)
    again = await admin.press_data(remove["callback_data"], message)
    assert not any("临时故障" in r.text for r in again)
    async with db.session() as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == 2001))
    assert person is not None and person.active is False
    replies = await sim.user(2001, "李老师").send("/overdue")
    assert "没有使用这个命令的权限" in replies[0].text


async def test_non_admin_cannot_open_the_staff_list(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    replies = await chat.send("/staff")
    assert "没有使用这个命令的权限" in replies[0].text
    replies = await chat.press_data("staff:invite")
    assert not sim.fake.calls_to("sendMessage")[-1].params["text"].startswith("工作人员邀请链接")


async def test_forged_staff_removal_on_an_uneditable_message_is_harmless(sim: Simulator, db: Database, clock: FixedClock) -> None:
    from tests.factories import register_staff

    await register_staff(sim, db, clock, 2001)
    admin = sim.user(900, "陈主任")
    ghost = {"message_id": 424242, "date": 1_700_000_000, "chat": {"id": 900, "type": "private"}, "text": "?"}
    replies = await admin.press_data("staff:rm:2001", ghost)
    assert not any("临时故障" in r.text for r in replies)


async def test_repeated_throttled_starts_write_at_most_one_throttle_row(sim: Simulator, db: Database, clock: FixedClock) -> None:
    from storage.models import AuditEntry

    await add_school(db, clock)
    chat = sim.user(1001)
    for i in range(5):
        await chat.send(f"/start forged{i:011d}")
    good = await invite_code(db, clock, "HB001")
    for _ in range(10):
        replies = await chat.send(f"/start {good}")
        assert "尝试次数过多" in replies[0].text
    async with db.session() as session:
        actions = list((await session.scalars(select(AuditEntry.action).where(AuditEntry.actor == 1001))).all())
    assert actions.count("invite.refused") == 5
    assert actions.count("invite.throttled") <= 1
    # The throttle still lifts once the refusals age out of the window.
    clock.advance(timedelta(minutes=11))
    assert "邹圩小学" in (await chat.send(f"/start {good}"))[0].text


async def test_registration_is_audited_with_the_school_code(sim: Simulator, db: Database, clock: FixedClock) -> None:
    from storage.models import AuditEntry

    await add_school(db, clock)
    await register_principal(sim, db, clock, 1001)
    async with db.session() as session:
        rows = (await session.scalars(select(AuditEntry).where(AuditEntry.action.like("invite.%")).order_by(AuditEntry.id))).all()
    assert [(r.action, r.subject) for r in rows] == [("invite.issued", "HB001"), ("invite.redeemed", "HB001")]
    assert rows[1].actor == 1001 and rows[1].detail is not None and rows[1].detail["role"] == "principal"


async def test_staff_list_is_split_when_long_with_buttons_under_the_last_piece(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    from bot.core.textsplit import utf16_len
    from tests.factories import add_person

    for n in range(45):
        await add_person(
            db, clock, 3000 + n, f"工作人员{n:02d}号（淮北市教育局勤工俭学管理办公室城区组与农村组联络）" * 3, role="staff"
        )
    replies = await sim.user(900, "陈主任").send("/staff")
    assert len(replies) > 1 and all(utf16_len(r.text) <= 4096 for r in replies)
    assert not any(r.buttons for r in replies[:-1]) and replies[-1].buttons
