"""Issue 13 point 6 (second half): /correct tells entries apart and withdraws one.

Through the real application on the fake Bot API, on SQLite and PostgreSQL, in
both languages: entries listed with date, crop and income; withdraw asks first,
then writes a new version marked withdrawn (audited, shown in /history, counted
nowhere); withdrawing twice, a stale or a forged button writes nothing; a
withdrawn entry cannot be corrected but its period can be filed anew.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.core.clock import FixedClock
from bot.offline.simulator import Reply, Simulator, UserChat
from storage.db import Database
from storage.models import AuditEntry, Report
from storage.reports import NewReport, save_report_retrying
from tests.conftest import SHANGHAI
from tests.factories import add_school, register_principal, saved_reports, values_of

# Words of the two languages the assertions look for.
WORDS = {
    "zh": {
        "withdraw": "↩️ 撤回",
        "yes": "确认撤回",
        "no": "不撤回",
        "veg": "蔬菜",
        "fruit": "瓜果（含西瓜）",
        "confirm": "确定要撤回这条记录吗？",
        "done": "已撤回",
        "mark": "（已撤回）",
        "already": "已经撤回了",
        "changed": "已被更正或撤回",
        "gone": "不在本校的记录中",
        "no_fix": "已经撤回，不能更正",
        "kept": "保持不变",
        "none": "没有可以更正的报表",
        "income_5000": "5,000 元",
    },
    "en": {
        "withdraw": "↩️ Withdraw",
        "yes": "Yes, withdraw it",
        "no": "Keep it",
        "veg": "Vegetables",
        "fruit": "Fruit and melons",
        "confirm": "Withdraw this entry?",
        "done": "Withdrawn:",
        "mark": " (withdrawn)",
        "already": "already been withdrawn",
        "changed": "corrected or withdrawn meanwhile",
        "gone": "no longer in your school's records",
        "no_fix": "has been withdrawn and cannot be corrected",
        "kept": "stays as it is",
        "none": "no recent report you can correct",
        "income_5000": "5,000 yuan",
    },
}

LANGS = pytest.mark.parametrize("lang", ["zh", "en"])


def last(replies: list[Reply]) -> Reply:
    return [reply for reply in replies if reply.text][-1]


async def harvest(
    db: Database,
    school_id: int,
    income: str,
    *,
    at: datetime,
    crop: str = "vegetables",
    series: str = "",
    reporter: int | None = 1,
) -> Report:
    """A harvest of this quarter, saved as the conversation would (each its own series)."""
    return await save_report_retrying(
        db,
        NewReport(
            school_id=school_id,
            form_key="harvest",
            form_version=1,
            period="2026-Q4",
            series=series or f"s{at:%H%M}{income}",
            values={
                "crop": (None, crop),
                "area_mu": (Decimal(2), None),
                "quantity": (Decimal(100), None),
                "income": (Decimal(income), None),
                "participants": (Decimal(40), None),
            },
            reporter_id=reporter,
            submitted_at=at,
            is_late=False,
        ),
    )


async def two_same_harvests(db: Database, school_id: int) -> tuple[Report, Report]:
    """The same harvest sent twice a minute apart: identical but for the time."""
    first = await harvest(db, school_id, "5000", at=datetime(2026, 11, 20, 9, 30, tzinfo=SHANGHAI))
    second = await harvest(db, school_id, "5000", at=datetime(2026, 11, 20, 9, 31, tzinfo=SHANGHAI))
    return first, second


async def principal(sim: Simulator, db: Database, clock: FixedClock, lang: str) -> tuple[int, UserChat]:
    school = await add_school(db, clock)
    chat = await register_principal(sim, db, clock, lang=lang)
    return school.id, chat


def withdraw_data(reply: Reply, entry: str) -> str:
    """The withdraw button's data on the row of the entry whose label contains ``entry``."""
    for row in reply.buttons:
        if any(entry in b["text"] for b in row):
            (data,) = [b["callback_data"] for b in row if b["callback_data"].startswith("wd:")]
            return str(data)
    raise AssertionError(f"no row with {entry!r} in {reply.labels}")


