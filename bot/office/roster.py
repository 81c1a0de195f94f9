"""The school roster: reading a CSV or XLSX list of schools and importing it.

Usage::

    rows = parse_roster(Path("schools.csv"))                  # RosterInvalid on any bad row
    result = await import_roster(db, now, rows, new_districts=False)
    print(result.summary("zh"))

A roster has one school per row under the header ``code,name,district,area,programmes``
(or ``学校代码,学校名称,区县,城乡,项目``) and, optionally, ``占地面积（亩）`` (``site_area_mu``:
the land area of the school's labour-practice site, which the year-end report quotes);
extra columns such as a note are ignored.
``area`` is ``urban``/``rural`` (``城区``/``农村``...), ``programmes`` a ``;``-separated
list such as ``milk;insurance``. CSV may be UTF-8 (with or without BOM) or
GB18030, which is what Chinese Excel saves.

Every row is checked before anything is written, and a file with any bad row
imports nothing: ``RosterInvalid.errors`` names every bad line and why, as i18n
keys, so the CLI and a chat upload show the same reasons. ``parse_roster`` is
pure (no database); ``plan_roster`` says what an import would change (a chat
upload's preview); ``import_roster`` adds the one check that needs the database
(is the district known? — only once the database has districts: a first import
creates them) and writes all schools in one transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.catalogue import Catalogue, load_catalogue
from bot.core.i18n import t
from bot.office.roster_rows import (
    COLUMNS,
    RosterInvalid,
    RosterRow,
    RowError,
    check_rows,
    normalise_code,
)
from bot.office.roster_files import read_table
from storage.db import Database
from storage.models import District, School, SchoolProgramme
from storage.people import audit
from storage.schools import all_districts, all_schools, ensure_district

__all__ = [
    "BASE_PROGRAMMES",
    "COLUMNS",
    "Change",
    "ImportResult",
    "PlanChanged",
    "RosterPlan",
    "RosterInvalid",
    "RosterRow",
    "RowError",
    "import_roster",
    "known_programmes",
    "normalise_code",
    "parse_roster",
    "plan_roster",
]

# Programmes the office runs whether or not a catalogue form asks about them.
BASE_PROGRAMMES = frozenset({"farm", "milk", "insurance"})


def known_programmes(catalogue: Catalogue | None = None) -> frozenset[str]:
    """Programmes a school may be enrolled in: those catalogue forms ask about, plus the standing ones."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    return BASE_PROGRAMMES | {form.programme for form in catalogue if form.programme}


def parse_roster(
    source: Path | str | bytes,
    filename: str | None = None,
    *,
    programmes: Collection[str] | None = None,
    max_rows: int | None = None,
) -> list[RosterRow]:
    """Read and check a roster file (path or uploaded bytes); RosterInvalid lists every bad row.

    ``programmes`` is the allowed programme set (default: ``known_programmes()``);
    ``max_rows`` refuses a file with more schools (None: no limit). The format is
    recognised from the content (``bot.office.roster_files``), ``filename`` only
    sharpens the message for a damaged workbook. Raises OSError if a path cannot be read.
    """
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        data = path.read_bytes()
        filename = filename or path.name
    allowed = frozenset(programmes) if programmes is not None else known_programmes()
    table, from_csv = read_table(data, filename, max_rows)
    return check_rows(table, allowed, strict_width=from_csv)


# --- what an import would change, and writing it ------------------------------------------

# Flush and tell the progress callback after this many schools written.
PROGRESS_EVERY = 1_000
Progress = Callable[[int, int], Awaitable[None]]


@dataclass(frozen=True)
class Change:
    """An existing school the roster changes: each field as it is and as it will be."""

    code: str
    name: str
    fields: tuple[tuple[str, str, str], ...]  # (column, before, after)


