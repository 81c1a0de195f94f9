"""Issue 15 point 1, the office's side around the cards: a reason asked for survives a restart,
the cancel button drops it, district staff review their own district, cards show the
confirmed warnings with their reasons, the 🔍 buttons under /summary and /flags open the
queue, and approval coverage reaches summary --json and the XLSX. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from datetime import datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from bot.app import build_application
from bot.commands.summary import summary_json
from bot.core.catalogue import load_catalogue
from bot.core.clock import FixedClock
from bot.core.periods import parse_period
from bot.office.summary import summarise
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.offline.simulator import Simulator
from bot.settings import Settings
from storage.db import Database
from storage.models import Report, ReviewPrompt
from storage.reports import NewFlag
from tests.conftest import SHANGHAI
from tests.handlers.test_flags_office import milk
from tests.handlers.test_review_states import PRINCIPAL, STAFF, current_milk, last, texts, world
from tests.handlers.test_summary_handlers import last_file
from tests.service.test_rollups import three_schools
from tests.factories import register_staff


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI))


async def test_a_reason_asked_for_survives_a_restart(sim: Simulator, db: Database, clock: FixedClock, settings: Settings) -> None:
    wang, li = await world(sim, db, clock)
    card = (await li.send("/review milk 2026-11"))[1]
    await li.press("退回", message_id=card.message_id)

    # Another process (a restart) takes the typed reason: the question was a row, not memory.
    fake = FakeTelegram()
    async with build_application(settings, request=FakeRequest(fake), db=db, clock=clock) as app:
        restarted = Simulator(app, fake)
        done = await restarted.user(STAFF, "李老师").send("供奶天数与校历不符")
    assert "已退回" in texts(done)
    assert (await current_milk(db)).review == "returned"
    assert any("供奶天数与校历不符" in text for text in fake.texts(PRINCIPAL))


async def test_cancel_under_the_question_keeps_the_report_and_frees_the_next_text(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    _, li = await world(sim, db, clock)
    card = (await li.send("/review milk 2026-11"))[1]
    await li.press("退回", message_id=card.message_id)
    assert "没有退回" in texts(await li.press("取消"))
    async with db.session() as session:
        assert await session.scalar(select(ReviewPrompt.id)) is None
    answer = texts(await li.send("这句话不是理由"))
    assert "已退回" not in answer
    assert (await current_milk(db)).review == "submitted"


async def test_district_staff_approve_in_their_district(sim: Simulator, db: Database, clock: FixedClock) -> None:
    _, li = await world(sim, db, clock, district="濉溪县")
    queue = await li.send("/review")  # defaults as /summary: the first form, its last finished period
    assert "濉溪县" in queue[0].text
    card = (await li.send("/review milk 2026-11"))[1]
    await li.press("通过", message_id=card.message_id)
    assert (await current_milk(db)).review == "approved"
    # A second press on the same card changes nothing and says so.
    await li.press_data(card.buttons[0][0]["callback_data"], sim.fake.messages[STAFF][card.message_id])
    alert = sim.fake.calls_to("answerCallbackQuery")[-1].params
    assert alert.get("show_alert") and "已审核通过" in alert["text"]


async def test_cards_show_confirmed_warnings_and_the_buttons_open_the_queue(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    a, b, _ = await three_schools(db, clock)
    flag = NewFlag("history:previous", "比上月 856 人多了 9 倍，确认无误吗？", "合并了分校", "daily_drinkers", {"ratio": 10})
    await milk(db, a, 300)
    await milk(db, b, 8560, flags=(flag,))
    chat = await register_staff(sim, db, clock)

    summary = last(await chat.send("/summary milk 2026-10"))
    assert "已审核 0/2 份" in summary.text and "🔍 审核" in summary.labels
    queue = await chat.press("🔍 审核")
    assert "2 份待审核" in queue[0].text
    flagged = next(r for r in queue if "张庄中学" in r.text)
    assert "⚠️ 日参饮人数 8,560 人：比上月 856 人多了 9 倍" in flagged.text and "填报人说明：合并了分校" in flagged.text
    await chat.press("通过", message_id=flagged.message_id)

    await chat.send("/flags milk 2026-10")
    assert "🔍 审核" in chat.buttons()
    queue = await chat.press("🔍 审核")
    assert "1 份待审核" in queue[0].text and "已审核 1/2 份" in queue[0].text

    form = load_catalogue().get("milk")
    period = parse_period(form.period_cadence, "2026-10")
    document = json.loads(json.dumps(summary_json(await summarise(db, form, period, clock.now(), SHANGHAI))))
    assert (document["city"]["approved"], document["city"]["reports"]) == (1, 2)
    assert sorted(d["approved"] for d in document["districts"]) == [0, 1]

    await chat.send("/export milk 2026-10")
    _, data = last_file(sim, "sendDocument")
    workbook = load_workbook(io.BytesIO(data))
    cover, rollup, detail = workbook.worksheets[0], workbook.worksheets[1], workbook.worksheets[2]
    lines = {row[0]: row[1] for row in cover.iter_rows(values_only=True) if row and row[0]}
    assert lines["审核情况"] == "已审核 1/2 份"
    header = [cell.value for cell in rollup[1]]
    assert [row[header.index("已审核份数")] for row in rollup.iter_rows(min_row=2, values_only=True)][0] == 1
    detail_header = [cell.value for cell in detail[1]]
    states = {
        row[detail_header.index("学校")]: row[detail_header.index("审核状态")]
        for row in detail.iter_rows(min_row=2, values_only=True)
    }
    assert states == {"邹圩小学": "待审核", "张庄中学": "已审核"}


async def test_a_withdrawn_or_superseded_report_is_not_approved(sim: Simulator, db: Database, clock: FixedClock) -> None:
    _, li = await world(sim, db, clock)
    report = await current_milk(db)
    async with db.session() as session:
        await session.execute(update(Report).where(Report.id == report.id).values(withdrawn=True))
    await li.press_data(f"rv:a:{report.id}")
    alert = sim.fake.calls_to("answerCallbackQuery")[-1].params
    assert alert.get("show_alert") and "撤回" in alert["text"]
    assert (await current_milk(db)).review == "submitted"
