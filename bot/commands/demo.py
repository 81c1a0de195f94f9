"""``schoolbot demo``: migrate, then load the demo roster and people (and reports, when built).

Safe to run again: it refreshes the demo schools and people in place. Then try
the bot offline with ``schoolbot console --as principal``.
"""

from __future__ import annotations

import argparse
import asyncio

from bot.core.catalogue import load_catalogue
from bot.core.clock import SystemClock
from bot.offline.demo import DemoLoad, load_demo
from bot.settings import Settings
from storage.db import Database


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help="load the demo roster, people and reports")
    parser.add_argument("--no-reports", action="store_true", help="only the roster and people, no reports")
    parser.set_defaults(handler=run)


async def demo(settings: Settings, *, reports: bool) -> DemoLoad:
    db = Database(settings.database_url)
    try:
        await db.migrate()
        now = SystemClock(settings.timezone).now()
        return await load_demo(db, now, reports=reports, catalogue=load_catalogue(settings.catalogue_path))
    finally:
        await db.dispose()


def run(args: argparse.Namespace, settings: Settings) -> int:
    loaded = asyncio.run(demo(settings, reports=not args.no_reports))
    print(loaded.roster.describe())
    print("demo people (Telegram id, role, school):")
    for user in loaded.people:
        school = f"  {user.school_code}" if user.school_code else ""
        print(f"  {user.telegram_id:>6}  {user.key:<10}  {user.name}{school}")
    if loaded.reports:
        print(loaded.reports)
    print("try it offline: schoolbot console --as principal   (or --as staff, --as admin)")
    return 0
