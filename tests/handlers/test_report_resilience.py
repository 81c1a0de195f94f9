"""Nothing typed is lost: restarts, two processes, catalogue changes, and a form added by catalogue text only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.app import App, build_application
from bot.core.catalogue import SHIPPED_CATALOGUE, Catalogue, load_catalogue_text
from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.settings import Settings
from bot.offline.simulator import Reply, Simulator
from storage.db import Database
from tests.factories import add_school, register_principal, saved_reports, values_of

# Committed data: restarts and second processes read what the first committed.
pytestmark = pytest.mark.committed

SHIPPED = SHIPPED_CATALOGUE.read_text(encoding="utf-8")

UNIFORM_FORM = """
[[forms]]
key = "uniform"
version = 1
title = { zh = "校服征订登记", en = "School uniform orders" }
short = { zh = "校服", en = "Uniforms" }
command = "uniform"
cadence = "semester"
due_days = 30
open_during_period = true  # orders are placed while the semester runs (issue 13)

[[forms.fields]]
key = "sets_ordered"
label = { zh = "征订套数", en = "Sets ordered" }
type = "integer"
unit = { zh = "套", en = "sets" }
max = 50000
help = { zh = "本学期征订的校服套数。", en = "Uniform sets ordered this semester." }

[[forms.fields]]
key = "fabric"
label = { zh = "面料", en = "Fabric" }
type = "choice"
choices = [
  { key = "cotton", label = { zh = "纯棉", en = "Cotton" } },
  { key = "blend", label = { zh = "混纺", en = "Blend" } },
]

[[forms.fields]]
key = "price"
label = { zh = "每套价格", en = "Price per set" }
type = "money"
unit = { zh = "元", en = "yuan" }
max = 2000

