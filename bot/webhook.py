"""Webhook mode: our own small web server in front of the application.

PTB's ``run_webhook`` answers Telegram 200 *before* the update is processed,
so an update whose processing fails is lost. We serve the webhook ourselves
(tornado, which PTB's ``webhooks`` extra already installs) and process each
update before answering:

* wrong or missing ``X-Telegram-Bot-Api-Secret-Token`` → 403, nothing processed;
* processing failed because the database was unreachable → 503, so Telegram
  delivers the update again later (nothing was committed, so a redelivery is
  safe);
* any other failure (a bug, a Telegram error while replying) → 200: the user
  was told, and redelivering would replay an answer the draft already moved past
  or loop on a poison update forever;
* ``GET /healthz`` checks the database: 200 when it answers, 503 otherwise.

Updates of one user are processed one at a time, even across processes
(``bot.userlock``), so a principal's draft never sees two answers at once.
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
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from telegram import Update

from bot.context import Services
from bot.observability import InstrumentedApplication
from bot.userlock import UserLocks

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def is_transient(error: BaseException | None) -> bool:
    """Whether a failed update should be redelivered: the database was unreachable."""
    while error is not None:
        if isinstance(error, (OperationalError, InterfaceError, PoolTimeout, OSError)):
            return True
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        error = error.__cause__ or error.__context__
    return False


class UpdateHandler(tornado.web.RequestHandler):
    """POST /<path>: one update from Telegram."""

    def initialize(self, bot_app: InstrumentedApplication, secret: str | None, locks: UserLocks) -> None:
        self.bot_app = bot_app
        self.secret = secret
        self.locks = locks

    async def post(self) -> None:
        if self.secret is not None:
            given = self.request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), self.secret.encode()):
                self.set_status(403)
                self.finish({"ok": False, "description": "forbidden"})
                return
        try:
            payload = json.loads(self.request.body)
            update = Update.de_json(payload, self.bot_app.bot)
        except (ValueError, TypeError, KeyError):
            self.set_status(400)
            self.finish({"ok": False, "description": "not an update"})
            return
        user = update.effective_user
        async with self.locks.hold(user.id if user else None):
            entry = await self.bot_app.process_update_reporting(update)
        if entry.failed and is_transient(entry.error):
            log.warning("update %s failed on the database; asking Telegram to redeliver", update.update_id)
            self.set_status(503)
            self.finish({"ok": False, "description": "temporary failure, retry"})
            return
        self.finish({"ok": True})


class HealthHandler(tornado.web.RequestHandler):
    """GET /healthz: is the database reachable?"""

    def initialize(self, services: Services) -> None:
        self.services = services

    async def get(self) -> None:
        try:
            async with self.services.db.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=5)
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            self.set_status(503)
            self.finish({"ok": False, "database": type(exc).__name__})
            return
        self.finish({"ok": True, "database": self.services.db.dialect})


def webhook_path(webhook_url: str) -> str:
    """The path Telegram posts to, taken from WEBHOOK_URL (``/telegram`` when it has none)."""
    path = urlsplit(webhook_url).path.rstrip("/")
    return path or "/telegram"


def make_web_app(application: InstrumentedApplication, services: Services, locks: UserLocks) -> tornado.web.Application:
    settings = services.settings
    assert settings.webhook_url is not None
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return tornado.web.Application(
        [
            (webhook_path(settings.webhook_url), UpdateHandler, {"bot_app": application, "secret": secret, "locks": locks}),
            ("/healthz", HealthHandler, {"services": services}),
        ]
    )


async def serve_webhook(application: Any, *, register: bool = True, stop: asyncio.Event | None = None) -> None:
    """Run the bot in webhook mode until SIGTERM/SIGINT (or ``stop`` is set)."""
    services: Services = application.bot_data["services"]
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
    locks = UserLocks(settings.database_url)
    server = tornado.httpserver.HTTPServer(make_web_app(application, services, locks), xheaders=True)
    server.listen(settings.webhook_port, address=settings.webhook_listen)
    try:
        if register:
            await application.bot.set_webhook(
                url=settings.webhook_url,
                secret_token=settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
                allowed_updates=Update.ALL_TYPES,
            )
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
