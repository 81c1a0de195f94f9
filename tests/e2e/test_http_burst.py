"""A short deadline-day burst (benchmarks/burst.py): two real processes on PostgreSQL against a fake
that enforces Telegram's flood limits, and the fake's limiter itself.

The full burst is a benchmark; this variant (30 principals, a 300-recipient
broadcast, 30 reminders) runs in CI. No absolute times are asserted.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from benchmarks.burst import Config, run_burst
from bot.offline.fakeserver import FakeBotApiServer
from bot.offline.floodlimits import FloodLimits
from storage.db import Database
from tests.e2e.conftest import TOKEN


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_flooded_fake_answers_429_with_retry_after_over_30_messages_a_second() -> None:
    limits = FloodLimits()
    async with FakeBotApiServer(token=TOKEN, limits=limits) as api, httpx.AsyncClient() as client:
        base = f"{api.url}/bot{TOKEN}"
        answers = await asyncio.gather(
            *(client.post(f"{base}/sendMessage", json={"chat_id": 2000 + i, "text": "通知"}) for i in range(40))
        )
        # Edits and callback answers are not messages: they pass while the window is full.
        edit = await client.post(f"{base}/answerCallbackQuery", json={"callback_query_id": "1"})
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 30 + [429] * 10
    refused = [a.json() for a in answers if a.status_code == 429]
    assert all(body["error_code"] == 429 and body["parameters"]["retry_after"] >= 1 for body in refused)
    assert all(body["description"].startswith("Too Many Requests: retry after") for body in refused)
    assert edit.status_code == 200
    assert len(api.fake.sent()) == 30
    assert limits.summary() == {
        "admitted": 30,
        "refused_overall": 10,
        "refused_chat": 0,
        "max_admitted_in_window": 30,
        "max_attempted_in_window": 40,
    }


async def test_fake_allows_one_message_a_second_per_chat_in_a_sliding_window() -> None:
    clock = Clock()
    limits = FloodLimits(clock=clock)
    send = {"chat_id": 1001, "text": "x"}
    assert limits.check("sendMessage", send) is None
    clock.now += 0.6
    refused = limits.check("sendMessage", send)
    assert refused is not None and refused[0] == 429 and refused[1]["parameters"]["retry_after"] == 1
    assert limits.check("sendMessage", {"chat_id": 1002, "text": "x"}) is None  # another chat is free
    assert limits.check("editMessageText", {**send, "message_id": 1}) is None  # an edit is not a message
    clock.now += 0.4  # one second after the first message: the window has slid past it
    assert limits.check("sendMessage", send) is None
    assert [e.scope for e in limits.refused] == ["chat"]


async def test_fake_refuses_the_31st_message_until_the_oldest_leaves_the_window() -> None:
    clock = Clock()
    limits = FloodLimits(clock=clock)
    for i in range(30):
        assert limits.check("sendMessage", {"chat_id": i, "text": "x"}) is None
        clock.now += 0.01
    assert limits.check("sendPhoto", {"chat_id": 99}) is not None
    clock.now = 100.0 + 1.0  # the first message is now a full second old
    assert limits.check("sendPhoto", {"chat_id": 99}) is None
    assert limits.check("sendPhoto", {"chat_id": 98}) is not None
    assert limits.max_in_window() == 30


async def test_the_fake_enforces_flood_limits_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAKE_BOT_API_RATE_LIMITS", raising=False)
    assert FakeBotApiServer().limits is None
    monkeypatch.setenv("FAKE_BOT_API_RATE_LIMITS", "1")
    assert isinstance(FakeBotApiServer().limits, FloodLimits)


@pytest.mark.serial  # two bot processes against the flood limits: run alone (scripts/test)
async def test_two_processes_ride_out_a_short_deadline_burst_within_the_flood_limits(
    pg_db: tuple[str, Database],
) -> None:
    url, _ = pg_db
    config = Config(
        principals=30,
        window=8.0,
        recipients=300,
        reminders=30,
        think=(1.0, 1.3),
        floor_seconds=4.0,
        floor_steps=3,
        reply_timeout=10.0,
        drain_timeout=120.0,
    )
    figures = await run_burst(url, config)

    # The fake enforced Telegram's limits and the figures count what it refused.
    assert figures.max_admitted <= 30
    assert figures.refused_overall + figures.refused_chat + figures.refused_floor == figures.answered_429
    assert figures.max_attempted >= figures.max_admitted
    # Everything that was owed was attempted to the end; nothing arrived twice; the processes stopped cleanly.
    assert figures.drained
    assert figures.total_duplicated == 0
    assert figures.exit_codes == [0, 0]
    assert figures.updates["floor"] > 0 and figures.latencies("floor")
    # A receipt can be lost after its report was committed, never the other way round.
    assert figures.reports_saved >= figures.reports_done

    # Every message of both processes takes from one shared budget, replies first (issue 17 point 1).
    assert figures.total_lost == 0, dict(figures.lost)
    assert not figures.errors, figures.errors[:5]
    assert figures.reports_saved == figures.reports_done == config.principals