@dataclass(frozen=True)
class RosterPlan:
    """What importing the rows would do, decided before anything is written."""

    created: tuple[RosterRow, ...]
    changed: tuple[Change, ...]
    unchanged: tuple[str, ...]
    new_districts: tuple[str, ...]
    # Districts the database has now: none means a first import, which creates its districts.
    known_districts: tuple[str, ...]

    def digest(self) -> str:
        """A short fingerprint of exactly these changes (a confirm button names the plan it confirms)."""
        body = json.dumps(
            [
                [[row.code, row.name, row.district, row.area, list(row.programmes)] for row in self.created],
                [[change.code, [list(f) for f in change.fields]] for change in self.changed],
                list(self.new_districts),
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(body.encode()).hexdigest()[:16]


class PlanChanged(Exception):
    """The schools on record changed since the preview was shown: ``plan`` is what an import would do now."""

    def __init__(self, plan: RosterPlan) -> None:
        super().__init__(plan.digest())
        self.plan = plan


@dataclass(frozen=True)
class ImportResult:
    """What an import changed, by school code."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    new_districts: tuple[str, ...] = ()

    def summary(self, lang: str | None = "en") -> str:
        """``roster imported: 3 new, 1 updated, 26 unchanged.``"""
        districts = t(lang, "roster.new_districts", names="、".join(self.new_districts)) if self.new_districts else ""
        return t(
            lang,
            "roster.imported",
            created=len(self.created),
            updated=len(self.updated),
            unchanged=len(self.unchanged),
            new_districts=districts,
        )


def _changes(school: School, row: RosterRow) -> tuple[tuple[str, str, str], ...]:
    now = (row.name, row.district, row.area, ";".join(row.programmes))
    was = (school.name, school.district.name, school.area, ";".join(sorted(school.programme_set)))
    changes = [(column, before, after) for column, before, after in zip(COLUMNS[1:], was, now) if before != after]
    if row.has_site_area and school.site_area_mu != row.site_area_mu:
        changes.append(("site_area_mu", _area_text(school.site_area_mu), _area_text(row.site_area_mu)))
    return tuple(changes)


def _area_text(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize(), "f")


def _plan(rows: Sequence[RosterRow], districts: Collection[str], existing: dict[str, School]) -> RosterPlan:
    codes = [row.code for row in rows]
    if len(set(codes)) != len(codes):
        raise ValueError("rows repeat a school code; parse_roster refuses such a file")
    created: list[RosterRow] = []
    changed: list[Change] = []
    unchanged: list[str] = []
    for row in rows:
        school = existing.get(row.code)
        if school is None:
            created.append(row)
        elif fields := _changes(school, row):
            changed.append(Change(row.code, school.name, fields))
        else:
            unchanged.append(row.code)
    new = tuple(dict.fromkeys(row.district for row in rows if row.district not in districts))
    return RosterPlan(tuple(created), tuple(changed), tuple(unchanged), new, tuple(sorted(districts)))


async def plan_roster(db: Database, rows: Sequence[RosterRow]) -> RosterPlan:
    """What importing ``rows`` would change (nothing is written): the preview of a chat upload."""
    async with db.session() as session:
        districts = [district.name for district in await all_districts(session)]
        existing = {school.code: school for school in await all_schools(session)}
        return _plan(rows, districts, existing)


def _unknown_districts(rows: Sequence[RosterRow], new: Collection[str]) -> RosterInvalid:
    return RosterInvalid(
        RowError(row.line, "roster.row.unknown_district", {"district": row.district}) for row in rows if row.district in new
    )


async def import_roster(
    db: Database,
    now: datetime,
    rows: Sequence[RosterRow],
    *,
    new_districts: bool = False,
    actor: int | None = None,
    progress: Progress | None = None,
    source: str = "cli",
    expect: str | None = None,
) -> ImportResult:
    """Create or update every school of ``rows`` in one transaction (idempotent).

    Into a database with no district yet (a first import) the districts are
    created; into one that has districts, a district it does not know is a bad
    row (most likely a typo) unless ``new_districts`` allows creating it: then
    RosterInvalid is raised and nothing is written. Schools missing from
    ``rows`` are left as they are. ``progress(done, total)`` hears every
    ``PROGRESS_EVERY`` schools written. ``expect`` is the ``RosterPlan.digest``
    the admin confirmed: if the changes are no longer those, ``PlanChanged``
    carries the current plan and nothing is written.
    """
    async with db.session() as session:
        districts = {district.name: district for district in await all_districts(session)}
        existing = {school.code: school for school in await all_schools(session)}
        plan = _plan(rows, districts, existing)
        if expect is not None and plan.digest() != expect:
            raise PlanChanged(plan)
        if plan.new_districts and plan.known_districts and not new_districts:
            raise _unknown_districts(rows, plan.new_districts)
        for name in plan.new_districts:
            districts[name] = await ensure_district(session, name)
        by_code = {row.code: row for row in rows}
        # Untouched schools are not written, so updated_at keeps saying when a school last really changed.
        writes = [*plan.created, *(by_code[change.code] for change in plan.changed)]
        for done, row in enumerate(writes, start=1):
            _write(session, now, existing.get(row.code), row, districts[row.district])
            if done % PROGRESS_EVERY == 0 or done == len(writes):
                await session.flush()
                if progress is not None:
                    # Told inside the transaction: an admin's import is rare, and a large one
                    # should say how far it got rather than leave the chat silent.
                    await progress(done, len(writes))
        created = tuple(row.code for row in plan.created)
        updated = tuple(change.code for change in plan.changed)
        audit(
            session,
            now,
            actor,
            "roster.imported",
            None,
            created=len(created),
            updated=len(updated),
            unchanged=len(plan.unchanged),
            new_districts=list(plan.new_districts),
            source=source,
        )
    return ImportResult(created, updated, plan.unchanged, plan.new_districts)


def _write(session: AsyncSession, now: datetime, school: School | None, row: RosterRow, district: District) -> None:
    """Create ``row``'s school, or bring the loaded ``school`` in line with it (flushed by the caller)."""
    if school is None:
        school = School(code=row.code, created_at=now)
        session.add(school)
        school.programmes = [SchoolProgramme(programme=p) for p in row.programmes]
    elif school.programme_set != set(row.programmes):
        school.programmes = [SchoolProgramme(programme=p) for p in row.programmes]
    school.name = row.name
    school.district_id = district.id
    school.area = row.area
    if row.has_site_area:
        school.site_area_mu = row.site_area_mu
    school.updated_at = now
