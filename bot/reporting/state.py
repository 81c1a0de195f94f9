"""The values the report flow works on: a draft's state, a saved report as the flow sees it,
and the facts it asks its host for.

No I/O here. The flow (``bot.reporting.flow``) never fetches: when it needs a
fact it does not have (the report filed for a period, the periods already
filed, a report by id, the school's programmes...), ``Facts`` raises
``NeedFact(query)``; the host fetches that one fact, teaches it to ``Facts`` and
runs the same pure step again. Unit tests answer from memory with an ``oracle``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from bot.core.catalogue import Catalogue, Form
from bot.core.fields import Answer
from bot.core.fields import Field, InvalidAnswer
from bot.core.periods import Period, is_locked, parse_period, reportable_periods
from bot.core.ui import Button, Screen
from bot.reporting.checks import Spread

STEP_FORM = "form"
STEP_PERIOD = "period"
STEP_REVIEW = "review"
# Submit was pressed with warnings: waiting for the one-line reason that confirms them
# (not an identifier, so never a field key).
STEP_REASON = "review.reason"
# Office staff filing for a school (``bot.reporting.behalf``): the draft waits for the reason
# the office files it, before anything else is asked (not an identifier either).
STEP_BEHALF = "behalf.reason"

Stored = tuple[Decimal | None, str | None]


@dataclass(frozen=True)
class DraftState:
    """A principal's conversation in flight, as the ``drafts`` row keeps it.

    ``step`` is ``"form"``, ``"period"``, a field key or ``"review"``; each answer is the
    text ``Field.parse`` reads back (None: skipped). ``token`` is random per draft: a
    button carries it, so a press from an older draft's message is recognised as stale.
    """

    token: str
    form_key: str
    form_version: int
    step: str
    updated_at: datetime
    created_at: datetime
    period: str | None = None
    answers: Mapping[str, str | None] = field(default_factory=dict)
    editing: bool = False
    correction_of: int | None = None
    school_id: int | None = None
    last_update_id: int | None = None
    # Beside the answers (drafts.notes): "originals" {field: "1200斤"} for converted units,
    # "reasons" {check code: the principal's reason} for confirmed warnings, "previous" {"period":
    # key, "values": {field: answer}, "spread": {field: [count, low, high]}} the school's last report.
    notes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SavedReport:
    """A saved report version, as the flow and its screens need it."""

    id: int
    school_id: int
    school_name: str
    form_key: str
    period: str
    series: str
    version: int
    is_current: bool
    is_late: bool
    reporter_name: str | None
    submitted_at: datetime
    values: Mapping[str, Stored]
    # The words as typed where a unit was converted (report_values.original): {"quantity": "1200斤"}.
    originals: Mapping[str, str] = field(default_factory=dict)
    # A version that took the entry back (issue 13): counts nowhere, cannot be corrected.
    withdrawn: bool = False
    # Filed by the office for the school (``reporter_name`` is then the staff member's), and why.
    on_behalf: bool = False
    behalf_reason: str | None = None
    # The office's review (issue 15): "submitted", "approved" (locked for the principal) or
    # "returned"; who decided, when, and the reason given.
    review: str = "submitted"
    reviewer_name: str | None = None
    reviewed_at: datetime | None = None
    review_reason: str | None = None

    @property
    def approved(self) -> bool:
        return self.review == "approved"


# --- facts the flow asks for ---------------------------------------------------------
@dataclass(frozen=True)
class ReportById:
    report_id: int


@dataclass(frozen=True)
class CurrentReport:
    form_key: str
    period: str
    series: str = ""


@dataclass(frozen=True)
class FiledPeriods:
    form_key: str
    periods: tuple[str, ...]


@dataclass(frozen=True)
class SchoolName:
    school_id: int


@dataclass(frozen=True)
class Programmes:
    pass


@dataclass(frozen=True)
class PastEntry:
    """A current report of the school as the checks read it: when, and its stored answers."""

    report_id: int
    period: str
    series: str
    submitted_at: datetime
    values: Mapping[str, Stored]


@dataclass(frozen=True)
class PastFigures:
    """The school's reports of a form for the periods before ``period``, newest first (``PastEntry``)."""

    form_key: str
    period: str


