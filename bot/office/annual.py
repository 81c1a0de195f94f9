"""The year-end report's figures: part 一's numbers, each with the coverage it stands on.

The office's own report (``shared/seed/2007-work-summary.txt``) quotes a few
figures per programme: farm sites and their land area, student participation
and income; schools in the milk programme and daily drinkers; schools, students
insured and premiums. Each is folded over the year's periods by its field's rule
(``Field.across_periods``: daily drinkers are the mean of the months, students
insured the latest semester, premiums the sum of the semesters) and carries the
coverage of every period it is built on, so the draft can say
"依据 1–11 月报表，其中 11 月尚未到截止日" and mark a figure whose periods are
not final (not over, not fully reported) as 【数据不全：…】.

Site land area (占地面积) is data about the sites: the roster's ``site_area_mu``,
never the sum of harvests' planted areas (种植面积).

Usage::

    annual = await annual_figures(db, catalogue, 2026, now)
    annual.milk.drinkers.value          # Decimal('1234'), or None when nobody reported
    annual.milk.drinkers.gaps           # the months whose reports are not final
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, tzinfo
from decimal import Decimal

from bot.core.aggregation import Fold, fold
from bot.core.catalogue import Catalogue, Form
from bot.core.coverage import Coverage
from bot.core.fields import Field, FieldType
from bot.core.periods import DEFAULT_TZ, Period, PeriodState, local_date, year_periods
from bot.office.summary import Rollup, Stats, rollup, rollups_by_period
from storage.db import Database
from storage.rollups import SchoolTotal, district_name, top_schools, totals_by_choice
from storage.schools import SiteAreas, site_areas

__all__ = [
    "Annual",
    "FarmFigures",
    "Figure",
    "FormYear",
    "InsuranceFigures",
    "MilkFigures",
    "SiteArea",
    "annual_figures",
]

# The year-end report's part 一 speaks of these three programmes; the forms that feed it.
FARM_FORM = "harvest"
MILK_FORM = "milk"
INSURANCE_FORM = "insurance"
FARM_PROGRAMME = "farm"


@dataclass(frozen=True)
class Figure:
    """One figure of the draft, the rule that folded it over the year and the periods behind it."""

    value: Decimal | None
    rule: Fold
    # The periods the figure stands on (for ``last``: the one quoted and any after it).
    coverage: tuple[Coverage, ...] = ()
    # Those of them whose reports are not final: the draft marks the figure 【数据不全】.
    gaps: tuple[Coverage, ...] = ()
    # Periods left out on purpose (a month no milk was served), named in the note.
    skipped: tuple[Period, ...] = ()
    # The same figure a year earlier (compared only when both years are complete).
    previous: Figure | None = None

    @property
    def complete(self) -> bool:
        """Known, and every period it stands on is final."""
        return self.value is not None and not self.gaps

    @property
    def basis(self) -> Period | None:
        """For a ``last`` figure, the period quoted."""
        return self.coverage[0].period if self.coverage and self.rule is Fold.LAST and self.value is not None else None


def _places(field: Field) -> int:
    return 0 if field.type is FieldType.INTEGER else 2


@dataclass(frozen=True)
class FormYear:
    """A form's calendar year: a roll-up per period (every period of the year) with its coverage."""

    form: Form
    year: int
    as_of: date
    by_period: Mapping[Period, Rollup]
    # Over the periods begun by ``as_of``: which schools reported at all, reports, flags.
    total: Rollup
    coverage: tuple[Coverage, ...]

    @property
    def started(self) -> tuple[Coverage, ...]:
        """The coverage of the periods begun by ``as_of``."""
        return tuple(c for c in self.coverage if c.period.start <= self.as_of)

    def is_gap(self, coverage: Coverage) -> bool:
        """Not final: a harvest (an event, filed when it happens) while its period runs; any
        other form until the period is over and every expected school has reported."""
        if self.form.is_event:
            return coverage.state is PeriodState.OPEN
        return not coverage.complete

    @property
    def complete(self) -> bool:
        """Every period of the year is final."""
        return not any(self.is_gap(c) for c in self.coverage)

    def _stats(self, period: Period, district_id: int | None) -> Stats | None:
        found = self.by_period[period]
        if district_id is None:
            return found.city
        return next((d for d in found.districts if d.district_id == district_id), None)

    def figure(self, key: str, *, district_id: int | None = None) -> Figure:
        """The field's figure for the year by its ``across_periods`` rule.

        A mean over periods leaves out periods whose figure is 0 (August, when no milk is
        served, reports 0 drinkers): they are no part of the typical month, and the
        figure names them (``skipped``). A sum is not changed by them.
        """
        field = self.form.field(key)
        skip_zero = field.across_periods is Fold.AVG
        per_period: list[Decimal | None] = []
        for coverage in self.coverage:
            stats = self._stats(coverage.period, district_id)
            # One period's figure over the schools by the field's across_schools rule (Stats.figure).
            per_period.append(stats.figure(key) if stats is not None else None)
        skipped = tuple(c.period for c, v in zip(self.coverage, per_period) if skip_zero and v == 0)
        values = [None if c.period in skipped else v for c, v in zip(self.coverage, per_period)]
        rule = field.across_periods
        used = [c for c in self.coverage if c.period not in skipped]
        if rule is Fold.LAST:
            known = [i for i, v in enumerate(values) if v is not None]
            # The latest period with a figure, and the later ones that have none yet.
            used = list(self.coverage[known[-1] :]) if known else used
        value = fold(rule, values, places=_places(field))
        return Figure(value, rule, tuple(used), tuple(c for c in used if self.is_gap(c)), skipped)

    def sum_figure(self, value: Decimal | None) -> Figure:
        """A year total computed elsewhere (planted area by crop), with this year's coverage."""
        return Figure(value, Fold.SUM, self.coverage, tuple(c for c in self.coverage if self.is_gap(c)))

    def folded(self) -> Rollup:
        """The year's roll-up (begun periods) for the chart, as the draft's text folds it: a mean
        over periods leaves out the periods whose figure is 0 (no milk served in August)."""
        zero_mean = [f.key for f in self.form.numeric_fields if f.across_periods is Fold.AVG]
        if not zero_mean:
            return self.total
        districts = tuple(self._without_zero(d, zero_mean) for d in self.total.districts)
        return replace(self.total, city=self._without_zero(self.total.city, zero_mean), districts=districts)

    def _without_zero(self, stats: Stats, keys: list[str]) -> Stats:
        district_id = stats.district_id
        skipped = {key: set(self.figure(key, district_id=district_id).skipped) for key in keys}
        periods = [c.period for c in stats.coverage]
        by_period = tuple(
            {key: value for key, value in fields.items() if period not in skipped.get(key, set())}
            for period, fields in zip(periods, stats.by_period)
        )
        return replace(stats, by_period=by_period)


