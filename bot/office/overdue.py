"""``/overdue [form] [period]`` and its nudge buttons: what to answer, as screens.

The list groups overdue schools by district, with each school's reporters
(or "unreachable"), a nudge button per school and one "nudge all"; missing
reports of locked periods follow in a block of their own, 已锁定未报, with no
nudge buttons (``bot.office.overdue_locked``). A 代填 button beside each nudge, and
one per school of the locked block, lets the office file the school's (first)
missing report itself, also in a locked period (``bot.reporting.onbehalf``). A nudge is
recorded per reporter like a scheduled reminder (slot ``manual-<minute>``);
at night it is queued for the end of the quiet hours and the staff member may
confirm sending it at once. Which schools a press covers, and the scope rules,
are ``bot.office.nudges``; the handler (``handlers/overdue.py``) sends what
comes out of here and runs the ticker when a ``Reply`` asks for it.

Callback data (≤ 64 bytes; ``*`` = any; everything is re-checked on press, so a
stale or forged button gets a clear refusal, never a wrong nudge)::

    nudge:<form>:<period>:<school id>
    nudgeall:<form>:<period>
    nudgenow:<form>:<period>:<school id>:<yyyymmddHHMM>
    obh:<school id>:<form>:<period>          (代填, answered by handlers/reporting.py)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from bot.core.catalogue import Catalogue, Form
from bot.core.i18n import t
from bot.core.periods import due_date, parse_period
from bot.core.ui import Alert, Button, Screen
from bot.office import nudges
from bot.office.invites import invite_buttons
from bot.office.args import UnknownWord, read_period, scope_words
from bot.office.overdue_locked import LockedSchool, locked_missing
from bot.reporting.onbehalf import behalf_data
from bot.services import Identity, Services
from scheduler.digests import OverdueSchool, period_is_locked
from bot.render.reminder import fmt_date
from bot.render.digest import render_overdue_lines
from bot.render.overdue import render_locked_block
from scheduler.policy import MANUAL_PREFIX, Rules
from scheduler.nudges import NudgeOutcome
from scheduler.claims import TickReport

__all__ = ["Manual", "Reply", "listing", "nudge", "send_now"]

# Per-school buttons beyond this make a wall of buttons; "nudge all" covers the rest.
MAX_SCHOOL_BUTTONS = 30
ANY = "*"
_EXAMPLES = {"monthly": "2026-11", "quarterly": "2026-Q4", "semester": "2026-S2", "yearly": "2026"}
_STAMP = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class Manual:
    """Send one school's nudges of ``slot`` now, then tell the result: ``then(report)``."""

    slot: str
    school_id: int
    then: Callable[[TickReport], Screen]


@dataclass(frozen=True)
class Reply:
    """Answer the press, then send ``screen`` (or ``manual``'s); ``kick`` sends every due nudge in the background."""

    screen: Screen | None = None
    manual: Manual | None = None
    kick: bool = False
    # Take the pressed button off its message, so it is not pressed twice.
    drop_buttons: bool = False


def _due_forms(catalogue: Catalogue) -> list[Form]:
    return [form for form in catalogue if form.due_days is not None]


def _fits(form: Form, text: str, *, exact: bool = False) -> bool:
    """Whether ``text`` is a period of ``form``: as staff type it, or (``exact``) as a button carries its key."""
    try:
        parse_period(form.period_cadence, text) if exact else read_period(form, text)
    except ValueError:
        return False
    return True


def _scope(catalogue: Catalogue, form_key: str | None, period_key: str | None) -> list[Form]:
    """The forms a button's (form, period) scope covers, by exact key; ValueError if it names nothing valid."""
    if form_key is not None:
        form = catalogue.get(form_key)  # KeyError for a form that left the catalogue
        if form.due_days is None:
            raise ValueError(form_key)
        if period_key is not None:
            parse_period(form.period_cadence, period_key)  # ValueError for another cadence's key
        return [form]
    forms = _due_forms(catalogue)
    if period_key is not None:
        forms = [form for form in forms if _fits(form, period_key, exact=True)]
        if not forms:
            raise ValueError(period_key)
    return forms


