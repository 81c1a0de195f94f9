"""Checks at the review through the real application (issue 13 points 2, 3, 4, 6): a rule
violated, a warning confirmed with a reason or edited away, a value ten times last month's,
a figure far from other schools', the same harvest twice, last period's answer at hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.offline.simulator import Reply, Simulator, UserChat
from storage.db import Database
from storage.models import ReportFlag, School
from storage.reports import NewReport, save_report_retrying
from tests.conftest import SHANGHAI
from tests.factories import add_school, register_principal, saved_reports, values_of

LANGS = ["zh", "en"]
SAYS = {
    "zh": {
        "submit": "提交",
        "saved": "已保存",
        "review": "请核对",
        "refused": "还不能提交",
        "ask_reason": "请发一句话说明原因",
        "edit": "✏️",
        "enrolled": "在校学生数",
        "insured": "参保学生数",
        "drinkers": "日参饮人数",
        "days": "供奶天数",
        "insured_error": "参保学生数不能多于在校学生数。",
        "days_error": "供奶天数不能多于本月的天数。",
        "ten_times": "日参饮人数 8,560 人，比上月 856 人多了 9 倍，确认无误吗？",
        "far_above": "远高于以往和其他学校同期的数字",
        "duplicate": "与 2026-12-02 登记的一条完全相同（蔬菜，12,000 元）",
        "reason": "本月合并了分校",
        "last_month": "上月：856 人",
        "last_label": "上月",
        "last_supplier": "上月：伊利",
        "last_days": "上月：21 天",
        "same": "同上次：856 人",
        "same_supplier": "同上次：伊利",
        "yili": "伊利",
        "default": "填 0",
    },
    "en": {
        "submit": "Submit",
        "saved": "Saved",
        "review": "Please check",
        "refused": "cannot be submitted yet",
        "ask_reason": "send one line saying why",
        "edit": "✏️",
        "enrolled": "Students enrolled",
        "insured": "Students insured",
        "drinkers": "Students drinking daily",
        "days": "School days served",
        "insured_error": "Students insured cannot be more than students enrolled.",
        "days_error": "Days served cannot be more than the days in the month.",
        "ten_times": "Students drinking daily: 8,560 students is 10 times last month’s 856 students. Is that right?",
        "far_above": "far above the usual figures",
        "duplicate": "the same as the entry filed on 2026-12-02 (Vegetables, 12,000 yuan)",
        "reason": "a branch school joined this month",
        "last_month": "Last month: 856 students",
        "last_label": "Last month",
        "last_supplier": "Last month: Yili",
        "last_days": "Last month: 21 days",
        "same": "Same as last time: 856 students",
        "same_supplier": "Same as last time: Yili",
        "yili": "Yili",
        "default": "Use 0",
    },
}


def last(replies: list[Reply]) -> Reply:
    return [reply for reply in replies if reply.text][-1]


@pytest.fixture
def clock() -> FixedClock:
    """Wednesday 2 December 2026, 10:00: November is over and due on the 5th, so it is the
    starred period (issue 13: a month is filed once it is over); October is last month."""
    return FixedClock(datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI))


async def principal(sim: Simulator, db: Database, clock: FixedClock, lang: str) -> UserChat:
    await add_school(db, clock)
    return await register_principal(sim, db, clock, lang=lang)


async def file_directly(db: Database, clock: FixedClock, code: str, form: str, period: str, values: dict[str, object]) -> None:
    """A report already on file (as if filed earlier), written straight to storage."""
    async with db.session() as session:
        school = await session.scalar(select(School).where(School.code == code))
        assert school is not None
        school_id = school.id
    stored = {key: (value, None) if isinstance(value, int | Decimal) else (None, value) for key, value in values.items()}
    await save_report_retrying(
        db,
        NewReport(
            school_id=school_id,
            form_key=form,
            form_version=1,
            period=period,
            values=stored,  # type: ignore[arg-type]
            reporter_id=None,
            submitted_at=clock.now() - timedelta(days=20),
            is_late=False,
        ),
    )


async def milk_on_file(
    db: Database, clock: FixedClock, drinkers: int = 856, code: str = "HB001", period: str = "2026-10"
) -> None:
    values = {"daily_drinkers": Decimal(drinkers), "days_served": Decimal(21), "supplier": "yili", "incidents": Decimal(0)}
    await file_directly(db, clock, code, "milk", period, values)


async def milk_to_review(chat: UserChat, lang: str, drinkers: str, days: str = "21") -> Reply:
    says = SAYS[lang]
    await chat.send("/milk")
    await chat.press("★")
    await chat.send(drinkers)
    await chat.send(days)
    await chat.press(says["yili"])
    return last(await chat.press(says["default"]))


async def flags(db: Database) -> list[ReportFlag]:
    async with db.session() as session:
        return list((await session.scalars(select(ReportFlag).order_by(ReportFlag.id))).all())


# --- point 2: rules -------------------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGS)
async def test_more_insured_than_enrolled_is_refused_until_fixed(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    says = SAYS[lang]
    chat = await principal(sim, db, clock, lang)
    await chat.send("/insurance")
    await chat.send("1200")
    await chat.send("1300")
    await chat.send("6000")
    review = last(await chat.send("0"))
    assert says["review"] in review.text and "❌ " + says["insured_error"] in review.text
    assert says["enrolled"] in review.text.split(says["insured_error"])[1], "the error names its fields"

    refused = last(await chat.press(says["submit"]))
    assert says["refused"] in refused.text and says["insured_error"] in refused.text
    assert any(says["insured"] in label for label in refused.labels) and any(
        says["enrolled"] in label for label in refused.labels
    )
    assert await saved_reports(db) == [], "nothing is saved while an error stands"

    await chat.press(f"{says['edit']} {says['insured']}")
    review = last(await chat.send("1150"))
    assert says["review"] in review.text and "❌" not in review.text
    assert says["saved"] in last(await chat.press(says["submit"])).text
    (report,) = await saved_reports(db, "insurance")
    assert values_of(report)["students_insured"] == Decimal(1150) and await flags(db) == []


@pytest.mark.parametrize("lang", LANGS)
async def test_31_days_of_milk_in_a_30_day_month_is_an_error(sim: Simulator, db: Database, clock: FixedClock, lang: str) -> None:
    says = SAYS[lang]
    chat = await principal(sim, db, clock, lang)
    review = await milk_to_review(chat, lang, "856", days="31")
    assert "❌ " + says["days_error"] in review.text
    refused = last(await chat.press(says["submit"]))
    assert says["refused"] in refused.text and any(says["days"] in label for label in refused.labels)
    await chat.press(says["days"])
    review = last(await chat.send("30"))
    assert "❌" not in review.text
    assert says["saved"] in last(await chat.press(says["submit"])).text


# --- point 3: history -----------------------------------------------------------------------
@pytest.mark.parametrize("lang", LANGS)
async def test_ten_times_last_month_is_confirmed_with_a_reason_kept_with_the_value(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    says = SAYS[lang]
    chat = await principal(sim, db, clock, lang)
    await milk_on_file(db, clock)
    review = await milk_to_review(chat, lang, "8560")
    assert "⚠️ " + says["ten_times"] in review.text
    ask = last(await chat.press(says["submit"]))
    assert says["ask_reason"] in ask.text and says["ten_times"] in ask.text
    assert any(says["drinkers"] in label for label in ask.labels), "its field can be edited instead"
    assert len(await saved_reports(db, "milk")) == 1, "held: only October is on file"

    receipt = last(await chat.send(says["reason"]))
    assert says["saved"] in receipt.text
    november = (await saved_reports(db, "milk"))[-1]
    (flag,) = await flags(db)
    assert flag.report_id == november.id and flag.field_key == "daily_drinkers" and flag.code == "history:previous"
    assert flag.reason == says["reason"] and flag.message == SAYS["zh"]["ten_times"]
    assert flag.detail == {"value": "8560", "previous": "856", "period": "2026-10", "ratio": "10"}


@pytest.mark.parametrize("lang", LANGS)
async def test_a_warning_edited_away_vanishes_and_saves_no_flag(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    says = SAYS[lang]
    chat = await principal(sim, db, clock, lang)
    await milk_on_file(db, clock)
    await milk_to_review(chat, lang, "8560")
    await chat.press(says["submit"])  # held for a reason...
    await chat.press(f"{says['edit']} {says['drinkers']}")  # ...but the principal fixes the typo instead
    review = last(await chat.send("856"))
    assert says["review"] in review.text and "⚠️" not in review.text
    assert says["saved"] in last(await chat.press(says["submit"])).text
    assert values_of((await saved_reports(db, "milk"))[-1])["daily_drinkers"] == Decimal(856)
    assert await flags(db) == []


@pytest.mark.parametrize("lang", LANGS)
async def test_a_figure_far_above_other_schools_is_a_warning(sim: Simulator, db: Database, clock: FixedClock, lang: str) -> None:
    says = SAYS[lang]
    chat = await principal(sim, db, clock, lang)
    for n, drinkers in enumerate((400, 650, 900)):
        await add_school(db, clock, code=f"HB10{n}", name=f"别的小学{n}")
        await milk_on_file(db, clock, drinkers, code=f"HB10{n}", period="2026-11")
    review = await milk_to_review(chat, lang, "15000")
    assert "⚠️" not in review.text, "other schools' figures are read when submit is pressed, not for an answer"
    ask = last(await chat.press(says["submit"]))
    assert says["far_above"] in ask.text and "400–900" in ask.text and says["ask_reason"] in ask.text
    assert says["saved"] in last(await chat.send(says["reason"])).text
    (flag,) = await flags(db)
    assert flag.code == "history:range" and flag.detail == {"value": "15000", "low": "400", "high": "900", "count": 3}


# --- point 6: the same harvest twice ------------------------------------------------------------
async def harvest(chat: UserChat, lang: str, income: str = "12000") -> Reply:
    opened = last(await chat.send("/harvest"))
    if any("★" in label for label in opened.labels):  # in December only the running quarter is open: no menu
        await chat.press("★")
    await chat.press("蔬菜" if lang == "zh" else "Vegetables")
    await chat.send("2")
    await chat.send("300")
    await chat.send(income)
    await chat.send("80")
    return last(await chat.send("/skip"))


@pytest.mark.parametrize("lang", LANGS)
async def test_the_same_harvest_twice_is_held_with_a_warning(sim: Simulator, db: Database, clock: FixedClock, lang: str) -> None:
    says = SAYS[lang]
    chat = await principal(sim, db, clock, lang)
    review = await harvest(chat, lang)
    assert "⚠️" not in review.text
    assert says["saved"] in last(await chat.press(says["submit"])).text

    clock.advance(timedelta(minutes=1))
    review = await harvest(chat, lang)  # sent again a minute later
    assert "⚠️" in review.text and says["duplicate"] in review.text
    ask = last(await chat.press(says["submit"]))
    assert says["ask_reason"] in ask.text and len(await saved_reports(db, "harvest")) == 1, "held at the review"
    await chat.send("/cancel")

    review = await harvest(chat, lang, income="9000")  # another harvest: not a duplicate
    assert "⚠️" not in review.text
    assert says["saved"] in last(await chat.press(says["submit"])).text
    assert len(await saved_reports(db, "harvest")) == 2 and await flags(db) == []


@pytest.mark.parametrize("lang", LANGS)
async def test_the_same_harvest_confirmed_as_another_one_keeps_the_reason(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    says = SAYS[lang]
    chat = await principal(sim, db, clock, lang)
    await harvest(chat, lang)
    await chat.press(says["submit"])
    await harvest(chat, lang)
    await chat.press(says["submit"])
    assert says["saved"] in last(await chat.send(says["reason"])).text
    first, second = await saved_reports(db, "harvest")
    (flag,) = await flags(db)
    assert flag.report_id == second.id and flag.code == "duplicate" and flag.reason == says["reason"]
    assert flag.detail == {"report_id": first.id, "date": "2026-12-02"}


# --- point 4: last period's answer at hand ---------------------------------------------------------
@pytest.mark.parametrize("lang", LANGS)
async def test_each_question_shows_last_months_answer_and_repeatable_ones_take_it_in_one_tap(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    says = SAYS[lang]
    chat = await principal(sim, db, clock, lang)
    await milk_on_file(db, clock)
    await chat.send("/milk")
    question = last(await chat.press("★"))
    assert says["last_month"] in question.text and any(says["same"] in label for label in question.labels)
    question = last(await chat.press(says["same"]))
    assert says["last_days"] in question.text and question.labels == [], "days served is not repeatable"
    question = last(await chat.send("20"))
    assert says["last_supplier"] in question.text and any(says["same_supplier"] in label for label in question.labels)
    await chat.press(says["same_supplier"])
    review = last(await chat.press(says["default"]))
    assert says["review"] in review.text and "⚠️" not in review.text
    assert says["saved"] in last(await chat.press(says["submit"])).text
    november = (await saved_reports(db, "milk"))[-1]
    assert november.period == "2026-11"
    assert values_of(november) == {
        "daily_drinkers": Decimal(856),
        "days_served": Decimal(20),
        "supplier": "yili",
        "incidents": Decimal(0),
    }


@pytest.mark.parametrize("lang", LANGS)
async def test_a_first_report_shows_no_previous_answer(sim: Simulator, db: Database, clock: FixedClock, lang: str) -> None:
    says = SAYS[lang]
    chat = await principal(sim, db, clock, lang)
    await chat.send("/milk")
    question = last(await chat.press("★"))
    assert says["last_label"] not in question.text and question.labels == []
