"""The dashboard's pages rendered by ``serve`` for a seeded database (issue 16 points 3-4).

Three schools in two districts report milk; the clock says 26 November 2026, so September
and October are past their due dates (a school without a report there is missing),
November and December are not due yet. The grid's cells, subtotals, the scope, the
school page, flags, the review list and both downloads are read back from the HTML.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from sqlalchemy import insert

from bot.core.catalogue import load_catalogue
from bot.core.clock import FixedClock
from bot.dashboard.pages import serve
from bot.dashboard.viewer import BadRequest, NotFound, Page, Viewer
from bot.services import Services
from bot.settings import Settings
from storage.db import Database
from storage.models import School, SchoolProgramme
from storage.reports import NewFlag
from storage.schools import ensure_district
from tests.dashboard_seed import milk, review
from tests.factories import add_person, add_school

CATALOGUE = load_catalogue()
CITY = Viewer(person_id=1, telegram_id=2001, name="李老师", role="staff", district_id=None)


class Cells(HTMLParser):
    """The grid's rows as ``{row heading: [cell text, ...]}`` and each cell's class."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.classes: dict[str, list[str]] = {}
        self._row: list[str] | None = None
        self._css: list[str] = []
        self._head = ""
        self._cell: str | None = None
        self._in_th = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._row, self._css, self._head = [], [], ""
        elif tag == "th" and self._row is not None:
            self._in_th = True
        elif tag == "td" and self._row is not None:
            self._cell = ""
            self._css.append(dict(attrs).get("class") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._in_th = False
        elif tag == "td" and self._row is not None and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows[self._head.strip()] = self._row
            self.classes[self._head.strip()] = self._css
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell += data
        elif self._in_th and self._row is not None and not self._row:
            self._head += data


def grid_of(page: Page) -> Cells:
    parser = Cells()
    parser.feed(page.body.decode())
    return parser


@pytest.fixture
async def services(db: Database, clock: FixedClock, settings: Settings) -> Services:
    a = await add_school(db, clock, "HB001", "邹圩小学", "濉溪县", programmes=("milk", "farm"))
    b = await add_school(db, clock, "HB002", "张庄中学", "濉溪县", programmes=("milk",))
    c = await add_school(db, clock, "HB003", "孙土楼中学", "杜集区", area="urban", programmes=("milk",))
    await add_school(db, clock, "HB004", "五沟中学", "杜集区", programmes=("insurance",))  # no milk: not in the grid
    reason = NewFlag("history:previous", "比上月多一倍", "新学期扩招", field_key="daily_drinkers")
    await milk(db, a.id, "2026-09", drinkers=300)
    await milk(db, a.id, "2026-09", drinkers=310)  # a correction: version 2, version 1 is history
    await milk(db, a.id, "2026-10", late=True, drinkers=620, flags=(reason,))
    await milk(db, b.id, "2026-09", drinkers=200)
    await milk(db, c.id, "2026-09", drinkers=100)
    await milk(db, c.id, "2026-09", withdrawn=True)  # taken back: counts nowhere
    await milk(db, c.id, "2026-10", drinkers=150)
    staff = await add_person(db, clock, 2001, "李老师", role="staff")
    await review(db, b.id, "2026-09", "approved", staff.id)
    await review(db, c.id, "2026-10", "returned", staff.id, reason="供奶天数与送货单不符")
    return Services(settings=settings, db=db, clock=clock, catalogue=CATALOGUE)


async def page(services: Services, path: str, viewer: Viewer = CITY, **query: str) -> Page:
    return await serve(path, {k: [v] for k, v in query.items()}, viewer, services, services.clock.now())


async def district_viewer(services: Services, name: str, lang: str = "zh") -> Viewer:
    async with services.db.session() as session:
        district = await ensure_district(session, name)
    return Viewer(person_id=2, telegram_id=2002, name="区老师", role="staff", district_id=district.id, lang=lang)


async def test_grid_cells_show_on_time_late_missing_not_due_and_withdrawn(services: Services) -> None:
    grid = grid_of(await page(services, "grid", form="milk", year="2026"))
    # Columns Jan..Dec; January to August are long closed and nobody reported: missing.
    assert grid.rows["邹圩小学"] == ["✗"] * 8 + ["✓", "迟", "·", "·"]
    assert grid.rows["张庄中学"][8:] == ["✓", "✗", "·", "·"]
    assert grid.rows["孙土楼中学"][8:] == ["撤", "✓", "·", "·"]
    assert grid.classes["孙土楼中学"][8:] == ["w", "o", "n", "n"]
    assert "五沟中学" not in grid.rows  # not in the milk programme: never expected
    assert grid.rows["濉溪县（2 所）"][8:10] == ["2/2", "1/2"]
    assert grid.rows["杜集区（1 所）"][8:10] == ["0/1", "1/1"]
    assert grid.rows["全市（3 所）"][8:12] == ["2/3", "2/3", "0/3", "0/3"]


async def test_grid_shows_the_approval_coverage(services: Services) -> None:
    html = (await page(services, "grid", form="milk", year="2026")).body.decode()
    # Reported school-periods: HB001 Sep and Oct, HB002 Sep (approved), HB003 Oct (returned).
    assert "已审核 1/4 份" in html
    assert "撤回 0；已审核 1/2" in html  # 濉溪县's September: HB001 waits, HB002 approved
    district = (await district_viewer(services, "杜集区")).district_id
    one = (await page(services, "grid", form="milk", year="2026", district=str(district))).body.decode()
    assert "已审核 0/1 份" in one


async def test_grid_is_the_root_page_and_filters_by_district_and_area(services: Services) -> None:
    root = grid_of(await page(services, ""))
    assert root.rows["全市（3 所）"][8] == "2/3"  # milk, this year, by default
    district = (await district_viewer(services, "杜集区")).district_id
    assert district is not None
    one = grid_of(await page(services, "grid", form="milk", district=str(district)))
    # The scope's total and the district's subtotal are both 杜集区 now; the header row aside.
    assert {k for k in one.rows if not k.startswith("学校")} == {"杜集区（1 所）", "孙土楼中学"}
    urban = grid_of(await page(services, "grid", form="milk", area="urban"))
    assert "孙土楼中学" in urban.rows and "邹圩小学" not in urban.rows
    farms = grid_of(await page(services, "grid", form="milk", programme="farm"))
    assert "邹圩小学" in farms.rows and "张庄中学" not in farms.rows


async def test_district_staff_see_only_their_district(services: Services) -> None:
    viewer = await district_viewer(services, "杜集区")
    grid = grid_of(await page(services, "grid", viewer, form="milk"))
    assert "孙土楼中学" in grid.rows and "邹圩小学" not in grid.rows
    assert grid.rows["杜集区（1 所）"][9] == "1/1"
    with pytest.raises(NotFound):
        await page(services, "school/HB001", viewer)  # 濉溪县's school: as if it did not exist
    other = await district_viewer(services, "濉溪县")
    with pytest.raises(NotFound):
        await page(services, "grid", viewer, district=str(other.district_id))
    flags = (await page(services, "flags", viewer, form="milk")).body.decode()
    assert "新学期扩招" not in flags  # the flag is 濉溪县's


@pytest.mark.parametrize(
    "query",
    [
        {"period": "2026-13"},
        {"period": "2026-Q4"},
        {"period": "garbage"},
        {"year": "20x6"},
        {"year": "3000"},
        {"form": "nope"},
        {"district": "abc"},
        {"area": "suburb"},
        {"programme": "chess"},
        {"page": "0"},
    ],
)
async def test_bad_parameters_are_bad_requests(services: Services, query: dict[str, str]) -> None:
    with pytest.raises(BadRequest) as raised:
        await page(services, "grid", **{"form": "milk", **query})
    assert raised.value.message  # one line for the viewer


async def test_unknown_paths_and_schools_are_not_found(services: Services) -> None:
    for path in ("nope", "school/NOPE", "school/", "static/../pages.py", "static/missing.css", "download/pdf"):
        with pytest.raises(NotFound):
            await page(services, path)


async def test_school_page_lists_versions_flags_and_reasons(services: Services) -> None:
    html = (await page(services, "school/HB001")).body.decode()
    assert "邹圩小学" in html and "濉溪县" in html
    assert html.count("v2") == 1 and "已被更正" in html  # the correction and the history it left
    assert "比上月多一倍" in html and "新学期扩招" in html
    assert "310" in html and "620" in html
    assert "审核状态尚未启用" not in html
    # HB001's versions await review; the superseded September version was never reviewed.
    assert html.count("待审核</span>") == 2 and html.count("未审核</span>") == 1
    approved = (await page(services, "school/HB002")).body.decode()
    assert "✅ 已审核</span><br><small>李老师 · 2026-11-05 10:00</small>" in approved
    withdrawn = (await page(services, "school/HB003")).body.decode()
    assert "已撤回" in withdrawn
    assert "↩️ 已退回</span><br><small>李老师 · 2026-11-05 10:00</small><br>理由：供奶天数与送货单不符" in withdrawn


async def test_flags_list(services: Services) -> None:
    flags = (await page(services, "flags", form="milk", year="2026")).body.decode()
    assert "比上月多一倍" in flags and "新学期扩招" in flags and "620" in flags
    one_month = (await page(services, "flags", form="milk", period="2026-09")).body.decode()
    assert "新学期扩招" not in one_month


async def test_review_page_is_the_review_queue_with_approval_coverage(services: Services) -> None:
    html = (await page(services, "review", form="milk", year="2026")).body.decode()
    # Counted current reports: HB001 Sep (v2) and Oct, HB002 Sep (approved), HB003 Oct (returned);
    # HB003's Sep was withdrawn. Waiting: HB001's two, in /review's order (district, school, period).
    assert "2 份待审核（已审核 1/4 份，已退回 1 份）" in html
    assert "审核状态尚未启用" not in html
    rows = [row for row in html.split("<tr>")[2:]]
    assert len(rows) == 2 and all("邹圩小学" in row for row in rows)
    assert "2026年9月" in rows[0] and "v2" in rows[0] and "2026年10月" in rows[1] and "⚠ 1" in rows[1]
    assert "张庄中学" not in html and "孙土楼中学" not in html
    one = (await page(services, "review", form="milk", period="2026-10")).body.decode()
    assert "1 份待审核（已审核 0/2 份，已退回 1 份）" in one
    viewer = await district_viewer(services, "杜集区")
    district = (await page(services, "review", viewer, form="milk", year="2026")).body.decode()
    assert "0 份待审核（已审核 0/1 份，已退回 1 份）" in district and "没有待审核的报表" in district


async def test_trends_draw_the_headline_with_its_coverage(services: Services) -> None:
    html = (await page(services, "trends", year="2026")).body.decode()
    assert '<svg class="trend"' in html
    # September and October are past due but 2/3 reported: hollow points labelled 2/3.
    assert "2/3</text>" in html and 'class="pt-open"' in html
    assert "未报" in html  # months nobody reported are 未报, never a zero point
    # A month nobody reported is named by its state: 未报 once past due, 未结束 while it runs
    # (26 November: November is running), never 未报 before its due date.
    assert ">未报<title>2026年1月: 未报" in html
    assert ">未结束<title>2026年11月: 未结束" in html and ">未报<title>2026年11月" not in html
    assert html.count('class="none pending"') >= 1 and 'class="none" x' in html  # grey until owed, red once missing
    # The axis carries the unit of the chart's scale; the heading names no other unit.
    assert "<h2>学生饮用奶月报 · 日参饮人数</h2>" in html
    assert '<select name="form">' not in html  # every form is drawn: a form filter would do nothing
    assert '<select name="form">' in (await page(services, "grid", form="milk")).body.decode()
    english = (await page(services, "trends", Viewer(1, 2001, "Li", "staff", None, "en"), year="2026")).body.decode()
    assert ">not over<title>" in english


async def test_english_viewer_reads_english(services: Services) -> None:
    viewer = Viewer(person_id=1, telegram_id=2001, name="Li", role="staff", district_id=None, lang="en")
    html = (await page(services, "grid", viewer, form="milk")).body.decode()
    assert "On time" in html and "Missing (past due)" in html and "按时" not in html
    assert grid_of(await page(services, "grid", viewer, form="milk")).rows["City (3 schools)"][9] == "2/3"


async def test_downloads_are_the_export_and_the_year_end_draft(services: Services) -> None:
    xlsx = await page(services, "download/xlsx", form="milk", year="2026")
    assert xlsx.body[:2] == b"PK" and xlsx.filename and xlsx.filename.endswith(".xlsx")
    assert "spreadsheetml" in xlsx.content_type
    docx = await page(services, "download/docx", year="2026")
    assert docx.body[:2] == b"PK" and docx.filename == "schoolbot-annual-2026.docx"


async def test_static_stylesheet_is_served_with_long_cache(services: Services) -> None:
    css = await page(services, "static/style.css")
    assert css.content_type.startswith("text/css") and b".grid" in css.body
    assert "max-age" in css.headers["Cache-Control"]


async def test_a_city_grid_page_weighs_under_300_kb(db: Database, clock: FixedClock, settings: Settings) -> None:
    async with db.session() as session:
        districts = [await ensure_district(session, f"区县{i:02d}") for i in range(10)]
        now = clock.now()
        rows = [
            {
                "code": f"S{i:05d}",
                "name": f"第{i}中心小学附属学校",
                "district_id": districts[i % 10].id,
                "area": "rural",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(1000)
        ]
        await session.execute(insert(School), rows)
        ids = (await session.execute(School.__table__.select().with_only_columns(School.id))).scalars().all()
        await session.execute(insert(SchoolProgramme), [{"school_id": i, "programme": "milk"} for i in ids])
    await add_person(db, clock, 2001, "李老师", role="staff")
    services = Services(settings=settings, db=db, clock=clock, catalogue=CATALOGUE)
    for path in ("grid", "trends", "review", "flags"):
        body = (await page(services, path, form="milk")).body
        assert len(body) <= 300_000, (path, len(body))
    grid = grid_of(await page(services, "grid", form="milk"))
    assert grid.rows["全市（1000 所）"][0] == "0/1000"
    assert len([k for k in grid.rows if k.startswith("第")]) == 250  # one page of schools
    last = grid_of(await page(services, "grid", form="milk", page="4"))
    assert len([k for k in last.rows if k.startswith("第")]) == 250
    with pytest.raises(NotFound):
        await page(services, "grid", form="milk", page="5")
