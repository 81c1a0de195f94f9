"""The dashboard's server on loopback: who gets in (initData, desk links, cookies), headers, methods, bounds."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from bot.core.clock import FixedClock
from bot.dashboard.auth import COOKIE_NAME, session_value
from bot.dashboard.server import CSP, Bound
from bot.dashboard.viewer import BadRequest, NotFound, Page, Query, Viewer
from bot.services import Services
from storage.db import Database
from storage.models import Person
from tests.dashboard_live import (
    ADMIN,
    CITY_STAFF,
    DISTRICT_STAFF,
    OTHER_TOKEN,
    PRINCIPAL,
    LiveDashboard,
    add_city,
    dashboard_services,
    serving_dashboard,
    sign_init_data,
)

# The server reads and writes on connections of its own, while the test looks on.
pytestmark = pytest.mark.committed

SEEN: list[Viewer] = []


async def echo_pages(path: str, query: Query, viewer: Viewer, services: Services, now: datetime) -> Page:
    """Pages for these tests: say who asked for what; ``missing`` is 404, ``bad`` 400, ``file`` a download."""
    SEEN.append(viewer)
    if path == "missing":
        raise NotFound(path)
    if path == "bad":
        raise BadRequest("期间“2026-13”无法识别")
    if path == "file":
        return Page(
            b"PK", content_type="application/octet-stream", filename="汇总 2026.xlsx", headers={"Cache-Control": "public"}
        )
    return Page(f"<h1>{viewer.name} {path} {dict(query)} district={viewer.district_id}</h1>".encode())


@pytest.fixture
async def live(db: Database, clock: FixedClock, db_url: str) -> LiveDashboard:
    await add_city(db, clock)
    SEEN.clear()
    async with serving_dashboard(dashboard_services(db, clock, db_url), clock, pages=echo_pages) as dashboard:
        yield dashboard  # type: ignore[misc]


async def auth(live: LiveDashboard, init_data: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=live.base) as client:
        return await client.post("/app/auth", data={"init_data": init_data}, headers=headers)


@pytest.mark.parametrize(
    ("make", "status"),
    [
        pytest.param(lambda live: live.init_data(CITY_STAFF).replace("hash=", "hash=0"), 401, id="wrong hash"),
        pytest.param(lambda live: re.sub(r"&?hash=[0-9a-f]+", "", live.init_data(CITY_STAFF)), 401, id="missing hash"),
        pytest.param(
            lambda live: sign_init_data("123456:DASHBOARD-TEST", CITY_STAFF, live.clock.now() - timedelta(seconds=3601)),
            401,
            id="old auth_date",
        ),
        pytest.param(lambda live: live.init_data(CITY_STAFF, token=OTHER_TOKEN), 401, id="another bot's token"),
        pytest.param(lambda live: live.init_data(PRINCIPAL), 403, id="a principal's id"),
        pytest.param(lambda live: live.init_data(4242), 403, id="somebody not registered"),
        pytest.param(lambda live: "", 401, id="no initData"),
    ],
)
async def test_bad_init_data_is_refused_without_a_cookie(live: LiveDashboard, make: object, status: int) -> None:
    answer = await auth(live, make(live))  # type: ignore[operator]
    assert answer.status_code == status
    assert COOKIE_NAME not in answer.cookies
    assert answer.headers["Cache-Control"] == "no-store"
    assert SEEN == []


async def test_init_data_of_staff_sets_a_strict_session_cookie(live: LiveDashboard) -> None:
    answer = await auth(live, live.init_data(CITY_STAFF))
    assert answer.status_code == 200
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert all(part in cookie for part in ("HttpOnly", "SameSite=Strict", "Path=/app/", "Max-Age=28800"))
    assert "Secure" not in cookie  # plain http on loopback
    # Behind TLS (the proxy says so), the cookie is Secure.
    assert "Secure" in (await auth(live, live.init_data(CITY_STAFF), **{"X-Forwarded-Proto": "https"})).headers["Set-Cookie"]


async def test_a_page_answers_with_the_viewers_scope_and_never_into_a_cache(live: LiveDashboard) -> None:
    async with live.signed_in(CITY_STAFF) as city, live.signed_in(DISTRICT_STAFF) as district:
        page = await city.get("/app/grid?form=milk")
        assert page.status_code == 200
        assert "李老师 grid {'form': ['milk']} district=None" in page.text
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert page.headers["Content-Security-Policy"] == CSP and "Server" not in page.headers
        assert "frame-ancestors 'self' https://web.telegram.org" in CSP
        # No source outside the server but Telegram's web clients, which may frame the Mini App.
        assert re.findall(r"https?://[^ ;]+", CSP) == [
            "https://web.telegram.org",
            "https://webk.telegram.org",
            "https://webz.telegram.org",
        ]
        assert "赵老师 grid" in (await district.get("/app/grid")).text
    assert [v.district_id is None for v in SEEN] == [True, False]
    assert {v.role for v in SEEN} == {"staff"}


async def test_an_admin_sees_the_city(live: LiveDashboard) -> None:
    async with live.signed_in(ADMIN) as client:
        assert (await client.get("/app/")).status_code == 200
    assert SEEN[-1].role == "admin" and SEEN[-1].district_id is None


async def test_not_found_bad_request_and_downloads(live: LiveDashboard) -> None:
    async with live.signed_in(CITY_STAFF) as client:
        missing = await client.get("/app/missing")
        assert missing.status_code == 404 and 'href="/app/grid"' in missing.text
        bad = await client.get("/app/bad")
        assert bad.status_code == 400 and "2026-13" in bad.text and "返回完成情况" in bad.text
        download = await client.get("/app/file")
        assert download.status_code == 200 and download.content == b"PK"
        assert download.headers["Content-Disposition"] == "attachment; filename*=UTF-8''%E6%B1%87%E6%80%BB%202026.xlsx"
        # A page cannot make its data cacheable.
        assert download.headers["Cache-Control"] == "no-store"


async def test_without_a_session_a_page_sends_the_browser_to_sign_in(live: LiveDashboard) -> None:
    async with httpx.AsyncClient(base_url=live.base) as client:
        answer = await client.get("/app/school/HB001")
        assert answer.status_code == 303 and answer.headers["Location"] == "/app/signin?next=school%2FHB001"
        signin = await client.get(answer.headers["Location"])
        assert signin.status_code == 200 and 'data-next="/app/school/HB001"' in signin.text
        assert '<script src="/app/static/telegram-login.js"' in signin.text
        # Only a page of ours: never another site.
        for evil in ("//evil.example/x", "https://evil.example", "../../etc", "a/../../b"):
            assert 'data-next="/app/"' in (await client.get("/app/signin", params={"next": evil})).text
    assert SEEN == []


async def test_a_forged_cookie_opens_nothing(live: LiveDashboard) -> None:
    async with live.signed_in(CITY_STAFF) as client:
        real = client.cookies[COOKIE_NAME]
        forged = [
            _with_payload(real, f"{ADMIN}:{int(live.clock.now().timestamp())}"),
            real[:-1] + ("0" if real[-1] != "0" else "1"),
            "2|1:0|10:1764100000|16:schoolbot_session|12:OTAwOjE3NjQx|" + "0" * 64,
            session_value(ADMIN, live.clock.now()),
            "",
        ]
    for value in forged:
        async with httpx.AsyncClient(base_url=live.base, cookies={COOKIE_NAME: value}) as client:
            answer = await client.get("/app/grid")
            # Refused with the sign-in page (a Mini App signs in again from there), the cookie dropped.
            assert answer.status_code == 401, value
            assert 'data-next="/app/grid"' in answer.text and "李老师" not in answer.text
            assert f'{COOKIE_NAME}=""' in answer.headers["Set-Cookie"]
    assert SEEN == []


def _with_payload(cookie: str, payload: str) -> str:
    """Tornado's signed cookie (``2|key_version|timestamp|name|value|signature``) with another value, same signature."""
    parts = cookie.split("|")
    encoded = base64.b64encode(payload.encode()).decode()
    parts[4] = f"{len(encoded)}:{encoded}"
    return "|".join(parts)


