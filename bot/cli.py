"""The ``schoolbot`` command (also ``python -m bot``).

Usage::

    schoolbot run                 # the bot (console demo when BOT_TOKEN is unset)
    schoolbot console [--as ROLE] # chat with the bot in this terminal, offline
    schoolbot demo                # load the demo roster (and reports)
    schoolbot migrate             # apply database migrations
    schoolbot import-roster FILE  # schools from CSV/XLSX
    schoolbot invite CODE... | --all-unregistered | --staff [--district NAME] [--json]
    schoolbot people [--role R] [--district NAME] [--inactive] [--json] | --deactivate ID
    schoolbot audit [--since YYYY-MM-DD] [--actor ID] [--school CODE] [--limit N] [--json]

Each subcommand lives in ``bot/commands/<name>.py`` with ``register(subparsers)``
and a ``run(args, settings) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from bot.settings import SettingsError, load_settings

# Module per subcommand, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "run",
    "console",
    "demo",
    "migrate",
    "import_roster",
    "invite",
    "people",
    "audit",
    "reminders",
    "summary",
    "doctor",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="schoolbot", description="Work-study office reporting bot.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"bot.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bot.commands.{name}":
                raise
            continue  # a feature not built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"schoolbot: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # httpx logs every request URL, and the URL carries the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic narrates every migration context at INFO; `migrate` prints its own summary.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        result: int = args.handler(args, settings)
    except BrokenPipeError:
        # `schoolbot invite --all-unregistered | head`: the reader left; that is not an error.
        sys.stderr.close()
        return 0
    return result
