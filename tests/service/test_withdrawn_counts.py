"""Issue 13 point 6: a withdrawn entry counts nowhere — every current-figure query of storage.

A withdrawn ordinary report counts as not filed (completeness, missing reports,
reminders, the self-service reads); a withdrawn harvest drops out of the sums,
counts and export rows; filing anew goes on top of the withdrawn version.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from bot.core.clock import FixedClock
from bot.core.catalogue import load_catalogue
from bot.core.periods import parse_period
from bot.office.summary import gather_export, rollup
from storage.db import Database
from storage.completeness import completeness, missing_reports
from storage.reminders import Target, reminder_candidates
from storage.reports import (
    CurrentChanged,
    NewReport,
    count_current_reports,
    current_report,
    recent_reports,
    report_by_id,
    reported_periods,
    save_report_retrying,
    withdrawal,
)
from storage.rollups import top_schools, totals_by_choice
from tests.conftest import SHANGHAI
from tests.factories import add_person
from tests.service.test_rollups import harvest, milk, three_schools

CATALOGUE = load_catalogue()
MILK, HARVEST = CATALOGUE.get("milk"), CATALOGUE.get("harvest")
AT = datetime(2026, 11, 21, 9, tzinfo=SHANGHAI)
NOW = datetime(2026, 11, 26, 10, tzinfo=SHANGHAI)


async def withdraw(db: Database, report_id: int) -> int:
    async with db.session() as session:
        report = await report_by_id(session, report_id)
        assert report is not None
        new = withdrawal(report, reporter_id=None, at=AT)
    return (await save_report_retrying(db, new)).id


async def test_withdrawn_milk_report_counts_as_not_filed(db: Database, clock: FixedClock) -> None:
    a, b, _ = await three_schools(db, clock)
    await add_person(db, clock, 5001, "校长甲", school_code="HB001")
    report = await milk(db, a, "2026-10", 300)
    await milk(db, b, "2026-10", 200)
    await withdraw(db, report.id)
    async with db.session() as session:
        by_district = {
            c.district_name: c.reported for c in await completeness(session, form_key="milk", programme="milk", period="2026-10")
        }
        missing = await missing_reports(session, form_key="milk", programme="milk", period="2026-10")
        assert await reported_periods(session, a, "milk", ["2026-10"]) == set()
        assert await current_report(session, a, "milk", "2026-10") is None
        assert [r.withdrawn for r in await recent_reports(session, a, withdrawn=True)] == [True]
        assert await recent_reports(session, a) == []
        target = Target("milk", "milk", "2026-10", "overdue-1")
        cutoff = clock.now() - timedelta(hours=1)
        (candidates,) = await reminder_candidates(session, [target], lease_cutoff=cutoff, idle_cutoff=cutoff)
    assert by_district == {"濉溪县": 0, "杜集区": 1}
    assert {row.school_code for row in missing} == {"HB001"}
    assert {c.school_id for c in candidates} == {a}, "the withdrawn school is reminded again"
    figures = await rollup(db, MILK, [parse_period(MILK.period_cadence, "2026-10")], NOW, SHANGHAI)
    assert (figures.city.reported, figures.city.reports, figures.city.total("daily_drinkers")) == (1, 1, Decimal(200))


async def test_withdrawn_harvest_drops_out_of_sums_counts_and_rows(db: Database, clock: FixedClock) -> None:
    a, _, c = await three_schools(db, clock)
    await harvest(db, c, "2026-Q4", "x1", "5000")
    twice = await harvest(db, c, "2026-Q4", "x2", "5000")
    await harvest(db, a, "2026-Q4", "x3", "700")
    await withdraw(db, twice.id)
    periods = [parse_period(HARVEST.period_cadence, "2026-Q4")]
    figures = await rollup(db, HARVEST, periods, NOW, SHANGHAI)
    assert figures.city.total("income") == Decimal(5700) and figures.city.reports == 2
    assert figures.city.schools_reported == 2
    export = await gather_export(db, HARVEST, periods, NOW, SHANGHAI)
    assert sorted(r.series for r in export.reports) == ["x1", "x3"]
    async with db.session() as session:
        assert await count_current_reports(session, c, "harvest", "2026-Q4") == 1
        (top, *_) = await top_schools(session, "harvest", ["2026-Q4"], "income")
        by_crop = await totals_by_choice(session, "harvest", ["2026-Q4"], "crop", "income")
    assert top.total == Decimal(5000)
    assert by_crop["vegetables"].total == Decimal(5700)


async def test_filing_anew_goes_on_top_of_the_withdrawn_version(db: Database, clock: FixedClock) -> None:
    a, _, _ = await three_schools(db, clock)
    first = await milk(db, a, "2026-10", 300)
    withdrawn_id = await withdraw(db, first.id)
    new = NewReport(
        school_id=a, form_key="milk", form_version=1, period="2026-10",
        values={"daily_drinkers": (Decimal(310), None)}, reporter_id=None, submitted_at=AT, is_late=True,
        based_on=None, check_based_on=True,
    )  # fmt: skip
    again = await save_report_retrying(db, new)
    assert (again.version, again.supersedes_id, again.withdrawn) == (3, withdrawn_id, False)
    # Nobody can correct the withdrawn version, nor withdraw the old one again.
    with pytest.raises(CurrentChanged):
        await withdraw(db, first.id)
    with pytest.raises(CurrentChanged):
        await save_report_retrying(db, NewReport(**{**new.__dict__, "based_on": withdrawn_id}))
