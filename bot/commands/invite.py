"""``schoolbot invite``: issue one-time registration links for schools or office staff.

Usage::

    schoolbot invite HB-SX-001 HB-SX-002       # one principal invite per school
    schoolbot invite --all-unregistered         # every school without a registered reporter
    schoolbot invite --staff --count 2          # two office-staff invites (city-wide)
    schoolbot invite --staff --district 濉溪县    # a staff invite for that district only
    schoolbot invite HB-SX-001 --json           # [{"school": "HB-SX-001", "code": "...", "link": "..."}]
    schoolbot invite HB-SX-001 --lang en        # what is printed, in English (default: Chinese)

Links need the bot's username: ``BOT_USERNAME``, else asked from Telegram with
``BOT_TOKEN`` (getMe). Unknown school codes issue nothing. A school that already
has a principal still gets its invite, with a warning on stderr naming the
principal (as ``/invite`` does in chat: ``bot.office.invites``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from telegram import Bot
from telegram.error import TelegramError
from telegram.request import BaseRequest

from bot.core.clock import SystemClock
from bot.core.i18n import LANGUAGES, t
from bot.office.invites import principal_warnings, sitting_principals
from bot.office.roster import normalise_code
from bot.office.registration import (
    DEFAULT_EXPIRES_DAYS,
    IssuedInvite,
    UnknownDistrict,
    UnknownSchools,
    deep_link,
    issue_invites,
)
from bot.commands.args import positive_int
from bot.settings import Settings
from storage.db import Database
from storage.schools import schools_by_codes


class NoBotUsername(RuntimeError):
    """The links cannot be written: no BOT_USERNAME and Telegram could not tell us (``error``: what it said)."""

    def __init__(self, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "invite",
        help="issue one-time invite links for schools or staff",
        description="Print one code and t.me deep link per invite. Each link works once, until it expires.",
    )
    parser.add_argument("schools", nargs="*", metavar="SCHOOL_CODE", help="school codes to invite a reporter for")
    parser.add_argument(
        "--all-unregistered", action="store_true", help="one invite for every school without a registered reporter"
    )
    parser.add_argument("--staff", action="store_true", help="invites that make office staff, not principals")
    parser.add_argument(
        "--district", metavar="NAME", help="with --staff: the invitee becomes staff of this district only (default: city-wide)"
    )
    parser.add_argument("--count", type=positive_int, default=1, help="how many staff invites (with --staff; default 1)")
    parser.add_argument(
        "--expires-days",
        type=positive_int,
        default=DEFAULT_EXPIRES_DAYS,
        metavar="N",
        help=f"days until the links expire (default {DEFAULT_EXPIRES_DAYS})",
    )
    parser.add_argument("--json", action="store_true", help='print a JSON array of {"school", "code", "link"}')
    parser.add_argument("--lang", choices=LANGUAGES, default="zh", help="language of what is printed (default zh)")
    parser.set_defaults(handler=run)


async def resolve_bot_username(settings: Settings, *, request: BaseRequest | None = None) -> str:
    """BOT_USERNAME, else the username Telegram reports for BOT_TOKEN (getMe)."""
    if settings.bot_username:
        return settings.bot_username
    if not settings.token:
        raise NoBotUsername("invite links need the bot's username: set BOT_USERNAME (or BOT_TOKEN to ask Telegram)")
    bot = Bot(settings.token, base_url=f"{settings.telegram_api_url}/bot", request=request)
    try:
        async with bot:
            return bot.username
    except TelegramError as exc:
        raise NoBotUsername(f"could not ask Telegram for the bot's username ({exc}); set BOT_USERNAME", str(exc)) from None


async def issue(
    settings: Settings,
    *,
    school_codes: Sequence[str],
    all_unregistered: bool,
    staff: bool,
    count: int,
    expires_days: int,
    district: str | None = None,
    request: BaseRequest | None = None,
    lang: str = "zh",
) -> tuple[str, list[IssuedInvite], list[str]]:
    """Issue the invites (all or none); the bot username for their links, and a warning per school
    that already has a principal."""
    # Before touching the database: without a username the codes would be issued but unusable.
    username = await resolve_bot_username(settings, request=request)
    db = Database(settings.database_url)
    try:
        await db.migrate()
        async with db.session() as session:
            invites = await issue_invites(
                session,
                SystemClock(settings.timezone).now(),
                school_codes=[normalise_code(code) for code in school_codes],
                all_unregistered=all_unregistered,
                staff=staff,
                district=district,
                count=count,
                expires_days=expires_days,
            )
            codes = [i.school_code for i in invites if i.school_code is not None]
            schools = list((await schools_by_codes(session, codes)).values()) if codes else []
            warnings = principal_warnings(lang, await sitting_principals(session, schools), cli=True)
    finally:
        await db.dispose()
    return username, invites, warnings


def _fail(lang: str, key: str, **values: object) -> None:
    print("schoolbot invite: " + t(lang, key, **values), file=sys.stderr)


def _misused(args: argparse.Namespace) -> str | None:
    """The message key for contradictory arguments; None if they fit together."""
    if sum((bool(args.schools), args.all_unregistered, args.staff)) != 1:
        return "invite.p3_cli_choose_one"
    if args.count != 1 and not args.staff:
        return "invite.p3_cli_count_with_staff"
    if args.district is not None and not args.staff:
        return "invite.p3_cli_district_with_staff"
    return None


def run(args: argparse.Namespace, settings: Settings) -> int:
    lang = args.lang
    misused = _misused(args)
    if misused is not None:
        _fail(lang, misused)
        return 2
    try:
        username, invites, warnings = asyncio.run(
            issue(
                settings,
                school_codes=args.schools,
                all_unregistered=args.all_unregistered,
                staff=args.staff,
                count=args.count,
                expires_days=args.expires_days,
                district=args.district,
                lang=lang,
            )
        )
    except NoBotUsername as exc:
        if exc.error is None:
            _fail(lang, "invite.p3_cli_no_username")
        else:
            _fail(lang, "invite.p3_cli_getme_failed", error=exc.error)
        return 1
    except UnknownSchools as exc:
        _fail(lang, "invite.p3_cli_unknown_schools", codes=", ".join(exc.codes))
        return 1
    except UnknownDistrict as exc:
        known = t(lang, "summary.list_separator").join(exc.known) or t(lang, "people.p3_cli_no_districts")
        _fail(lang, "invite.p3_cli_unknown_district", name=exc.name, known=known)
        return 1
    _print(args, settings, username, invites)
    for warning in warnings:
        print(warning, file=sys.stderr)
    return 0


def _print(args: argparse.Namespace, settings: Settings, username: str, invites: list[IssuedInvite]) -> None:
    """The links (JSON, or one line each) on stdout; how many and until when on stderr."""
    lang = args.lang
    if args.json:
        records = [{"school": i.school_code, "code": i.code, "link": deep_link(username, i.code)} for i in invites]
        if args.staff:
            # Staff records also say the scope the invite gives (None: city-wide).
            records = [{**r, "district": i.district} for r, i in zip(records, invites)]
        print(json.dumps(records, ensure_ascii=False, indent=2))
    else:
        for invite in invites:
            if invite.school_code:
                who = f"{invite.school_code}  {invite.school_name}"
            else:
                who = t(lang, "invite.p3_cli_staff", scope=invite.district or t(lang, "people.city_wide"))
            print(f"{who}  {invite.code}  {deep_link(username, invite.code)}")
    if invites:
        until = invites[0].expires_at.astimezone(settings.timezone)
        summary = t(lang, "invite.p3_cli_summary", count=len(invites), until=f"{until:%Y-%m-%d %H:%M}", tz=settings.timezone)
        print(summary, file=sys.stderr)
    else:
        print(t(lang, "invite.p3_cli_all_registered"), file=sys.stderr)
