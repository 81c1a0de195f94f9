"""Filing a report: the conversation's steps as Telegram-free use cases.

A principal's conversation is a ``drafts`` row (``storage.drafts``): form,
catalogue version, period, step (``"form"``, ``"period"``, a field key or
``"review"``) and the answers so far, each kept as the text ``Field.parse``
reads back. Every update runs the same way: claim the draft, act, write it
back, commit, then hand the handler the ``Screen``s to send. Nothing lives in
process memory, so a restart or a second process resumes mid-form.

A submission never silently overwrites: it is saved only on top of the version
its principal saw (the report a correction was opened on, or none for a first
report; ``NewReport.based_on``). If another reporter of the school filed or
corrected it meanwhile, nothing is saved, the draft ends, and the principal
sees the report as it is now, their own answers, and a button to correct the
current version. Every version saved writes one audit row (``report.submitted``
or ``report.corrected``, subject the school's code) in the report's transaction.

Buttons carry compact data (≤ 64 bytes):

- ``r:<token>:<action>[:<arg>...]`` acts on the current draft. ``token`` is
  random per draft and the action names the step it belongs to, so a press
  from an older message (the draft moved on, was cancelled or expired) or a
  forged one changes nothing and gets "this button is out of date".
- ``go:<form>:<period>`` starts that form for that period and ``fix:<report
  id>`` corrects a saved report. They carry no token because they start
  something (``/status``, reminders, ``/correct``); they are checked against
  the sender's school, the form's programme and the period's lock window.

Actions on a draft: ``f:<form>`` choose the form, ``p:<period>`` choose the
period, ``c:<period>`` correct the report already filed for it, ``v:<field
index>:<choice index>`` answer a choice, ``d:<i>`` take a field's default,
``s:<i>`` skip an optional field, ``b:<i>`` keep the answer and go back to the
review, ``e:<i>`` edit a field from the review, ``ok`` submit, ``x`` cancel,
``k`` continue the draft, ``n:<start>`` discard it and start ``<start>``
(``menu``, ``form:<form>``, ``go:<form>:<period>`` or ``fix:<id>``).
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from bot.core.catalogue import Answer, Field, FieldType, Form, InvalidAnswer
from bot.core.i18n import t
from bot.core.ui import Button, Screen
from bot.reporting.codec import Start, _data, go_data, report_now
from bot.core.periods import (
    Period,
    default_period,
    due_date,
    is_late,
    local_date,
    parse_period,
    period_of,
    reportable_periods,
)
from storage.drafts import DraftRaced, attach_draft, claim_draft, delete_draft, draft_of, start_draft
from storage.models import Draft, Report, ReportValue, School
from storage.people import audit
from storage.reports import (
    CurrentChanged,
    NewReport,
    count_current_reports,
    current_report,
    recent_reports,
    report_by_id,
    reported_periods,
    save_report_retrying,
)
from storage.schools import programmes_of

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

__all__ = [
    "Button",
    "Outcome",
    "Reporter",
    "Reporting",
    "Screen",
    "Start",
    "go_data",
    "report_now",
]

STEP_FORM = "form"
STEP_PERIOD = "period"
STEP_REVIEW = "review"
# How many saved reports /correct offers and /history lists.
RECENT_LIMIT = 10
# Figures per report in /history and on /correct buttons: enough to recognise it.
HISTORY_FIGURES = 3


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


# --- answers as stored in the draft ----------------------------------------------
def encode_answer(value: Answer) -> str:
    """An answer as the text ``Field.parse`` reads back to the same value."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _decode(item: Field, stored: str | None) -> Answer | None:
    return None if stored is None else item.parse(stored)


def _still_valid(form: Form, answers: Mapping[str, str | None]) -> dict[str, str | None]:
    """The answers that fit ``form`` as it is now: known fields, valid values, skips only where optional."""
    kept: dict[str, str | None] = {}
    for item in form.fields:
        if item.key not in answers:
            continue
        stored = answers[item.key]
        if stored is None:
            if not item.required:
                kept[item.key] = None
            continue
        try:
            kept[item.key] = encode_answer(item.parse(stored))
        except InvalidAnswer:
            continue
    return kept


def _next_step(form: Form, answers: Mapping[str, str | None]) -> str:
    """The first question without an answer, else the review."""
    for item in form.fields:
        if item.key not in answers:
            return item.key
    return STEP_REVIEW


class _Stale(Exception):
    """The press does not belong to the draft as it is now."""


class _DraftChanged(Exception):
    """The draft was submitted, cancelled or edited elsewhere while we were saving it."""


_P = ParamSpec("_P")


def _redo_under_lock_if_raced(
    method: Callable[Concatenate["Reporting", _P], Coroutine[Any, Any, Outcome]],
) -> Callable[Concatenate["Reporting", _P], Coroutine[Any, Any, Outcome]]:
    """Run a use case on the draft read with the identity; if another process changed the draft
    meanwhile (its revision moved on, so nothing was written), run it again on the draft claimed
    under a lock. Use cases only compute an ``Outcome``: nothing was sent the first time."""

    @functools.wraps(method)
    async def run(self: "Reporting", /, *args: _P.args, **kwargs: _P.kwargs) -> Outcome:
        try:
            return await method(self, *args, **kwargs)
        except (StaleDataError, DraftRaced):
            log.info("draft changed since it was read; doing the update again under the lock")
            self._snapshot_usable = False
            self._resume_only = False
            return await method(self, *args, **kwargs)

    return run


