"""The flow's beginnings and end: starting a draft (a form, a period, a correction) and
asking to submit it (the ``Save`` intent). Pure, like ``bot.reporting.flow``, which calls these."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from bot.core.catalogue import Form
from bot.core.periods import Period, filed_while_running, is_late, is_over, local_date, period_of, reportable_periods
from bot.reporting.codec import Start
from bot.reporting.previous import remember_previous
from bot.reporting.screens import screens_for
from bot.reporting.state import (
    STEP_FORM,
    STEP_PERIOD,
    STEP_REVIEW,
    Ctx,
    DraftState,
    SavedReport,
    Save,
    Show,
    Stale,
    Step,
    Stored,
    decode,
    next_step,
    period_or_none,
    saved_answers,
    still_valid,
)


def begin_or_resume(out: Step, start: Start, ctx: Ctx) -> None:
    """Begin ``start``; carry on if the draft already is it; never drop typed answers unasked."""
    state = out.state
    if state is not None and _is_target(state, start):
        out.screens.append(Show())
    elif not _startable(out, start, ctx):
        pass  # refused (stale, not this school's form, closed period): the draft stays as it was
    elif state is not None and (state.answers or state.correction_of is not None):
        out.screens.append(screens_for(ctx).resume(state, start))
    else:
        begin(out, start, ctx, keep=state)  # a draft without answers is simply replaced


def _is_target(state: DraftState, start: Start) -> bool:
    """True if the draft already is what the principal asks to start: just carry on."""
    if start.kind == "fix":
        return state.correction_of == start.report_id
    if state.correction_of is not None or not state.form_key:
        return False
    if start.kind == "form":
        return state.form_key == start.form_key
    return start.kind == "go" and state.form_key == start.form_key and state.period == start.period


def _startable(out: Step, start: Start, ctx: Ctx) -> bool:
    """Check a start before offering to drop a draft for it; say why not if it cannot be."""
    if start.kind == "menu":
        return True
    if start.kind == "fix":
        report = ctx.facts.report(start.report_id)
        if report is None or report.school_id != ctx.school_id:
            out.say(screens_for(ctx).say("report.correct_gone"))
            return False
        return True
    form = _allowed_form(out, start.form_key, ctx)
    if form is None:
        return False
    if start.kind == "go":
        return _open_period(out, form, start.period, ctx) is not None
    return True


def _allowed_form(out: Step, key: str, ctx: Ctx) -> Form | None:
    """The form if this school must or may report it; else say why not."""
    form = ctx.form_or_none(key)
    if form is None:
        out.alert = screens_for(ctx).say("core.stale_button")
        return None
    if form not in ctx.school_forms():
        out.say(screens_for(ctx).say("report.not_expected", form=form.title.get(ctx.lang)))
        return None
    return form


def _open_period(out: Step, form: Form, key: str, ctx: Ctx) -> Period | None:
    """The period named by a go: button, if it may still be filed; else say why not."""
    period = period_or_none(form, key)
    if period is None:
        out.alert = screens_for(ctx).say("core.stale_button")
        return None
    if refused(out, form, period, ctx):
        return None
    return period


def refused(out: Step, form: Form, period: Period, ctx: Ctx) -> bool:
    """Say why ``period`` cannot be filed now, if it cannot: not over yet, or past its lock."""
    why = refusal(form, period, ctx)
    if why is not None:
        out.say(why)
    return why is not None


def refusal(form: Form, period: Period, ctx: Ctx) -> str | None:
    """Why ``period`` of ``form`` cannot be filed now (None: it can)."""
    if not filed_while_running(form) and not is_over(period, ctx.now, ctx.tz):
        # A forged or old go:/period button: a month is filed once it is over, never by accident.
        return screens_for(ctx).not_over(form, period)
    if not ctx.is_open(form, period):
        return screens_for(ctx).locked(form, period)
    return None


def begin(out: Step, start: Start, ctx: Ctx, keep: DraftState | None = None) -> None:
    """Start afresh; when refused, the draft is ``keep`` (the one there was, or none)."""
    out.state = keep
    if start.kind == "menu":
        if not ctx.school_forms():
            out.say(screens_for(ctx).say("report.no_forms"))
            return
        out.state = _fresh(ctx, form_key="", form_version=0, step=STEP_FORM)
        out.screens.append(Show())
        return
    if start.kind == "fix":
        begin_fix(out, start.report_id, ctx)
        return
    form = _allowed_form(out, start.form_key, ctx)
    if form is None:
        return
    if start.kind == "form":
        periods = reportable_periods(form, ctx.now, ctx.tz)
        if not periods:
            out.screens.append(
                screens_for(ctx).nothing_to_file(form, period_of(form.period_cadence, local_date(ctx.now, ctx.tz)))
            )
            return
        if len(periods) == 1:
            # Nothing to choose: the question header names the period.
            choose_period(out, None, form, periods[0], ctx)
            return
        out.state = _fresh(ctx, form_key=form.key, form_version=form.version, step=STEP_PERIOD)
        out.screens.append(Show())
        return
    period = _open_period(out, form, start.period, ctx)
    if period is not None:
        choose_period(out, None, form, period, ctx)


def choose_period(out: Step, state: DraftState | None, form: Form, period: Period, ctx: Ctx) -> None:
    """The period is chosen: offer a correction if it is already filed, else ask the first question."""
    out.used_up = True
    if not form.is_event:
        existing = ctx.facts.current(form.key, period.key)
        if existing is not None:
            if state is None:
                state = _fresh(ctx, form_key=form.key, form_version=form.version, step=STEP_PERIOD)
            out.state = state
            out.screens.append(Show(existing=existing))
            return
    if state is None:
        state = _fresh(ctx, form_key=form.key, form_version=form.version, step=next_step(form, {}), period=period.key)
    else:
        state = dataclasses.replace(state, period=period.key, step=next_step(form, state.answers), updated_at=ctx.now)
    out.state = remember_previous(state, form, period, ctx)
    out.screens.append(Show())


def begin_fix(out: Step, report_id: int, ctx: Ctx) -> None:
    """Open a draft prefilled with a saved report's current figures, at the review."""
    screens = screens_for(ctx)
    report = ctx.facts.report(report_id)
    if report is None or report.school_id != ctx.school_id:
        out.say(screens.say("report.correct_gone"))
        return
    if report.withdrawn or not report.is_current:
        # Corrected meanwhile: correct the newest figures, not the ones on the old button;
        # a withdrawn entry has none (the current fact skips it) and is filed anew instead.
        current = ctx.facts.current(report.form_key, report.period, report.series)
        if current is None:
            out.say(screens.say("withdraw.no_fix"))
            return
        report = current
    if report.approved and not ctx.office:
        # Approved by the office: locked for the principal (the office reopens it to change it).
        # The office's own correction on behalf is not: it is saved as a new version, submitted
        # again, and the approval stays in the history (the office can lift its own approval).
        out.say(screens.approved_lock(report))
        return
    form = ctx.form_or_none(report.form_key)
    if form is None:
        out.say(screens.say("report.form_gone", form=report.form_key))
        return
    period = period_or_none(form, report.period)
    if period is None:
        out.say(screens.say("report.correct_gone"))
        return
    if refused(out, form, period, ctx):
        return
    answers = still_valid(form, saved_answers(form, report))
    out.state = _fresh(
        ctx,
        form_key=form.key,
        form_version=form.version,
        step=next_step(form, answers),
        period=period.key,
        answers=answers,
        correction_of=report.id,
        notes={"originals": kept_originals(report.originals, answers)} if report.originals else None,
    )
    out.state = remember_previous(out.state, form, period, ctx)
    out.used_up = True
    out.screens.append(Show())


