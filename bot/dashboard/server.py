"""The dashboard's web server: routes under ``/app/``, authentication, headers, a bound on work.

Why tornado: the webhook server (``bot.runtime.webhook``) already is tornado, installed by
PTB's ``webhooks`` extra, so in webhook mode ``/app/`` shares its port and its event loop
with no second web stack; in polling mode and in the console the same routes run on a
server of their own (``start_dashboard``). Pages are server-rendered HTML
(``bot.dashboard.pages``, Jinja2); this module never looks at what a page shows.

Routes (GET only, except the one login POST; any other method is 405):

- ``GET /app/<path>``: a page for the viewer of the session cookie (``pages.serve``);
  no cookie: 303 to ``/app/signin``, the small login page, whose script posts the Mini App's
  ``initData`` (from the URL fragment Telegram opens it with) to ``/app/auth`` and reloads;
  a cookie refused (forged, another bot's, expired): 401 with that login page.
- ``POST /app/auth``: ``init_data=<initData>``: 401 tampered/unsigned/stale/foreign,
  403 principal or unknown, else 200 and the session cookie.
- ``GET /app/login?t=<token>``: the one-time desk link (``bot.dashboard.links``): sets the
  cookie and forwards to ``/app/`` (a page that refreshes, not a 302: a SameSite=Strict
  cookie set on a redirect that began on another site, such as Telegram Web, is not sent
  on the redirected request).
- ``GET /app/static/<file>``: CSS and the shipped chart library, no login, cached privately.

A page whose database is unreachable (down, the pool exhausted) is 503 with ``Retry-After``,
as when the bound is full; any other failure is a 500 without details.
Every other response is ``Cache-Control: no-store``; all carry a CSP without external
sources, ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer`` (the
login URL holds a token), and may be framed only by Telegram's web clients.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import tornado.httpserver
import tornado.netutil
import tornado.routing
import tornado.web

from bot.core.i18n import t
from bot.dashboard.auth import (
    COOKIE_NAME,
    SESSION_HOURS,
    Forbidden,
    Unauthorized,
    cookie_secret,
    read_session,
    session_value,
    validate_init_data,
    viewer_for,
)
from bot.dashboard.links import redeem_link
from bot.dashboard.pages import serve
from bot.dashboard.viewer import BadRequest, NotFound, Page, Query, Viewer
from bot.services import Services
from storage.db import database_unavailable

log = logging.getLogger(__name__)
access_log = logging.getLogger("schoolbot.dashboard.access")

PageFunction = Callable[[str, Query, Viewer, Services, datetime], Awaitable[Page]]

STATIC_DIR = Path(__file__).with_name("static")
# Telegram's web clients frame the Mini App; nobody else may.
TELEGRAM_FRAMERS = "https://web.telegram.org https://webk.telegram.org https://webz.telegram.org"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    f"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self' {TELEGRAM_FRAMERS}"
)
# Static files do not change within a release; private: no shared cache keeps them.
STATIC_CACHE = "private, max-age=2592000"
# initData is a few hundred bytes: a login body past this is refused unread (413).
MAX_AUTH_BODY = 8192
# Where the sign-in page may send the browser on: a page path of ours, nothing else.
SAFE_NEXT = re.compile(r"(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*)?")
# Polling mode's own server: no dashboard request carries a body worth more.
MAX_BODY = 64 * 1024


def safe_next(wanted: str) -> str:
    """Where signing in goes on to: only a page of ours (no scheme, host or climbing out of /app/)."""
    return "/app/" + (wanted if SAFE_NEXT.fullmatch(wanted) else "")


class Busy(Exception):
    """More requests wait than ``Bound`` allows, or one waited too long: answered 503 with Retry-After."""


class Bound:
    """At most ``parallel`` requests at work (each holds a database connection), at most ``waiting`` queued.

    Past that a request is answered 503 at once instead of queueing without end: 1,000 page
    requests at once then cost a few hundred small coroutines, not 1,000 database sessions.
    """

    RETRY_AFTER = 2

    def __init__(self, parallel: int, waiting: int, wait_seconds: float) -> None:
        self._slots = asyncio.Semaphore(parallel)
        self.waiting_limit = waiting
        self.wait_seconds = wait_seconds
        self.waiting = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self.waiting >= self.waiting_limit:
            raise Busy("queue full")
        self.waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self.wait_seconds)
        except TimeoutError:
            raise Busy("waited too long") from None
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._slots.release()


class Dashboard:
    """What every dashboard handler shares: the services, the pages, the token's keys, the bound."""

    def __init__(self, services: Services, bot_token: str, pages: PageFunction | None = None, bound: Bound | None = None) -> None:
        self.services = services
        self.bot_token = bot_token
        self.pages = pages or serve
        settings = services.settings
        self.bound = bound or Bound(parallel=settings.database_pool_size, waiting=200, wait_seconds=10.0)
        self.secure = bool(settings.dashboard_url and settings.dashboard_url.startswith("https://"))

    def now(self) -> datetime:
        return self.services.clock.now()

    def hosts(self, requested: str) -> set[str]:
        """Where our own pages come from: the host asked for, and DASHBOARD_URL's (a proxy may rewrite Host)."""
        public = self.services.settings.dashboard_url
        return {requested, urlsplit(public).netloc} if public else {requested}