async def test_a_cookie_signed_with_another_bots_key_opens_nothing(
    live: LiveDashboard, db: Database, clock: FixedClock, db_url: str
) -> None:
    other = dashboard_services(db, clock, db_url, bot_token=OTHER_TOKEN)
    async with serving_dashboard(other, clock, pages=echo_pages) as elsewhere:
        async with elsewhere.signed_in(CITY_STAFF) as client:
            foreign = client.cookies[COOKIE_NAME]
    async with httpx.AsyncClient(base_url=live.base, cookies={COOKIE_NAME: foreign}) as client:
        assert (await client.get("/app/grid")).status_code == 401


async def test_a_session_ends_after_eight_hours(live: LiveDashboard, clock: FixedClock) -> None:
    async with live.signed_in(CITY_STAFF) as client:
        clock.set(clock.now() + timedelta(hours=7, minutes=59))
        assert (await client.get("/app/")).status_code == 200
        clock.set(clock.now() + timedelta(minutes=2))
        assert (await client.get("/app/")).status_code == 401


async def test_a_member_deactivated_or_made_principal_is_refused_at_once(live: LiveDashboard, db: Database) -> None:
    async with live.signed_in(CITY_STAFF) as city, live.signed_in(DISTRICT_STAFF) as district:
        async with db.session() as session:
            await session.execute(update(Person).where(Person.telegram_id == CITY_STAFF).values(active=False))
        assert (await city.get("/app/")).status_code == 403
        async with db.session() as session:
            school_id = (await session.get(Person, 3)).school_id  # type: ignore[union-attr]
            await session.execute(
                update(Person).where(Person.telegram_id == DISTRICT_STAFF).values(role="principal", school_id=school_id)
            )
        assert (await district.get("/app/")).status_code == 403


