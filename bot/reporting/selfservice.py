"""A principal's self-service: /status (what is due, filed, overdue), /history (recent
reports) and /correct (the reports that can still be corrected, as buttons)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.catalogue import Form
from bot.core.i18n import t
from bot.core.periods import Period, default_period, due_date, local_date, period_of, reportable_periods
from bot.core.ui import Button
from bot.reporting import flow
from bot.reporting.codec import Start, _data, report_now
from bot.reporting.screens import Screens
from bot.reporting.service import Outcome, Reporter, Reporting, saved_report, settle, state_of
from bot.reporting.state import SavedReport, period_or_none
from storage.drafts import delete_draft, draft_of
from storage.models import School
from storage.reports import count_current_reports, current_report, recent_reports, reported_periods

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
        """/correct: the school's recent reports whose period is still open, as buttons."""
        out = Outcome()
        async with self.db.session() as session:
            reports = [saved_report(r) for r in await recent_reports(session, self.reporter.school_id, limit=RECENT_LIMIT)]
        rows: list[list[Button]] = []
        for report in reports:
            form = self.screens.form_or_none(report.form_key)
            period = period_or_none(form, report.period) if form is not None else None
            if form is None or period is None or period not in reportable_periods(form, self.now, self.tz):
                continue
            figure = self.screens.key_figures(form, report, 1, labels=False)
            label = t(self.lang, "report.correct_row", form=form.short.get(self.lang), period=period.label(self.lang), figure=figure)
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
            reports = [saved_report(r) for r in await recent_reports(session, school.id, limit=RECENT_LIMIT)]
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
            who=self.screens.who(report),
            when=self.screens.when(report.submitted_at),
            late=t(self.lang, "report.history.late") if report.is_late else "",
        )
