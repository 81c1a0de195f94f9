"""Figures that agree and say what they are (fix round, helper P1).

A mean keeps its decimals in the XLSX and ``summary --json``; 暂不比较 says why; 按时 only once a
period is past due; a year chart counts reports (份) and calls a mean 月平均; the year-end tables
say when districts do not add up to 全市; a district's draft speaks of the district; a future
month has not begun. Through the real application (``/summary``, ``/export``) where the office
reads it, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

from openpyxl import load_workbook
from openpyxl.workbook import Workbook

from bot.commands.summary import summary_json
from bot.core.clock import FixedClock
from bot.core.periods import parse_period
from bot.office.annual import annual_figures, form_year
from bot.office.summary import rollup, summarise
from bot.offline.simulator import Simulator
from bot.render.annual import render_annual_text
from bot.render.chart import build_chart
from storage.db import Database
from storage.schools import district_by_name
from tests.conftest import SHANGHAI
from tests.handlers.test_export_workbook import rows
from tests.handlers.test_summary_coverage import CATALOGUE, DEC_2, MILK, drinkers, file, ten_schools
from tests.handlers.test_summary_handlers import last_file
from tests.factories import add_school, register_staff
from tests.service.test_rollups import harvest

NOV_FILED = datetime(2026, 12, 1, 9, tzinfo=SHANGHAI)
OCT_FILED = datetime(2026, 11, 3, 9, tzinfo=SHANGHAI)


def served(n: int, days: int) -> dict[str, Any]:
    return {**drinkers(n), "days_served": days}


async def nine_of_ten_both_months(db: Database, clock: FixedClock) -> list[int]:
    """October and November: the same nine schools report; November's days served 20, 21, 21, … (mean 20.89)."""
    ids = await ten_schools(db, clock)
    for i, school in enumerate(ids[:9]):
        await file(db, school, "milk", "2026-10", served(100, 20), OCT_FILED)
        await file(db, school, "milk", "2026-11", served(100, 20 if i == 0 else 21), NOV_FILED)
    return ids


async def office_on_dec_2(sim: Simulator, db: Database, clock: FixedClock, command: str) -> str:
    """The office's reply to ``command`` on 2 December, three days before November is due."""
    staff = await register_staff(sim, db, clock)
    clock.set(DEC_2)
    return (await staff.send(command))[-1].text


async def exported(sim: Simulator, db: Database, clock: FixedClock, command: str) -> Workbook:
    """The workbook ``/export …`` sends on 2 December."""
    await office_on_dec_2(sim, db, clock, command)
    _, data = last_file(sim, "sendDocument")
    return load_workbook(io.BytesIO(data))


def texts(fig: Any) -> list[str]:
    found = [t.get_text() for t in fig.texts] + [ax.get_title(loc="left") for ax in fig.axes]
    return found + [t.get_text() for ax in fig.axes for t in ax.texts]


# --- 1. a mean keeps two decimals -------------------------------------------------------


