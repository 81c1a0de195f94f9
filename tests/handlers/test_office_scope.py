"""Office actions confined to the sender's scope: broadcasts, their list and stop, nudges, digests and long lists.

District staff (``people.district_id`` set) act only within their district and on
their own broadcasts and nudges; city staff and admins everywhere. Queued
broadcasts and reminders ask again at send time whether the recipient still
qualifies.
"""

from __future__ import annotations

import pytest

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from bot.app import build_application
from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.delivery.sender import BroadcastSender, sender_of
from bot.settings import Settings
from bot.offline.simulator import Simulator, UserChat
from bot.core.textsplit import utf16_len
from scheduler.tick import ticker_of
from scheduler.plan import plan_tick
from storage.db import Database
from storage.models import AuditEntry, Broadcast, District, Person, School
from storage.digests import digest_rows
from tests.factories import add_person
from tests.handlers.test_broadcast import ADMIN, broadcasts, compose, received, rows_of, three_schools
from tests.service.test_scheduler_digests import two_districts
from tests.nudging import last_alert, office, only_button_data, overdue_list
from tests.service.test_scheduler_tick import App, app, at, reminders_to, rows, rows_school, tick  # noqa: F401  (fixture)

# The broadcast sender and the reminder tick write on their own connections: committed data.
pytestmark = pytest.mark.committed

DISTRICT_STAFF = 2002  # 相山区 in both worlds below
CITY_STAFF = 2001


async def district_id(db: Database, name: str) -> int:
    async with db.session() as session:
        found = await session.scalar(select(District.id).where(District.name == name))
        assert found is not None
        return int(found)


async def school_id(db: Database, code: str) -> int:
    async with db.session() as session:
        found = await session.scalar(select(School.id).where(School.code == code))
        assert found is not None
        return int(found)


async def audit_rows(db: Database, action: str) -> list[AuditEntry]:
    async with db.session() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))).all())


async def set_person(db: Database, telegram_id: int, **values: Any) -> None:
    async with db.session() as session:
        await session.execute(update(Person).where(Person.telegram_id == telegram_id).values(**values))


async def broadcast_world(db: Database, clock: FixedClock) -> None:
    """three_schools (濉溪县 HB001: 1001, 1002; 相山区 HB002: 1003; 杜集区 HB003: 1004), city and district staff."""
    await three_schools(db, clock)
    await add_person(db, clock, CITY_STAFF, "张干事", role="staff")
    await add_person(db, clock, DISTRICT_STAFF, "刘干事", role="staff", district="相山区")


# --- broadcast audiences ------------------------------------------------------------------


