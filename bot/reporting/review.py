"""The checks at the review, inside the pure flow: findings for a draft, "submit" refused
or held for a reason, the reason step, and last period's report kept for the questions.

What the checks know of the school's past comes through the flow's facts, asked only
here and in ``bot.reporting.previous``: last period's report once, when the period is
chosen (kept in ``DraftState.notes["previous"]``, so a typed answer needs no query), and
other schools' figures or the school's recent entries when the review is shown or
"submit" pressed (``draft_findings``). ``bot.reporting.checks`` decides.

Pressing "submit" with an error says which fields and offers their edit buttons;
with warnings not yet confirmed it moves the draft to ``STEP_REASON``: the next
typed line is the reason (kept in ``notes["reasons"]`` per finding) and the report
is submitted with the warnings as ``Save.flags``; an edit button goes back to the
field instead, and any edit drops the reasons given (the warning must hold again).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from bot.core.catalogue import Form
from bot.core.fields import Field
from bot.core.periods import Period, local_date
from bot.reporting.checks import Entry, Finding, History, Previous, Spread, findings, noted_previous, noted_spreads
from bot.reporting.previous import previous_answer, stored_answer
from bot.reporting.screens import screens_for
from bot.reporting.starting import submit
from bot.reporting.state import (
    STEP_REASON,
    STEP_REVIEW,
    Ctx,
    DraftState,
    Flag,
    Show,
    Stale,
    Step,
    decode,
    period_or_none,
)

__all__ = ["MAX_REASON", "draft_findings", "edit_from_review", "reason_typed", "submit_checked"]

# A reason is one line: the office reads it beside the figure.
MAX_REASON = 200


# --- findings -------------------------------------------------------------------------------
def draft_findings(state: DraftState, form: Form, ctx: Ctx, *, submitting: bool = True) -> list[Finding]:
    """What the checks find in the draft's answers (asks the facts the history checks need).

    The review screen (``submitting=False``) compares with what the draft already knows
    (last period's report, noted when the period was chosen), so the answer that reaches the
    review costs no query; other schools' figures are read when "submit" is pressed. An
    event form's recent entries are read for both: a duplicate must be caught as it is now.
    """
    period = period_or_none(form, state.period)
    assert period is not None, "a draft reaches the review only with a period"
    answers = {item.key: decode(item, state.answers[item.key]) for item in form.fields if item.key in state.answers}
    history = _history(state, form, period, ctx, peers=submitting)
    return findings(form, period, answers, history, ratio=ctx.catalogue.history_ratio)


def _history(state: DraftState, form: Form, period: Period, ctx: Ctx, *, peers: bool) -> History:
    if form.is_event:
        days = ctx.catalogue.duplicate_days
        if days <= 0:
            return History()
        # A correction is not a duplicate of the entry it corrects.
        original = ctx.facts.report(state.correction_of) if state.correction_of is not None else None
        recent = [
            Entry(entry.report_id, local_date(entry.submitted_at, ctx.tz), _answers(form, entry.values))
            for entry in ctx.facts.recent(form.key, ctx.now - timedelta(days=days))
            if original is None or entry.series != original.series
        ]
        return History(recent=recent)
    previous = None
    noted = noted_previous(state.notes)
    if noted is not None:
        values = {item.key: item.parse(noted[1][item.key]) for item in form.fields if previous_answer(state, item)}
        previous = Previous(noted[0], values)
    own = noted_spreads(state.notes)
    others = ctx.facts.peers(form.key, period.key) if peers else {}
    spreads: dict[str, Spread] = {}
    for key in own.keys() | others.keys():
        spreads[key] = own[key].merged(others.get(key)) if key in own else others[key]
    return History(previous=previous, spreads=spreads)


def _answers(form: Form, stored: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    answers = {}
    for item in form.fields:
        answer = stored_answer(item, stored.get(item.key))
        if answer is not None:
            answers[item.key] = answer
    return answers


def _reasons(state: DraftState) -> dict[str, str]:
    reasons = state.notes.get("reasons")
    return dict(reasons) if isinstance(reasons, Mapping) else {}


# --- submit, refused or held for a reason -----------------------------------------------------
def submit_checked(out: Step, state: DraftState, form: Form, ctx: Ctx) -> None:
    """ "Submit": refused while an error stands, held for a reason while a warning is unconfirmed,
    else the ``Save`` intent with the confirmed warnings as its flags."""
    if state.step not in (STEP_REVIEW, STEP_REASON):
        raise Stale
    period = period_or_none(form, state.period)
    at_review = dataclasses.replace(state, step=STEP_REVIEW)
    if period is None or not ctx.is_open(form, period):
        submit(out, at_review, form, ctx)  # says the period closed and ends the draft
        return
    found = draft_findings(state, form, ctx)
    screens = screens_for(ctx)
    errors = [finding for finding in found if finding.is_error]
    if errors:
        out.state = at_review
        out.say(*screens.refused(form, state, errors))
        return
    reasons = _reasons(state)
    if any(finding.key not in reasons for finding in found):
        out.state = dataclasses.replace(state, step=STEP_REASON, updated_at=ctx.now)
        out.used_up = True
        out.screens.append(Show())
        return
    submit(out, at_review, form, ctx)
    if out.save is not None:
        flags = tuple(Flag(f.code, f.message.zh, reasons[f.key], f.field_key, dict(f.detail) or None) for f in found)
        out.save = dataclasses.replace(out.save, flags=flags)


def reason_typed(out: Step, text: str, ctx: Ctx) -> None:
    """The line typed at ``STEP_REASON``: the reason for every warning still unconfirmed; then submit."""
    state = out.state
    assert state is not None and state.step == STEP_REASON
    form = ctx.catalogue.get(state.form_key)
    screens = screens_for(ctx)
    reason = " ".join(text.split())
    if not reason or len(reason) > MAX_REASON:
        note = screens.say("checks.reason_too_long", max=MAX_REASON) if reason else screens.say("checks.reason_empty")
        out.screens.append(Show(note=note))
        return
    reasons = _reasons(state)
    for finding in draft_findings(state, form, ctx):
        reasons.setdefault(finding.key, reason)
    confirmed = dataclasses.replace(state, notes={**state.notes, "reasons": reasons}, updated_at=ctx.now)
    submit_checked(out, confirmed, form, ctx)


def edit_from_review(out: Step, state: DraftState, field: Field, ctx: Ctx) -> None:
    """An edit button on the review or the reason prompt: re-ask ``field``, then back to the review.
    The reasons given so far are dropped: a warning that still holds after the edit is asked again."""
    if state.step not in (STEP_REVIEW, STEP_REASON):
        raise Stale
    notes = {key: value for key, value in state.notes.items() if key != "reasons"}
    out.state = dataclasses.replace(state, step=field.key, editing=True, notes=notes, updated_at=ctx.now)
    out.used_up = True
    out.screens.append(Show())
