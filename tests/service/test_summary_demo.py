"""The demo's year of reports: plausible, with gaps, late reports and corrections; repeatable."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import delete, func, select

from bot.core.catalogue import load_catalogue
from bot.core.clock import FixedClock
from bot.offline.demo import load_demo_people, load_demo_roster
from bot.offline.demo_reports import DEMO_SOURCE, load_demo_reports
from bot.core.periods import parse_period
from bot.office.annual import annual_figures
from bot.office.summary import rollup, started_periods_of_year, summarise
from bot.office.args import last_finished_period
from storage.db import Database
from storage.models import Report, ReportValue
from tests.conftest import SHANGHAI

CATALOGUE = load_catalogue()


async def fingerprint(db: Database) -> tuple[int, int, int, Decimal]:
    async with db.session() as session:
        versions = await session.scalar(select(func.count()).select_from(Report))
        late = await session.scalar(select(func.count()).select_from(Report).where(Report.is_late.is_(True)))
        corrected = await session.scalar(select(func.count()).select_from(Report).where(Report.version > 1))
        total = await session.scalar(
            select(func.sum(ReportValue.num_value))
            .join(Report, Report.id == ReportValue.report_id)
            .where(Report.is_current.is_(True))
        )
    return int(versions or 0), int(late or 0), int(corrected or 0), Decimal(total or 0).quantize(Decimal("0.01"))


async def test_demo_reports_have_gaps_late_reports_and_corrections(db: Database, clock: FixedClock) -> None:
    now = clock.now()
    await load_demo_roster(db, now)
    await load_demo_people(db, now)
    line = await load_demo_reports(db, now, CATALOGUE)
    assert line.startswith("demo reports:")
    versions, late, corrected, _ = await fingerprint(db)
    assert versions > 200 and late > 5 and corrected > 3
    async with db.session() as session:
        sources = set((await session.scalars(select(Report.source).distinct())).all())
        future = await session.scalar(select(func.count()).select_from(Report).where(Report.submitted_at > now))
    assert sources == {DEMO_SOURCE} and future == 0

    milk = CATALOGUE.get("milk")
    last = await summarise(db, milk, last_finished_period(milk, now), now, SHANGHAI)
    assert 0 < last.current.city.reported < last.current.city.expected  # something to chase
    assert last.current.city.on_time < last.current.city.reported or last.previous.city.on_time < last.previous.city.reported
    assert last.year_ago.city.reports > 0  # last month can be compared with a year earlier
    year = await rollup(db, milk, started_periods_of_year(milk, 2026, now), now, SHANGHAI)
    assert 0.7 < year.city.completeness < 1.0

    harvest = CATALOGUE.get("harvest")
    quarter = await rollup(db, harvest, [parse_period(harvest.period_cadence, "2026-Q3")], now, SHANGHAI)
    assert quarter.city.reports > quarter.city.reported > 0  # several harvests per farm school
    annual = await annual_figures(db, CATALOGUE, 2026, now)
    assert annual.farm.sites.sites and annual.farm.income.value and annual.milk.drinkers.value and annual.insurance.insured.value


async def test_demo_reports_load_once_and_the_same_every_time(db: Database, clock: FixedClock) -> None:
    now = clock.now()
    await load_demo_roster(db, now)
    await load_demo_people(db, now)
    await load_demo_reports(db, now, CATALOGUE)
    first = await fingerprint(db)
    again = await load_demo_reports(db, now, CATALOGUE)
    assert "already loaded" in again and await fingerprint(db) == first
    async with db.session() as session:
        await session.execute(delete(ReportValue))
        await session.execute(delete(Report))
    await load_demo_reports(db, now, CATALOGUE)
    assert await fingerprint(db) == first
