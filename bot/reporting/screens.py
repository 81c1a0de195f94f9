"""Every text and screen of the report conversation, in the principal's language.

Pure builders: they get what they show (the draft state, the form, saved
reports as ``SavedReport``, the periods already filed) and return
``bot.core.ui`` screens with button data from ``bot.reporting.codec``; texts
come from the ``report.*`` i18n catalogue.
"""

from __future__ import annotations

import dataclasses

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, tzinfo

from bot.core.catalogue import Catalogue, Form
from bot.core.fields import Field, FieldType
from bot.core.i18n import t
from bot.core.periods import Period, default_period, reportable_periods
from bot.core.ui import Button, Screen
from bot.reporting.checks import Finding, noted_previous
from bot.reporting.codec import Start, _data
from bot.reporting.previous import previous_answer
from bot.reporting.state import (
    STEP_BEHALF,
    STEP_FORM,
    Ctx,
    STEP_PERIOD,
    STEP_REASON,
    STEP_REVIEW,
    DraftState,
    SavedReport,
    Stored,
    decode,
    period_or_none,
)


def pairs(buttons: list[Button]) -> list[list[Button]]:
    """Buttons two to a row."""
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


class Screens:
    """The conversation's screens for one principal (language, time zone)."""

    def __init__(self, catalogue: Catalogue, lang: str, tz: tzinfo) -> None:
        self.catalogue = catalogue
        self.lang = lang
        self.tz = tz

    def say(self, key: str, **params: object) -> str:
        return t(self.lang, key, **params)

    # ----- the step's screen -------------------------------------------------------------
    def form_menu(self, state: DraftState, forms: list[Form]) -> Screen:
        rows = [[Button(form.title.get(self.lang), _data("r", state.token, "f", form.key))] for form in forms]
        rows.append([self._cancel(state)])
        return Screen(self.say("report.choose_form"), rows)

    def period_menu(
        self,
        form: Form,
        state: DraftState,
        now: datetime,
        filed: Collection[str],
        existing: SavedReport | None = None,
        *,
        office: bool = False,
    ) -> Screen:
        """Choose the period (the one due first); with ``existing``, it is filed already: correct it?
        (``office``: staff filing for the school, who have no school of their own: "that school".)"""
        periods = reportable_periods(form, now, self.tz)
        current = default_period(form, now, self.tz)
        # Newest first, the one due starred (only periods that may be filed: see reportable_periods).
        ordered = sorted(periods, key=lambda p: -p.start.toordinal())
        rows: list[list[Button]] = []
        if existing is not None:
            rows.append([Button(self.say("report.correct_button"), _data("r", state.token, "c", existing.period))])
        for period in ordered:
            if existing is not None and period.key == existing.period:
                continue
            label = period.label(self.lang)
            if period.key in filed:
                label = self.say("report.period_reported", period=label)
            if period == current:
                label = self.say("report.period_default", period=label)
            rows.append([Button(label, _data("r", state.token, "p", period.key))])
        rows.append([self._cancel(state)])
        if existing is None:
            return Screen(self.say("report.choose_period", form=form.title.get(self.lang)), rows)
        filed_period = period_or_none(form, existing.period)
        text = self.say(
            "report.p3_exists_office" if office else "report.exists",
            form=form.title.get(self.lang),
            period=filed_period.label(self.lang) if filed_period else existing.period,
            version=existing.version,
            who=self.who(existing),
            when=self.when(existing.submitted_at),
            figures=self.figures(form, existing),
        )
        return Screen(text, rows)

    def question(self, form: Form, state: DraftState, item: Field) -> Screen:
        index = form.fields.index(item)
        lines = [self.header(form, state, index)]
        if item.type is FieldType.CHOICE:
            lines.append(self.say("report.ask_choice", field=item.label.get(self.lang)))
        else:
            lines.append(self.say("report.ask", field=item.label.get(self.lang), unit_hint=self.unit_hint(item)))
        if item.help is not None:
            lines.append(item.help.get(self.lang))
        lines += self.previous_line(form, state, item)
        if item.key in state.answers:
            lines.append(self.say("report.current", value=self.shown(item, state.answers[item.key])))
        if not item.required:
            lines.append(self.say("report.optional_hint"))
        lines.append(self.say("report.cancel_hint"))
        return Screen("\n".join(lines), self.question_buttons(form, state, item))

    def question_buttons(self, form: Form, state: DraftState, item: Field) -> list[list[Button]]:
        index = form.fields.index(item)
        rows: list[list[Button]] = []
        if item.type is FieldType.CHOICE:
            rows += pairs(
                [
                    Button(choice.label.get(self.lang), _data("r", state.token, "v", index, n))
                    for n, choice in enumerate(item.choices)
                ]
            )
        extra: list[Button] = self.same_button(state, item, index)
        if item.default is not None and item.type is not FieldType.CHOICE:
            shown = item.format(item.parse(item.default), self.lang)
            extra.append(Button(self.say("report.default_button", value=shown), _data("r", state.token, "d", index)))
        if not item.required:
            extra.append(Button(self.say("report.skip_button"), _data("r", state.token, "s", index)))
        if extra:
            rows.append(extra)
        if state.editing:
            rows.append([Button(self.say("report.back_button"), _data("r", state.token, "b", index))])
        return rows

    def review(self, form: Form, state: DraftState, original: SavedReport | None, findings: Sequence[Finding] = ()) -> Screen:
        lines = [self.say("report.review_title", form=form.title.get(self.lang), period=self.period_label(form, state))]
        lines.append(self.answers(form, state.answers, state.notes.get("originals")))
        if original is not None:
            lines.append(self.say("report.review_correction", version=original.version))
        lines += self.finding_lines(form, findings)
        lines.append(self.say("report.review_hint"))
        edits = [
            Button(self.say("report.edit_button", field=item.label.get(self.lang)), _data("r", state.token, "e", index))
            for index, item in enumerate(form.fields)
        ]
        rows = pairs(edits)
        rows.append([Button(self.say("report.submit_button"), _data("r", state.token, "ok")), self._cancel(state)])
        return Screen("\n".join(lines), rows)

    # ----- the checks at the review (bot.reporting.review) ---------------------------------
    def finding_lines(self, form: Form, findings: Sequence[Finding]) -> list[str]:
        """Each finding on a line (errors naming their fields), then what to do about them."""
        if not findings:
            return []
        lines = ["", *(self.finding(form, finding) for finding in findings)]
        errors = any(finding.is_error for finding in findings)
        lines.append(self.say("checks.errors_hint" if errors else "checks.warnings_hint"))
        return lines

    def finding(self, form: Form, finding: Finding) -> str:
        message = finding.message.get(self.lang)
        if not finding.is_error:
            return self.say("checks.warning_line", message=message)
        names = self.say("checks.field_separator").join(form.field(key).label.get(self.lang) for key in finding.fields)
        return self.say("checks.error_line", message=message, fields=names)

    def refused(self, form: Form, state: DraftState, errors: Sequence[Finding]) -> tuple[str, list[list[Button]]]:
        """ "Submit" while an error stands: what is wrong, and the edit buttons of its fields."""
        text = self.say("checks.refused", errors="\n".join(self.finding(form, error) for error in errors))
        return text, self.finding_buttons(form, state, errors)

    def reason_prompt(self, form: Form, state: DraftState, findings: Sequence[Finding]) -> Screen:
        """Ask for the one line that confirms the warnings (or edit their fields)."""
        if not findings or any(finding.is_error for finding in findings):
            return self.review(form, state, None, findings)
        warnings = "\n".join(self.finding(form, finding) for finding in findings)
        return Screen(self.say("checks.ask_reason", warnings=warnings), self.finding_buttons(form, state, findings))

    def finding_buttons(self, form: Form, state: DraftState, findings: Sequence[Finding]) -> list[list[Button]]:
        keys = {key for finding in findings for key in finding.fields}
        edits = [
            Button(self.say("report.edit_button", field=item.label.get(self.lang)), _data("r", state.token, "e", index))
            for index, item in enumerate(form.fields)
            if item.key in keys
        ]
        return [*pairs(edits), [self._cancel(state)]]

    def previous_line(self, form: Form, state: DraftState, item: Field) -> list[str]:
        """ "上月：856 人": the school's answer last period, when there is one."""
        noted = noted_previous(state.notes)
        stored = noted[1].get(item.key) if noted is not None else None
        if noted is None or stored is None:
            return []
        before, period = period_or_none(form, noted[0]), period_or_none(form, state.period)
        if before is None:
            return []
        if period is not None and before == period.previous():
            when = self.say(f"checks.previous_when_{form.period_cadence.value}")
        else:
            when = before.label(self.lang)
        return [self.say("checks.previous_answer", when=when, value=self.shown(item, stored))]

    def same_button(self, state: DraftState, item: Field, index: int) -> list[Button]:
        """ "Same as last time" for a ``repeatable`` field the school answered last period."""
        last = previous_answer(state, item) if item.repeatable else None
        if last is None:
            return []
        label = self.say("checks.same_button", value=self.shown(item, last))
        return [Button(label, _data("r", state.token, "l", index))]

    def resume(self, state: DraftState, start: Start) -> Screen:
        """A draft is in the way of ``start``: continue it, or discard it and start?"""
        form = self.form_or_none(state.form_key)
        total = len(form.fields) if form else 0
        if state.step == STEP_FORM:
            step = self.say("report.step_form")
        elif state.step == STEP_PERIOD:
            step = self.say("report.step_period")
        elif state.step in (STEP_REVIEW, STEP_REASON) or form is None:
            step = self.say("report.step_review")
        else:
            step = form.field(state.step).label.get(self.lang)
        what = self.what(state)
        if state.correction_of is not None:
            what = self.say("report.what_correction", what=what)
        text = self.say("report.resume_prompt", what=what, done=len(state.answers), total=total, step=step)
        continue_ = Button(self.say("report.continue_button"), _data("r", state.token, "k"))
        discard = Button(self.say("report.discard_button"), _data("r", state.token, "n", start.encode()))
        return Screen(text, [[continue_, discard]])

    def _cancel(self, state: DraftState) -> Button:
        return Button(self.say("report.cancel_button"), _data("r", state.token, "x"))

    # ----- notices -----------------------------------------------------------------------
    def expired(self, state: DraftState, ttl_days: int, answers: Mapping[str, str | None] | None) -> str:
        """The draft was left too long and is gone; whatever was typed is shown once more."""
        notice = self.say("report.expired", what=self.what(state), started=self.when(state.created_at), days=ttl_days)
        form = self.form_or_none(state.form_key) if state.form_key else None
        if form is not None and answers:
            notice += "\n" + self.say("report.your_answers", figures=self.answers(form, answers))
        return notice

    def moved_school(self, state: DraftState, school: str) -> str:
        what = self.what(state)
        if state.correction_of is not None:
            what = self.say("report.what_correction", what=what)
        return self.say("report.moved_school", what=what, school=school)

    def locked(self, form: Form, period: Period) -> str:
        return self.say("report.locked", form=form.title.get(self.lang), period=period.label(self.lang))

    def approved_lock(self, report: SavedReport) -> str:
        """An approved report is locked for the principal: who approved it, and how to ask for a change."""
        who = report.reviewer_name or self.say("review.office")
        when = self.moment(report.reviewed_at) if report.reviewed_at is not None else ""
        return self.say("review.locked", who=who, when=when)

    def not_over(self, form: Form, period: Period) -> str:
        """``period`` is still running: it is filed once it is over."""
        names = {"form": form.title.get(self.lang), "period": period.label(self.lang)}
        return self.say("report.period_not_over", end=period.end.isoformat(), **names)

    def nothing_to_file(self, form: Form, current: Period) -> Screen:
        """No period can be filed now: the last is locked and ``current`` still runs."""
        names = {"form": form.title.get(self.lang), "period": current.label(self.lang)}
        return Screen(self.say("report.no_period_open", end=current.end.isoformat(), **names))

    def saved(
        self,
        form: Form,
        period: Period,
        answers: Mapping[str, str | None],
        *,
        version: int,
        submitted_at: datetime,
        late: bool,
        due: date | None,
        count: int | None,
        originals: Mapping[str, str] | None = None,
    ) -> Screen:
        """The receipt: what was saved, which version, late (after ``due``) or not, and how
        many harvests so far (``count``, for event forms)."""
        lines = [
            self.say(
                "report.saved",
                form=form.title.get(self.lang),
                period=period.label(self.lang),
                figures=self.answers(form, answers, originals),
                version=version,
                when=self.when(submitted_at),
            )
        ]
        if version > 1:
            lines.append(self.say("report.saved_correction", old=version - 1))
        if late:
            lines.append(self.say("report.saved_late", due=due.isoformat() if due else ""))
        if count is not None:
            lines.append(self.say("report.saved_event", count=count))
        return Screen("\n".join(lines))

    def changed_meanwhile(
        self, form: Form, period: Period, answers: Mapping[str, str | None], current: SavedReport | None
    ) -> Screen:
        """Someone else filed or corrected the report first: theirs, the principal's answers, correct it?"""
        unsaved = self.say("report.unsaved_answers", figures=self.answers(form, answers))
        if current is None:
            return Screen(self.say("report.correct_gone") + "\n\n" + unsaved)
        text = self.say(
            "report.corrected_meanwhile" if current.version > 1 else "report.filed_meanwhile",
            form=form.title.get(self.lang),
            period=period.label(self.lang),
            who=self.who(current),
            when=self.moment(current.submitted_at),
            version=current.version,
            figures=self.figures(form, current),
        )
        again = Button(
            self.say("report.correct_again_button", version=current.version),
            _data(Start("fix", report_id=current.id).encode()),
        )
        return Screen("\n\n".join([text, unsaved, self.say("report.correct_again_hint")]), [[again]])

    # ----- pieces ------------------------------------------------------------------------
    def header(self, form: Form, state: DraftState, index: int) -> str:
        period = self.period_label(form, state)
        return self.say("report.header", form=form.short.get(self.lang), period=period, n=index + 1, total=len(form.fields))

    def period_label(self, form: Form, state: DraftState) -> str:
        period = period_or_none(form, state.period)
        return period.label(self.lang) if period else ""

    def what(self, state: DraftState) -> str:
        """ "学生饮用奶月报（2026年11月）" for messages about a draft (the office's, at its reason: what it is for)."""
        form_key, period = state.form_key, state.period
        if state.step == STEP_BEHALF:
            behalf = state.notes.get("behalf")
            start = Start.decode(str(behalf.get("start", ""))) if isinstance(behalf, Mapping) else None
            form_key, period = (start.form_key, start.period) if start is not None else ("", None)
        form = self.form_or_none(form_key) if form_key else None
        if form is None:
            return self.say("report.a_report")
        label = self.period_label(form, dataclasses.replace(state, period=period or None))
        if not label:
            return form.title.get(self.lang)
        return self.say("report.what", form=form.title.get(self.lang), period=label)

    def media_note(self, state: DraftState, item: Field | None) -> str:
        """A photo or sticker instead of an answer: what the step waits for (typed words, a button, a figure)."""
        if state.step == STEP_BEHALF:
            return self.say("onbehalf.reason_as_text")
        if state.step == STEP_REASON:
            return self.say("checks.reason_as_text")
        if item is None:
            return self.say("report.use_buttons")
        if item.type is FieldType.CHOICE:
            return self.say("report.media_choice", field=item.label.get(self.lang))
        return self.say("report.media", field=item.label.get(self.lang), unit_hint=self.unit_hint(item))

    def unit_hint(self, item: Field) -> str:
        return self.say("input.unit_hint", unit=item.unit.get(self.lang)) if item.unit is not None else ""

    def shown(self, item: Field, stored: str | None) -> str:
        value = decode(item, stored)
        return self.say("report.skipped") if value is None else item.format(value, self.lang)

    def answers(self, form: Form, answers: Mapping[str, str | None], originals: Mapping[str, str] | None = None) -> str:
        """A draft's answers, one line each, in the form's order; a converted one with the words
        as typed (``originals``): "600 公斤（原文：1200斤）"."""
        typed = originals or {}
        lines = []
        for item in form.fields:
            if item.key not in answers:
                continue
            value = self.shown(item, answers[item.key])
            if answers[item.key] is not None and item.key in typed:
                value = self.say("report.converted", value=value, original=typed[item.key])
            lines.append(self.say("report.line", field=item.label.get(self.lang), value=value))
        return "\n".join(lines)

    def figures(self, form: Form, report: SavedReport) -> str:
        """A saved report's answers, one line each, in the form's order."""
        return "\n".join(
            self.say("report.line", field=item.label.get(self.lang), value=self.saved_text(item, report.values[item.key]))
            for item in form.fields
            if item.key in report.values
        )

    def key_figures(self, form: Form, report: SavedReport, limit: int, *, labels: bool = True) -> str:
        """The first ``limit`` answers on one line, the form's headline figure first."""
        fields = [item for item in form.fields if item.key in report.values]
        main = form.main_field
        if main is not None and main in fields:
            fields.remove(main)
            fields.insert(0, main)
        shown = []
        for item in fields[:limit]:
            text = self.saved_text(item, report.values[item.key])
            shown.append(self.say("report.figure", field=item.label.get(self.lang), value=text) if labels else text)
        return self.say("report.figure_separator").join(shown)

    def saved_text(self, item: Field, value: Stored) -> str:
        answer = item.from_storage(*value)
        return self.say("report.skipped") if answer is None else item.format(answer, self.lang)

    def who(self, report: SavedReport, *, reason: bool = False) -> str:
        """Who filed it: the reporter's name, or "由办公室 张三 代填" (with its reason when ``reason``)."""
        if not report.on_behalf:
            return report.reporter_name if report.reporter_name is not None else self.say("report.history.office")
        name = report.reporter_name
        office = self.say("onbehalf.office_named", name=name) if name else self.say("onbehalf.office")
        filed = self.say("onbehalf.filed_by", who=office)
        if reason and report.behalf_reason:
            filed += self.say("onbehalf.reason_note", reason=report.behalf_reason)
        return filed

    def when(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")

    def moment(self, moment: datetime) -> str:
        """ "11月26日 10:05" (local time): when something just happened."""
        local = moment.astimezone(self.tz)
        month_name = self.say("period.month_names").split(",")[local.month - 1]
        return self.say("report.moment", month=local.month, month_name=month_name, day=local.day, time=local.strftime("%H:%M"))

    def form_or_none(self, key: str) -> Form | None:
        try:
            return self.catalogue.get(key)
        except KeyError:
            return None


def screens_for(ctx: Ctx) -> Screens:
    """The screens in the language and time zone of the update."""
    return Screens(ctx.catalogue, ctx.lang, ctx.tz)


__all__ = ["Screens", "pairs", "screens_for"]