class _Base(tornado.web.RequestHandler):
    """Headers on every answer; errors as a short page in the viewer's language, never tornado's."""

    SUPPORTED_METHODS = ("GET",)

    def initialize(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        self.lang = "zh"
        # A session cookie came and was refused (forged, another bot's, past its 8 hours).
        self.refused_cookie = False

    def set_default_headers(self) -> None:
        self.clear_header("Server")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        _, error, _ = kwargs.get("exc_info") or (None, None, None)
        if status_code == 500 and database_unavailable(error):
            # The database is down or its pool exhausted: try again shortly, not "a bug".
            self.answer(503, t(self.lang, "dashaccess.unavailable"))
            return
        self.answer(status_code, t(self.lang, "dashaccess.error", status=status_code))

    def _request_summary(self) -> str:
        # The path only: a login URL's query is its token.
        return f"{self.request.method} {self.request.path} ({self.request.remote_ip})"

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        # Tornado's own line would add the whole request, its Cookie header (the session) included.
        if isinstance(value, tornado.web.HTTPError):
            return
        if database_unavailable(value):
            log.warning("Database unavailable: %s answered 503 (%s: %s)", self._request_summary(), typ.__name__, value)
            return
        log.error("Uncaught exception %s", self._request_summary(), exc_info=(typ, value, tb))

    def answer(self, status: int, text: str, *, login: str | None = None, refresh: str | None = None, back: bool = False) -> None:
        """A short HTML page: a line of text (with the login script going on to ``login``, or a refresh;
        ``back``: a signed-in viewer's way back to the grid, for a bad link they followed or typed)."""
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        if status == 503:
            self.set_header("Retry-After", str(Bound.RETRY_AFTER))
        # No favicon request (it would be a 404 in the console).
        head = '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        head += '<link rel="stylesheet" href="/app/static/style.css">'
        if refresh is not None:
            head += f'<meta http-equiv="refresh" content="0;url={escape(refresh)}">'
        if login is not None:
            head += '<script src="/app/static/telegram-login.js" defer></script>'
        after = f' data-next="{escape(login)}"' if login is not None else ""
        body = f'<p id="message"{after}>{escape(text)}</p>'
        if refresh is not None:
            body += f'<p><a href="{escape(refresh)}">{escape(t(self.lang, "dashaccess.go_on"))}</a></p>'
        if back:
            body += f'<p><a id="back" href="/app/grid">{escape(t(self.lang, "dashaccess.back"))}</a></p>'
        self.finish(
            f'<!doctype html><html lang="{self.lang}"><head><meta charset="utf-8">{head}</head>'
            f"<body><main>{body}</main></body></html>"
        )

    def set_session(self, telegram_id: int) -> None:
        self.set_signed_cookie(
            COOKIE_NAME,
            session_value(telegram_id, self.dashboard.now()),
            expires_days=None,
            max_age=SESSION_HOURS * 3600,
            path="/app/",
            httponly=True,
            samesite="Strict",
            secure=self.dashboard.secure or self.request.protocol == "https",
        )

    async def viewer(self) -> Viewer | None:
        """The viewer of a valid session cookie, or None (a 401 page is the answer); Forbidden for non-staff."""
        # tornado checks the signature (and drops cookies older than a day); read_session the 8 hours.
        value = self.get_signed_cookie(COOKIE_NAME, max_age_days=1)
        telegram_id = read_session(value, self.dashboard.now())
        if telegram_id is None:
            if self.get_cookie(COOKIE_NAME) is not None:
                log.info("dashboard: refused a session cookie that is forged or expired")
                self.clear_cookie(COOKIE_NAME, path="/app/")
                self.refused_cookie = True
            return None
        return await viewer_for(self.dashboard.services, telegram_id)


class PageHandler(_Base):
    """GET /app/<path>: the page for the signed-in viewer, 401 (login page) without a session."""

    async def get(self, path: str) -> None:
        try:
            async with self.dashboard.bound.slot():
                await self._page(path)
        except Busy as exc:
            log.warning("dashboard: answered 503 (%s)", exc)
            self.answer(503, t(self.lang, "dashaccess.busy"))

    async def _page(self, path: str) -> None:
        try:
            viewer = await self.viewer()
        except Forbidden:
            self.answer(403, t(self.lang, "dashaccess.forbidden"))
            return
        if viewer is None and self.refused_cookie:
            # 401 with the sign-in page itself: inside Telegram its script signs in again from the fragment.
            self.answer(401, t(self.lang, "dashaccess.sign_in"), login=safe_next(path))
            return
        if viewer is None:
            # To the sign-in page; the browser keeps the fragment (Telegram's #tgWebAppData) across a redirect.
            self.redirect("/app/signin?" + urlencode({"next": path}), status=303)
            return
        self.lang = viewer.lang
        query = {key: [v.decode("utf-8", "replace") for v in values] for key, values in self.request.query_arguments.items()}
        services = self.dashboard.services
        try:
            page = await self.dashboard.pages(path, query, viewer, services, self.dashboard.now())
        except NotFound:
            self.answer(404, t(self.lang, "dashaccess.not_found"), back=True)
            return
        except BadRequest as exc:
            self.answer(400, exc.message, back=True)
            return
        self.send_page(page)

    def send_page(self, page: Page) -> None:
        for name, value in page.headers.items():
            self.set_header(name, value)
        # Whatever a page says, data never sits in a cache and the security headers stay.
        self.set_default_headers()
        self.set_status(page.status)
        self.set_header("Content-Type", page.content_type)
        if page.filename is not None:
            self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(page.filename)}")
        self.finish(page.body)


