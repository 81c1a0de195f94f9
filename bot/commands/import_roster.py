"""``schoolbot import-roster FILE``: create or update schools from a CSV or XLSX roster.

Every row is checked first; a file with any bad row imports nothing and each bad
row is printed as ``第 N 行：原因`` (``line N: reason`` with ``--lang en``; exit
status 1); a problem repeated on many rows is printed once with its lines
(``区县“X”不在系统中…：第 2–5,001 行``). Into a database with no district yet the
file's districts are created (and named); once there are districts, an unknown
one is refused unless ``--new-districts`` is given. See ``bot/office/roster.py`` for the format. Re-importing the same
file changes nothing. What it prints is Chinese unless ``--lang en`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.core.catalogue import CatalogueInvalid, load_catalogue
from bot.core.clock import SystemClock
from bot.core.i18n import LANGUAGES, t
from bot.office.roster import ImportResult, RosterInvalid, RosterRow, import_roster, known_programmes, parse_roster
from bot.office.roster_report import grouped_problems
from bot.settings import Settings
from storage.db import Database


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "import-roster",
        help="create or update schools from a CSV/XLSX roster",
        description=(
            "Import schools from a CSV (UTF-8 or GB18030) or XLSX file with the columns "
            "code,name,district,area,programmes (or 学校代码,学校名称,区县,城乡,项目). "
            "A file with any bad row imports nothing."
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="the roster, .csv or .xlsx")
    parser.add_argument(
        "--new-districts",
        action="store_true",
        help="create districts the database does not know yet (otherwise they are refused as typos, "
        "unless the database has no district at all)",
    )
    parser.add_argument("--lang", choices=LANGUAGES, default="zh", help="language of what is printed (default zh)")
    parser.set_defaults(handler=run)


async def _import(settings: Settings, rows: Sequence[RosterRow], new_districts: bool) -> ImportResult:
    db = Database(settings.database_url)
    try:
        await db.migrate()
        return await import_roster(db, SystemClock(settings.timezone).now(), rows, new_districts=new_districts)
    finally:
        await db.dispose()


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        programmes = known_programmes(load_catalogue(settings.catalogue_path))
    except CatalogueInvalid as exc:
        print(f"schoolbot: {exc}", file=sys.stderr)
        return 2
    try:
        rows = parse_roster(args.file, programmes=programmes)
        result = asyncio.run(_import(settings, rows, args.new_districts))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print("schoolbot: " + t(args.lang, "roster.cli_cannot_read", file=args.file, reason=reason), file=sys.stderr)
        return 1
    except RosterInvalid as exc:
        for line in grouped_problems(exc.errors, args.lang):
            print(line, file=sys.stderr)
        print(t(args.lang, "roster.cli_nothing_imported", file=args.file, count=len(exc.errors)), file=sys.stderr)
        return 1
    print(result.summary(args.lang))
    return 0
