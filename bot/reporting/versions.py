"""What saving a report version writes besides the report: the ``NewReport`` for a ``Save``,
its one audit row, and, when the office filed it, the notices for the school's reporters.

Shared by the conversation (``bot.reporting.service``) and ``schoolbot file``
(``bot.reporting.filing``), so both save the same way.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.reporting.behalf import behalf_notice
from bot.reporting.screens import Screens
from bot.reporting.state import Save
from storage.models import Report
from storage.people import audit, reporters_of_school
from storage.reports import NewFlag, NewReport

__all__ = ["Notice", "audit_saved", "behalf_notices", "new_report"]


@dataclass(frozen=True)
class Notice:
    """A message for someone other than the sender (``chat_id``: their Telegram id)."""

    chat_id: int
    text: str


def new_report(save: Save, *, school_id: int, reporter_id: int | None, now: datetime) -> NewReport:
    """What saving ``save`` for ``school_id`` writes: on top of the version it was made against."""
    form = save.form
    return NewReport(
        school_id=school_id,
        form_key=form.key,
        form_version=form.version,
        period=save.period.key,
        values=dict(save.values),
        reporter_id=reporter_id,
        submitted_at=now,
        is_late=save.late,
        series=secrets.token_hex(4) if save.series is None else save.series,
        based_on=save.based_on,
        check_based_on=True,
        originals=dict(save.originals),
        flags=tuple(NewFlag(f.code, f.message, f.reason, f.field_key, f.detail) for f in save.flags),
        withdrawn=save.withdrawn,
        behalf_reason=save.behalf_reason,
        # A principal's save is refused once the office approved the series meanwhile (approved is
        # locked for them); the office filing on behalf may still correct it.
        unless_approved=save.behalf_reason is None,
    )


def audit_saved(session: AsyncSession, now: datetime, actor: int | None, school_code: str, save: Save, report: Report) -> None:
    """The one audit row of a saved version: submitted, corrected, or filed on behalf (with its reason)."""
    detail: dict[str, object] = {
        "form": save.form.key,
        "period": save.period.key,
        "version": report.version,
        "report_id": report.id,
        "supersedes": report.supersedes_id,
    }
    if report.series:
        detail["series"] = report.series
    if save.changed is not None:
        detail["changed"] = save.changed
    action = "report.corrected" if report.version > 1 else "report.submitted"
    if save.behalf_reason is not None:
        action, detail["reason"] = "report.filed_on_behalf", save.behalf_reason
    audit(session, now, actor, action, school_code, **detail)


async def behalf_notices(session: AsyncSession, screens: Screens, save: Save, report: Report, office_name: str) -> list[Notice]:
    """The school's active reporters, each told in their language that the office filed for them."""
    assert save.behalf_reason is not None
    notices = []
    for person in await reporters_of_school(session, report.school_id):
        if person.blocked:
            continue  # they blocked the bot: a send would only be refused
        theirs = Screens(screens.catalogue, person.language or screens.lang, screens.tz)
        notices.append(Notice(person.telegram_id, behalf_notice(theirs, save, office_name, report.version, save.behalf_reason)))
    return notices
