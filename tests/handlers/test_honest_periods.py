"""Periods offered honestly (issue 13, point 5): only periods that are over, newest first, the due
one starred; a forged or old button for a period still running is refused and nothing is saved."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from bot.core.catalogue import load_catalogue
from bot.core.clock import FixedClock
from bot.core.i18n import t
from bot.offline.simulator import Reply, Simulator, UserChat
from storage.db import Database
from storage.models import Draft
from tests.conftest import SHANGHAI
from tests.factories import add_school, register_principal, saved_reports

CATALOGUE = load_catalogue()
LANGS = ["zh", "en"]
MILK = CATALOGUE.get("milk")


def last(replies: list[Reply]) -> Reply:
    return [reply for reply in replies if reply.text][-1]


async def drafts(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Draft)) or 0)


async def milk_principal(sim: Simulator, db: Database, clock: FixedClock, lang: str) -> UserChat:
    await add_school(db, clock, programmes=("milk",))
    return await register_principal(sim, db, clock, lang=lang)


def not_over(lang: str, period: str, end: str) -> str:
    return t(lang, "report.period_not_over", form=MILK.title.get(lang), period=period, end=end)


@pytest.mark.parametrize("lang", LANGS)
async def test_the_period_menu_offers_only_months_that_are_over_newest_first_the_due_one_starred(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    chat = await milk_principal(sim, db, clock, lang)
    menu = last(await chat.send("/milk"))  # Thursday 26 November: November is still running
    october, september = ("2026年10月", "2026年9月") if lang == "zh" else ("October 2026", "September 2026")
    periods = [label for label in menu.labels if label != t(lang, "report.cancel_button")]
    assert periods == [f"★ {october}", september]
    clock.set(datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI))  # November is over and due on the 5th
    await chat.send("/cancel")
    menu = last(await chat.send("/milk"))
    november = "2026年11月" if lang == "zh" else "November 2026"
    september_lock_open = [f"★ {november}", october, september]  # September locks on 4 December
    assert [label for label in menu.labels if label != t(lang, "report.cancel_button")] == september_lock_open


@pytest.mark.parametrize("lang", LANGS)
async def test_a_forged_go_button_for_the_running_month_is_refused_and_nothing_is_saved(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    chat = await milk_principal(sim, db, clock, lang)
    november = "2026年11月" if lang == "zh" else "November 2026"
    reply = last(await chat.press_data("go:milk:2026-11"))
    assert reply.text == not_over(lang, november, "2026-11-30")
    assert await drafts(db) == 0 and await saved_reports(db) == []
    reply = last(await chat.press_data("go:milk:2027-01"))  # a month not even begun
    assert reply.text.startswith(MILK.title.get(lang)) and "2027-01-31" in reply.text
    assert await drafts(db) == 0


@pytest.mark.parametrize("lang", LANGS)
async def test_a_forged_period_button_of_the_menu_is_refused_and_the_draft_stays_at_the_menu(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    chat = await milk_principal(sim, db, clock, lang)
    await chat.send("/milk")
    buttons = sim.fake.buttons(chat.user_id)
    october = next(b["callback_data"] for b in buttons if "★" in b["text"])
    assert october.endswith(":p:2026-10")
    forged = october.removesuffix("2026-10") + "2026-11"
    reply = last(await chat.press_data(forged))
    assert reply.text == not_over(lang, "2026年11月" if lang == "zh" else "November 2026", "2026-11-30")
    async with db.session() as session:
        draft = await session.scalar(select(Draft))
    assert draft is not None and draft.step == "period" and draft.period is None
    await chat.press_data(october)  # the real button still works
    async with db.session() as session:
        draft = await session.scalar(select(Draft))
    assert draft is not None and draft.period == "2026-10" and draft.step == "daily_drinkers"
    assert await saved_reports(db) == []


@pytest.mark.parametrize("lang", LANGS)
async def test_status_and_its_report_now_buttons_name_only_periods_that_are_over(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    chat = await milk_principal(sim, db, clock, lang)
    status = last(await chat.send("/status"))
    data = [b["callback_data"] for b in sim.fake.buttons(chat.user_id) if b.get("callback_data", "").startswith("go:milk:")]
    assert data and all(key in ("go:milk:2026-10", "go:milk:2026-09") for key in data)
    assert ("2026年11月" if lang == "zh" else "November 2026") not in status.text
    reply = last(await chat.press_data("go:milk:2026-10"))
    assert "2026-11-30" not in reply.text and await drafts(db) == 1  # the offered month opens


@pytest.mark.parametrize("lang", LANGS)
async def test_a_form_filed_during_its_period_and_harvests_still_offer_the_running_one(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock, lang=lang)
    menu = last(await chat.send("/insurance"))  # open_during_period: the autumn semester runs
    assert CATALOGUE.get("insurance").field("students_enrolled").label.get(lang) in menu.text
    await chat.send("/cancel")
    menu = last(await chat.send("/harvest"))  # an event form: the running quarter, starred
    assert menu.labels[0].startswith("★") and ("2026年第四季度" if lang == "zh" else "Q4 2026") in menu.labels[0]
