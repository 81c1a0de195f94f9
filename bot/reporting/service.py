"""Filing a report: the unit of work around the pure flow (``bot.reporting.flow``).

A principal's conversation is a ``drafts`` row (``storage.drafts``). Every
update runs the same way (``Reporting._once``): load the draft once (as read
with the identity, else claimed under a lock), run the flow's step on it,
fetching each fact the step asks for, write the new state back, commit, then
hand the handler the screens. Nothing lives in process memory, so a restart or
a second process resumes mid-form. If another process changed the draft
between the read and the write (its revision moved on, so nothing was
written), the update is done again on the draft claimed under the lock.

A submission never silently overwrites: it is saved only on top of the version
its principal saw (the report a correction was opened on, or none for a first
report; ``NewReport.based_on``). If another reporter of the school filed or
corrected it meanwhile, nothing is saved, the draft ends, and the principal
sees the report as it is now, their own answers, and a button to correct the
current version. Every version saved writes one audit row (``report.submitted``
or ``report.corrected``, subject the school's code) in the report's transaction.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from bot.core.i18n import t
from bot.core.textsplit import storable
from bot.core.periods import due_date
from bot.core.ui import Button, Screen
from bot.reporting import flow
from bot.reporting.codec import Start
from bot.reporting.history_facts import fetch_history
from bot.reporting.screens import Screens
from bot.reporting.versions import Notice, audit_saved, behalf_notices, new_report
from bot.reporting.state import (
    Ctx,
    CurrentReport,
    DraftState,
    Facts,
    FiledPeriods,
    NeedFact,
    PastFigures,
    PeerFigures,
    Programmes,
    Query,
    RecentEntries,
    ReportById,
    Save,
    SavedReport,
    SchoolName,
)
from storage.drafts import DraftRaced, attach_draft, claim_draft, delete_draft, start_draft
from storage.models import Draft, Report, School
from storage.reports import (
    CurrentChanged,
    ReportApproved,
    count_current_reports,
    current_report,
    report_by_id,
    reported_periods,
    save_report_retrying,
)
from storage.schools import programmes_of

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

__all__ = [
    "Notice",
    "Outcome",
    "Reporter",
    "Reporting",
    "saved_report",
    "settle",
]

T = TypeVar("T")
# The draft's columns the flow's state carries (besides the answers), written back when changed.
_COLUMNS = (
    "token", "form_key", "form_version", "step", "period", "editing", "correction_of", "school_id",
    "last_update_id", "created_at", "updated_at",
)  # fmt: skip


# --- what the handlers render -----------------------------------------------------
@dataclass
class Outcome:
    """What one update produced.

    ``alert``: answer the pressed button with this pop-up (a stale or refused
    press: nothing changed). ``used_up``: the pressed message's buttons have
    done their job and can be removed. ``consumed``: for free text, False means
    no draft was waiting and the message should get the generic answer.
    """

    screens: list[Screen] = field(default_factory=list)
    alert: str | None = None
    used_up: bool = False
    consumed: bool = True
    # Messages to other people: a school's reporters told that the office filed for them.
    notices: list[Notice] = field(default_factory=list)

    def say(self, text: str, buttons: list[list[Button]] | None = None) -> None:
        self.screens.append(Screen(text, buttons or []))


@dataclass(frozen=True)
class Reporter:
    """The principal the conversation is with."""

    person_id: int
    telegram_id: int
    school_id: int
    lang: str
    # The school's code (the audit log names a school by it).
    school_code: str = ""
    # Telegram's id of the update being handled: a draft remembers the last one it applied.
    update_id: int | None = None
    # The school's programmes as read with the identity (None: the conversation reads them).
    programmes: frozenset[str] | None = None
    # The draft as read with the identity at the start of this update (None: no draft), when
    # ``draft_read``; otherwise the conversation reads it itself.
    draft: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    draft_read: bool = False
    # Office staff filing for the school (``bot.reporting.onbehalf``): their name for the
    # school's reporters, and a locked period may be filed too.
    office: bool = False
    office_name: str = ""


# --- facts, fetched when the flow asks ---------------------------------------------------
def saved_report(report: Report) -> SavedReport:
    """A saved report as the flow sees it (its school, reporter and values come loaded with it)."""
    return SavedReport(
        id=report.id,
        school_id=report.school_id,
        school_name=report.school.name,
        form_key=report.form_key,
        period=report.period,
        series=report.series,
        version=report.version,
        is_current=report.is_current,
        is_late=report.is_late,
        reporter_name=report.reporter.name if report.reporter is not None else None,
        submitted_at=report.submitted_at,
        values={value.field_key: (value.num_value, value.text_value) for value in report.values},
        originals={value.field_key: value.original for value in report.values if value.original is not None},
        withdrawn=report.withdrawn,
        on_behalf=report.on_behalf,
        behalf_reason=report.behalf_reason,
        review=report.review,
        reviewer_name=report.reviewer.name if report.reviewer is not None else None,
        reviewed_at=report.reviewed_at,
        review_reason=report.review_reason,
    )


async def fetch(session: AsyncSession, school_id: int, query: Query) -> Any:
    """Answer one of the flow's questions about ``school_id``."""
    match query:
        case ReportById(report_id):
            found = await report_by_id(session, report_id)
            return saved_report(found) if found is not None else None
        case CurrentReport(form_key, period, series):
            found = await current_report(session, school_id, form_key, period, series)
            return saved_report(found) if found is not None else None
        case FiledPeriods(form_key, periods):
            return frozenset(await reported_periods(session, school_id, form_key, periods))
        case SchoolName(other):
            school = await session.get(School, other)
            return school.name if school is not None else None
        case Programmes():
            return frozenset(await programmes_of(session, school_id))
        case PastFigures() | PeerFigures() | RecentEntries():
            return await fetch_history(session, school_id, query)
    raise TypeError(query)


