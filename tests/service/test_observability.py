"""The per-update log line: role, handler and duration, never the message text."""

from __future__ import annotations

import logging

import pytest

from bot.core.clock import FixedClock
from bot.offline.simulator import Simulator
from storage.db import Database
from tests.factories import add_school, register_principal


async def test_each_update_logs_role_handler_and_duration(
    sim: Simulator, db: Database, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="schoolbot.updates"):
        await chat.send("/help")
        await chat.send("我们学校的秘密数字是 31415")
    lines = [r.getMessage() for r in caplog.records if r.name == "schoolbot.updates"]
    assert len(lines) == 2
    assert "role=principal" in lines[0] and "handler=common.help_command" in lines[0] and "duration_ms=" in lines[0]
    assert "kind=text" in lines[1]
    assert all("31415" not in line and "秘密" not in line for line in lines)


async def test_failed_update_is_logged_as_error(
    sim: Simulator, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import handlers.common as common

    def boom(*_args: object) -> str:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(common, "help_text", boom)
    with caplog.at_level(logging.INFO):
        replies = await sim.user(5, "x").send("/help")
    line = next(r.getMessage() for r in caplog.records if r.name == "schoolbot.updates")
    assert "outcome=error" in line
    assert "临时故障" in replies[-1].text


async def test_guarded_office_commands_are_named_in_the_log(
    sim: Simulator, db: Database, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="schoolbot.updates"):
        await sim.user(900, "陈主任").send("/staff")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "schoolbot.updates"]
    assert "role=admin" in line and "handler=registration.staff_list" in line
