"""A principal's self-service: /status (what is due, filed, overdue), /history (recent
reports, withdrawn ones marked) and /correct (the reports that can still be corrected or
withdrawn, as buttons, each told apart by when it was filed, its crop and its figure).

Withdrawing asks first (``wd:<id>``), then writes the next version of the entry marked
withdrawn (``wd:y:<id>``), audited as ``report.withdrawn``; the id on the buttons is the
version the principal saw, so a second press, a stale button or one forged for another
school's entry writes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.catalogue import Form
from bot.core.fields import FieldType
from bot.core.i18n import t
from bot.core.periods import Period, default_period, due_date, local_date, period_of, reportable_periods
from bot.core.ui import Button
from bot.reporting import flow
from bot.reporting.codec import Start, Withdraw, _data, report_now
from bot.reporting.screens import Screens
from bot.reporting.service import Outcome, Reporter, Reporting, saved_report, settle, state_of
from bot.reporting.state import SavedReport, period_or_none
from storage.drafts import delete_draft, draft_of
from storage.models import Report, School
from storage.people import audit
from storage.reports import (
    CurrentChanged,
    count_current_reports,
    current_report,
    recent_reports,
    report_by_id,
    reported_periods,
    save_report_retrying,
    withdrawal,
)

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["SelfService"]

# How many saved reports /correct offers and /history lists.
RECENT_LIMIT = 10
# Figures per report in /history and on /correct buttons: enough to recognise it.
HISTORY_FIGURES = 3


class SelfService:
    """/status, /history and /correct for one principal."""

    def __init__(self, services: Services, reporter: Reporter) -> None:
        self.db = services.db
        self.catalogue = services.catalogue
        self.tz = services.settings.timezone
        self.reporter = reporter
        self.lang = reporter.lang
        self.now = services.clock.now()
        self.screens = Screens(self.catalogue, self.lang, self.tz)
        # The conversation's view of this update (its context: the school, now, the facts).
        self._reporting = Reporting(services, reporter)

    async def _school(self, session: AsyncSession) -> School:
        school = await session.get(School, self.reporter.school_id)
        if school is None:
            raise LookupError(f"school {self.reporter.school_id} of person {self.reporter.person_id} is gone")
        return school

    async def corrections(self) -> Outcome:
        """/correct: the school's recent reports whose period is still open, to correct or withdraw."""
        out = Outcome()
        async with self.db.session() as session:
            reports = [saved_report(r) for r in await recent_reports(session, self.reporter.school_id, limit=RECENT_LIMIT)]
        rows: list[list[Button]] = []
        locked: list[str] = []
        approved: list[SavedReport] = []
        for report in reports:
            form = self._open_form(report)
            if form is None:
                continue
            if report.approved:
                # Locked for the principal: named, with who approved it, but no buttons.
                locked.append(t(self.lang, "review.correct_locked", entry=self._entry(form, report)))
                approved.append(report)
                continue
            label = self._entry(form, report)
            if report.review == "returned":
                label = t(self.lang, "review.returned_mark") + label
            rows.append(
                [
                    Button(label, _data(Start("fix", report_id=report.id).encode())),
                    Button(t(self.lang, "withdraw.button"), Withdraw("ask", report.id).encode()),
                ]
            )
        if approved:
            locked.append(self.screens.approved_lock(approved[0]) if len(approved) == 1 else t(self.lang, "review.locked_many"))
        if rows:
            out.say("\n".join([t(self.lang, "withdraw.choose"), *locked]), rows)
        elif locked:
            out.say("\n".join(locked))
        else:
            out.say(t(self.lang, "report.correct_none"))
        return out

    def _open_form(self, report: SavedReport) -> Form | None:
        """The report's form if its period may still be corrected or withdrawn, else None."""
        form = self.screens.form_or_none(report.form_key)
        period = period_or_none(form, report.period) if form is not None else None
        if form is None or period is None or period not in reportable_periods(form, self.now, self.tz):
            return None
        return form

    def _entry(self, form: Form, report: SavedReport) -> str:
        """One entry on a line: form, period, when filed, its crop (first choice) and headline figure."""
        period = period_or_none(form, report.period)
        choice = next((f for f in form.fields if f.type is FieldType.CHOICE and f.key in report.values), None)
        label = t(
            self.lang,
            "withdraw.row",
            form=form.short.get(self.lang),
            period=period.label(self.lang) if period is not None else report.period,
            date=report.submitted_at.astimezone(self.tz).strftime("%m-%d %H:%M"),
            choice=self.screens.saved_text(choice, report.values[choice.key]) if choice is not None else "",
            figure=self.screens.key_figures(form, report, 1, labels=False),
        )
        return " ".join(label.split())

    async def withdraw(self, data: str) -> Outcome:
        """A withdraw button of /correct: ask to confirm, withdraw, or keep the entry."""
        step = Withdraw.decode(data)
        if step is None:
            return Outcome(alert=t(self.lang, "core.stale_button"))
        out = Outcome(used_up=step.step != "ask")
        if step.step == "no":
            out.say(t(self.lang, "withdraw.kept"))
            return out
        async with self.db.session() as session:
            found = await report_by_id(session, step.report_id)
            refusal = await self._refusal(session, found)
            report = saved_report(found) if found is not None else None
        form = self._open_form(report) if report is not None and refusal is None else None
        if report is None or form is None:
            out.say(refusal or t(self.lang, "withdraw.closed"))
            return out
        entry = self._entry(form, report)
        if step.step == "ask":
            buttons = [
                Button(t(self.lang, "withdraw.yes"), Withdraw("yes", report.id).encode()),
                Button(t(self.lang, "withdraw.no"), Withdraw("no", report.id).encode()),
            ]
            figures = self.screens.figures(form, report)
            out.say(t(self.lang, "withdraw.confirm", entry=entry, figures=figures), [buttons])
            return out
        assert found is not None
        out.say(await self._withdrawn(found, entry))
        return out

    async def _refusal(self, session: AsyncSession, found: Report | None) -> str | None:
        """Why ``found`` cannot be withdrawn now (gone, another school's, withdrawn, changed), or None."""
        if found is None or found.school_id != self.reporter.school_id:
            return t(self.lang, "report.correct_gone")
        if found.withdrawn:
            return t(self.lang, "withdraw.already")
        if found.is_current and found.review == "approved":
            return self.screens.approved_lock(saved_report(found))
        if not found.is_current:
            live = await current_report(session, found.school_id, found.form_key, found.period, found.series)
            return t(self.lang, "withdraw.already" if live is None else "withdraw.changed")
        return None

    async def _withdrawn(self, report: Report, entry: str) -> str:
        """Write the withdrawn version and its audit row; say what happened."""
        new = withdrawal(report, reporter_id=self.reporter.person_id, at=self.now)

        async def record(session: AsyncSession, saved: Report) -> None:
            detail: dict[str, object] = {
                "form": saved.form_key,
                "period": saved.period,
                "version": saved.version,
                "report_id": saved.id,
                "supersedes": saved.supersedes_id,
            }
            if saved.series:
                detail["series"] = saved.series
            audit(session, self.now, self.reporter.telegram_id, "report.withdrawn", self.reporter.school_code, **detail)

        try:
            await save_report_retrying(self.db, new, also=record)
        except CurrentChanged:
            # Corrected or withdrawn between the check and the save (a second press, another reporter).
            return t(self.lang, "withdraw.changed")
        return t(self.lang, "withdraw.done", entry=entry)

    async def status(self) -> Outcome:
        """/status: for each form the school must report, the period due now and any overdue ones."""
        out = Outcome()
        today = local_date(self.now, self.tz)
        lines: list[str] = []
        rows: list[list[Button]] = []
        async with self.db.session() as session:
            school = await self._school(session)
            for form in self.catalogue.forms_for(school.programme_set):
                if form.due_days is None:
                    if form.is_event:
                        lines.append(await self._event_line(session, form, period_of(form.period_cadence, today)))
                    continue
                await self._form_lines(session, form, lines, rows)
            draft_line = await self._draft_line(session, out)
        lines += [draft_line] if draft_line else []
        text = [t(self.lang, "report.status.title", school=school.name, today=today.isoformat())]
        text += lines or [t(self.lang, "report.status.none")]
        if rows:
            text.append(t(self.lang, "report.status.buttons"))
        out.say("\n".join(text), rows)
        return out

    async def _event_line(self, session: AsyncSession, form: Form, period: Period) -> str:
        count = await count_current_reports(session, self.reporter.school_id, form.key, period.key)
        names = {"form": form.short.get(self.lang), "period": period.label(self.lang)}
        return t(self.lang, "report.status.event", count=count, command=form.command, **names)

    async def _form_lines(self, session: AsyncSession, form: Form, lines: list[str], rows: list[list[Button]]) -> None:
        """A form with a due rule: the current period filed or due, and every overdue one."""
        today = local_date(self.now, self.tz)
        periods = sorted(reportable_periods(form, self.now, self.tz))
        current = default_period(form, self.now, self.tz)
        filed = await reported_periods(session, self.reporter.school_id, form.key, [p.key for p in periods])
        for period in periods:
            due = due_date(form, period)
            assert due is not None  # forms without a due rule are the caller's
            names = {"form": form.short.get(self.lang), "period": period.label(self.lang), "due": due.isoformat()}
            if period.key in filed:
                if period == current:
                    report = await current_report(session, self.reporter.school_id, form.key, period.key)
                    when = self.screens.when(report.submitted_at) if report is not None else ""
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

    async def _draft_line(self, session: AsyncSession, out: Outcome) -> str | None:
        """The draft in flight, if any; one started for a school the principal left is dropped."""
        draft = await draft_of(session, self.reporter.person_id)
        if draft is None:
            return None
        state = state_of(draft)
        ctx = self._reporting.context()
        moved = await settle(session, self.reporter.school_id, ctx.facts, lambda: flow.moved_away(state, ctx))
        if moved is not None:
            out.say(moved)
            await delete_draft(session, draft.id, revision=draft.revision)
            return None
        if state.form_key and not ctx.expired(state):
            return t(self.lang, "report.status.draft", what=self.screens.what(state))
        return None

    async def history(self) -> Outcome:
        """/history: the school's recent current reports with their key figures."""
        out = Outcome()
        async with self.db.session() as session:
            school = await self._school(session)
            recent = await recent_reports(session, school.id, limit=RECENT_LIMIT, withdrawn=True)
            reports = [saved_report(r) for r in recent]
        if not reports:
            out.say(t(self.lang, "report.history.none"))
            return out
        lines = [t(self.lang, "report.history.title", school=school.name)]
        lines += [self._history_row(report) for report in reports]
        lines.append(t(self.lang, "report.history.hint"))
        out.say("\n".join(lines))
        return out

    def _history_row(self, report: SavedReport) -> str:
        form = self.screens.form_or_none(report.form_key)
        period = period_or_none(form, report.period) if form is not None else None
        return t(
            self.lang,
            "report.history.row",
            form=form.short.get(self.lang) if form else report.form_key,
            period=period.label(self.lang) if period else report.period,
            figures=self.screens.key_figures(form, report, HISTORY_FIGURES) if form else "",
            version=report.version,
            who=self.screens.who(report, reason=True),
            when=self.screens.when(report.submitted_at),
            late=(t(self.lang, "report.history.late") if report.is_late else "")
            + (t(self.lang, "withdraw.history_mark") if report.withdrawn else ""),
        )
