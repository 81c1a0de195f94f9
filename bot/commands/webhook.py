"""``schoolbot webhook set|delete|info``: manage the bot's webhook at deploy time.

A webhook belongs to the bot token, not to an instance: Telegram keeps one URL
per token, and several instances behind a load balancer calling ``setWebhook``
at every start only earn 429s (and a stale instance restarting during a move to
a new URL would point Telegram back at the old one). So the operator sets it
once per deploy with this command, and ``schoolbot run`` only checks it
(``bot.runtime.webhook.check_webhook``).

* ``set`` registers ``WEBHOOK_URL`` with ``WEBHOOK_SECRET`` as the secret token
  and the updates the bot handles (``ALLOWED_UPDATES``, as ``run`` polls them);
  ``--drop-pending-updates`` forgets the backlog, ``--max-connections N`` (1-100)
  caps Telegram's simultaneous deliveries.
* ``delete`` removes it (the way back to long polling: unset ``WEBHOOK_URL``
  first, so ``delete`` does not need it).
* ``info`` prints what Telegram has: URL, pending updates, last error (in
  ``TIMEZONE``), maximum connections and IP address. Never the secret: Telegram
  does not return it, and nothing here prints it.

Exit codes: 0 done; 2 a setting is missing (one line naming it); 1 Telegram
refused or could not be reached (one line, the token redacted by ``bot.cli``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from telegram import Bot, WebhookInfo
from telegram.error import TelegramError

from bot.settings import Settings
from bot.runtime.webhook import ALLOWED_UPDATES

# How long one Bot API call may take before the command gives up (the network is down).
TIMEOUT_SECONDS = 30.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("webhook", help="set, delete or show the bot's webhook (once per deploy, not per instance)")
    actions = parser.add_subparsers(dest="webhook_action", metavar="ACTION", required=True)
    set_parser = actions.add_parser("set", help="register WEBHOOK_URL with WEBHOOK_SECRET at Telegram")
    set_parser.add_argument("--drop-pending-updates", action="store_true", help="forget updates Telegram still holds")
    set_parser.add_argument(
        "--max-connections", type=_connections, metavar="N", help="simultaneous deliveries Telegram may open (1-100, default 40)"
    )
    delete_parser = actions.add_parser("delete", help="remove the webhook (before going back to long polling)")
    delete_parser.add_argument("--drop-pending-updates", action="store_true", help="forget updates Telegram still holds")
    actions.add_parser("info", help="what Telegram has: URL, pending updates, last error, connections, IP")
    parser.set_defaults(handler=run)


def _connections(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value} is outside 1-100 (Telegram's range)")
    return value


def run(args: argparse.Namespace, settings: Settings) -> int:
    action: str = args.webhook_action
    if settings.token is None:
        print(f"schoolbot webhook {action}: BOT_TOKEN is not set; the webhook belongs to a bot token", file=sys.stderr)
        return 2
    if action == "set" and not settings.webhook_url:
        print("schoolbot webhook set: WEBHOOK_URL is not set (the public https URL Telegram posts to)", file=sys.stderr)
        return 2
    work: Callable[[Bot], Awaitable[list[str]]]
    if action == "set":
        work = partial(set_webhook, settings=settings, drop=args.drop_pending_updates, max_connections=args.max_connections)
    elif action == "delete":
        work = partial(delete_webhook, drop=args.drop_pending_updates)
    else:
        work = partial(webhook_info, settings=settings)
    try:
        lines = asyncio.run(_with_bot(settings, work))
    except TelegramError as exc:
        print(
            f"schoolbot webhook {action}: the Bot API refused or could not be reached: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    except TimeoutError:
        print(
            f"schoolbot webhook {action}: no answer from {settings.telegram_api_url} within {TIMEOUT_SECONDS:g}s", file=sys.stderr
        )
        return 1
    for line in lines:
        print(line)
    return 0


async def _with_bot(settings: Settings, work: Callable[[Bot], Awaitable[list[str]]]) -> list[str]:
    assert settings.token is not None
    bot = Bot(
        settings.token,
        base_url=f"{settings.telegram_api_url}/bot",
        base_file_url=f"{settings.telegram_api_url}/file/bot",
    )
    async with bot:
        return await asyncio.wait_for(work(bot), TIMEOUT_SECONDS)


async def set_webhook(bot: Bot, settings: Settings, *, drop: bool, max_connections: int | None) -> list[str]:
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    await bot.set_webhook(
        url=settings.webhook_url,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=ALLOWED_UPDATES,
        drop_pending_updates=drop or None,
        max_connections=max_connections,
    )
    dropped = "; pending updates dropped" if drop else ""
    return [f"webhook set: {settings.webhook_url} (with the secret token{dropped})"]


async def delete_webhook(bot: Bot, *, drop: bool) -> list[str]:
    await bot.delete_webhook(drop_pending_updates=drop or None)
    return ["webhook deleted" + ("; pending updates dropped" if drop else "") + ": the bot can long-poll again"]


async def webhook_info(bot: Bot, settings: Settings) -> list[str]:
    return describe_webhook(await bot.get_webhook_info(), settings)


def describe_webhook(info: WebhookInfo, settings: Settings) -> list[str]:
    """What ``info`` prints, one ``name  value`` line per field Telegram gave."""

    def when(moment: datetime | None) -> str:
        if moment is None:
            return "-"
        return f"{moment.astimezone(settings.timezone):%Y-%m-%d %H:%M:%S} ({settings.timezone.key})"

    url = info.url or "(none: the bot long-polls, or nothing receives updates)"
    if info.url and settings.webhook_url and info.url != settings.webhook_url:
        url += f"  -- differs from WEBHOOK_URL {settings.webhook_url}: run `schoolbot webhook set`"
    rows = [
        ("url", url),
        ("pending updates", str(info.pending_update_count)),
        ("max connections", str(info.max_connections) if info.max_connections is not None else "-"),
        ("ip address", info.ip_address or "-"),
        ("allowed updates", ", ".join(info.allowed_updates) if info.allowed_updates else "(Telegram's default)"),
    ]
    if info.last_error_date is not None or info.last_error_message:
        rows.append(("last error", f"{when(info.last_error_date)}: {info.last_error_message or '-'}"))
    else:
        rows.append(("last error", "none"))
    if info.last_synchronization_error_date is not None:
        rows.append(("last sync error", when(info.last_synchronization_error_date)))
    return [f"{name:<16} {value}" for name, value in rows]