def _fresh(
    ctx: Ctx,
    *,
    form_key: str,
    form_version: int,
    step: str,
    period: str | None = None,
    answers: Mapping[str, str | None] | None = None,
    correction_of: int | None = None,
    notes: Mapping[str, Any] | None = None,
) -> DraftState:
    """A new draft; its fresh token makes every button of the previous one stale. Office staff's
    draft keeps what they are filing for the school, and why (``Ctx.behalf``)."""
    if ctx.behalf is not None:
        notes = {**(notes or {}), "behalf": dict(ctx.behalf)}
    return DraftState(
        token=ctx.token,
        form_key=form_key,
        form_version=form_version,
        step=step,
        updated_at=ctx.now,
        created_at=ctx.now,
        period=period,
        answers=dict(answers or {}),
        correction_of=correction_of,
        school_id=ctx.school_id,
        notes=dict(notes or {}),
    )


# --- submitting ------------------------------------------------------------------------------
def submit(out: Step, state: DraftState, form: Form, ctx: Ctx) -> None:
    """ "Submit" on the review: the ``Save`` intent (nothing is written here), or the period closed."""
    if state.step != STEP_REVIEW:
        raise Stale
    if ctx.office and behalf_reason(state) is None:
        raise Stale  # the office files only with the reason it was asked for first
    period = period_or_none(form, state.period)
    assert period is not None  # a draft reaches the review only with a period
    answers = dict(state.answers)
    why = refusal(form, period, ctx)
    if why is not None:
        screens = screens_for(ctx)
        figures = screens.answers(form, answers)
        out.say(why + "\n\n" + screens.say("report.locked_answers", figures=figures))
        out.state, out.used_up = None, True
        return
    values: dict[str, Stored] = {}
    for item in form.fields:
        if item.key not in answers:
            raise AssertionError(f"draft at review without {item.key!r}")
        stored = answers[item.key]
        if stored is not None:
            values[item.key] = item.to_storage(decode(item, stored))
    series: str | None = ""
    late = is_late(form, period, ctx.now, ctx.tz)
    original = ctx.facts.report(state.correction_of) if state.correction_of is not None else None
    if original is not None and original.approved and not ctx.office:
        # Approved while the correction was being typed: locked, nothing is saved.
        out.say(screens_for(ctx).approved_lock(original))
        out.state, out.used_up = None, True
        return
    if original is not None:
        # A correction stays in its series (a harvest keeps its own), and fixing a typo
        # after the deadline does not make an on-time report late.
        series, late = original.series, original.is_late and late
    elif state.correction_of is None and form.is_event:
        series = None  # each harvest is its own series
    changed = _changes(form, original, answers) if original is not None else None
    if original is not None and not changed:
        unchanged(out, original, ctx)
        return
    out.save = Save(
        form=form,
        period=period,
        answers=answers,
        values=values,
        late=late,
        series=series,
        # Saved only on top of the version the principal saw: the one corrected, or none.
        based_on=state.correction_of,
        changed=changed,
        originals=kept_originals(state.notes.get("originals") or {}, answers),
        behalf_reason=behalf_reason(state),
    )


