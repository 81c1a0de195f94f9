"""A NUL character in a message (PostgreSQL's text and JSON cannot hold U+0000) never fails the update.

Found by the scope fuzzer on PostgreSQL: a staff member's notice with a NUL ended in
"invalid byte sequence for encoding UTF8: 0x00". Typed answers and notices are stored
without the NUL; the rest of the text is kept.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.core.clock import FixedClock
from bot.core.textsplit import storable
from bot.office.broadcast import Content
from bot.offline.simulator import Simulator
from storage.db import Database
from tests.conftest import SHANGHAI
from tests.factories import add_school, register_principal, saved_reports, values_of


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI))


def test_storable_drops_only_the_nul() -> None:
    assert storable("a\x00b\x00") == "ab" and storable("正常") == "正常"
    assert Content("text", "通\x00知").text == "通知", "a notice is stored without it"


async def test_a_text_answer_with_a_nul_is_saved_without_it(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    opened = [r for r in await chat.send("/harvest") if r.text][-1]
    if any("★" in label for label in opened.labels):
        await chat.press("★")
    await chat.press("树木")
    for answer in ("2", "/skip", "0", "40"):
        await chat.send(answer)
    review = [r for r in await chat.send("卖给\x00苗木站") if r.text][-1]
    assert "卖给苗木站" in review.text
    await chat.press("提交")
    [report] = await saved_reports(db, "harvest")
    assert values_of(report)["note"] == "卖给苗木站"
