"""``schoolbot console``: chat with the bot in this terminal, offline, as a demo user.

Examples::

    schoolbot console                       # as the demo principal of 邹圩小学
    schoolbot console --as staff --lang en
    printf '/start\\n/help\\n' | schoolbot console --as new
    schoolbot console --database sqlite:///copy.db   # another database (never one with a real roster)

The console runs on the demo's own database (``bot.offline.demodb``), not on
``DATABASE_URL``: only ``--database`` moves it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.offline.console import USER_KEYS, quiet_logging, run_console
from bot.offline.demodb import settings_for_demo
from bot.settings import Settings


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
    parser.add_argument("--database", metavar="URL", help="database URL (default: the demo's own database, never DATABASE_URL)")
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="folder for photos and files the bot sends (default: a temp folder)"
    )
    parser.add_argument("--echo", action="store_true", help="also print the typed lines (for transcripts of piped input)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    demo = settings_for_demo(settings, args.database, args.lang)
    if demo is None:
        return 2
    quiet_logging(demo)
    who: str | int = args.user_id if args.user_id is not None else args.who
    return run_console(demo, who=who, lang=args.lang, out_dir=args.out, echo=args.echo)
