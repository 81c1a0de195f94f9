"""Milk reports for the dashboard's tests (pages via ``serve`` and in the browser)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from storage.db import Database
from storage.reports import NewFlag, NewReport, save_report_retrying
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
