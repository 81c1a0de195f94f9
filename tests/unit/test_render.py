"""Rendering without a database: phone text, chart (with a real CJK font), XLSX and DOCX."""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from matplotlib import font_manager
from openpyxl import load_workbook

from bot.core.catalogue import load_catalogue
from bot.core.coverage import Coverage
from bot.core.periods import PeriodState, due_date, parse_period
from bot.render.chart import render_chart
from bot.render.fonts import cjk_font, covers
from bot.render.table import render_summary_text, split_message
from bot.render.xlsx import export_filename, render_xlsx
from bot.office.summary import (
    ExportData,
    Rollup,
    Stats,
    Summary,
)
from storage.rollups import FieldAggregate
from storage.completeness import MissingReport
from storage.report_rows import ReportRow

CATALOGUE = load_catalogue()
MILK = CATALOGUE.get("milk")
HARVEST = CATALOGUE.get("harvest")
OCT = parse_period(MILK.period_cadence, "2026-10")


def stats(district_id: int | None, name: str, expected: int, reported: int, on_time: int, drinkers: int) -> Stats:
    fields = {"daily_drinkers": FieldAggregate(reported, Decimal(drinkers), Decimal(10), Decimal(drinkers))} if reported else {}
    return Stats(district_id, name, expected, expected, reported, on_time, reported, reported, fields)


def milk_rollup(
    *districts: Stats, period: str = "2026-10", scope: str | None = None, state: PeriodState = PeriodState.LATE
) -> Rollup:
    """One month's roll-up of ``districts``, each with its coverage in ``state`` (default: past due)."""
    month = parse_period(MILK.period_cadence, period)
    districts = tuple(
        replace(d, coverage=(Coverage(month, state, due_date(MILK, month), d.schools, d.reported, d.on_time),), form=MILK)
        for d in districts
    )
    return Rollup(
        form=MILK,
        periods=(month,),
        city=Stats.combine(scope or "", districts),
        districts=tuple(districts),
        district_id=districts[0].district_id if scope else None,
        scope=scope,
    )


def two_districts() -> Rollup:
    return milk_rollup(stats(1, "濉溪县", 12, 11, 9, 4321), stats(2, "杜集区", 6, 3, 3, 1200))


def summary_of(current: Rollup) -> Summary:
    return Summary(
        form=MILK,
        period=current.periods[0],
        current=current,
        previous=milk_rollup(stats(1, "濉溪县", 12, 10, 10, 5000), period="2026-09"),
        year_ago=milk_rollup(stats(1, "濉溪县", 12, 0, 0, 0), period="2025-10"),
    )


# --- fonts and chart ------------------------------------------------------------


def test_matplotlib_resolves_a_cjk_font_that_draws_district_names() -> None:
    found = cjk_font()
    assert found is not None, "install fonts-wqy-microhei (see README)"
    path = font_manager.findfont(font_manager.FontProperties(family=found.family), fallback_to_default=False)
    assert covers(str(path), "濉溪县杜集区全市完整率")
    # DejaVu (matplotlib's default) cannot: the check is about glyphs, not names.
    dejavu = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans"), fallback_to_default=False)
    assert not covers(str(dejavu), "濉溪县")


def test_chart_is_a_png_of_reasonable_size_with_no_missing_glyphs() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = render_chart(two_districts(), "zh")
    missing = [str(w.message) for w in caught if "missing from" in str(w.message)]
    assert missing == [], missing
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert 600 <= width <= 1200 and 300 <= height <= 2000
    assert 10_000 < len(png) < 1_000_000


def test_chart_of_an_empty_period_still_draws() -> None:
    empty = milk_rollup(stats(1, "濉溪县", 12, 0, 0, 0))
    assert render_chart(empty, "en").startswith(b"\x89PNG")


# --- phone text -------------------------------------------------------------------


def test_summary_text_puts_the_city_first_with_rates_and_comparisons() -> None:
    text = render_summary_text(summary_of(two_districts()), "zh")
    lines = text.splitlines()
    assert lines[0] == "📊 学生饮用奶月报 · 2026年10月"
    assert lines[1] == "2026年10月：已过截止日（11月5日截止），4 所未报（已报 14/18 所）"
    assert lines[2] == "全市：已报 14/18 所（78%），按时 12 所（67%），已审核 0/14 份"
    assert lines[3] == "日参饮人数合计 5,521人"
    assert lines[4] == "上期（2026年9月）5,000人，本期增长 10.4%"  # both past due, both incomplete: alike
    assert lines[5] == "去年同期（2025年10月）无报送数据"
    assert "▸ 濉溪县：已报 11/12 所（92%），按时 9 所（75%）" in lines
    assert "    日参饮人数 4,321人" in lines
    assert max(len(line) for line in lines) < 60  # reads on a phone without sideways scrolling


def test_summary_text_of_an_empty_period_says_zero_percent_and_unreported_not_zero() -> None:
    empty = milk_rollup(stats(1, "濉溪县", 12, 0, 0, 0))
    text = render_summary_text(summary_of(empty), "zh")
    assert "已报 0/12 所（0%），按时 0 所（0%）" in text and "本期还没有学校报送" in text
    assert "日参饮人数合计 未报" in text and "    日参饮人数 未报" in text and "数 0人" not in text and "计 0人" not in text
    nobody = Rollup(MILK, (OCT,), Stats.combine("", []), ())
    assert "没有需要报送" in render_summary_text(summary_of(nobody), "zh")


