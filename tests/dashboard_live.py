"""Set-up shared by the dashboard's tests: signed initData, a small city, the dashboard served on loopback.

``sign_init_data`` signs launch data exactly as Telegram does for a Mini App (the inverse of
``bot.dashboard.auth.validate_init_data``); ``serving_dashboard`` runs the real server
(``bot.dashboard.server.start_dashboard``) on a free loopback port until the block ends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.core.catalogue import load_catalogue
from bot.core.clock import FixedClock
from bot.dashboard.links import issue_link
from bot.dashboard.server import Bound, Dashboard, PageFunction, start_dashboard
from bot.services import Services
from storage.db import Database
from tests.conftest import make_settings
from tests.factories import add_person, add_school

TOKEN = "123456:DASHBOARD-TEST"
OTHER_TOKEN = "654321:SOME-OTHER-BOT"
# The small city every dashboard test sees: two districts, city staff, district staff, a principal.
CITY_STAFF = 3001
DISTRICT_STAFF = 3002
PRINCIPAL = 3003
ADMIN = 900


def sign_init_data(token: str, user_id: int, auth_date: datetime, *, name: str = "李老师", lang: str = "zh", **extra: str) -> str:
    """Mini App launch data for ``user_id`` signed with ``token`` as Telegram signs it."""
    user = json.dumps({"id": user_id, "first_name": name, "language_code": lang}, ensure_ascii=False, separators=(",", ":"))
    fields = {"query_id": "AAHdF6IQAAAAAN0XohDhrOrc", "user": user, "auth_date": str(int(auth_date.timestamp())), **extra}
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


async def add_city(db: Database, clock: FixedClock) -> None:
    """Two districts with a school each; city staff, staff of 濉溪县 only, a principal."""
    await add_school(db, clock, "HB001", "邹圩小学", "濉溪县")
    await add_school(db, clock, "HB101", "相山小学", "相山区")
    await add_person(db, clock, CITY_STAFF, "李老师", role="staff")
    await add_person(db, clock, DISTRICT_STAFF, "赵老师", role="staff", district="濉溪县")
    await add_person(db, clock, PRINCIPAL, "王校长", school_code="HB001")


def dashboard_services(db: Database, clock: FixedClock, db_url: str, **overrides: Any) -> Services:
    settings = make_settings(db_url, **{"bot_token": TOKEN, "dashboard_url": "http://127.0.0.1", **overrides})
    return Services(settings=settings, db=db, clock=clock, catalogue=load_catalogue())


@dataclass
class LiveDashboard:
    """The dashboard on loopback: its base URL and what signs people in."""

    base: str
    services: Services
    clock: FixedClock

    def init_data(self, user_id: int, *, token: str | None = None, **kwargs: Any) -> str:
        """Launch data for ``user_id`` signed now, with this bot's token unless told another."""
        return sign_init_data(token or self.services.settings.token or TOKEN, user_id, self.clock.now(), **kwargs)

    def mini_app_url(self, user_id: int, path: str = "", **kwargs: Any) -> str:
        """The URL Telegram opens the Mini App at: launch data in the fragment."""
        return f"{self.base}/app/{path}#" + urlencode(
            {"tgWebAppData": self.init_data(user_id, **kwargs), "tgWebAppVersion": "8.0"}
        )

    async def desk_link(self, user_id: int) -> str:
        """A one-time link as ``/dashboard`` sends it."""
        url = await issue_link(self.services, user_id, self.clock.now())
        assert url is not None
        return url

    @asynccontextmanager
    async def signed_in(self, user_id: int) -> AsyncIterator[httpx.AsyncClient]:
        """An HTTP client holding ``user_id``'s session cookie (through the Mini App login)."""
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as client:
            answer = await client.post("/app/auth", data={"init_data": self.init_data(user_id)})
            assert answer.status_code == 200, answer.text
            yield client


@asynccontextmanager
async def serving_dashboard(
    services: Services, clock: FixedClock, *, pages: PageFunction | None = None, bound: Bound | None = None
) -> AsyncIterator[LiveDashboard]:
    """Serve the dashboard on a free loopback port (DASHBOARD_URL follows it) until the block ends."""
    token = services.settings.token
    assert token is not None
    server, port = start_dashboard(Dashboard(services, token, pages, bound), 0, "127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    services.settings = services.settings.model_copy(update={"dashboard_url": base})
    try:
        yield LiveDashboard(base, services, clock)
    finally:
        server.stop()
        await server.close_all_connections()
