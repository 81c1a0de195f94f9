"""``schoolbot console``: chat with the bot in this terminal, offline, as a demo user.

Examples::

    schoolbot console                       # as the demo principal of 邹圩小学
    schoolbot console --as staff --lang en
    printf '/start\\n/help\\n' | schoolbot console --as new
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.offline.console import USER_KEYS, quiet_logging, run_console
from bot.settings import Settings, SettingsError, load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "console",
        help="chat with the bot in this terminal, offline, on the demo data",
        description="Chat with the real bot in this terminal: no token, no network. "
        "Lines are messages; numbers press buttons; lines starting with ':' are console commands (:help).",
    )
    parser.add_argument("--as", dest="who", choices=USER_KEYS, default="principal", help="demo user to be (default: principal)")
    parser.add_argument("--user-id", type=int, help="be this Telegram user id instead of a demo user")
    parser.add_argument("--lang", choices=("zh", "en"), default="zh", help="your Telegram language (default: zh)")
    parser.add_argument("--database", metavar="URL", help="database URL (default: DATABASE_URL)")
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="folder for photos and files the bot sends (default: a temp folder)"
    )
    parser.add_argument("--echo", action="store_true", help="also print the typed lines (for transcripts of piped input)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.database:
        try:
            settings = load_settings(database_url=args.database)
        except SettingsError as exc:
            print(f"schoolbot: {exc}", file=sys.stderr)
            return 2
    quiet_logging(settings)
    who: str | int = args.user_id if args.user_id is not None else args.who
    return run_console(settings, who=who, lang=args.lang, out_dir=args.out, echo=args.echo)
