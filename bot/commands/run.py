"""``schoolbot run``: migrate the database, then run the bot.

With ``BOT_TOKEN`` the bot long-polls ``TELEGRAM_API_URL``, or serves a
webhook when ``WEBHOOK_URL`` is set (``bot.runtime.webhook``; the webhook itself is
registered once per deploy by ``schoolbot webhook set``, never by ``run``:
with several instances each start would call ``setWebhook`` and draw 429s);
polling, it serves the office dashboard on ``DASHBOARD_PORT`` (``bot.dashboard``);
without a token it says so and starts the offline console on the demo data,
as the demo principal, instead of failing. That console runs on the demo's own
database (``bot.offline.demodb``), never on ``DATABASE_URL``, which is not even
migrated then; ``--database URL`` names another (for the bot too, with a token).
That notice and the console speak Chinese unless ``--lang en`` is given.

The token is part of every Bot API URL: ``bot.cli`` installs
``bot.runtime.observability.SecretRedactor`` before any command runs, so every log
record (and traceback) shows ``bot<redacted>`` instead.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys

import tornado.httpserver
from telegram.error import InvalidToken, NetworkError

from bot.app import App, build_application, services_of, stop_services
from bot.dashboard.server import Dashboard, start_dashboard
from bot.commands.migrate import migrate
from bot.offline.console import quiet_logging, run_console
from bot.offline.demodb import settings_for_demo, settings_on
from bot.core.i18n import LANGUAGES, t
from bot.settings import Settings
from bot.runtime.webhook import ALLOWED_UPDATES, serve_webhook

log = logging.getLogger(__name__)

# Back-off while the Bot API cannot be reached at start-up (a container often starts before its network).
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "run",
        help="run the bot (long polling with BOT_TOKEN; the offline console demo without)",
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        help="database URL (default: DATABASE_URL; without BOT_TOKEN: the demo's own database)",
    )
    parser.add_argument(
        "--lang", choices=LANGUAGES, default="zh", help="without BOT_TOKEN: language of the notice and the console (default zh)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.token is None:
        print(t(args.lang, "run.no_token"), flush=True)
        demo = settings_for_demo(settings, args.database, args.lang)
        if demo is None:
            return 2
        quiet_logging(demo)
        return run_console(demo, who="principal", lang=args.lang)
    if args.database:
        chosen = settings_on(args.database)
        if chosen is None:
            return 2
        settings = chosen
    revision = asyncio.run(migrate(settings))
    log.info("database at revision %s", revision)
    return serve(settings)


def serve(settings: Settings) -> int:
    """Run the bot against Telegram until stopped; the choice of transport is made here."""
    assert settings.token is not None
    # What start-up built (modules, the catalogue, SQLAlchemy's and PTB's tables) lives as long
    # as the process: moved out of the collector's sight, a full collection scans only what
    # updates make, so it pauses the loop for less (a pause between a send token's grant and
    # the request delays that send, README "Deadline-day burst").
    gc.freeze()
    if settings.webhook_url:
        return serve_webhook_mode(settings)
    return serve_polling(settings)


def serve_webhook_mode(settings: Settings) -> int:
    """Webhook: wait until the Bot API answers, check the webhook (``schoolbot webhook set`` sets it), serve until SIGTERM."""
    application = build_application(settings)

    async def main() -> int:
        if not await wait_for_api(application, settings.telegram_api_url):
            await stop_services(application)
            return 2
        await serve_webhook(application)
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130


def serve_polling(settings: Settings) -> int:
    """Long polling: wait until the Bot API answers, then hand over to PTB's ``run_polling``."""
    application = build_application(settings)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        ready = loop.run_until_complete(wait_for_api(application, settings.telegram_api_url))
    except KeyboardInterrupt:
        ready = None
    if not ready:
        loop.run_until_complete(stop_services(application))
        loop.close()
        return 130 if ready is None else 2
    log.info(t("en", "run.polling", api=settings.telegram_api_url))
    dashboard = loop.run_until_complete(serve_dashboard(application, settings))
    try:
        # run_polling reuses this loop (asyncio.get_event_loop) and the already initialised application.
        application.run_polling(allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False, close_loop=False)
    finally:
        if dashboard is not None:
            dashboard.stop()
        loop.close()
    return 0


async def serve_dashboard(application: App, settings: Settings) -> tornado.httpserver.HTTPServer | None:
    """Polling mode: the office dashboard on ``DASHBOARD_PORT`` (WEBHOOK_LISTEN's address), if it is served."""
    port = settings.dashboard_serve_port
    if port is None or settings.token is None:
        return None
    server, bound = start_dashboard(Dashboard(services_of(application), settings.token), port, settings.webhook_listen)
    log.info(
        "dashboard: listening on %s:%s (%s/app/)", settings.webhook_listen, bound, settings.dashboard_url or "no DASHBOARD_URL"
    )
    return server


async def wait_for_api(application: App, api: str) -> bool:
    """Initialise the application (``getMe``), retrying while the network is down; False for a bad token.

    PTB's own ``bootstrap_retries`` retries silently (debug log only); an operator
    must see why the bot is not up yet.
    """
    delay = FIRST_RETRY_SECONDS
    while True:
        try:
            await application.initialize()
            return True
        except InvalidToken:
            print(t("en", "run.bad_token", api=api), file=sys.stderr, flush=True)
            return False
        except NetworkError as exc:  # TimedOut included
            log.warning(t("en", "run.unreachable", api=api, error=exc, delay=int(delay)))
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)
