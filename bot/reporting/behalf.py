"""The office files for a school, inside the pure flow: the reason asked first, then the usual form.

Staff's draft is an ordinary draft of the school (``DraftState.school_id``) kept in
the staff member's own ``drafts`` row. It opens at ``STEP_BEHALF``, remembering
what was asked for (``notes["behalf"]["start"]``, a ``Start``); the one line typed
there is the reason (``notes["behalf"]["reason"]``) and the form then begins as a
principal's would, with the same questions, units, rules and history checks. The
host sets ``Ctx.office`` (a locked period may be filed too) and ``Ctx.behalf`` from
the draft, so every draft started from there keeps the reason, and ``submit``
puts it on the ``Save`` (``Save.behalf_reason``); an office draft without one is
never saved. No I/O here: ``bot.reporting.onbehalf`` is the service around it.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.ui import Button, Screen
from bot.reporting.codec import Start
from bot.reporting.review import MAX_REASON
from bot.reporting.screens import Screens, screens_for
from bot.reporting.starting import begin
from bot.reporting.state import STEP_BEHALF, Ctx, DraftState, Save, SavedReport, Show, Step, period_or_none

__all__ = [
    "approved_note",
    "behalf_draft",
    "behalf_header",
    "behalf_notice",
    "behalf_prompt",
    "behalf_reason_typed",
    "begin_behalf",
]


def behalf_draft(ctx: Ctx, start: Start) -> DraftState:
    """A new office draft for ``ctx.school_id``, waiting for the reason before ``start`` begins."""
    return DraftState(
        token=ctx.token,
        form_key="",
        form_version=0,
        step=STEP_BEHALF,
        updated_at=ctx.now,
        created_at=ctx.now,
        school_id=ctx.school_id,
        last_update_id=ctx.update_id,
        notes={"behalf": {"start": start.encode()}},
    )


def begin_behalf(out: Step, start: Start, ctx: Ctx) -> None:
    """``/report_for`` or a 代填 button: drop the draft there was (saying so if it had answers), ask the reason."""
    old = out.state
    if old is not None and (old.answers or old.correction_of is not None):
        out.say(screens_for(ctx).say("onbehalf.dropped", what=screens_for(ctx).what(old)))
    out.state = behalf_draft(ctx, start)
    out.used_up = True
    out.screens.append(Show())


def behalf_reason_typed(out: Step, text: str, ctx: Ctx) -> None:
    """The line typed at ``STEP_BEHALF``: the reason, kept with every draft from here; then the form begins."""
    state = out.state
    assert state is not None and state.step == STEP_BEHALF
    screens = screens_for(ctx)
    reason = " ".join(text.split())
    if not reason or len(reason) > MAX_REASON:
        note = screens.say("onbehalf.reason_too_long", max=MAX_REASON) if reason else screens.say("onbehalf.reason_empty")
        out.screens.append(Show(note=note))
        return
    behalf = _behalf(state)
    start = Start.decode(str(behalf.get("start", ""))) or Start("menu")
    ctx.behalf = {**behalf, "reason": reason}
    out.state = None
    begin(out, start, ctx)


def behalf_prompt(state: DraftState, ctx: Ctx) -> Screen:
    """The first thing staff are asked: why the office files this report for the school."""
    screens = screens_for(ctx)
    start = Start.decode(str(_behalf(state).get("start", ""))) or Start("menu")
    school = ctx.facts.school_name(ctx.school_id) or "?"
    form = ctx.form_or_none(start.form_key) if start.form_key else None
    what = form.title.get(ctx.lang) if form is not None else screens.say("report.a_report")
    period = period_or_none(form, start.period) if form is not None else None
    text = screens.say(
        "onbehalf.ask_reason", school=school, what=what + (f" · {period.label(ctx.lang)}" if period else ""), max=MAX_REASON
    )
    return Screen(text, [[Button(screens.say("report.cancel_button"), f"r:{state.token}:x")]])


def behalf_header(ctx: Ctx, original: SavedReport | None = None) -> str | None:
    """ "代填：邹圩小学 · 原因：…" above office staff's review (None: not the office's draft);
    correcting an approved ``original``, what submitting does to the approval."""
    if ctx.behalf is None or not ctx.behalf.get("reason"):
        return None
    screens = screens_for(ctx)
    school = ctx.facts.school_name(ctx.school_id) or "?"
    header = screens.say("onbehalf.review_header", school=school, reason=ctx.behalf["reason"])
    if original is not None and original.approved:
        header += "\n" + approved_note(screens, original)
    return header


def approved_note(screens: Screens, report: SavedReport) -> str:
    """The office corrects an approved report: a new version, submitted again; the approval stays in the history."""
    return screens.say("onbehalf.approved_note", who=report.reviewer_name or screens.say("review.office"))


def behalf_notice(screens: Screens, save: Save, office_name: str, version: int, reason: str) -> str:
    """ "办公室 张三 代填了 2026年10月 学生饮用奶月报（第 1 版）：…原因：…" for the school's reporters."""
    figures = screens.answers(save.form, save.answers, save.originals)
    who = screens.say("onbehalf.office_named", name=office_name) if office_name else screens.say("onbehalf.office")
    return screens.say(
        "onbehalf.notice",
        who=who,
        period=save.period.label(screens.lang),
        form=save.form.title.get(screens.lang),
        version=version,
        figures=figures,
        reason=reason,
    )


def _behalf(state: DraftState) -> Mapping[str, object]:
    behalf = state.notes.get("behalf")
    return behalf if isinstance(behalf, Mapping) else {}
