"""The truth harness's checker of the year-end draft's figures (``annual_figures``), against the model.

Each figure by its field's rule over every period of the year (``tests.truth_checks.RULES``),
the periods it stands on, those not final (marked 【数据不全】 in the draft), the zero months a
mean leaves out, last year's figure for the year-on-year sentence, the farm sites' land area from
the roster (never the harvests' planted area), the top schools and the confirmed warnings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from bot.core.catalogue import Catalogue, Form
from tests.truth_checks import PLACES, RULES, close, expect, period_figure, rounded_mean, state
from tests.truth_world import Entry, Model, span


def year_keys(form: str, year: int) -> list[str]:
    """Every period of the form that starts in ``year``, in order."""
    return {
        "milk": [f"{year}-{m:02d}" for m in range(1, 13)],
        "insurance": [f"{year}-S1", f"{year}-S2"],
        "harvest": [f"{year}-Q{q}" for q in range(1, 5)],
    }[form]


def started(form: str, year: int, today: date) -> list[str]:
    """The form's periods that start in ``year`` and have started by ``today``, in order."""
    return [k for k in year_keys(form, year) if span(form, k)[0] <= today]


@dataclass(frozen=True)
class YearFigure:
    """A year figure as the draft must state it: the value, the periods it stands on, those not final."""

    value: Decimal | None
    periods: tuple[str, ...]
    gaps: tuple[str, ...]
    skipped: tuple[str, ...] = ()


def final(model: Model, form: Form, key: str, today: date, district: str | None) -> bool:
    """A period's reports are final: a harvest quarter once it is over; any other form once it is
    over and every expected school has reported."""
    now_state = state(form.key, key, today)
    if form.is_event:
        return now_state != "open"
    want = expect(model, form, [key], district)
    return now_state != "open" and want.expected > 0 and want.reported >= want.expected


def draft_figure(model: Model, form: Form, key: str, year: int, today: date, district: str | None = None) -> YearFigure:
    """The field's year figure by its rule over every period of the year; a mean leaves out the
    periods whose figure is 0 (no milk served in August) and names them; the latest semester's
    head count stands on that semester and the ones after it."""
    periods = year_keys(form.key, year)
    places = PLACES[form.field(key).type]
    figures = {p: period_figure(model, form.key, key, p, district, places) for p in periods}
    rule = RULES[form.key][key][1]
    skipped = tuple(p for p in periods if rule == "avg" and figures[p] == 0)
    known = {p: f for p, f in figures.items() if f is not None and p not in skipped}
    used = [p for p in periods if p not in skipped]
    value: Decimal | None = None
    if known and rule == "sum":
        value = sum(known.values(), Decimal(0))
    elif known and rule == "avg":
        value = rounded_mean(list(known.values()), places)
    elif rule == "avg" and skipped:
        value = Decimal(0)  # every month with a figure was 0: nothing served, which is 0, not 未报
    elif known:
        latest = [p for p in periods if p in known][-1]
        value, used = known[latest], periods[periods.index(latest) :]
    gaps = tuple(p for p in used if not final(model, form, p, today, district))
    return YearFigure(value, tuple(used), gaps, skipped)


def number(entry: Entry, key: str) -> Decimal | None:
    value = entry.values.get(key)
    return value if isinstance(value, Decimal) else None


def check_figure(got: Any, want: YearFigure, where: str) -> None:
    """A draft Figure: its value, the periods it stands on, those it marks 数据不全, those left out."""
    close(got.value, want.value, where)
    keys = tuple(c.period.key for c in got.coverage)
    assert keys == want.periods, f"{where}: stands on {keys}, expected {want.periods}"
    gaps = tuple(c.period.key for c in got.gaps)
    assert gaps == want.gaps, f"{where}: marked incomplete for {gaps}, expected {want.gaps}"
    skipped = tuple(p.key for p in got.skipped)
    assert skipped == want.skipped, f"{where}: leaves out {skipped}, expected {want.skipped}"


def check_annual(annual: Any, model: Model, catalogue: Catalogue, year: int, today: date, district: str | None = None) -> None:
    """annual_figures for the city or a district: each figure by its rule, with its coverage and gaps,
    last year's for the comparison, the farm sites from the roster, the top schools, the flags."""
    at = f"annual {year} {district or 'city'}"
    harvest, milk, insurance = (catalogue.get(k) for k in ("harvest", "milk", "insurance"))
    for name, form, key in (
        ("farm.participants", harvest, "participants"),
        ("farm.income", harvest, "income"),
        ("milk.drinkers", milk, "daily_drinkers"),
        ("insurance.insured", insurance, "students_insured"),
        ("insurance.premium", insurance, "premium"),
    ):
        part, attribute = name.split(".")
        got = getattr(getattr(annual, part), attribute)
        check_figure(got, draft_figure(model, form, key, year, today, district), f"{at} {name}")
        assert got.previous is not None, f"{at} {name}: no figure of {year - 1} to compare with"
        check_figure(got.previous, draft_figure(model, form, key, year - 1, today, district), f"{at} {name} ({year - 1})")
    in_scope = [s for s in model.schools if district in (None, s.district)]
    farms = [s for s in in_scope if s.reports("harvest")]
    sites = annual.farm.sites
    areas = [s.site_area for s in farms if s.site_area is not None]
    assert (sites.sites, sites.unknown) == (len(farms), len(farms) - len(areas)), f"{at} farm sites"
    close(sites.area, sum(areas, Decimal(0)) if areas else None, f"{at} farm site area (the roster's, not the harvests')")
    entries = [e for e in model.counted("harvest", set(started("harvest", year, today))) if model.school(e.school) in in_scope]
    veg = [area for e in entries if e.values.get("crop") == "vegetables" and (area := number(e, "area_mu")) is not None]
    close(annual.farm.vegetables_area.value, sum(veg, Decimal(0)) if veg else None, f"{at} vegetables planted")
    incomes: dict[str, Decimal] = {}
    for e in entries:
        incomes[e.school] = incomes.get(e.school, Decimal(0)) + (number(e, "income") or Decimal(0))
    top = sorted((-v, code) for code, v in incomes.items() if v > 0)[:3]
    assert [(t.school_code, t.total) for t in annual.farm.top] == [(code, -v) for v, code in top], f"{at} top schools"
    basis = annual.insurance.insured.basis
    if basis is not None:
        reported = expect(model, insurance, [basis.key], district).schools_reported
        assert annual.insurance.schools == reported, f"{at} insurance schools: {annual.insurance.schools}, expected {reported}"
    flags = 0
    for form in (harvest, milk, insurance):
        flags += expect(model, form, started(form.key, year, today) or year_keys(form.key, year)[:1], district).flags
    assert annual.flags == flags, f"{at} flags: {annual.flags}, expected {flags}"