class SignInHandler(_Base):
    """GET /app/signin?next=<path>: the login page (its script signs a Mini App in; a desk browser is told how)."""

    def get(self) -> None:
        self.answer(200, t(self.lang, "dashaccess.sign_in"), login=safe_next(self.get_query_argument("next", "")))


class AuthHandler(_Base):
    """POST /app/auth: the Mini App's initData in, the session cookie out (or 401 / 403)."""

    SUPPORTED_METHODS = ("POST",)

    async def post(self) -> None:
        origin = self.request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc not in self.dashboard.hosts(self.request.host):
            # Only our own page posts here: a form on another site gets nothing, not even a login.
            self.answer(403, t(self.lang, "dashaccess.forbidden"))
            return
        if len(self.request.body) > MAX_AUTH_BODY:
            self.answer(413, t(self.lang, "dashaccess.error", status=413))
            return
        init_data = self.get_body_argument("init_data", "")
        dashboard = self.dashboard
        max_age = timedelta(seconds=dashboard.services.settings.dashboard_auth_max_age)
        try:
            user = validate_init_data(init_data, dashboard.bot_token, now=dashboard.now(), max_age=max_age)
        except Unauthorized as exc:
            log.info("dashboard: refused initData (%s)", exc)
            self.answer(401, t(self.lang, "dashaccess.bad_init_data"))
            return
        self.lang = user.language
        try:
            async with dashboard.bound.slot():
                viewer = await viewer_for(dashboard.services, user.id, name=user.name, language=user.language)
        except Forbidden:
            self.answer(403, t(self.lang, "dashaccess.forbidden"))
            return
        except Busy:
            self.answer(503, t(self.lang, "dashaccess.busy"))
            return
        self.lang = viewer.lang
        self.set_session(viewer.telegram_id)
        self.answer(200, t(self.lang, "dashaccess.signed_in"))