@dataclass(frozen=True)
class PeerFigures:
    """Per number field of the form, the spread of other schools' answers for ``period`` (``checks.Spread``)."""

    form_key: str
    period: str


@dataclass(frozen=True)
class RecentEntries:
    """The school's current entries of an event form filed since ``since`` (``PastEntry``), newest first."""

    form_key: str
    since: datetime


Query = ReportById | CurrentReport | FiledPeriods | SchoolName | Programmes | PastFigures | PeerFigures | RecentEntries


class NeedFact(Exception):
    """The flow needs ``query`` answered before it can go on."""

    def __init__(self, query: Query) -> None:
        super().__init__(query)
        self.query = query


class Facts:
    """What the flow has been told this update; asking for anything else raises ``NeedFact``."""

    def __init__(self, known: Mapping[Query, Any] | None = None, oracle: Callable[[Query], Any] | None = None) -> None:
        self._known: dict[Query, Any] = dict(known or {})
        self._oracle = oracle

    def learn(self, query: Query, value: Any) -> None:
        self._known[query] = value
        if isinstance(query, CurrentReport) and isinstance(value, SavedReport):
            self._known[ReportById(value.id)] = value  # the same row, found another way

    def _ask(self, query: Query) -> Any:
        if query not in self._known:
            if self._oracle is None:
                raise NeedFact(query)
            self.learn(query, self._oracle(query))
        return self._known[query]

    def report(self, report_id: int) -> SavedReport | None:
        found: SavedReport | None = self._ask(ReportById(report_id))
        return found

    def current(self, form_key: str, period: str, series: str = "") -> SavedReport | None:
        found: SavedReport | None = self._ask(CurrentReport(form_key, period, series))
        return found

    def filed(self, form_key: str, periods: tuple[str, ...]) -> frozenset[str]:
        return frozenset(self._ask(FiledPeriods(form_key, periods))) if periods else frozenset()

    def school_name(self, school_id: int) -> str | None:
        name: str | None = self._ask(SchoolName(school_id))
        return name

    def programmes(self) -> frozenset[str]:
        return frozenset(self._ask(Programmes()))

    # The checks at the review and last period's answers (bot.reporting.review).
    def past(self, form_key: str, period: str) -> tuple[PastEntry, ...]:
        return tuple(self._ask(PastFigures(form_key, period)))

    def peers(self, form_key: str, period: str) -> Mapping[str, Spread]:
        found: Mapping[str, Spread] = self._ask(PeerFigures(form_key, period))
        return found

    def recent(self, form_key: str, since: datetime) -> tuple[PastEntry, ...]:
        return tuple(self._ask(RecentEntries(form_key, since)))


@dataclass
class Ctx:
    """What one update's step must know but not fetch."""

    catalogue: Catalogue
    now: datetime
    tz: tzinfo
    lang: str
    school_id: int
    ttl_days: int
    facts: Facts
    # Telegram's id of the update (a draft applies each update once); None: not known.
    update_id: int | None = None
    # The token a draft started by this update gets (random, made by the host).
    token: str = "new"
    # Office staff filing for the school: also a locked period may be filed, and every draft
    # started carries ``behalf`` (``{"reason": ..., "start": ...}``, from the draft's notes).
    office: bool = False
    behalf: Mapping[str, Any] | None = None

    def form_or_none(self, key: str) -> Form | None:
        try:
            return self.catalogue.get(key)
        except KeyError:
            return None

    def school_forms(self) -> list[Form]:
        """The forms this school reports."""
        return self.catalogue.forms_for(self.facts.programmes())

    def is_open(self, form: Form, period: Period) -> bool:
        """True if the principal may still file ``period`` (started, and not past the lock);
        the office also files a period past its lock."""
        if period in reportable_periods(form, self.now, self.tz):
            return True
        return self.office and is_locked(form, period, self.now, self.tz)

    def expired(self, state: DraftState) -> bool:
        return state.updated_at < self.now - timedelta(days=self.ttl_days)


# --- what a step returns ---------------------------------------------------------------
@dataclass(frozen=True)
class Show:
    """The screen of the new state's step; ``note`` replaces its text (keeping its buttons)."""

    note: str | None = None
    existing: SavedReport | None = None


