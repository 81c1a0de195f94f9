"""Reminders and nudges go to every active reporter of a school, deputies included, each once (issue 15 point 3)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.app import build_application
from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.settings import Settings
from scheduler.tick import ticker_of
from storage.db import Database
from storage.models import Person
from tests.factories import add_person
from tests.nudging import office
from tests.service.test_scheduler_tick import App, app, at, milk_school, reminders_to, rows, tick  # noqa: F401


async def school_with_deputy(db: Database, clock: FixedClock) -> int:
    """HB001 (milk, November open) with principal 1001 and deputy 1002."""
    school_id = await milk_school(db, clock, "HB001", {1001: "王校长"})
    await add_person(db, clock, 1002, "张老师", role="reporter", school_code="HB001")
    return school_id


async def test_principal_and_deputy_each_get_the_reminder_once(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await school_with_deputy(db, clock)
    clock.set(at(12, 2, 9, 5))  # the d-3 slot of November's milk report
    report = await tick(app)
    assert report.sent == 2
    assert reminders_to(fake, 1001) == reminders_to(fake, 1002) == ["milk:2026-11"]
    clock.advance(timedelta(minutes=5))
    assert (await tick(app)).sent == 0
    assert [len(fake.sent(chat)) for chat in (1001, 1002)] == [1, 1]
    sent = await rows(db, status="sent")
    assert sorted(r.recipient_id for r in sent) == sorted({r.recipient_id for r in sent}) and len(sent) == 2


async def test_removed_deputy_gets_no_more_reminders(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await school_with_deputy(db, clock)
    clock.set(at(12, 2, 9, 5))
    await tick(app)
    async with db.session() as session:
        await session.execute(update(Person).where(Person.telegram_id == 1002).values(active=False))
    clock.set(at(12, 5, 9, 5))  # the due-day slot
    await tick(app)
    assert reminders_to(fake, 1001) == ["milk:2026-11", "milk:2026-11"]
    assert reminders_to(fake, 1002) == ["milk:2026-11"]


async def test_office_nudge_reaches_the_deputy_too(app: App, db: Database, clock: FixedClock, fake: FakeTelegram) -> None:
    await school_with_deputy(db, clock)
    clock.set(at(12, 8, 10))  # November's milk is 3 days overdue
    chat = await office(app, fake)
    listing = await chat.send("/overdue")
    assert "王校长、张老师（副）" in listing[-1].text
    await chat.press("提醒 HB001小学")
    assert reminders_to(fake, 1001) == reminders_to(fake, 1002) == ["milk:2026-11"]


@pytest.mark.committed
async def test_restart_sends_neither_reporter_a_second_reminder(
    settings: Settings, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await school_with_deputy(db, clock)
    clock.set(at(12, 2, 9, 5))
    first = build_application(settings, request=FakeRequest(fake), db=db, clock=clock)
    async with first:
        assert (await ticker_of(first).tick()).sent == 2
    # A new process on the same database: what the first one claimed and sent is not sent again.
    second_db = Database(db.url)
    second = build_application(settings, request=FakeRequest(fake), db=second_db, clock=clock)
    try:
        async with second:
            clock.advance(timedelta(minutes=1))
            assert (await ticker_of(second).tick()).sent == 0
            clock.set(at(12, 5, 9, 5))  # and the next slot still reaches both, once
            assert (await ticker_of(second).tick()).sent == 2
    finally:
        await second_db.dispose()
    assert [len(fake.sent(chat)) for chat in (1001, 1002)] == [2, 2]


async def test_broadcast_to_schools_reaches_deputies_and_only_school_reporters(db: Database, clock: FixedClock) -> None:
    from storage.broadcasts import Audience, recipients, schools_without_reporter

    school_id = await school_with_deputy(db, clock)
    await milk_school(db, clock, "HB002", {})
    await add_person(db, clock, 1003, "赵老师", role="reporter", school_code="HB002")
    await add_person(db, clock, 1004, "离开的副手", role="reporter", school_code="HB001")
    await add_person(db, clock, 2001, "李老师", role="staff")
    async with db.session() as session:
        await session.execute(update(Person).where(Person.telegram_id == 1004).values(active=False))
        reached = await recipients(session, Audience("all"))
        nobody = await schools_without_reporter(session, Audience("all"))
    assert sorted(r.chat_id for r in reached) == [1001, 1002, 1003]
    assert [r.school_id for r in reached if r.chat_id in (1001, 1002)] == [school_id, school_id]
    assert nobody == []  # a school whose only reporter is a deputy can be reached
