"""The report conversation as a pure flow: ``step(state, event, ctx) -> Step``.

A step takes the draft as it was (``DraftState`` or None), one event (a typed
answer, a press, /skip, /cancel, a start...) and what the update knows
(``Ctx``: catalogue, now, the facts it was told) and returns the new state
(None: no draft), what to say, and at most one intent (``Save``: "save this
report on top of version X") for the host to carry out. ``render`` then turns
the step's ``Show`` placeholders into the screen of the new state's step; the
host calls it after saving the state, since it may need facts of its own (the
periods filed). No Telegram, no SQL, no I/O: ``bot.reporting.service`` loads,
saves, fetches facts and redoes a step that raced.

Every step first checks the draft it was given (``_arrive``): expired, started
for another school, its form gone or changed, or this update applied already
(then the step only shows where the principal is).

Buttons of a draft carry ``r:<token>:<action>[:<arg>...]`` (``bot.reporting.codec``).
``token`` is random per draft and the action names the step it belongs to, so a
press from an older message or a forged one changes nothing and gets "this
button is out of date". Actions: ``f:<form>`` choose the form, ``p:<period>``
choose the period, ``c:<period>`` correct the report already filed for it,
``v:<field index>:<choice index>`` answer a choice, ``d:<i>`` take a field's
default, ``l:<i>`` answer as last period (a ``repeatable`` field), ``s:<i>`` skip an optional field, ``b:<i>`` keep the answer and go back
to the review, ``e:<i>`` edit a field from the review (or the reason prompt), ``ok``
submit (refused while an error stands, held for a reason while a warning is
unconfirmed: ``bot.reporting.review``), ``x``
cancel, ``k`` continue the draft, ``n:<start>`` discard it and start ``<start>``.
``go:<form>:<period>`` and ``fix:<report id>`` start something (``Begin``); they
are checked against the school's forms and the period's lock window.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from bot.core.catalogue import Form
from bot.core.fields import Answer
from bot.core.fields import Field, FieldType, InvalidAnswer
from bot.core.periods import reportable_periods
from bot.core.ui import Screen
from bot.reporting.behalf import begin_behalf, behalf_header, behalf_prompt, behalf_reason_typed
from bot.reporting.codec import Start
from bot.reporting.previous import previous_answer
from bot.reporting.review import draft_findings, edit_from_review, reason_typed, submit_checked
from bot.reporting.screens import Screens, screens_for
from bot.reporting.starting import begin, begin_fix, begin_or_resume, choose_period, refused, with_original
from bot.reporting.state import (
    STEP_BEHALF,
    STEP_FORM,
    STEP_PERIOD,
    STEP_REASON,
    STEP_REVIEW,
    Ctx,
    DraftState,
    SavedReport,
    Show,
    Stale,
    Step,
    asked_field,
    encode_answer,
    next_step,
    period_or_none,
    still_valid,
)


# --- events ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Begin:
    """/report, a form's command, a go: or fix: button."""

    start: Start


@dataclass(frozen=True)
class BeginBehalf:
    """Office staff's ``/report_for`` or 代填 button: file ``start`` for the school, the reason first."""

    start: Start


@dataclass(frozen=True)
class Press:
    """A button of a draft: its raw data ``r:<token>:<action>[:<arg>]``."""

    data: str


@dataclass(frozen=True)
class Typed:
    text: str


@dataclass(frozen=True)
class Media:
    """A sticker, photo, voice note or file."""


@dataclass(frozen=True)
class Edited:
    """An earlier message was edited."""


@dataclass(frozen=True)
class Skip:
    """/skip."""


@dataclass(frozen=True)
class Cancel:
    """/cancel."""


Event = Begin | BeginBehalf | Press | Typed | Media | Edited | Skip | Cancel


