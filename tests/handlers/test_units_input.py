"""Units belong to fields and re-asks say what is wanted (issue 13, points 1 and 8), through the
real application on SQLite and PostgreSQL, in both languages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import build_application
from bot.core.catalogue import SHIPPED_CATALOGUE, load_catalogue
from bot.core.fields import InvalidAnswer
from bot.core.clock import FixedClock
from bot.core.i18n import t
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.offline.simulator import Reply, Simulator, UserChat
from storage.db import Database
from storage.models import Draft, ReportValue
from tests.conftest import make_settings
from tests.factories import add_school, register_principal, saved_reports, values_of

CATALOGUE = load_catalogue()
LANGS = ["zh", "en"]


def last(replies: list[Reply]) -> Reply:
    return [reply for reply in replies if reply.text][-1]


def refusal(form: str, field: str, typed: str, lang: str) -> str:
    """The re-ask the field itself gives for ``typed``."""
    with pytest.raises(InvalidAnswer) as refused:
        CATALOGUE.get(form).field(field).parse(typed)
    return refused.value.message(lang)


async def draft_answers(db: Database) -> dict[str, str | None]:
    async with db.session() as session:
        draft = await session.scalar(select(Draft))
    assert draft is not None
    return dict(draft.answers)


async def principal(sim: Simulator, db: Database, clock: FixedClock, lang: str) -> UserChat:
    await add_school(db, clock)
    return await register_principal(sim, db, clock, lang=lang)


async def harvest_up_to(chat: UserChat, lang: str, step: str) -> None:
    """Open a vegetables harvest and answer up to (not including) ``step``."""
    await chat.send("/harvest")
    await chat.press("★")
    await chat.press(CATALOGUE.get("harvest").field("crop").choice("vegetables").label.get(lang))
    for key, answer in (("area_mu", "2"), ("quantity", "1200"), ("income", "12000"), ("participants", "80")):
        if key == step:
            return
        await chat.send(answer)


# Each kind of number field and a unit it does not take: (form, field, typed, word, what it wants).
WRONG_UNITS = [
    ("harvest", "income", "856人", "人", {"zh": "金额", "en": "money"}),
    ("harvest", "income", "3公斤", "公斤", {"zh": "金额", "en": "money"}),
    ("harvest", "area_mu", "5公斤", "公斤", {"zh": "面积", "en": "area"}),
    ("harvest", "area_mu", "1200斤", "斤", {"zh": "面积", "en": "area"}),
    ("harvest", "quantity", "3平方米", "平方米", {"zh": "重量", "en": "weight"}),
    ("harvest", "quantity", "800元", "元", {"zh": "重量", "en": "weight"}),
    ("harvest", "participants", "240元", "元", {"zh": "人次", "en": "person-times"}),
    ("harvest", "participants", "¥240", "¥", {"zh": "人次", "en": "person-times"}),
]


@pytest.mark.parametrize("lang", LANGS)
async def test_a_unit_the_field_does_not_take_is_refused_naming_the_word_and_what_it_wants(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    chat = await principal(sim, db, clock, lang)
    for form, field, typed, word, what in WRONG_UNITS:
        await harvest_up_to(chat, lang, field)
        before = await draft_answers(db)
        reply = last(await chat.send(typed))
        assert reply.text == refusal(form, field, typed, lang)
        wanted = CATALOGUE.get(form).field(field).unit
        assert wanted is not None
        if lang == "zh":
            assert reply.text.startswith(f"「{word}」不是{what['zh']}的单位") and f"单位：{wanted.zh}" in reply.text
        else:
            assert reply.text.startswith(f"“{word}” is not a unit of {what['en']}") and wanted.en in reply.text
        assert await draft_answers(db) == before, "nothing kept from a refused answer"
        await chat.send("/cancel")
    assert await saved_reports(db) == []


MILK_WRONG_UNITS = [
    ("daily_drinkers", "12000元", "元", {"zh": "人数", "en": "a number of people"}),
    ("daily_drinkers", "¥856", "¥", {"zh": "人数", "en": "a number of people"}),
    ("daily_drinkers", "856个", "个", {"zh": "人数", "en": "a number of people"}),
    ("days_served", "20斤", "斤", {"zh": "天数", "en": "a number of days"}),
    ("days_served", "21人", "人", {"zh": "天数", "en": "a number of days"}),
    ("incidents", "2元", "元", {"zh": "件数", "en": "a number of cases"}),
]


@pytest.mark.parametrize("lang", LANGS)
async def test_head_counts_days_and_incidents_refuse_other_units(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    await add_school(db, clock, programmes=("milk",))
    chat = await register_principal(sim, db, clock, lang=lang)
    answers = {"daily_drinkers": "856", "days_served": "21"}
    for field, typed, word, what in MILK_WRONG_UNITS:
        await chat.send("/milk")
        await chat.press("★")
        for key, answer in answers.items():
            if key == field:
                break
            await chat.send(answer)
        else:
            await chat.press(CATALOGUE.get("milk").field("supplier").choice("yili").label.get(lang))
        reply = last(await chat.send(typed))
        assert reply.text == refusal("milk", field, typed, lang)
        expected = f"「{word}」不是{what['zh']}的单位" if lang == "zh" else f"“{word}” is not a unit of {what['en']}"
        assert reply.text.startswith(expected)
        assert field not in await draft_answers(db)
        await chat.send("/cancel")
    assert await saved_reports(db) == []


@pytest.mark.parametrize("lang", LANGS)
async def test_converted_units_are_stored_converted_and_shown_with_the_words_as_typed(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    chat = await principal(sim, db, clock, lang)
    await harvest_up_to(chat, lang, "area_mu")
    await chat.send("2公顷")  # ×15: 30 mu
    await chat.send("1200斤")  # ×0.5: 600 kg
    await chat.send("1.2万元")  # ×10,000: 12,000 yuan
    await chat.send("80人次")  # the unit itself: as typed, no original kept
    review = last(await chat.send("/skip"))
    async with db.session() as session:
        draft = await session.scalar(select(Draft))
    assert draft is not None and draft.notes == {"originals": {"area_mu": "2公顷", "quantity": "1200斤", "income": "1.2万元"}}
    typed = "原文" if lang == "zh" else "you typed"
    if lang == "zh":
        assert "600 公斤（原文：1200斤）" in review.text and "30 亩（原文：2公顷）" in review.text
        assert "12,000 元（原文：1.2万元）" in review.text
    else:
        assert "600 kg (you typed: 1200斤)" in review.text and "30 mu (you typed: 2公顷)" in review.text
    assert review.text.count(typed) == 3, "a figure typed in the field's own unit is shown as it is"
    receipt = last(await chat.press(t(lang, "report.submit_button")))
    assert receipt.text.count(typed) == 3 and (
        "600 公斤（原文：1200斤）" in receipt.text or "600 kg (you typed: 1200斤)" in receipt.text
    )

    (report,) = await saved_reports(db, "harvest")
    assert values_of(report)["quantity"] == Decimal(600) and values_of(report)["area_mu"] == Decimal(30)
    assert values_of(report)["income"] == Decimal(12000)
    async with db.session() as session:
        rows = (await session.scalars(select(ReportValue).where(ReportValue.report_id == report.id))).all()
    assert {row.field_key: row.original for row in rows if row.original} == {
        "area_mu": "2公顷", "quantity": "1200斤", "income": "1.2万元",
    }  # fmt: skip


@pytest.mark.parametrize("lang", LANGS)
async def test_an_edit_in_the_fields_own_unit_drops_the_original(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    chat = await principal(sim, db, clock, lang)
    await harvest_up_to(chat, lang, "quantity")
    await chat.send("2吨")
    await chat.send("12000")
    await chat.send("80")
    review = last(await chat.send("/skip"))
    assert ("2,000 公斤（原文：2吨）" if lang == "zh" else "2,000 kg (you typed: 2吨)") in review.text
    await chat.press("✏️ " + CATALOGUE.get("harvest").field("quantity").label.get(lang))
    review = last(await chat.send("1800 kg"))
    assert "原文" not in review.text and "you typed" not in review.text
    await chat.press(t(lang, "report.submit_button"))
    (report,) = await saved_reports(db, "harvest")
    assert values_of(report)["quantity"] == Decimal(1800)
    async with db.session() as session:
        originals = (await session.scalars(select(ReportValue.original).where(ReportValue.report_id == report.id))).all()
    assert set(originals) == {None}


@pytest.mark.parametrize("lang", LANGS)
async def test_estimates_and_ranges_are_re_asked_for_one_exact_figure_from_the_fields_range(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    chat = await principal(sim, db, clock, lang)
    await harvest_up_to(chat, lang, "income")
    exact = "请填一个确切的数（例如 12,000 元）" if lang == "zh" else "Please send one exact figure (e.g. 12,000 yuan)"
    for typed in ("约3000", "3000左右", "3000-4000", "三四千", "大概3000元", "3000多块"):
        reply = last(await chat.send(typed))
        assert reply.text == refusal("harvest", "income", typed, lang) and reply.text.startswith(exact), typed
    assert "income" not in await draft_answers(db)
    await chat.send("3000")
    assert (await draft_answers(db))["income"] == "3000"


@pytest.mark.parametrize("lang", LANGS)
async def test_none_is_zero_only_where_the_catalogue_says_so(sim: Simulator, db: Database, clock: FixedClock, lang: str) -> None:
    await add_school(db, clock, programmes=("milk", "farm"))
    chat = await register_principal(sim, db, clock, lang=lang)
    await harvest_up_to(chat, lang, "income")
    await chat.send("没有")  # income: "没有卖出填 0"
    assert (await draft_answers(db))["income"] == "0"
    await chat.send("/cancel")

    await chat.send("/milk")
    await chat.press("★")
    reply = last(await chat.send("无"))  # daily drinkers: "none" is no head count
    assert reply.text == refusal("milk", "daily_drinkers", "无", lang)
    assert ("例如 856 人" if lang == "zh" else "e.g. 856 students") in reply.text
    await chat.send("856")
    reply = last(await chat.send("很多天"))
    # The example comes from the field's own range and unit: 0–31 days, not 1.2万.
    assert ("例如 21 天" if lang == "zh" else "e.g. 21 days") in reply.text and "1.2万" not in reply.text
    await chat.send("21")
    await chat.press(CATALOGUE.get("milk").field("supplier").choice("yili").label.get(lang))
    await chat.send("none" if lang == "en" else "没")  # incidents: "没有填 0"
    assert (await draft_answers(db))["incidents"] == "0"


# --- a fourth form: a new unit and its conversion, catalogue text only -------------------------
FOURTH_FORM = """
[[units]]
zh = "升"
en = "litres"
kind = "volume"
what = { zh = "体积", en = "volume" }
accepts = ["升", "l", "公升"]
converts = { "毫升" = "÷1000", "立方米" = 1000 }