[[forms.fields]]
key = "delivered_on"
label = { zh = "交付日期", en = "Delivery date" }
type = "date"
"""


def last(replies: list[Reply]) -> Reply:
    return [reply for reply in replies if reply.text][-1]


def app_on(
    settings: Settings, url: str, clock: FixedClock, fake: FakeTelegram, catalogue: Catalogue | None = None
) -> tuple[App, Database]:
    """A fresh application with its own engine: another process, or the same one after a restart."""
    database = Database(url)
    return build_application(settings, request=FakeRequest(fake), db=database, clock=clock, catalogue=catalogue), database


async def test_restart_mid_form_resumes_at_the_same_question(
    settings: Settings, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await add_school(db, clock)
    first, first_db = app_on(settings, db.url, clock, fake)
    async with first:
        chat = await register_principal(Simulator(first, fake), db, clock)
        await chat.send("/milk")
        await chat.press("★")
        await chat.send("856")
        replies = await chat.send("21")
        assert "请选择供奶企业" in last(replies).text
    await first_db.dispose()

    second, second_db = app_on(settings, db.url, clock, fake)
    try:
        async with second:
            chat.sim = Simulator(second, fake)
            # The supplier buttons were sent by the first process; they still work.
            replies = await chat.press("伊利")
            assert "饮奶安全事件" in last(replies).text
            replies = await chat.send("0")
            assert "日参饮人数：856 人" in last(replies).text and "供奶天数：21 天" in last(replies).text
            await chat.press("提交")
    finally:
        await second_db.dispose()
    (report,) = await saved_reports(db, "milk")
    assert values_of(report) == {
        "daily_drinkers": Decimal(856),
        "days_served": Decimal(21),
        "supplier": "yili",
        "incidents": Decimal(0),
    }


async def test_two_processes_serve_one_principal_in_turn(
    settings: Settings, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await add_school(db, clock)
    (one, one_db), (two, two_db) = app_on(settings, db.url, clock, fake), app_on(settings, db.url, clock, fake)
    try:
        async with one, two:
            sims = [Simulator(one, fake), Simulator(two, fake)]
            chat = await register_principal(sims[0], db, clock)
            steps = [
                ("send", "/harvest"),
                ("press", "★"),
                ("press", "花卉"),
                ("send", "1.5"),
                ("send", "/skip"),
                ("send", "三万五千"),
                ("send", "120"),
                ("send", "卖给了本地花店"),
                ("press", "✏️ 种植面积"),
                ("send", "2亩"),
                ("press", "提交"),
            ]
            for turn, (kind, value) in enumerate(steps):
                chat.sim = sims[turn % 2]  # each update lands on the other process
                replies = await (chat.send(value) if kind == "send" else chat.press(value))
                assert replies, f"no answer to {value!r}"
            assert "已保存" in last(replies).text
    finally:
        await one_db.dispose()
        await two_db.dispose()
    (report,) = await saved_reports(db, "harvest")
    assert values_of(report) == {
        "crop": "flowers",
        "area_mu": Decimal(2),
        "income": Decimal(35000),
        "participants": Decimal(120),
        "note": "卖给了本地花店",
    }


async def test_changed_form_version_restarts_the_draft_keeping_valid_answers(
    settings: Settings, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    await add_school(db, clock)
    old, old_db = app_on(settings, db.url, clock, fake)
    async with old:
        chat = await register_principal(Simulator(old, fake), db, clock)
        await chat.send("/milk")
        await chat.press("★")
        await chat.send("856")
        await chat.send("25")
        await chat.press("伊利")
    await old_db.dispose()

    # The office raises milk to version 2: at most 22 school days now, so "25" no longer fits.
    milk_v2 = SHIPPED.replace('key = "milk"\nversion = 1', 'key = "milk"\nversion = 2').replace("max = 31", "max = 22")
    assert milk_v2 != SHIPPED
    new, new_db = app_on(settings, db.url, clock, fake, load_catalogue_text(milk_v2))
    try:
        async with new:
            chat.sim = Simulator(new, fake)
            replies = await chat.send("0")
            texts = [r.text for r in replies if r.text]
            assert "更新了「学生饮用奶月报」的表格" in texts[0]
            assert "请填写供奶天数" in texts[-1], "the answer that no longer validates is asked again"
            await chat.send("22")
            replies = await chat.send("0")
            assert "日参饮人数：856 人" in last(replies).text and "伊利" in last(replies).text
            await chat.press("提交")
    finally:
        await new_db.dispose()
    (report,) = await saved_reports(db, "milk")
    assert report.form_version == 2 and values_of(report)["days_served"] == Decimal(22)


async def test_a_fourth_form_added_by_catalogue_text_only_can_be_filed(
    settings: Settings, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    catalogue = load_catalogue_text(SHIPPED + UNIFORM_FORM)
    await add_school(db, clock)
    app, app_db = app_on(settings, db.url, clock, fake, catalogue)
    try:
        async with app:
            chat = await register_principal(Simulator(app, fake), db, clock, lang="en")
            replies = await chat.send("/report")
            assert "School uniform orders" in last(replies).labels
            replies = await chat.press("School uniform orders")
            assert "Sets ordered" in last(replies).text and "question 1 of 4" in last(replies).text
            await chat.send("1,150")
            await chat.press("Cotton")
            replies = await chat.send("three hundred")
            assert "could not read that as a number" in last(replies).text
            await chat.send("￥280")
            replies = await chat.send("2026-02-30")
            assert "year-month-day" in last(replies).text
            replies = await chat.send("2026年12月1日")
            assert "2026-12-01" in last(replies).text and "Please check" in last(replies).text
            replies = await chat.press("Submit")
            assert "Saved" in last(replies).text
            replies = await chat.send("/status")
            assert "Uniforms" in last(replies).text
    finally:
        await app_db.dispose()
    (report,) = await saved_reports(db, "uniform")
    assert report.period == "2026-S2"
    assert values_of(report) == {
        "sets_ordered": Decimal(1150),
        "fabric": "cotton",
        "price": Decimal(280),
        "delivered_on": "2026-12-01",
    }


async def test_a_redelivered_answer_is_not_applied_to_the_next_question(sim: Simulator, db: Database, clock: FixedClock) -> None:
    """A poller killed before confirming an update gets it again after the restart."""
    from telegram import Update

    from tests.factories import add_school, register_principal

    await add_school(db, clock, programmes=("milk",))
    chat = await register_principal(sim, db, clock)
    await chat.send("/milk")
    await chat.press("2026年10月")
    answer = {
        "update_id": 10_000,
        "message": {
            "message_id": 99,
            "date": 1_700_000_000,
            "chat": chat.chat,
            "from": chat.user,
            "text": "20",  # valid for this question and the next: a second application would go unnoticed
        },
    }
    for _ in range(2):  # the original delivery, then the redelivery
        await sim.app.process_update(Update.de_json(answer, sim.app.bot))
    from sqlalchemy import select

    from storage.models import Draft

    async with db.session() as session:
        draft = await session.scalar(select(Draft))
    assert draft is not None
    assert draft.answers.get("daily_drinkers") == "20"
    assert "days_served" not in draft.answers or draft.answers["days_served"] is None
    assert draft.step == "days_served"
    assert "供奶天数" in sim.fake.texts(chat.user_id)[-1], "the redelivery shows the pending question again"
