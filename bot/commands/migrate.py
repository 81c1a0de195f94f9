"""``schoolbot migrate``: bring the database schema to the newest revision."""

from __future__ import annotations

import argparse
import asyncio

from bot.settings import Settings
from storage.db import Database


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("migrate", help="apply database migrations")
    parser.set_defaults(handler=run)


async def migrate(settings: Settings) -> str | None:
    db = Database(settings.database_url)
    try:
        await db.migrate()
        return await db.current_revision()
    finally:
        await db.dispose()


def run(args: argparse.Namespace, settings: Settings) -> int:
    revision = asyncio.run(migrate(settings))
    print(f"database at revision {revision}")
    return 0
