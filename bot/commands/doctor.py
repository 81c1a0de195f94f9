"""``schoolbot doctor``: check settings, database, migrations, catalogue, fonts, the token and the pool.

Prints one line per check and exits 1 if any failed, so it can gate a deploy.
A ``WARN`` line (the pool smaller than the concurrency it must serve) does not
fail it. The ``database`` line carries a fingerprint of the database this
instance sees (on PostgreSQL the server's system identifier, the database name
and the migration revision), so the doctors of several instances can be
compared, or made to fail with ``--expect-fingerprint`` when one differs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.core.catalogue import CatalogueInvalid, load_catalogue
from bot.runtime.observability import REDACTED, redact
from bot.settings import Settings
from storage.budget import OWN_POOL_SIZE
from storage.db import Database, head_revision

Check = Callable[[], Awaitable[str]]
# A row's verdict: True passed, False failed (exit 1), "warn" passed with a WARN line.
Verdict = bool | Literal["warn"]
Row = tuple[str, Verdict, str]

# Telegram opens up to this many simultaneous webhook deliveries unless `webhook set --max-connections` says otherwise.
TELEGRAM_DEFAULT_MAX_CONNECTIONS = 40
# Pooled connections one instance's background work can hold at once, beside the updates:
# the reminder tick (on PostgreSQL its advisory-lock transaction plus its own sessions; one on
# SQLite), the broadcast sender (claiming a batch while earlier sends record their outcome),
# and in webhook mode /healthz. The per-user locks use their own engine (bot/userlock.py).
TICK_CONNECTIONS = {"postgresql": 2, "sqlite": 1}
SENDER_CONNECTIONS = 2
HEALTHZ_CONNECTIONS = 1


class CheckFailed(Exception):
    """A check's one-line reason for failing."""


class CheckWarning(Exception):
    """A check passed with a caveat the operator should act on (printed WARN, exit code unchanged)."""


@dataclass(frozen=True)
class Fingerprint:
    """Which database an instance sees, and at which migration: equal on every instance of one deployment."""

    server: str
    database: str
    system_id: str
    revision: str | None

    @property
    def digest(self) -> str:
        # The address is left out: two instances may reach one server by different routes.
        key = f"{self.system_id}/{self.database}/{self.revision or 'none'}"
        return hashlib.sha256(key.encode()).hexdigest()[:12]

    def describe(self) -> str:
        return (
            f"fingerprint {self.digest} (server {self.server}, database {self.database}, "
            f"system {self.system_id}, revision {self.revision or 'none'})"
        )


async def fingerprint(db: Database) -> Fingerprint:
    """The identity of the database behind ``db``: PostgreSQL's cluster identifier, or SQLite's file."""
    revision = await db.current_revision()
    if db.dialect == "postgresql":
        async with db.reader() as conn:
            row = (await conn.execute(text("SELECT host(inet_server_addr()), inet_server_port(), current_database()"))).one()
            try:
                system_id = str(await conn.scalar(text("SELECT system_identifier FROM pg_control_system()")))
            except Exception:  # noqa: BLE001 - a role without the right to read it still gets the rest
                system_id = "unreadable"
        server = f"{row[0]}:{row[1]}" if row[0] else "local socket"
        return Fingerprint(server, str(row[2]), system_id, revision)
    database = make_url(db.url).database or ":memory:"
    path = str(Path(database).resolve()) if database != ":memory:" else database
    return Fingerprint("sqlite file", path, "sqlite", revision)


@dataclass(frozen=True)
class PoolNeed:
    """How many pooled connections one instance may want at once, and where the number comes from."""

    updates: int
    updates_from: str
    background: int

    @property
    def total(self) -> int:
        return self.updates + self.background


def pool_need(settings: Settings, dialect: str, webhook_max_connections: int | None) -> PoolNeed:
    """The updates processed at once plus the background work (constants above).

    Webhook mode processes every delivery Telegram opens at once (our server does not queue
    them), up to the webhook's ``max_connections``; behind a load balancer one instance may
    get them all while the other restarts. Long polling (PTB's default) processes one update
    at a time.
    """
    background = TICK_CONNECTIONS.get(dialect, 2) + SENDER_CONNECTIONS
    if not settings.webhook_url:
        return PoolNeed(1, "long polling processes one update at a time", background)
    if webhook_max_connections is None:
        updates, source = TELEGRAM_DEFAULT_MAX_CONNECTIONS, "Telegram's default webhook max_connections (not checked)"
    else:
        updates, source = webhook_max_connections, "the webhook's max_connections at Telegram"
    return PoolNeed(updates, source, background + HEALTHZ_CONNECTIONS)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("doctor", help="check settings, database, migrations, catalogue and token")
    parser.add_argument("--offline", action="store_true", help="do not contact the Bot API even with a token")
    parser.add_argument(
        "--expect-fingerprint",
        metavar="X",
        help="fail unless the database's fingerprint (printed by another instance's doctor) is X",
    )
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


