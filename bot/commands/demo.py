"""``schoolbot demo``: migrate, then load the demo roster and people (and reports, when built).

Safe to run again: it refreshes the demo schools and people in place. Then try
the bot offline with ``schoolbot console --as principal``. Like the console it
loads into the demo's own database (``bot.offline.demodb``) unless ``--database``
names another, and never into one that has a real roster.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.core.catalogue import load_catalogue
from bot.core.clock import SystemClock
from bot.core.i18n import t
from bot.offline.demo import DemoLoad, NotADemoDatabase, load_demo, migrate_for_demo
from bot.offline.demodb import settings_for_demo
from bot.settings import Settings
from storage.db import Database


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help="load the demo roster, people and reports")
    parser.add_argument("--no-reports", action="store_true", help="only the roster and people, no reports")
    parser.add_argument("--database", metavar="URL", help="database URL (default: the demo's own database, never DATABASE_URL)")
    parser.set_defaults(handler=run)


async def demo(settings: Settings, *, reports: bool) -> DemoLoad:
    db = Database(settings.database_url)
    try:
        await migrate_for_demo(db)
        now = SystemClock(settings.timezone).now()
        return await load_demo(db, now, reports=reports, catalogue=load_catalogue(settings.catalogue_path))
    finally:
        await db.dispose()


def run(args: argparse.Namespace, settings: Settings) -> int:
    chosen = settings_for_demo(settings, args.database, "zh")
    if chosen is None:
        return 2
    try:
        loaded = asyncio.run(demo(chosen, reports=not args.no_reports))
    except NotADemoDatabase as exc:
        print(t("zh", "demo.refused", schools=exc.schools), file=sys.stderr)
        return 2
    if not args.database:
        print(f"demo database: {chosen.database_url.split(':///', 1)[-1]}")
    print(loaded.roster.describe())
    print("demo people (Telegram id, role, school):")
    for user in loaded.people:
        school = f"  {user.school_code}" if user.school_code else ""
        print(f"  {user.telegram_id:>6}  {user.key:<10}  {user.name}{school}")
    if loaded.reports:
        print(loaded.reports)
    again = f" --database {args.database}" if args.database else ""
    print(f"try it offline: schoolbot console{again} --as principal   (or --as staff, --as admin)")
    return 0