def test_scoped_summary_shows_only_the_district() -> None:
    scoped = milk_rollup(stats(2, "杜集区", 6, 3, 3, 1200), scope="杜集区")
    text = render_summary_text(summary_of(scoped), "en")
    assert text.splitlines()[0].endswith("· 杜集区") and "City" not in text and "▸" not in text


def test_long_text_is_split_at_line_breaks_within_telegrams_limit() -> None:
    text = "\n".join(f"第{i}行 " + "字" * 50 for i in range(200))
    chunks = split_message(text)
    assert len(chunks) > 1 and all(len(c) <= 4096 for c in chunks)
    assert "\n".join(chunks) == text


# --- spreadsheet -------------------------------------------------------------------


XLSX_NOW = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai


def export_data() -> ExportData:
    submitted = datetime(2026, 11, 3, 1, 30, tzinfo=timezone.utc)  # 09:30 in Shanghai
    report = ReportRow(
        report_id=1,
        period="2026-10",
        series="",
        version=2,
        is_late=True,
        submitted_at=submitted,
        source="chat",
        school_code="HB001",
        school_name="邹圩小学",
        district="濉溪县",
        reporter="王校长",
        values={
            "daily_drinkers": (Decimal(856), None),
            "days_served": (Decimal(21), None),
            "supplier": (None, "mengniu"),
            "incidents": (Decimal(0), None),
        },
    )
    missing = [MissingReport("2026-10", "HB002", "张庄中学", "杜集区", school_id=2, district_id=2)]
    return ExportData(rollup=two_districts(), reports=[report], missing=missing)


def test_xlsx_has_typed_cells_chinese_headers_frozen_rows_and_widths() -> None:
    workbook = load_workbook(io.BytesIO(render_xlsx(export_data(), "zh", XLSX_NOW)))
    assert workbook.sheetnames == ["说明", "区县汇总", "报表明细", "未报学校", "待报学校"]
    rollup = workbook["区县汇总"]
    header = [c.value for c in rollup[1]]
    assert header[:9] == ["期间", "区县", "应报学校数", "应报份数", "已报份数", "按时份数", "完整率", "及时率", "报表总数"]
    assert "日参饮人数合计（人）" in header
    city = [c.value for c in rollup[2]]
    assert city[0] == "2026年10月" and city[1] == "全市" and city[4] == 14
    assert isinstance(city[6], float) and city[6] == pytest.approx(14 / 18)
    assert rollup.cell(2, 7).number_format == "0.0%"
    assert city[header.index("日参饮人数合计（人）")] == 5521
    assert [c.value for c in rollup["B"]][1:] == ["全市", "濉溪县", "杜集区"]

    details = workbook["报表明细"]
    header = [c.value for c in details[1]]
    assert header[:4] == ["期间", "区县", "学校代码", "学校"]
    assert "日参饮人数（人）" in header and "供奶企业" in header
    row = {h: c.value for h, c in zip(header, details[2])}
    assert row["日参饮人数（人）"] == 856 and isinstance(row["日参饮人数（人）"], int)
    assert row["供奶企业"] == "蒙牛"
    assert row["提交时间"] == datetime(2026, 11, 3, 9, 30)  # a real date-time, in office time
    assert row["填报人"] == "王校长" and row["逾期"] == "是" and row["版本"] == 2
    # October was due 5 November: 21 days late on the 26th, not locked yet.
    assert [c.value for c in workbook["未报学校"][2]] == [
        "2026年10月",
        "杜集区",
        "HB002",
        "张庄中学",
        datetime(2026, 11, 5),
        21,
        "否",
    ]

    for sheet in workbook.worksheets[1:]:
        assert sheet.freeze_panes == "A2"
        assert sheet.column_dimensions["D"].width >= 8
    assert details.column_dimensions["D"].width >= len("邹圩小学") * 2


def test_xlsx_writes_date_fields_as_dates() -> None:
    catalogue = load_catalogue()
    form = catalogue.get("harvest")
    values = {
        "crop": (None, "fruit"),
        "area_mu": (Decimal("3.5"), None),
        "income": (Decimal("12000.5"), None),
        "participants": (Decimal(40), None),
    }
    submitted = datetime(2026, 9, 1, tzinfo=timezone.utc)
    report = ReportRow(1, "2026-Q3", "ab12", 1, False, submitted, "chat", "HB001", "邹圩小学", "濉溪县", None, values)
    rollup = Rollup(form, (parse_period(form.period_cadence, "2026-Q3"),), Stats.combine("", []), ())
    workbook = load_workbook(io.BytesIO(render_xlsx(ExportData(rollup, [report], []), "zh", XLSX_NOW)))
    details = workbook["报表明细"]
    header = [c.value for c in details[1]]
    row = {h: c.value for h, c in zip(header, details[2])}
    assert row["登记编号"] == "ab12" and row["收获品种"] == "瓜果（含西瓜）"
    assert row["种植面积（亩）"] == 3.5 and row["销售收入（元）"] == 12000.5 and row["收获数量（公斤）"] is None
    assert isinstance(row["提交时间"], datetime)
    assert details.cell(2, header.index("销售收入（元）") + 1).number_format == "#,##0.00"


def test_export_file_names_are_ascii() -> None:
    assert export_filename(MILK, [OCT]) == "schoolbot-milk-2026-10.xlsx"
    months = [parse_period(MILK.period_cadence, f"2026-{m:02d}") for m in range(1, 12)]
    assert export_filename(MILK, months) == "schoolbot-milk-2026.xlsx"