def step(state: DraftState | None, event: Event, ctx: Ctx) -> Step:
    """Apply one event to the draft."""
    if isinstance(event, BeginBehalf):
        # Staff's earlier draft may be for another school: it is replaced, whatever it was.
        out = Step(state)
        begin_behalf(out, event.start, ctx)
        return out
    out, resume_only = _arrive(state, ctx)
    if isinstance(event, Begin):
        begin_or_resume(out, event.start, ctx)
    elif isinstance(event, Press):
        _press(out, event.data, ctx, resume_only)
    elif isinstance(event, Cancel):
        _cancel(out, ctx)
    elif isinstance(event, Skip):
        _skip(out, ctx, resume_only)
    elif out.state is None:
        out.consumed = False  # free text or media, and no draft is waiting for it
    elif isinstance(event, Edited):
        out.say(screens_for(ctx).say("report.edited_message"))
    elif resume_only:
        out.screens.append(Show())
    elif isinstance(event, Typed) and out.state.step == STEP_REASON:
        reason_typed(out, event.text, ctx)
    elif isinstance(event, Typed) and out.state.step == STEP_BEHALF:
        behalf_reason_typed(out, event.text, ctx)
    elif isinstance(event, Typed):
        _typed(out, event.text, ctx)
    else:
        _media(out, ctx)
    return out


def ctx_screens(ctx: Ctx) -> Screens:
    return Screens(ctx.catalogue, ctx.lang, ctx.tz)


def render(out: Step, ctx: Ctx) -> list[Screen]:
    """The step's screens, each ``Show`` as the screen of the new state's step."""
    screens = screens_for(ctx)
    rendered: list[Screen] = []
    for item in out.screens:
        if isinstance(item, Screen):
            rendered.append(item)
            continue
        assert out.state is not None, "a step shows the draft only while there is one"
        screen = step_screen(out.state, ctx, screens, item.existing)
        rendered.append(screen if item.note is None else Screen(item.note, screen.buttons))
    return rendered


def step_screen(state: DraftState, ctx: Ctx, screens: Screens, existing: SavedReport | None = None) -> Screen:
    """The message for the draft's current step."""
    if state.step == STEP_BEHALF:
        return behalf_prompt(state, ctx)
    if state.step == STEP_FORM:
        return screens.form_menu(state, ctx.school_forms())
    form = ctx.catalogue.get(state.form_key)
    if state.step == STEP_PERIOD:
        filed: frozenset[str] = frozenset()
        if not form.is_event:
            keys = tuple(p.key for p in reportable_periods(form, ctx.now, ctx.tz))
            filed = ctx.facts.filed(form.key, keys)
        return screens.period_menu(form, state, ctx.now, filed, existing, office=ctx.office)
    if state.step == STEP_REVIEW:
        original = ctx.facts.report(state.correction_of) if state.correction_of is not None else None
        review = screens.review(form, state, original, draft_findings(state, form, ctx, submitting=False))
        header = behalf_header(ctx, original)
        return review if header is None else Screen(header + "\n" + review.text, review.buttons)
    if state.step == STEP_REASON:
        return screens.reason_prompt(form, state, draft_findings(state, form, ctx))
    return screens.question(form, state, form.field(state.step))


# --- the draft as this update finds it ------------------------------------------------
def _arrive(state: DraftState | None, ctx: Ctx) -> tuple[Step, bool]:
    """The draft to act on (None if it is gone) and notices; True if only to show where it is."""
    out = Step(state)
    if state is None:
        return out, False
    screens = screens_for(ctx)
    form = ctx.form_or_none(state.form_key) if state.form_key else None
    if ctx.expired(state):
        out.say(screens.expired(state, ctx.ttl_days, still_valid(form, state.answers) if form else None))
    elif (moved := _moved_away(state, ctx, screens)) is not None:
        out.say(moved)
    elif not state.form_key:
        return out, False
    elif form is None:
        out.say(screens.say("report.form_gone", form=state.form_key))
    else:
        return _current(out, state, form, ctx)
    out.state = None
    return out, False


def _moved_away(state: DraftState, ctx: Ctx, screens: Screens) -> str | None:
    """Why the draft does not belong to the principal's school as it is now (None: it does).

    A draft belongs to the school it was started for: a principal moved to another school
    meanwhile must not file it there. A correction's school is also that of the report it
    corrects (the only clue for drafts older than migration 0008, which record no school).
    """
    if state.school_id is not None and state.school_id != ctx.school_id:
        return screens.moved_school(state, ctx.facts.school_name(state.school_id) or "?")
    if state.correction_of is None:
        return None
    original = ctx.facts.report(state.correction_of)
    if original is None:
        return screens.say("report.correct_gone")
    if original.school_id != ctx.school_id:
        return screens.moved_school(dataclasses.replace(state, correction_of=original.id), original.school_name)
    return None


