"""The school roster: reading a CSV or XLSX list of schools and importing it.

Usage::

    rows = parse_roster(Path("schools.csv"))                  # RosterInvalid on any bad row
    result = await import_roster(db, now, rows, new_districts=False)
    print(result.summary("zh"))

A roster has one school per row under the header ``code,name,district,area,programmes``
(or ``学校代码,学校名称,区县,城乡,项目``); extra columns such as a note are ignored.
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
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.core.catalogue import Catalogue, load_catalogue
from bot.core.i18n import t
from storage.db import Database
from storage.models import Area, District, School
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

COLUMNS = ("code", "name", "district", "area", "programmes")

# Programmes the office runs whether or not a catalogue form asks about them.
BASE_PROGRAMMES = frozenset({"farm", "milk", "insurance"})

# Lengths of the database columns (storage/models/core.py).
CODE_MAX, NAME_MAX, DISTRICT_MAX = 32, 200, 100
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9._-]*$")

_HEADER_ALIASES = {
    "code": "code",
    "学校代码": "code",
    "代码": "code",
    "name": "name",
    "学校名称": "name",
    "名称": "name",
    "district": "district",
    "区县": "district",
    "县区": "district",
    "area": "area",
    "城乡": "area",
    "programmes": "programmes",
    "programme": "programmes",
    "项目": "programmes",
}
_AREA_ALIASES = {
    "urban": Area.URBAN,
    "城区": Area.URBAN,
    "城市": Area.URBAN,
    "市区": Area.URBAN,
    "rural": Area.RURAL,
    "农村": Area.RURAL,
    "乡村": Area.RURAL,
}
# Chinese names clerks type for the three standing programmes.
_PROGRAMME_ALIASES = {
    "学生奶": "milk",
    "学生饮用奶": "milk",
    "饮用奶": "milk",
    "校方责任险": "insurance",
    "责任险": "insurance",
    "劳动实践基地": "farm",
    "劳动实践场所": "farm",
}
# The documented separator is ";"; the others are what people type when they forget.
_PROGRAMME_SEPARATORS = re.compile(r"[;；,，、\s]+")
_DELIMITERS = (",", "\t", ";")
_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True)
class RosterRow:
    """One valid school from a roster file; ``line`` is where it was in the file."""

    line: int
    code: str
    name: str
    district: str
    area: str
    programmes: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class RowError:
    """Why one line of a roster is refused: an i18n key under ``roster.`` and its parameters."""

    line: int
    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def reason(self, lang: str | None = "en") -> str:
        return t(lang, self.key, **self.params)

    def message(self, lang: str | None = "en") -> str:
        """``line 7: unknown area 'town'`` (or ``第 7 行：……``)."""
        return t(lang, "roster.line", line=self.line, reason=self.reason(lang))

    def __str__(self) -> str:
        return self.message("en")

    def __repr__(self) -> str:
        return f"RowError({self.message('en')!r})"


class RosterInvalid(ValueError):
    """The roster has bad rows; nothing was (or will be) imported."""

    def __init__(self, errors: Iterable[RowError]) -> None:
        self.errors = sorted(errors, key=lambda error: error.line)
        super().__init__("; ".join(map(str, self.errors)))

    def messages(self, lang: str | None = "en") -> list[str]:
        return [error.message(lang) for error in self.errors]


def _refuse(line: int, key: str, **params: Any) -> RosterInvalid:
    return RosterInvalid([RowError(line, key, params)])


def normalise_code(text: str) -> str:
    """School codes compare after NFKC (full-width ``ＨＢ００１`` → ``HB001``), trimming and upper-casing."""
    return unicodedata.normalize("NFKC", text).strip().upper()


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
        raise _refuse(1, "roster.file.old_xls")
    elif suffix in (".xlsx", ".xlsm") and data.strip():
        raise _refuse(1, "roster.file.bad_xlsx")
    else:
        table, from_csv = _read_csv(data), True
    return _check_rows(table, allowed, strict_width=from_csv)


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _decode(data: bytes) -> str:
    """UTF-8 (BOM or not), else GB18030; anything else is refused naming the line."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _refuse(1, "roster.file.utf16")
    nul = data.find(b"\x00")
    if nul >= 0:
        # UTF-16 without a BOM puts a NUL beside every ASCII letter; anything else with NULs is binary.
        head = data[:200]
        if head.count(b"\x00") * 3 >= len(head):
            raise _refuse(1, "roster.file.utf16")
        raise _refuse(_line_of(data, nul), "roster.file.binary")
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
        raise _refuse(
            _line_of(data, utf8_error.start), "roster.file.bad_encoding", byte=f"0x{data[utf8_error.start]:02X}"
        )
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise _refuse(_line_of(data, exc.start), "roster.file.bad_encoding", byte=f"0x{data[exc.start]:02X}") from None


