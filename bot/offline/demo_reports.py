"""About a year of plausible reports for the demo schools, so summaries have something to show.

``schoolbot demo`` calls ``load_demo_reports`` after the demo roster and people
are loaded (see ``bot.offline.demo``). It fills, for the thirteen months before ``now``:

- ``milk``: a monthly report per milk-programme school (summer August served
  no milk and says so), due on the 5th;
- ``insurance``: a report per school and semester;
- ``harvest``: one to three harvests per farm school and season, by crop
  (vegetables in spring, melons in summer, trees and nursery stock in autumn).

Like real data it has gaps (a few schools never got round to a month, and the
latest period is still coming in), late reports (some schools are habitually
late) and corrections (a second version of a report, the first kept as
history). Figures come from a seeded random generator, so the same ``now``
gives the same reports; every value passes the catalogue's own checks.
Loading is idempotent: if demo reports exist, nothing is added; a database with
schools the demo roster does not name gets none (``NotADemoDatabase``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from bot.core.catalogue import Catalogue, Form
from bot.core.periods import DEFAULT_TZ, Period, due_date, is_late, local_date, periods_between
from bot.offline.demo import refuse_foreign_roster
from storage.db import Database
from storage.reports import NewReport, count_reports_from, save_report, schools_with_reporter

__all__ = ["DEMO_SOURCE", "load_demo_reports"]

DEMO_SOURCE = "demo"
_SEED = "schoolbot-demo-reports-v1"

# School days with milk served, by month: winter break from mid-January to
# mid-February, summer break July–August, the October national holiday.
_SCHOOL_DAYS = {
    1: (12, 15), 2: (8, 13), 3: (21, 23), 4: (20, 22), 5: (18, 21), 6: (19, 21),
    7: (4, 7), 8: (0, 0), 9: (19, 22), 10: (15, 17), 11: (20, 22), 12: (20, 22),
}  # fmt: skip
_SUPPLIERS = ("yili", "mengniu", "bright", "junlebao")
# Crops harvested per quarter, the way a north-Anhui school farm runs its year.
_CROPS = {
    1: ("vegetables",),
    2: ("vegetables", "vegetables", "fruit", "flowers"),
    3: ("fruit", "fruit", "vegetables"),
    4: ("trees", "nursery", "vegetables", "flowers"),
}
_NOTES = ("销往学校食堂", "部分分给学生家庭", "由镇农贸市场收购", "西瓜义卖", "")


@dataclass(frozen=True)
class _School:
    id: int
    code: str
    area: str
    programmes: frozenset[str]
    reporter_id: int | None
    pupils: int
    lateness: float
    diligence: float
    supplier: str


@dataclass
class _Tally:
    reports: int = 0
    corrections: int = 0
    late: int = 0


def _values(form: Form, answers: dict[str, object]) -> dict[str, tuple[Decimal | None, str | None]]:
    """Store answers through the catalogue's own parser, so demo data obeys every field rule."""
    stored: dict[str, tuple[Decimal | None, str | None]] = {}
    for field in form.fields:
        raw = answers.get(field.key)
        value = None if raw is None or raw == "" else field.parse(str(raw))
        stored[field.key] = field.to_storage(value)
    return stored


def _at(day: date, rng: random.Random) -> datetime:
    """A working-hours moment on ``day`` in the office's zone."""
    return datetime.combine(day, time(rng.randint(8, 17), rng.randint(0, 59)), DEFAULT_TZ)


def _milk(school: _School, period: Period, rng: random.Random) -> dict[str, object]:
    low, high = _SCHOOL_DAYS[period.start.month]
    days = rng.randint(low, high)
    drinkers = 0 if days == 0 else round(school.pupils * rng.uniform(0.45, 0.7))
    return {
        "daily_drinkers": drinkers,
        "days_served": days,
        "supplier": school.supplier,
        "incidents": 1 if days and rng.random() < 0.03 else 0,
    }


def _insurance(school: _School, rng: random.Random) -> dict[str, object]:
    enrolled = round(school.pupils * rng.uniform(0.97, 1.03))
    insured = round(enrolled * rng.uniform(0.9, 1.0))
    return {
        "students_enrolled": enrolled,
        "students_insured": insured,
        "premium": insured * rng.choice((3, 4, 5)),
        "claims": rng.choice((0, 0, 0, 1, 2)),
    }


def _harvest(crop: str, rng: random.Random) -> dict[str, object]:
    area = Decimal(rng.randint(5, 120)) / 10
    quantity: Decimal | None = None
    if crop in ("vegetables", "fruit"):
        quantity = (area * rng.randint(1500, 3200)).quantize(Decimal(1))
        income = (quantity * Decimal(rng.uniform(1.2, 2.6))).quantize(Decimal(1))
    elif crop == "trees":
        income = Decimal(rng.randint(20, 300) * 100)
    else:
        income = Decimal(rng.randint(10, 120) * 100)
    if rng.random() < 0.05:
        income = Decimal(0)  # grown for the canteen or the class, nothing sold
    return {
        "crop": crop,
        "area_mu": area,
        "quantity": quantity,
        "income": income,
        "participants": rng.randint(4, 40) * 10,
        "note": rng.choice(_NOTES) or None,
    }