def behalf_reason(state: DraftState) -> str | None:
    """The reason office staff gave for filing this draft for the school (None: not the office's)."""
    behalf = state.notes.get("behalf")
    reason = behalf.get("reason") if isinstance(behalf, Mapping) else None
    return reason if isinstance(reason, str) and reason else None


def _changes(form: Form, original: SavedReport, answers: Mapping[str, str | None]) -> dict[str, dict[str, str | None]]:
    """For the audit log: each answer the correction changes, ``{"before": ..., "after": ...}``
    as stored in drafts (a field the form no longer asks counts as dropped)."""
    before = saved_answers(form, original)
    for key, (num, text) in original.values.items():
        if key not in before:
            before[key] = text if num is None else format(num, "f")
    changed: dict[str, dict[str, str | None]] = {}
    for key in [item.key for item in form.fields] + [k for k in before if k not in answers]:
        old, new = before.get(key), answers.get(key)
        if old != new:
            changed[key] = {"before": old, "after": new}
    return changed


def unchanged(out: Step, original: SavedReport, ctx: Ctx) -> None:
    """A correction identical to the version it corrects: nothing is saved, and the draft ends."""
    out.say(screens_for(ctx).say("report.correction_unchanged", version=original.version))
    out.state, out.used_up = None, True


# --- the words as typed, for converted units -------------------------------------------------
def with_original(notes: Mapping[str, Any], key: str, original: str | None) -> Mapping[str, Any]:
    """The draft's notes with ``key``'s words as typed ("1200斤"), or without them (not converted)."""
    originals = dict(notes.get("originals") or {})
    if original is None and key not in originals:
        return notes
    if original is None:
        originals.pop(key)
    else:
        originals[key] = original
    kept = {name: value for name, value in notes.items() if name != "originals"}
    return {**kept, "originals": originals} if originals else kept


def kept_originals(originals: Mapping[str, str], answers: Mapping[str, str | None]) -> dict[str, str]:
    """The words as typed for the answers still there (a skipped answer has none)."""
    return {key: text for key, text in originals.items() if answers.get(key) is not None}


__all__ = [
    "begin",
    "begin_fix",
    "begin_or_resume",
    "behalf_reason",
    "choose_period",
    "kept_originals",
    "refusal",
    "refused",
    "submit",
    "unchanged",
    "with_original",
]
