"""Six weeks of simulated time: exactly which reminders and digests went out, and when.

The clock steps through 1 November – 15 December 2026 an hour at a time and
the tick is called directly (no sleeping). Quiet hours end at 09:30 (so the
09:00 reminders go at 09:30), 10–13 December is a holiday, the bot restarts
on 20 November and is down from 5 December 08:00 to 8 December 15:00.

Milk is due on the 5th of the next month: October's on 5 Nov (slots 2, 5, 6,
8, 12 Nov), November's on 5 Dec (slots 2, 5, 6, 8 Dec; the 12th falls in the
holiday and moves to the 14th).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from sqlalchemy import select

from bot.app import build_application
from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from scheduler.policy import Rules
from scheduler.tick import ticker_of
from storage.db import Database
from storage.models import Person
from tests.conftest import SHANGHAI, make_settings
from tests.factories import add_person, add_school
from tests.service.test_scheduler_tick import file_report, rows

# Committed data: ticks run concurrently on committed data.
pytestmark = pytest.mark.committed

START = datetime(2026, 11, 1, 0, 15, tzinfo=SHANGHAI)
END = datetime(2026, 12, 15, 23, 59, tzinfo=SHANGHAI)
RESTART = datetime(2026, 11, 20, 13, 0, tzinfo=SHANGHAI)
DOWN = datetime(2026, 12, 5, 8, 0, tzinfo=SHANGHAI)
UP = datetime(2026, 12, 8, 15, 0, tzinfo=SHANGHAI)
LATECOMER_REGISTERS = datetime(2026, 11, 20, 11, 50, tzinfo=SHANGHAI)
B_REPORTS_OCTOBER = datetime(2026, 11, 7, 10, 0, tzinfo=SHANGHAI)


def d(month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


# Ticks run at hh:15: a 09:30 slot goes at 10:15; after the downtime, 15:15.
EXPECTED = {
    # A never reports: every slot of October and November, except those lost in the downtime
    # (5 and 6 Dec), which collapse into the 8 Dec catch-up.
    1001: [
        (d(11, 2, 10, 15), "milk:2026-10", "d-3"),
        (d(11, 5, 10, 15), "milk:2026-10", "d+0"),
        (d(11, 6, 10, 15), "milk:2026-10", "d+1"),
        (d(11, 8, 10, 15), "milk:2026-10", "d+3"),
        (d(11, 12, 10, 15), "milk:2026-10", "d+7"),
        (d(12, 2, 10, 15), "milk:2026-11", "d-3"),
        (d(12, 8, 15, 15), "milk:2026-11", "d+3"),
        (d(12, 14, 10, 15), "milk:2026-11", "d+7"),
    ],
    # B reports October on 7 Nov: its October reminders stop there.
    1002: [
        (d(11, 2, 10, 15), "milk:2026-10", "d-3"),
        (d(11, 5, 10, 15), "milk:2026-10", "d+0"),
        (d(11, 6, 10, 15), "milk:2026-10", "d+1"),
        (d(12, 2, 10, 15), "milk:2026-11", "d-3"),
        (d(12, 8, 15, 15), "milk:2026-11", "d+3"),
        (d(12, 14, 10, 15), "milk:2026-11", "d+7"),
    ],
    # E's principal registers on 20 Nov: one reminder per open period (the latest slot), not the backlog.
    1005: [
        (d(11, 20, 12, 15), "milk:2026-09", "d+7"),
        (d(11, 20, 12, 15), "milk:2026-10", "d+7"),
        (d(12, 2, 10, 15), "milk:2026-11", "d-3"),
        (d(12, 8, 15, 15), "milk:2026-11", "d+3"),
        (d(12, 14, 10, 15), "milk:2026-11", "d+7"),
    ],
}


async def test_six_weeks_of_reminders_exactly(db: Database, db_url: str, fake: FakeTelegram) -> None:
    clock = FixedClock(START)
    settings = make_settings(db_url, quiet_hours="21:00-09:30", holidays="2026-12-10..2026-12-13")
    rules = Rules.from_settings(settings)

    a = await add_school(db, clock, code="HB001", name="邹圩小学", programmes=("milk",))
    b = await add_school(db, clock, code="HB002", name="袁店中心校", programmes=("milk",))
    c = await add_school(db, clock, code="HB003", name="张庄中学", programmes=("milk",))
    await add_school(db, clock, code="HB004", name="人民路小学", district="相山区", programmes=("insurance",))
    await add_school(db, clock, code="HB005", name="周大庄小学", programmes=("milk",))
    await add_school(db, clock, code="HB006", name="南黎小学", district="相山区", programmes=("milk",))
    for school in (a, b, c):  # August and September are filed; October and November are the story
        await file_report(db, school.id, "milk", "2026-08", d(9, 3, 10, 0))
        await file_report(db, school.id, "milk", "2026-09", d(10, 3, 10, 0))
    await add_person(db, clock, 1001, "王校长", school_code="HB001")
    await add_person(db, clock, 1002, "李校长", school_code="HB002")
    await add_person(db, clock, 1003, "赵校长", school_code="HB003")
    await add_person(db, clock, 1004, "钱校长", school_code="HB004")
    await add_person(db, clock, 2001, "张老师", role="staff")
    await add_person(db, clock, 2002, "刘老师", role="staff", district="相山区")
    fake.blocked.add(1003)  # C's only principal blocked the bot; we learn it on the first send

    received: list[tuple[datetime, int, str]] = []  # (when, chat, go-button data or digest title)
    databases: list[Database] = []
    application: Any = None

    async def boot() -> Any:
        database = Database(db_url)  # a new process: new engine, new application, same database
        databases.append(database)
        app = build_application(settings, request=FakeRequest(fake), db=database, clock=clock)
        await app.initialize()
        # Six simulated weeks message the same chats again and again: the real 1 s per-chat
        # spacing would make this test wait in real time without checking anything more.
        ticker_of(app).part_interval = 0
        return app

    application = await boot()
    try:
        while clock.now() <= END:
            now = clock.now()
            if now == RESTART.replace(minute=15):
                await application.shutdown()
                application = await boot()
            if DOWN <= now < UP:
                clock.advance(timedelta(hours=1))
                continue
            if now - timedelta(hours=1) < LATECOMER_REGISTERS <= now:
                await add_person(db, clock, 1005, "孙校长", school_code="HB005")
            if now - timedelta(hours=1) < B_REPORTS_OCTOBER <= now:
                await file_report(db, b.id, "milk", "2026-10", B_REPORTS_OCTOBER)
            before = len(fake.calls)
            await ticker_of(application).tick()
            for call in fake.calls[before:]:
                if call.method != "sendMessage" or call.chat_id is None:
                    continue
                markup = fake._markup(call.params) or {}
                data = [btn.get("callback_data", "") for row in markup.get("inline_keyboard", []) for btn in row]
                label = data[0].removeprefix("go:") if data else str(call.params["text"]).split("\n")[0]
                received.append((now, call.chat_id, label))
            clock.advance(timedelta(hours=1))
    finally:
        await application.shutdown()
        for database in databases:
            await database.dispose()

    sent_rows = await rows(db, status="sent")
    by_person: dict[int, list[tuple[datetime, str, str]]] = {}
    async with db.session() as session:
        people = {p.id: p for p in (await session.scalars(select(Person))).all()}
    for row in sent_rows:
        chat = people[row.recipient_id].telegram_id
        assert row.sent_at is not None
        by_person.setdefault(chat, []).append((row.sent_at.astimezone(SHANGHAI), f"{row.form_key}:{row.period}", row.slot))

    # Exactly these reminders, at these times, with these slots, and nothing else for any school.
    for chat, expected in EXPECTED.items():
        assert sorted(by_person.get(chat, [])) == expected, chat
        assert [(when, label) for when, c, label in received if c == chat] == [(w, fp) for w, fp, _ in expected]
    assert set(by_person) == set(EXPECTED)
    principals_reached = {chat for chat in (1001, 1002, 1003, 1004, 1005) if fake.sent(chat)}
    assert principals_reached == {1001, 1002, 1005}

    # Nothing in quiet hours or holidays; nothing twice (across both restarts).
    assert all(rules.may_send(when) for when, _, _ in received)
    keys = Counter((r.school_id, r.form_key, r.period, r.slot, r.recipient_id) for r in sent_rows)
    assert max(keys.values()) == 1

    # C: one attempt, learnt it is blocked, then recorded (not sent) for every later slot.
    assert len([call for call in fake.calls_to("sendMessage") if call.chat_id == 1003]) == 1
    c_rows = [r for r in await rows(db) if r.school_id == c.id and r.status != "skipped"]
    assert {r.status for r in c_rows} == {"blocked"} and len(c_rows) >= 2
    assert people_blocked(people, 1003)

    # Staff: one overdue digest a day (none on holidays or while down), one weekly digest a week.
    overdue_days = {when.date() for when, chat, label in received if chat == 2001 and label.startswith("📋")}
    all_days = {(START + timedelta(days=i)).date() for i in range(45)}
    off = {d(12, day, 12, 0).date() for day in (5, 6, 7, 10, 11, 12, 13)}
    assert overdue_days == all_days - off
    assert len([1 for _, chat, label in received if chat == 2001 and label.startswith("📋")]) == len(all_days - off)
    weekly = [when for when, chat, label in received if chat == 2001 and label.startswith("📊")]
    assert [w.date().isoformat() for w in weekly] == [
        "2026-11-02",
        "2026-11-09",
        "2026-11-16",
        "2026-11-23",
        "2026-11-30",
        "2026-12-08",  # Monday the 7th was lost to the downtime: sent when the bot came back
        "2026-12-14",
    ]
    # The district-limited staff member hears only of their district: HB006, which has nobody to remind.
    texts_2002 = fake.texts(2002)
    assert texts_2002 and all("邹圩小学" not in text and "周大庄小学" not in text for text in texts_2002)
    overdue_2002 = [text for text in texts_2002 if text.startswith("📋")]
    assert overdue_2002 and all("南黎小学" in text and "无法联系" in text for text in overdue_2002)


def people_blocked(people: dict[int, Person], telegram_id: int) -> bool:
    return next(p for p in people.values() if p.telegram_id == telegram_id).blocked