@dataclass
class _Checkup:
    """The checks of one doctor run: one database, and what the token check learnt for the pool check."""

    settings: Settings
    db: Database
    offline: bool = False
    expect_fingerprint: str | None = None
    webhook: dict[str, int | None] = field(default_factory=dict)

    async def database(self) -> str:
        db, expect_fingerprint = self.db, self.expect_fingerprint
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        seen = await fingerprint(db)
        detail = f"{db.dialect} reachable; {seen.describe()}"
        if expect_fingerprint is not None and expect_fingerprint.strip().lower() != seen.digest:
            raise CheckFailed(
                f"{detail}: expected fingerprint {expect_fingerprint}: this instance sees another database or migration"
            )
        return detail

    async def migrations(self) -> str:
        db = self.db
        current, head = await db.current_revision(), head_revision()
        if current != head:
            raise CheckFailed(f"at revision {current or 'none'}, newest is {head}: run `schoolbot migrate`")
        return f"at newest revision {head}"

    async def catalogue(self) -> str:
        settings = self.settings
        try:
            forms = load_catalogue(settings.catalogue_path)
        except CatalogueInvalid as exc:
            raise CheckFailed(str(exc)) from None
        return f"{len(forms)} forms: " + ", ".join(f"{f.key} v{f.version}" for f in forms)

    async def font(self) -> str:
        from bot.render.fonts import cjk_font

        found = cjk_font()
        if found is None:
            raise CheckFailed("no CJK font: charts would draw Chinese as boxes (install fonts-wqy-microhei)")
        return f"{found.family} ({found.path})"

    async def token(self) -> str:
        settings, offline, webhook = self.settings, self.offline, self.webhook
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
                if settings.webhook_url:
                    try:
                        info = await asyncio.wait_for(bot.get_webhook_info(), timeout=15)
                        webhook["max_connections"] = info.max_connections if info.url else None
                    except Exception:  # noqa: BLE001 - the pool check then assumes Telegram's default
                        pass
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none is fatal to the doctor
            raise CheckFailed(redact(f"{type(exc).__name__}: {exc}".replace(settings.token, REDACTED))) from None
        return f"valid, bot @{me.username}"

    async def pool(self) -> str:
        settings, db, webhook = self.settings, self.db, self.webhook
        need = pool_need(settings, db.dialect, webhook.get("max_connections"))
        size = settings.database_pool_size
        numbers = (
            f"DATABASE_POOL_SIZE={size}; this instance may want {need.total} at once: "
            f"{need.updates} update(s) ({need.updates_from}) + {need.background} for the reminder tick, "
            f"the broadcast sender{' and /healthz' if settings.webhook_url else ''}"
        )
        locks = settings.user_lock_pool if db.dialect == "postgresql" else None
        if locks is not None:
            async with db.reader() as conn:
                server_max = await conn.scalar(text("SHOW max_connections"))
            numbers += (
                f"; USER_LOCK_POOL_SIZE={locks} (one user-lock connection per update in flight) "
                f"and {OWN_POOL_SIZE} for the send budget"
                f"; the server allows {server_max} connections for all instances together"
            )
        advice = []
        if size < need.total:
            advice.append(f"set DATABASE_POOL_SIZE={need.total}")
        if locks is not None and locks < need.updates and settings.user_lock_pool_size is not None:
            advice.append(f"set USER_LOCK_POOL_SIZE={need.updates}")
        if advice:
            if settings.webhook_url:
                fits = min(max(size - need.background, 1), locks or size)
                advice.append(f"or `schoolbot webhook set --max-connections {fits}` so Telegram opens fewer deliveries")
            raise CheckWarning(
                f"{numbers}; updates beyond the pool wait up to {settings.database_pool_timeout:g}s "
                f"(then the webhook answers 503): {', '.join(advice)}"
            )
        return numbers

    def checks(self) -> list[tuple[str, Check]]:
        """Every check, in the order the doctor prints them (the pool check reads the token check's webhook)."""
        return [
            ("database", self.database),
            ("migrations", self.migrations),
            ("catalogue", self.catalogue),
            ("cjk font", self.font),
            ("bot token", self.token),
            ("pool", self.pool),
        ]


async def diagnose(settings: Settings, *, offline: bool = False, expect_fingerprint: str | None = None) -> list[Row]:
    """Run every check; returns (name, verdict, detail) rows."""
    db = Database(settings.database_url)
    checkup = _Checkup(settings, db, offline, expect_fingerprint)
    rows: list[Row] = [("settings", True, describe_settings(settings))]
    try:
        for name, check in checkup.checks():
            try:
                rows.append((name, True, await check()))
            except CheckWarning as exc:
                rows.append((name, "warn", str(exc)))
            except CheckFailed as exc:
                rows.append((name, False, str(exc)))
            except Exception as exc:  # noqa: BLE001
                rows.append((name, False, f"{type(exc).__name__}: {exc}"))
    finally:
        await db.dispose()
    return rows


def run(args: argparse.Namespace, settings: Settings) -> int:
    rows = asyncio.run(diagnose(settings, offline=args.offline, expect_fingerprint=args.expect_fingerprint))
    for name, ok, detail in rows:
        # Printed, not logged: an error quoting the token or a URL must be cleaned here too.
        mark = "WARN" if ok == "warn" else ("ok " if ok else "FAIL")
        print(f"{mark} {name:<11} {redact(detail)}")
    return 0 if all(ok for _, ok, _ in rows) else 1