async def settle(session: AsyncSession, school_id: int, facts: Facts, compute: Callable[[], T]) -> T:
    """Run a pure computation, fetching each fact it asks for and running it again, until it is done."""
    while True:
        try:
            return compute()
        except NeedFact as need:
            facts.learn(need.query, await fetch(session, school_id, need.query))


def state_of(draft: Draft) -> DraftState:
    values = {name: getattr(draft, name) for name in _COLUMNS}
    return DraftState(answers=dict(draft.answers), notes=dict(draft.notes or {}), **values)


class _DraftChanged(Exception):
    """The draft was submitted, cancelled or edited elsewhere while we were saving it."""


# --- the use cases -------------------------------------------------------------------
class Reporting:
    """The reporting conversation, for one update."""

    def __init__(self, services: Services, reporter: Reporter) -> None:
        self.db = services.db
        self.catalogue = services.catalogue
        self.tz = services.settings.timezone
        self.ttl_days = services.settings.draft_ttl_days
        self.reporter = reporter
        self.lang = reporter.lang
        # One instant per update, so every check in it agrees.
        self.now = services.clock.now()
        # The draft read with the identity is good for the first load of this update only.
        self._snapshot_usable = reporter.draft_read
        self.screens = Screens(self.catalogue, self.lang, self.tz)

    async def start(self, start: Start) -> Outcome:
        """/report, a form's shortcut, a go: or fix: button: begin, or ask about the draft in the way."""
        return await self._run(flow.Begin(start))

    async def press(self, data: str) -> Outcome:
        """A button of the draft (``r:...``) was pressed."""
        return await self._run(flow.Press(data))

    async def text(self, text: str) -> Outcome:
        """Typed text while a draft may be waiting for an answer."""
        return await self._run(flow.Typed(storable(text)))

    async def begin_behalf(self, start: Start) -> Outcome:
        """Office staff file ``start`` for the reporter's school: the reason is asked first."""
        return await self._run(flow.BeginBehalf(start))

    async def media(self) -> Outcome:
        """A sticker, photo, voice note or file while a draft may be waiting for an answer."""
        return await self._run(flow.Media())

    async def edited(self) -> Outcome:
        """An earlier message was edited: it changes no answer, so say how to change one."""
        return await self._run(flow.Edited())

    async def skip(self) -> Outcome:
        """/skip: leave the optional question unanswered."""
        return await self._run(flow.Skip())

    async def cancel(self) -> Outcome:
        """/cancel: throw the draft away, at any step."""
        return await self._run(flow.Cancel())

    # ----- one update ----------------------------------------------------------------------
    async def _run(self, event: flow.Event) -> Outcome:
        """Do the update; if another process changed the draft meanwhile, do it again under the lock.
        Nothing was sent the first time: the step only computes."""
        try:
            return await self._once(event)
        except (StaleDataError, DraftRaced):
            log.info("draft changed since it was read; doing the update again under the lock")
            self._snapshot_usable = False
            return await self._once(event)

    async def _once(self, event: flow.Event) -> Outcome:
        """Load the draft, step the flow, save the new state, then carry out its intent."""
        school_id = self.reporter.school_id
        ctx = self.context()
        async with self._session() as session:
            draft = await self._load(session)
            before = state_of(draft) if draft is not None else None
            if self.reporter.office and before is not None:
                behalf = before.notes.get("behalf")
                ctx.behalf = behalf if isinstance(behalf, Mapping) and behalf.get("reason") else None
            if before is not None and before.token == ctx.token:
                ctx.token = secrets.token_urlsafe(6)  # a new draft must not take the old one's token
            result = await settle(session, school_id, ctx.facts, lambda: flow.step(before, event, ctx))
            if result.save is None:
                await self._write(session, draft, result.state)
            elif draft is not None:
                # Nothing is written here: the submission ends the draft in the report's own
                # transaction, if it is still the draft read (its revision unchanged).
                session.expunge(draft)
            screens = await settle(session, school_id, ctx.facts, lambda: flow.render(result, ctx))
        out = Outcome(screens, alert=result.alert, used_up=result.used_up, consumed=result.consumed)
        if result.save is not None and draft is not None:
            await self._save(result.save, draft.id, draft.revision, out)
        return out

    def context(self) -> Ctx:
        """What this update's flow knows up front: the school's programmes come with the identity."""
        known: dict[Query, Any] = {Programmes(): self.reporter.programmes} if self.reporter.programmes is not None else {}
        return Ctx(
            catalogue=self.catalogue,
            now=self.now,
            tz=self.tz,
            lang=self.lang,
            school_id=self.reporter.school_id,
            ttl_days=self.ttl_days,
            facts=Facts(known),
            update_id=self.reporter.update_id,
            # A fresh token per draft makes every button of the previous one stale.
            token=secrets.token_urlsafe(6),
            office=self.reporter.office,
        )

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        """One step's transaction, with autoflush off: the step's changes to the draft go out as
        one UPDATE at commit instead of before each query the step makes (none reads the draft
        back; where order matters, as in ``start_draft``, the code flushes itself)."""
        async with self.db.session() as session:
            session.autoflush = False
            yield session

    async def _load(self, session: AsyncSession) -> Draft | None:
        """The draft as read with the identity (first load of the update), else claimed under a lock."""
        if self._snapshot_usable:
            self._snapshot_usable = False
            snapshot = self.reporter.draft
            return attach_draft(session, snapshot) if snapshot is not None else None
        return await claim_draft(session, self.reporter.person_id)

    async def _write(self, session: AsyncSession, draft: Draft | None, state: DraftState | None) -> None:
        """Make the draft row the new state: changed columns only, a new row for a new draft."""
        if draft is not None and state is not None and draft.token == state.token:
            for name in _COLUMNS:
                if getattr(draft, name) != getattr(state, name):
                    setattr(draft, name, getattr(state, name))
            if dict(draft.answers) != dict(state.answers):
                draft.answers = dict(state.answers)  # a new dict: the JSON column only notices reassignment
            if dict(draft.notes or {}) != dict(state.notes):
                draft.notes = dict(state.notes) or None
            return
        if draft is not None:
            await session.delete(draft)
            await session.flush()  # before the new row: one draft per person
        if state is None:
            return
        await start_draft(
            session,
            person_id=self.reporter.person_id,
            token=state.token,
            now=self.now,
            form_key=state.form_key,
            form_version=state.form_version,
            step=state.step,
            period=state.period,
            answers=state.answers,
            notes=state.notes,
            correction_of=state.correction_of,
            school_id=state.school_id,
            # No draft in this transaction: one that appeared meanwhile raises DraftRaced.
            replace=False,
        )

    # ----- submitting ------------------------------------------------------------------------
    async def _save(self, save: Save, draft_id: int, revision: int, out: Outcome) -> None:
        """Save the report and end the draft in one transaction, then write the receipt."""
        form, period = save.form, save.period
        new = new_report(save, school_id=self.reporter.school_id, reporter_id=self.reporter.person_id, now=self.now)

        async def end_draft(session: AsyncSession, report: Report) -> None:
            # Only the draft exactly as reviewed may become a report: a second press, or
            # another process that cancelled or edited it meanwhile, moved its revision on.
            if not await delete_draft(session, draft_id, revision=revision):
                raise _DraftChanged
            audit_saved(session, self.now, self.reporter.telegram_id, self.reporter.school_code, save, report)

        try:
            report = await save_report_retrying(self.db, new, also=end_draft)
        except _DraftChanged:
            out.alert = t(self.lang, "core.stale_button")
            return
        except CurrentChanged as exc:
            await self._changed_meanwhile(save, draft_id, revision, exc.current_id, out)
            return
        except ReportApproved as exc:
            await self._approved_meanwhile(draft_id, revision, exc.report_id, out)
            return
        out.used_up = True
        count = None
        if form.is_event:
            async with self._session() as session:
                count = await count_current_reports(session, report.school_id, form.key, period.key)
        receipt = self.screens.saved(
            form,
            period,
            save.answers,
            version=report.version,
            submitted_at=report.submitted_at,
            late=report.is_late,
            due=due_date(form, period),
            count=count,
            originals=save.originals,
        )
        if save.behalf_reason is not None:
            notices = await self._behalf_notices(save, report)
            out.notices += notices
            told = t(self.lang, "onbehalf.told", count=len(notices)) if notices else t(self.lang, "onbehalf.told_nobody")
            receipt = Screen(receipt.text + "\n" + told, receipt.buttons)
        out.screens.append(receipt)

    async def _behalf_notices(self, save: Save, report: Report) -> list[Notice]:
        async with self._session() as session:
            return await behalf_notices(session, self.screens, save, report, self.reporter.office_name)

    async def _changed_meanwhile(self, save: Save, draft_id: int, revision: int, current_id: int | None, out: Outcome) -> None:
        """Someone else filed or corrected the report since this draft saw it: nothing was
        saved. End the draft, show the report as it is now and the principal's own answers,
        and offer to correct the current version."""
        async with self._session() as session:
            if not await delete_draft(session, draft_id, revision=revision):
                out.alert = t(self.lang, "core.stale_button")  # changed elsewhere too: that one wins
                return
            found = await report_by_id(session, current_id) if current_id is not None else None
            current = saved_report(found) if found is not None else None
        out.used_up = True
        out.screens.append(self.screens.changed_meanwhile(save.form, save.period, save.answers, current))

    async def _approved_meanwhile(self, draft_id: int, revision: int, report_id: int, out: Outcome) -> None:
        """The office approved the report while this correction was being written: nothing was
        saved; end the draft and say who approved it and how to ask for a change."""
        async with self._session() as session:
            if not await delete_draft(session, draft_id, revision=revision):
                out.alert = t(self.lang, "core.stale_button")
                return
            found = await report_by_id(session, report_id)
            approved = saved_report(found) if found is not None else None
        out.used_up = True
        if approved is not None:
            out.screens.append(Screen(self.screens.approved_lock(approved)))