class LoginHandler(_Base):
    """GET /app/login?t=<token>: a one-time desk link; sets the session cookie, then on to /app/."""

    async def get(self) -> None:
        dashboard = self.dashboard
        token = self.get_query_argument("t", "")
        try:
            async with dashboard.bound.slot():
                telegram_id = await redeem_link(dashboard.services, token, dashboard.now())
                viewer = await viewer_for(dashboard.services, telegram_id) if telegram_id is not None else None
        except Forbidden:
            self.answer(403, t(self.lang, "dashaccess.forbidden"))
            return
        except Busy:
            self.answer(503, t(self.lang, "dashaccess.busy"))
            return
        if viewer is None:
            log.info("dashboard: refused a desk link that is unknown, used or expired")
            self.answer(401, t(self.lang, "dashaccess.link_used"))
            return
        self.lang = viewer.lang
        self.set_session(viewer.telegram_id)
        self.answer(200, t(self.lang, "dashaccess.signed_in"), refresh="/app/")


class StaticHandler(tornado.web.StaticFileHandler):
    """GET /app/static/<file>: shipped CSS and scripts; no login (they hold no data), a private long cache."""

    SUPPORTED_METHODS = ("GET",)

    def set_default_headers(self) -> None:
        self.clear_header("Server")
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", STATIC_CACHE)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish(f"{status_code}")


class _NoIcon(_Base):
    """GET /favicon.ico: nothing (204), so a desk browser's automatic request is no 404 in its console."""

    def get(self) -> None:
        self.set_header("Cache-Control", STATIC_CACHE)
        self.set_status(204)
        self.finish()


class _ToApp(_Base):
    """GET /app: on to /app/ (cookies are scoped to /app/)."""

    def get(self) -> None:
        self.redirect("/app/")


def dashboard_routes(dashboard: Dashboard) -> list[tornado.routing.Rule]:
    """The dashboard's routes, to mount on any tornado application (the webhook server's too)."""
    shared = {"dashboard": dashboard}
    return [
        tornado.web.url("/favicon.ico", _NoIcon, shared),
        tornado.web.url("/app", _ToApp, shared),
        tornado.web.url("/app/static/(.+)", StaticHandler, {"path": str(STATIC_DIR)}),
        tornado.web.url("/app/signin", SignInHandler, shared),
        tornado.web.url("/app/auth", AuthHandler, shared),
        tornado.web.url("/app/login", LoginHandler, shared),
        tornado.web.url("/app/(.*)", PageHandler, shared),
    ]


def app_settings(dashboard: Dashboard) -> dict[str, Any]:
    """Tornado application settings the dashboard needs: the cookie key (never logged), no access-log noise."""
    return {"cookie_secret": cookie_secret(dashboard.bot_token), "log_function": _access_log}


def _access_log(handler: tornado.web.RequestHandler) -> None:
    # The path only: a login URL's query is its token.
    access_log.debug(
        "%s %s %s %.1fms",
        handler.get_status(),
        handler.request.method,
        handler.request.path,
        1000 * handler.request.request_time(),
    )


def make_dashboard_app(dashboard: Dashboard) -> tornado.web.Application:
    """A tornado application serving only the dashboard (polling mode, the console, tests)."""
    return tornado.web.Application(dashboard_routes(dashboard), **app_settings(dashboard))


def start_dashboard(dashboard: Dashboard, port: int, address: str) -> tuple[tornado.httpserver.HTTPServer, int]:
    """Listen on ``address:port`` (0: any free port) on the running loop; the server and its port."""
    sockets = tornado.netutil.bind_sockets(port, address=address)
    server = tornado.httpserver.HTTPServer(make_dashboard_app(dashboard), xheaders=True, max_body_size=MAX_BODY)
    server.add_sockets(sockets)
    return server, int(sockets[0].getsockname()[1])


__all__ = [
    "Bound",
    "Busy",
    "Dashboard",
    "PageFunction",
    "app_settings",
    "dashboard_routes",
    "make_dashboard_app",
    "start_dashboard",
]