@LANGS
async def test_correct_tells_identical_harvests_apart_by_time_crop_and_income(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    school_id, chat = await principal(sim, db, clock, lang)
    await two_same_harvests(db, school_id)
    await harvest(db, school_id, "800", at=datetime(2026, 11, 21, 15, 0, tzinfo=SHANGHAI), crop="fruit")
    reply = last(await chat.send("/correct"))
    w = WORDS[lang]
    entries = [b["text"] for row in reply.buttons for b in row if b["callback_data"].startswith("fix:")]
    assert len(entries) == 3 and len(set(entries)) == 3, "every entry reads differently"
    assert any("11-20 09:30" in e and w["veg"] in e and w["income_5000"] in e for e in entries)
    assert any("11-20 09:31" in e and w["veg"] in e and w["income_5000"] in e for e in entries)
    assert any("11-21 15:00" in e and w["fruit"] in e for e in entries)
    withdraws = [b for row in reply.buttons for b in row if b["callback_data"].startswith("wd:")]
    assert len(withdraws) == 3 and all(b["text"] == w["withdraw"] for b in withdraws)
    assert all(len(b["callback_data"].encode()) <= 64 for row in reply.buttons for b in row)


@LANGS
async def test_withdraw_asks_then_writes_a_withdrawn_version_audited_and_shown_in_history(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    school_id, chat = await principal(sim, db, clock, lang)
    first, second = await two_same_harvests(db, school_id)
    w = WORDS[lang]
    listing = last(await chat.send("/correct"))
    ask = last(await chat.press_data(withdraw_data(listing, "09:31")))
    assert w["confirm"] in ask.text and "09:31" in ask.text and "5,000" in ask.text
    assert [b for b in ask.labels] == ["↩️ " + w["yes"], w["no"]]
    assert len(await saved_reports(db, "harvest")) == 2, "asking writes nothing"

    done = last(await chat.press(w["yes"]))
    assert w["done"] in done.text and "09:31" in done.text
    versions = await saved_reports(db, "harvest")
    assert len(versions) == 3
    withdrawn = versions[-1]
    assert withdrawn.withdrawn and withdrawn.is_current and withdrawn.version == 2
    assert withdrawn.series == second.series and withdrawn.supersedes_id == second.id
    assert values_of(withdrawn) == values_of(second), "the same values, taken back"
    async with db.session() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "report.withdrawn"))
    assert entry is not None and entry.subject == "HB001" and entry.actor == 1001
    assert entry.detail is not None and entry.detail["report_id"] == withdrawn.id and entry.detail["supersedes"] == second.id

    history = last(await chat.send("/history"))
    assert history.text.count(w["mark"]) == 1
    listing = last(await chat.send("/correct"))
    fixes = [b["text"] for row in listing.buttons for b in row if b["callback_data"].startswith("fix:")]
    assert len(fixes) == 1 and "09:30" in fixes[0], "a withdrawn entry is no longer offered"
    status = last(await chat.send("/status"))
    assert ("已登记 1 次" if lang == "zh" else "1 recorded") in status.text


@LANGS
async def test_keep_it_writes_nothing(sim: Simulator, db: Database, clock: FixedClock, lang: str) -> None:
    school_id, chat = await principal(sim, db, clock, lang)
    await two_same_harvests(db, school_id)
    listing = last(await chat.send("/correct"))
    await chat.press_data(withdraw_data(listing, "09:31"))
    reply = last(await chat.press(WORDS[lang]["no"]))
    assert WORDS[lang]["kept"] in reply.text
    assert not any(r.withdrawn for r in await saved_reports(db, "harvest"))


@LANGS
async def test_withdrawing_twice_writes_one_withdrawn_version(sim: Simulator, db: Database, clock: FixedClock, lang: str) -> None:
    school_id, chat = await principal(sim, db, clock, lang)
    _, second = await two_same_harvests(db, school_id)
    await chat.send("/correct")
    await chat.press_data(f"wd:{second.id}")
    confirm = sim.fake.last(1001)
    await chat.press_data(f"wd:y:{second.id}", confirm)
    again = last(await chat.press_data(f"wd:y:{second.id}", confirm))
    assert WORDS[lang]["already"] in again.text
    asked_again = last(await chat.press_data(f"wd:{second.id}"))
    assert WORDS[lang]["already"] in asked_again.text and not asked_again.buttons
    assert [r.withdrawn for r in await saved_reports(db, "harvest")] == [False, False, True]
    async with db.session() as session:
        audits = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "report.withdrawn"))).all()
    assert len(audits) == 1


