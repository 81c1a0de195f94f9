"""``schoolbot file``: the office files (or corrects) a report for a school, through the chat's validation.

Usage::

    schoolbot file --school HB-SX-001 --form milk --period 2026-10 \\
        daily_drinkers=856 days_served=21 supplier=伊利 --reason "校长住院，电话报来"
    schoolbot file ... --as 20001        # as that staff member (in their district only)

Each value is read as a principal's typed answer would be (units, conversions,
choices by name); the form's rules and the history checks run as at the chat's
review. A bad value, a missing one, an error of a rule, an unknown school or a
school outside ``--as``'s district: one line each on stderr, exit status 2,
nothing saved. Warnings are confirmed by ``--reason`` and saved with the version.
The school's reporters are told through the bot when ``BOT_TOKEN`` is set.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from telegram.error import TelegramError
from telegram.request import BaseRequest

from bot.core.catalogue import load_catalogue
from bot.core.clock import Clock, SystemClock
from bot.core.i18n import LANGUAGES, t
from bot.reporting.filing import Filed, file_report
from bot.reporting.versions import Notice
from bot.services import Services
from bot.settings import Settings
from storage.db import Database

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "file",
        help="file or correct a report for a school on its behalf (field=value ...)",
        description="File or correct a school's report on its behalf, with the same checks as in chat.",
    )
    parser.add_argument("--school", required=True, metavar="CODE", help="the school's code")
    parser.add_argument("--form", required=True, metavar="F", help="the form's key (milk, insurance, harvest...)")
    parser.add_argument("--period", required=True, metavar="P", help="2026-10, 2026-Q4, 2026-S2, 2026...")
    parser.add_argument("--reason", metavar="TEXT", help="why the office files it (required; saved with the version)")
    parser.add_argument("--as", dest="as_id", type=int, metavar="STAFF_ID", help="file as this staff member's Telegram id")
    parser.add_argument("--lang", choices=LANGUAGES, default="zh", help="language of the output (default zh)")
    parser.add_argument("values", nargs="*", metavar="field=value", help="one per field of the form")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    filed = asyncio.run(
        file_command(
            settings,
            school=args.school,
            form=args.form,
            period=args.period,
            values=args.values,
            reason=args.reason,
            as_id=args.as_id,
            lang=args.lang,
        )
    )
    for line in filed.errors:
        print(line, file=sys.stderr)
    for line in filed.lines:
        print(line)
    return filed.code


async def file_command(
    settings: Settings,
    *,
    school: str,
    form: str,
    period: str,
    values: list[str],
    reason: str | None,
    as_id: int | None = None,
    lang: str = "zh",
    clock: Clock | None = None,
    request: BaseRequest | None = None,
) -> Filed:
    """File the report; then tell the school's reporters through the bot (with a token, or ``request`` in tests)."""
    db = Database(settings.database_url)
    try:
        await db.migrate()
        services = Services(settings, db, clock or SystemClock(settings.timezone), load_catalogue(settings.catalogue_path))
        filed = await file_report(
            services, school_code=school, form_key=form, period_text=period, pairs=values, reason=reason, as_id=as_id, lang=lang
        )
    finally:
        await db.dispose()
    if filed.code == 0 and filed.notices:
        filed.lines.append(await _tell(settings, filed.notices, lang, request))
    return filed


async def _tell(settings: Settings, notices: list[Notice], lang: str, request: BaseRequest | None) -> str:
    """Send each notice through the Bot API; the line saying how many went."""
    if not settings.token and request is None:
        return t(lang, "onbehalf.cli_not_told", count=len(notices))
    from telegram import Bot

    api = settings.telegram_api_url
    token = settings.token or "0:offline"
    bot = Bot(token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot", request=request)
    sent = 0
    async with bot:
        for notice in notices:
            try:
                await bot.send_message(notice.chat_id, notice.text)
                sent += 1
            except TelegramError as exc:
                log.warning("on-behalf notice not delivered: %s", type(exc).__name__)
    return t(lang, "onbehalf.cli_told", sent=sent, count=len(notices))