def _header_key(cell: str) -> str | None:
    return _HEADER_ALIASES.get(unicodedata.normalize("NFKC", cell).strip().lower())


def _read_csv(data: bytes) -> list[tuple[int, list[str]]]:
    text = _decode(data)
    if not text.strip():
        raise _refuse(1, "roster.file.empty")
    first = next(line for line in text.splitlines() if line.strip())
    # Excel in some locales saves ";"- or tab-separated "CSV": take the delimiter that finds the most columns.
    delimiter = max(
        _DELIMITERS,
        key=lambda d: sum(1 for cell in next(csv.reader([first], delimiter=d)) if _header_key(cell)),
    )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    table: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            table.append((start, cells))
            start = reader.line_num + 1
    except csv.Error:
        raise _refuse(start, "roster.row.bad_csv") from None
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
        raise _refuse(1, "roster.file.bad_xlsx") from None
    try:
        # The first sheet: the one a clerk sees on top when the file opens.
        sheet = workbook.worksheets[0]
        return [
            (number, [_cell_text(value) for value in row])
            for number, row in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
    except Exception:  # noqa: BLE001 - see above
        raise _refuse(1, "roster.file.bad_xlsx") from None
    finally:
        workbook.close()


# --- checking the rows -------------------------------------------------------------------


def _check_rows(
    table: Sequence[tuple[int, list[str]]], allowed: frozenset[str], *, strict_width: bool
) -> list[RosterRow]:
    table = [(line, cells) for line, cells in table if any(cell.strip() for cell in cells)]
    if not table:
        raise _refuse(1, "roster.file.empty")
    header_line, header = table[0]
    columns: dict[str, int] = {}
    errors: list[RowError] = []
    for index, cell in enumerate(header):
        key = _header_key(cell)
        if key is None:
            continue
        if key in columns:
            errors.append(RowError(header_line, "roster.header.duplicate", {"column": key}))
        columns[key] = columns.get(key, index)
    missing = [column for column in COLUMNS if column not in columns]
    if missing:
        errors.append(RowError(header_line, "roster.header.missing", {"columns": ", ".join(missing)}))
    if errors:
        raise RosterInvalid(errors)
    if len(table) == 1:
        raise _refuse(header_line, "roster.file.no_rows")
    width = max(index for index, cell in enumerate(header) if cell.strip()) + 1

    rows: list[RosterRow] = []
    first_seen: dict[str, int] = {}
    for line, cells in table[1:]:
        values = {column: cells[index].strip() if index < len(cells) else "" for column, index in columns.items()}
        problems: list[tuple[str, dict[str, Any]]] = []
        if strict_width and any(extra.strip() for extra in cells[width:]):
            problems.append(("roster.row.extra_cells", {}))
        code = normalise_code(values["code"])
        name, district = values["name"], values["district"]
        if not code:
            problems.append(("roster.row.empty", {"column": "code"}))
        elif len(code) > CODE_MAX or not _CODE.match(code):
            problems.append(("roster.row.bad_code", {"code": code, "limit": CODE_MAX}))
        elif code in first_seen:
            problems.append(("roster.row.duplicate_code", {"code": code, "first_line": first_seen[code]}))
        else:
            first_seen[code] = line
        for column, value, limit in (("name", name, NAME_MAX), ("district", district, DISTRICT_MAX)):
            if not value:
                problems.append(("roster.row.empty", {"column": column}))
            elif len(value) > limit:
                problems.append(("roster.row.too_long", {"column": column, "limit": limit}))
        raw_area = values["area"]
        area = _AREA_ALIASES.get(unicodedata.normalize("NFKC", raw_area).strip().lower())
        if not raw_area:
            problems.append(("roster.row.empty", {"column": "area"}))
        elif area is None:
            problems.append(("roster.row.unknown_area", {"value": raw_area}))
        enrolled: set[str] = set()
        for item in _PROGRAMME_SEPARATORS.split(values["programmes"]):
            if not item:
                continue
            programme = unicodedata.normalize("NFKC", item).lower()
            programme = _PROGRAMME_ALIASES.get(programme, programme)
            if programme in allowed:
                enrolled.add(programme)
            else:
                problems.append(("roster.row.unknown_programme", {"value": item, "known": ", ".join(sorted(allowed))}))
        if problems:
            errors.extend(RowError(line, key, params) for key, params in problems)
            continue
        assert area is not None  # no problems means the area was recognised
        rows.append(RosterRow(line, code, name, district, area.value, tuple(sorted(enrolled))))
    if errors:
        raise RosterInvalid(errors)
    return rows


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
            raise RosterInvalid(
                RowError(row.line, "roster.row.unknown_district", {"district": row.district}) for row in unknown
            )
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
