"""The history facts of the checks at the review, fetched for ``bot.reporting.service.fetch``.

The flow asks (``PastFigures``, ``PeerFigures``, ``RecentEntries`` in
``bot.reporting.state``); this reads ``storage.history`` and answers in the flow's
own terms. Only the review and "submit" ask, and last period's report once when
the period is chosen: never a typed answer.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.reporting.checks import Spread
from bot.reporting.state import PastEntry, PastFigures, PeerFigures, RecentEntries
from storage.history import PastReport, past_reports, peer_spread, recent_entries

__all__ = ["HistoryQuery", "fetch_history"]

HistoryQuery = PastFigures | PeerFigures | RecentEntries


def _entry(report: PastReport) -> PastEntry:
    return PastEntry(report.report_id, report.period, report.series, report.submitted_at, report.values)


async def fetch_history(session: AsyncSession, school_id: int, query: HistoryQuery) -> object:
    """Answer one history question about ``school_id``."""
    match query:
        case PastFigures(form_key, period):
            return tuple(_entry(report) for report in await past_reports(session, school_id, form_key, period))
        case PeerFigures(form_key, period):
            spread = await peer_spread(session, school_id, form_key, period)
            return {key: Spread(s.count, s.low, s.high) for key, s in spread.items()}
        case RecentEntries(form_key, since):
            return tuple(_entry(report) for report in await recent_entries(session, school_id, form_key, since))
    raise TypeError(query)