async def form_year(
    db: Database, form: Form, year: int, now: datetime, tz: tzinfo = DEFAULT_TZ, *, district_id: int | None = None
) -> FormYear:
    """Roll the form's year up per period (one grouped query) and over the begun periods."""
    today = local_date(now, tz)
    periods = year_periods(form.period_cadence, year)
    by_period = await rollups_by_period(db, form, periods, now, tz, district_id=district_id)
    started = [p for p in periods if p.start <= today]
    total = await rollup(db, form, started or periods[:1], now, tz, district_id=district_id)
    # Each period's coverage as the summaries read it (bot.office.summary: state, due, who reported).
    coverage = tuple(by_period[p].coverage[0] for p in periods)
    return FormYear(form, year, today, by_period, total, coverage)


@dataclass(frozen=True)
class SiteArea:
    """The farm programme's sites and their land area (占地面积) from the roster, by district."""

    districts: tuple[SiteAreas, ...] = ()

    @property
    def sites(self) -> int:
        return sum(d.sites for d in self.districts)

    @property
    def unknown(self) -> int:
        """Sites whose roster row gave no area (the sum leaves them out)."""
        return sum(d.sites - d.with_area for d in self.districts)

    @property
    def area(self) -> Decimal | None:
        """The sum of the areas given; None when no site gave one."""
        known = [d for d in self.districts if d.with_area]
        return sum((d.area for d in known), Decimal(0)) if known else None


@dataclass(frozen=True)
class FarmFigures:
    """Labour-practice farms (劳动实践场所): sites from the roster, harvests from the reports."""

    year: FormYear | None = None
    sites: SiteArea = field(default_factory=SiteArea)
    participants: Figure = field(default_factory=lambda: Figure(None, Fold.SUM))
    income: Figure = field(default_factory=lambda: Figure(None, Fold.SUM))
    # Planted area of vegetable harvests (种植面积, not the sites' land area).
    vegetables_area: Figure = field(default_factory=lambda: Figure(None, Fold.SUM))
    top: tuple[SchoolTotal, ...] = ()


