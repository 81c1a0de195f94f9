"""Webhook mode: our own small web server in front of the application.

PTB's ``run_webhook`` answers Telegram 200 *before* the update is processed,
so an update whose processing fails is lost. We serve the webhook ourselves
(tornado, which PTB's ``webhooks`` extra already installs) and process each
update before answering:

* wrong or missing ``X-Telegram-Bot-Api-Secret-Token`` → 403, checked before
  the body is read;
* a body over 1 MiB (declared, or counted while streaming) → 413, unread;
* a body that is not a JSON object of an update (``null``, ``[]``, ``42``,
  invalid or too deeply nested JSON, an id beyond 64 bits) → 400 and one
  WARNING line, no traceback;
* processing failed because the database was unreachable, no pool connection
  came within ``DATABASE_POOL_TIMEOUT``, or the user's lock not within
  ``USER_LOCK_TIMEOUT`` → 503, so Telegram delivers the update again later
  (nothing was committed, so a redelivery is safe);
* any other failure (a bug, a Telegram error while replying) → 200: the user
  was told, and redelivering would replay an answer the draft already moved past
  or loop on a poison update forever;
* ``/app/...``: the office dashboard when ``DASHBOARD_URL`` is set (``bot.dashboard.server``);
* ``GET /healthz`` checks the database: 200 ``{"ok": true}`` when it answers,
  503 ``{"ok": false}`` otherwise; no response carries a ``Server`` banner.

Updates of one user are processed one at a time, even across processes
(``bot.runtime.userlock``), so a principal's draft never sees two answers at once.

The server never registers the webhook: ``schoolbot webhook set`` does that
once per deploy; at start an instance only checks it (``check_webhook``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
from typing import Any
from urllib.parse import urlsplit

import tornado.httpserver
import tornado.web
from sqlalchemy import text
from telegram import Update
from telegram.error import TelegramError

from bot.dashboard.server import Dashboard, app_settings, dashboard_routes
from bot.services import Services
from bot.runtime.observability import InstrumentedApplication
from bot.runtime.userlock import LockUnavailable, UserLocks
from storage.db import database_unavailable

log = logging.getLogger(__name__)
access_log = logging.getLogger("schoolbot.webhook.access")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# The updates the bot asks for, polling (``run``) and as a webhook (``schoolbot webhook set``).
ALLOWED_UPDATES = Update.ALL_TYPES
# Telegram's updates are a few KiB; anything past this is refused (413) unread.
MAX_BODY = 1 << 20
# The connection-level ceiling tornado enforces itself (a lone chunk announcing more).
CONNECTION_MAX_BODY = 4 * MAX_BODY


class BadUpdate(ValueError):
    """A webhook body that is not a Telegram update; the message says why, in one line."""


def _int64(literal: str) -> int:
    # Every id Telegram sends fits a signed 64-bit integer (the database's BIGINT);
    # anything larger is not from Telegram and would only fail deeper down.
    value = int(literal)
    if not -(2**63) <= value < 2**63:
        raise BadUpdate(f"integer {literal[:24]}{'...' if len(literal) > 24 else ''} out of range")
    return value


def _no_constant(name: str) -> Any:
    raise BadUpdate(f"{name} is not JSON")


def parse_update(body: bytes, bot: Any) -> Update:
    """Decode a webhook body into an Update, or raise ``BadUpdate``.

    Refused: invalid JSON, anything but a JSON object (``null``, ``[]``, ``42``,
    a string), nesting too deep for the decoder, integers outside 64 bits, and
    objects that are not updates.
    """
    try:
        payload = json.loads(body, parse_int=_int64, parse_constant=_no_constant)
    except BadUpdate:
        raise
    except RecursionError:
        raise BadUpdate("nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError among them
        raise BadUpdate(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(payload, dict):
        raise BadUpdate(f"a JSON {type(payload).__name__}, not an object")
    if not isinstance(payload.get("update_id"), int):
        raise BadUpdate("no update_id")
    try:
        return Update.de_json(payload, bot)
    except RecursionError:
        raise BadUpdate("nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - whatever PTB trips on, the body is not an update
        raise BadUpdate(f"not an update ({type(exc).__name__})") from None


class _Handler(tornado.web.RequestHandler):
    """No ``Server`` banner, and errors as a short JSON body (never tornado's HTML page)."""

    def set_default_headers(self) -> None:
        self.clear_header("Server")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish({"ok": False, "description": self._reason.lower()})

    def refuse(self, status: int, description: str) -> None:
        self.set_status(status)
        self.finish({"ok": False, "description": description})


class NotFoundHandler(_Handler):
    """Any other path: 404, with no hint of what is served here."""

    def prepare(self) -> None:
        self.refuse(404, "not found")


@tornado.web.stream_request_body
class UpdateHandler(_Handler):
    """POST /<path>: one update from Telegram.

    The body is streamed: the secret header and the declared length are
    checked before a byte of it is read, and reading stops past ``MAX_BODY``
    (a refused request's connection is closed rather than drained).
    """

    def initialize(self, bot_app: InstrumentedApplication, secret: str | None, locks: UserLocks) -> None:
        self.bot_app = bot_app
        self.secret = secret
        self.locks = locks
        self.chunks: list[bytes] = []
        self.received = 0

    def prepare(self) -> None:
        if self.secret is not None:
            given = self.request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), self.secret.encode()):
                log.warning("webhook: refused a request without the right secret header from %s", self.request.remote_ip)
                self.refuse(403, "forbidden")
                return
        declared = self.request.headers.get("Content-Length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            log.warning("webhook: refused a body of %s bytes (limit %s)", declared[:20], MAX_BODY)
            self.refuse(413, "request entity too large")
            return
        # A chunked body declares no length: data_received counts. The server's own limit
        # (CONNECTION_MAX_BODY, above ours) stops a single chunk announcing itself as huge.

    def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return
        self.received += len(chunk)
        if self.received > MAX_BODY:
            self.chunks.clear()
            log.warning("webhook: refused a chunked body past %s bytes", MAX_BODY)
            self.refuse(413, "request entity too large")
            return
        self.chunks.append(chunk)

    async def post(self) -> None:
        if self._finished:
            return
        try:
            update = parse_update(b"".join(self.chunks), self.bot_app.bot)
        except BadUpdate as exc:
            log.warning("webhook: refused a body that is not an update: %s", exc)
            self.refuse(400, "not an update")
            return
        finally:
            self.chunks.clear()
        user = update.effective_user
        try:
            async with self.locks.hold(user.id if user else None):
                entry = await self.bot_app.process_update_reporting(update)
        except LockUnavailable as exc:
            log.warning("update %s waited too long for its user's lock (%s); asking Telegram to redeliver", update.update_id, exc)
            self.refuse(503, "temporary failure, retry")
            return
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            log.warning(
                "update %s: the lock's database failed (%s); asking Telegram to redeliver", update.update_id, type(exc).__name__
            )
            self.refuse(503, "temporary failure, retry")
            return
        if entry.failed and database_unavailable(entry.error):
            log.warning(
                "update %s failed on the database (%s); asking Telegram to redeliver",
                update.update_id,
                type(entry.error).__name__,
            )
            self.refuse(503, "temporary failure, retry")
            return
        self.finish({"ok": True})


class HealthHandler(_Handler):
    """GET /healthz: is the database reachable? ``{"ok": true}`` or ``{"ok": false}``, nothing more."""

    def initialize(self, services: Services) -> None:
        self.services = services

    async def get(self) -> None:
        try:
            async with self.services.db.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=5)
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            log.warning("healthz: database unreachable (%s)", type(exc).__name__)
            self.set_status(503)
            self.finish({"ok": False})
            return
        self.finish({"ok": True})


