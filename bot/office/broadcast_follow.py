"""Following a broadcast: its progress message, the final report, ``/broadcasts`` and the stop button.

Part of ``bot.office.broadcast``. District staff list and stop only their own
broadcasts; stopping writes one audit row (subject ``broadcast:<id>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.i18n import t
from bot.core.ui import Button, Screen
from bot.office.scope import office_district
from bot.services import Identity, Services
from storage import broadcasts as store
from storage.broadcasts import Counts
from storage.models import Broadcast, BroadcastStatus
from storage.people import audit

__all__ = ["StopOutcome", "cancel_running", "final_report", "list_recent", "progress_panel", "set_progress_message"]

# The final report lists at most this many schools by name; the rest are counted.
MAX_LISTED = 60
_CANCEL_DATA = re.compile(r"^bcx:(\d{1,10})$")


def progress_panel(lang: str, broadcast: Broadcast, counts: Counts) -> Screen:
    """The one progress message of a running broadcast, with its cancel button."""
    text = t(
        lang,
        "broadcast.progress",
        id=broadcast.id,
        done=counts.sent,
        total=counts.total,
        failed=counts.failed,
        blocked=counts.blocked,
    )
    return Screen(text, [[Button(t(lang, "broadcast.button_stop"), f"bcx:{broadcast.id}")]])


def final_report(lang: str, broadcast: Broadcast, counts: Counts, missed: store.NotReached) -> str:
    """Counts and who was not reached, for the staff member who sent it."""
    key = "broadcast.report_cancelled" if broadcast.status == BroadcastStatus.CANCELLED.value else "broadcast.report_done"
    lines = [
        t(
            lang,
            key,
            id=broadcast.id,
            sent=counts.sent,
            total=counts.total,
            failed=counts.failed,
            blocked=counts.blocked,
            cancelled=counts.cancelled,
        )
    ]
    if counts.maybe_duplicate:
        lines.append(t(lang, "broadcast.report_duplicates", n=counts.maybe_duplicate))
    if missed.schools:
        lines.append(t(lang, "broadcast.report_schools_missed", n=len(missed.schools)))
        lines += [f"• {name}" for name in missed.schools[:MAX_LISTED]]
        if len(missed.schools) > MAX_LISTED:
            lines.append(t(lang, "broadcast.report_more", n=len(missed.schools) - MAX_LISTED))
    if missed.people:
        lines.append(t(lang, "broadcast.report_people_missed", n=len(missed.people)))
        lines += [f"• {name}" for name in missed.people[:MAX_LISTED]]
    if not missed.schools and not missed.people:
        lines.append(t(lang, "broadcast.report_all_reached"))
    return "\n".join(lines)


def _own_only(who: Identity) -> int | None:
    """District staff follow and stop only their own broadcasts (the author's person id); None: all of them."""
    if office_district(who) is None:
        return None
    return who.person_id if who.person_id is not None else -1


async def list_recent(services: Services, who: Identity, limit: int = 10) -> Screen:
    """``/broadcasts``: recent broadcasts with counts; running ones get a cancel button.

    City staff and admins see everyone's; district staff only their own.
    """
    lang = who.language
    async with services.db.session() as session:
        recent = await store.recent_broadcasts(session, limit, author_id=_own_only(who))
        by_id = await store.counts(session, [b.id for b in recent])
    if not recent:
        return Screen(t(lang, "broadcast.list_empty"))
    tz = services.settings.timezone
    lines = [t(lang, "broadcast.list_title")]
    rows: list[list[Button]] = []
    for b in recent:
        c = by_id[b.id]
        when = (b.confirmed_at or b.created_at).astimezone(tz)
        lines.append(
            t(
                lang,
                "broadcast.list_row",
                id=b.id,
                when=f"{when:%m-%d %H:%M}",
                audience=(b.audience_args or {}).get("label", ""),
                status=t(lang, f"broadcast.status_{b.status}"),
                sent=c.sent,
                total=c.total,
                failed=c.failed,
                blocked=c.blocked,
                preview=_snippet(b),
            )
        )
        if b.status == BroadcastStatus.SENDING.value:
            rows.append([Button(t(lang, "broadcast.button_stop_id", id=b.id), f"bcx:{b.id}")])
    return Screen("\n".join(lines), rows)


def _snippet(broadcast: Broadcast) -> str:
    text = " ".join((broadcast.text or "").split())
    if broadcast.kind in ("photo", "document"):
        text = f"[{broadcast.kind}] {text}"
    return text[:30] + ("…" if len(text) > 30 else "")


@dataclass(frozen=True)
class StopOutcome:
    """What a stop button did: the pop-up text, and the final report to show (None: nothing stopped)."""

    alert: str
    report: str | None = None
    progress_message_id: int | None = None
    author_chat_id: int | None = None


async def cancel_running(services: Services, who: Identity, data: str) -> StopOutcome:
    """A stop button (``bcx:<id>``): cancel the rows not yet sent of a running broadcast."""
    lang = who.language
    match = _CANCEL_DATA.match(data)
    if match is None:
        return StopOutcome(t(lang, "broadcast.stale"))
    broadcast_id = int(match[1])
    now = services.clock.now()
    own = _own_only(who)
    async with services.db.session() as session:
        broadcast = await store.broadcast_by_id(session, broadcast_id)
        if broadcast is None or broadcast.status == BroadcastStatus.DRAFT.value:
            return StopOutcome(t(lang, "broadcast.stale"))
        if own is not None and broadcast.author_id != own:
            # Another staff member's broadcast: the same answer as a button that never existed.
            return StopOutcome(t(lang, "broadcast.stale"))
        before = (await store.counts(session, [broadcast_id]))[broadcast_id].cancelled
        if not await store.cancel_broadcast(session, broadcast_id, now):
            return StopOutcome(t(lang, "broadcast.not_running", id=broadcast_id))
        await session.refresh(broadcast)
        counts = (await store.counts(session, [broadcast_id]))[broadcast_id]
        # Rows dropped earlier (recipient left the audience) were not stopped by this press.
        stopped = counts.cancelled - before
        missed = await store.not_reached(session, broadcast)
        audit(
            session,
            now,
            who.telegram_id,
            "broadcast.stopped",
            f"broadcast:{broadcast_id}",
            still_queued=stopped,
            sent=counts.sent,
            author=broadcast.author_chat_id,
        )
    return StopOutcome(
        t(lang, "broadcast.cancelled_running", id=broadcast_id, n=stopped),
        final_report(lang, broadcast, counts, missed),
        broadcast.progress_message_id,
        broadcast.author_chat_id,
    )


async def set_progress_message(services: Services, broadcast_id: int, message_id: int) -> None:
    """Remember which message shows the progress (the sender edits it; the clock starts its 3 s now)."""
    async with services.db.session() as session:
        await store.set_progress_message(session, broadcast_id, message_id, services.clock.now())