@dataclass(frozen=True)
class Save:
    """Intent: save the draft's answers as a report, on top of version ``based_on`` (None: the first)."""

    form: Form
    period: Period
    answers: Mapping[str, str | None]
    values: Mapping[str, Stored]
    late: bool
    # The series the report continues; None: a new one (each harvest is its own series).
    series: str | None
    based_on: int | None
    # For the audit log: each answer a correction changes.
    changed: Mapping[str, Mapping[str, str | None]] | None
    # The words as typed for converted units, and the warnings confirmed with a reason.
    originals: Mapping[str, str] = field(default_factory=dict)
    flags: tuple[Flag, ...] = ()
    withdrawn: bool = False
    # Filed by the office for the school: the reason it gave first (None: the school's own report).
    behalf_reason: str | None = None


@dataclass(frozen=True)
class Flag:
    """A warning the principal confirmed with a reason; saved with the version (``report_flags``)."""

    code: str
    message: str
    reason: str
    field_key: str | None = None
    detail: Mapping[str, Any] | None = None


@dataclass
class Step:
    """The new state and what to say. ``alert``: answer the press with this pop-up (nothing
    changed). ``used_up``: the pressed message's buttons are done. ``consumed``: False when
    a typed message found no draft waiting (it gets the generic answer)."""

    state: DraftState | None
    screens: list[Screen | Show] = field(default_factory=list)
    alert: str | None = None
    used_up: bool = False
    consumed: bool = True
    save: Save | None = None

    def say(self, text: str, buttons: list[list[Button]] | None = None) -> None:
        self.screens.append(Screen(text, buttons or []))


class Stale(Exception):
    """A press that does not belong to the draft as it is now: it changes nothing."""


# --- answers as stored in the draft ----------------------------------------------
def encode_answer(value: Answer) -> str:
    """An answer as the text ``Field.parse`` reads back to the same value."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def decode(item: Field, stored: str | None) -> Answer | None:
    return None if stored is None else item.parse(stored)


def still_valid(form: Form, answers: Mapping[str, str | None]) -> dict[str, str | None]:
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


def next_step(form: Form, answers: Mapping[str, str | None]) -> str:
    """The first question without an answer, else the review."""
    for item in form.fields:
        if item.key not in answers:
            return item.key
    return STEP_REVIEW


def saved_answers(form: Form, report: SavedReport) -> dict[str, str | None]:
    """A saved report's answers to ``form``'s fields, as a draft keeps them (skipped: None)."""
    saved: dict[str, str | None] = {}
    for key, (num, text) in report.values.items():
        try:
            item = form.field(key)
        except KeyError:
            continue  # a field the current version no longer asks
        answer = item.from_storage(num, text)
        saved[item.key] = None if answer is None else encode_answer(answer)
    for item in form.fields:
        if not item.required and item.key not in saved:
            saved[item.key] = None  # skipped when it was filed
    return saved


def period_or_none(form: Form, key: str | None) -> Period | None:
    if not key:
        return None
    try:
        return parse_period(form.period_cadence, key)
    except ValueError:
        return None


def asked_field(catalogue: Catalogue, state: DraftState | None) -> Field | None:
    """The field the draft's current step asks, if it is a question."""
    if state is None or state.step in (STEP_FORM, STEP_PERIOD, STEP_REVIEW, STEP_REASON, STEP_BEHALF):
        return None
    return catalogue.get(state.form_key).field(state.step)


__all__ = [
    "STEP_BEHALF",
    "STEP_FORM",
    "STEP_PERIOD",
    "STEP_REASON",
    "STEP_REVIEW",
    "Ctx",
    "Save",
    "Show",
    "Stale",
    "Step",
    "CurrentReport",
    "DraftState",
    "Facts",
    "FiledPeriods",
    "NeedFact",
    "PastEntry",
    "PastFigures",
    "PeerFigures",
    "RecentEntries",
    "Programmes",
    "Query",
    "ReportById",
    "SavedReport",
    "SchoolName",
    "Stored",
    "asked_field",
    "decode",
    "encode_answer",
    "next_step",
    "period_or_none",
    "saved_answers",
    "still_valid",
]
