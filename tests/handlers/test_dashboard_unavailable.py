"""The dashboard's real pages on loopback while the database fails: 503 with Retry-After, never a 500.

The server is the real one (``serving_dashboard``) with the real pages (``pages.serve``);
what fails is the database itself: the pages read through a ``Database`` whose server
cannot be reached (a port nobody listens on, an SQLite file in a folder that does not exist).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

import httpx
import pytest

from bot.core.clock import FixedClock
from bot.dashboard.pages import serve
from bot.dashboard.viewer import Page, Query, Viewer
from bot.services import Services
from storage.db import Database
from tests.dashboard_live import CITY_STAFF, add_city, dashboard_services, serving_dashboard

pytestmark = pytest.mark.committed


def unreachable(db_url: str) -> Database:
    """A database of the same kind that cannot be opened."""
    if db_url.startswith("sqlite"):
        return Database("sqlite+aiosqlite:////nonexistent-schoolbot-dir/none.db")
    return Database("postgresql+asyncpg://postgres@127.0.0.1:1/none")


async def test_a_page_whose_database_fails_answers_503_with_retry_after(
    db: Database, clock: FixedClock, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    dead = unreachable(db_url)

    async def pages_on_a_dead_database(path: str, query: Query, viewer: Viewer, services: Services, now: datetime) -> Page:
        # Signing in read the live database; building the page reads the dead one.
        return await serve(path, query, viewer, dataclasses.replace(services, db=dead), now)

    await add_city(db, clock)
    try:
        async with serving_dashboard(dashboard_services(db, clock, db_url), clock, pages=pages_on_a_dead_database) as live:
            async with live.signed_in(CITY_STAFF) as client:
                with caplog.at_level(logging.WARNING, logger="bot.dashboard.server"):
                    for path in ("/app/grid?form=milk", "/app/school/HB001", "/app/review?form=milk", "/app/trends"):
                        answer = await client.get(path)
                        assert answer.status_code == 503, (path, answer.status_code)
                        assert answer.headers["Retry-After"] == "2"
                        assert answer.headers["Cache-Control"] == "no-store"
                        assert "数据库暂时无法连接" in answer.text and "Traceback" not in answer.text
                # Static files hold no data: served as ever.
                assert (await client.get("/app/static/style.css")).status_code == 200
    finally:
        await dead.dispose()
    assert "Database unavailable: GET /app/grid" in caplog.text
    assert "Uncaught exception" not in caplog.text


async def test_with_the_whole_database_down_a_signed_in_page_is_503_too(db: Database, clock: FixedClock, db_url: str) -> None:
    await add_city(db, clock)
    services = dashboard_services(db, clock, db_url)
    async with serving_dashboard(services, clock) as live:
        async with live.signed_in(CITY_STAFF) as client:
            cookies = dict(client.cookies)
        # The session cookie is valid, but looking its person up fails now.
        services.db = unreachable(db_url)
        try:
            async with httpx.AsyncClient(base_url=live.base, cookies=cookies) as client:
                answer = await client.get("/app/grid")
                assert answer.status_code == 503 and answer.headers["Retry-After"] == "2"
                signing_in = await client.post("/app/auth", data={"init_data": live.init_data(CITY_STAFF)})
                assert signing_in.status_code == 503 and signing_in.headers["Retry-After"] == "2"
        finally:
            await services.db.dispose()
            services.db = db
