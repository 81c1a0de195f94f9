"""The dashboard reached through the real application: /dashboard links, the menu button, 📊 under /summary,
/app/ on the webhook server, DASHBOARD_PORT when polling, the console's printed link."""

from __future__ import annotations

import asyncio
import io
import re
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.app import App, build_application, services_of
from bot.commands.run import serve_dashboard
from bot.core.clock import FixedClock
from bot.core.i18n import t
from bot.offline.console import run_console
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.offline.simulator import Simulator
from bot.settings import Settings, SettingsError, load_settings
from storage.db import Database
from storage.models import DashboardLink
from tests.conftest import make_settings
from tests.dashboard_live import TOKEN, serving_dashboard, sign_init_data
from tests.factories import add_school, register_principal, register_staff
from tests.service.test_rollups import milk, three_schools
from tests.webhook_server import free_port, serving_webhook, webhook_settings

PUBLIC = "https://dash.example.org"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, bot_token=TOKEN, dashboard_url=PUBLIC)


async def test_dashboard_sends_a_one_time_link_without_a_preview(sim: Simulator, db: Database, clock: FixedClock) -> None:
    staff = await register_staff(sim, db, clock)
    (reply,) = await staff.send("/dashboard")
    (link,) = re.findall(rf"{PUBLIC}/app/login\?t=[A-Za-z0-9_-]{{43}}", reply.text)
    assert "10 分钟" in reply.text
    assert sim.fake.calls_to("sendMessage")[-1].params["link_preview_options"] == {"is_disabled": True}
    async with serving_dashboard(services_of(sim.app), clock) as live:
        local = link.replace(PUBLIC, live.base)
        async with httpx.AsyncClient() as browser:
            opened = await browser.get(local)
            assert opened.status_code == 200
            # DASHBOARD_URL is https: the cookie is Secure (a browser sends it back over TLS only; here by hand).
            assert "; Secure" in opened.headers["Set-Cookie"]
            cookie = opened.headers["Set-Cookie"].split(";")[0]
            assert (await browser.get(f"{live.base}/app/", headers={"Cookie": cookie})).status_code == 200
        async with httpx.AsyncClient() as another:
            assert (await another.get(local)).status_code == 401


async def test_a_principal_gets_no_link(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    principal = await register_principal(sim, db, clock)
    (reply,) = await principal.send("/dashboard")
    assert "/app/login" not in reply.text and reply.text == t("zh", "core.not_allowed")
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(DashboardLink)) == 0


async def test_without_dashboard_url_dashboard_says_it_is_not_served(
    db: Database, clock: FixedClock, fake: FakeTelegram, db_url: str
) -> None:
    application = build_application(make_settings(db_url), request=FakeRequest(fake), db=db, clock=clock)
    async with application:
        staff = await register_staff(Simulator(application, fake), db, clock)
        (reply,) = await staff.send("/dashboard")
    assert reply.text == t("zh", "dashaccess.not_served")


