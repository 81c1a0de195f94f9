"""In a real browser: the Mini App signs in with initData, tampered data is refused, a desk link works once."""

from __future__ import annotations

from pathlib import Path

from tests.browser.conftest import Tab, shot
from tests.dashboard_live import CITY_STAFF, DISTRICT_STAFF, OTHER_TOKEN, PRINCIPAL, LiveDashboard


async def test_signed_init_data_opens_the_grid(live: LiveDashboard, tab: Tab, tmp_path: Path) -> None:
    await tab.page.goto(live.mini_app_url(CITY_STAFF))
    # The login script posts initData, gets the cookie and loads the page again.
    await tab.page.wait_for_selector("h1", timeout=15_000)
    assert "李老师" in await tab.page.inner_text("body")
    cookies = await tab.page.context.cookies()
    (session,) = [c for c in cookies if c["name"] == "schoolbot_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/app/"
    await shot(tab, tmp_path, "grid")
    assert tab.errors == [], tab.errors


async def test_district_staff_sign_in_with_their_district_scope(live: LiveDashboard, tab: Tab, tmp_path: Path) -> None:
    await tab.page.goto(live.mini_app_url(DISTRICT_STAFF, name="赵老师"))
    await tab.page.wait_for_selector("h1", timeout=15_000)
    text = await tab.page.inner_text("body")
    assert "赵老师" in text and "濉溪县" in text
    await shot(tab, tmp_path, "grid-district")
    assert tab.errors == [], tab.errors


async def test_tampered_init_data_is_refused(live: LiveDashboard, tab: Tab, tmp_path: Path) -> None:
    signed = live.mini_app_url(CITY_STAFF)
    # Claim another user's id with the same hash.
    tampered = signed.replace(f"%2522id%2522%253A{CITY_STAFF}", f"%2522id%2522%253A{DISTRICT_STAFF}")
    assert tampered != signed
    for url, status in (
        (tampered, "401"),
        (live.mini_app_url(CITY_STAFF, token=OTHER_TOKEN), "401"),
        (live.mini_app_url(PRINCIPAL), "403"),
    ):
        await tab.page.goto(url)
        await tab.page.wait_for_selector(f"#message[data-status='{status}']", timeout=15_000)
        assert await tab.page.locator("h1").count() == 0
        assert [c for c in await tab.page.context.cookies() if c["name"] == "schoolbot_session"] == []
    await shot(tab, tmp_path, "refused")


async def test_desk_link_works_once(live: LiveDashboard, tab: Tab, tmp_path: Path) -> None:
    link = await live.desk_link(CITY_STAFF)
    await tab.page.goto(link)
    await tab.page.wait_for_url(f"{live.base}/app/", timeout=15_000)
    await tab.page.wait_for_selector("h1", timeout=15_000)
    assert "李老师" in await tab.page.inner_text("body")
    await shot(tab, tmp_path, "desk")
    assert tab.errors == [], tab.errors
    # A second browser (no cookie) with the same link: refused.
    await tab.page.context.clear_cookies()
    answer = await tab.page.goto(link)
    assert answer is not None and answer.status == 401
    assert "已使用或已过期" in await tab.page.inner_text("#message")