def moved_away(state: DraftState, ctx: Ctx) -> str | None:
    """Public for /status, which drops a draft of a school the principal left."""
    return _moved_away(state, ctx, screens_for(ctx))


def _current(out: Step, state: DraftState, form: Form, ctx: Ctx) -> tuple[Step, bool]:
    """Follow a new version of the form; apply each update once.

    A poller that stops before confirming an update gets it again after a restart (and a
    webhook may be retried): applied twice, an answer would land on the next question. The
    update's id is kept with the draft, so a redelivery only shows where the principal is.
    """
    resume_only = False
    if form.version != state.form_version:
        answers = still_valid(form, state.answers)
        step_now = state.step if state.step == STEP_PERIOD else next_step(form, answers)
        state = dataclasses.replace(
            state, answers=answers, form_version=form.version, editing=False, step=step_now, updated_at=ctx.now
        )
        out.say(screens_for(ctx).say("report.form_changed", form=form.title.get(ctx.lang)))
        resume_only = True
    if ctx.update_id is not None:
        if state.last_update_id is not None and ctx.update_id <= state.last_update_id:
            resume_only = True
        else:
            state = dataclasses.replace(state, last_update_id=ctx.update_id)
    out.state = state
    return out, resume_only


# --- events on the draft ----------------------------------------------------------------
def _typed(out: Step, text: str, ctx: Ctx) -> None:
    """A typed answer to the question asked (re-asked with the reason when it does not parse)."""
    assert out.state is not None
    item = asked_field(ctx.catalogue, out.state)
    screens = screens_for(ctx)
    if item is None:
        out.screens.append(Show(note=screens.say("report.use_buttons")))
        return
    form = ctx.catalogue.get(out.state.form_key)
    try:
        value, original = item.read(text)
    except InvalidAnswer as exc:
        out.say(exc.message(ctx.lang), screens.question_buttons(form, out.state, item))
        return
    _answer(out, form, item, value, ctx, original)


def _media(out: Step, ctx: Ctx) -> None:
    """Not an answer: say what the step expects."""
    assert out.state is not None
    out.screens.append(Show(note=screens_for(ctx).media_note(out.state, asked_field(ctx.catalogue, out.state))))


def _skip(out: Step, ctx: Ctx, resume_only: bool) -> None:
    """/skip: leave the optional question unanswered."""
    item = asked_field(ctx.catalogue, out.state)
    screens = screens_for(ctx)
    if out.state is None or item is None:
        out.say(screens.say("report.nothing_to_skip"))
    elif resume_only:
        out.screens.append(Show())
    elif item.required:
        form = ctx.catalogue.get(out.state.form_key)
        reason = screens.say("report.cannot_skip", field=item.label.get(ctx.lang))
        out.say(reason, screens.question_buttons(form, out.state, item))
    else:
        _answer(out, ctx.catalogue.get(out.state.form_key), item, None, ctx)


def _cancel(out: Step, ctx: Ctx) -> None:
    """/cancel: throw the draft away, at any step."""
    screens = screens_for(ctx)
    if out.state is None:
        if not out.screens:  # a notice already says the draft is gone
            out.say(screens.say("report.nothing_to_cancel"))
        return
    out.say(screens.say("report.cancelled", what=screens.what(out.state)))
    out.state = None


def _answer(out: Step, form: Form, item: Field, value: Answer | None, ctx: Ctx, original: str | None = None) -> None:
    """Keep one answer and move on: the next question, or the review (always, after an edit).
    ``original``: the words as typed when a unit was converted (kept in the draft's notes)."""
    assert out.state is not None
    answers = {**out.state.answers, item.key: None if value is None else encode_answer(value)}
    out.state = dataclasses.replace(
        out.state,
        answers=answers,
        step=next_step(form, answers),
        editing=False,
        updated_at=ctx.now,
        notes=with_original(out.state.notes, item.key, original),
    )
    out.screens.append(Show())