def _usage(catalogue: Catalogue, lang: str, word: str) -> Screen:
    """ "Can't read <word>", with the usage and the forms /overdue takes."""
    hints = (t(lang, "overdue.form_hint", key=form.key, name=form.short.get(lang)) for form in _due_forms(catalogue))
    forms = t(lang, "digest.names_sep").join(hints)
    return Screen(t(lang, "overdue.unknown_arg", arg=word) + "\n" + t(lang, "overdue.usage", forms=forms))


def _read_words(catalogue: Catalogue, lang: str, words: Sequence[str]) -> tuple[Form | None, str | None, list[Form]] | Screen:
    """The form, period key and forms the words name; or the refusal to send."""
    try:
        form, word = scope_words(catalogue, words)
    except UnknownWord as error:
        return _usage(catalogue, lang, error.text)
    # A period word is echoed as the office writes keys (2026-S2, not 2026-s2).
    shown = word.upper() if word is not None else None
    if form is not None:
        if form.due_days is None:
            return Screen(t(lang, "overdue.no_due_rule", form=form.title.get(lang)))
        if word is None:
            return form, None, [form]
        if not _fits(form, word):
            example = _EXAMPLES.get(form.period_cadence.value, "2026-11")
            return Screen(t(lang, "overdue.bad_period", arg=shown, form=form.title.get(lang), example=example))
        return form, read_period(form, word).key, [form]
    forms = _due_forms(catalogue)
    if word is None:
        return None, None, forms
    forms = [f for f in forms if _fits(f, word)]
    if not forms:
        return _usage(catalogue, lang, word.upper())
    return None, read_period(forms[0], word).key, forms


def _nothing_overdue(services: Services, lang: str, form: Form | None, period_key: str | None, rules: Rules) -> Screen:
    if form is not None and period_key is not None:
        period = parse_period(form.period_cadence, period_key)
        due = due_date(form, period)
        if due is not None and due >= rules.local(services.clock.now()).date():
            text = t(lang, "overdue.not_yet_due", form=form.title.get(lang), period=period.label(lang), due=fmt_date(due, lang))
            return Screen(text)
    return Screen(t(lang, "overdue.none"))


def _nudge_buttons(schools: list[OverdueSchool], scope: str, lang: str) -> list[list[Button]]:
    nudgeable = [school for school in schools if not school.unreachable]
    if not nudgeable:
        return []
    rows = [
        [Button(t(lang, "overdue.nudge_button", school=school.name), f"nudge:{scope}:{school.school_id}")]
        + _behalf_button(school.school_id, school.name, school.items[0].form.key, school.items[0].period.key, lang)
        for school in nudgeable[:MAX_SCHOOL_BUTTONS]
        if len(f"nudgenow:{scope}:{school.school_id}:000000000000") <= 64
    ]
    if len(f"nudgenow:{scope}:{ANY}:000000000000") <= 64:
        rows.append([Button(t(lang, "overdue.nudge_all_button", count=len(nudgeable)), f"nudgeall:{scope}")])
    return rows


def _behalf_button(school_id: int, name: str, form_key: str, period_key: str, lang: str) -> list[Button]:
    """代填: the office files the school's (first) missing report itself (``bot.reporting.onbehalf``)."""
    data = behalf_data(school_id, form_key, period_key)
    return [Button(t(lang, "onbehalf.button", school=name), data)] if data is not None else []


def _locked_buttons(locked: list[LockedSchool], lang: str, room: int) -> list[list[Button]]:
    """A 代填 button per school with a locked missing report (its oldest), as many as fit in ``room``."""
    rows = []
    for school in locked[: max(room, 0)]:
        item = school.items[0]
        button = _behalf_button(school.school_id, school.name, item.form.key, item.period.key, lang)
        if button:
            rows.append(button)
    return rows


