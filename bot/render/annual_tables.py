"""The year-end draft's district tables: schools expected and reported, and each programme's figures.

One row per district (the city first, unless the draft is one district's), figures
folded over the year by their fields' rules as in the text; a district that
reported nothing shows 未报, never 0. Site areas come from the roster.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from bot.core.aggregation import Fold
from bot.core.i18n import t
from bot.core.numbers import format_number, format_wan
from bot.office.annual import Annual, FormYear
from bot.office.summary import Stats

__all__ = ["Table", "amount", "farm_table", "insurance_table", "milk_table"]


@dataclass(frozen=True)
class Table:
    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    # Printed under the table: why its district rows need not add up to the city's.
    note: str = ""


def _rounded(value: Decimal) -> Decimal:
    return value if value == value.to_integral_value() else value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def amount(value: Decimal | int | None, unit_key: str, lang: str) -> str:
    """``3.5万元`` as the seed writes it / ``35,000 yuan``; 未报 for None."""
    if value is None:
        return t(lang, "annual.not_reported")
    number = _rounded(Decimal(value))
    return t(lang, unit_key, n=format_wan(number) if lang == "zh" else format_number(number, lang))


def _cell(value: Decimal | None, lang: str) -> str:
    """A table cell: the number with separators (the unit is in the header), 未报 for None."""
    return t(lang, "annual.not_reported") if value is None else format_number(_rounded(value), lang)


def _rows(annual: Annual, year: FormYear) -> list[tuple[Stats, int | None]]:
    """(stats, district id) per row: the city first for a city-wide draft, then each district."""
    rows: list[tuple[Stats, int | None]] = [] if annual.scope else [(year.total.city, None)]
    return rows + [(d, d.district_id) for d in year.total.districts]


def _name(stats: Stats, lang: str) -> str:
    return stats.name or t(lang, "annual.city")


def _header(lang: str, *keys: str) -> tuple[str, ...]:
    return tuple(t(lang, f"annual.col_{key}") for key in keys)


def farm_table(annual: Annual, lang: str) -> Table:
    """Sites and their land area (roster), schools that filed harvests and their income, per district."""
    sites = {d.district_id: d for d in annual.farm.sites.districts}
    year = annual.farm.year
    stats = {d.district_id: d for d in year.total.districts} if year is not None else {}
    order = sorted(set(sites) | set(stats), key=lambda i: (sites[i].district if i in sites else stats[i].name, i))
    keys: list[int | None] = list(order) if annual.scope else [None, *order]
    rows = []
    for district_id in keys:
        if district_id is None:
            chosen = annual.farm.sites.districts
            name = t(lang, "annual.city")
        else:
            chosen = tuple(d for d in annual.farm.sites.districts if d.district_id == district_id)
            name = sites[district_id].district if district_id in sites else stats[district_id].name
        count = sum(d.sites for d in chosen)
        known = sum(d.with_area for d in chosen)
        area = sum((d.area for d in chosen), Decimal(0))
        if not known:
            area_cell = t(lang, "annual.not_given")
        elif known < count:
            area_cell = t(lang, "annual.area_partial", area=_cell(area, lang), count=count - known)
        else:
            area_cell = _cell(area, lang)
        if year is None:
            reported, income = "0", None
        else:
            found = year.total.city if district_id is None else stats.get(district_id)
            reported = str(found.schools_reported if found is not None else 0)
            income = year.figure("income", district_id=district_id).value if found is not None else None
        rows.append((name, str(count), area_cell, reported, _cell(income, lang)))
    header = _header(lang, "district", "sites", "site_area", "reported", "income")
    return Table(t(lang, "annual.table_farm"), header, tuple(rows))


def _figures_table(annual: Annual, year: FormYear, lang: str, caption_key: str, columns: dict[str, str]) -> Table:
    """Schools expected and reported, then the year figure of each field in ``columns``
    (field key → column key), per district."""
    rows = tuple(
        (
            _name(stats, lang),
            str(stats.schools),
            str(stats.schools_reported),
            *(_cell(year.figure(key, district_id=district_id).value, lang) for key in columns),
        )
        for stats, district_id in _rows(annual, year)
    )
    header = _header(lang, "district", "expected", "reported", *columns.values())
    return Table(t(lang, caption_key), header, rows, _apart_note(annual, year, columns, lang))


def _adds_up(year: FormYear, key: str) -> bool:
    """True when the districts' year figures of ``key`` add up to the city's (all periods alike)."""
    city = year.figure(key).value
    parts = [year.figure(key, district_id=d.district_id).value for d in year.total.districts]
    known = [v for v in parts if v is not None]
    return city is None or sum(known, Decimal(0)) == city


def _apart_note(annual: Annual, year: FormYear, columns: dict[str, str], lang: str) -> str:
    """A city-wide table's note on the columns whose districts do not add up to the city's figure: a
    mean over periods is each district's over the periods it reported, a latest semester its own latest."""
    if annual.scope or len(year.started) < 2:
        return ""
    notes = []
    for key in columns:
        field = year.form.field(key)
        if field.across_periods in (Fold.AVG, Fold.LAST) and not _adds_up(year, key):
            notes.append(t(lang, f"annual.table_note_{field.across_periods.value}", field=field.label.get(lang)))
    return t(lang, "annual.table_note", notes=t(lang, "annual.gap_separator").join(notes)) if notes else ""


def milk_table(annual: Annual, lang: str) -> Table:
    """Milk schools expected and reported, and daily drinkers (mean of the months), per district."""
    assert annual.milk.year is not None
    return _figures_table(annual, annual.milk.year, lang, "annual.table_milk", {"daily_drinkers": "drinkers"})


def insurance_table(annual: Annual, lang: str) -> Table:
    """Schools expected and reported, students insured (latest semester) and premiums, per district."""
    assert annual.insurance.year is not None
    columns = {"students_insured": "insured", "premium": "premium"}
    return _figures_table(annual, annual.insurance.year, lang, "annual.table_insurance", columns)
