"""``schoolbot audit``: the audit log, oldest first, one line per change.

Usage::

    schoolbot audit                              # everything
    schoolbot audit --since 2026-11-01 --school HB001
    schoolbot audit --actor 123456789 --limit 50 # that person's 50 latest actions
    schoolbot audit --json
    schoolbot audit --lang en                    # messages in English (default: Chinese)

Each line: time (in TIMEZONE), actor (Telegram id and name if known; ``-`` for
the system), action, subject (a school code, ``person:<id>``, ``broadcast:<id>``)
and the detail as compact JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date, datetime, time
from typing import Any

from bot.core.i18n import LANGUAGES, t
from bot.office.roster import normalise_code
from bot.commands.args import positive_int
from bot.settings import Settings
from storage.audit import AuditRow, audit_entries
from storage.db import Database


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "audit",
        help="print the audit log (who changed what, when)",
        description="Print audit rows matching every filter given, oldest first.",
    )
    parser.add_argument("--since", metavar="YYYY-MM-DD", help="rows from this day on (in TIMEZONE)")
    parser.add_argument("--actor", type=int, metavar="TELEGRAM_ID", help="rows by this person")
    parser.add_argument("--school", metavar="CODE", help="rows about this school")
    parser.add_argument("--limit", type=positive_int, metavar="N", help="only the N newest matching rows")
    parser.add_argument("--json", action="store_true", help="print a JSON array")
    parser.add_argument("--lang", choices=LANGUAGES, default="zh", help="language of the messages (default zh)")
    parser.set_defaults(handler=run)


async def _rows(settings: Settings, **filters: Any) -> list[AuditRow]:
    db = Database(settings.database_url)
    try:
        await db.migrate()
        async with db.session() as session:
            return await audit_entries(session, **filters)
    finally:
        await db.dispose()


def _detail(detail: dict[str, Any] | None) -> str:
    return json.dumps(detail, ensure_ascii=False, separators=(",", ":"), sort_keys=True) if detail else ""


def _line(row: AuditRow, settings: Settings) -> str:
    at = row.at.astimezone(settings.timezone)
    actor = "-" if row.actor is None else f"{row.actor} {row.actor_name}" if row.actor_name else str(row.actor)
    return "  ".join((f"{at:%Y-%m-%d %H:%M:%S}", actor, row.action, row.subject or "-", _detail(row.detail))).rstrip()


def run(args: argparse.Namespace, settings: Settings) -> int:
    since = None
    if args.since is not None:
        try:
            day = date.fromisoformat(args.since.strip())
        except ValueError:
            print("schoolbot audit: " + t(args.lang, "console.p3_audit_bad_since", value=args.since), file=sys.stderr)
            return 2
        since = datetime.combine(day, time(0), tzinfo=settings.timezone)
    rows = asyncio.run(
        _rows(
            settings,
            since=since,
            actor=args.actor,
            school_code=normalise_code(args.school) if args.school else None,
            limit=args.limit,
        )
    )
    if args.json:
        records = [
            {
                "at": row.at.astimezone(settings.timezone).isoformat(),
                "actor": row.actor,
                "actor_name": row.actor_name,
                "action": row.action,
                "subject": row.subject,
                "detail": row.detail,
            }
            for row in rows
        ]
        print(json.dumps(records, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            print(_line(row, settings))
        print(t(args.lang, "console.p3_audit_count", count=len(rows)), file=sys.stderr)
    return 0