async def test_a_mean_over_schools_keeps_two_decimals_in_the_json_and_the_workbook(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await nine_of_ten_both_months(db, clock)
    november = parse_period(MILK.period_cadence, "2026-11")
    document = json.loads(json.dumps(summary_json(await summarise(db, MILK, november, DEC_2, SHANGHAI))))
    days = document["city"]["fields"]["days_served"]
    assert days["figure"] == 20.89 and days["avg"] == 20.89, "188 ÷ 9 is 20.89, not 21"
    city = rows(await exported(sim, db, clock, "/export milk 2026-11"), "区县汇总")[0]
    assert city["区县"] == "全市" and city["供奶天数平均（天）"] == 20.89


# --- 3. 暂不比较 says why ------------------------------------------------------------------


async def test_alike_coverage_before_the_due_date_says_the_period_is_not_yet_due(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await nine_of_ten_both_months(db, clock)
    text = await office_on_dec_2(sim, db, clock, "/summary milk 2026-11")
    assert "上期（2026年10月）900人；本期尚未到截止日（12月5日），暂不比较" in text
    assert "上期 9/10 所，本期 9/10 所" not in text


async def test_alike_coverage_of_a_running_quarter_says_it_is_not_over(sim: Simulator, db: Database, clock: FixedClock) -> None:
    school = (await add_school(db, clock, "HB101", "农场小学", "濉溪县", programmes=("farm",))).id
    await harvest(db, school, "2026-Q3", "s1", "1000")
    await harvest(db, school, "2026-Q4", "s1", "800")
    staff = await register_staff(sim, db, clock)
    text = (await staff.send("/summary harvest 2026-Q4"))[-1].text
    assert "上期（2026年第三季度）1,000元；本期尚未结束，暂不比较" in text
    assert "上期 1/1 所，本期 1/1 所" not in text


async def test_different_coverage_still_shows_both(sim: Simulator, db: Database, clock: FixedClock) -> None:
    ids = await ten_schools(db, clock)
    for school in ids:
        await file(db, school, "milk", "2026-10", drinkers(100), OCT_FILED)
    for school in ids[:4]:
        await file(db, school, "milk", "2026-11", drinkers(100), NOV_FILED)
    text = await office_on_dec_2(sim, db, clock, "/summary milk 2026-11")
    assert "上期 10/10 所，本期 4/10 所，暂不比较" in text


# --- 6. a future month has not begun ----------------------------------------------------------


async def test_a_future_month_has_not_begun_rather_than_not_ended(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await ten_schools(db, clock)
    staff = await register_staff(sim, db, clock)
    text = (await staff.send("/summary milk 2027-01"))[-1].text  # 26 November 2026
    assert "2027年1月：本期尚未开始，已报 0/10 所" in text and "尚未结束" not in text.split("\n")[1]


# --- 4. on time only once past due ------------------------------------------------------------


async def test_no_on_time_before_the_due_date_in_the_chart_or_the_workbook(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await nine_of_ten_both_months(db, clock)
    november = parse_period(MILK.period_cadence, "2026-11")
    chart = build_chart(await rollup(db, MILK, [november], DEC_2, SHANGHAI), "zh")
    assert not any("按时" in text for text in texts(chart)), "six in early are not yet six on time"
    october = parse_period(MILK.period_cadence, "2026-10")
    assert any("按时 9 所" in text for text in texts(build_chart(await rollup(db, MILK, [october], DEC_2, SHANGHAI), "zh")))
    city = rows(await exported(sim, db, clock, "/export milk 2026-11"), "区县汇总")[0]
    assert city["按时份数"] == "未到截止日" and city["及时率"] == "未到截止日"


async def test_a_year_export_counts_on_time_over_periods_past_due_and_says_so(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await nine_of_ten_both_months(db, clock)
    book = await exported(sim, db, clock, "/export milk 2026")
    city = rows(book, "区县汇总")[0]
    # January–October are past due (10 × 10 expected), October's nine on time; November (due) is not counted.
    assert city["按时份数（已截止期间）"] == 9 and city["及时率（已截止期间）"] == 9 / 100
    cover = {row[0].value: row[1].value for row in book["说明"].iter_rows() if row[0].value}
    assert "按时份数、及时率只计已过截止日的期间" in cover["完整率、及时率的口径"]
    assert "2026年11月：未到期" in cover["完整率、及时率的口径"]
    assert "各区县之和不一定等于全市" in cover["各期平均数"]
    coverage = {row[0].value: row[5].value for row in book["说明"].iter_rows() if row[0].value in ("2026年10月", "2026年11月")}
    assert coverage == {"2026年10月": 9, "2026年11月": "未到截止日"}


# --- 5. year charts: reports, not schools; a mean is 月平均 ---------------------------------------


async def test_a_year_chart_counts_reports_and_calls_the_mean_monthly(db: Database, clock: FixedClock) -> None:
    ids = await ten_schools(db, clock)
    for month in ("2026-09", "2026-10"):
        for school in ids:
            await file(db, school, "milk", month, drinkers(100), OCT_FILED)
    year = await form_year(db, MILK, 2026, DEC_2, SHANGHAI)
    labels = texts(build_chart(year.folded(), "zh"))
    assert any("日参饮人数（月平均 1,000人）" in text for text in labels), labels
    assert not any("合计" in text for text in labels)
    assert any("份已报）" in text for text in labels) and not any("所已报）" in text for text in labels)


# --- 2 and 5. the year-end draft ----------------------------------------------------------------


async def test_the_draft_notes_districts_that_do_not_add_up_and_a_district_draft_names_itself(
    db: Database, clock: FixedClock
) -> None:
    ids = await ten_schools(db, clock)
    # 濉溪县 (five schools) reports September and October, 杜集区 (three) October only.
    for school in ids[:5]:
        await file(db, school, "milk", "2026-09", drinkers(100), OCT_FILED)
    for school in ids[:8]:
        await file(db, school, "milk", "2026-10", drinkers(100), OCT_FILED)
    text = render_annual_text(await annual_figures(db, CATALOGUE, 2026, DEC_2, SHANGHAI), "zh")
    table = text.split("表2")[1].split("\n\n")[0]
    # The city: (500 + 800) ÷ 2 = 650; 濉溪县 500 and 杜集区 300 add up to 800.
    assert "全市｜10｜8｜650" in table and "濉溪县｜5｜5｜500" in table and "杜集区｜3｜3｜300" in table
    assert "注：各区县的日参饮人数是该区县已报各月的平均" in table and "各区县数字相加不等于全市" in table
    assert "2026年我市勤工俭学工作" in text
    async with db.session() as session:
        district = await district_by_name(session, "濉溪县")
    assert district is not None
    scoped = render_annual_text(await annual_figures(db, CATALOGUE, 2026, DEC_2, SHANGHAI, district_id=district.id), "zh")
    assert "2026年濉溪县勤工俭学工作" in scoped and "我市" not in scoped
    assert "注：" not in scoped.split("表2")[1].split("\n\n")[0], "one district's table has nothing to add up"
