"""The reminder tick against a real database and the fake Bot API: claims, sends, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

import scheduler.tick as tick_module
from bot.app import build_application
from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.settings import Settings
from scheduler.tick import ReminderTicker, start_reminders, ticker_of
from scheduler.claims import TickReport
from storage.db import Database
from storage.models import Draft, Person, ReminderSend, SendStatus
from storage.reminders import Target, insert_reminders, reminder_candidates, reminder_rows
from storage.reports import NewReport, save_report_retrying
from tests.conftest import SHANGHAI, make_settings
from tests.factories import add_person, add_school

App = Any


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def reminders_to(fake: FakeTelegram, chat_id: int) -> list[str]:
    """``form:period`` of each reminder a chat received, from its "report now" button, in order."""
    out = []
    for message in fake.sent(chat_id):
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data", "")
                if data.startswith("go:"):
                    out.append(data.removeprefix("go:"))
    return out


async def file_report(db: Database, school_id: int, form_key: str, period: str, when: datetime) -> None:
    """A saved current report (what the report conversation writes on submit)."""
    await save_report_retrying(
        db,
        NewReport(
            school_id=school_id,
            form_key=form_key,
            form_version=1,
            period=period,
            values={},
            reporter_id=None,
            submitted_at=when,
            is_late=False,
        ),
    )


async def milk_school(
    db: Database,
    clock: FixedClock,
    code: str,
    principals: dict[int, str],
    *,
    filed: tuple[str, ...] = ("2026-09", "2026-10"),
    district: str = "濉溪县",
    blocked: frozenset[int] = frozenset(),
) -> int:
    """A milk-programme school with principals; older milk periods already filed so only November is open."""
    school = await add_school(db, clock, code=code, name=f"{code}小学", district=district, programmes=("milk",))
    for telegram_id, name in principals.items():
        await add_person(db, clock, telegram_id, name, school_code=code, blocked=telegram_id in blocked)
    for period in filed:
        await file_report(db, school.id, "milk", period, clock.now())
    return school.id


@pytest.fixture
async def app(settings: Settings, db: Database, clock: FixedClock, fake: FakeTelegram) -> AsyncIterator[App]:
    application = build_application(settings, request=FakeRequest(fake), db=db, clock=clock)
    async with application:
        yield application


async def tick(application: App) -> TickReport:
    return await ticker_of(application).tick()


async def rows(db: Database, **filters: Any) -> list[ReminderSend]:
    async with db.session() as session:
        return list(await reminder_rows(session, **filters))


async def test_reminder_names_form_period_and_due_date_with_report_now_button(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await milk_school(db, clock, "HB001", {1001: "王校长"})
    clock.set(at(12, 2, 9, 5))  # 3 days before November's milk report is due (5 Dec)
    report = await tick(app)
    assert report.sent == 1
    (message,) = fake.sent(1001)
    assert "学生饮用奶月报" in message["text"] and "2026年11月" in message["text"]
    assert "2026年12月5日" in message["text"] and "还有 3 天截止" in message["text"]
    assert reminders_to(fake, 1001) == ["milk:2026-11"]
    (row,) = await rows(db)
    assert (row.form_key, row.period, row.slot, row.status) == ("milk", "2026-11", "d-3", "sent")
    assert row.sent_at == clock.now()


async def test_report_now_button_opens_the_form_for_that_period(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    from bot.offline.simulator import Simulator

    await milk_school(db, clock, "HB001", {1001: "王校长"})
    clock.set(at(12, 2, 9, 5))
    await tick(app)
    chat = Simulator(app, fake).user(1001, "王校长")
    replies = await chat.press("填报")
    assert any("2026年11月" in r.text for r in replies)
    async with db.session() as session:
        draft = await session.scalar(select(Draft))
    assert draft is not None and (draft.form_key, draft.period) == ("milk", "2026-11")


async def test_english_reporter_gets_english_reminder(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await add_school(db, clock, code="HB001", programmes=("milk",))
    await add_person(db, clock, 1001, "Principal Wang", school_code="HB001", language="en")
    school = await rows_school(db, "HB001")
    for period in ("2026-09", "2026-10"):
        await file_report(db, school, "milk", period, clock.now())
    clock.set(at(12, 5, 10))
    await tick(app)
    (message,) = fake.sent(1001)
    assert "Student milk monthly report" in message["text"] and "due today" in message["text"]


async def rows_school(db: Database, code: str) -> int:
    from storage.schools import school_by_code

    async with db.session() as session:
        school = await school_by_code(session, code)
        assert school is not None
        return school.id


async def test_second_tick_at_the_same_slot_sends_nothing(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await milk_school(db, clock, "HB001", {1001: "王校长"})
    clock.set(at(12, 2, 9, 5))
    await tick(app)
    clock.advance(timedelta(minutes=5))
    again = await tick(app)
    assert again.sent == 0 and len(fake.sent(1001)) == 1


async def test_every_reporter_of_the_school_gets_it(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await milk_school(db, clock, "HB001", {1001: "王校长", 1002: "李副校长"})
    clock.set(at(12, 5, 9, 1))
    await tick(app)
    assert reminders_to(fake, 1001) == reminders_to(fake, 1002) == ["milk:2026-11"]


async def test_reporting_stops_the_reminders(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    school = await milk_school(db, clock, "HB001", {1001: "王校长"})
    clock.set(at(12, 2, 9, 5))
    await tick(app)
    await file_report(db, school, "milk", "2026-11", at(12, 4, 15))
    for day in (5, 6, 8, 12, 20):
        clock.set(at(12, day, 10))
        await tick(app)
    assert reminders_to(fake, 1001) == ["milk:2026-11"]


async def test_school_not_in_the_programme_gets_no_milk_reminders(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await add_school(db, clock, code="HB002", programmes=("insurance",))
    await add_person(db, clock, 1002, "赵校长", school_code="HB002")
    clock.set(at(12, 5, 10))
    await tick(app)
    assert fake.sent(1002) == []


async def test_form_without_due_rule_never_reminds(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    # A farm-only school reports harvests (no due rule) and insurance, whose next due date is in February.
    await add_school(db, clock, code="HB003", programmes=("farm",))
    await add_person(db, clock, 1003, "孙校长", school_code="HB003")
    moment = at(12, 28, 10)
    while moment < at(1, 20, 10, year=2027):
        clock.set(moment)
        await tick(app)
        moment += timedelta(hours=12)
    assert fake.sent(1003) == []
    assert await rows(db) == []


async def test_latecomer_gets_one_reminder_not_five(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await milk_school(db, clock, "HB001", {})
    clock.set(at(12, 10, 14))  # d-3, d+0, d+1 and d+3 of November's report have passed
    await add_person(db, clock, 1001, "新校长", school_code="HB001")
    await tick(app)
    await tick(app)
    assert reminders_to(fake, 1001) == ["milk:2026-11"]
    record = {r.slot: r.status for r in await rows(db)}
    assert record == {"d+3": "sent", "d-3": "skipped", "d+0": "skipped", "d+1": "skipped"}
    clock.set(at(12, 12, 9, 30))
    await tick(app)
    assert reminders_to(fake, 1001) == ["milk:2026-11", "milk:2026-11"]  # d+7 comes as scheduled


async def test_skipped_slots_stay_skipped_when_the_clock_jumps_back(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await milk_school(db, clock, "HB001", {1001: "王校长"})
    clock.set(at(12, 10, 14))
    await tick(app)
    clock.set(at(12, 6, 14))  # back to when d+1 was the latest slot
    await tick(app)
    assert len(fake.sent(1001)) == 1


async def test_nothing_goes_out_in_quiet_hours_then_it_does_in_the_morning(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await milk_school(db, clock, "HB001", {1001: "王校长"})
    clock.set(at(12, 4, 23, 30))  # the bot came up at night, d-3 passed unsent
    await tick(app)
    clock.set(at(12, 5, 7, 55))
    await tick(app)
    assert fake.sent(1001) == []
    clock.set(at(12, 5, 8, 0))  # quiet hours over; d-3 is the latest passed slot
    await tick(app)
    assert [r.slot for r in await rows(db, status="sent")] == ["d-3"]


async def test_due_date_inside_quiet_hours_is_sent_when_they_end(
    db: Database, db_url: str, clock: FixedClock, fake: FakeTelegram
) -> None:
    settings = make_settings(db_url, quiet_hours="21:00-10:30")
    application = build_application(settings, request=FakeRequest(fake), db=db, clock=clock)
    async with application:
        await milk_school(db, clock, "HB001", {1001: "王校长"})
        await file_report(db, await rows_school(db, "HB001"), "milk", "2026-11", at(12, 1, 10))  # only December left
        clock.set(at(1, 5, 9, 0, year=2027))
        await tick(application)
        assert fake.sent(1001) == []
        clock.set(at(1, 5, 10, 30, year=2027))
        await tick(application)
    (row,) = [r for r in await rows(db) if r.status == "sent"]
    assert (row.period, row.slot, row.sent_at) == ("2026-12", "d+0", at(1, 5, 10, 30, year=2027))


async def test_busy_reporter_is_not_interrupted_until_the_draft_is_idle(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await milk_school(db, clock, "HB001", {1001: "王校长", 1002: "李副校长"})
    clock.set(at(12, 2, 9, 5))
    async with db.session() as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == 1001))
        assert person is not None
        session.add(
            Draft(
                person_id=person.id,
                token="t0k3n",
                form_key="milk",
                form_version=1,
                period="2026-10",
                step="daily_drinkers",
                answers={},
                editing=False,
                created_at=clock.now(),
                updated_at=clock.now() - timedelta(minutes=3),
            )
        )
    report = await tick(app)
    assert report.deferred == 1 and report.sent == 1
    assert fake.sent(1001) == [] and len(fake.sent(1002)) == 1
    clock.advance(timedelta(minutes=5))  # the draft was touched 8 minutes ago: still busy
    await tick(app)
    assert fake.sent(1001) == []
    clock.advance(timedelta(minutes=3))  # idle for 11 minutes
    await tick(app)
    assert reminders_to(fake, 1001) == ["milk:2026-11"]


async def test_blocked_reporter_is_marked_and_skipped_afterwards(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await milk_school(db, clock, "HB001", {1001: "王校长"})
    fake.blocked.add(1001)
    clock.set(at(12, 2, 9, 5))
    report = await tick(app)
    assert report.blocked == 1 and report.sent == 0
    async with db.session() as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == 1001))
    assert person is not None and person.blocked
    attempts = len(fake.calls_to("sendMessage"))
    clock.set(at(12, 5, 9, 5))
    report = await tick(app)
    assert report.blocked == 1  # counted, recorded, not sent
    assert len(fake.calls_to("sendMessage")) == attempts
    assert [(r.slot, r.status) for r in await rows(db)] == [("d-3", "blocked"), ("d+0", "blocked")]


async def test_failed_send_is_retried_on_a_later_tick(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await milk_school(db, clock, "HB001", {1001: "王校长"})
    fake.fail("sendMessage", "server_error")
    clock.set(at(12, 2, 9, 5))
    report = await tick(app)
    assert report.retry == 1 and fake.sent(1001) == []
    (row,) = await rows(db)
    assert row.status == "retry" and row.attempts == 1 and "Internal Server Error" in (row.error or "")
    clock.advance(timedelta(minutes=5))
    report = await tick(app)
    assert report.sent == 1 and len(fake.sent(1001)) == 1
    (row,) = await rows(db)
    assert row.status == "sent" and row.attempts == 2


async def test_retry_gives_up_after_max_attempts(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await milk_school(db, clock, "HB001", {1001: "王校长"})
    fake.fail("sendMessage", "server_error", times=100)
    clock.set(at(12, 2, 9, 5))
    for _ in range(tick_module.MAX_ATTEMPTS + 2):
        await tick(app)
        clock.advance(timedelta(minutes=5))
    (row,) = await rows(db)
    assert row.status == "failed" and row.attempts == tick_module.MAX_ATTEMPTS
    assert len(fake.calls_to("sendMessage")) == tick_module.MAX_ATTEMPTS


async def test_chat_not_found_fails_for_good(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await milk_school(db, clock, "HB001", {1001: "王校长"})
    fake.unknown_chats.add(1001)
    clock.set(at(12, 2, 9, 5))
    report = await tick(app)
    assert report.failed == 1
    clock.advance(timedelta(minutes=5))
    await tick(app)
    assert len(fake.calls_to("sendMessage")) == 1


async def test_tick_that_crashes_halfway_neither_resends_nor_skips(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    chats = list(range(1001, 1007))
    for n, chat in enumerate(chats):
        await milk_school(db, clock, f"HB{n:03d}", {chat: f"校长{n}"})
    clock.set(at(12, 2, 9, 5))
    real_deliver = tick_module.deliver
    calls = 0

    async def crashing_deliver(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise RuntimeError("power cut")  # the process dies on the fourth send
        return await real_deliver(*args, **kwargs)

    monkeypatch.setattr(tick_module, "deliver", crashing_deliver)
    with pytest.raises(RuntimeError, match="power cut"):
        await tick(app)
    monkeypatch.setattr(tick_module, "deliver", real_deliver)
    delivered = {chat for chat in chats if fake.sent(chat)}
    assert len(delivered) == 3

    clock.advance(timedelta(minutes=5))  # the next tick: the two never attempted go out
    report = await tick(app)
    assert report.sent == 2
    in_flight = [chat for chat in chats if not fake.sent(chat)]
    assert len(in_flight) == 1  # its claim waits for the lease: we cannot know it was not sent

    clock.advance(tick_module.lease_of(app.bot_data.services.settings))
    report = await tick(app)
    assert report.sent == 1
    assert all(reminders_to(fake, chat) == ["milk:2026-11"] for chat in chats)
    assert sorted(r.status for r in await rows(db)) == ["sent"] * 6


async def test_time_out_midway_is_retried_once_not_duplicated(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    for n, chat in enumerate((1001, 1002, 1003)):
        await milk_school(db, clock, f"HB{n:03d}", {chat: f"校长{n}"})
    fake.fail("sendMessage", "timeout", chat_id=1002)
    clock.set(at(12, 2, 9, 5))
    report = await tick(app)
    assert report.sent == 2 and report.retry == 1
    (row,) = await rows(db, status="retry")
    assert "may have been delivered" in (row.error or "")
    clock.advance(timedelta(minutes=5))
    await tick(app)
    assert [len(fake.sent(chat)) for chat in (1001, 1002, 1003)] == [1, 1, 1]


async def test_restart_with_a_new_application_sends_nothing_twice(
    settings: Settings, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await milk_school(db, clock, "HB001", {1001: "王校长"})
    clock.set(at(12, 2, 9, 5))
    first = build_application(settings, request=FakeRequest(fake), db=db, clock=clock)
    async with first:
        await ticker_of(first).tick()
    second_db = Database(db.url)
    second = build_application(settings, request=FakeRequest(fake), db=second_db, clock=clock)
    try:
        async with second:
            clock.advance(timedelta(minutes=1))
            assert (await ticker_of(second).tick()).sent == 0
    finally:
        await second_db.dispose()
    assert len(fake.sent(1001)) == 1


async def test_start_reminders_registers_a_repeating_job_that_survives_lateness(app: App) -> None:
    job = start_reminders(app)
    assert job is not None
    assert job.name == "reminder-tick"
    assert job.job.misfire_grace_time is None and job.job.coalesce is True and job.job.max_instances == 1
    assert job.job.trigger.interval == timedelta(seconds=300)
    again = start_reminders(app)
    assert again is not None
    assert [j.name for j in app.job_queue.jobs() if j.name == "reminder-tick" and not j.removed] == ["reminder-tick"]
    assert isinstance(ticker_of(app), ReminderTicker)


async def test_the_job_queue_job_runs_a_tick(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await milk_school(db, clock, "HB001", {1001: "王校长"})
    clock.set(at(12, 2, 9, 5))
    job = start_reminders(app)
    assert job is not None
    await job.run(app)  # what APScheduler does every REMINDER_TICK_SECONDS
    assert reminders_to(fake, 1001) == ["milk:2026-11"]


async def test_candidates_per_target_mix_programmes_reports_drafts_and_retries(db: Database, clock: FixedClock) -> None:
    """Who is owed what, per target, straight from the query the tick plans with."""
    milk_only = await add_school(db, clock, code="HB001", programmes=("milk",))
    no_milk = await add_school(db, clock, code="HB002", programmes=("farm",))
    both = await add_school(db, clock, code="HB003", programmes=("milk",))
    wang = await add_person(db, clock, 1001, "王校长", school_code="HB001")
    await add_person(db, clock, 1002, "李校长", school_code="HB002", blocked=True)
    zhao = await add_person(db, clock, 1003, "赵校长", school_code="HB003", language="en")
    qian = await add_person(db, clock, 1013, "钱老师", school_code="HB003")
    await file_report(db, milk_only.id, "insurance", "2026-S2", clock.now())
    now = clock.now()
    async with db.session() as session:
        session.add(
            Draft(
                person_id=qian.id,
                token="t0k3n",
                form_key="milk",
                form_version=1,
                period="2026-11",
                step="daily_drinkers",
                answers={},
                editing=False,
                created_at=now,
                updated_at=now - timedelta(minutes=2),
            )
        )
        # 赵校长's milk reminder failed once and waits for another try; 王校长's went out.
        await insert_reminders(
            session,
            [
                {
                    "school_id": both.id,
                    "form_key": "milk",
                    "period": "2026-11",
                    "slot": "d-3",
                    "recipient_id": zhao.id,
                    "status": SendStatus.RETRY.value,
                    "claimed_at": now,
                },
                {
                    "school_id": milk_only.id,
                    "form_key": "milk",
                    "period": "2026-11",
                    "slot": "d-3",
                    "recipient_id": wang.id,
                    "status": SendStatus.SENT.value,
                    "claimed_at": now,
                },
            ],
        )
    targets = [Target("milk", "milk", "2026-11", "d-3"), Target("insurance", None, "2026-S2", "d+0")]
    async with db.session() as session:
        milk, insurance = await reminder_candidates(
            session, targets, lease_cutoff=now - timedelta(minutes=5), idle_cutoff=now - timedelta(minutes=10)
        )
    # Milk: only schools in the programme; 王校长 already has the slot; 赵校长 comes back as a retry, after the new ones.
    assert [(c.person_name, c.action, c.send_id is not None) for c in milk] == [
        ("钱老师", "busy", False),
        ("赵校长", "send", True),
    ]
    # Insurance (no programme): every school but the one that filed, blocked reporters flagged; in school order.
    assert [(c.school_code, c.person_name, c.action, c.lang) for c in insurance] == [
        ("HB002", "李校长", "blocked", "zh"),
        ("HB003", "赵校长", "send", "en"),
        ("HB003", "钱老师", "busy", "zh"),
    ]
    assert all(c.school_name and c.telegram_id and c.attempts == 0 for c in insurance)
    assert no_milk.id not in {c.school_id for c in milk}
