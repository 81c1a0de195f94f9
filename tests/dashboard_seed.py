"""Milk reports for the dashboard's tests (pages via ``serve`` and in the browser)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from storage.db import Database
from storage.models import Report
from storage.reports import COUNTED, NewFlag, NewReport, save_report_retrying
from storage.reviews import SUBMITTED as SUBMITTED_STATE
from storage.reviews import set_review
from tests.conftest import SHANGHAI

SUBMITTED = datetime(2026, 11, 3, 9, tzinfo=SHANGHAI)


async def milk(
    db: Database,
    school: int,
    period: str,
    *,
    late: bool = False,
    withdrawn: bool = False,
    drinkers: int = 300,
    flags: tuple[NewFlag, ...] = (),
) -> None:
    """A milk report of ``school`` for ``period``, submitted on 3 November 2026 (a new version if one exists)."""
    values = {key: (Decimal(n), None) for key, n in (("daily_drinkers", drinkers), ("days_served", 20), ("incidents", 0))}
    values["supplier"] = (None, "yili")
    new = NewReport(school, "milk", 1, period, values, None, SUBMITTED, late, withdrawn=withdrawn, flags=flags)
    await save_report_retrying(db, new)


REVIEWED = datetime(2026, 11, 5, 10, tzinfo=SHANGHAI)


async def review(db: Database, school: int, period: str, to: str, by: int, reason: str | None = None) -> None:
    """Move the school's counted milk report for ``period`` from submitted to ``to`` (approved/returned) on 5 November."""
    async with db.session() as session:
        report = await session.scalar(
            select(Report).where(Report.school_id == school, Report.form_key == "milk", Report.period == period, COUNTED)
        )
        assert report is not None
        assert await set_review(session, report, expect=SUBMITTED_STATE, to=to, by=by, at=REVIEWED, reason=reason)