@dataclass(frozen=True)
class MilkFigures:
    """The student milk programme: schools enrolled and daily drinkers (mean of the months)."""

    year: FormYear | None = None
    drinkers: Figure = field(default_factory=lambda: Figure(None, Fold.AVG))


@dataclass(frozen=True)
class InsuranceFigures:
    """School liability insurance: students insured (latest semester) and premiums (their sum)."""

    year: FormYear | None = None
    insured: Figure = field(default_factory=lambda: Figure(None, Fold.LAST))
    premium: Figure = field(default_factory=lambda: Figure(None, Fold.SUM))

    @property
    def schools(self) -> int | None:
        """Schools that reported for the semester whose head count is quoted."""
        basis = self.insured.basis
        if self.year is None or basis is None:
            return None
        return self.year.by_period[basis].city.schools_reported


@dataclass(frozen=True)
class Annual:
    """The figures of the year-end report's part 一, for the city or one district."""

    year: int
    as_of: date
    farm: FarmFigures
    milk: MilkFigures
    insurance: InsuranceFigures
    scope: str | None = None

    @property
    def flags(self) -> int:
        """Warnings confirmed with a reason in the year's counted reports of the three forms."""
        years = (self.farm.year, self.milk.year, self.insurance.year)
        return sum(y.total.city.flags for y in years if y is not None)


def _form(catalogue: Catalogue, key: str) -> Form | None:
    try:
        return catalogue.get(key)
    except KeyError:
        return None


def _has_field(form: Form, key: str) -> bool:
    return any(f.key == key for f in form.numeric_fields)


def _with_previous(current: Figure, previous: Figure) -> Figure:
    return replace(current, previous=previous)


@dataclass(frozen=True)
class _Years:
    """A form's year and the year before (for the year-on-year sentence)."""

    this: FormYear
    last: FormYear

    def figure(self, key: str) -> Figure:
        if not _has_field(self.this.form, key):
            return Figure(None, Fold.SUM)
        return _with_previous(self.this.figure(key), self.last.figure(key))


async def _years(db: Database, form: Form | None, year: int, now: datetime, tz: tzinfo, district_id: int | None) -> _Years | None:
    if form is None:
        return None
    this = await form_year(db, form, year, now, tz, district_id=district_id)
    last = await form_year(db, form, year - 1, now, tz, district_id=district_id)
    return _Years(this, last)


async def _farm(db: Database, years: _Years | None, district_id: int | None) -> FarmFigures:
    async with db.session() as session:
        sites = SiteArea(tuple(await site_areas(session, FARM_PROGRAMME, district_id)))
    if years is None:
        return FarmFigures(sites=sites)
    form = years.this.form
    keys = [c.period.key for c in years.this.started]
    vegetables: Decimal | None = None
    top: list[SchoolTotal] = []
    async with db.session() as session:
        if _has_field(form, "area_mu") and any(f.key == "crop" for f in form.fields):
            by_crop = await totals_by_choice(session, form.key, keys, "crop", "area_mu", district_id=district_id)
            if "vegetables" in by_crop:
                vegetables = by_crop["vegetables"].total
        if _has_field(form, "income"):
            top = await top_schools(session, form.key, keys, "income", limit=3, district_id=district_id)
    return FarmFigures(
        year=years.this,
        sites=sites,
        participants=years.figure("participants"),
        income=years.figure("income"),
        vegetables_area=years.this.sum_figure(vegetables),
        top=tuple(t for t in top if t.total > 0),
    )


async def annual_figures(
    db: Database, catalogue: Catalogue, year: int, now: datetime, tz: tzinfo = DEFAULT_TZ, *, district_id: int | None = None
) -> Annual:
    """The figures the year-end report quotes for ``year``, from the data reported by ``now``."""
    farm = await _years(db, _form(catalogue, FARM_FORM), year, now, tz, district_id)
    milk = await _years(db, _form(catalogue, MILK_FORM), year, now, tz, district_id)
    insurance = await _years(db, _form(catalogue, INSURANCE_FORM), year, now, tz, district_id)
    scope = None
    if district_id is not None:
        async with db.session() as session:
            scope = await district_name(session, district_id) or "?"
    return Annual(
        year=year,
        as_of=local_date(now, tz),
        farm=await _farm(db, farm, district_id),
        milk=MilkFigures(milk.this, milk.figure("daily_drinkers")) if milk else MilkFigures(),
        insurance=(
            InsuranceFigures(insurance.this, insurance.figure("students_insured"), insurance.figure("premium"))
            if insurance
            else InsuranceFigures()
        ),
        scope=scope,
    )