async def test_staff_get_a_menu_button_that_opens_the_mini_app(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    await register_principal(sim, db, clock)
    assert sim.fake.calls_to("setChatMenuButton") == []
    await register_staff(sim, db, clock, user_id=2001)
    (call,) = sim.fake.calls_to("setChatMenuButton")
    assert call.params["chat_id"] == 2001
    assert call.params["menu_button"] == {"type": "web_app", "text": "📊 看板", "web_app": {"url": f"{PUBLIC}/app/"}}


async def test_summary_has_a_dashboard_button_opening_the_mini_app(sim: Simulator, db: Database, clock: FixedClock) -> None:
    a, _, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    staff = await register_staff(sim, db, clock)
    replies = await staff.send("/summary milk 2026-10")
    buttons = [b for row in replies[-1].buttons for b in row]
    (dashboard,) = [b for b in buttons if b["text"] == "📊 看板"]
    assert dashboard == {"text": "📊 看板", "web_app": {"url": f"{PUBLIC}/app/"}}


async def test_no_mini_app_buttons_without_https(db: Database, clock: FixedClock, fake: FakeTelegram, db_url: str) -> None:
    # Telegram opens Mini Apps over https only; a plain-http dashboard is for desk links.
    settings = make_settings(db_url, bot_token=TOKEN, dashboard_url="http://127.0.0.1:8080")
    application = build_application(settings, request=FakeRequest(fake), db=db, clock=clock)
    async with application:
        sim = Simulator(application, fake)
        await three_schools(db, clock)
        staff = await register_staff(sim, db, clock)
        replies = await staff.send("/summary milk 2026-10")
        (link_reply,) = await staff.send("/dashboard")
    assert "📊 看板" not in replies[-1].labels
    assert fake.calls_to("setChatMenuButton") == []
    assert "http://127.0.0.1:8080/app/login?t=" in link_reply.text


@pytest.fixture
async def committed_city(committed_db: Database, clock: FixedClock) -> AsyncIterator[Database]:
    await add_school(committed_db, clock)
    yield committed_db


def webhook_app(db_url: str, db: Database, clock: FixedClock, fake: FakeTelegram, **overrides: Any) -> tuple[App, int]:
    """An application in webhook mode on a free loopback port."""
    port = free_port()
    settings = webhook_settings(db_url, port, token=TOKEN, secret="s3cret", **overrides)
    return build_application(settings, request=FakeRequest(fake), db=db, clock=clock), port


@pytest.mark.committed
async def test_webhook_server_serves_the_dashboard_under_app(
    committed_city: Database, clock: FixedClock, fake: FakeTelegram, db_url: str
) -> None:
    application, port = webhook_app(db_url, committed_city, clock, fake, dashboard_url=PUBLIC)
    async with serving_webhook(application, port) as base, httpx.AsyncClient(base_url=base) as client:
        await register_staff(Simulator(application, fake), committed_city, clock, user_id=2001)
        assert (await client.get("/app/")).headers["Location"] == "/app/signin?next="
        signed = await client.post("/app/auth", data={"init_data": sign_init_data(TOKEN, 2001, clock.now())})
        assert signed.status_code == 200 and "; Secure" in signed.headers["Set-Cookie"]
        page = await client.get("/app/", headers={"Cookie": signed.headers["Set-Cookie"].split(";")[0]})
        assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
        assert (await client.get("/healthz")).status_code == 200


@pytest.mark.committed
async def test_webhook_server_without_dashboard_url_has_no_app(
    committed_city: Database, clock: FixedClock, fake: FakeTelegram, db_url: str
) -> None:
    application, port = webhook_app(db_url, committed_city, clock, fake)
    async with serving_webhook(application, port) as base, httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/app/")).status_code == 404
        assert (await client.get("/app/static/telegram-login.js")).status_code == 404


@pytest.mark.committed
async def test_polling_mode_serves_the_dashboard_on_dashboard_port(
    committed_city: Database, clock: FixedClock, fake: FakeTelegram, db_url: str
) -> None:
    port = free_port()
    settings = make_settings(db_url, bot_token=TOKEN, dashboard_url=PUBLIC, dashboard_port=port, webhook_listen="127.0.0.1")
    application = build_application(settings, request=FakeRequest(fake), db=committed_city, clock=clock)
    server = await serve_dashboard(application, settings)
    assert server is not None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/app/signin")).status_code == 200
    finally:
        server.stop()
    assert await serve_dashboard(application, make_settings(db_url, bot_token=TOKEN)) is None
    assert make_settings(db_url, dashboard_url=PUBLIC).dashboard_serve_port == 8080


class _OpensThePrintedLink(io.StringIO):
    """Console input that, at the first prompt, opens the link the banner printed (twice), then quits."""

    def __init__(self, out: io.StringIO) -> None:
        super().__init__()
        self.out = out
        self.statuses: list[int] = []
        self.ready = threading.Event()

    def readline(self, size: int | None = -1) -> str:
        (link,) = re.findall(r"http://127\.0\.0\.1:\d+/app/login\?t=\S+", self.out.getvalue())
        with httpx.Client() as browser:
            self.statuses.append(browser.get(link).status_code)
            self.statuses.append(browser.get(link.split("login")[0]).status_code)
        with httpx.Client() as another:
            self.statuses.append(another.get(link).status_code)
        return ":quit\n"


@pytest.mark.committed
async def test_console_serves_the_dashboard_and_prints_a_one_time_link(committed_db: Database, db_url: str) -> None:
    out = io.StringIO()
    stdin = _OpensThePrintedLink(out)
    settings = make_settings(db_url, dashboard_port=free_port())
    status = await asyncio.to_thread(run_console, settings, stdin=stdin, stdout=out, interactive=True)
    assert status == 0
    assert "看板（以演示管理员陈主任身份" in out.getvalue()
    # The link signs the demo admin in and shows a page; used once, it opens nothing.
    assert stdin.statuses == [200, 200, 401]


def test_dashboard_url_must_be_http_and_may_name_app() -> None:
    with pytest.raises(SettingsError, match="DASHBOARD_URL"):
        load_settings(_env_file=None, dashboard_url="ftp://bot.example.org")
    assert load_settings(_env_file=None, dashboard_url="https://bot.example.org/app/").dashboard_url == "https://bot.example.org"
    assert load_settings(_env_file=None, dashboard_url="").dashboard_url is None
    assert load_settings(_env_file=None).dashboard_serve_port is None
    with pytest.raises(SettingsError, match="DASHBOARD_AUTH_MAX_AGE"):
        load_settings(_env_file=None, dashboard_auth_max_age=0)
