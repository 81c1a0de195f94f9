"""Last period's report at hand (issue 13 point 4): noted once in the draft when the period
is chosen, shown with each question ("上月：856 人") and offered as a one-tap answer where
the catalogue marks a field ``repeatable``. Also what the history checks compare with
(``bot.reporting.review``). Pure: the report comes through the flow's facts."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from bot.core.catalogue import Form
from bot.core.fields import Answer
from bot.core.fields import Field, InvalidAnswer
from bot.core.periods import Period
from bot.reporting.checks import noted_previous
from bot.reporting.state import Ctx, DraftState, PastEntry, encode_answer

__all__ = ["previous_answer", "remember_previous", "stored_answer"]


# --- last period's report --------------------------------------------------------------------
def remember_previous(state: DraftState, form: Form, period: Period, ctx: Ctx) -> DraftState:
    """Note the school's last report before ``period`` (and its past figures' spread) in the draft."""
    notes = {key: value for key, value in state.notes.items() if key != "previous"}
    if not form.is_event:  # an event (a harvest) has no "last period's value"
        past = ctx.facts.past(form.key, period.key)
        if past:
            notes["previous"] = _previous_notes(form, past)
    return state if notes == dict(state.notes) else dataclasses.replace(state, notes=notes)


def _previous_notes(form: Form, past: Sequence[PastEntry]) -> dict[str, Any]:
    newest = past[0]
    values: dict[str, str] = {}
    for item in form.fields:
        answer = stored_answer(item, newest.values.get(item.key))
        if answer is not None:
            values[item.key] = encode_answer(answer)
    spread: dict[str, list[Any]] = {}
    for item in form.numeric_fields:
        numbers = [num for entry in past if (num := entry.values.get(item.key, (None, None))[0]) is not None]
        if numbers:
            spread[item.key] = [len(numbers), format(min(numbers), "f"), format(max(numbers), "f")]
    return {"period": newest.period, "values": values, "spread": spread}


def stored_answer(item: Field, stored: tuple[Any, Any] | None) -> Answer | None:
    if stored is None:
        return None
    try:
        return item.from_storage(*stored)
    except ValueError:
        return None  # the field changed type since: nothing to compare with


def previous_answer(state: DraftState, item: Field) -> str | None:
    """Last period's answer to ``item`` (as drafts keep answers), if the school filed one that still fits."""
    noted = noted_previous(state.notes)
    stored = noted[1].get(item.key) if noted is not None else None
    if stored is None:
        return None
    try:
        item.parse(stored)
    except InvalidAnswer:
        return None  # the field's range changed since
    return stored
