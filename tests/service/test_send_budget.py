"""One send budget across instances (storage/budget.py): the bucket maths on PostgreSQL,
two real processes sharing it, and the wiring by dialect."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from statistics import median, quantiles

import pytest

from bot.app import build_application, build_rate_limiter
from bot.delivery.limiter import SharedRateLimiter
from bot.delivery.send import bulk_budget
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from telegram.ext import AIORateLimiter
from bot.settings import Settings
from storage.budget import LocalBudget, SharedBudget, spacing_of
from storage.db import Database

# Takes happen on the budget's own connections (and in other processes): committed data. The rates
# and waits measured here are the machine's too: run alone (scripts/test runs `serial` after the rest).
pytestmark = [pytest.mark.committed, pytest.mark.serial]

ROOT = Path(__file__).resolve().parents[2]


def needs_postgresql(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("the shared budget lives in PostgreSQL; SQLite keeps the in-process pacer")


def max_in_any_second(times: list[float]) -> int:
    """The most grants in any window [t, t + 1) starting at a grant."""
    times = sorted(times)
    best = 0
    end = 0
    for start, t in enumerate(times):
        while end < len(times) and times[end] < t + 1.0:
            end += 1
        best = max(best, end - start)
    return best


async def test_a_fast_taker_gets_only_the_cap_plus_the_refill(db: Database) -> None:
    needs_postgresql(db)
    budget = SharedBudget(db.engine, rate=20.0, cap=3.0, bucket="maths")
    times = [(await budget.take_bulk()).timestamp() for _ in range(13)]
    elapsed = times[-1] - times[0]
    # The first three come at once (a full bucket), the next ten one every 1/20 s.
    assert times[2] - times[0] < 0.05
    assert elapsed >= 10 / 20.0
    assert len(times) <= 3.0 + 20.0 * elapsed + 1e-6


async def test_an_idle_bucket_refills_only_up_to_its_cap(db: Database) -> None:
    needs_postgresql(db)
    # A slow rate, so the check is about tokens (0.2 s each), not about how fast the database answers.
    rate = 5.0
    budget = SharedBudget(db.engine, rate=rate, cap=2.0, bucket="idle")
    await budget.take_bulk()
    await asyncio.sleep(1.0)  # five tokens' worth of refill; the bucket holds two
    times = [(await budget.take_bulk()).timestamp() for _ in range(4)]
    assert times[1] - times[0] < 0.5 / rate, "the two held tokens come without waiting for a refill"
    # Two tokens were banked at times[0]; the next two must be refilled at the rate, so the fourth
    # comes 2/rate after the first (had the idle second banked five, it would come at once).
    assert times[3] - times[0] >= 2 / rate - 0.001, "the idle time did not bank more than the cap"


async def test_one_chat_gets_one_token_a_second(db: Database) -> None:
    needs_postgresql(db)
    budget = SharedBudget(db.engine, rate=20.0, chat_interval=0.3)
    first = await budget.take_chat(42)
    other = await budget.take_chat(43)
    second = await budget.take_chat(42)
    assert (other - first).total_seconds() < 0.1, "another chat does not wait"
    assert (second - first).total_seconds() >= 0.3


async def test_a_chats_second_counts_from_when_its_message_goes(db: Database) -> None:
    """A message's chat token is taken for its slot: counted from a grant before its wait for the slot, the
    next message to the chat could go right after it."""
    needs_postgresql(db)
    budget = SharedBudget(db.engine, rate=20.0, chat_interval=0.3, overall_rate=1.0, bucket="t-bulk", overall_bucket="t-all")
    await budget.take_send(42, bulk=False)  # a fresh chat and schedule: at once
    asked = await budget.take_chat(43)  # (the database's now)
    second = await budget.take_send(42, bulk=False)  # its slot comes a second after the first's
    assert (second.telegram - asked).total_seconds() > 0.5, "it waited for its slot"
    assert second.chat == second.telegram, "its chat's second counts from its slot"
    third = await budget.take_chat(42)
    assert (third - second.telegram).total_seconds() >= 0.3 - 0.01


async def test_a_message_whose_chat_went_while_it_queued_takes_the_chat_again(db: Database) -> None:
    """A bulk send that waits for its slot long after its chat token (behind replies) must not go on that
    token when another message took the chat meanwhile: it would reach the chat within the chat's second."""
    needs_postgresql(db)
    rate = 2.0  # slots 0.5 s apart; a bulk send may book 0.5 s ahead
    budget = SharedBudget(db.engine, rate=1000.0, chat_interval=0.3, overall_rate=rate, bucket="q-bulk", overall_bucket="q-all")
    other = SharedBudget(db.engine, rate=1000.0, chat_interval=0.3, overall_rate=rate, bucket="q-bulk", overall_bucket="q-all")
    for _ in range(3):  # replies booked ahead: slots now, +0.5, +1.0; the next free at +1.5
        await budget.book_overall(bulk=False)
    queued = asyncio.create_task(budget.take_send(42, bulk=True))  # chat 42 now, then waits to book until +1.0
    await asyncio.sleep(0.4)
    meanwhile = await other.take_chat(42)  # another instance's message to chat 42, 0.3 s after the queued one's token
    grant = await queued
    assert grant.chat is not None and grant.chat >= meanwhile, "it took the chat again after the other message"
    assert (grant.telegram - meanwhile).total_seconds() >= 0.3, "it goes a chat interval after the other message"
    # ...and the chat's second now counts from when it goes.
    after = await other.take_chat(42)
    assert (after - grant.telegram).total_seconds() >= 0.3 - 0.01