@LANGS
async def test_stale_withdraw_button_after_a_correction_writes_nothing(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    school_id, chat = await principal(sim, db, clock, lang)
    first, _ = await two_same_harvests(db, school_id)
    await chat.send("/correct")
    await chat.press_data(f"wd:{first.id}")
    # Meanwhile the entry is corrected (another reporter, another device): the button names the old version.
    await harvest(db, school_id, "5200", at=clock.now(), series=first.series)
    reply = last(await chat.press_data(f"wd:y:{first.id}"))
    assert WORDS[lang]["changed"] in reply.text
    assert not any(r.withdrawn for r in await saved_reports(db, "harvest"))


@LANGS
async def test_forged_withdraw_of_another_schools_entry_is_refused(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    _, chat = await principal(sim, db, clock, lang)
    other = await add_school(db, clock, "HB002", "张庄中学", "杜集区")
    theirs = await harvest(db, other.id, "9000", at=datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI), reporter=None)
    await chat.send("/correct")
    for data in (f"wd:{theirs.id}", f"wd:y:{theirs.id}", "wd:y:99999"):
        reply = last(await chat.press_data(data))
        assert WORDS[lang]["gone"] in reply.text and "9,000" not in reply.text
    assert not any(r.withdrawn for r in await saved_reports(db, "harvest"))
    # Malformed data is a stale button, answered with an alert.
    await chat.press_data("wd:y:abc")
    alert = sim.fake.calls_to("answerCallbackQuery")[-1].params
    assert alert.get("show_alert") in (True, "true", "True")


@LANGS
async def test_withdrawn_entry_cannot_be_corrected(sim: Simulator, db: Database, clock: FixedClock, lang: str) -> None:
    school_id, chat = await principal(sim, db, clock, lang)
    first, second = await two_same_harvests(db, school_id)
    await chat.send("/correct")
    await chat.press_data(f"wd:{second.id}")
    await chat.press_data(f"wd:y:{second.id}")
    withdrawn = (await saved_reports(db, "harvest"))[-1]
    for report_id in (second.id, withdrawn.id):  # the old fix button, and one forged for the withdrawn version
        reply = last(await chat.press_data(f"fix:{report_id}"))
        assert WORDS[lang]["no_fix"] in reply.text
    assert len(await saved_reports(db, "harvest")) == 3


@LANGS
async def test_withdrawn_milk_report_counts_as_not_filed_and_is_filed_anew(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    school_id, chat = await principal(sim, db, clock, lang)
    october = await save_report_retrying(
        db,
        NewReport(
            school_id=school_id,
            form_key="milk",
            form_version=1,
            period="2026-10",
            values={
                "daily_drinkers": (Decimal(903), None),
                "days_served": (Decimal(21), None),
                "supplier": (None, "yili"),
                "incidents": (Decimal(0), None),
            },
            reporter_id=1,
            submitted_at=datetime(2026, 11, 3, 9, tzinfo=SHANGHAI),
            is_late=False,
        ),
    )
    await chat.send("/correct")
    await chat.press_data(f"wd:{october.id}")
    await chat.press_data(f"wd:y:{october.id}")
    status = last(await chat.send("/status"))
    overdue = "已逾期" if lang == "zh" else "overdue by"
    assert any(overdue in line and ("2026年10月" in line or "October 2026" in line) for line in status.text.splitlines())
    # Filing October again is a first report on top of the withdrawn version, not a correction of it.
    reply = last(await chat.press_data("go:milk:2026-10"))
    assert "903" not in reply.text and ("1/4" in reply.text or "1 of 4" in reply.text), "the first question, not a correction"
    await chat.send("700")
    await chat.send("20")
    await chat.press("伊利" if lang == "zh" else "Yili")
    await chat.press("填 0" if lang == "zh" else "0")
    await chat.press("提交" if lang == "zh" else "Submit")
    versions = await saved_reports(db, "milk")
    assert [(r.version, r.withdrawn, r.is_current) for r in versions] == [(1, False, False), (2, True, False), (3, False, True)]
    assert values_of(versions[-1])["daily_drinkers"] == Decimal(700)
