"""The year-end draft (issue 14 point 4): coverage in every paragraph, 【数据不全】 on figures whose
periods are not final, 【待补充】 in the seed's structure, 占地面积 from the roster, year-on-year
only between complete years, and an A4 DOCX laid out as Chinese official documents are."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import docx
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_COLOR_INDEX
from docx.oxml.ns import qn
from docx.shared import Cm

from bot.core.catalogue import load_catalogue
from bot.core.clock import FixedClock
from bot.office.annual import Annual, annual_figures
from bot.office.roster import import_roster, parse_roster
from bot.render.annual import render_annual_text
from bot.render.annual_docx import render_annual_docx
from storage.db import Database
from storage.reports import NewReport, save_report_retrying
from tests.conftest import SHANGHAI
from tests.factories import add_school
from tests.service.test_rollups import harvest, milk

CATALOGUE = load_catalogue()
OFFICE = "市教育局勤工俭学管理办公室"
MONTHS = [f"{m:02d}" for m in range(1, 13)]


async def milk_schools(db: Database, clock: FixedClock, count: int) -> list[int]:
    return [
        (await add_school(db, clock, f"HB{n:03d}", f"第{n}小学", "濉溪县", programmes=("milk",))).id for n in range(1, count + 1)
    ]


async def milk_year(db: Database, schools: list[int], year: int, drinkers: int, *, only: dict[str, int] | None = None) -> None:
    """Every school reports every month of ``year``; ``only`` = {month: n}: just the first n schools that month."""
    for month in MONTHS:
        for school in schools[: (only or {}).get(month, len(schools))]:
            await milk(db, school, f"{year}-{month}", drinkers)


FILED = datetime(2026, 3, 1, 9, tzinfo=SHANGHAI)


async def insurance(db: Database, school: int, period: str, insured: int, premium: int) -> None:
    numbers = {"students_enrolled": insured, "students_insured": insured, "premium": premium, "claims": 0}
    values = {key: (Decimal(number), None) for key, number in numbers.items()}
    await save_report_retrying(db, NewReport(school, "insurance", 1, period, values, None, FILED, False))


async def draft(db: Database, clock: FixedClock, year: int, lang: str = "zh") -> tuple[Annual, str]:
    annual = await annual_figures(db, CATALOGUE, year, clock.now())
    return annual, render_annual_text(annual, lang, office=OFFICE)


def paragraph_with(text: str, needle: str) -> str:
    """The first line (a paragraph; tables come after their paragraph) that contains ``needle``."""
    return next(line for line in text.splitlines() if needle in line)


async def test_a_month_at_4_of_10_schools_marks_daily_drinkers_incomplete_naming_the_month(
    db: Database, clock: FixedClock
) -> None:
    schools = await milk_schools(db, clock, 10)
    await milk_year(db, schools, 2025, 100, only={"06": 4})
    annual, text = await draft(db, clock, 2025)
    drinkers = annual.milk.drinkers
    assert [gap.period.key for gap in drinkers.gaps] == ["2025-06"]
    # Eleven months of 1000 and June's 400: the mean of the months, never their sum.
    assert drinkers.value == Decimal(950)
    line = paragraph_with(text, "日参饮量")
    assert "日参饮量950人次（各月日参饮人数的月平均值）【数据不全：6月仅 4/10 所报送】" in line
    assert "依据10所学校中10所的1月至12月报表" in line


async def test_a_month_not_yet_due_and_months_not_begun_are_named(db: Database, clock: FixedClock) -> None:
    schools = await milk_schools(db, clock, 2)
    for month in MONTHS[:10]:
        for school in schools:
            await milk(db, school, f"2026-{month}", 300)
    await milk(db, schools[0], "2026-11", 300)  # 26 November: November is not over
    _, text = await draft(db, clock, 2026)
    line = paragraph_with(text, "日参饮量")
    assert "【数据不全：11月尚未结束，已报 1/2 所；12月尚未开始】" in line
    assert "依据2所学校中2所的1月至11月报表，其中11月尚未结束" in line


async def insured_2025(db: Database, clock: FixedClock, schools: int, **semesters: tuple[int, int]) -> tuple[Annual, str]:
    """``schools`` schools each filing (insured, premium) for the semesters named (S1=..., S2=...)."""
    for school in await milk_schools(db, clock, schools):
        for semester, (insured, premium) in semesters.items():
            await insurance(db, school, f"2025-{semester}", insured, premium)
    annual, text = await draft(db, clock, 2025)
    return annual, paragraph_with(text, "校方责任险，")


async def test_premium_over_one_of_two_semesters_is_marked(db: Database, clock: FixedClock) -> None:
    annual, line = await insured_2025(db, clock, 3, S1=(1000, 5000))
    premium = annual.insurance.premium
    assert premium.value == Decimal(15000) and [g.period.key for g in premium.gaps] == ["2025-S2"]
    assert "保费1.5万元（春季、秋季两学期合计）【数据不全：秋季学期未报】" in line
    # The head count is the latest semester's, and says which one and that a later one is missing.
    assert "参保学生数3000人（春季学期）【数据不全：秋季学期未报】" in line
    assert "共有3所中小学校参加校方责任险" in line


async def test_complete_semesters_are_summed_and_not_marked(db: Database, clock: FixedClock) -> None:
    annual, line = await insured_2025(db, clock, 2, S1=(1000, 5000), S2=(1100, 6000))
    assert annual.insurance.insured.value == Decimal(2200) and annual.insurance.premium.value == Decimal(22000)
    assert "参保学生数2200人（秋季学期），保费2.2万元（春季、秋季两学期合计）。" in line
    assert "数据不全" not in line


async def test_site_area_comes_from_the_roster_not_from_harvest_areas(db: Database, clock: FixedClock) -> None:
    roster = (
        "code,name,district,area,programmes,占地面积（亩）\n"
        "HB001,邹圩小学,濉溪县,rural,farm,32\n"
        "HB002,张庄中学,杜集区,rural,farm,60.5亩\n"
        "HB003,孙土楼中学,杜集区,rural,farm,\n"
    ).encode()
    await import_roster(db, clock.now(), parse_roster(roster, "r.csv"), new_districts=True)
    async with db.session() as session:
        from storage.schools import school_by_code

        school = await school_by_code(session, "HB001")
        assert school is not None
    await harvest(db, school.id, "2026-Q2", "h1", "8000", area="3.5")
    await harvest(db, school.id, "2026-Q3", "h2", "9000", area="1.5")
    await harvest(db, school.id, "2026-Q4", "h3", "0", area="0")  # a harvest in the running quarter
    annual, text = await draft(db, clock, 2026)
    assert annual.farm.sites.area == Decimal("92.5") and annual.farm.sites.unknown == 1
    line = paragraph_with(text, "劳动实践场所3个")
    assert "场所占地面积达92.5亩【数据不全：1 所学校的名册未填占地面积】（据学校名册）" in line
    # The harvests' 5 mu is planted area, labelled as such, never the sites' land area.
    assert "种植蔬菜5亩【数据不全：第四季度尚未结束】（收获登记所填种植面积）" in line
    assert "占地面积达5亩" not in text
    table = text[text.index("表1") :].splitlines()
    assert table[2] == "全市｜3｜92.5（1 所未填）｜1｜17,000"
    assert "杜集区｜2｜60.5（1 所未填）｜0｜未报" in table


async def test_placeholders_follow_the_seed_headings_in_order(db: Database, clock: FixedClock) -> None:
    _, text = await draft(db, clock, 2026)
    headings = [
        "一、2026年工作回顾",
        "（一）以育人为本",
        "1、加快中小学综合实践教育基地建设。【待补充",
        "（二）进一步规范中初等学校后勤服务管理工作",
        "共定制校服【待补充】万套",
        "实行教辅用书幼儿教材集中采购供应。【待补充",
        "3、认真实施国家“学生饮用奶计划”",
        "作业簿本印刷总量为【待补充】万本",
        "（三）保障师生安全",
        "（四）加大招商引资力度",
        "【待补充：招商引资工作情况】",
        "二、2027年工作思路",
        "【待补充：2027年工作总体思路】",
        "（一）【待补充",
        "（二）【待补充",
        "（三）【待补充",
        "（四）【待补充",
        OFFICE,
    ]
    body = text[len(text.splitlines()[0]) :]  # the title names the office too
    positions = [body.index(heading) for heading in headings]
    assert positions == sorted(positions)
    assert text.rstrip().endswith(f"{OFFICE}\n2026年11月26日")
    # Nothing reported: 未报 and no figure, never 0.
    assert "（2026年尚无报送数据。）" in text and "日参饮量未报" in text and "参保学生数未报" in text


async def test_year_on_year_only_when_both_years_are_complete(db: Database, clock: FixedClock) -> None:
    schools = await milk_schools(db, clock, 2)
    await milk_year(db, schools, 2024, 100)
    await milk_year(db, schools, 2025, 110)
    _, text = await draft(db, clock, 2025)
    assert "日参饮量220人次（各月日参饮人数的月平均值），比上年增长10.0%" in text
    assert "暂不作同比" not in text


async def test_no_year_on_year_when_last_year_is_incomplete(db: Database, clock: FixedClock) -> None:
    schools = await milk_schools(db, clock, 2)
    await milk_year(db, schools, 2024, 100, only={"03": 1})
    await milk_year(db, schools, 2025, 110)
    annual, text = await draft(db, clock, 2025)
    assert annual.milk.drinkers.complete and annual.milk.drinkers.previous is not None
    assert not annual.milk.drinkers.previous.complete
    assert "比上年" not in text
    assert "本年或上年数据尚不完整，暂不作同比。" in paragraph_with(text, "日参饮量")


async def test_docx_is_a4_with_official_fonts_highlights_table_chart_and_sign_off(db: Database, clock: FixedClock) -> None:
    schools = await milk_schools(db, clock, 10)
    await milk_year(db, schools, 2025, 100, only={"06": 4})
    annual = await annual_figures(db, CATALOGUE, 2025, clock.now())
    document = docx.Document(io.BytesIO(render_annual_docx(annual, "zh", office=OFFICE)))
    section = document.sections[0]

    def cm(length: int | None) -> float:
        assert length is not None
        return round(length / Cm(1), 2)  # Word stores twips: 21 cm reads back as 21.0001

    assert (cm(section.page_width), cm(section.page_height)) == (21.0, 29.7)
    margins = (section.top_margin, section.bottom_margin, section.left_margin, section.right_margin)
    assert [cm(m) for m in margins] == [3.7, 3.5, 2.8, 2.6]

    def east_asian(style: str) -> str | None:
        fonts = document.styles[style].element.rPr.rFonts
        assert fonts.get(qn("w:eastAsiaTheme")) is None, "a theme font would override the named one"
        return fonts.get(qn("w:eastAsia"))

    assert east_asian("Normal") == "仿宋"
    assert east_asian("Heading 1") == east_asian("Heading 2") == "黑体"
    paragraphs = document.paragraphs
    title = paragraphs[0]
    assert title.text == f"{OFFICE}2025年工作总结及2026年工作计划" and title.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert title.runs[0]._element.rPr.rFonts.get(qn("w:eastAsia")) == "黑体"
    assert [p.text for p in paragraphs if p.style.name == "Heading 1"] == ["一、2025年工作回顾", "二、2026年工作思路"]

    yellow = [r.text for p in paragraphs for r in p.runs if r.font.highlight_color == WD_COLOR_INDEX.YELLOW]
    assert "【数据不全：6月仅 4/10 所报送】" in yellow and "950人次" in yellow
    green = [r.text for p in paragraphs for r in p.runs if r.font.highlight_color == WD_COLOR_INDEX.BRIGHT_GREEN]
    assert green.count("【待补充】") >= 2
    plain = [r for p in paragraphs for r in p.runs if "勤工俭学" in r.text and "草稿" not in r.text]
    assert all(r.font.highlight_color is None for r in plain)

    tail = [p for p in paragraphs if p.text.strip()][-2:]
    assert [p.text for p in tail] == [OFFICE, "2026年11月26日"]
    assert all(p.alignment == WD_ALIGN_PARAGRAPH.RIGHT for p in tail)

    tables = document.tables
    milk_table = next(t for t in tables if t.cell(0, 3).text.startswith("日参饮量"))
    assert [c.text for c in milk_table.rows[1].cells] == ["全市", "10", "10", "950"]
    assert [c.text for c in tables[0].rows[1].cells][4] == "未报", "no harvest: 未报, never 0"
    assert len(document.inline_shapes) == 3, "one completeness chart per programme"
    assert cm(document.inline_shapes[0].width) == 15.6, "as wide as the text"


async def test_english_draft_reads_in_english(db: Database, clock: FixedClock) -> None:
    schools = await milk_schools(db, clock, 10)
    await milk_year(db, schools, 2025, 100, only={"06": 4})
    _, text = await draft(db, clock, 2025, "en")
    assert "[INCOMPLETE: only 4/10 schools reported for June]" in text
    assert "[TO FILL IN" in text and "【" not in text