async def test_two_queued_messages_to_one_chat_both_go_an_interval_apart(db: Database) -> None:
    """Two bulk sends to one chat from two instances, each waiting for its slot longer than the chat's
    interval: both go, an interval apart, each chat's second counted from its slot. (With chat tokens taken
    before the slot, a message whose token another had spent took the chat again and could spend that
    one's in turn, for as long as the queue lasted: the burst's one duplicate was a broadcast row held
    past its 5-minute lease that way.)"""
    needs_postgresql(db)
    rate = 2.0  # slots 0.5 s apart, longer than the chat's 0.3 s
    one, two = (
        SharedBudget(db.engine, rate=1000.0, chat_interval=0.3, overall_rate=rate, bucket="l-bulk", overall_bucket="l-all")
        for _ in range(2)
    )
    for _ in range(3):  # replies booked ahead: the next free slot in 1.5 s
        await one.book_overall(bulk=False)
    grants = await asyncio.wait_for(asyncio.gather(one.take_send(42, bulk=True), two.take_send(42, bulk=True)), 10.0)
    slots = sorted(g.telegram for g in grants)
    assert (slots[1] - slots[0]).total_seconds() >= 0.3
    assert all(g.chat == g.telegram for g in grants)


def start_workers(url: str, modes: list[str], seconds: float, rate: float, *extra: float) -> list[str]:
    """Real processes (one per mode) taking from the same budget at once; the output of each."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = str(ROOT / "tests" / "budget_worker.py")
    args = [str(a) for a in (seconds, rate, *extra)]
    workers = [
        subprocess.Popen([sys.executable, script, url, mode, *args], stdout=subprocess.PIPE, text=True, env=env) for mode in modes
    ]
    outputs = [w.communicate(timeout=seconds + 30)[0] for w in workers]
    assert [w.returncode for w in workers] == [0] * len(modes)
    return outputs


def run_workers(url: str, mode: str, seconds: float, rate: float, chat_id: int = 0) -> list[list[float]]:
    """Two real processes taking from the same budget at once; the grant times of each."""
    outputs = start_workers(url, [mode, mode], seconds, rate, chat_id)
    per_process = [[float(line) for line in out.split()] for out in outputs]
    assert all(per_process), "both processes got tokens"
    return per_process


@dataclass(frozen=True)
class Taken:
    """One message's tokens as budget_worker.py prints them."""

    lane: str
    wait: float
    chat: float
    telegram: float


def run_senders(
    url: str, modes: list[str], seconds: float, rate: float, chat_id: int = 0, per_second: float = 0.0, streams: int = 1
) -> list[Taken]:
    """Processes taking every token a message needs (budget_worker.py's message modes); all their takes."""
    outputs = start_workers(url, modes, seconds, rate, chat_id, per_second, streams)
    takes = [Taken(*line.split()[:1], *map(float, line.split()[1:])) for out in outputs for line in out.splitlines()]  # type: ignore[arg-type]
    assert {t.lane for t in takes} >= {"bulk", "interactive"}
    return takes


