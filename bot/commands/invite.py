"""``schoolbot invite``: issue one-time registration links for schools or office staff.

Usage::

    schoolbot invite HB-SX-001 HB-SX-002       # one principal invite per school
    schoolbot invite --all-unregistered         # every school without a registered reporter
    schoolbot invite --staff --count 2          # two office-staff invites (city-wide)
    schoolbot invite --staff --district 濉溪县    # a staff invite for that district only
    schoolbot invite HB-SX-001 --json           # [{"school": "HB-SX-001", "code": "...", "link": "..."}]

Links need the bot's username: ``BOT_USERNAME``, else asked from Telegram with
``BOT_TOKEN`` (getMe). Unknown school codes issue nothing.
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


class NoBotUsername(RuntimeError):
    """The links cannot be written: no BOT_USERNAME and Telegram could not tell us."""


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
        raise NoBotUsername(f"could not ask Telegram for the bot's username ({exc}); set BOT_USERNAME") from None


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
) -> tuple[str, list[IssuedInvite]]:
    """Issue the invites (all or none) and return them with the bot username for their links."""
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
    finally:
        await db.dispose()
    return username, invites


def run(args: argparse.Namespace, settings: Settings) -> int:
    chosen = sum((bool(args.schools), args.all_unregistered, args.staff))
    if chosen != 1:
        print("schoolbot invite: give school codes, --all-unregistered or --staff (exactly one of them)", file=sys.stderr)
        return 2
    if args.count != 1 and not args.staff:
        print("schoolbot invite: --count goes with --staff (schools get one invite each)", file=sys.stderr)
        return 2
    if args.district is not None and not args.staff:
        print("schoolbot invite: --district goes with --staff (a school invite's district is the school's)", file=sys.stderr)
        return 2
    try:
        username, invites = asyncio.run(
            issue(
                settings,
                school_codes=args.schools,
                all_unregistered=args.all_unregistered,
                staff=args.staff,
                count=args.count,
                expires_days=args.expires_days,
                district=args.district,
            )
        )
    except NoBotUsername as exc:
        print(f"schoolbot invite: {exc}", file=sys.stderr)
        return 1
    except UnknownSchools as exc:
        print(f"schoolbot invite: unknown school code(s): {', '.join(exc.codes)}; no invites issued", file=sys.stderr)
        return 1
    except UnknownDistrict as exc:
        known = ", ".join(exc.known) or "none yet (import the roster first)"
        print(f"schoolbot invite: unknown district {exc.name!r}; known districts: {known}; no invites issued", file=sys.stderr)
        return 1
    if args.json:
        records = [{"school": i.school_code, "code": i.code, "link": deep_link(username, i.code)} for i in invites]
        if args.staff:
            # Staff records also say the scope the invite gives (None: city-wide).
            records = [{**r, "district": i.district} for r, i in zip(records, invites)]
        print(json.dumps(records, ensure_ascii=False, indent=2))
    else:
        for invite in invites:
            who = f"{invite.school_code}  {invite.school_name}" if invite.school_code else f"staff:{invite.district or '全市'}"
            print(f"{who}  {invite.code}  {deep_link(username, invite.code)}")
    if invites:
        until = invites[0].expires_at.astimezone(settings.timezone)
        print(f"{len(invites)} invite(s), each usable once, until {until:%Y-%m-%d %H:%M} ({settings.timezone})", file=sys.stderr)
    else:
        print("every school already has a registered reporter; no invites issued", file=sys.stderr)
    return 0
