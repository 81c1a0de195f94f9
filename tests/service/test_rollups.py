"""Roll-ups by district and period: SQL aggregates over current report versions only."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from bot.core.catalogue import Catalogue, load_catalogue
from bot.core.clock import FixedClock
from bot.core.periods import parse_period
from bot.office.summary import gather_export, rollup, started_periods_of_year, summarise
from storage.db import Database
from storage.models import Report, ReportValue
from storage.reports import NewReport, save_report_retrying
from tests.conftest import SHANGHAI
from tests.factories import add_school

CATALOGUE: Catalogue = load_catalogue()
MILK = CATALOGUE.get("milk")
HARVEST = CATALOGUE.get("harvest")
INSURANCE = CATALOGUE.get("insurance")
# What the clock fixture says: Thursday 26 November 2026, 10:00 in Shanghai.
NOW = datetime(2026, 11, 26, 10, tzinfo=SHANGHAI)


async def milk(
    db: Database, school_id: int, period: str, drinkers: int, *, late: bool = False, at: datetime | None = None
) -> Report:
    return await save_report_retrying(
        db,
        NewReport(
            school_id=school_id,
            form_key="milk",
            form_version=1,
            period=period,
            values={
                "daily_drinkers": (Decimal(drinkers), None),
                "days_served": (Decimal(20), None),
                "supplier": (None, "yili"),
                "incidents": (Decimal(0), None),
            },
            reporter_id=None,
            submitted_at=at or datetime(2026, 11, 3, 9, tzinfo=SHANGHAI),
            is_late=late,
        ),
    )


async def harvest(db: Database, school_id: int, period: str, series: str, income: str, area: str = "2") -> Report:
    return await save_report_retrying(
        db,
        NewReport(
            school_id=school_id,
            form_key="harvest",
            form_version=1,
            period=period,
            series=series,
            values={
                "crop": (None, "vegetables"),
                "area_mu": (Decimal(area), None),
                "quantity": (None, None),
                "income": (Decimal(income), None),
                "participants": (Decimal(40), None),
            },
            reporter_id=None,
            submitted_at=datetime(2026, 10, 10, 9, tzinfo=SHANGHAI),
            is_late=False,
        ),
    )


async def three_schools(db: Database, clock: FixedClock) -> tuple[int, int, int]:
    """Two milk schools in 濉溪县 and 杜集区, and one in 杜集区 outside the milk programme."""
    a = await add_school(db, clock, "HB001", "邹圩小学", "濉溪县", programmes=("milk", "farm"))
    b = await add_school(db, clock, "HB002", "张庄中学", "杜集区", programmes=("milk",))
    c = await add_school(db, clock, "HB003", "孙土楼中学", "杜集区", programmes=("farm",))
    return a.id, b.id, c.id


async def test_totals_equal_the_sum_of_current_versions_after_corrections(db: Database, clock: FixedClock) -> None:
    a, b, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    await milk(db, a, "2026-10", 320)  # a correction: the 300 is history now
    await milk(db, b, "2026-10", 205)
    result = await rollup(db, MILK, [parse_period(MILK.period_cadence, "2026-10")], NOW, SHANGHAI)
    drinkers = result.city.aggregate("daily_drinkers")
    assert drinkers.total == Decimal(525) and drinkers.count == 2
    assert (drinkers.minimum, drinkers.maximum, drinkers.average) == (Decimal(205), Decimal(320), Decimal("262.5"))
    async with db.session() as session:
        by_hand = await session.scalar(
            select(func.sum(ReportValue.num_value))
            .join(Report, Report.id == ReportValue.report_id)
            .where(Report.is_current.is_(True), Report.period == "2026-10", ReportValue.field_key == "daily_drinkers")
        )
    assert drinkers.total == Decimal(by_hand)
    assert result.city.reported == 2 and result.city.reports == 2
    by_name = {d.name: d for d in result.districts}
    assert by_name["濉溪县"].total("daily_drinkers") == Decimal(320)
    assert by_name["杜集区"].total("daily_drinkers") == Decimal(205)


async def test_late_report_counts_as_reported_but_not_on_time(db: Database, clock: FixedClock) -> None:
    a, b, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    await milk(db, b, "2026-10", 200, late=True, at=datetime(2026, 11, 9, 9, tzinfo=SHANGHAI))
    city = (await rollup(db, MILK, [parse_period(MILK.period_cadence, "2026-10")], NOW, SHANGHAI)).city
    assert (city.expected, city.reported, city.on_time) == (2, 2, 1)
    assert city.completeness == 1.0 and city.on_time_rate == 0.5


async def test_school_outside_a_programme_is_not_expected_for_its_form(db: Database, clock: FixedClock) -> None:
    await three_schools(db, clock)
    oct_milk = await rollup(db, MILK, [parse_period(MILK.period_cadence, "2026-10")], NOW, SHANGHAI)
    assert oct_milk.city.expected == 2
    assert {d.name: d.expected for d in oct_milk.districts} == {"濉溪县": 1, "杜集区": 1}
    # Insurance has no programme: every school is expected.
    insurance = await rollup(db, INSURANCE, [parse_period(INSURANCE.period_cadence, "2026-S1")], NOW, SHANGHAI)
    assert insurance.city.expected == 3


async def test_report_from_a_school_that_left_the_programme_is_summed_but_not_counted_as_expected(
    db: Database, clock: FixedClock
) -> None:
    _, _, c = await three_schools(db, clock)
    await milk(db, c, "2026-10", 99)
    city = (await rollup(db, MILK, [parse_period(MILK.period_cadence, "2026-10")], NOW, SHANGHAI)).city
    assert (city.expected, city.reported) == (2, 0)
    assert city.total("daily_drinkers") == Decimal(99) and city.reports == 1


async def test_empty_period_gives_zeros_and_zero_percent(db: Database, clock: FixedClock) -> None:
    await three_schools(db, clock)
    summary = await summarise(db, MILK, parse_period(MILK.period_cadence, "2031-01"), NOW, SHANGHAI)
    city = summary.current.city
    assert (city.expected, city.reported, city.on_time) == (2, 0, 0)
    assert city.completeness == 0.0 and city.on_time_rate == 0.0
    assert city.total("daily_drinkers") == Decimal(0) and city.aggregate("daily_drinkers").average is None


async def test_empty_database_gives_zeros_not_an_error(db: Database) -> None:
    city = (await rollup(db, MILK, [parse_period(MILK.period_cadence, "2026-10")], NOW, SHANGHAI)).city
    assert (city.expected, city.reported, city.completeness, city.on_time_rate) == (0, 0, 0.0, 0.0)


async def test_event_form_sums_every_current_report_of_the_period(db: Database, clock: FixedClock) -> None:
    a, _, c = await three_schools(db, clock)
    await harvest(db, a, "2026-Q4", "s1", "12000")
    await harvest(db, a, "2026-Q4", "s2", "3000.50")
    await harvest(db, a, "2026-Q4", "s2", "3500.25")  # corrected
    await harvest(db, c, "2026-Q4", "s1", "800")
    await harvest(db, c, "2026-Q3", "s1", "999")  # another season
    city = (await rollup(db, HARVEST, [parse_period(HARVEST.period_cadence, "2026-Q4")], NOW, SHANGHAI)).city
    assert city.total("income") == Decimal("16300.25")
    assert city.reports == 3 and city.reported == 2 and city.expected == 2
    assert city.aggregate("quantity").count == 0  # skipped everywhere: no sum invented


async def test_year_rollup_takes_only_that_years_periods(db: Database, clock: FixedClock) -> None:
    a, b, _ = await three_schools(db, clock)
    await milk(db, a, "2025-12", 1000)
    await milk(db, a, "2026-01", 10)
    await milk(db, b, "2026-12", 20)
    await milk(db, a, "2027-01", 1000)
    year = await rollup(db, MILK, started_periods_of_year(MILK, 2026), NOW, SHANGHAI)
    assert year.city.total("daily_drinkers") == Decimal(30)
    assert year.city.expected == 24 and year.city.reported == 2 and year.city.schools_reported == 2


async def test_comparisons_use_previous_period_and_same_period_last_year(db: Database, clock: FixedClock) -> None:
    a, b, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    await milk(db, b, "2026-10", 200)
    await milk(db, a, "2026-09", 250)
    await milk(db, a, "2025-10", 100)
    summary = await summarise(db, MILK, parse_period(MILK.period_cadence, "2026-10"), NOW, SHANGHAI)
    assert summary.current.city.total("daily_drinkers") == Decimal(500)
    assert summary.previous.periods[0].key == "2026-09"
    assert summary.previous.city.total("daily_drinkers") == Decimal(250)
    assert summary.year_ago.periods[0].key == "2025-10"
    assert summary.year_ago.city.total("daily_drinkers") == Decimal(100)
    assert summary.previous.city.reported == 1 and summary.previous.city.expected == 2


async def test_district_scope_sees_only_its_district(db: Database, clock: FixedClock) -> None:
    a, b, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    await milk(db, b, "2026-10", 200)
    async with db.session() as session:
        school_b = await session.get(Report, (await milk(db, b, "2026-11", 1)).id)
        assert school_b is not None
        duji = school_b.school.district_id
    summary = await summarise(db, MILK, parse_period(MILK.period_cadence, "2026-10"), NOW, SHANGHAI, district_id=duji)
    assert [d.name for d in summary.current.districts] == ["杜集区"]
    assert summary.current.scope == "杜集区"
    assert summary.current.city.total("daily_drinkers") == Decimal(200) and summary.current.city.expected == 1
    export = await gather_export(db, MILK, [parse_period(MILK.period_cadence, "2026-10")], NOW, SHANGHAI, district_id=duji)
    assert {r.school_code for r in export.reports} == {"HB002"}
    assert export.missing == []


async def test_export_lists_current_reports_with_values_and_the_schools_missing(db: Database, clock: FixedClock) -> None:
    a, b, _ = await three_schools(db, clock)
    await milk(db, a, "2026-10", 300)
    await milk(db, a, "2026-10", 320)
    clock.advance(timedelta(days=1))
    data = await gather_export(db, MILK, [parse_period(MILK.period_cadence, "2026-10")], NOW, SHANGHAI)
    assert len(data.reports) == 1
    row = data.reports[0]
    assert row.school_code == "HB001" and row.version == 2
    assert row.values["daily_drinkers"] == (Decimal(320), None) and row.values["supplier"] == (None, "yili")
    assert [(m.school_code, m.period) for m in data.missing] == [("HB002", "2026-10")]
