"""``schoolbot doctor``: check settings, database, migrations, catalogue, fonts and the token.

Prints one line per check and exits 1 if any failed, so it can gate a deploy.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.catalogue import CatalogueInvalid, load_catalogue
from bot.observability import REDACTED, redact
from bot.settings import Settings
from storage.db import Database, head_revision

Check = Callable[[], Awaitable[str]]


class CheckFailed(Exception):
    """A check's one-line reason for failing."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("doctor", help="check settings, database, migrations, catalogue and token")
    parser.add_argument("--offline", action="store_true", help="do not contact the Bot API even with a token")
    parser.set_defaults(handler=run)


def describe_settings(settings: Settings) -> str:
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    mode = "webhook" if settings.webhook_url else ("polling" if settings.token else "offline console")
    return (
        f"database {url}; timezone {settings.timezone.key}; quiet hours {settings.quiet_hours.start:%H:%M}-"
        f"{settings.quiet_hours.end:%H:%M}; {len(settings.admin_ids)} admin(s); mode {mode}; "
        f"pool {settings.database_pool_size} (wait {settings.database_pool_timeout:g}s), "
        f"user lock wait {settings.user_lock_timeout:g}s"
    )


async def diagnose(settings: Settings, *, offline: bool = False) -> list[tuple[str, bool, str]]:
    """Run every check; returns (name, ok, detail) rows."""
    db = Database(settings.database_url)

    async def database() -> str:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return f"{db.dialect} reachable"

    async def migrations() -> str:
        current, head = await db.current_revision(), head_revision()
        if current != head:
            raise CheckFailed(f"at revision {current or 'none'}, newest is {head}: run `schoolbot migrate`")
        return f"at newest revision {head}"

    async def catalogue() -> str:
        try:
            forms = load_catalogue(settings.catalogue_path)
        except CatalogueInvalid as exc:
            raise CheckFailed(str(exc)) from None
        return f"{len(forms)} forms: " + ", ".join(f"{f.key} v{f.version}" for f in forms)

    async def font() -> str:
        from bot.render.fonts import cjk_font

        found = cjk_font()
        if found is None:
            raise CheckFailed("no CJK font: charts would draw Chinese as boxes (install fonts-wqy-microhei)")
        return f"{found.family} ({found.path})"

    async def token() -> str:
        if not settings.token:
            return "no BOT_TOKEN: offline console only"
        if offline:
            return "set (not checked: --offline)"
        from telegram import Bot

        bot = Bot(
            settings.token,
            base_url=f"{settings.telegram_api_url}/bot",
            base_file_url=f"{settings.telegram_api_url}/file/bot",
        )
        try:
            async with bot:
                me = await asyncio.wait_for(bot.get_me(), timeout=15)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none is fatal to the doctor
            raise CheckFailed(redact(f"{type(exc).__name__}: {exc}".replace(settings.token, REDACTED))) from None
        return f"valid, bot @{me.username}"

    checks: list[tuple[str, Check]] = [
        ("database", database),
        ("migrations", migrations),
        ("catalogue", catalogue),
        ("cjk font", font),
        ("bot token", token),
    ]
    rows = [("settings", True, describe_settings(settings))]
    try:
        for name, check in checks:
            try:
                rows.append((name, True, await check()))
            except CheckFailed as exc:
                rows.append((name, False, str(exc)))
            except Exception as exc:  # noqa: BLE001
                rows.append((name, False, f"{type(exc).__name__}: {exc}"))
    finally:
        await db.dispose()
    return rows


def run(args: argparse.Namespace, settings: Settings) -> int:
    rows = asyncio.run(diagnose(settings, offline=args.offline))
    for name, ok, detail in rows:
        # Printed, not logged: an error quoting the token or a URL must be cleaned here too.
        print(f"{'ok ' if ok else 'FAIL'} {name:<11} {redact(detail)}")
    return 0 if all(ok for _, ok, _ in rows) else 1