[[forms]]
key = "water"
version = 1
title = { zh = "饮用水月报", en = "Drinking water monthly" }
short = { zh = "饮用水", en = "Water" }
cadence = "monthly"
due_days = 5

[[forms.fields]]
key = "litres"
label = { zh = "饮用水量", en = "Water drunk" }
type = "decimal"
unit = { zh = "升", en = "litres" }
max = 1000000
help = { zh = "本月饮用水量，单位升。", en = "Water drunk this month, in litres." }
"""


@pytest.fixture
async def water_sim(tmp_path: Path, db_url: str, db: Database, clock: FixedClock) -> AsyncIterator[Simulator]:
    """The application on the shipped catalogue plus a fourth form with a unit of its own."""
    path = tmp_path / "catalogue.toml"
    path.write_text(SHIPPED_CATALOGUE.read_text(encoding="utf-8") + FOURTH_FORM, encoding="utf-8")
    fake = FakeTelegram()
    application = build_application(make_settings(db_url, catalogue_path=path), request=FakeRequest(fake), db=db, clock=clock)
    async with application:
        yield Simulator(application, fake)


@pytest.mark.parametrize("lang", LANGS)
async def test_a_unit_conversion_added_in_catalogue_text_only_works_in_a_fourth_form(
    water_sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    await add_school(db, clock)
    chat = await register_principal(water_sim, db, clock, lang=lang)
    await chat.send("/water")
    await chat.press("★")
    reply = last(await chat.send("3公斤"))
    assert reply.text.startswith("「公斤」不是体积的单位" if lang == "zh" else "“公斤” is not a unit of volume")
    review = last(await chat.send("1500毫升"))
    assert ("1.5 升（原文：1500毫升）" if lang == "zh" else "1.5 litres (you typed: 1500毫升)") in review.text
    await chat.press(t(lang, "report.submit_button"))
    (report,) = await saved_reports(db, "water")
    assert values_of(report)["litres"] == Decimal("1.5")
    async with db.session() as session:
        original = await session.scalar(select(ReportValue.original).where(ReportValue.report_id == report.id))
    assert original == "1500毫升"
