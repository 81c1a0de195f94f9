"""The one wiring function: ``build_application`` builds the whole bot.

Every handler is registered here, in one visible place. The transport is a
seam: production talks to ``TELEGRAM_API_URL``; tests and the offline console
pass ``request=FakeRequest(...)``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, BaseRateLimiter, ContextTypes, Defaults
from telegram.request import BaseRequest

from bot.core.catalogue import Catalogue, load_catalogue
from bot.core.clock import Clock, SystemClock
from bot.context import BotContext, BotData
from bot.services import Services
from bot.delivery.limiter import SharedRateLimiter
from bot.runtime.menus import set_menu
from bot.runtime.observability import InstrumentedApplication, instrument_handlers
from bot.delivery.sender import BroadcastSender, stop_sender
from bot.settings import Settings
from handlers.broadcast import broadcast_input, build_broadcast_handlers
from handlers.broadcast_replies import build_broadcast_reply_handlers, reply_input
from handlers.dashboard import build_dashboard_handlers
from handlers.common import build_fallback_handlers, build_help_handlers, on_error
from handlers.deputy import build_deputy_handlers
from handlers.flags import build_flags_handlers
from handlers.identity import build_identity_handlers
from handlers.overdue import build_overdue_handlers
from handlers.registration import build_registration_handlers
from handlers.reporting import build_reporting_handlers, draft_input
from handlers.roster import build_roster_handlers, roster_input
from handlers.review import build_review_followups, build_review_handlers, review_input
from handlers.router import Consumer, build_input_router
from handlers.status import build_status_handlers
from handlers.summary import build_summary_handlers
from scheduler.tick import ReminderTicker, start_reminders
from storage.budget import LocalBudget, SendBudget, SharedBudget
from storage.db import Database
from storage.people import staff_members

log = logging.getLogger(__name__)

# PTB wants a token even offline; this one is never sent anywhere real.
OFFLINE_TOKEN = "0:offline"

App = Application[Any, BotContext, Any, Any, BotData, Any]


def build_application(
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    db: Database | None = None,
    clock: Clock | None = None,
    catalogue: Catalogue | None = None,
    rate_limiter: BaseRateLimiter[Any] | None = None,
) -> App:
    """Build the bot: transport, services, and every handler in its group."""
    api = settings.telegram_api_url
    builder = (
        ApplicationBuilder()
        .application_class(InstrumentedApplication)
        .token(settings.token or OFFLINE_TOKEN)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .context_types(ContextTypes(context=BotContext, bot_data=BotData))
        .defaults(Defaults(tzinfo=settings.timezone))
        # Every request passes it: the shared send budget on PostgreSQL, PTB's own limiter otherwise.
        .rate_limiter(rate_limiter or build_rate_limiter(settings, db.url if db is not None else settings.database_url, request))
        .post_init(start_services)
        # Sends in flight finish while the bot can still talk to Telegram (post_shutdown is too late).
        .post_stop(stop_sender)
        .post_shutdown(stop_services)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    application: App = builder.build()
    services = Services(
        settings=settings,
        db=db or Database(settings.database_url, **settings.database_options()),
        clock=clock or SystemClock(settings.timezone),
        catalogue=catalogue or load_catalogue(settings.catalogue_path),
    )
    data = application.bot_data
    data.services = services
    data.budget = build_send_budget(services, data, application.bot.rate_limiter)
    # Drains the broadcast outbox; started by start_services, or driven directly by tests.
    data.sender = BroadcastSender(application, lease=timedelta(seconds=settings.send_lease_seconds))
    # Sends due reminders and digests; run by the JobQueue from start_services, or ticked by tests.
    data.ticker = ReminderTicker(application)

    register_handlers(application, services.catalogue)
    instrument_handlers(application)
    return application


def register_handlers(application: App, catalogue: Catalogue) -> None:
    """Every handler in its group, in the order they are tried, and the error handler."""
    # Group -1: who is writing, once per update; stops group chats here.
    application.add_handlers(build_identity_handlers(), group=-1)

    # Group 0: one handler per update wins, so order matters: commands and buttons of
    # each feature first, then free text routed to whichever feature awaits it, then
    # the catch-all for unknown commands and stale buttons.
    # A reason a reviewer was just asked for comes first: the question is the newest one.
    consumers: list[Consumer] = [review_input]
    application.add_handlers(build_registration_handlers())
    application.add_handlers(build_deputy_handlers())
    application.add_handlers(build_broadcast_handlers())
    application.add_handlers(build_broadcast_reply_handlers())
    # First: a Telegram reply to a broadcast or to a forwarded reply is that, whatever else is pending.
    consumers.append(reply_input)
    consumers.append(broadcast_input)  # a staff member writing the notice of a broadcast draft
    application.add_handlers(build_help_handlers())
    application.add_handlers(build_reporting_handlers(catalogue))
    application.add_handlers(build_status_handlers())
    application.add_handlers(build_summary_handlers())
    application.add_handlers(build_dashboard_handlers())
    application.add_handlers(build_flags_handlers())
    application.add_handlers(build_review_handlers())
    application.add_handlers(build_overdue_handlers())
    # A principal's draft takes typed answers, and stickers/photos sent instead (re-asked).
    consumers.append(draft_input)
    application.add_handlers(build_roster_handlers())
    consumers.append(roster_input)  # an admin's roster file (others' roster files are refused)
    application.add_handlers(build_input_router(consumers))
    application.add_handlers(build_fallback_handlers())
    # Group 1, after a command ran: a reason a reviewer still owes is asked again.
    application.add_handlers(build_review_followups(), group=1)
    application.add_error_handler(on_error)


def build_rate_limiter(settings: Settings, database_url: str, request: BaseRequest | None) -> BaseRateLimiter[Any]:
    """Where every Bot API request waits: the shared send budget, or PTB's per-process limiter.

    PostgreSQL may mean several instances behind a load balancer on one bot token: every
    message then takes from one budget in the database, replies ahead of bulk sends, and a
    429 is retried until a reply gets through (``bot/delivery/limiter.py``). SQLite means one
    process, whose ``AIORateLimiter`` already is the whole budget. An injected transport (the
    in-memory fake of tests and the console) has no Telegram to share and keeps it too.
    """
    if request is None and database_url.startswith("postgresql"):
        budget = SharedBudget.connect(database_url, rate=settings.send_bulk_rate)
        return SharedRateLimiter(budget)
    # Retries RetryAfter answers instead of re-raising them (max_retries defaults to 0).
    return AIORateLimiter(max_retries=3)


def build_send_budget(services: Services, bot_data: BotData, limiter: BaseRateLimiter[Any] | None = None) -> SendBudget:
    """The bulk send budget: shared through the database on PostgreSQL, in-process on SQLite.

    SQLite means one process, whose pacer already is the whole budget; PostgreSQL
    may mean several instances behind a load balancer on one bot token, which
    must share one budget or send a multiple of Telegram's limit. With the shared
    rate limiter, bulk sends draw from its budget, the one replies draw from.
    """
    if isinstance(limiter, SharedRateLimiter):
        return limiter.budget
    if services.db.dialect == "postgresql":
        return SharedBudget(services.db.engine, rate=services.settings.send_bulk_rate)
    return LocalBudget(bot_data.pacer)


async def start_services(application: App) -> None:
    """Start what runs beside the handlers: per-role menus, the broadcast sender, the reminder tick."""
    services = application.bot_data.services
    await set_menu(application, None, None)
    async with services.db.session() as session:
        people = await staff_members(session)
    for person in people:
        await set_menu(application, person.telegram_id, person.role)
    for admin_id in services.settings.admin_ids - {p.telegram_id for p in people}:
        await set_menu(application, admin_id, "admin")
    await application.bot_data.sender.start()
    # The reminder tick: a repeating JobQueue job; tests call ticker_of(app).tick() directly.
    start_reminders(application)


async def stop_services(application: App) -> None:
    services = application.bot_data.services
    # Before the database goes: sends in flight record their outcome.
    await application.bot_data.sender.stop()
    await services.db.dispose()


def services_of(application: App) -> Services:
    return application.bot_data.services


__all__ = [
    "App",
    "OFFLINE_TOKEN",
    "build_application",
    "build_rate_limiter",
    "build_send_budget",
    "register_handlers",
    "services_of",
    "start_services",
    "stop_services",
]
