"""/export through the real application: the cover sheet, year figures by each field's rules, 未报 only
past due, 待报 for the month not yet due, and number formats without a stray dot.

On 26 November 2026 (the test clock) milk's January–October are past due (January–August
locked), November is running (due 5 December). 濉溪县's HB001 filed September (280) and
October (300), 杜集区's HB002 October (200); 相山区's HB004 never filed.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from openpyxl import load_workbook
from openpyxl.workbook import Workbook

from bot.core.clock import FixedClock
from bot.offline.simulator import Simulator
from storage.db import Database
from tests.factories import add_school, register_staff
from tests.handlers.test_summary_handlers import last_file
from tests.service.test_rollups import milk, three_schools

SHEETS = ["说明", "区县汇总", "报表明细", "未报学校", "待报学校"]


async def year_workbook(sim: Simulator, db: Database, clock: FixedClock) -> tuple[str, Workbook]:
    a, b, _ = await three_schools(db, clock)
    await add_school(db, clock, "HB004", "相山小学", "相山区", programmes=("milk",))
    await milk(db, a, "2026-09", 280)
    await milk(db, a, "2026-10", 300)
    await milk(db, b, "2026-10", 200)
    staff = await register_staff(sim, db, clock)
    replies = await staff.send("/export milk 2026")
    _, data = last_file(sim, "sendDocument")
    return replies[-1].text, load_workbook(io.BytesIO(data))


def rows(book: Workbook, sheet: str) -> list[dict[str, Any]]:
    """A sheet's rows below its header, as header → value."""
    ws = book[sheet]
    header = [c.value for c in ws[1]]
    return [dict(zip(header, (c.value for c in row))) for row in ws.iter_rows(min_row=2)]


async def test_year_export_lists_only_past_due_months_as_missing_and_the_running_month_as_pending(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    caption, book = await year_workbook(sim, db, clock)
    assert book.sheetnames == SHEETS
    missing = rows(book, "未报学校")
    months = {(r["学校代码"], r["期间"]) for r in missing}
    # HB001 lacks January–August, HB002 January–September, HB004 January–October: 8 + 9 + 10.
    assert len(missing) == 27 and not any(period == "2026年11月" for _, period in months)
    assert ("HB001", "2026年9月") not in months and ("HB002", "2026年9月") in months
    october = next(r for r in missing if r["学校代码"] == "HB004" and r["期间"] == "2026年10月")
    assert october["截止日期"] == datetime(2026, 11, 5) and october["逾期天数"] == 21 and october["已锁定"] == "否"
    august = next(r for r in missing if r["学校代码"] == "HB004" and r["期间"] == "2026年8月")
    assert august["已锁定"] == "是" and august["逾期天数"] == 82
    pending = rows(book, "待报学校")
    assert [(r["期间"], r["学校代码"]) for r in pending] == [
        ("2026年11月", "HB002"),
        ("2026年11月", "HB001"),
        ("2026年11月", "HB004"),
    ]
    assert all(r["截止日期"] == datetime(2026, 12, 5) and r["状态"] == "未到期（期间未结束）" for r in pending)
    assert "3 份报表，27 项逾期未报，3 项待报" in caption


async def test_year_district_sheet_averages_daily_drinkers_over_months_and_shows_unreported(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    _, book = await year_workbook(sim, db, clock)
    by_district = {r["区县"]: r for r in rows(book, "区县汇总")}
    column = "日参饮人数（各校合计，各期平均）（人）"
    # The city: September 280, October 300 + 200 = 500 → a mean of 390, not the 780 of adding them.
    assert by_district["全市"][column] == 390
    assert by_district["濉溪县"][column] == 290 and by_district["杜集区"][column] == 200
    assert by_district["相山区"][column] == "未报"
    ws = book["区县汇总"]
    header = [c.value for c in ws[1]]
    assert ws.cell(2, header.index(column) + 1).number_format == "#,##0.00"  # a mean keeps its decimals
    assert ws.cell(2, header.index("应报份数") + 1).number_format == "0"


async def test_cover_sheet_states_form_scope_generation_coverage_and_roll_up_rules(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    _, book = await year_workbook(sim, db, clock)
    cover = [[c.value for c in row] for row in book["说明"].iter_rows()]
    facts = {row[0]: row[1] for row in cover[1:6]}
    assert cover[0][0] == "学生饮用奶月报 导出说明"
    assert facts["报表"] == "学生饮用奶月报（milk）" and facts["期间"].startswith("2026年")
    assert facts["范围"] == "全市" and facts["生成时间"] == "2026年11月26日 10:00（Asia/Shanghai）"
    assert facts["数据完整性"].startswith("数据不全") and "2026年11月（未到期（期间未结束），已报 0/3 所）" in facts["数据完整性"]
    states = ("已锁定", "已过截止日", "未到期", "未到期（期间未结束）")
    coverage = {row[0]: row[1:7] for row in cover if row[1] in states}
    assert len(coverage) == 11  # January to November
    assert coverage["2026年10月"] == ["已过截止日", datetime(2026, 11, 5), 3, 2, 2, 2 / 3]
    assert coverage["2026年9月"][0] == "已过截止日" and coverage["2026年8月"][0] == "已锁定"
    assert coverage["2026年11月"] == ["未到期（期间未结束）", datetime(2026, 12, 5), 3, 0, "未到截止日", 0]
    rules = {row[0]: row[1:4] for row in cover if row[0] in ("日参饮人数", "供奶天数")}
    assert rules["日参饮人数"] == ["人", "合计", "平均"] and rules["供奶天数"][1:] == ["平均", "合计"]
    assert [row[0] for row in cover if row[0] in SHEETS[1:]] == SHEETS[1:]


async def test_no_number_format_in_the_workbook_ends_in_a_bare_dot(sim: Simulator, db: Database, clock: FixedClock) -> None:
    _, book = await year_workbook(sim, db, clock)
    numeric = 0
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, int | float) and not isinstance(cell.value, bool):
                    numeric += 1
                    assert not cell.number_format.endswith("."), (ws.title, cell.coordinate, cell.number_format)
                    assert ".#" not in cell.number_format, (ws.title, cell.coordinate, cell.number_format)
    assert numeric > 50
    details = rows(book, "报表明细")
    ws = book["报表明细"]
    header = [c.value for c in ws[1]]
    assert ws.cell(2, header.index("日参饮人数（人）") + 1).number_format == "#,##0"
    assert details[0]["日参饮人数（人）"] in (280, 300, 200)
