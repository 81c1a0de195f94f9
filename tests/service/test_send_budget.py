"""One send budget across instances (storage/budget.py): the bucket maths on PostgreSQL,
two real processes sharing it, and the wiring by dialect."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import build_application
from bot.delivery.send import bulk_budget
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.settings import Settings
from storage.budget import LocalBudget, SharedBudget
from storage.db import Database

# Takes happen on the budget's own connections (and in other processes): committed data.
pytestmark = pytest.mark.committed

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
    budget = SharedBudget(db.engine, rate=50.0, cap=2.0, bucket="idle")
    await budget.take_bulk()
    await asyncio.sleep(0.2)  # ten tokens' worth of refill; the bucket holds two
    times = [(await budget.take_bulk()).timestamp() for _ in range(4)]
    assert times[1] - times[0] < 0.015
    assert times[3] - times[1] >= 2 / 50.0 - 0.001


async def test_one_chat_gets_one_token_a_second(db: Database) -> None:
    needs_postgresql(db)
    budget = SharedBudget(db.engine, rate=20.0, chat_interval=0.3)
    first = await budget.take_chat(42)
    other = await budget.take_chat(43)
    second = await budget.take_chat(42)
    assert (other - first).total_seconds() < 0.1, "another chat does not wait"
    assert (second - first).total_seconds() >= 0.3


def run_workers(url: str, mode: str, seconds: float, rate: float, chat_id: int = 0) -> list[list[float]]:
    """Two real processes taking from the same budget at once; the grant times of each."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(ROOT / "tests" / "budget_worker.py"), url, mode, str(seconds), str(rate), str(chat_id)]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outputs = [w.communicate(timeout=seconds + 30)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    per_process = [[float(line) for line in out.split()] for out in outputs]
    assert all(per_process), "both processes got tokens"
    return per_process


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
