"""``schoolbot people``: who the bot knows (role, school or district, active), and deactivating one.

Usage::

    schoolbot people                          # everyone active
    schoolbot people --role staff --district 濉溪县
    schoolbot people --inactive --json        # deactivated people too, as JSON
    schoolbot people --deactivate 123456789   # that person is unknown to the bot from their next message
    schoolbot people --lang en                # roles, states and messages in English (default: Chinese)

Deactivating keeps the person's row and history (reports, audit); a new invite
registers them again. Admins listed in ADMIN_IDS are not deactivated here:
remove them from ADMIN_IDS instead. ``--json`` keeps the stored role names
(``principal``, ``staff``) whatever the language.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from bot.core.clock import SystemClock
from bot.core.i18n import LANGUAGES, t
from bot.office.registration import (
    Deactivation,
    UnknownDistrict,
    deactivate_person,
    district_named,
    parse_telegram_id,
)
from bot.settings import Settings
from storage.db import Database
from storage.models import Role
from storage.people import PersonListing, list_people


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "people",
        help="list people (role, school or district, active), or deactivate one",
        description="List the people the bot knows, or deactivate one (their history is kept).",
    )
    parser.add_argument("--role", choices=[r.value for r in Role], help="only this role")
    parser.add_argument("--district", metavar="NAME", help="only principals of this district's schools and its staff")
    parser.add_argument("--inactive", action="store_true", help="include deactivated people")
    parser.add_argument("--json", action="store_true", help="print a JSON array")
    parser.add_argument("--deactivate", metavar="TELEGRAM_ID", help="deactivate this person instead of listing")
    parser.add_argument("--lang", choices=LANGUAGES, default="zh", help="language of what is printed (default zh)")
    parser.set_defaults(handler=run)


def _record(person: PersonListing) -> dict[str, Any]:
    return {
        "telegram_id": person.telegram_id,
        "name": person.name,
        "role": person.role,
        "school_code": person.school_code,
        "school_name": person.school_name,
        "district": person.district,
        "active": person.active,
    }


def _line(person: PersonListing, lang: str) -> str:
    where = f"{person.school_code} {person.school_name}" if person.school_code else person.district or t(lang, "people.city_wide")
    if person.school_code and person.district:
        where += f" ({person.district})"
    state = t(lang, "people.p3_cli_active" if person.active else "people.p3_cli_inactive")
    role = t(lang, f"people.role_{person.role}")
    return "\t".join((str(person.telegram_id), person.name, role, where, state))


def _fail(lang: str, key: str, **values: object) -> None:
    print("schoolbot people: " + t(lang, key, **values), file=sys.stderr)


async def _list(settings: Settings, role: str | None, district: str | None, inactive: bool) -> list[PersonListing]:
    db = Database(settings.database_url)
    try:
        await db.migrate()
        async with db.session() as session:
            district_id = (await district_named(session, district)).id if district is not None else None
            return await list_people(session, roles=[role] if role else [], district_id=district_id, include_inactive=inactive)
    finally:
        await db.dispose()


async def _deactivate(settings: Settings, telegram_id: int) -> tuple[Deactivation, PersonListing | None]:
    db = Database(settings.database_url)
    try:
        await db.migrate()
        async with db.session() as session:
            outcome, person = await deactivate_person(
                session,
                SystemClock(settings.timezone).now(),
                actor=None,
                telegram_id=telegram_id,
                admin_ids=settings.admin_ids,
            )
            if person is None:
                return outcome, None
            await session.flush()
            (listing,) = await list_people(session, telegram_id=telegram_id, include_inactive=True)
            return outcome, listing
    finally:
        await db.dispose()


def _deactivate_one(args: argparse.Namespace, settings: Settings) -> int:
    lang = args.lang
    if args.role or args.district or args.inactive or args.json:
        _fail(lang, "people.p3_cli_deactivate_alone")
        return 2
    telegram_id = parse_telegram_id(args.deactivate)
    if telegram_id is None:
        _fail(lang, "people.p3_cli_bad_id", value=args.deactivate)
        return 2
    outcome, person = asyncio.run(_deactivate(settings, telegram_id))
    if person is None:
        _fail(lang, "people.p3_cli_nobody", telegram_id=telegram_id)
        return 1
    if outcome is Deactivation.PROTECTED:
        _fail(lang, "people.p3_cli_protected", telegram_id=telegram_id, name=person.name)
        return 1
    done = "people.p3_cli_already" if outcome is Deactivation.ALREADY else "people.p3_cli_deactivated"
    print(f"{_line(person, lang)}\n{t(lang, done)}")
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.deactivate is not None:
        return _deactivate_one(args, settings)
    lang = args.lang
    try:
        people = asyncio.run(_list(settings, args.role, args.district, args.inactive))
    except UnknownDistrict as exc:
        known = t(lang, "summary.list_separator").join(exc.known) or t(lang, "people.p3_cli_no_districts")
        _fail(lang, "people.p3_cli_unknown_district", name=exc.name, known=known)
        return 1
    if args.json:
        print(json.dumps([_record(p) for p in people], ensure_ascii=False, indent=2))
    else:
        for person in people:
            print(_line(person, lang))
        print(t(lang, "people.p3_cli_count", count=len(people)), file=sys.stderr)
    return 0