async def test_two_processes_share_one_bulk_rate(db: Database) -> None:
    needs_postgresql(db)
    rate = 20.0
    per_process = await asyncio.to_thread(run_workers, db.url, "bulk", 3.0, rate)
    times = sorted(t for grants in per_process for t in grants)
    # Never above the rate plus the one token of burst, in any second of the database clock...
    assert max_in_any_second(times) <= rate + 1
    # ...and while both take, together they still get nearly all of it (not half, not twice).
    # (Measured where both run: a process's start-up, imports and first connection, is not the budget's.)
    start = max(grants[0] for grants in per_process)
    end = min(grants[-1] for grants in per_process)
    assert end - start >= 1.5
    both = [t for t in times if start <= t <= end]
    assert (len(both) - 1) / (end - start) >= 0.9 * rate


async def test_two_processes_sending_to_one_chat_are_a_second_apart(db: Database) -> None:
    needs_postgresql(db)
    per_process = await asyncio.to_thread(run_workers, db.url, "chat", 2.5, 20.0, 777)
    times = sorted(t for grants in per_process for t in grants)
    assert len(times) >= 3
    assert min(b - a for a, b in zip(times, times[1:])) >= 1.0


async def test_the_budget_is_shared_on_postgresql_and_local_on_sqlite(settings: Settings, db: Database) -> None:
    application = build_application(settings, request=FakeRequest(FakeTelegram()), db=db)
    budget = application.bot_data.budget
    assert bulk_budget(application.bot_data) is budget, "built once, reached through the services"
    if db.dialect == "postgresql":
        assert isinstance(budget, SharedBudget)
        assert budget.rate == settings.send_bulk_rate < 30
    else:
        assert isinstance(budget, LocalBudget)


async def test_a_fractional_cap_is_kept_so_a_late_taker_loses_no_rate(db: Database) -> None:
    needs_postgresql(db)
    budget = SharedBudget(db.engine, rate=4.0, cap=1.5, bucket="half")
    first = await budget.take_bulk()  # a fresh bucket is full: 1.5, and 0.5 stays
    second = await budget.take_bulk()  # half a token to wait for (0.125 s), not a whole one (0.25 s)
    assert 0.1 <= (second - first).total_seconds() < 0.2


# --- one bucket for every message: replies ahead of bulk sends ------------------------------------


async def test_a_reply_books_ahead_while_a_bulk_send_waits_for_its_slot(db: Database) -> None:
    needs_postgresql(db)
    budget = SharedBudget(db.engine, rate=1000.0, overall_rate=4.0, overall_bucket="lanes", bucket="lanes-bulk")
    for _ in range(2):  # two replies booked (not waited for): slots now and in 0.25 s, the next free in 0.5 s
        await budget.book_overall(bulk=False)
    bulk = asyncio.create_task(budget.take_overall(bulk=True))  # may book only a spacing (0.25 s) ahead: waits
    await asyncio.sleep(0.01)
    reply = await budget.take_overall(bulk=False)  # books the slot in 0.5 s at once, ahead of the waiting bulk send
    granted = await bulk
    assert reply < granted
    assert (granted - reply).total_seconds() >= 0.25 - 0.001, "the bulk send took the slot after the reply's"


async def test_slots_never_bank_and_a_second_holds_at_most_the_rate(db: Database) -> None:
    needs_postgresql(db)
    rate = 10.0
    budget = SharedBudget(db.engine, rate=1000.0, overall_rate=rate, overall_bucket="slots", bucket="slots-bulk")
    await budget.take_overall(bulk=False)
    await asyncio.sleep(1.0)  # ten slots' worth of idle time: a bucket would have banked them
    times = [(await budget.take_overall(bulk=False)).timestamp() for _ in range(12)]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= spacing_of(rate) - 1e-6, "every slot a spacing after the last, even after an idle second"
    assert max_in_any_second(times) <= rate


def test_a_spacing_is_never_under_its_share_of_a_second() -> None:
    # Rounded to PostgreSQL's microsecond; rounded down, 28 spacings would be 999,992 µs and a second could hold 29.
    for rate in (3.0, 7.0, 28.0, 29.0, 30.0):
        assert spacing_of(rate) * rate >= 1.0
        assert spacing_of(rate) - 1 / rate < 1e-6