async def test_district_staff_broadcast_to_all_reaches_only_their_district(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await broadcast_world(db, clock)
    staff = sim.user(DISTRICT_STAFF, "刘干事")
    await staff.send("/broadcast")
    replies = await staff.press("全部校长")
    assert "收件人：1 人（1 所学校）" in replies[-1].text and "相山区" in replies[-1].text
    replies = await staff.send("相山区各校：请报送。")
    assert "将发送给 1 人（1 所学校）" in replies[-1].text
    await staff.press("确认发送")
    await sender_of(sim.app).run_until_idle()
    assert received(sim.fake, 1003) == ["相山区各校：请报送。"]
    assert all(received(sim.fake, chat) == [] for chat in (1001, 1002, 1004))
    assert {row.chat_id for row in await rows_of(db)} == {1003}


async def test_district_staff_scope_holds_for_every_segment(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await broadcast_world(db, clock)
    staff = sim.user(DISTRICT_STAFF, "刘干事")
    # Rural schools are in 濉溪县 and 杜集区 only: none in 相山区, so the audience is empty.
    await staff.send("/broadcast")
    await staff.press("城区 / 农村")
    replies = await staff.press("农村学校")
    assert "中没有可以接收通知的人" in replies[-1].text
    # The programme every school has: still only 相山区's principal.
    await staff.send("/broadcast")
    await staff.press("按项目")
    replies = await staff.press("校方责任险")
    assert "收件人：1 人（1 所学校）" in replies[-1].text


async def test_district_picker_lists_only_own_district(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await broadcast_world(db, clock)
    staff = sim.user(DISTRICT_STAFF, "刘干事")
    await staff.send("/broadcast")
    replies = await staff.press("按区县")
    district_buttons = [b for b in replies[-1].labels if b.endswith(("县", "区"))]
    assert district_buttons == ["相山区"]
    city = sim.user(CITY_STAFF, "张干事")
    await city.send("/broadcast")
    replies = await city.press("按区县")
    assert {"濉溪县", "相山区", "杜集区"} <= set(replies[-1].labels)


async def test_forged_district_callback_is_refused_and_never_widens_the_audience(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await broadcast_world(db, clock)
    staff = sim.user(DISTRICT_STAFF, "刘干事")
    await staff.send("/broadcast")
    await staff.press("按区县")
    (draft,) = await broadcasts(db)
    foreign = await district_id(db, "濉溪县")
    own = await district_id(db, "相山区")
    await staff.press_data(f"bc:{draft.id}:{draft.token}:d:{foreign}")
    assert "这个按钮已经失效了" in last_alert(sim.fake)
    async with db.session() as session:
        stored = await session.get(Broadcast, draft.id)
        assert stored is not None and stored.audience_args == {}
        # Even another district's id written into the draft itself does not widen it.
        stored.audience_args = {"districts": [foreign, own]}
    replies = await staff.press_data(f"bc:{draft.id}:{draft.token}:dd")
    assert "收件人：1 人（1 所学校）" in replies[-1].text
    replies = await staff.send("通知")
    assert "将发送给 1 人（1 所学校）" in replies[-1].text
    await staff.press("确认发送")
    await sender_of(sim.app).run_until_idle()
    assert {row.chat_id for row in await rows_of(db)} == {1003}
    assert received(sim.fake, 1001) == [] and received(sim.fake, 1002) == []


async def test_forged_audience_segment_keeps_the_district(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await broadcast_world(db, clock)
    staff = sim.user(DISTRICT_STAFF, "刘干事")
    await staff.send("/broadcast")
    (draft,) = await broadcasts(db)
    # A segment the menu never offers is refused; the city-wide "all" stays the district's.
    await staff.press_data(f"bc:{draft.id}:{draft.token}:a:everyone")
    assert "这个按钮已经失效了" in last_alert(sim.fake)
    replies = await staff.press_data(f"bc:{draft.id}:{draft.token}:a:all")
    assert "收件人：1 人（1 所学校）" in replies[-1].text


async def confirmed_city_notice(sim: Simulator, db: Database, clock: FixedClock) -> UserChat:
    """The broadcast world, and the admin's notice to every principal confirmed (queued, not yet sent)."""
    await broadcast_world(db, clock)
    admin = sim.user(ADMIN, "李主任")
    await compose(admin, "全部校长", "全市通知")
    await admin.press("确认发送")
    return admin


# --- broadcast list and stop --------------------------------------------------------------


async def test_district_staff_broadcasts_lists_only_their_own(sim: Simulator, db: Database, clock: FixedClock) -> None:
    admin = await confirmed_city_notice(sim, db, clock)
    staff = sim.user(DISTRICT_STAFF, "刘干事")
    await compose(staff, "全部校长", "区县通知")
    await staff.press("确认发送")
    city_id, district_bc = (b.id for b in await broadcasts(db))
    listed = (await staff.send("/broadcasts"))[-1]
    assert f"#{district_bc}" in listed.text and f"#{city_id}" not in listed.text
    assert listed.labels == [f"停止发送 #{district_bc}"]
    everything = (await admin.send("/broadcasts"))[-1].text
    assert f"#{district_bc}" in everything and f"#{city_id}" in everything
    city = (await sim.user(CITY_STAFF, "张干事").send("/broadcasts"))[-1].text
    assert f"#{district_bc}" in city and f"#{city_id}" in city


async def test_district_staff_cannot_stop_another_staff_members_broadcast(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await confirmed_city_notice(sim, db, clock)
    (broadcast,) = await broadcasts(db)
    staff = sim.user(DISTRICT_STAFF, "刘干事")
    await staff.send("/broadcasts")
    await staff.press_data(f"bcx:{broadcast.id}")
    assert "这个按钮已经失效了" in last_alert(sim.fake)
    (still,) = await broadcasts(db)
    assert still.status == "sending"
    assert {row.status for row in await rows_of(db)} == {"pending"}
    assert await audit_rows(db, "broadcast.stopped") == []
    await sender_of(sim.app).run_until_idle()
    assert received(sim.fake, 1001) == ["全市通知"]


async def test_city_staff_may_stop_an_admins_broadcast_and_it_is_audited(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await confirmed_city_notice(sim, db, clock)
    (broadcast,) = await broadcasts(db)
    (confirmed,) = await audit_rows(db, "broadcast.confirmed")
    assert (confirmed.actor, confirmed.subject) == (ADMIN, f"broadcast:{broadcast.id}")
    assert confirmed.detail is not None and confirmed.detail["recipients"] == 4 and confirmed.detail["audience"] == "all"
    city = sim.user(CITY_STAFF, "张干事")
    await city.send("/broadcasts")
    await city.press(f"#{broadcast.id}")
    (stopped,) = await audit_rows(db, "broadcast.stopped")
    assert (stopped.actor, stopped.subject) == (CITY_STAFF, f"broadcast:{broadcast.id}")
    assert stopped.detail is not None and stopped.detail["still_queued"] == 4
    # Pressed again: nothing is running, so nothing changes and nothing more is audited.
    await city.press_data(f"bcx:{broadcast.id}")
    assert len(await audit_rows(db, "broadcast.stopped")) == 1
    assert len(await audit_rows(db, "broadcast.confirmed")) == 1
    await sender_of(sim.app).run_until_idle()
    assert all(received(sim.fake, chat) == [] for chat in (1001, 1002, 1003, 1004))


# --- recipients re-checked at send time ----------------------------------------------------


async def test_recipient_deactivated_moved_or_promoted_after_queueing_gets_nothing(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await confirmed_city_notice(sim, db, clock)
    await set_person(db, 1001, active=False)
    await set_person(db, 1002, school_id=await school_id(db, "HB003"))  # moved to 杜集区
    await set_person(db, 1003, role="staff", school_id=None)
    await sender_of(sim.app).run_until_idle()
    assert received(sim.fake, 1004) == ["全市通知"]
    assert all(received(sim.fake, chat) == [] for chat in (1001, 1002, 1003))
    by_chat = {row.chat_id: row for row in await rows_of(db)}
    assert by_chat[1004].status == "sent"
    for chat in (1001, 1002, 1003):
        assert by_chat[chat].status == "cancelled" and "no longer in the audience" in (by_chat[chat].error or "")
    (broadcast,) = await broadcasts(db)
    assert broadcast.status == "done"
    # A restart (a new sender, a later round) sends nothing more.
    await BroadcastSender(sim.app).run_until_idle()
    assert all(received(sim.fake, chat) == [] for chat in (1001, 1002, 1003))
    assert len(received(sim.fake, 1004)) == 1


# --- office nudges -------------------------------------------------------------------------


async def test_forged_nudge_callback_naming_another_districts_school_is_refused(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    district = await overdue_list(app, db, clock, fake, at(11, 13, 22, 30), DISTRICT_STAFF)
    hb001 = await rows_school(db, "HB001")
    for data in (f"nudge:*:*:{hb001}", f"nudge:milk:2026-10:{hb001}", f"nudgenow:*:*:{hb001}:202611132230"):
        await district.press_data(data)
        assert last_alert(fake) == "这个按钮已失效，请重新发送 /overdue。", data
    assert await rows(db) == []
    assert await audit_rows(db, "nudge") == []
    clock.set(at(11, 14, 8, 0))
    await tick(app)
    assert not any(m["text"].startswith("📣") for m in fake.sent(1001))


async def test_nudge_all_from_district_staff_queues_only_their_district(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    district = await overdue_list(app, db, clock, fake, at(11, 13, 10), DISTRICT_STAFF)
    await district.press("全部提醒")
    await ticker_of(app).wait_idle()
    assert reminders_to(fake, 1101) == ["milk:2026-10"] and fake.sent(1001) == []
    assert {r.school_id for r in await rows(db)} == {await rows_school(db, "HB101")}
    (entry,) = await audit_rows(db, "nudge")
    assert (entry.actor, entry.subject) == (DISTRICT_STAFF, "HB101")


async def test_send_now_acts_only_on_the_senders_own_queued_nudges(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    admin = await overdue_list(app, db, clock, fake, at(11, 13, 22, 30))
    queued = await admin.press("全部提醒")
    send_now = only_button_data(queued[-1])
    # Another office member (city-wide) and a district staff member replay the admin's button.
    for other in (CITY_STAFF, DISTRICT_STAFF):
        chat = await office(app, fake, other)
        await chat.send("/help")
        replies = await chat.press_data(send_now)
        assert "已经发出了" in replies[-1].text or "没有" in replies[-1].text
        await ticker_of(app).wait_idle()
        assert fake.sent(1001) == [] and fake.sent(1101) == []
    assert {r.status for r in await rows(db)} == {"pending"}
    await admin.press_data(send_now)
    await ticker_of(app).wait_idle()
    assert reminders_to(fake, 1001) == ["milk:2026-10"] and reminders_to(fake, 1101) == ["milk:2026-10"]


async def test_nudge_is_audited_once_per_school_even_if_pressed_twice(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    chat = await overdue_list(app, db, clock, fake, at(11, 13, 10))
    await chat.press("提醒 HB001小学")
    await chat.send("/overdue")
    await chat.press("提醒 HB001小学")  # the same minute: nothing new queued
    (entry,) = await audit_rows(db, "nudge")
    assert (entry.actor, entry.subject) == (ADMIN, "HB001")
    assert entry.detail is not None and entry.detail["reports"] == ["milk:2026-10"] and entry.detail["queued"] == 1


async def test_principal_moved_after_a_nudge_was_queued_gets_nothing_for_the_old_school(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    chat = await overdue_list(app, db, clock, fake, at(11, 13, 22, 30))
    await chat.press("提醒 HB001小学")
    await set_person(db, 1001, school_id=await rows_school(db, "HB004"))  # HB004 has reported
    clock.set(at(11, 14, 8, 0))
    await tick(app)
    assert not any("HB001" in m["text"] for m in fake.sent(1001))
    (nudge,) = [r for r in await rows(db) if r.slot.startswith("manual-")]
    assert (nudge.status, nudge.error) == ("skipped", "no longer a reporter")
    clock.advance(timedelta(hours=1))
    await tick(app)
    assert not any("HB001" in m["text"] for m in fake.sent(1001))


async def test_principal_moved_after_the_reminder_was_planned_gets_no_reminder_for_the_old_school(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await two_districts(db, clock)
    clock.set(at(11, 12, 9, 5))  # October's d+7 reminder slot
    ticker = ticker_of(app)
    plan = await plan_tick(ticker.services, clock.now())
    assert any(c.telegram_id == 1001 for due in plan.reminders for c in due.candidates)
    await set_person(db, 1001, active=False)
    await set_person(db, 1101, school_id=await rows_school(db, "HB004"))
    report = await ticker._run(plan)
    assert fake.sent(1001) == [] and fake.sent(1101) == []
    hb001, hb101 = await rows_school(db, "HB001"), await rows_school(db, "HB101")
    gone = {r.school_id for r in await rows(db, slot="d+7") if (r.status, r.error) == ("skipped", "no longer a reporter")}
    assert gone == {hb001, hb101}
    assert report.sent == 0
    clock.advance(timedelta(minutes=5))
    await tick(app)
    assert fake.sent(1001) == [] and not any("HB101" in m["text"] for m in fake.sent(1101))


# --- long lists ----------------------------------------------------------------------------


async def many_overdue_schools(db: Database, clock: FixedClock, count: int = 300, *, blocked: bool = False) -> list[str]:
    """``count`` milk schools in two districts, each with one reporter and nothing filed."""
    codes = [f"MX{i:03d}" for i in range(count)]
    await add_person(db, clock, CITY_STAFF, "张老师", role="staff")
    await add_person(db, clock, DISTRICT_STAFF, "刘老师", role="staff", district="相山区")
    async with db.session() as session:
        from storage.schools import ensure_district, upsert_school

        districts = [await ensure_district(session, "濉溪县"), await ensure_district(session, "相山区")]
        for i, code in enumerate(codes):
            school, _ = await upsert_school(
                session,
                clock.now(),
                code=code,
                name=f"{code}第{i}中心小学",
                district=districts[i % 2],
                area="rural",
                programmes=("milk",),
            )
            session.add(
                Person(
                    telegram_id=50_000 + i,
                    name=f"校长{i}",
                    role="principal",
                    school_id=school.id,
                    language="zh",
                    blocked=blocked,
                    active=True,
                    created_at=clock.now(),
                )
            )
    return codes


def assert_split(messages: list[str], codes: list[str]) -> None:
    assert len(messages) > 1
    assert all(utf16_len(text) <= 4096 for text in messages)
    joined = "\n".join(messages)
    for code in codes:
        assert f"（{code}）" in joined, code


async def test_overdue_list_of_300_schools_arrives_in_pieces_with_every_school_and_buttons_last(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    codes = await many_overdue_schools(db, clock)
    clock.set(at(11, 13, 10))
    replies = await (await office(app, fake)).send("/overdue milk 2026-10")
    texts = [r.text for r in replies]
    assert_split(texts, codes)
    assert all(not r.buttons for r in replies[:-1]) and "全部提醒" in " ".join(replies[-1].labels)
    district = await (await office(app, fake, DISTRICT_STAFF)).send("/overdue milk 2026-10")
    district_text = "\n".join(r.text for r in district)
    assert "濉溪县" not in district_text and all(f"（{c}）" in district_text for c in codes[1::2])
    assert not any(f"（{c}）" in district_text for c in codes[0::2])


async def test_digest_of_300_schools_is_split_recorded_once_and_not_resent(
    app: App, settings: Settings, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    # Reporters who blocked the bot: the tick's 300 reminders are recorded, not sent, so only digests go out.
    codes = await many_overdue_schools(db, clock, blocked=True)
    clock.set(at(11, 13, 9, 5))
    ticker_of(app).part_interval = 0  # the pieces' one-second pause is Telegram's, not this test's
    report = await tick(app)
    assert report.digests_sent == 2
    city = fake.texts(CITY_STAFF)
    assert_split(city, codes)
    district = fake.texts(DISTRICT_STAFF)
    assert all(utf16_len(text) <= 4096 for text in district)
    district_text = "\n".join(district)
    assert "濉溪县" not in district_text and not any(f"（{c}）" in district_text for c in codes[0::2])
    assert all(f"（{c}）" in district_text for c in codes[1::2])
    async with db.session() as session:
        sent = [r for r in await digest_rows(session, kind="escalation") if r.status == "sent"]
    assert len(sent) == 2
    clock.advance(timedelta(minutes=5))
    await tick(app)
    assert fake.texts(CITY_STAFF) == city
    # A restart (a new application on a new connection pool) does not send it again either.
    second_db = Database(db.url)
    second = build_application(settings, request=FakeRequest(fake), db=second_db, clock=clock)
    try:
        async with second:
            clock.advance(timedelta(minutes=5))
            assert (await ticker_of(second).tick()).digests_sent == 0
    finally:
        await second_db.dispose()
    assert fake.texts(CITY_STAFF) == city


# --- summaries and exports -----------------------------------------------------------------


async def test_district_summary_and_export_contain_no_other_districts_schools(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    import io

    from openpyxl import load_workbook

    from tests.service.test_rollups import milk
    from tests.service.test_rollups import three_schools as rollup_schools
    from tests.handlers.test_summary_handlers import last_file

    a, b, _ = await rollup_schools(db, clock)  # HB001 邹圩小学 (濉溪县), HB002 张庄中学 and HB003 (杜集区)
    await milk(db, a, "2026-10", 300)  # 濉溪县 reported; 杜集区's milk school did not
    await add_person(db, clock, 2003, "杜集区干事", role="staff", district="杜集区")
    staff = sim.user(2003, "杜集区干事")
    text = (await staff.send("/summary milk 2026-10"))[-1].text
    assert "邹圩小学" not in text and "HB001" not in text and "濉溪县" not in text and "300" not in text
    await staff.send("/export milk 2026-10")
    _, data = last_file(sim, "sendDocument")
    book = load_workbook(io.BytesIO(data))
    cells = {str(cell.value) for sheet in book.worksheets for row in sheet.iter_rows() for cell in row if cell.value is not None}
    assert not any("邹圩小学" in c or "HB001" in c or "濉溪县" in c for c in cells)
    missing = [[cell.value for cell in row] for row in book["未报学校"].iter_rows(min_row=2)]
    assert [row[2] for row in missing] == ["HB002"]
    assert [row for row in book["报表明细"].iter_rows(min_row=2)] == []
    annual = "\n".join(r.text for r in await staff.send("/annual 2026"))
    assert "邹圩小学" not in annual and "濉溪县" not in annual


async def test_reminder_waiting_for_a_retry_is_dropped_when_its_principal_moves(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    from tests.service.test_scheduler_tick import milk_school

    await milk_school(db, clock, "HB001", {1001: "王校长"})
    await milk_school(db, clock, "HB002", {}, filed=("2026-09", "2026-10", "2026-11"))
    fake.fail("sendMessage", "server_error")
    clock.set(at(12, 2, 9, 5))
    await tick(app)
    (row,) = await rows(db)
    assert row.status == "retry"
    await set_person(db, 1001, school_id=await rows_school(db, "HB002"))
    clock.advance(timedelta(minutes=5))
    report = await tick(app)
    assert report.skipped == 1 and fake.sent(1001) == []
    (row,) = await rows(db)
    assert (row.status, row.error) == ("skipped", "no longer a reporter")
    clock.advance(timedelta(days=1))
    await tick(app)
    assert fake.sent(1001) == []


async def test_admin_with_a_leftover_district_still_acts_city_wide(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await broadcast_world(db, clock)
    admin = sim.user(ADMIN, "李主任")
    await admin.send("/help")  # the admin row is made from ADMIN_IDS at the first update
    await set_person(db, ADMIN, district_id=await district_id(db, "相山区"))
    await admin.send("/broadcast")
    replies = await admin.press("全部校长")
    assert "收件人：4 人（3 所学校）" in replies[-1].text