async def _schools(db: Database, rng: random.Random) -> list[_School]:
    async with db.session() as session:
        schools = await schools_with_reporter(session)
        return [
            _School(
                id=s.id,
                code=s.code,
                area=s.area,
                programmes=frozenset(s.programme_set),
                reporter_id=reporter_id,
                pupils=rng.randint(900, 2600) if s.area == "urban" else rng.randint(250, 900),
                # A few schools are habitually late; most rarely are.
                lateness=0.45 if rng.random() < 0.15 else 0.06,
                diligence=rng.uniform(0.88, 0.99),
                supplier=rng.choice(_SUPPLIERS),
            )
            for s, reporter_id in schools
        ]


def _expected(form: Form, school: _School) -> bool:
    return form.programme is None or form.programme in school.programmes


def _submission(form: Form, period: Period, school: _School, rng: random.Random) -> tuple[datetime, bool]:
    """When the school sent it: before the due day, or (for late schools) some days after."""
    due = due_date(form, period)
    if due is None:
        return _at(period.start + timedelta(days=rng.randint(0, (period.end - period.start).days)), rng), False
    if rng.random() < school.lateness:
        submitted = _at(due + timedelta(days=rng.randint(1, 20)), rng)
    else:
        submitted = _at(due - timedelta(days=rng.randint(0, min(6, form.due_days or 0))), rng)
    return submitted, is_late(form, period, submitted)


def _reports(
    catalogue: Catalogue, schools: list[_School], now: datetime, rng: random.Random
) -> Iterator[tuple[NewReport, Form, Period]]:
    today = local_date(now, DEFAULT_TZ)
    # Thirteen months back, so last month can be compared with the same month a year earlier.
    first = today - timedelta(days=400)
    for form in catalogue:
        if form.key not in ("milk", "insurance", "harvest"):
            continue  # a form the office added: no plausible figures to invent for it
        for period in periods_between(form.period_cadence, first, today):
            if form.is_event and period.start > today:
                continue
            for school in schools:
                if not _expected(form, school):
                    continue
                if form.is_event:
                    quarter = (period.start.month - 1) // 3 + 1
                    for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
                        crop = rng.choice(_CROPS[quarter])
                        submitted, late = _submission(form, period, school, rng)
                        if submitted > now:
                            continue  # this harvest has not happened yet
                        yield (
                            NewReport(
                                school_id=school.id,
                                form_key=form.key,
                                form_version=form.version,
                                period=period.key,
                                values=_values(form, _harvest(crop, rng)),
                                reporter_id=school.reporter_id,
                                submitted_at=submitted,
                                is_late=late,
                                series=f"{rng.getrandbits(32):08x}",
                                source=DEMO_SOURCE,
                            ),
                            form,
                            period,
                        )
                    continue
                if period.end >= today or rng.random() > school.diligence:
                    continue  # the period is still running, or this school let it slip
                submitted, late = _submission(form, period, school, rng)
                if submitted > now:
                    continue  # not sent yet: shows up as outstanding
                answers = _milk(school, period, rng) if form.key == "milk" else _insurance(school, rng)
                yield (
                    NewReport(
                        school_id=school.id,
                        form_key=form.key,
                        form_version=form.version,
                        period=period.key,
                        values=_values(form, answers),
                        reporter_id=school.reporter_id,
                        submitted_at=submitted,
                        is_late=late,
                        source=DEMO_SOURCE,
                    ),
                    form,
                    period,
                )


def _corrected(new: NewReport, form: Form, period: Period, now: datetime, rng: random.Random) -> NewReport | None:
    """A second version a few days later with the main figure fixed, if that moment has come."""
    main = form.main_field
    if main is None:
        return None
    at = new.submitted_at + timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 5))
    if at > now:
        return None
    number, _ = new.values[main.key]
    if number is None or number == 0:
        return None
    fixed = (number * Decimal(rng.uniform(0.9, 1.1))).quantize(Decimal(1))
    values = dict(new.values)
    values[main.key] = main.to_storage(main.parse(str(fixed)))
    # As the conversation does: a correction of an on-time report stays on time.
    late = new.is_late and is_late(form, period, at)
    return replace(new, values=values, submitted_at=at, is_late=late)


async def load_demo_reports(db: Database, now: datetime, catalogue: Catalogue) -> str:
    """Fill about a year of reports before ``now``; a line saying what was loaded."""
    await refuse_foreign_roster(db)
    async with db.session() as session:
        existing = await count_reports_from(session, DEMO_SOURCE)
    if existing:
        return f"demo reports: already loaded ({existing} report versions), nothing added"
    forms = catalogue
    rng = random.Random(_SEED)
    schools = await _schools(db, rng)
    tally = _Tally()
    async with db.session() as session:
        for new, form, period in _reports(forms, schools, now, rng):
            await save_report(session, new)
            tally.reports += 1
            tally.late += new.is_late
            if rng.random() < 0.06:
                correction = _corrected(new, form, period, now, rng)
                if correction is not None:
                    await save_report(session, correction)
                    tally.corrections += 1
    return (
        f"demo reports: {tally.reports} reports for {len(schools)} schools over the last 13 months "
        f"({tally.late} late, {tally.corrections} corrected)"
    )
