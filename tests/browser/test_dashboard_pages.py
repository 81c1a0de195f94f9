"""In a real browser: each dashboard page opens with the expected numbers, no console errors, a screenshot.

The small city of ``tests.dashboard_live`` (邹圩小学 in 濉溪县, 相山小学 in 相山区) with milk
reports: 邹圩小学 on time in September (returned by 李老师 with a reason), late in October;
相山小学 only in October (approved). The clock says 26 November 2026. Screenshots are written under the test's tmp folder, on a
phone-width tab (412 px) and, for the grid, a desk-width one too.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from storage.models import Person, School
from storage.reports import NewFlag
from tests.browser.conftest import Tab, shot
from tests.dashboard_live import CITY_STAFF, DISTRICT_STAFF, LiveDashboard
from tests.dashboard_seed import milk, review


async def _school(live: LiveDashboard, code: str) -> int:
    async with live.services.db.session() as session:
        school = await session.scalar(select(School.id).where(School.code == code))
    assert school is not None
    return school


async def _milk(live: LiveDashboard, code: str, period: str, *, late: bool = False, flags: tuple[NewFlag, ...] = ()) -> None:
    await milk(live.services.db, await _school(live, code), period, late=late, drinkers=420, flags=flags)


async def _review(live: LiveDashboard, code: str, period: str, to: str, reason: str | None = None) -> None:
    db = live.services.db
    async with db.session() as session:
        staff = await session.scalar(select(Person.id).where(Person.telegram_id == CITY_STAFF))
    assert staff is not None
    await review(db, await _school(live, code), period, to, staff, reason)


async def _reports(live: LiveDashboard) -> None:
    await _milk(live, "HB001", "2026-09")
    await _milk(
        live, "HB001", "2026-10", late=True, flags=(NewFlag("history:previous", "比上月多一倍", "新学期扩招", "daily_drinkers"),)
    )
    await _milk(live, "HB101", "2026-10")
    await _review(live, "HB001", "2026-09", "returned", "供奶天数与送货单不符")
    await _review(live, "HB101", "2026-10", "approved")


async def _sign_in(live: LiveDashboard, tab: Tab, user: int, **kwargs: str) -> None:
    await tab.page.goto(live.mini_app_url(user, **kwargs))
    await tab.page.wait_for_selector("h1", timeout=15_000)


async def _open(live: LiveDashboard, tab: Tab, path: str) -> str:
    answer = await tab.page.goto(f"{live.base}/app/{path}")
    assert answer is not None and answer.status == 200, (path, answer and answer.status)
    await tab.page.wait_for_selector("h1", timeout=15_000)
    return await tab.page.inner_text("body")


async def _row(tab: Tab, heading: str) -> list[str]:
    row = tab.page.locator("table.grid tr", has=tab.page.locator("th", has_text=heading))
    return [text.strip() for text in await row.first.locator("td").all_inner_texts()]


async def test_every_page_opens_with_its_numbers(live: LiveDashboard, tab: Tab, tmp_path: Path) -> None:
    await _reports(live)
    await _sign_in(live, tab, CITY_STAFF)
    await _open(live, tab, "grid?form=milk&year=2026")
    assert (await _row(tab, "邹圩小学"))[8:] == ["✓", "迟", "·", "·"]
    assert (await _row(tab, "相山小学"))[8:] == ["✗", "✓", "·", "·"]
    assert (await _row(tab, "全市"))[8:10] == ["1/2", "2/2"]
    assert "已审核 1/3 份" in await tab.page.inner_text("p.coverage")
    # The school column stays put while the months scroll sideways on a phone.
    assert await tab.page.locator("table.grid th.s").first.evaluate("e => getComputedStyle(e).position") == "sticky"
    await shot(tab, tmp_path, "grid")
    trends = await _open(live, tab, "trends?year=2026")
    assert "1/2" in trends and await tab.page.locator("svg.trend circle.pt-open").count() >= 1
    await shot(tab, tmp_path, "trends")
    school = await _open(live, tab, "school/HB001")
    assert "比上月多一倍" in school and "新学期扩招" in school and "420" in school
    assert "↩️ 已退回" in school and "李老师 · 2026-11-05 10:00" in school and "供奶天数与送货单不符" in school
    assert "待审核" in school and "审核状态尚未启用" not in school
    # On a phone every version is a card: its answers are in view without scrolling sideways.
    width = await tab.page.evaluate("window.innerWidth")
    assert width < 640
    for box in [await cell.bounding_box() for cell in await tab.page.locator("table.versions td.answers").all()]:
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (box, width)
    await shot(tab, tmp_path, "school")
    flags = await _open(live, tab, "flags?form=milk&year=2026")
    assert "新学期扩招" in flags
    await shot(tab, tmp_path, "flags")
    review = await _open(live, tab, "review?form=milk&year=2026")
    assert "1 份待审核（已审核 1/3 份，已退回 1 份）" in review
    assert await tab.page.locator("table.list tbody tr").count() == 1  # 邹圩小学's October
    assert "邹圩小学" in await tab.page.inner_text("table.list tbody") and "迟报" in review
    await shot(tab, tmp_path, "review")
    await tab.page.set_viewport_size({"width": 1280, "height": 800})
    await _open(live, tab, "grid?form=milk&year=2026")
    await shot(tab, tmp_path, "grid-desk")
    assert tab.errors == [], tab.errors


async def test_district_staff_and_bad_links_in_the_browser(live: LiveDashboard, tab: Tab, tmp_path: Path) -> None:
    await _reports(live)
    await _sign_in(live, tab, DISTRICT_STAFF, name="赵老师")
    grid = await _open(live, tab, "grid?form=milk")
    assert "邹圩小学" in grid and "相山小学" not in grid
    outside = await tab.page.goto(f"{live.base}/app/school/HB101")
    assert outside is not None and outside.status == 404
    bad = await tab.page.goto(f"{live.base}/app/grid?form=milk&period=2026-13")
    assert bad is not None and bad.status == 400
    assert "2026-13" in await tab.page.inner_text("body")
    await shot(tab, tmp_path, "bad-period")
    # A bad link is not a dead end: the way back leads to the grid, still signed in, still scoped.
    await tab.page.click("#back")
    assert tab.page.url.endswith("/app/grid")
    back = await tab.page.inner_text("body")
    assert "邹圩小学" in back and "相山小学" not in back
    download = await tab.page.context.request.get(f"{live.base}/app/download/xlsx?form=milk&year=2026")
    assert download.status == 200 and (await download.body())[:2] == b"PK"