def _access_log(handler: tornado.web.RequestHandler) -> None:
    # Tornado's access log would add a second line (WARNING for every 4xx) to ours.
    access_log.debug(
        "%s %s %s %.1fms",
        handler.get_status(),
        handler.request.method,
        handler.request.path,
        1000 * handler.request.request_time(),
    )


def webhook_path(webhook_url: str) -> str:
    """The path Telegram posts to, taken from WEBHOOK_URL (``/telegram`` when it has none)."""
    path = urlsplit(webhook_url).path.rstrip("/")
    return path or "/telegram"


def make_web_app(application: InstrumentedApplication, services: Services, locks: UserLocks) -> tornado.web.Application:
    settings = services.settings
    assert settings.webhook_url is not None
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    routes: list[Any] = [
        (webhook_path(settings.webhook_url), UpdateHandler, {"bot_app": application, "secret": secret, "locks": locks}),
        ("/healthz", HealthHandler, {"services": services}),
    ]
    extra: dict[str, Any] = {}
    if settings.dashboard_url and settings.token:
        # The office dashboard shares this port under /app/ (bot.dashboard.server).
        dashboard = Dashboard(services, settings.token)
        routes += dashboard_routes(dashboard)
        extra["cookie_secret"] = app_settings(dashboard)["cookie_secret"]
    return tornado.web.Application(routes, default_handler_class=NotFoundHandler, log_function=_access_log, **extra)


async def check_webhook(bot: Any, webhook_url: str) -> bool:
    """At start: does Telegram post to ``webhook_url``? One ``getWebhookInfo``; a WARNING if not.

    The instance never calls ``setWebhook`` itself, not even behind a setting:
    the webhook is one per token, so N instances starting together would each
    set it (Telegram answers 429 past the first few), and an instance left on an
    old ``WEBHOOK_URL`` would point Telegram back at it whenever it restarted.
    ``schoolbot webhook set`` does it once per deploy. A failed check is only
    logged: the instance serves whatever Telegram does post to it.
    """
    try:
        info = await bot.get_webhook_info()
    except TelegramError as exc:
        log.warning("webhook mode: could not ask Telegram where it posts updates (%s: %s)", type(exc).__name__, exc)
        return False
    if info.url == webhook_url:
        return True
    log.warning(
        "webhook mode: Telegram posts updates to %s, not to WEBHOOK_URL %s; run `schoolbot webhook set` once "
        "(instances never set it themselves)",
        repr(info.url) if info.url else "nowhere (no webhook set)",
        webhook_url,
    )
    return False


async def serve_webhook(application: Any, *, stop: asyncio.Event | None = None) -> None:
    """Run the bot in webhook mode until SIGTERM/SIGINT (or ``stop`` is set)."""
    services: Services = application.bot_data.services
    settings = services.settings
    assert settings.webhook_url is not None
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    await application.start()
    locks = UserLocks(settings.database_url, max_parallel=settings.user_lock_pool, timeout=settings.user_lock_timeout)
    server = tornado.httpserver.HTTPServer(
        make_web_app(application, services, locks), xheaders=True, max_body_size=CONNECTION_MAX_BODY
    )
    server.listen(settings.webhook_port, address=settings.webhook_listen)
    try:
        await check_webhook(application.bot, settings.webhook_url)
        log.info("webhook mode: listening on %s:%s", settings.webhook_listen, settings.webhook_port)
        await stop.wait()
    finally:
        server.stop()
        await locks.dispose()
        await application.stop()
        if application.post_stop:
            await application.post_stop(application)
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)
