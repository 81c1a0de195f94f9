"""Coverage in every summary (issue 14 points 1–2): state and due date, 暂不比较, 未报 never 0.

Through the real application on the fake Bot API (``/summary``) and the CLI
(``schoolbot summary --json``), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.commands.summary import summary_json
from bot.core.catalogue import load_catalogue
from bot.core.clock import FixedClock
from bot.core.periods import PeriodState, parse_period
from bot.office.summary import rollup, summarise
from bot.offline.simulator import Simulator
from storage.db import Database
from storage.reports import NewReport, save_report_retrying
from tests.conftest import SHANGHAI
from tests.factories import add_school, register_staff
from tests.service.test_invite_cli import on_db

CATALOGUE = load_catalogue()
MILK = CATALOGUE.get("milk")
INSURANCE = CATALOGUE.get("insurance")
D = Decimal
# Three days before November's milk deadline (5 December).
DEC_2 = datetime(2026, 12, 2, 10, tzinfo=SHANGHAI)

# Ten milk schools: five in 濉溪县, three in 杜集区, two in 相山区.
SCHOOLS = [(f"HB{i:03d}", f"第{i}小学", "濉溪县" if i <= 5 else "杜集区" if i <= 8 else "相山区") for i in range(1, 11)]


async def ten_schools(db: Database, clock: FixedClock) -> list[int]:
    return [(await add_school(db, clock, code, name, district, programmes=("milk",))).id for code, name, district in SCHOOLS]


async def file(db: Database, school_id: int, form: str, period: str, values: dict[str, Any], at: datetime) -> None:
    """One current report of ``form`` for ``period``, filed at ``at`` (on time)."""
    answers = {key: (None, value) if isinstance(value, str) else (D(value), None) for key, value in values.items()}
    await save_report_retrying(
        db,
        NewReport(
            school_id=school_id,
            form_key=form,
            form_version=1,
            period=period,
            values=answers,
            reporter_id=None,
            submitted_at=at,
            is_late=False,
        ),
    )


def drinkers(n: int) -> dict[str, Any]:
    return {"daily_drinkers": n, "days_served": 20, "supplier": "yili", "incidents": 0}


def insured(enrolled: int, insured: int, premium: str) -> dict[str, Any]:
    return {"students_enrolled": enrolled, "students_insured": insured, "premium": D(premium), "claims": 0}


async def october_full_november_four(db: Database, clock: FixedClock) -> list[int]:
    """October: all ten report 100 drinkers; November (due 5 Dec): four of 濉溪县 so far."""
    ids = await ten_schools(db, clock)
    for school in ids:
        await file(db, school, "milk", "2026-10", drinkers(100), datetime(2026, 11, 3, 9, tzinfo=SHANGHAI))
    for school in ids[:4]:
        await file(db, school, "milk", "2026-11", drinkers(100), datetime(2026, 12, 1, 9, tzinfo=SHANGHAI))
    return ids


async def test_summary_before_the_due_date_shows_both_coverages_and_compares_nothing(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await october_full_november_four(db, clock)
    staff = await register_staff(sim, db, clock)
    clock.set(DEC_2)
    text = (await staff.send("/summary milk 2026-11"))[-1].text
    assert "2026年11月：尚未到截止日（12月5日截止），已报 4/10 所" in text
    assert "上期（2026年10月）1,000人；上期 10/10 所，本期 4/10 所，暂不比较" in text
    assert "下降" not in text and "增长" not in text
    assert "按时" not in text, "no on-time rate before the due date"
    assert "全市：已报 4/10 所（40%）" in text and "日参饮人数合计 400人" in text
    # Districts with nothing filed yet read 未报, not 0 人.
    blocks = text.split("▸ ")[1:]
    by_name = {block.split("：")[0]: block for block in blocks}
    assert "日参饮人数 400人" in by_name["濉溪县"]
    assert "日参饮人数 未报" in by_name["杜集区"] and "日参饮人数 未报" in by_name["相山区"]
    assert "0人" not in by_name["杜集区"]


async def test_english_summary_says_not_compared_yet_with_both_coverages(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await october_full_november_four(db, clock)
    staff = await register_staff(sim, db, clock)
    await staff.send("/language")
    await staff.press("English")
    clock.set(DEC_2)
    text = (await staff.send("/summary milk 2026-11"))[-1].text
    assert "November 2026: before its due date (2026-12-05), 4/10 schools reported" in text
    assert "then 10/10 schools, now 4/10 schools: not compared yet" in text and "down" not in text


async def test_once_past_due_the_same_month_is_compared_and_the_missing_are_counted(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    ids = await october_full_november_four(db, clock)
    for school in ids[4:]:
        await file(db, school, "milk", "2026-11", drinkers(90), datetime(2026, 12, 4, 9, tzinfo=SHANGHAI))
    staff = await register_staff(sim, db, clock)
    clock.set(datetime(2026, 12, 7, 10, tzinfo=SHANGHAI))
    text = (await staff.send("/summary milk 2026-11"))[-1].text
    assert "2026年11月：已过截止日（12月5日截止），已全部报送（10/10 所）" in text
    assert "上期（2026年10月）1,000人，本期下降 6.0%" in text and "暂不比较" not in text
    assert "按时 10 所（100%）" in text


async def test_open_semester_shows_no_on_time_zero_and_no_fall_of_a_hundred_percent(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    ids = await ten_schools(db, clock)
    for school in ids:
        await file(db, school, "insurance", "2026-S1", insured(500, 480, "9600"), datetime(2026, 3, 10, 9, tzinfo=SHANGHAI))
    staff = await register_staff(sim, db, clock)
    text = (await staff.send("/summary insurance 2026-S2"))[-1].text  # 26 Nov: the autumn semester runs until January
    assert "2026年秋季学期：本期尚未结束（2月15日截止），已报 0/10 所" in text
    assert "按时" not in text
    assert "下降 100" not in text and "下降" not in text
    assert "参保学生数合计 未报" in text


async def test_summary_json_has_state_due_coverage_comparable_and_null_for_nobody(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await october_full_november_four(db, clock)
    document = json.loads(
        json.dumps(summary_json(await summarise(db, MILK, parse_period(MILK.period_cadence, "2026-11"), DEC_2, SHANGHAI)))
    )
    assert (document["state"], document["due"]) == ("due", "2026-12-05")
    (coverage,) = document["city"]["coverage"]
    assert coverage == {
        "period": "2026-11",
        "state": "due",
        "due": "2026-12-05",
        "expected": 10,
        "reported": 4,
        "on_time": 4,
        "missing": 6,
        "complete": False,
    }
    assert document["previous"]["comparable"] is False and document["previous"]["city"]["coverage"][0]["complete"] is True
    assert document["year_ago"]["comparable"] is False and document["year_ago"]["city"]["unreported"] is True
    districts = {d["district"]: d for d in document["districts"]}
    assert districts["濉溪县"]["fields"]["daily_drinkers"]["figure"] == 400
    for name in ("杜集区", "相山区"):
        drinkers_field = districts[name]["fields"]["daily_drinkers"]
        assert districts[name]["unreported"] is True
        assert drinkers_field["figure"] is None and drinkers_field["sum"] is None, "未报 is null, never 0"


@pytest.fixture
def milk_cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A committed database (the CLI opens its own connection) with October 2025 reported in 濉溪县 only."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    clock = FixedClock(datetime(2025, 10, 1, 9, tzinfo=SHANGHAI))

    async def populate(database: Database) -> None:
        from tests.conftest import wipe

        await wipe(database)
        ids = await ten_schools(database, clock)
        for school in ids[:5]:
            await file(
                database,
                school,
                "milk",
                "2025-10",
                drinkers(0 if school == ids[0] else 50),
                datetime(2025, 11, 2, tzinfo=SHANGHAI),
            )

    on_db(db_url, populate)
    return db_url


def test_cli_summary_json_says_null_for_a_district_without_reports_and_zero_for_a_school_that_said_zero(
    milk_cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        assert main(["summary", "--form", "milk", "--period", "2025-10", "--json"]) == 0
        document = json.loads(capsys.readouterr().out)
        # October 2025 is long locked, whatever day the test runs.
        assert document["state"] == "closed" and document["city"]["coverage"][0]["missing"] == 5
        districts = {d["district"]: d["fields"]["daily_drinkers"] for d in document["districts"]}
        assert (
            districts["濉溪县"]["figure"] == 200 and districts["杜集区"]["figure"] is None and districts["相山区"]["sum"] is None
        )
        assert main(["summary", "--form", "milk", "--period", "2025-10"]) == 0
        text = capsys.readouterr().out
        assert "已锁定" in text and "    日参饮人数 未报" in text and "日参饮人数 0人" not in text
    finally:
        from tests.conftest import wipe

        on_db(milk_cli_db, wipe)


async def test_figure_tells_a_reported_zero_from_nobody(db: Database, clock: FixedClock) -> None:
    ids = await ten_schools(db, clock)
    await file(db, ids[0], "milk", "2026-10", drinkers(0), datetime(2026, 11, 3, 9, tzinfo=SHANGHAI))
    result = await rollup(db, MILK, [parse_period(MILK.period_cadence, "2026-10")], clock.now(), SHANGHAI)
    by_name = {d.name: d for d in result.districts}
    assert by_name["濉溪县"].figure("daily_drinkers") == D(0) and not by_name["濉溪县"].unreported
    assert by_name["杜集区"].figure("daily_drinkers") is None and by_name["杜集区"].unreported
    assert by_name["杜集区"].total("daily_drinkers") == D(0), "total() stays the raw sum for old callers"
    assert result.city.figure("daily_drinkers") == D(0)
    assert result.coverage[0].state is PeriodState.LATE and result.coverage[0].reported == 1


async def test_year_figures_follow_each_fields_rules(db: Database, clock: FixedClock) -> None:
    ids = await ten_schools(db, clock)
    # Milk: 2 schools report 100 and 300 drinkers every month January–November: 400 a month, not 4,400.
    months = [f"2026-{m:02d}" for m in range(1, 12)]
    for month in months:
        await file(db, ids[0], "milk", month, drinkers(100), datetime(2026, 11, 3, 9, tzinfo=SHANGHAI))
        await file(
            db, ids[5], "milk", month, drinkers(300 if month != "2026-11" else 340), datetime(2026, 11, 3, 9, tzinfo=SHANGHAI)
        )
    year = [parse_period(MILK.period_cadence, m) for m in months]
    milk_year = await rollup(db, MILK, year, clock.now(), SHANGHAI)
    assert milk_year.city.total("daily_drinkers") == D(400 * 11 + 40)  # the raw sum, which no output shows
    assert milk_year.city.figure("daily_drinkers") == D("403.64")  # (400 × 10 + 440) ÷ 11, to two decimals
    # Days served: the typical school's 20 days a month (mean over schools), added up over 11 months.
    assert milk_year.city.figure("days_served") == D(220)
    assert [c.period.key for c in milk_year.coverage] == months and milk_year.city.schools_reported == 2
    assert milk_year.coverage[-1].state is PeriodState.OPEN and milk_year.coverage[0].state is PeriodState.CLOSED
    by_name = {d.name: d for d in milk_year.districts}
    assert by_name["杜集区"].figure("daily_drinkers") == D("303.64") and by_name["相山区"].figure("daily_drinkers") is None

    # Insurance: head counts take the latest semester, premiums add up.
    await file(db, ids[0], "insurance", "2026-S1", insured(500, 480, "9600"), datetime(2026, 3, 1, tzinfo=SHANGHAI))
    await file(db, ids[1], "insurance", "2026-S1", insured(300, 300, "6000"), datetime(2026, 3, 1, tzinfo=SHANGHAI))
    await file(db, ids[0], "insurance", "2026-S2", insured(520, 500, "10000.50"), datetime(2026, 9, 1, tzinfo=SHANGHAI))
    semesters = [parse_period(INSURANCE.period_cadence, k) for k in ("2026-S1", "2026-S2")]
    cover = await rollup(db, INSURANCE, semesters, clock.now(), SHANGHAI)
    assert cover.city.figure("students_insured") == D(500)  # the latest semester's, not 1,280
    assert cover.city.figure("premium") == D("25600.50")
    assert [c.reported for c in cover.coverage] == [2, 1] and cover.city.schools_reported == 2


async def test_harvest_entries_of_a_school_add_up_before_the_period_figure(db: Database, clock: FixedClock) -> None:
    school = await add_school(db, clock, "HB001", "邹圩小学", "濉溪县", programmes=("farm",))
    for series, income in (("a", "1000"), ("b", "2500.50")):
        await save_report_retrying(
            db,
            NewReport(
                school_id=school.id,
                form_key="harvest",
                form_version=1,
                period="2026-Q4",
                series=series,
                values={"crop": (None, "vegetables"), "area_mu": (D(2), None), "income": (D(income), None)},
                reporter_id=None,
                submitted_at=clock.now() - timedelta(days=1),
                is_late=False,
            ),
        )
    harvest = CATALOGUE.get("harvest")
    result = await rollup(db, harvest, [parse_period(harvest.period_cadence, "2026-Q4")], clock.now(), SHANGHAI)
    assert result.city.figure("income") == D("3500.50") and result.city.figure("participants") is None
    assert result.coverage[0].state is PeriodState.OPEN and result.coverage[0].due is None
