"""Two bot processes on one database tick at the same moment: every reminder goes out exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import build_application
from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.settings import Settings
from scheduler.tick import ticker_of
from storage.db import Database
from tests.factories import add_person
from tests.service.test_scheduler_tick import at, milk_school, reminders_to, rows

# Committed data: several engines tick at once.
pytestmark = pytest.mark.committed

SCHOOLS = 25


@pytest.fixture(params=["shared-engine", "two-engines"])
async def two_apps(
    request: pytest.FixtureRequest, settings: Settings, db: Database, clock: FixedClock, fake: FakeTelegram
) -> AsyncIterator[tuple[Any, Any]]:
    """Two applications ("processes") on the same database and the same Telegram; own engines or one."""
    second_db = Database(db.url) if request.param == "two-engines" else db
    first = build_application(settings, request=FakeRequest(fake), db=db, clock=clock)
    second = build_application(settings, request=FakeRequest(fake), db=second_db, clock=clock)
    try:
        async with first, second:
            yield first, second
    finally:
        if second_db is not db:
            await second_db.dispose()


async def many_schools(db: Database, clock: FixedClock) -> list[int]:
    chats = []
    for n in range(SCHOOLS):
        chat = 3000 + n
        await milk_school(db, clock, f"HB{n:03d}", {chat: f"校长{n}"})
        chats.append(chat)
    # A second reporter at one school, and staff for the digests.
    await add_person(db, clock, 4000, "副校长", school_code="HB000")
    await add_person(db, clock, 2001, "张老师", role="staff")
    return [*chats, 4000]


@pytest.mark.parametrize("advisory_lock", [True, False], ids=["advisory-lock", "claims-only"])
async def test_two_processes_ticking_at_once_send_each_reminder_once(
    two_apps: tuple[Any, Any], db: Database, clock: FixedClock, fake: FakeTelegram, advisory_lock: bool
) -> None:
    chats = await many_schools(db, clock)
    first, second = (ticker_of(app) for app in two_apps)
    first.advisory_lock = second.advisory_lock = advisory_lock
    clock.set(at(12, 2, 9, 5))  # d-3 of November for everyone; Wednesday: this week's digest for staff
    reports = await asyncio.gather(first.tick(), second.tick())
    for _ in range(3):  # and again, both at once, a few minutes later: nothing more
        clock.set(clock.now().replace(minute=clock.now().minute + 5))
        await asyncio.gather(first.tick(), second.tick())

    sends = Counter(call.chat_id for call in fake.calls_to("sendMessage"))
    assert {chat: sends[chat] for chat in chats} == {chat: 1 for chat in chats}
    assert all(reminders_to(fake, chat) == ["milk:2026-11"] for chat in chats)
    assert sends[2001] == 1  # the weekly staff digest, once
    assert sum(r.sent for r in reports) == len(chats)
    assert len(await rows(db, status="sent")) == len(chats)
    if advisory_lock and db.dialect == "postgresql":
        # One process held the lock; the other found it taken and left the work alone.
        assert sorted(r.ran for r in reports) == [False, True]


async def test_retries_are_taken_by_one_process_only(
    two_apps: tuple[Any, Any], db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    chats = await many_schools(db, clock)
    first, second = (ticker_of(app) for app in two_apps)
    first.advisory_lock = second.advisory_lock = False
    fake.fail("sendMessage", "server_error", times=len(chats))  # the first round fails for everyone
    clock.set(at(12, 2, 9, 5))
    await first.tick()
    assert {r.status for r in await rows(db)} == {"retry"}
    clock.set(at(12, 2, 9, 10))
    await asyncio.gather(first.tick(), second.tick())
    delivered = Counter(message["chat"]["id"] for message in fake.sent())
    assert {chat: delivered[chat] for chat in chats} == {chat: 1 for chat in chats}