def _still_open(schools: list[OverdueSchool], services: Services, rules: Rules) -> list[OverdueSchool]:
    """The schools with their items of periods not locked (a locked one is listed as 已锁定未报 instead)."""
    now = services.clock.now()
    kept = []
    for school in schools:
        items = [item for item in school.items if not period_is_locked(item.form, item.period, now, rules)]
        if items:
            kept.append(replace(school, items=items))
    return kept


async def listing(services: Services, who: Identity, lang: str, words: Sequence[str]) -> Screen:
    """``/overdue [form] [period]``: overdue schools by district with nudge buttons, then the locked missing ones."""
    read = _read_words(services.catalogue, lang, words)
    if isinstance(read, Screen):
        return read
    form, period_key, forms = read
    rules = Rules.from_settings(services.settings)
    schools = _still_open(await nudges.overdue_in_scope(services, who, forms, period_key), services, rules)
    locked = await locked_missing(services, who, forms, period_key)
    if not schools and not locked:
        return _nothing_overdue(services, lang, form, period_key, rules)
    lines = [t(lang, "overdue.title", date=fmt_date(rules.local(services.clock.now()).date(), lang)), ""]
    if schools:
        lines += render_overdue_lines(schools, lang)
        unreachable = sum(1 for school in schools if school.unreachable)
        lines += ["", t(lang, "overdue.count", count=len(schools), unreachable=unreachable)]
    else:
        lines.append(t(lang, "overdue.none"))
    if locked:
        lines += ["", *render_locked_block(locked, lang)]
    buttons = _nudge_buttons(schools, f"{form.key if form else ANY}:{period_key or ANY}", lang)
    # Telegram takes at most 100 buttons on a message.
    buttons += _locked_buttons(locked, lang, min(MAX_SCHOOL_BUTTONS, 100 - sum(len(row) for row in buttons)))
    # Schools nobody is registered for: invite someone (within the same 100).
    buttons += invite_buttons(schools, lang)[: max(0, 100 - sum(len(row) for row in buttons))]
    nudgeable = [school for school in schools if not school.unreachable]
    if len(nudgeable) > MAX_SCHOOL_BUTTONS:
        lines.append(t(lang, "overdue.more_buttons", shown=MAX_SCHOOL_BUTTONS, count=len(nudgeable)))
    return Screen("\n".join(lines), buttons)


def _optional(value: str) -> str | None:
    return None if value == ANY else value


def _read_nudge(catalogue: Catalogue, data: str) -> tuple[list[Form], str, str | None, int | None] | None:
    """A nudge button's forms, scope, period key and school (None: every school); None if stale or forged."""
    parts = data.split(":")
    kind = parts[0]
    valid = (kind == "nudge" and len(parts) == 4 and parts[3].isdigit()) or (kind == "nudgeall" and len(parts) == 3)
    if not valid:
        return None
    try:
        forms = _scope(catalogue, _optional(parts[1]), _optional(parts[2]))
    except (KeyError, ValueError):
        return None
    return forms, f"{parts[1]}:{parts[2]}", _optional(parts[2]), int(parts[3]) if kind == "nudge" else None


def _queued_quiet(services: Services, lang: str, outcome: NudgeOutcome, scope: str, school_id: int | None) -> Screen:
    """Queued for the end of the quiet hours, with a button to send it at once."""
    quiet = services.settings.quiet_hours
    target = outcome.schools[0].name if school_id is not None else t(lang, "overdue.target_all", count=len(outcome.schools))
    stamp = outcome.slot.removeprefix(MANUAL_PREFIX)
    data = f"nudgenow:{scope}:{school_id if school_id is not None else ANY}:{stamp}"
    at = outcome.not_before.astimezone(services.settings.timezone)
    text = t(lang, "overdue.queued_quiet", quiet=f"{quiet.start:%H:%M}–{quiet.end:%H:%M}", target=target, at=f"{at:%H:%M}")
    return Screen(text, [[Button(t(lang, "overdue.send_now_button"), data)]])


