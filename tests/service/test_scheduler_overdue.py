"""/overdue for office staff: the list, nudges (also at night), and buttons that went stale or were forged."""

from __future__ import annotations

from datetime import timedelta

from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeTelegram
from bot.offline.simulator import Simulator
from scheduler.tick import ticker_of
from storage.db import Database
from tests.factories import add_person
from tests.nudging import ADMIN, last_alert, office, only_button_data, overdue_list
from tests.service.test_scheduler_digests import two_districts
from tests.service.test_scheduler_tick import App, app, at, file_report, reminders_to, rows, rows_school, tick  # noqa: F401


async def test_overdue_lists_schools_by_district_with_reporters_and_buttons(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await two_districts(db, clock)
    clock.set(at(11, 13, 10))
    replies = await (await office(app, fake)).send("/overdue")
    text = replies[-1].text
    assert text.startswith("⏰ 逾期未报学校（截至 2026年11月13日）")
    assert text.index("【濉溪县】3 所学校") < text.index("【相山区】1 所学校")
    assert "填报人：王校长、陈老师" in text and "均已屏蔽机器人" in text and "还没有注册的填报人" in text
    assert "共 4 所学校，其中 2 所无法通过机器人联系" in text
    labels = replies[-1].labels
    # Unreachable schools get no nudge button: there is nobody to nudge.
    assert [label for label in labels if label.startswith("🔔")] == [
        "🔔 提醒 HB001小学",
        "🔔 提醒 HB101小学",
        "🔔 全部提醒（2 所）",
    ]
    # Beside each nudge, the office may file the report itself (issue 15).
    assert [label for label in labels if label.startswith("✍️")] == ["✍️ 代填 HB001小学", "✍️ 代填 HB101小学"]
    assert all(len(b["callback_data"].encode()) <= 64 for row in replies[-1].buttons for b in row)


async def test_overdue_is_for_staff_only(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await two_districts(db, clock)
    clock.set(at(11, 13, 10))
    replies = await Simulator(app, fake).user(1001, "王校长").send("/overdue")
    assert "没有使用这个命令的权限" in replies[-1].text and "HB002" not in replies[-1].text


async def test_district_staff_see_only_their_district(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await two_districts(db, clock)
    clock.set(at(11, 13, 10))
    replies = await (await office(app, fake, 2002)).send("/overdue")
    assert "HB101小学" in replies[-1].text and "濉溪县" not in replies[-1].text


async def test_overdue_filters_by_form_and_period(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await two_districts(db, clock)
    clock.set(at(12, 8, 10))  # October and November both overdue now
    chat = await office(app, fake)
    october, november = "学生奶 2026年10月：", "学生奶 2026年11月："
    everything = (await chat.send("/overdue"))[-1].text
    assert october in everything and november in everything
    only_november = (await chat.send("/overdue milk 2026-11"))[-1].text
    assert november in only_november and october not in only_november
    by_period_only = (await chat.send("/overdue 2026-10"))[-1].text
    assert october in by_period_only and november not in by_period_only


async def test_overdue_explains_bad_arguments(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await two_districts(db, clock)
    clock.set(at(11, 13, 10))
    chat = await office(app, fake)
    unknown = (await chat.send("/overdue uniforms"))[-1].text
    assert "看不懂“uniforms”" in unknown and "milk（学生奶）" in unknown
    wrong_cadence = (await chat.send("/overdue milk 2026-S2"))[-1].text
    assert "不是「学生饮用奶月报」的期间" in wrong_cadence and "2026-11" in wrong_cadence
    no_due = (await chat.send("/overdue harvest"))[-1].text
    assert "没有截止日期" in no_due
    future = (await chat.send("/overdue milk 2026-11"))[-1].text
    assert "截止日期是 2026年12月5日，还没有逾期" in future


async def test_overdue_says_so_when_nobody_is_overdue(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await add_person(db, clock, 2001, "张老师", role="staff")
    clock.set(at(11, 13, 10))
    replies = await (await office(app, fake)).send("/overdue")
    assert replies[-1].text == "目前没有逾期未报的学校。"


async def test_nudge_reaches_every_reachable_reporter_and_is_recorded(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    chat = await overdue_list(app, db, clock, fake, at(11, 13, 10))
    replies = await chat.press("提醒 HB001小学")
    assert replies[-1].text == "✅ 已提醒HB001小学：王校长。"
    (nudge,) = fake.sent(1001)
    assert nudge["text"].startswith("📣 勤工俭学办公室提醒") and "已逾期 8 天" in nudge["text"]
    assert reminders_to(fake, 1001) == ["milk:2026-10"]
    assert fake.sent(1011) == []  # blocked the bot: not messaged
    sent = await rows(db, status="sent")
    assert [(r.slot, r.requested_by) for r in sent] == [("manual-202611131000", ADMIN)]


async def test_nudge_pressed_twice_in_a_minute_sends_once(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    chat = await overdue_list(app, db, clock, fake, at(11, 13, 10))
    await chat.press("提醒 HB001小学")
    await chat.send("/overdue")
    replies = await chat.press("提醒 HB001小学")
    assert "刚刚已经提醒过了" in replies[-1].text
    assert len(fake.sent(1001)) == 1


async def test_nudge_all_reaches_every_reachable_school_and_names_the_unreachable(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    chat = await overdue_list(app, db, clock, fake, at(11, 13, 10))
    replies = await chat.press("全部提醒")
    await ticker_of(app).wait_idle()
    assert "正在提醒 2 所学校的 2 位填报人" in replies[-1].text
    assert "另有 2 所学校无法通过机器人联系：HB002小学、HB003小学" in replies[-1].text
    assert reminders_to(fake, 1001) == ["milk:2026-10"] and reminders_to(fake, 1101) == ["milk:2026-10"]
    # The next tick finds nothing left to send for the nudge.
    assert (await tick(app)).nudges_sent == 0


async def test_nudge_at_night_waits_for_the_morning(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    chat = await overdue_list(app, db, clock, fake, at(11, 13, 22, 30))
    replies = await chat.press("提醒 HB001小学")
    assert "免打扰时段（21:00–08:00）" in replies[-1].text and "将在 08:00 发出" in replies[-1].text
    assert replies[-1].labels == ["⚡ 现在就发送"]
    assert fake.sent(1001) == []
    clock.set(at(11, 14, 7, 55))
    await tick(app)
    assert fake.sent(1001) == []
    clock.set(at(11, 14, 8, 0))
    report = await tick(app)
    assert report.nudges_sent == 1 and reminders_to(fake, 1001)[:1] == ["milk:2026-10"]
    assert fake.sent(1001)[0]["text"].startswith("📣")


async def test_night_nudge_stands_in_for_the_scheduled_reminder_due_in_the_same_tick(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    chat = await overdue_list(app, db, clock, fake, at(11, 11, 22, 30))
    await chat.press("提醒 HB001小学")
    clock.set(at(11, 12, 9, 5))  # the nudge's morning is also October's d+7 reminder slot
    report = await tick(app)
    assert report.nudges_sent == 1
    (only,) = fake.sent(1001)  # one message, not a nudge and a reminder for the same report
    assert only["text"].startswith("📣")
    assert reminders_to(fake, 1101) == ["milk:2026-10"]  # not nudged: the scheduled reminder
    hb001 = await rows_school(db, "HB001")
    scheduled = sorted((r.status, r.error) for r in await rows(db, school_id=hb001, slot="d+7"))
    assert scheduled == [
        ("blocked", "blocked the bot before the slot"),  # 陈老师
        ("skipped", "an office nudge for the same report went out instead"),  # 王校长
    ]
    clock.advance(timedelta(minutes=5))
    await tick(app)
    assert len(fake.sent(1001)) == 1


async def test_send_now_at_night_after_confirmation(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    chat = await overdue_list(app, db, clock, fake, at(11, 13, 22, 30))
    queued = await chat.press("提醒 HB001小学")
    send_now = only_button_data(queued[-1])
    clock.advance(timedelta(minutes=2))
    replies = await chat.press("现在就发送")
    assert replies[-1].text == "✅ 已立即发送 1 条提醒。"
    assert len(fake.sent(1001)) == 1
    again = await chat.press_data(send_now)  # pressed again (an old copy of the message)
    assert "已经发出了" in again[-1].text
    clock.set(at(11, 14, 8, 0))
    await tick(app)
    assert len([m for m in fake.sent(1001) if m["text"].startswith("📣")]) == 1


async def test_nudge_all_at_night_then_send_now(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    chat = await overdue_list(app, db, clock, fake, at(11, 13, 23, 0))
    replies = await chat.press("全部提醒")
    assert "对2 所学校的提醒已排队" in replies[-1].text
    await chat.press("现在就发送")
    await ticker_of(app).wait_idle()
    assert reminders_to(fake, 1001) == ["milk:2026-10"] and reminders_to(fake, 1101) == ["milk:2026-10"]


async def test_school_that_reported_meanwhile_is_not_nudged(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    chat = await overdue_list(app, db, clock, fake, at(11, 13, 10))
    await file_report(db, await rows_school(db, "HB001"), "milk", "2026-10", clock.now())
    replies = await chat.press("提醒 HB001小学")
    assert replies[-1].text == "HB001小学已经提交了，无需再提醒。"
    assert fake.sent(1001) == []


async def test_queued_nudge_is_dropped_if_the_school_reports_before_morning(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    chat = await overdue_list(app, db, clock, fake, at(11, 13, 22, 30))
    await chat.press("提醒 HB001小学")
    await file_report(db, await rows_school(db, "HB001"), "milk", "2026-10", at(11, 13, 23, 0))
    clock.set(at(11, 14, 8, 5))
    await tick(app)
    assert fake.sent(1001) == []
    (row,) = [r for r in await rows(db) if r.slot.startswith("manual-")]
    assert row.status == "skipped"


async def test_forged_or_stale_nudge_buttons_are_refused(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    chat = await overdue_list(app, db, clock, fake, at(11, 13, 10))
    for data in (
        "nudge:milk:2026-10:99999",  # no such school
        "nudge:bogus:*:1",  # no such form
        "nudge:harvest:*:1",  # a form without due dates
        "nudge:milk:2026-S1:1",  # another cadence's period
        "nudge:milk:2026-06:1",  # a period long closed
        "nudgeall:milk",  # cut short
        "nudgenow:*:*:1:2026",  # not a minute stamp
    ):
        await chat.press_data(data)
        assert last_alert(fake) == "这个按钮已失效，请重新发送 /overdue。", data
    await chat.press_data("nudgeall")  # not even our shape: the bot's generic answer to unknown buttons
    assert last_alert(fake) == "这个按钮已经失效了，请使用最新的消息。"
    # A district staff member pressing a button for a school outside their district.
    hb001 = await rows_school(db, "HB001")
    district_chat = await office(app, fake, 2002)
    await district_chat.send("/overdue")
    await district_chat.press_data(f"nudge:*:*:{hb001}")
    assert last_alert(fake) == "这个按钮已失效，请重新发送 /overdue。"
    assert fake.sent(1001) == []


async def test_principal_cannot_press_a_nudge_button(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await two_districts(db, clock)
    clock.set(at(11, 13, 10))
    principal = Simulator(app, fake).user(1001, "王校长")
    await principal.send("/help")  # any message of the bot to hang the forged button on
    await principal.press_data("nudgeall:*:*")
    assert "没有使用这个命令的权限" in last_alert(fake)
    assert await rows(db) == []


async def test_failing_nudge_is_retried_by_the_tick_then_given_up(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    from scheduler.tick import MAX_ATTEMPTS

    chat = await overdue_list(app, db, clock, fake, at(11, 13, 10))
    fake.fail("sendMessage", "server_error", times=1000, chat_id=1001)
    replies = await chat.press("提醒 HB001小学")
    assert "未能全部送达" in replies[-1].text
    for _ in range(MAX_ATTEMPTS + 2):
        clock.advance(timedelta(minutes=5))
        await tick(app)
    (row,) = [r for r in await rows(db) if r.slot.startswith("manual-")]
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)


async def test_send_now_pressed_on_a_message_the_bot_no_longer_has_still_answers(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    chat = await overdue_list(app, db, clock, fake, at(11, 13, 22, 30))
    queued = await chat.press("提醒 HB001小学")
    send_now = only_button_data(queued[-1])
    gone = {"message_id": 999999, "date": 0, "chat": {"id": ADMIN, "type": "private"}, "text": "old"}
    replies = await chat.press_data(send_now, gone)
    assert replies[-1].text == "✅ 已立即发送 1 条提醒。"
    assert len(fake.sent(1001)) == 1