async def test_only_get_is_served(live: LiveDashboard) -> None:
    async with live.signed_in(CITY_STAFF) as client:
        for method in ("POST", "PUT", "DELETE", "PATCH", "HEAD"):
            for path in ("/app/", "/app/grid", "/app/login", "/app/signin", "/app/static/telegram-login.js"):
                assert (await client.request(method, path)).status_code == 405, (method, path)
        assert (await client.get("/app/auth")).status_code == 405
    assert SEEN == []


async def test_sign_in_posted_from_another_site_is_refused(live: LiveDashboard) -> None:
    answer = await auth(live, live.init_data(CITY_STAFF), Origin="https://evil.example")
    assert answer.status_code == 403 and COOKIE_NAME not in answer.cookies
    assert (await auth(live, live.init_data(CITY_STAFF), Origin=live.base)).status_code == 200
    # Behind a proxy that rewrites Host, the page's origin is DASHBOARD_URL's.
    proxied = {"Origin": live.base, "Host": "127.0.0.1:8443"}
    assert (await auth(live, live.init_data(CITY_STAFF), **proxied)).status_code == 200
    assert (await auth(live, live.init_data(CITY_STAFF), Origin="null")).status_code == 403


async def test_static_files_need_no_session_and_are_cached_privately(live: LiveDashboard) -> None:
    async with httpx.AsyncClient(base_url=live.base) as client:
        script = await client.get("/app/static/telegram-login.js")
        assert script.status_code == 200 and "tgWebAppData" in script.text
        assert script.headers["Cache-Control"].startswith("private, max-age=")
        assert script.headers["X-Content-Type-Options"] == "nosniff"
        for climbing in ("/app/static/../server.py", "/app/static/%2e%2e/server.py", "/app/static/..%2fserver.py"):
            answer = await client.get(climbing)
            assert answer.status_code in (303, 403, 404) and "import" not in answer.text, climbing
        assert (await client.get("/app/static/nothing.css")).status_code == 404


