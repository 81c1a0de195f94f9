"""Current reports with their answers, one row per report: the detail the exports list.

The values are pivoted into columns by a GROUP BY
(``max(CASE WHEN field_key = ... )``), so a year of a thousand schools comes
back as a few thousand rows rather than four times as many value rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import District, Person, Report, ReportValue, School
from storage.reports import COUNTED
from storage.sql import AnyRow, AnySelect, fetch_rows, in_district

__all__ = ["ReportRow", "current_report_rows"]


@dataclass(frozen=True)
class ReportRow:
    """One current report with its answers, for the export's detail sheet."""

    report_id: int
    period: str
    series: str
    version: int
    is_late: bool
    submitted_at: datetime
    source: str
    school_code: str
    school_name: str
    district: str
    reporter: str | None
    values: dict[str, tuple[Decimal | None, str | None]]
    # Filed by the office for the school (``reporter`` is then the staff member), and why.
    on_behalf: bool = False
    behalf_reason: str | None = None
    # The office's review of the version (issue 15): submitted, approved or returned.
    review: str = "submitted"


# The report's own columns, in ``ReportRow``'s order (the answers follow, two per field).
_REPORT_COLUMNS: tuple[Any, ...] = (
    Report.id,
    Report.period,
    Report.series,
    Report.version,
    Report.is_late,
    Report.submitted_at,
    Report.source,
    School.code,
    School.name,
    District.name,
    Person.name,
    Report.on_behalf,
    Report.behalf_reason,
    Report.review,
)


def _statement(form_key: str, periods: Sequence[str], fields: Sequence[str], district_id: int | None) -> AnySelect:
    """Current reports of the form in the periods, each with a number and a text column per field."""
    pivot = []
    for key in fields:
        pivot.append(func.max(case((ReportValue.field_key == key, ReportValue.num_value))))
        pivot.append(func.max(case((ReportValue.field_key == key, ReportValue.text_value))))
    stmt = (
        select(*_REPORT_COLUMNS, *pivot)
        .select_from(Report)
        .join(School, School.id == Report.school_id)
        .join(District, District.id == School.district_id)
        .outerjoin(Person, Person.id == Report.reporter_id)
        .outerjoin(ReportValue, ReportValue.report_id == Report.id)
        .where(Report.form_key == form_key, Report.period.in_(list(periods)), COUNTED)
        .group_by(*_REPORT_COLUMNS)
    )
    return in_district(stmt, district_id).order_by(District.name, School.code, Report.period, Report.submitted_at, Report.id)


def _report_row(row: AnyRow, fields: Sequence[str]) -> ReportRow:
    """One fetched row as a ``ReportRow``, with only the fields answered in its values."""
    n = len(_REPORT_COLUMNS)
    rid, period, series, version, late, submitted, source, code, name, district, reporter, behalf, reason, review = row[:n]
    answers = row[n:]
    values = {
        key: (answers[2 * i], answers[2 * i + 1])
        for i, key in enumerate(fields)
        if answers[2 * i] is not None or answers[2 * i + 1] is not None
    }
    return ReportRow(
        report_id=rid,
        period=period,
        series=series,
        version=version,
        is_late=bool(late),
        submitted_at=submitted,
        source=source,
        school_code=code,
        school_name=name,
        district=district,
        reporter=reporter,
        values=values,
        on_behalf=bool(behalf),
        behalf_reason=reason,
        review=review,
    )


async def current_report_rows(
    session: AsyncSession,
    form_key: str,
    periods: Sequence[str],
    fields: Sequence[str],
    *,
    district_id: int | None = None,
) -> list[ReportRow]:
    """Every current report of the form in the periods with its ``fields``, by district, school, period."""
    if not periods:
        return []
    stmt = _statement(form_key, periods, fields, district_id)
    return [_report_row(row, fields) for row in await fetch_rows(session, stmt)]
