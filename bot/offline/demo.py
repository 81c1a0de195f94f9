"""Demo data: the districts and schools of the 2007 work-study report, and people to play.

The roster (``bot/offline/demo/roster.csv``) names the four districts of Huaibei the
office's 2007 year-end report mentions (濉溪县, 杜集区, 烈山区, 相山区), the
eight labour-practice pilot schools it names (双堆集镇邹圩小学, 张庄中学...),
周大庄小学, and plausible others: 31 schools. Scaled down from the report:
the urban schools take part in the milk programme, most schools carry
liability insurance, the pilots run farms. It goes through the same
``parse_roster``/``import_roster`` as an office's own file.

Usage::

    await load_demo(db, now)                # roster + people + a year of reports
    user = demo_user("principal")           # who to be in ``schoolbot console --as principal``

Everything here is idempotent: loading twice changes nothing the second time.

Demo and real data never mix:

- seeding refuses a database that holds any school the demo roster does not name
  (:class:`NotADemoDatabase`, "这个数据库已有 N 所学校，演示数据不会写入"), before
  writing anything;
- demo people have Telegram ids Telegram cannot issue. Telegram user ids have at
  most 52 significant bits (its Bot API docs: "a 64-bit integer or double-precision
  float type are safe"), so every id from :data:`DEMO_ID_BASE` = 5·10^15 > 2^52 up
  is free for the demo, and a demo person can never be somebody real.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.office.roster import ImportResult, RosterRow, import_roster, parse_roster
from bot.core.catalogue import Catalogue, load_catalogue
from storage.db import Database
from storage.models import Person, Role
from storage.people import any_person_by_telegram_id
from storage.schools import school_by_code, school_codes

__all__ = [
    "DEMO_ID_BASE",
    "DEMO_ROSTER",
    "DEMO_USERS",
    "DemoLoad",
    "DemoRoster",
    "DemoUser",
    "NotADemoDatabase",
    "demo_user",
    "is_demo_id",
    "load_demo",
    "load_demo_people",
    "load_demo_roster",
    "migrate_for_demo",
    "refuse_foreign_roster",
]

DEMO_ROSTER = Path(__file__).with_name("demo") / "roster.csv"

# Telegram issues user ids below 2**52; demo ids start above it, at a round number that reads
# as a demo id (5000000000010001 is the demo principal, 10001 being the old id's tail).
DEMO_ID_BASE = 5 * 10**15


def is_demo_id(telegram_id: int) -> bool:
    """Whether ``telegram_id`` is in the demo's range, which Telegram never issues."""
    return telegram_id >= DEMO_ID_BASE


class NotADemoDatabase(RuntimeError):
    """The database holds schools that are not the demo's: seeding it would mix demo and real data."""

    def __init__(self, schools: int) -> None:
        super().__init__(f"the database already has {schools} schools; the demo data is not written")
        self.schools = schools


@dataclass(frozen=True)
class DemoUser:
    """A person of the demo: ``key`` is what ``console --as`` accepts."""

    key: str
    telegram_id: int
    name: str
    role: Role
    school_code: str | None = None


DEMO_USERS: tuple[DemoUser, ...] = (
    # A rural farm pilot (harvest + insurance forms).
    DemoUser("principal", DEMO_ID_BASE + 10001, "王建国", Role.PRINCIPAL, "HB-SX-001"),
    # An urban milk-programme school (milk + insurance forms).
    DemoUser("principal2", DEMO_ID_BASE + 10002, "李红梅", Role.PRINCIPAL, "HB-XS-003"),
    DemoUser("staff", DEMO_ID_BASE + 20001, "张老师", Role.STAFF),
    DemoUser("admin", DEMO_ID_BASE + 90001, "陈主任", Role.ADMIN),
)


def demo_user(key: str) -> DemoUser:
    """The demo person called ``key`` (principal, principal2, staff, admin); KeyError otherwise."""
    for user in DEMO_USERS:
        if user.key == key:
            return user
    raise KeyError(f"no demo user {key!r}; choose one of {', '.join(u.key for u in DEMO_USERS)}")


@dataclass(frozen=True)
class DemoRoster:
    """The demo schools as loaded, and what loading them changed."""

    schools: tuple[RosterRow, ...]
    result: ImportResult

    @property
    def districts(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(school.district for school in self.schools))

    def describe(self) -> str:
        return (
            f"demo roster: {len(self.schools)} schools in {len(self.districts)} districts "
            f"({'、'.join(self.districts)}): {len(self.result.created)} new, "
            f"{len(self.result.updated)} updated, {len(self.result.unchanged)} unchanged"
        )


@dataclass(frozen=True)
class DemoLoad:
    """What ``load_demo`` did, for printing."""

    roster: DemoRoster
    people: tuple[DemoUser, ...]
    reports: str | None = None


async def refuse_foreign_roster(db: Database, rows: Sequence[RosterRow] | None = None) -> None:
    """Raise :class:`NotADemoDatabase` if the database has a school the demo roster does not name.

    The count in the message is every school there, as the office would count them.
    """
    demo_codes = {row.code for row in (rows if rows is not None else parse_roster(DEMO_ROSTER))}
    async with db.session() as session:
        codes = await school_codes(session)
    if any(code not in demo_codes for code in codes):
        raise NotADemoDatabase(len(codes))


async def migrate_for_demo(db: Database) -> None:
    """Bring ``db`` to the newest schema for the demo; :class:`NotADemoDatabase` first, before
    any write (migrations included), when it already holds a real roster."""
    if await db.current_revision() is not None:
        await refuse_foreign_roster(db)
    await db.migrate()


async def load_demo_roster(db: Database, now: datetime) -> DemoRoster:
    """Create or refresh the demo districts and schools; :class:`NotADemoDatabase` on a real roster."""
    rows = parse_roster(DEMO_ROSTER)
    await refuse_foreign_roster(db, rows)
    result = await import_roster(db, now, rows, new_districts=True)
    return DemoRoster(tuple(rows), result)


async def load_demo_people(db: Database, now: datetime) -> tuple[DemoUser, ...]:
    """Register the demo principals, staff and admin directly (no invites); needs the demo roster."""
    await refuse_foreign_roster(db)
    async with db.session() as session:
        for user in DEMO_USERS:
            school_id = None
            if user.school_code is not None:
                school = await school_by_code(session, user.school_code)
                if school is None:
                    raise RuntimeError(f"demo school {user.school_code} is missing: load the demo roster first")
                school_id = school.id
            person = await any_person_by_telegram_id(session, user.telegram_id)
            if person is None:
                person = Person(telegram_id=user.telegram_id, created_at=now)
                session.add(person)
            person.name = user.name
            person.role = user.role
            person.school_id = school_id
            person.active = True
            person.blocked = False
            # No language: the console user's Telegram language decides.
            person.language = None
    return DEMO_USERS


async def load_demo(db: Database, now: datetime, *, reports: bool = True, catalogue: Catalogue | None = None) -> DemoLoad:
    """Everything ``schoolbot demo`` loads: roster, people and about a year of reports."""
    from bot.offline.demo_reports import load_demo_reports

    roster = await load_demo_roster(db, now)
    people = await load_demo_people(db, now)
    summary = None
    if reports:
        summary = await load_demo_reports(db, now, catalogue or load_catalogue())
    return DemoLoad(roster, people, summary)
