"""Checking a roster's rows: the columns, the school codes, areas and programmes, and why a line is refused.

Pure (no database, no file formats): ``bot.office.roster`` reads CSV or XLSX
into (line number, cells) and hands the table to ``check_rows``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from bot.core.i18n import t
from storage.models import Area

COLUMNS = ("code", "name", "district", "area", "programmes")
# Columns a roster may have; without one, what the database holds is left as it is.
OPTIONAL_COLUMNS = ("site_area_mu",)


# Lengths of the database columns (storage/models/core.py).
CODE_MAX, NAME_MAX, DISTRICT_MAX = 32, 200, 100
# A school farm of a hundred thousand mu is a typing error (NUMERIC(10, 2) holds far more).
SITE_AREA_MAX = Decimal(100000)
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
    # The land area of the school's labour-practice site, in mu (the year-end report's 占地面积).
    "site_area_mu": "site_area_mu",
    "site_area": "site_area_mu",
    "占地面积(亩)": "site_area_mu",
    "占地面积": "site_area_mu",
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


@dataclass(frozen=True)
class RosterRow:
    """One valid school from a roster file; ``line`` is where it was in the file."""

    line: int
    code: str
    name: str
    district: str
    area: str
    programmes: tuple[str, ...]
    # 占地面积（亩）; ``has_site_area`` is False when the file has no such column (keep what is stored).
    site_area_mu: Decimal | None = None
    has_site_area: bool = False


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
        return t(lang, "roster.line", line=f"{self.line:,}", reason=self.reason(lang))

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


def refuse(line: int, key: str, **params: Any) -> RosterInvalid:
    return RosterInvalid([RowError(line, key, params)])


def normalise_code(text: str) -> str:
    """School codes compare after NFKC (full-width ``ＨＢ００１`` → ``HB001``), trimming and upper-casing."""
    return unicodedata.normalize("NFKC", text).strip().upper()


def header_key(cell: str) -> str | None:
    return _HEADER_ALIASES.get(unicodedata.normalize("NFKC", cell).strip().lower())


def check_rows(table: Sequence[tuple[int, list[str]]], allowed: frozenset[str], *, strict_width: bool) -> list[RosterRow]:
    """The roster's schools, every row checked; ``RosterInvalid`` naming every bad line if any is."""
    table = [(line, cells) for line, cells in table if any(cell.strip() for cell in cells)]
    if not table:
        raise refuse(1, "roster.file.empty")
    header_line, header = table[0]
    columns = _columns(header_line, header)
    if len(table) == 1:
        raise refuse(header_line, "roster.file.no_rows")
    width = max(index for index, cell in enumerate(header) if cell.strip()) + 1
    rows: list[RosterRow] = []
    errors: list[RowError] = []
    first_seen: dict[str, int] = {}
    for line, cells in table[1:]:
        values = {column: cells[index].strip() if index < len(cells) else "" for column, index in columns.items()}
        problems: list[tuple[str, dict[str, Any]]] = []
        if strict_width and any(extra.strip() for extra in cells[width:]):
            problems.append(("roster.row.extra_cells", {}))
        code = _check_code(values["code"], line, first_seen, problems)
        name, district = values["name"], values["district"]
        for column, value, limit in (("name", name, NAME_MAX), ("district", district, DISTRICT_MAX)):
            if not value:
                problems.append(("roster.row.empty", {"column": column}))
            elif len(value) > limit:
                problems.append(("roster.row.too_long", {"column": column, "limit": limit}))
        area = _check_area(values["area"], problems)
        enrolled = _check_programmes(values["programmes"], allowed, problems)
        site_area = _check_site_area(values.get("site_area_mu", ""), problems)
        if problems:
            errors.extend(RowError(line, key, params) for key, params in problems)
            continue
        assert area is not None  # no problems means the area was recognised
        rows.append(
            RosterRow(
                line,
                code,
                name,
                district,
                area.value,
                tuple(sorted(enrolled)),
                site_area_mu=site_area,
                has_site_area="site_area_mu" in columns,
            )
        )
    if errors:
        raise RosterInvalid(errors)
    return rows


Problems = list[tuple[str, dict[str, Any]]]


def _columns(header_line: int, header: Sequence[str]) -> dict[str, int]:
    """Where each known column is in the header row; ``RosterInvalid`` for a duplicate or missing one."""
    columns: dict[str, int] = {}
    errors: list[RowError] = []
    for index, cell in enumerate(header):
        key = header_key(cell)
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
    return columns


def _check_code(raw: str, line: int, first_seen: dict[str, int], problems: Problems) -> str:
    code = normalise_code(raw)
    if not code:
        problems.append(("roster.row.empty", {"column": "code"}))
    elif len(code) > CODE_MAX or not _CODE.match(code):
        problems.append(("roster.row.bad_code", {"code": code, "limit": CODE_MAX}))
    elif code in first_seen:
        problems.append(("roster.row.duplicate_code", {"code": code, "first_line": first_seen[code]}))
    else:
        first_seen[code] = line
    return code


def _check_area(raw: str, problems: Problems) -> Area | None:
    area = _AREA_ALIASES.get(unicodedata.normalize("NFKC", raw).strip().lower())
    if not raw:
        problems.append(("roster.row.empty", {"column": "area"}))
    elif area is None:
        problems.append(("roster.row.unknown_area", {"value": raw}))
    return area


_AREA_UNIT = re.compile(r"\s*(亩|mu)$")


def _check_site_area(raw: str, problems: Problems) -> Decimal | None:
    """``25``, ``25.5亩``, ``1,200`` → mu (two places); empty → None (not known)."""
    text = _AREA_UNIT.sub("", unicodedata.normalize("NFKC", raw).strip().lower()).replace(",", "")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or not 0 <= value <= SITE_AREA_MAX:
        problems.append(("roster.row.bad_site_area", {"value": raw, "limit": SITE_AREA_MAX}))
        return None
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _check_programmes(raw: str, allowed: frozenset[str], problems: Problems) -> set[str]:
    enrolled: set[str] = set()
    for item in _PROGRAMME_SEPARATORS.split(raw):
        if not item:
            continue
        programme = unicodedata.normalize("NFKC", item).lower()
        programme = _PROGRAMME_ALIASES.get(programme, programme)
        if programme in allowed:
            enrolled.add(programme)
        else:
            problems.append(("roster.row.unknown_programme", {"value": item, "known": ", ".join(sorted(allowed))}))
    return enrolled
