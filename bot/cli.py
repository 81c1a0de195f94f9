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
    schoolbot file --school CODE --form F --period P field=value... --reason "..." [--as STAFF_ID]

Each subcommand lives in ``bot/commands/<name>.py`` with ``register(subparsers)``
and a ``run(args, settings) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import TextIO, cast

from bot.runtime.observability import RedactingStream, install_redaction
from bot.settings import Settings, SettingsError, load_settings

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
    "file",
    "reminders",
    "summary",
    "doctor",
    "webhook",
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
    # Before any command runs, whatever it is: the token and the webhook secret never reach
    # a log line (messages, arguments, tracebacks) nor what a command prints itself.
    streams = sys.stdout, sys.stderr
    sys.stdout = cast(TextIO, RedactingStream(sys.stdout))
    sys.stderr = cast(TextIO, RedactingStream(sys.stderr))
    try:
        return _run_command(args, settings)
    finally:
        sys.stdout, sys.stderr = streams


def _run_command(args: argparse.Namespace, settings: Settings) -> int:
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_redaction([settings.token, settings.webhook_secret.get_secret_value() if settings.webhook_secret else None])
    # Warnings go through logging, hence through the same filter.
    logging.captureWarnings(True)
    if level > logging.DEBUG:
        # httpx logs every request URL at INFO (redacted, but noise); DEBUG shows them.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic narrates every migration context at INFO; `migrate` prints its own summary.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        result: int = args.handler(args, settings)
    except BrokenPipeError:
        # `schoolbot invite --all-unregistered | head`: the reader left; that is not an error.
        sys.stderr.close()
        return 0
    except Exception:
        # Python's own traceback printer would bypass the redaction; log it instead.
        logging.getLogger("schoolbot").critical("schoolbot %s failed", args.command, exc_info=True)
        return 1
    return result
