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
pure (no database); ``import_roster`` adds the one check that needs the database
(is the district known?) and writes all schools in one transaction.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.core.catalogue import Catalogue, load_catalogue
from bot.core.i18n import t
from bot.office.roster_rows import (
    COLUMNS,
    RosterInvalid,
    RosterRow,
    RowError,
    check_rows,
    header_key,
    normalise_code,
    refuse,
)
from storage.db import Database
from storage.models import District, School
from storage.people import audit
from storage.schools import all_districts, all_schools, ensure_district, upsert_school

__all__ = [
    "BASE_PROGRAMMES",
    "COLUMNS",
    "ImportResult",
    "RosterInvalid",
    "RosterRow",
    "RowError",
    "import_roster",
    "known_programmes",
    "normalise_code",
    "parse_roster",
]

# Programmes the office runs whether or not a catalogue form asks about them.
BASE_PROGRAMMES = frozenset({"farm", "milk", "insurance"})

_DELIMITERS = (",", "\t", ";")
_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def known_programmes(catalogue: Catalogue | None = None) -> frozenset[str]:
    """Programmes a school may be enrolled in: those catalogue forms ask about, plus the standing ones."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    return BASE_PROGRAMMES | {form.programme for form in catalogue if form.programme}


# --- reading the file into (line number, cells) -------------------------------------------


def parse_roster(
    source: Path | str | bytes,
    filename: str | None = None,
    *,
    programmes: Collection[str] | None = None,
) -> list[RosterRow]:
    """Read and check a roster file (path or uploaded bytes); RosterInvalid lists every bad row.

    ``programmes`` is the allowed programme set (default: ``known_programmes()``).
    The format is recognised from the content, ``filename`` only sharpens the
    message for a damaged workbook. Raises OSError if a path cannot be read.
    """
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        data = path.read_bytes()
        filename = filename or path.name
    allowed = frozenset(programmes) if programmes is not None else known_programmes()
    suffix = Path(filename or "").suffix.lower()
    if data.startswith(_XLSX_MAGIC):
        table, from_csv = _read_xlsx(data), False
    elif data.startswith(_XLS_MAGIC):
        raise refuse(1, "roster.file.old_xls")
    elif suffix in (".xlsx", ".xlsm") and data.strip():
        raise refuse(1, "roster.file.bad_xlsx")
    else:
        table, from_csv = _read_csv(data), True
    return check_rows(table, allowed, strict_width=from_csv)


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _decode(data: bytes) -> str:
    """UTF-8 (BOM or not), else GB18030; anything else is refused naming the line."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise refuse(1, "roster.file.utf16")
    nul = data.find(b"\x00")
    if nul >= 0:
        # UTF-16 without a BOM puts a NUL beside every ASCII letter; anything else with NULs is binary.
        head = data[:200]
        if head.count(b"\x00") * 3 >= len(head):
            raise refuse(1, "roster.file.utf16")
        raise refuse(_line_of(data, nul), "roster.file.binary")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    # GB18030 decodes almost any byte soup, so a UTF-8 file with one damaged byte would turn
    # into plausible-looking nonsense (邹圩 → 閭瑰湬). GB text is hardly ever valid UTF-8 for
    # long: CJK that already read as UTF-8 before the error, or far more valid UTF-8 CJK
    # than damage overall, means "broken UTF-8".
    prefix = data[: utf8_error.start].decode("utf-8-sig")
    lenient = data.decode("utf-8", errors="replace")
    damage = lenient.count("\ufffd")
    valid_cjk = sum(1 for char in lenient if ord(char) >= 0x800) - damage
    if sum(1 for char in prefix if ord(char) >= 0x800) >= 2 or valid_cjk >= 4 * damage:
        raise refuse(_line_of(data, utf8_error.start), "roster.file.bad_encoding", byte=f"0x{data[utf8_error.start]:02X}")
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise refuse(_line_of(data, exc.start), "roster.file.bad_encoding", byte=f"0x{data[exc.start]:02X}") from None


def _read_csv(data: bytes) -> list[tuple[int, list[str]]]:
    text = _decode(data)
    if not text.strip():
        raise refuse(1, "roster.file.empty")
    first = next(line for line in text.splitlines() if line.strip())
    # Excel in some locales saves ";"- or tab-separated "CSV": take the delimiter that finds the most columns.
    delimiter = max(
        _DELIMITERS,
        key=lambda d: sum(1 for cell in next(csv.reader([first], delimiter=d)) if header_key(cell)),
    )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    table: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            table.append((start, cells))
            start = reader.line_num + 1
    except csv.Error:
        raise refuse(start, "roster.row.bad_csv") from None
    return table


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # A code typed as a number comes back as 1001.0.
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value)


def _read_xlsx(data: bytes) -> list[tuple[int, list[str]]]:
    import openpyxl  # type: ignore[import-untyped]

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - a damaged workbook fails in zipfile, lxml or openpyxl alike
        raise refuse(1, "roster.file.bad_xlsx") from None
    try:
        # The first sheet: the one a clerk sees on top when the file opens.
        sheet = workbook.worksheets[0]
        return [
            (number, [_cell_text(value) for value in row])
            for number, row in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
    except Exception:  # noqa: BLE001 - see above
        raise refuse(1, "roster.file.bad_xlsx") from None
    finally:
        workbook.close()


# --- writing to the database ----------------------------------------------------------------


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


def _same(school: School, row: RosterRow, district: District) -> bool:
    return (
        school.name == row.name
        and school.district_id == district.id
        and school.area == row.area
        and school.programme_set == set(row.programmes)
        and (not row.has_site_area or school.site_area_mu == row.site_area_mu)
    )


async def import_roster(
    db: Database,
    now: datetime,
    rows: Sequence[RosterRow],
    *,
    new_districts: bool = False,
    actor: int | None = None,
) -> ImportResult:
    """Create or update every school of ``rows`` in one transaction (idempotent).

    A district not yet in the database is a bad row unless ``new_districts``
    allows creating it; then RosterInvalid is raised and nothing is written.
    Schools missing from ``rows`` are left as they are.
    """
    codes = [row.code for row in rows]
    if len(set(codes)) != len(codes):
        raise ValueError("rows repeat a school code; parse_roster refuses such a file")
    async with db.session() as session:
        districts = {district.name: district for district in await all_districts(session)}
        unknown = [row for row in rows if row.district not in districts]
        if unknown and not new_districts:
            raise RosterInvalid(RowError(row.line, "roster.row.unknown_district", {"district": row.district}) for row in unknown)
        created_districts = list(dict.fromkeys(row.district for row in unknown))
        for name in created_districts:
            districts[name] = await ensure_district(session, name)
        existing = {school.code: school for school in await all_schools(session)}
        created: list[str] = []
        updated: list[str] = []
        unchanged: list[str] = []
        for row in rows:
            district = districts[row.district]
            school = existing.get(row.code)
            if school is not None and _same(school, row, district):
                # Untouched, so updated_at keeps saying when the school last really changed.
                unchanged.append(row.code)
                continue
            _, is_new = await upsert_school(
                session,
                now,
                code=row.code,
                name=row.name,
                district=district,
                area=row.area,
                programmes=row.programmes,
                site_area_mu=row.site_area_mu if row.has_site_area else ...,
            )
            (created if is_new else updated).append(row.code)
        audit(
            session,
            now,
            actor,
            "roster.imported",
            None,
            created=len(created),
            updated=len(updated),
            unchanged=len(unchanged),
            new_districts=created_districts,
        )
    return ImportResult(tuple(created), tuple(updated), tuple(unchanged), tuple(created_districts))