async def test_desk_link_works_once(live: LiveDashboard) -> None:
    link = await live.desk_link(CITY_STAFF)
    async with httpx.AsyncClient() as first:
        opened = await first.get(link)
        assert opened.status_code == 200 and 'http-equiv="refresh" content="0;url=/app/"' in opened.text
        assert "SameSite=Strict" in opened.headers["Set-Cookie"]
        assert (await first.get(f"{live.base}/app/")).status_code == 200
    async with httpx.AsyncClient() as second:
        again = await second.get(link)
        assert again.status_code == 401 and COOKIE_NAME not in again.cookies
        assert "已使用或已过期" in again.text


async def test_desk_link_expires_after_ten_minutes(live: LiveDashboard, clock: FixedClock) -> None:
    fresh, stale = await live.desk_link(CITY_STAFF), await live.desk_link(CITY_STAFF)
    clock.set(clock.now() + timedelta(minutes=9, seconds=59))
    async with httpx.AsyncClient() as client:
        assert (await client.get(fresh)).status_code == 200
        clock.set(clock.now() + timedelta(seconds=2))
        assert (await client.get(stale)).status_code == 401


async def test_desk_link_guessed_or_of_a_principal_is_refused(live: LiveDashboard) -> None:
    async with httpx.AsyncClient(base_url=live.base) as client:
        for token in ("", "x", "A" * 43, "A" * 500):
            assert (await client.get("/app/login", params={"t": token})).status_code == 401
        assert (await client.get(await live.desk_link(PRINCIPAL))).status_code == 403


async def test_a_thousand_page_requests_at_once_are_all_answered_within_a_bound(
    db: Database, clock: FixedClock, db_url: str
) -> None:
    await add_city(db, clock)
    # A small bound, so the test shows both sides of it: pages served, and 503 past it.
    bound = Bound(parallel=4, waiting=100, wait_seconds=10.0)
    async with serving_dashboard(dashboard_services(db, clock, db_url), clock, pages=echo_pages, bound=bound) as live:
        async with live.signed_in(CITY_STAFF) as signed:
            cookies = dict(signed.cookies)
        rss_before = _rss_kib()
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=live.base, cookies=cookies, limits=limits, timeout=60) as client:
            answers = await asyncio.gather(*(client.get(f"/app/grid?n={i}") for i in range(1000)))
        grown_mib = (_rss_kib() - rss_before) / 1024
    statuses = [a.status_code for a in answers]
    assert len(statuses) == 1000
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    assert statuses.count(200) >= 100
    assert all(a.headers["Retry-After"] == "2" for a in answers if a.status_code == 503)
    assert bound.waiting == 0
    # A thousand requests at once: the test's own client included, memory grows by a few MiB, not per request.
    assert grown_mib < 150, grown_mib


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1])


async def test_a_failing_page_logs_no_token_or_cookie(
    db: Database, clock: FixedClock, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(path: str, query: Query, viewer: Viewer, services: Services, now: datetime) -> Page:
        raise RuntimeError("a bug in a page")

    await add_city(db, clock)
    async with serving_dashboard(dashboard_services(db, clock, db_url), clock, pages=broken) as live:
        link = await live.desk_link(CITY_STAFF)
        async with httpx.AsyncClient() as client:
            opened = await client.get(link)
            failed = await client.get(f"{live.base}/app/grid?t=secret-looking")
    assert failed.status_code == 500 and "a bug" not in failed.text
    assert "Uncaught exception GET /app/grid" in caplog.text
    token, cookie = link.split("t=")[1], opened.cookies[COOKIE_NAME]
    assert token not in caplog.text and cookie not in caplog.text and "secret-looking" not in caplog.text