def _nudged_one(lang: str, school: OverdueSchool) -> Callable[[TickReport], Screen]:
    def then(report: TickReport) -> Screen:
        names = t(lang, "digest.names_sep").join(r.name for r in school.reachable_reporters)
        failed = report.failed + report.retry + report.blocked
        if not failed:
            return Screen(t(lang, "overdue.nudged_one", school=school.name, names=names))
        return Screen(t(lang, "overdue.nudge_failed", school=school.name, sent=report.nudges_sent, failed=failed))

    return then


def _nudging_all(lang: str, outcome: NudgeOutcome) -> Screen:
    people = len({r.person_id for school in outcome.schools for r in school.reachable_reporters})
    lines = [t(lang, "overdue.nudge_all_started", schools=len(outcome.schools), people=people)]
    if outcome.unreachable:
        names = t(lang, "digest.names_sep").join(school.name for school in outcome.unreachable)
        lines.append(t(lang, "overdue.nudge_all_unreachable", count=len(outcome.unreachable), schools=names))
    return Screen("\n".join(lines))


async def nudge(services: Services, who: Identity, lang: str, data: str) -> Alert | Reply:
    """Nudge one school ("nudge") or every overdue school in the list ("nudgeall")."""
    read = _read_nudge(services.catalogue, data)
    if read is None:
        return Alert(t(lang, "overdue.stale"))
    forms, scope, period_key, school_id = read
    result = await nudges.nudge(services, who, forms, period_key, school_id)
    if isinstance(result, nudges.Refused):
        return Alert(t(lang, "overdue.stale"))
    if isinstance(result, nudges.NothingOverdue):
        key = "overdue.nothing_overdue" if result.school is None else "overdue.reported_meanwhile"
        return Reply(Screen(t(lang, key, school=result.school or "")))
    outcome = result.outcome
    if school_id is not None and outcome.unreachable:
        return Reply(Screen(t(lang, "overdue.unreachable_one", school=outcome.unreachable[0].name)))
    if outcome.queued == 0:
        return Reply(Screen(t(lang, "overdue.already_nudged")))
    if outcome.quiet:
        return Reply(_queued_quiet(services, lang, outcome, scope, school_id))
    if school_id is not None:
        # One school: a handful of messages, sent before answering so the result can be told.
        return Reply(manual=Manual(outcome.slot, school_id, _nudged_one(lang, outcome.schools[0])))
    # Every school: possibly hundreds of messages; they go out in the background at the bulk pace.
    return Reply(_nudging_all(lang, outcome), kick=True)


async def send_now(services: Services, who: Identity, lang: str, data: str) -> Alert | Reply:
    """Confirm sending a nudge queued during quiet hours right away."""
    parts = data.split(":")
    valid = len(parts) == 5 and (parts[3] == ANY or parts[3].isdigit()) and _STAMP.match(parts[4]) is not None
    form_key, period_key = (_optional(parts[1]), _optional(parts[2])) if valid else (None, None)
    try:
        if not valid:
            raise ValueError(data)
        _scope(services.catalogue, form_key, period_key)
    except (KeyError, ValueError):
        return Alert(t(lang, "overdue.stale"))
    school_id = int(parts[3]) if parts[3] != ANY else None
    slot = f"{MANUAL_PREFIX}{parts[4]}"
    moved = await nudges.send_now(services, who, slot=slot, school_id=school_id, form_key=form_key, period_key=period_key)
    if moved is None:
        return Alert(t(lang, "overdue.stale"))
    if not moved:
        return Reply(Screen(t(lang, "overdue.nothing_queued")), drop_buttons=True)
    if school_id is not None:
        sent = Manual(slot, school_id, lambda report: Screen(t(lang, "overdue.sent_now", count=report.nudges_sent)))
        return Reply(manual=sent, drop_buttons=True)
    return Reply(Screen(t(lang, "overdue.sent_now", count=moved)), kick=True, drop_buttons=True)
