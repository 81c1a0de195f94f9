"""Browser tests: the dashboard served on loopback, opened in Debian's chromium through playwright.

``scripts/test`` installs both (``apt-get install chromium`` when ``/usr/bin/chromium`` is
missing; ``playwright`` from the test extra); playwright drives that executable, never a
browser of its own (no ``playwright install``). Fixtures:

- ``live``: the real dashboard server on a free port over the test database (committed:
  the server reads on its own connections), with the small city of ``tests.dashboard_live``;
- ``browser``: a headless chromium;
- ``tab``: a fresh page whose console errors and failed requests are collected in
  ``tab.errors`` (a test asserts it is empty), and ``shot(tab, name)`` writes a screenshot
  under the test's ``tmp_path``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from bot.core.clock import FixedClock
from storage.db import Database
from tests.dashboard_live import LiveDashboard, add_city, dashboard_services, serving_dashboard

CHROMIUM = os.environ.get("SCHOOLBOT_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
async def live(committed_db: Database, clock: FixedClock, db_url: str) -> AsyncIterator[LiveDashboard]:
    await add_city(committed_db, clock)
    async with serving_dashboard(dashboard_services(committed_db, clock, db_url), clock) as dashboard:
        yield dashboard


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium (apt-get install chromium)")
    async with async_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Tab:
    page: Page
    errors: list[str] = field(default_factory=list)


@pytest.fixture
async def tab(browser: Browser) -> AsyncIterator[Tab]:
    context = await browser.new_context(viewport={"width": 412, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    opened = Tab(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            opened.errors.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: opened.errors.append(f"page error: {error}"))
    try:
        yield opened
    finally:
        await context.close()


async def shot(tab: Tab, tmp_path: Path, name: str) -> Path:
    """A full-page screenshot of what the tab shows, under the test's tmp folder."""
    path = tmp_path / f"{name}.png"
    await tab.page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path
