"""Warnings confirmed with a reason (``report_flags``), as the office reads them.

A flag belongs to one report version; only those of current, not withdrawn
versions count: a corrected value's old warning is history, a withdrawn
entry counts nowhere. The submission writes them (``storage.reports.save_report``);
this module reads each one with its school and value (``/flags``, the workbook's
detail sheet); how many per district comes with the roll-up (``storage.rollup_statement``,
its ``g`` rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import District, Report, ReportFlag, ReportValue, School
from storage.reports import COUNTED
from storage.sql import fetch_rows, in_district

__all__ = ["FlagRow", "flag_rows"]


@dataclass(frozen=True)
class FlagRow:
    """One confirmed warning with the school, the period and the value it is about."""

    report_id: int
    period: str
    school_code: str
    school_name: str
    district_id: int
    district: str
    field_key: str | None
    code: str
    message: str
    reason: str
    # The flagged field's stored value (None for a form-level warning or an unanswered field).
    num_value: Decimal | None
    text_value: str | None


async def flag_rows(
    session: AsyncSession, form_key: str, periods: Sequence[str], *, district_id: int | None = None
) -> list[FlagRow]:
    """Every confirmed warning of the counted reports of the form in ``periods``, by district and school."""
    if not periods:
        return []
    stmt = (
        select(
            Report.id,
            Report.period,
            School.code,
            School.name,
            District.id,
            District.name,
            ReportFlag.field_key,
            ReportFlag.code,
            ReportFlag.message,
            ReportFlag.reason,
            ReportValue.num_value,
            ReportValue.text_value,
        )
        .select_from(ReportFlag)
        .join(Report, Report.id == ReportFlag.report_id)
        .join(School, School.id == Report.school_id)
        .join(District, District.id == School.district_id)
        .outerjoin(ReportValue, and_(ReportValue.report_id == Report.id, ReportValue.field_key == ReportFlag.field_key))
        .where(Report.form_key == form_key, Report.period.in_(list(periods)), COUNTED)
        .order_by(District.name, School.code, Report.period, Report.submitted_at, ReportFlag.id)
    )
    stmt = in_district(stmt, district_id)
    return [FlagRow(*row) for row in await fetch_rows(session, stmt)]
