"""Review states of report versions (issue 15): the queue, the state changes, and the reasons asked for.

Every version starts ``submitted``; staff move the current one to ``approved``
or ``returned`` (and an approved one back to ``submitted`` when they reopen it).
A change is a compare-and-set: it happens only if the version is still the
series' counted one and still in the state the reviewer saw, so a correction
saved meanwhile, a second press or another reviewer's decision wins and the
change writes nothing. On PostgreSQL it first takes the school's row as a report
save does (``storage.reports.save_report``), so a save and a review of one
school take turns instead of racing.

A reason a reviewer is asked for waits in ``review_prompts`` (one per person),
so the question survives a restart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import District, Person, Report, ReviewPrompt, School
from storage.reports import COUNTED
from storage.sql import in_district

__all__ = [
    "APPROVED",
    "RETURNED",
    "SUBMITTED",
    "drop_prompt",
    "in_review",
    "prompt_of",
    "put_prompt",
    "review_counts",
    "review_queue",
    "reviewer_name",
    "set_review",
]

SUBMITTED = "submitted"
APPROVED = "approved"
RETURNED = "returned"


def in_review(form_key: str, periods: Sequence[str], states: Sequence[str] = (SUBMITTED,)) -> ColumnElement[bool]:
    """The queue's filter: counted reports of the form in ``periods`` whose review is one of ``states``
    (``review_queue`` and the dashboard's review page read the same reports)."""
    return and_(Report.form_key == form_key, Report.period.in_(list(periods)), COUNTED, Report.review.in_(list(states)))


async def review_queue(
    session: AsyncSession,
    form_key: str,
    periods: Sequence[str],
    *,
    district_id: int | None = None,
    states: Sequence[str] = (SUBMITTED,),
) -> list[Report]:
    """The counted reports of the form in ``periods`` whose review is one of ``states``, by district and school."""
    if not periods:
        return []
    stmt = (
        select(Report)
        .join(School, School.id == Report.school_id)
        .join(District, District.id == School.district_id)
        .where(in_review(form_key, periods, states))
        .order_by(District.name, School.code, Report.period, Report.submitted_at, Report.id)
    )
    return list((await session.scalars(in_district(stmt, district_id))).unique().all())


async def review_counts(
    session: AsyncSession, form_key: str, periods: Sequence[str], *, district_id: int | None = None
) -> dict[str, int]:
    """How many counted reports of the form in ``periods`` are in each review state."""
    if not periods:
        return {}
    stmt = (
        select(Report.review, func.count())
        .select_from(Report)
        .join(School, School.id == Report.school_id)
        .where(Report.form_key == form_key, Report.period.in_(list(periods)), COUNTED)
        .group_by(Report.review)
    )
    rows = await session.execute(in_district(stmt, district_id))
    return {state: int(count) for state, count in rows.all()}


async def set_review(
    session: AsyncSession,
    report: Report,
    *,
    expect: str,
    to: str,
    by: int | None,
    at: datetime,
    reason: str | None = None,
) -> bool:
    """Move ``report`` from ``expect`` to ``to`` if it is still counted and in ``expect``; True if it moved."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(select(School.id).where(School.id == report.school_id).with_for_update(key_share=True))
    moved = await session.execute(
        update(Report)
        .where(Report.id == report.id, COUNTED, Report.review == expect)
        .values(review=to, reviewed_by_id=by, reviewed_at=at, review_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(moved, "rowcount", 0))


async def reviewer_name(session: AsyncSession, person_id: int | None) -> str | None:
    if person_id is None:
        return None
    return await session.scalar(select(Person.name).where(Person.id == person_id))


async def put_prompt(session: AsyncSession, person_id: int, report_id: int, action: str, at: datetime) -> None:
    """Remember that ``person_id`` was asked for the reason of ``action`` on ``report_id`` (replacing any earlier one)."""
    await drop_prompt(session, person_id)
    session.add(ReviewPrompt(person_id=person_id, report_id=report_id, action=action, created_at=at))
    await session.flush()


async def prompt_of(session: AsyncSession, person_id: int) -> ReviewPrompt | None:
    return await session.scalar(select(ReviewPrompt).where(ReviewPrompt.person_id == person_id))


async def drop_prompt(session: AsyncSession, person_id: int) -> bool:
    """Forget the person's pending question; True if there was one."""
    dropped = await session.execute(delete(ReviewPrompt).where(ReviewPrompt.person_id == person_id))
    return bool(getattr(dropped, "rowcount", 0))
