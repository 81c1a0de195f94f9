"""Exports are safe to open: text that looks like a formula stays text; numbers stay numbers."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell

from bot.core.catalogue import load_catalogue
from bot.core.clock import FixedClock
from bot.core.periods import parse_period
from bot.render.xlsx import render_xlsx
from bot.office.summary import ExportData, Rollup, Stats
from bot.offline.simulator import Simulator
from storage.db import Database
from storage.reports import NewReport, save_report_retrying
from storage.completeness import MissingReport
from storage.report_rows import ReportRow
from tests.conftest import SHANGHAI
from tests.factories import add_school, register_staff
from tests.handlers.test_summary_handlers import last_file

CATALOGUE = load_catalogue()
HARVEST = CATALOGUE.get("harvest")
Q3 = parse_period(HARVEST.period_cadence, "2026-Q3")
HYPERLINK = '=HYPERLINK("http://x","y")'
NOTES = ["+1+1", "-2", "@SUM(A1)", "\tx", "\rx", "=1+1"]


def assert_text(cell: Cell, expected: str) -> None:
    """The cell holds exactly ``expected`` as a string, marked as text (never a formula)."""
    assert cell.value == expected
    assert cell.data_type == "s", f"{expected!r} was stored as {cell.data_type!r}"
    assert cell.quotePrefix, f"{expected!r} lacks the quote prefix"


def harvest_row(note: str, school: str = "邹圩小学", reporter: str = "王校长", income: str = "-5") -> ReportRow:
    values = {
        "crop": (None, "vegetables"),
        "area_mu": (Decimal("3.5"), None),
        "quantity": (None, None),
        "income": (Decimal(income), None),
        "participants": (Decimal(40), None),
        "note": (None, note),
    }
    submitted = datetime(2026, 10, 10, 1, 0, tzinfo=SHANGHAI)
    return ReportRow(1, "2026-Q3", "s1", 1, False, submitted, "chat", "HB001", school, "濉溪县", reporter, values)


def workbook_of(data: ExportData) -> dict[str, list[list[Cell]]]:
    # Mid-January: the third quarter is locked, so its missing reports are on 未报学校.
    workbook = load_workbook(io.BytesIO(render_xlsx(data, "zh", datetime(2027, 1, 15, 10, tzinfo=SHANGHAI), SHANGHAI)))
    return {ws.title: [list(row) for row in ws.iter_rows()] for ws in workbook}


def test_formula_like_school_names_notes_and_reporters_are_written_as_text() -> None:
    reports = [harvest_row(note, school=HYPERLINK, reporter="-王") for note in NOTES]
    district = Stats(1, "=cmd|' /C calc'!A0", 1, 1, 1, 1, 1, 1, {})
    rollup = Rollup(HARVEST, (Q3,), Stats.combine("", [district]), (district,))
    missing = [MissingReport("2026-Q3", "@HB9", "+张庄中学", "=濉溪县", school_id=9, district_id=1)]
    sheets = workbook_of(ExportData(rollup, reports, missing))

    details = sheets["报表明细"]
    header = [c.value for c in details[0]]
    col = {name: header.index(name) for name in ("学校", "备注", "填报人", "销售收入（元）")}
    for row, note in zip(details[1:], NOTES, strict=True):
        assert_text(row[col["学校"]], HYPERLINK)
        assert_text(row[col["备注"]], note)
        assert_text(row[col["填报人"]], "-王")
        income = row[col["销售收入（元）"]]
        # A negative number is a number, not text that starts with "-".
        assert income.value == -5 and income.data_type == "n" and income.number_format == "#,##0.00"
    assert_text(sheets["区县汇总"][2][1], "=cmd|' /C calc'!A0")
    missing_row = sheets["未报学校"][1]
    assert_text(missing_row[1], "=濉溪县")
    assert_text(missing_row[2], "@HB9")
    assert_text(missing_row[3], "+张庄中学")


def test_ordinary_text_and_numbers_keep_their_types() -> None:
    rollup = Rollup(HARVEST, (Q3,), Stats.combine("", []), ())
    sheets = workbook_of(ExportData(rollup, [harvest_row("卖给食堂 1+1", income="12000.5")], []))
    details = sheets["报表明细"]
    header = [c.value for c in details[0]]
    row = details[1]
    note = row[header.index("备注")]
    assert note.value == "卖给食堂 1+1" and note.data_type == "s" and not note.quotePrefix
    income = row[header.index("销售收入（元）")]
    assert income.value == pytest.approx(12000.5) and income.data_type == "n"
    area = row[header.index("种植面积（亩）")]
    assert area.value == pytest.approx(3.5) and area.number_format == "#,##0.00"
    assert isinstance(row[header.index("提交时间")].value, datetime)


async def test_exported_workbook_of_a_school_named_like_a_formula_shows_the_name(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    school = await add_school(db, clock, "HB001", HYPERLINK, "-濉溪县", programmes=("farm",))
    await save_report_retrying(
        db,
        NewReport(
            school_id=school.id,
            form_key="harvest",
            form_version=1,
            period="2026-Q3",
            series="x1",
            values={
                "crop": (None, "vegetables"),
                "area_mu": (Decimal("2"), None),
                "quantity": (None, None),
                "income": (Decimal("5000"), None),
                "participants": (Decimal(40), None),
                "note": (None, "@SUM(A1)"),
            },
            reporter_id=None,
            submitted_at=datetime(2026, 10, 10, 9, tzinfo=SHANGHAI),
            is_late=False,
        ),
    )
    staff = await register_staff(sim, db, clock)
    replies = await staff.send("/export harvest 2026-Q3")
    assert replies[0].kind == "document"
    _, data = last_file(sim, "sendDocument")
    workbook = load_workbook(io.BytesIO(data))
    details = [list(row) for row in workbook["报表明细"].iter_rows()]
    header = [c.value for c in details[0]]
    assert_text(details[1][header.index("学校")], HYPERLINK)
    assert_text(details[1][header.index("区县")], "-濉溪县")
    assert_text(details[1][header.index("备注")], "@SUM(A1)")
    income = details[1][header.index("销售收入（元）")]
    assert income.value == 5000 and income.data_type == "n"
    assert_text(workbook["区县汇总"]["B3"], "-濉溪县")
