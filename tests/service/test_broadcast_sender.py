"""The outbox sender: Telegram's answers, restarts, expired leases, two senders, progress edits."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from sqlalchemy import select, update

from bot.app import build_application
from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.delivery.sender import BroadcastSender, sender_of
from bot.settings import Settings
from bot.offline.simulator import Simulator
from storage import broadcast_sends as store
from storage.db import Database
from storage.models import OutboxRow, Person
from tests.handlers.test_broadcast import ADMIN, broadcasts, principals, received, rows_of

TEXT = "关于开展冬季劳动实践活动的通知"


async def queue(sim: Simulator, text: str = TEXT, segment: str = "全部校长") -> int:
    """Compose and confirm a broadcast as the admin; returns the progress message id."""
    staff = sim.user(ADMIN, "李主任")
    await staff.send("/broadcast")
    await staff.press(segment)
    await staff.send(text)
    replies = await staff.press("确认发送")
    return replies[-1].message_id


def copies(fake: FakeTelegram, chats: range | list[int], text: str = TEXT) -> dict[int, int]:
    """How many times each chat received ``text``."""
    return {chat: received(fake, chat).count(text) for chat in chats}


async def many_principals(db: Database, clock: FixedClock, n: int, first: int = 1001) -> list[int]:
    chats = list(range(first, first + n))
    for i in range(0, n, 4):
        await principals(db, clock, f"S{i:03d}", chats[i : i + 4])
    return chats


async def test_forbidden_marks_blocked_and_every_recipient_blocked_is_reported(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    chats = await many_principals(db, clock, 6)
    sim.fake.blocked.update(chats)
    await queue(sim)
    await sender_of(sim.app).run_until_idle()
    assert {r.status for r in await rows_of(db)} == {"blocked"}
    async with db.session() as session:
        people = (await session.scalars(select(Person).where(Person.telegram_id.in_(chats)))).all()
    assert all(p.blocked for p in people)
    report = sim.fake.last(ADMIN)["text"]
    assert "送达 0 / 6，失败 0，已屏蔽 6" in report and "未收到通知的学校（2 所）" in report
    assert "S000 S000学校" in report and "S004 S004学校" in report
    # Next time they are known to be blocked: the audience is empty, nothing is attempted.
    staff = sim.user(ADMIN)
    await staff.send("/broadcast")
    replies = await staff.press("全部校长")
    assert "没有可以接收通知的人" in replies[-1].text and "6 人" in replies[-1].text


async def test_already_blocked_people_are_skipped_and_counted(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await principals(db, clock, "HB001", [1001])
    await principals(db, clock, "HB002", [1002], blocked=True)
    await queue(sim)
    await sender_of(sim.app).run_until_idle()
    assert received(sim.fake, 1001) == [TEXT] and [c for c in sim.fake.calls if c.chat_id == 1002] == []
    report = sim.fake.last(ADMIN)["text"]
    assert "送达 1 / 2，失败 0，已屏蔽 1" in report and "HB002" in report


async def test_chat_not_found_fails_with_the_reason(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await principals(db, clock, "HB001", [1001, 1002])
    sim.fake.unknown_chats.add(1002)
    await queue(sim)
    await sender_of(sim.app).run_until_idle()
    by_chat = {r.chat_id: r for r in await rows_of(db)}
    assert by_chat[1001].status == "sent"
    assert by_chat[1002].status == "failed" and "chat not found" in (by_chat[1002].error or "").lower()
    assert "失败 1" in sim.fake.last(ADMIN)["text"]


async def test_server_error_is_retried_after_backoff(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await principals(db, clock, "HB001", [1001, 1002])
    sim.fake.fail("sendMessage", "server_error", chat_id=1002)
    await queue(sim)
    sender = sender_of(sim.app)
    await sender.run_until_idle()
    row = {r.chat_id: r for r in await rows_of(db)}[1002]
    assert row.status == "pending" and row.attempts == 1 and row.not_before is not None
    assert row.not_before - clock.now() == timedelta(seconds=1) and not row.maybe_duplicate
    assert await sender.run_until_idle() == 0, "not before its back-off"
    clock.advance(timedelta(seconds=1))
    assert await sender.run_until_idle() == 1
    assert copies(sim.fake, [1001, 1002]) == {1001: 1, 1002: 1}
    (broadcast,) = await broadcasts(db)
    assert broadcast.status == "done"


async def test_timeout_is_retried_and_flagged_as_possible_duplicate(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await principals(db, clock, "HB001", [1001])
    sim.fake.fail("sendMessage", "timeout", chat_id=1001)
    await queue(sim)
    sender = sender_of(sim.app)
    await sender.run_until_idle()
    clock.advance(timedelta(seconds=5))
    await sender.run_until_idle()
    (row,) = await rows_of(db)
    assert row.status == "sent" and row.attempts == 2 and row.maybe_duplicate
    assert "1 人可能收到了两次" in sim.fake.last(ADMIN)["text"]


async def test_gives_up_after_max_attempts(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await principals(db, clock, "HB001", [1001])
    sim.fake.fail("sendMessage", "server_error", times=10, chat_id=1001)
    await queue(sim)
    sender = sender_of(sim.app)
    sender.max_attempts = 3
    for _ in range(3):
        await sender.run_until_idle()
        clock.advance(timedelta(minutes=10))
    (row,) = await rows_of(db)
    assert row.status == "failed" and row.attempts == 3 and "gave up after 3 attempts" in (row.error or "")
    assert "失败 1" in sim.fake.last(ADMIN)["text"]


async def test_429_storm_is_ridden_out_without_losing_or_doubling(sim: Simulator, db: Database, clock: FixedClock) -> None:
    chats = await many_principals(db, clock, 8)
    # 1001 gets four 429s in a row: more than the rate limiter's three retries, so the row is rescheduled.
    sim.fake.fail("*", "retry_after", times=4, chat_id=1001, retry_after=1)
    sim.fake.fail("*", "retry_after", times=1, retry_after=1)
    await queue(sim)
    sender = sender_of(sim.app)
    await sender.run_until_idle()
    row = {r.chat_id: r for r in await rows_of(db)}[1001]
    assert row.status == "pending" and "RetryAfter" in (row.error or "")
    assert row.not_before is not None and row.not_before - clock.now() == timedelta(seconds=1)
    clock.advance(timedelta(seconds=1))
    await sender.run_until_idle()
    assert copies(sim.fake, chats) == {chat: 1 for chat in chats}
    assert {r.status for r in await rows_of(db)} == {"sent"}
    statuses = Counter(c.chat_id for c in sim.fake.calls_to("sendMessage") if c.chat_id != ADMIN)
    assert statuses[1001] == 5, "four 429s, then delivered once"


async def test_restart_in_the_middle_resumes_without_sending_a_row_twice(
    settings: Settings, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    chats = await many_principals(db, clock, 12)
    first = build_application(settings, request=FakeRequest(fake), db=db, clock=clock)
    async with first:
        await queue(Simulator(first, fake))
        assert await sender_of(first).drain_once(limit=5) == 5
    assert sum(copies(fake, chats).values()) == 5
    second = build_application(settings, request=FakeRequest(fake), db=db, clock=clock)
    async with second:
        assert await sender_of(second).run_until_idle() == 7
    assert copies(fake, chats) == {chat: 1 for chat in chats}
    assert all(r.status == "sent" and r.attempts == 1 and not r.maybe_duplicate for r in await rows_of(db))


async def test_row_claimed_by_a_killed_process_is_resent_after_its_lease_and_flagged(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    chats = await many_principals(db, clock, 3)
    await queue(sim)
    # A process claims two rows and dies before sending them.
    async with db.session() as session:
        dead = await store.claim_rows(session, clock.now(), limit=2, worker="killed", lease=timedelta(minutes=5))
    sender = sender_of(sim.app)
    assert await sender.run_until_idle() == 1, "rows under a live lease are left alone"
    assert copies(sim.fake, chats) == {1001: 0, 1002: 0, 1003: 1}
    clock.advance(timedelta(minutes=5, seconds=1))
    assert await sender.run_until_idle() == 2
    assert copies(sim.fake, chats) == {1001: 1, 1002: 1, 1003: 1}
    rows = {r.id: r for r in await rows_of(db)}
    for claimed in dead:
        assert rows[claimed.id].status == "sent" and rows[claimed.id].attempts == 2 and rows[claimed.id].maybe_duplicate
    assert "2 人可能收到了两次" in sim.fake.last(ADMIN)["text"]
    # The dead worker's late result is refused: it no longer holds the claim.
    async with db.session() as session:
        assert not await store.record_sent(session, dead[0], clock.now(), parts=1, maybe_duplicate=False)


async def test_two_senders_split_the_outbox_without_duplicates(
    settings: Settings, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    chats = await many_principals(db, clock, 40)
    one = build_application(settings, request=FakeRequest(fake), db=db, clock=clock)
    two = build_application(settings, request=FakeRequest(fake), db=db, clock=clock)
    async with one, two:
        await queue(Simulator(one, fake))
        a = BroadcastSender(one, concurrency=6, worker="one")
        b = BroadcastSender(two, concurrency=6, worker="two")
        claimed = await asyncio.gather(a.run_until_idle(), b.run_until_idle())
    assert sum(claimed) == 40 and min(claimed) > 0, f"both senders took rows: {claimed}"
    assert copies(fake, chats) == {chat: 1 for chat in chats}
    rows = await rows_of(db)
    assert {r.status for r in rows} == {"sent"} and {r.worker for r in rows} == {"one", "two"}
    assert all(r.attempts == 1 for r in rows)
    # Exactly one of them reported the end.
    reports = [m for m in fake.sent(ADMIN) if "已完成" in (m.get("text") or "") and "所有对象都已收到" in m["text"]]
    assert len(reports) == 1


async def test_progress_message_is_edited_at_most_every_three_seconds(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await many_principals(db, clock, 6)
    progress = await queue(sim)
    sender = sender_of(sim.app)

    def edits() -> int:
        return sum(1 for c in sim.fake.calls_to("editMessageText") if int(c.params["message_id"]) == progress)

    confirmed = edits()
    await sender.drain_once(limit=1)
    assert edits() == confirmed, "no edit within 3 s of the last"
    clock.advance(timedelta(seconds=3))
    await sender.drain_once(limit=2)
    assert edits() == confirmed + 1
    assert "已送达 3 / 6" in sim.fake.messages[ADMIN][progress]["text"]
    await sender.drain_once(limit=1)
    assert edits() == confirmed + 1
    clock.advance(timedelta(seconds=2))
    await sender.drain_once(limit=1)
    assert edits() == confirmed + 1
    await sender.run_until_idle()  # the end is reported whatever the clock
    assert "已完成" in sim.fake.messages[ADMIN][progress]["text"]


async def test_a_split_text_resumes_after_the_parts_already_sent(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await principals(db, clock, "HB001", [1001])
    text = ("甲" * 3000) + "\n\n" + ("乙" * 3000)
    await queue(sim, text)
    # As if part one went out and the process died before part two.
    async with db.session() as session:
        await session.execute(update(OutboxRow).values(parts_sent=1))
    sender = sender_of(sim.app)
    await sender.run_until_idle()
    assert received(sim.fake, 1001) == ["乙" * 3000]
    (row,) = await rows_of(db)
    assert row.status == "sent" and row.parts_sent == 2


async def test_background_sender_starts_and_stops(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await principals(db, clock, "HB001", [1001])
    sender = sender_of(sim.app)
    await sender.start()
    try:
        await queue(sim)  # confirming wakes the running sender
        for _ in range(100):
            if received(sim.fake, 1001):
                break
            await asyncio.sleep(0.02)
    finally:
        await sender.stop()
    assert received(sim.fake, 1001) == [TEXT] and not sender.running
