"""Versioned report storage: corrections keep history, races end with one current version."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.core.clock import FixedClock
from storage.db import Database
from storage.models import Report
from storage.reports import NewReport, current_report, save_report_retrying, versions_of
from tests.factories import add_school


def _new(school_id: int, clock: FixedClock, drinkers: int, reporter: int | None = None) -> NewReport:
    return NewReport(
        school_id=school_id,
        form_key="milk",
        form_version=1,
        period="2026-11",
        values={"daily_drinkers": (Decimal(drinkers), None), "supplier": (None, "yili")},
        reporter_id=reporter,
        submitted_at=clock.now(),
        is_late=False,
    )


async def test_correction_keeps_old_version_as_history(db: Database, clock: FixedClock) -> None:
    school = await add_school(db, clock)
    first = await save_report_retrying(db, _new(school.id, clock, 300))
    second = await save_report_retrying(db, _new(school.id, clock, 320))
    async with db.session() as session:
        current = await current_report(session, school.id, "milk", "2026-11")
        assert current is not None and current.id == second.id and current.version == 2
        assert current.supersedes_id == first.id
        history = await versions_of(session, current)
    assert [r.version for r in history] == [1, 2]
    assert [r.is_current for r in history] == [False, True]
    values = {v.field_key: v for v in history[0].values}
    assert values["daily_drinkers"].num_value == Decimal(300)


@pytest.mark.committed  # two Databases race on committed rows
async def test_simultaneous_submissions_leave_one_current_version(db: Database, clock: FixedClock) -> None:
    school = await add_school(db, clock)
    # Separate engines act as separate bot processes racing on one database.
    others = [Database(db.url) for _ in range(4)]
    try:
        await asyncio.gather(*(save_report_retrying(d, _new(school.id, clock, 100 + i)) for i, d in enumerate(others)))
    finally:
        for d in others:
            await d.dispose()
    async with db.session() as session:
        total = await session.scalar(select(func.count()).select_from(Report))
        current = (await session.scalars(select(Report).where(Report.is_current.is_(True)))).all()
        versions = sorted((await session.scalars(select(Report.version))).all())
    assert total == 4 and len(current) == 1 and versions == [1, 2, 3, 4]
    assert current[0].version == 4


async def test_schema_refuses_a_second_current_version(db: Database, clock: FixedClock) -> None:
    import pytest
    from sqlalchemy.exc import IntegrityError

    school = await add_school(db, clock)
    await save_report_retrying(db, _new(school.id, clock, 300))
    with pytest.raises(IntegrityError):
        async with db.session() as session:
            session.add(
                Report(
                    school_id=school.id,
                    form_key="milk",
                    form_version=1,
                    period="2026-11",
                    series="",
                    version=9,
                    is_current=True,
                    submitted_at=clock.now(),
                    is_late=False,
                    source="chat",
                )
            )