async def test_a_bulk_taker_that_wakes_late_keeps_its_slot(db: Database) -> None:
    needs_postgresql(db)
    rate = 5.0  # a spacing of 0.2 s; a bulk send may book 0.2 s ahead
    budget = SharedBudget(db.engine, rate=1000.0, overall_rate=rate, overall_bucket="late", bucket="late-bulk")
    first = await budget.take_overall(bulk=True)
    # Booked at once: the next slot is first + 0.2 s, bookable from now on; wake "late" (0.1 s) and still get it.
    await asyncio.sleep(0.1)
    second = await budget.take_overall(bulk=True)
    assert abs((second - first).total_seconds() - spacing_of(rate)) < 0.005


async def test_replies_keep_priority_over_a_bulk_stream_across_two_processes(db: Database) -> None:
    needs_postgresql(db)
    # A rate low enough that the bulk streams are held by the budget, not by their statements' own latency:
    # 4 a second, 2 of them replies, leaves the six bulk streams (three a process: a broadcast and a reminder
    # tick at once, and more) 2 a second between them (a median wait of 1.5-2.3 s measured). A reply books behind whatever is
    # booked, and bulk sends book at most a spacing ahead: it waits about two spacings (~0.5 s here).
    # (With one bulk stream a process the two medians were ~0.4 and ~0.8 s: too close to tell apart reliably.)
    rate, per_second, seconds, streams = 4.0, 1.0, 5.0, 3
    takes = await asyncio.to_thread(run_senders, db.url, ["mixed", "mixed"], seconds, rate, 0, per_second, streams)
    times = sorted(t.telegram for t in takes)
    # One schedule for every message of both processes: never above the rate in any second...
    assert max_in_any_second(times) <= rate
    # ...and nearly all of it used, bulk sends taking what the replies leave.
    start, end = times[0] + 1.0, times[-1] - 1.0
    assert len([t for t in times if start <= t <= end]) / (end - start) >= 0.85 * rate
    replies = [t for t in takes if t.lane == "interactive"]
    bulk = [t for t in takes if t.lane == "bulk"]
    # Every reply asked for got its slot, promptly: a bulk send waits behind the other bulk sends, a reply does not.
    assert len(replies) >= 0.9 * 2 * per_second * seconds
    bulk_median = median(b.wait for b in bulk)
    assert median(r.wait for r in replies) < 0.5 * bulk_median
    assert quantiles([r.wait for r in replies], n=10)[-1] < bulk_median, "nine replies in ten waited less than most bulk sends"
    # ...and the bulk streams are not starved: they get most of what the replies leave.
    assert len(bulk) >= 0.5 * (rate * seconds - len(replies))


async def test_a_reply_and_a_bulk_send_to_one_chat_from_two_processes_are_a_second_apart(db: Database) -> None:
    needs_postgresql(db)
    takes = await asyncio.to_thread(run_senders, db.url, ["send-bulk", "send-interactive"], 3.5, 20.0, 778)
    times = sorted(t.chat for t in takes)
    assert len(times) >= 3
    assert min(b - a for a, b in zip(times, times[1:])) >= 1.0


def test_postgresql_with_telegram_itself_gets_the_shared_limiter_and_the_rest_ptbs(settings: Settings, db: Database) -> None:
    fake = FakeRequest(FakeTelegram())
    if db.dialect != "postgresql":
        assert isinstance(build_rate_limiter(settings, db.url, None), AIORateLimiter), "SQLite: one process"
        return
    limiter = build_rate_limiter(settings, db.url, None)
    assert isinstance(limiter, SharedRateLimiter)
    assert limiter.budget.owns_engine and limiter.budget.rate == settings.send_bulk_rate
    # The in-memory fake of tests and the console has no Telegram to share.
    assert isinstance(build_rate_limiter(settings, db.url, fake), AIORateLimiter)


async def test_bulk_sends_draw_from_the_budget_the_shared_limiter_draws_from(settings: Settings, db: Database) -> None:
    needs_postgresql(db)
    application = build_application(settings, db=db)  # the real transport (never contacted here)
    limiter = application.bot.rate_limiter
    assert isinstance(limiter, SharedRateLimiter)
    assert bulk_budget(application.bot_data) is limiter.budget
    await limiter.shutdown()