# --- the use cases -------------------------------------------------------------------
class Reporting:
    """The reporting conversation and the principal's self-service, for one update."""

    def __init__(self, services: Services, reporter: Reporter) -> None:
        self.db = services.db
        self.catalogue = services.catalogue
        self.tz = services.settings.timezone
        self.ttl_days = services.settings.draft_ttl_days
        self.reporter = reporter
        self.lang = reporter.lang
        # One instant per update, so every check in it agrees.
        self.now = services.clock.now()
        self._resume_only = False
        # The draft read with the identity is good for the first load of this update only.
        self._snapshot_usable = reporter.draft_read
        self._forms: list[Form] | None = None
        # Whether the person's draft row exists in this step's transaction (as far as we know:
        # True until a load says otherwise), so a new draft need not delete one first.
        self._draft_row = True
        # The report a correction draft corrects, as read by this update's load.
        self._original: Report | None = None

    # ----- entry points ------------------------------------------------------------
    @_redo_under_lock_if_raced
    async def start(self, start: Start) -> Outcome:
        """/report, a form's shortcut, a go: or fix: button: begin, or ask about the draft in the way."""
        out = Outcome()
        async with self._session() as session:
            draft = await self._load(session, out)
            if draft is not None and self._is_target(draft, start):
                out.screens.append(await self._screen(session, draft))
            elif not await self._startable(session, start, out):
                pass  # refused (stale, not this school's form, closed period): the draft stays as it was
            elif draft is not None and (draft.answers or draft.correction_of is not None):
                # Never throw typed answers away unasked.
                out.screens.append(self._resume_screen(draft, start))
            else:
                await self._begin(session, start, out)
        return out

    @_redo_under_lock_if_raced
    async def press(self, data: str) -> Outcome:
        """A button of the draft (``r:...``) was pressed."""
        out = Outcome()
        parts = data.split(":", 3)
        submit: Draft | None = None
        async with self._session() as session:
            draft = await self._load(session, out)
            if draft is None or len(parts) < 3 or draft.token != parts[1]:
                out.alert = t(self.lang, "core.stale_button")
                return out
            if self._resume_only:
                out.screens.append(await self._screen(session, draft))
                return out
            action, arg = parts[2], parts[3] if len(parts) > 3 else ""
            try:
                if action == "ok":
                    if draft.step != STEP_REVIEW:
                        raise _Stale
                    # Nothing is written here: the submission ends the draft in the report's own
                    # transaction, if it is still the draft read (its revision unchanged).
                    session.expunge(draft)
                    submit = draft
                else:
                    await self._act(session, draft, action, arg, out)
            except _Stale:
                out.alert = t(self.lang, "core.stale_button")
                return out
        if submit is not None:
            await self._submit(submit, out)
        return out

    @_redo_under_lock_if_raced
    async def text(self, text: str) -> Outcome:
        """Typed text while a draft may be waiting for an answer."""
        out = Outcome()
        async with self._session() as session:
            draft = await self._load(session, out)
            if draft is None:
                out.consumed = False
                return out
            if self._resume_only:
                out.screens.append(await self._screen(session, draft))
                return out
            item = self._asked_field(draft)
            if item is None:
                screen = await self._screen(session, draft)
                out.say(t(self.lang, "report.use_buttons"), screen.buttons)
                return out
            form = self.catalogue.get(draft.form_key)
            try:
                value = item.parse(text)
            except InvalidAnswer as exc:
                out.say(exc.message(self.lang), self._question_buttons(form, draft, item))
                return out
            out.screens.append(await self._answer(session, form, draft, item, value))
        return out

    @_redo_under_lock_if_raced
    async def media(self) -> Outcome:
        """A sticker, photo, voice note or file while a draft may be waiting for an answer."""
        out = Outcome()
        async with self._session() as session:
            draft = await self._load(session, out)
            if draft is None:
                out.consumed = False
                return out
            screen = await self._screen(session, draft)
            item = self._asked_field(draft)
            if self._resume_only:
                out.screens.append(screen)
            elif item is None:
                out.say(t(self.lang, "report.use_buttons"), screen.buttons)
            elif item.type is FieldType.CHOICE:
                out.say(t(self.lang, "report.media_choice", field=item.label.get(self.lang)), screen.buttons)
            else:
                out.say(
                    t(self.lang, "report.media", field=item.label.get(self.lang), unit_hint=self._unit_hint(item)),
                    screen.buttons,
                )
        return out

    @_redo_under_lock_if_raced
    async def edited(self) -> Outcome:
        """An earlier message was edited: it changes no answer, so say how to change one."""
        out = Outcome()
        async with self._session() as session:
            draft = await self._load(session, out)
            if draft is None:
                out.consumed = False
                return out
            out.say(t(self.lang, "report.edited_message"))
        return out

    @_redo_under_lock_if_raced
    async def skip(self) -> Outcome:
        """/skip: leave the optional question unanswered."""
        out = Outcome()
        async with self._session() as session:
            draft = await self._load(session, out)
            item = self._asked_field(draft) if draft is not None else None
            if draft is None or item is None:
                out.say(t(self.lang, "report.nothing_to_skip"))
                return out
            form = self.catalogue.get(draft.form_key)
            if self._resume_only:
                out.screens.append(await self._screen(session, draft))
            elif item.required:
                reason = t(self.lang, "report.cannot_skip", field=item.label.get(self.lang))
                out.say(reason, self._question_buttons(form, draft, item))
            else:
                out.screens.append(await self._answer(session, form, draft, item, None))
        return out

    @_redo_under_lock_if_raced
    async def cancel(self) -> Outcome:
        """/cancel: throw the draft away, at any step."""
        out = Outcome()
        async with self._session() as session:
            draft = await self._load(session, out)
            if draft is None:
                if not out.screens:  # an expiry notice already says the draft is gone
                    out.say(t(self.lang, "report.nothing_to_cancel"))
                return out
            out.say(t(self.lang, "report.cancelled", what=self._what(draft)))
            await session.delete(draft)
        return out

    async def corrections(self) -> Outcome:
        """/correct: the school's recent reports whose period is still open, as buttons."""
        out = Outcome()
        async with self._session() as session:
            reports = await recent_reports(session, self.reporter.school_id, limit=RECENT_LIMIT)
        rows: list[list[Button]] = []
        for report in reports:
            form = self._form_or_none(report.form_key)
            if form is None:
                continue
            period = self._period(form, report.period)
            if period is None or not self._open(form, period):
                continue
            figure = self._key_figures(form, report, 1, labels=False)
            label = t(
                self.lang, "report.correct_row", form=form.short.get(self.lang), period=period.label(self.lang), figure=figure
            )
            rows.append([Button(label.strip(), _data(Start("fix", report_id=report.id).encode()))])
        if rows:
            out.say(t(self.lang, "report.correct_choose"), rows)
        else:
            out.say(t(self.lang, "report.correct_none"))
        return out

    async def status(self) -> Outcome:
        """/status: for each form the school must report, the period due now and any overdue ones."""
        out = Outcome()
        today = local_date(self.now, self.tz)
        lines: list[str] = []
        rows: list[list[Button]] = []
        async with self._session() as session:
            school = await self._school(session)
            forms = self.catalogue.forms_for(school.programme_set)
            for form in forms:
                if form.due_days is None:
                    if form.is_event:
                        period = period_of(form.period_cadence, today)
                        count = await count_current_reports(session, school.id, form.key, period.key)
                        lines.append(
                            t(
                                self.lang,
                                "report.status.event",
                                form=form.short.get(self.lang),
                                period=period.label(self.lang),
                                count=count,
                                command=form.command,
                            )
                        )
                    continue
                periods = sorted(reportable_periods(form, self.now, self.tz))
                current = default_period(form, self.now, self.tz)
                filed = await reported_periods(session, school.id, form.key, [p.key for p in periods])
                for period in periods:
                    due = due_date(form, period)
                    assert due is not None  # forms without a due rule were handled above
                    names = {"form": form.short.get(self.lang), "period": period.label(self.lang), "due": due.isoformat()}
                    if period.key in filed:
                        if period != current:
                            continue
                        report = await current_report(session, school.id, form.key, period.key)
                        when = self._when(report.submitted_at) if report is not None else ""
                        lines.append(t(self.lang, "report.status.submitted", when=when, **names))
                        continue
                    if due < today:
                        lines.append(t(self.lang, "report.status.overdue", days=(today - due).days, **names))
                    elif period == current:
                        days = (due - today).days
                        key = "report.status.due_today" if days == 0 else "report.status.due"
                        lines.append(t(self.lang, key, days=days, **names))
                    else:
                        continue  # a later period, not due yet
                    rows.append([report_now(form, period, self.lang)])
            draft = await draft_of(session, self.reporter.person_id)
            if draft is not None and not await self._belongs_here(session, draft, out):
                await delete_draft(session, draft.id, revision=draft.revision)  # started for the school left
                draft = None
            if draft is not None and draft.form_key and not self._expired(draft):
                lines.append(t(self.lang, "report.status.draft", what=self._what(draft)))
        text = [t(self.lang, "report.status.title", school=school.name, today=today.isoformat())]
        text += lines or [t(self.lang, "report.status.none")]
        if rows:
            text.append(t(self.lang, "report.status.buttons"))
        out.say("\n".join(text), rows)
        return out

    async def history(self) -> Outcome:
        """/history: the school's recent current reports with their key figures."""
        out = Outcome()
        async with self._session() as session:
            school = await self._school(session)
            reports = await recent_reports(session, school.id, limit=RECENT_LIMIT)
        if not reports:
            out.say(t(self.lang, "report.history.none"))
            return out
        lines = [t(self.lang, "report.history.title", school=school.name)]
        for report in reports:
            form = self._form_or_none(report.form_key)
            period = self._period(form, report.period) if form is not None else None
            lines.append(
                t(
                    self.lang,
                    "report.history.row",
                    form=form.short.get(self.lang) if form else report.form_key,
                    period=period.label(self.lang) if period else report.period,
                    figures=self._key_figures(form, report, HISTORY_FIGURES) if form else "",
                    version=report.version,
                    who=report.reporter.name if report.reporter else t(self.lang, "report.history.office"),
                    when=self._when(report.submitted_at),
                    late=t(self.lang, "report.history.late") if report.is_late else "",
                )
            )
        lines.append(t(self.lang, "report.history.hint"))
        out.say("\n".join(lines))
        return out

    # ----- loading the draft ---------------------------------------------------------
    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        """One step's transaction, with autoflush off: the step's changes to the draft go out as
        one UPDATE at commit instead of before each query the step makes (none reads the draft
        back; where order matters, as in ``start_draft``, the code flushes itself)."""
        async with self.db.session() as session:
            session.autoflush = False
            yield session

    async def _load(self, session: AsyncSession, out: Outcome) -> Draft | None:
        """The draft (as read with the identity, else claimed); drop it if expired, follow the
        catalogue if the form changed."""
        if self._snapshot_usable:
            self._snapshot_usable = False
            snapshot = self.reporter.draft
            draft = attach_draft(session, snapshot) if snapshot is not None else None
        else:
            draft = await claim_draft(session, self.reporter.person_id)
        self._draft_row = draft is not None
        if draft is None:
            return None
        if self._expired(draft):
            started = self._when(draft.created_at)
            notice = t(self.lang, "report.expired", what=self._what(draft), started=started, days=self.ttl_days)
            form = self._form_or_none(draft.form_key) if draft.form_key else None
            if form is not None and draft.answers:
                # Whatever was typed is shown once more rather than silently lost.
                answers = _still_valid(form, draft.answers)
                notice += "\n" + t(self.lang, "report.your_answers", figures=self._figures_from_answers(form, answers))
            out.say(notice)
            await session.delete(draft)
            await session.flush()
            self._draft_row = False
            return None
        if not await self._belongs_here(session, draft, out):
            await session.delete(draft)
            await session.flush()
            self._draft_row = False
            return None
        if not draft.form_key:
            return draft
        form = self._form_or_none(draft.form_key)
        if form is None:
            out.say(t(self.lang, "report.form_gone", form=draft.form_key))
            await session.delete(draft)
            await session.flush()
            self._draft_row = False
            return None
        if form.version != draft.form_version:
            self._follow_new_version(form, draft)
            out.say(t(self.lang, "report.form_changed", form=form.title.get(self.lang)))
        self._note_update(draft)
        return draft

    async def _belongs_here(self, session: AsyncSession, draft: Draft, out: Outcome) -> bool:
        """True if the draft was started for the principal's school as it is now.

        A draft belongs to the school it was started for: a principal moved to another
        school meanwhile must not file it there. A draft records its school; a correction's
        school is also that of the report it corrects (the only clue for drafts older than
        migration 0008, which have no school recorded).
        """
        if draft.school_id is not None and draft.school_id != self.reporter.school_id:
            left = await session.get(School, draft.school_id)
            what = self._what(draft)
            if draft.correction_of is not None:
                what = t(self.lang, "report.what_correction", what=what)
            out.say(t(self.lang, "report.moved_school", what=what, school=left.name if left else "?"))
            return False
        if draft.correction_of is None:
            return True
        # Kept for the rest of the update: the review screen and the submission need it too.
        self._original = original = await session.get(Report, draft.correction_of)
        if original is not None and original.school_id == self.reporter.school_id:
            return True
        if original is None:
            out.say(t(self.lang, "report.correct_gone"))
            return False
        what = t(self.lang, "report.what_correction", what=self._what(draft))
        out.say(t(self.lang, "report.moved_school", what=what, school=original.school.name))
        return False

    def _note_update(self, draft: Draft) -> None:
        """Apply each update to a draft once.

        A poller that stops before confirming an update gets it again after a restart
        (and a webhook may be retried): applied twice, an answer would land on the
        next question. The id is stored in the transaction that applies the update, so
        a redelivery is recognised exactly and only shows where the principal is.
        """
        update_id = self.reporter.update_id
        if update_id is None:
            return
        if draft.last_update_id is not None and update_id <= draft.last_update_id:
            self._resume_only = True
        else:
            draft.last_update_id = update_id

    def _expired(self, draft: Draft) -> bool:
        return draft.updated_at < self.now - timedelta(days=self.ttl_days)

    def _follow_new_version(self, form: Form, draft: Draft) -> None:
        """Restart the draft on the form's new version, keeping every answer that still fits."""
        draft.answers = _still_valid(form, draft.answers)
        draft.form_version = form.version
        draft.editing = False
        if draft.step != STEP_PERIOD:
            draft.step = _next_step(form, draft.answers)
        draft.updated_at = self.now
        self._resume_only = True

    # ----- starting --------------------------------------------------------------------
    def _is_target(self, draft: Draft, start: Start) -> bool:
        """True if the draft already is what the principal asks to start: just carry on."""
        if start.kind == "fix":
            return draft.correction_of == start.report_id
        if draft.correction_of is not None or not draft.form_key:
            return False
        if start.kind == "form":
            return draft.form_key == start.form_key
        return start.kind == "go" and draft.form_key == start.form_key and draft.period == start.period

    async def _startable(self, session: AsyncSession, start: Start, out: Outcome) -> bool:
        """Check a start before offering to drop a draft for it; say why not if it cannot be."""
        if start.kind == "menu":
            return True
        if start.kind == "fix":
            report = await report_by_id(session, start.report_id)
            if report is None or report.school_id != self.reporter.school_id:
                out.say(t(self.lang, "report.correct_gone"))
                return False
            return True
        form = await self._allowed_form(session, start.form_key, out)
        if form is None:
            return False
        if start.kind == "go":
            period = self._period(form, start.period)
            if period is None:
                out.alert = t(self.lang, "core.stale_button")
                return False
            if not self._open(form, period):
                out.say(self._locked_text(form, period))
                return False
        return True

    async def _begin(self, session: AsyncSession, start: Start, out: Outcome) -> None:
        """Start afresh (replacing any draft without answers)."""
        if start.kind == "menu":
            forms = await self._school_forms(session)
            if not forms:
                out.say(t(self.lang, "report.no_forms"))
                return
            draft = await self._new_draft(session, form_key="", form_version=0, step=STEP_FORM)
            out.screens.append(await self._screen(session, draft))
            return
        if start.kind == "fix":
            await self._begin_fix(session, start.report_id, out)
            return
        form = await self._allowed_form(session, start.form_key, out)
        if form is None:
            return
        if start.kind == "form":
            periods = reportable_periods(form, self.now, self.tz)
            if len(periods) == 1:
                # Nothing to choose: the question header names the period.
                await self._choose_period(session, None, form, periods[0], out)
                return
            draft = await self._new_draft(session, form_key=form.key, form_version=form.version, step=STEP_PERIOD)
            out.screens.append(await self._screen(session, draft))
            return
        period = self._period(form, start.period)
        if period is None:
            out.alert = t(self.lang, "core.stale_button")
            return
        if not self._open(form, period):
            out.say(self._locked_text(form, period))
            return
        await self._choose_period(session, None, form, period, out)

    async def _choose_period(self, session: AsyncSession, draft: Draft | None, form: Form, period: Period, out: Outcome) -> None:
        """The period is chosen: offer a correction if it is already filed, else ask the first question."""
        if not form.is_event:
            existing = await current_report(session, self.reporter.school_id, form.key, period.key)
            if existing is not None:
                if draft is None:
                    draft = await self._new_draft(session, form_key=form.key, form_version=form.version, step=STEP_PERIOD)
                out.used_up = True
                out.screens.append(await self._period_screen(session, form, draft, existing=existing))
                return
        if draft is None:
            draft = await self._new_draft(
                session, form_key=form.key, form_version=form.version, step=_next_step(form, {}), period=period.key
            )
        else:
            draft.period = period.key
            draft.step = _next_step(form, draft.answers)
            draft.updated_at = self.now
        out.used_up = True
        out.screens.append(await self._screen(session, draft))

    async def _begin_fix(self, session: AsyncSession, report_id: int, out: Outcome) -> None:
        """Open a draft prefilled with a saved report's current figures, at the review."""
        report = await report_by_id(session, report_id)
        if report is None or report.school_id != self.reporter.school_id:
            out.say(t(self.lang, "report.correct_gone"))
            return
        if not report.is_current:
            # Corrected meanwhile: correct the newest figures, not the ones on the old button.
            report = await current_report(session, report.school_id, report.form_key, report.period, report.series) or report
        form = self._form_or_none(report.form_key)
        if form is None:
            out.say(t(self.lang, "report.form_gone", form=report.form_key))
            return
        period = self._period(form, report.period)
        if period is None:
            out.say(t(self.lang, "report.correct_gone"))
            return
        if not self._open(form, period):
            out.say(self._locked_text(form, period))
            return
        answers = _still_valid(form, self._saved_answers(form, report))
        draft = await self._new_draft(
            session,
            form_key=form.key,
            form_version=form.version,
            step=_next_step(form, answers),
            period=period.key,
            answers=answers,
            correction_of=report.id,
        )
        out.used_up = True
        out.screens.append(await self._screen(session, draft))

    async def _new_draft(
        self,
        session: AsyncSession,
        *,
        form_key: str,
        form_version: int,
        step: str,
        period: str | None = None,
        answers: Mapping[str, str | None] | None = None,
        correction_of: int | None = None,
    ) -> Draft:
        draft = await start_draft(
            session,
            person_id=self.reporter.person_id,
            # A fresh token per draft makes every button of the previous one stale.
            token=secrets.token_urlsafe(6),
            now=self.now,
            form_key=form_key,
            form_version=form_version,
            step=step,
            period=period,
            answers=answers,
            correction_of=correction_of,
            school_id=self.reporter.school_id,
            replace=self._draft_row,
        )
        self._draft_row = True
        return draft

    # ----- acting on a press -------------------------------------------------------------
    async def _act(self, session: AsyncSession, draft: Draft, action: str, arg: str, out: Outcome) -> None:
        """Apply one button of the draft; raise _Stale if it does not fit the draft's step."""
        if action == "x":
            out.say(t(self.lang, "report.cancelled", what=self._what(draft)))
            out.used_up = True
            await session.delete(draft)
            return
        if action == "k":
            out.used_up = True
            out.screens.append(await self._screen(session, draft))
            return
        if action == "n":
            start = Start.decode(arg)
            if start is None:
                raise _Stale
            out.used_up = True
            await session.delete(draft)
            await session.flush()
            self._draft_row = False
            await self._begin(session, start, out)
            return
        if action == "f":
            if draft.step != STEP_FORM or self._form_or_none(arg) is None:
                raise _Stale
            out.used_up = True
            await self._begin(session, Start("form", form_key=arg), out)
            return
        form = self.catalogue.get(draft.form_key) if draft.form_key else None
        if form is None:
            raise _Stale
        if action in ("p", "c"):
            if draft.step != STEP_PERIOD:
                raise _Stale
            period = self._period(form, arg)
            if period is None:
                raise _Stale
            if not self._open(form, period):
                out.say(self._locked_text(form, period))
                return
            existing = await current_report(session, self.reporter.school_id, form.key, period.key) if action == "c" else None
            if existing is not None and not form.is_event:
                await self._begin_fix(session, existing.id, out)
            else:
                await self._choose_period(session, draft, form, period, out)
            return
        if action == "ok":
            raise _Stale  # handled by press(); listed so the data is not mistaken for a field action
        if action == "e":
            if draft.step != STEP_REVIEW:
                raise _Stale
            item = self._field_at(form, arg)
            draft.step, draft.editing, draft.updated_at = item.key, True, self.now
            out.used_up = True
            out.screens.append(await self._screen(session, draft))
            return
        index, _, rest = arg.partition(":")
        item = self._field_at(form, index)
        if draft.step != item.key:
            raise _Stale
        if action == "v" and item.type is FieldType.CHOICE and rest.isdigit() and int(rest) < len(item.choices):
            value: Answer | None = item.choices[int(rest)].key
        elif action == "d" and item.default is not None:
            value = item.parse(item.default)
        elif action == "s" and not item.required:
            value = None
        elif action == "b" and draft.editing:
            draft.step, draft.editing, draft.updated_at = _next_step(form, draft.answers), False, self.now
            out.used_up = True
            out.screens.append(await self._screen(session, draft))
            return
        else:
            raise _Stale
        out.used_up = True
        out.screens.append(await self._answer(session, form, draft, item, value))

    @staticmethod
    def _field_at(form: Form, index: str) -> Field:
        if not index.isdigit() or int(index) >= len(form.fields):
            raise _Stale
        return form.fields[int(index)]

    async def _answer(self, session: AsyncSession, form: Form, draft: Draft, item: Field, value: Answer | None) -> Screen:
        """Keep one answer and move on: the next question, or the review (always, after an edit)."""
        # A new dict: the JSON column only notices reassignment.
        draft.answers = {**draft.answers, item.key: None if value is None else encode_answer(value)}
        draft.step = _next_step(form, draft.answers)
        draft.editing = False
        draft.updated_at = self.now
        return await self._screen(session, draft)

    # ----- submitting --------------------------------------------------------------------
    async def _submit(self, draft: Draft, out: Outcome) -> None:
        """Save the report and end the draft in one transaction, then write the receipt."""
        form = self.catalogue.get(draft.form_key)
        assert draft.period is not None  # a draft reaches the review only with a period
        period = self._period(form, draft.period)
        assert period is not None
        answers = dict(draft.answers)
        if not self._open(form, period):
            figures = self._figures_from_answers(form, answers)
            async with self._session() as session:
                await delete_draft(session, draft.id, revision=draft.revision)
            out.say(self._locked_text(form, period) + "\n\n" + t(self.lang, "report.locked_answers", figures=figures))
            out.used_up = True
            return
        values: dict[str, tuple[Decimal | None, str | None]] = {}
        for item in form.fields:
            if item.key not in answers:
                raise AssertionError(f"draft {draft.id} at review without {item.key!r}")
            stored = answers[item.key]
            if stored is not None:
                values[item.key] = item.to_storage(_decode(item, stored))
        series = ""
        late = is_late(form, period, self.now, self.tz)
        original: Report | None = None
        if draft.correction_of is not None:
            original = self._original
            if original is None or original.id != draft.correction_of:
                async with self._session() as session:
                    original = await report_by_id(session, draft.correction_of)
            if original is not None:
                # A correction stays in its series (a harvest keeps its own), and fixing a
                # typo after the deadline does not make an on-time report late.
                series, late = original.series, original.is_late and late
        elif form.is_event:
            series = secrets.token_hex(4)  # each harvest is its own series
        new = NewReport(
            school_id=self.reporter.school_id,
            form_key=form.key,
            form_version=form.version,
            period=period.key,
            values=values,
            reporter_id=self.reporter.person_id,
            submitted_at=self.now,
            is_late=late,
            series=series,
            # Saved only on top of the version the principal saw: the one corrected, or none.
            based_on=draft.correction_of,
            check_based_on=True,
        )
        changed = self._changes(form, original, answers) if original is not None else None

        async def end_draft(session: AsyncSession, report: Report) -> None:
            # Only the draft exactly as reviewed may become a report: a second press, or
            # another process that cancelled or edited it meanwhile, moved its revision on.
            if not await delete_draft(session, draft.id, revision=draft.revision):
                raise _DraftChanged
            detail: dict[str, object] = {
                "form": form.key,
                "period": period.key,
                "version": report.version,
                "report_id": report.id,
                "supersedes": report.supersedes_id,
            }
            if report.series:
                detail["series"] = report.series
            if changed is not None:
                detail["changed"] = changed
            action = "report.corrected" if report.version > 1 else "report.submitted"
            audit(session, self.now, self.reporter.telegram_id, action, self.reporter.school_code, **detail)

        try:
            report = await save_report_retrying(self.db, new, also=end_draft)
        except _DraftChanged:
            out.alert = t(self.lang, "core.stale_button")
            return
        except CurrentChanged as exc:
            await self._changed_meanwhile(draft, form, period, answers, exc.current_id, out)
            return
        out.used_up = True
        lines = [
            t(
                self.lang,
                "report.saved",
                form=form.title.get(self.lang),
                period=period.label(self.lang),
                figures=self._figures_from_answers(form, answers),
                version=report.version,
                when=self._when(report.submitted_at),
            )
        ]
        if report.version > 1:
            lines.append(t(self.lang, "report.saved_correction", old=report.version - 1))
        if report.is_late:
            due = due_date(form, period)
            lines.append(t(self.lang, "report.saved_late", due=due.isoformat() if due else ""))
        if form.is_event:
            async with self._session() as session:
                count = await count_current_reports(session, report.school_id, form.key, period.key)
            lines.append(t(self.lang, "report.saved_event", count=count))
        out.say("\n".join(lines))

    async def _changed_meanwhile(
        self, draft: Draft, form: Form, period: Period, answers: Mapping[str, str | None], current_id: int | None, out: Outcome
    ) -> None:
        """Someone else filed or corrected the report since this draft saw it: nothing was
        saved. End the draft, show the report as it is now and the principal's own answers,
        and offer to correct the current version."""
        async with self._session() as session:
            if not await delete_draft(session, draft.id, revision=draft.revision):
                out.alert = t(self.lang, "core.stale_button")  # changed elsewhere too: that one wins
                return
            current = await report_by_id(session, current_id) if current_id is not None else None
        out.used_up = True
        unsaved = t(self.lang, "report.unsaved_answers", figures=self._figures_from_answers(form, answers))
        if current is None:
            out.say(t(self.lang, "report.correct_gone") + "\n\n" + unsaved)
            return
        text = t(
            self.lang,
            "report.corrected_meanwhile" if current.version > 1 else "report.filed_meanwhile",
            form=form.title.get(self.lang),
            period=period.label(self.lang),
            who=current.reporter.name if current.reporter else t(self.lang, "report.history.office"),
            when=self._moment(current.submitted_at),
            version=current.version,
            figures=self._figures(form, current),
        )
        again = Button(
            t(self.lang, "report.correct_again_button", version=current.version),
            _data(Start("fix", report_id=current.id).encode()),
        )
        out.say("\n\n".join([text, unsaved, t(self.lang, "report.correct_again_hint")]), [[again]])

    def _changes(self, form: Form, original: Report, answers: Mapping[str, str | None]) -> dict[str, dict[str, str | None]]:
        """For the audit log: each answer the correction changes, ``{"before": ..., "after": ...}``
        as stored in drafts (a field the form no longer asks counts as dropped)."""
        before = self._saved_answers(form, original)
        for value in original.values:
            if value.field_key not in before:
                before[value.field_key] = value.text_value if value.num_value is None else format(value.num_value, "f")
        changed: dict[str, dict[str, str | None]] = {}
        for key in [item.key for item in form.fields] + [k for k in before if k not in answers]:
            old, new = before.get(key), answers.get(key)
            if old != new:
                changed[key] = {"before": old, "after": new}
        return changed

    # ----- screens -----------------------------------------------------------------------
    async def _screen(self, session: AsyncSession, draft: Draft) -> Screen:
        """The message for the draft's current step."""
        if draft.step == STEP_FORM:
            forms = await self._school_forms(session)
            rows = [[Button(form.title.get(self.lang), _data("r", draft.token, "f", form.key))] for form in forms]
            rows.append([Button(t(self.lang, "report.cancel_button"), _data("r", draft.token, "x"))])
            return Screen(t(self.lang, "report.choose_form"), rows)
        form = self.catalogue.get(draft.form_key)
        if draft.step == STEP_PERIOD:
            return await self._period_screen(session, form, draft)
        if draft.step == STEP_REVIEW:
            return await self._review_screen(session, form, draft)
        return self._question_screen(form, draft, form.field(draft.step))

    async def _period_screen(self, session: AsyncSession, form: Form, draft: Draft, existing: Report | None = None) -> Screen:
        periods = reportable_periods(form, self.now, self.tz)
        current = default_period(form, self.now, self.tz)
        ordered = sorted(periods, key=lambda p: (p != current, -p.start.toordinal()))
        filed: set[str] = set()
        if not form.is_event:
            filed = await reported_periods(session, self.reporter.school_id, form.key, [p.key for p in periods])
        rows: list[list[Button]] = []
        if existing is not None:
            rows.append([Button(t(self.lang, "report.correct_button"), _data("r", draft.token, "c", existing.period))])
        for period in ordered:
            if existing is not None and period.key == existing.period:
                continue
            label = period.label(self.lang)
            if period.key in filed:
                label = t(self.lang, "report.period_reported", period=label)
            if period == current:
                label = t(self.lang, "report.period_default", period=label)
            rows.append([Button(label, _data("r", draft.token, "p", period.key))])
        rows.append([Button(t(self.lang, "report.cancel_button"), _data("r", draft.token, "x"))])
        if existing is None:
            return Screen(t(self.lang, "report.choose_period", form=form.title.get(self.lang)), rows)
        filed_period = self._period(form, existing.period)
        text = t(
            self.lang,
            "report.exists",
            form=form.title.get(self.lang),
            period=filed_period.label(self.lang) if filed_period else existing.period,
            version=existing.version,
            who=existing.reporter.name if existing.reporter else t(self.lang, "report.history.office"),
            when=self._when(existing.submitted_at),
            figures=self._figures(form, existing),
        )
        return Screen(text, rows)

    def _question_screen(self, form: Form, draft: Draft, item: Field) -> Screen:
        index = form.fields.index(item)
        lines = [self._header(form, draft, index)]
        if item.type is FieldType.CHOICE:
            lines.append(t(self.lang, "report.ask_choice", field=item.label.get(self.lang)))
        else:
            lines.append(t(self.lang, "report.ask", field=item.label.get(self.lang), unit_hint=self._unit_hint(item)))
        if item.help is not None:
            lines.append(item.help.get(self.lang))
        if item.key in draft.answers:
            lines.append(t(self.lang, "report.current", value=self._shown(item, draft.answers[item.key])))
        if not item.required:
            lines.append(t(self.lang, "report.optional_hint"))
        lines.append(t(self.lang, "report.cancel_hint"))
        return Screen("\n".join(lines), self._question_buttons(form, draft, item))

    def _question_buttons(self, form: Form, draft: Draft, item: Field) -> list[list[Button]]:
        index = form.fields.index(item)
        rows: list[list[Button]] = []
        if item.type is FieldType.CHOICE:
            choices = [
                Button(choice.label.get(self.lang), _data("r", draft.token, "v", index, n))
                for n, choice in enumerate(item.choices)
            ]
            rows += [choices[i : i + 2] for i in range(0, len(choices), 2)]
        extra: list[Button] = []
        if item.default is not None and item.type is not FieldType.CHOICE:
            shown = item.format(item.parse(item.default), self.lang)
            extra.append(Button(t(self.lang, "report.default_button", value=shown), _data("r", draft.token, "d", index)))
        if not item.required:
            extra.append(Button(t(self.lang, "report.skip_button"), _data("r", draft.token, "s", index)))
        if extra:
            rows.append(extra)
        if draft.editing:
            rows.append([Button(t(self.lang, "report.back_button"), _data("r", draft.token, "b", index))])
        return rows

    async def _review_screen(self, session: AsyncSession, form: Form, draft: Draft) -> Screen:
        lines = [t(self.lang, "report.review_title", form=form.title.get(self.lang), period=self._period_label(form, draft))]
        lines.append(self._figures_from_answers(form, draft.answers))
        if draft.correction_of is not None:
            original = await report_by_id(session, draft.correction_of)
            if original is not None:
                lines.append(t(self.lang, "report.review_correction", version=original.version))
        lines.append(t(self.lang, "report.review_hint"))
        edits = [
            Button(t(self.lang, "report.edit_button", field=item.label.get(self.lang)), _data("r", draft.token, "e", index))
            for index, item in enumerate(form.fields)
        ]
        rows = [edits[i : i + 2] for i in range(0, len(edits), 2)]
        rows.append(
            [
                Button(t(self.lang, "report.submit_button"), _data("r", draft.token, "ok")),
                Button(t(self.lang, "report.cancel_button"), _data("r", draft.token, "x")),
            ]
        )
        return Screen("\n".join(lines), rows)

    def _resume_screen(self, draft: Draft, start: Start) -> Screen:
        form = self._form_or_none(draft.form_key)
        total = len(form.fields) if form else 0
        done = len(draft.answers)
        if draft.step == STEP_FORM:
            step = t(self.lang, "report.step_form")
        elif draft.step == STEP_PERIOD:
            step = t(self.lang, "report.step_period")
        elif draft.step == STEP_REVIEW or form is None:
            step = t(self.lang, "report.step_review")
        else:
            step = form.field(draft.step).label.get(self.lang)
        what = self._what(draft)
        if draft.correction_of is not None:
            what = t(self.lang, "report.what_correction", what=what)
        text = t(self.lang, "report.resume_prompt", what=what, done=done, total=total, step=step)
        rows = [
            [
                Button(t(self.lang, "report.continue_button"), _data("r", draft.token, "k")),
                Button(t(self.lang, "report.discard_button"), _data("r", draft.token, "n", start.encode())),
            ]
        ]
        return Screen(text, rows)

    # ----- small helpers -----------------------------------------------------------------
    def _header(self, form: Form, draft: Draft, index: int) -> str:
        return t(
            self.lang,
            "report.header",
            form=form.short.get(self.lang),
            period=self._period_label(form, draft),
            n=index + 1,
            total=len(form.fields),
        )

    def _period_label(self, form: Form, draft: Draft) -> str:
        period = self._period(form, draft.period) if draft.period else None
        return period.label(self.lang) if period else ""

    def _what(self, draft: Draft) -> str:
        """"学生饮用奶月报（2026年11月）" for messages about a draft."""
        form = self._form_or_none(draft.form_key) if draft.form_key else None
        if form is None:
            return t(self.lang, "report.a_report")
        label = self._period_label(form, draft)
        if not label:
            return form.title.get(self.lang)
        return t(self.lang, "report.what", form=form.title.get(self.lang), period=label)

    def _asked_field(self, draft: Draft | None) -> Field | None:
        """The field the draft's current step asks, if it is a question."""
        if draft is None or draft.step in (STEP_FORM, STEP_PERIOD, STEP_REVIEW):
            return None
        return self.catalogue.get(draft.form_key).field(draft.step)

    def _unit_hint(self, item: Field) -> str:
        return t(self.lang, "input.unit_hint", unit=item.unit.get(self.lang)) if item.unit is not None else ""

    def _shown(self, item: Field, stored: str | None) -> str:
        value = _decode(item, stored)
        return t(self.lang, "report.skipped") if value is None else item.format(value, self.lang)

    def _figures_from_answers(self, form: Form, answers: Mapping[str, str | None]) -> str:
        return "\n".join(
            t(self.lang, "report.line", field=item.label.get(self.lang), value=self._shown(item, answers.get(item.key)))
            for item in form.fields
            if item.key in answers
        )

    def _figures(self, form: Form, report: Report) -> str:
        """A saved report's answers, one line each, in the form's order."""
        stored = {value.field_key: value for value in report.values}
        return "\n".join(
            t(self.lang, "report.line", field=item.label.get(self.lang), value=self._saved_text(item, stored[item.key]))
            for item in form.fields
            if item.key in stored
        )

    @staticmethod
    def _saved_answers(form: Form, report: Report) -> dict[str, str | None]:
        """A saved report's answers to ``form``'s fields, as a draft keeps them (skipped: None)."""
        saved: dict[str, str | None] = {}
        for value in report.values:
            try:
                item = form.field(value.field_key)
            except KeyError:
                continue  # a field the current version no longer asks
            answer = item.from_storage(value.num_value, value.text_value)
            saved[item.key] = None if answer is None else encode_answer(answer)
        for item in form.fields:
            if not item.required and item.key not in saved:
                saved[item.key] = None  # skipped when it was filed
        return saved

    def _key_figures(self, form: Form, report: Report, limit: int, *, labels: bool = True) -> str:
        """The first ``limit`` answers on one line, the form's headline figure first."""
        stored = {value.field_key: value for value in report.values}
        fields = [item for item in form.fields if item.key in stored]
        main = form.main_field
        if main is not None and main in fields:
            fields.remove(main)
            fields.insert(0, main)
        shown = []
        for item in fields[:limit]:
            text = self._saved_text(item, stored[item.key])
            shown.append(t(self.lang, "report.figure", field=item.label.get(self.lang), value=text) if labels else text)
        return t(self.lang, "report.figure_separator").join(shown)

    def _saved_text(self, item: Field, value: ReportValue) -> str:
        answer = item.from_storage(value.num_value, value.text_value)
        return t(self.lang, "report.skipped") if answer is None else item.format(answer, self.lang)

    def _form_or_none(self, key: str) -> Form | None:
        try:
            return self.catalogue.get(key)
        except KeyError:
            return None

    def _period(self, form: Form, key: str | None) -> Period | None:
        if not key:
            return None
        try:
            return parse_period(form.period_cadence, key)
        except ValueError:
            return None

    def _open(self, form: Form, period: Period) -> bool:
        """True if the principal may still file ``period`` (started, and not past the lock)."""
        return period in reportable_periods(form, self.now, self.tz)

    def _locked_text(self, form: Form, period: Period) -> str:
        return t(self.lang, "report.locked", form=form.title.get(self.lang), period=period.label(self.lang))

    def _when(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")

    def _moment(self, moment: datetime) -> str:
        """"11月26日 10:05" (local time): when something just happened."""
        local = moment.astimezone(self.tz)
        month_name = t(self.lang, "period.month_names").split(",")[local.month - 1]
        return t(
            self.lang, "report.moment", month=local.month, month_name=month_name, day=local.day, time=local.strftime("%H:%M")
        )

    async def _school(self, session: AsyncSession) -> School:
        school = await session.get(School, self.reporter.school_id)
        if school is None:
            raise LookupError(f"school {self.reporter.school_id} of person {self.reporter.person_id} is gone")
        return school

    async def _school_forms(self, session: AsyncSession) -> list[Form]:
        """The forms this school reports (its programmes come with the identity)."""
        if self._forms is None:
            programmes = self.reporter.programmes
            if programmes is None:
                programmes = frozenset(await programmes_of(session, self.reporter.school_id))
            self._forms = self.catalogue.forms_for(programmes)
        return self._forms

    async def _allowed_form(self, session: AsyncSession, key: str, out: Outcome) -> Form | None:
        """The form if this school must or may report it; else say why not."""
        form = self._form_or_none(key)
        if form is None:
            out.alert = t(self.lang, "core.stale_button")
            return None
        if form not in await self._school_forms(session):
            out.say(t(self.lang, "report.not_expected", form=form.title.get(self.lang)))
            return None
        return form