# --- presses -------------------------------------------------------------------------------
def _press(out: Step, data: str, ctx: Ctx, resume_only: bool) -> None:
    """A button of the draft; a press that does not fit the draft as it is now changes nothing."""
    parts = data.split(":", 3)
    stale = screens_for(ctx).say("core.stale_button")
    if out.state is None or len(parts) < 3 or out.state.token != parts[1]:
        out.alert = stale
        return
    if resume_only:
        out.screens.append(Show())
        return
    kept = out.state
    try:
        _act(out, kept, parts[2], parts[3] if len(parts) > 3 else "", ctx)
    except Stale:
        out.state, out.screens[:], out.alert, out.used_up, out.save = kept, [], stale, False, None


def _act(out: Step, state: DraftState, action: str, arg: str, ctx: Ctx) -> None:
    """Apply one button of the draft; raise Stale if it does not fit the draft's step."""
    if action == "x":
        _cancel(out, ctx)
        out.used_up = True
    elif action == "k":
        out.used_up = True
        out.screens.append(Show())
    elif action == "n":
        start = Start.decode(arg)
        if start is None:
            raise Stale
        out.used_up, out.state = True, None
        begin(out, start, ctx)
    elif action == "f":
        if state.step != STEP_FORM or ctx.form_or_none(arg) is None:
            raise Stale
        out.used_up = True
        begin(out, Start("form", form_key=arg), ctx)
    else:
        form = ctx.catalogue.get(state.form_key) if state.form_key else None
        if form is None:
            raise Stale
        if action in ("p", "c"):
            _press_period(out, state, form, action, arg, ctx)
        elif action == "ok":
            submit_checked(out, state, form, ctx)
        elif action == "e":
            edit_from_review(out, state, _field_at(form, arg), ctx)
        else:
            _press_field(out, state, form, action, arg, ctx)


def _press_period(out: Step, state: DraftState, form: Form, action: str, arg: str, ctx: Ctx) -> None:
    """A period chosen (``p``), or "correct the report filed for it" (``c``)."""
    if state.step != STEP_PERIOD:
        raise Stale
    period = period_or_none(form, arg)
    if period is None:
        raise Stale
    if refused(out, form, period, ctx):
        return
    existing = ctx.facts.current(form.key, period.key) if action == "c" else None
    if existing is not None and not form.is_event:
        begin_fix(out, existing.id, ctx)
    else:
        choose_period(out, state, form, period, ctx)


def _press_field(out: Step, state: DraftState, form: Form, action: str, arg: str, ctx: Ctx) -> None:
    """A choice (``v``), the default (``d``), skip (``s``) or back to the review (``b``)."""
    index, _, rest = arg.partition(":")
    item = _field_at(form, index)
    if state.step != item.key:
        raise Stale
    if action == "v" and item.type is FieldType.CHOICE and rest.isdigit() and int(rest) < len(item.choices):
        value: Answer | None = item.choices[int(rest)].key
    elif action == "d" and item.default is not None:
        value = item.parse(item.default)
    elif action == "l" and item.repeatable and (last := previous_answer(state, item)) is not None:
        value = item.parse(last)
    elif action == "s" and not item.required:
        value = None
    elif action == "b" and state.editing:
        out.state = dataclasses.replace(state, step=next_step(form, state.answers), editing=False, updated_at=ctx.now)
        out.used_up = True
        out.screens.append(Show())
        return
    else:
        raise Stale
    out.used_up = True
    _answer(out, form, item, value, ctx)


def _field_at(form: Form, index: str) -> Field:
    if not index.isdigit() or int(index) >= len(form.fields):
        raise Stale
    return form.fields[int(index)]


__all__ = [
    "Begin",
    "BeginBehalf",
    "Cancel",
    "Edited",
    "Event",
    "Media",
    "Press",
    "Skip",
    "Typed",
    "moved_away",
    "render",
    "step",
    "step_screen",
]
