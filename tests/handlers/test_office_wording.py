"""Staff have no school: /help and /report_for speak of the office's view and of "that school", never "本校"."""

from __future__ import annotations

from bot.core.clock import FixedClock
from bot.offline.simulator import Simulator
from storage.db import Database
from tests.handlers.test_on_behalf import CITY, REASON, answer_milk, clock, text_of, world  # noqa: F401  (fixture)


async def test_staff_help_describes_status_as_the_office_view(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await world(db, clock)
    staff = sim.user(CITY, "张干事")
    (line,) = [line for line in text_of(await staff.send("/help")).splitlines() if line.startswith("/status")]
    assert line == "/status — 所辖学校的应报、已报和逾期情况（按报表）"
    assert "本校" not in text_of(await staff.send("/help"))
    # A principal keeps their school's wording.
    principal = sim.user(1001, "王校长")
    assert "/status — 本校应报、已报和逾期情况" in text_of(await principal.send("/help"))


async def test_staff_filing_for_a_school_read_that_school_not_ours(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await world(db, clock)
    staff = sim.user(CITY, "张干事")
    await staff.send("/report_for HB001 milk 2026-10")
    await staff.send(REASON)
    await answer_milk(staff)
    await staff.press("提交")
    await staff.send("/report_for HB001 milk 2026-10")
    existing = text_of(await staff.send("数据有误，重新核对"))
    assert "该校2026年10月的学生饮用奶月报已经提交过" in existing and "本校" not in existing
