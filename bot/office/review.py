"""Review states (issue 15 point 1): staff approve a report, return it with a reason, or reopen it.

Every current report version is ``submitted``, ``approved`` or ``returned``; a
new version (a correction) starts submitted and so is back in the queue.
``/review [form] [period]`` (words and defaults as ``/summary``) sends one card
per submitted report in the staff member's scope (``bot.office.review_cards``).

- ✅ approve: the version is locked for the principal (their ``/correct`` and
  old edit buttons say who approved it and how to ask for a change);
- ↩️ return: asks for a reason (a typed reply; the question is a row, so it
  survives a restart); the principal gets the reason and one button that opens
  exactly that report for correction;
- 🔓 reopen (an approved version): asks for a reason, sets it submitted again
  and tells the principal, who may correct it.

Every use case checks here that the actor is staff and the report lies in their
district: a forged button for another district's report gets the same answer
as one for a report that does not exist. A press on a version that is no longer
current (a correction came in) changes nothing and shows the current version's
card. Each change writes one audit row (``report.approved``, ``report.returned``,
``report.reopened``, subject the school code) in its own transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.catalogue import Form
from bot.core.i18n import normalise_language, t
from bot.core.periods import Period
from bot.core.ui import Button, Screen
from bot.office.figures import Refusal, form_and_period
from bot.office.review_cards import Card, CardFlag, ReviewPress, card_screen, queue_button
from bot.office.scope import office_district
from bot.render import scope_label
from bot.reporting.codec import Start
from bot.reporting.state import period_or_none
from bot.services import Identity, Services
from storage.models import Report
from storage.people import audit, reporters_of_school
from storage.reports import current_report, report_by_id
from storage.reviews import (
    APPROVED,
    RETURNED,
    SUBMITTED,
    drop_prompt,
    prompt_of,
    put_prompt,
    review_counts,
    review_queue,
    set_review,
)
from storage.rollups import district_name

__all__ = ["Notice", "ReviewReply", "ask_again", "press", "queue", "queue_button_for", "reason"]

# Cards per /review: a district's month fits; the rest come with the next /review.
QUEUE_LIMIT = 10
# A reason asked for and never typed stops waiting after this (the next text is not taken for it).
PROMPT_TTL = timedelta(hours=24)
# What each reason-taking action expects the version to be in, and moves it to.
_MOVES = {"return": (SUBMITTED, RETURNED, "report.returned"), "reopen": (APPROVED, SUBMITTED, "report.reopened")}


@dataclass(frozen=True)
class Notice:
    """A message to someone other than the actor (a principal told of a return)."""

    chat_id: int
    screen: Screen


@dataclass
class ReviewReply:
    """What a review step produced: messages to the actor, a pop-up or a short note on the
    pressed button, a new text for the pressed card, and notices to principals."""

    screens: list[Screen] = field(default_factory=list)
    alert: str | None = None
    toast: str | None = None
    card: Screen | None = None
    notices: list[Notice] = field(default_factory=list)


def queue_button_for(services: Services, lang: str, args: Sequence[str]) -> Button | None:
    """The review button for the form and period ``args`` name (as ``/summary`` reads them), if they parse."""
    named = form_and_period(services, lang, args)
    return None if isinstance(named, Refusal) else queue_button(named[0], named[1], lang)


async def queue(services: Services, who: Identity, lang: str, args: Sequence[str]) -> ReviewReply:
    """``/review [form] [period]``: a heading with the approval coverage, then one card per submitted report."""
    if not who.is_staff:
        return ReviewReply([Screen(t(lang, "core.not_allowed"))])
    named = form_and_period(services, lang, args)
    if isinstance(named, Refusal):
        return ReviewReply([Screen(named.text + "\n" + t(lang, "review.usage"))])
    return await _queue(services, who, lang, *named)


async def _queue(services: Services, who: Identity, lang: str, form: Form, period: Period) -> ReviewReply:
    district_id = office_district(who)
    async with services.db.session() as session:
        waiting = await review_queue(session, form.key, [period.key], district_id=district_id)
        counts = await review_counts(session, form.key, [period.key], district_id=district_id)
        scope = await district_name(session, district_id) if district_id is not None else None
        cards = [card_screen(_card(form, period, r, lang), lang, services.settings.timezone) for r in waiting[:QUEUE_LIMIT]]
    names = {
        "form": form.short.get(lang),
        "period": period.label(lang),
        "scope": scope_label(scope, lang),
        "approved": counts.get(APPROVED, 0),
        "total": sum(counts.values()),
        "returned": counts.get(RETURNED, 0),
    }
    if not waiting:
        return ReviewReply([Screen(t(lang, "review.queue_empty", **names))])
    heading = t(lang, "review.queue_title", waiting=len(waiting), **names)
    if len(waiting) > QUEUE_LIMIT:
        heading += "\n" + t(lang, "review.queue_more", shown=QUEUE_LIMIT)
    return ReviewReply([Screen(heading), *cards])


async def press(services: Services, who: Identity, lang: str, data: str) -> ReviewReply:
    """A review button: approve, ask the reason to return or reopen, drop that question, or open the queue."""
    step = ReviewPress.decode(data)
    if step is None or not who.is_staff:
        return ReviewReply(alert=t(lang, "core.stale_button" if step is None else "core.not_allowed"))
    if step.action == "queue":
        return await _queue_button(services, who, lang, step)
    if step.action == "cancel":
        async with services.db.session() as session:
            dropped = who.person_id is not None and await drop_prompt(session, who.person_id)
        return ReviewReply([Screen(t(lang, "review.reason_dropped" if dropped else "review.nothing_asked"))])
    if who.person_id is None:
        return ReviewReply(alert=t(lang, "core.not_allowed"))
    now = services.clock.now()
    async with services.db.session() as session:
        report = await report_by_id(session, step.report_id)
        expect = APPROVED if step.action == "reopen" else SUBMITTED
        refused = await _refusal(services, session, who, lang, report, expect)
        if refused is not None or report is None:
            return refused or ReviewReply(alert=t(lang, "review.not_found"))
        if step.action in _MOVES:
            await put_prompt(session, who.person_id, report.id, step.action, now)
            return ReviewReply([_ask(services, lang, report, step.action)])
        if not await set_review(session, report, expect=SUBMITTED, to=APPROVED, by=who.person_id, at=now):
            return ReviewReply(alert=t(lang, "review.outdated"))
        audit(session, now, who.telegram_id, "report.approved", report.school.code, **_detail(report))
    return ReviewReply(toast=t(lang, "review.approved_toast"), card=await _fresh_card(services, lang, report.id))


async def _queue_button(services: Services, who: Identity, lang: str, step: ReviewPress) -> ReviewReply:
    """🔍 under /summary or /flags: the queue of that form and period."""
    try:
        form: Form | None = services.catalogue.get(step.form_key)
    except KeyError:
        form = None
    period = period_or_none(form, step.period) if form is not None else None
    if form is None or period is None:
        return ReviewReply(alert=t(lang, "core.stale_button"))
    return await _queue(services, who, lang, form, period)


async def reason(services: Services, who: Identity, lang: str, text: str | None) -> ReviewReply | None:
    """Typed input while a reason is asked for (None: nothing is asked, the text is not ours).

    An empty reason, only spaces or a command is asked again and changes nothing.
    """
    if not who.is_staff or who.person_id is None:
        return None
    now = services.clock.now()
    async with services.db.session() as session:
        prompt = await prompt_of(session, who.person_id)
        if prompt is None:
            return None
        if prompt.created_at < now - PROMPT_TTL:
            await drop_prompt(session, who.person_id)
            return None
        report = await report_by_id(session, prompt.report_id)
        words = " ".join((text or "").split())
        if report is not None and (not words or words.startswith("/")):
            return ReviewReply([_ask(services, lang, report, prompt.action, again=True)])
        expect, to, action = _MOVES[prompt.action]
        refused = await _refusal(services, session, who, lang, report, expect)
        await drop_prompt(session, who.person_id)
        if refused is not None or report is None:
            return _as_messages(refused or ReviewReply(alert=t(lang, "review.not_found")))
        if not await set_review(session, report, expect=expect, to=to, by=who.person_id, at=now, reason=words):
            return ReviewReply([Screen(t(lang, "review.outdated"))])
        audit(session, now, who.telegram_id, action, report.school.code, reason=words, **_detail(report))
        notices = await _notices(services, session, report, prompt.action, who, words)
    done = t(
        lang,
        f"review.{prompt.action}_done",
        school=report.school.name,
        form=_form(services, report).short.get(lang),
        period=_period_label(services, report, lang),
        told=len(notices),
    )
    card = await _fresh_card(services, lang, report.id)
    return ReviewReply([Screen(done), *([card] if card is not None else [])], notices=notices)


async def ask_again(services: Services, who: Identity, lang: str) -> ReviewReply | None:
    """After a command: if a reason is still asked for, ask for it again (None: nothing is asked)."""
    if not who.is_staff or who.person_id is None:
        return None
    async with services.db.session() as session:
        prompt = await prompt_of(session, who.person_id)
        if prompt is None or prompt.created_at < services.clock.now() - PROMPT_TTL:
            return None
        report = await report_by_id(session, prompt.report_id)
        if report is None:
            return None
        return ReviewReply([_ask(services, lang, report, prompt.action, again=True)])


# --- checks ------------------------------------------------------------------------
async def _refusal(
    services: Services, session: AsyncSession, who: Identity, lang: str, report: Report | None, expect: str
) -> ReviewReply | None:
    """Why ``who`` cannot act on ``report`` expecting it ``expect`` (None: they can).

    Out of scope reads as not found. A version that is not the counted one any more is
    outdated: the card shows the current version. A state other than ``expect`` (already
    approved, returned) is said, and the card refreshed.
    """
    district_id = office_district(who)
    if report is None or (district_id is not None and report.school.district_id != district_id):
        return ReviewReply(alert=t(lang, "review.not_found"))
    if report.withdrawn or not report.is_current:
        live = await current_report(session, report.school_id, report.form_key, report.period, report.series)
        card = (
            card_screen(_card(_form(services, report), _period(services, report), live, lang), lang, _tz(services))
            if live
            else None
        )
        return ReviewReply(alert=t(lang, "review.outdated" if live is not None else "review.withdrawn"), card=card)
    if report.review != expect:
        card = card_screen(_card(_form(services, report), _period(services, report), report, lang), lang, _tz(services))
        return ReviewReply(alert=t(lang, f"review.already_{report.review}"), card=card)
    return None


def _as_messages(reply: ReviewReply) -> ReviewReply:
    """A refusal answering typed text: there is no button for a pop-up, so it is a message."""
    screens = [Screen(reply.alert)] if reply.alert else []
    return ReviewReply(screens + ([reply.card] if reply.card is not None else []))


# --- what is said ---------------------------------------------------------------------
def _ask(services: Services, lang: str, report: Report, action: str, *, again: bool = False) -> Screen:
    """Ask for the reason to return or reopen ``report``, with a button to drop the question."""
    text = t(
        lang,
        f"review.ask_{action}",
        school=report.school.name,
        form=_form(services, report).short.get(lang),
        period=_period_label(services, report, lang),
    )
    if again:
        text = t(lang, "review.ask_again") + "\n" + text
    return Screen(text, [[Button(t(lang, "review.cancel_button"), ReviewPress("cancel").encode())]])


async def _notices(
    services: Services, session: AsyncSession, report: Report, action: str, who: Identity, words: str
) -> list[Notice]:
    """Each active reporter of the school hears the reason, with the button that opens that report."""
    form = _form(services, report)
    notices = []
    for person in await reporters_of_school(session, report.school_id):
        lang = normalise_language(person.language)
        text = t(
            lang,
            f"review.{action}_notice",
            form=form.title.get(lang),
            period=_period_label(services, report, lang),
            who=who.name or t(lang, "review.office"),
            reason=words,
        )
        button = Button(t(lang, "review.fix_button", form=form.short.get(lang)), Start("fix", report_id=report.id).encode())
        notices.append(Notice(person.telegram_id, Screen(text, [[button]])))
    return notices


async def _fresh_card(services: Services, lang: str, report_id: int) -> Screen | None:
    """The card of ``report_id`` as it is now (after a change, read in a new transaction)."""
    async with services.db.session() as session:
        report = await report_by_id(session, report_id)
        if report is None:
            return None
        return card_screen(_card(_form(services, report), _period(services, report), report, lang), lang, _tz(services))


def _card(form: Form, period: Period, report: Report, lang: str) -> Card:
    values = {v.field_key: (v.num_value, v.text_value) for v in report.values}
    flags = [CardFlag(*_flagged(form, flag.field_key, values, lang), flag.message, flag.reason) for flag in report.flags]
    return Card(
        report_id=report.id,
        school=report.school.name,
        code=report.school.code,
        district=report.school.district.name,
        form=form,
        period=period,
        version=report.version,
        reporter=report.reporter.name if report.reporter is not None else None,
        submitted_at=report.submitted_at,
        late=report.is_late,
        values=values,
        flags=flags,
        review=report.review,
        reviewer=report.reviewer.name if report.reviewer is not None else None,
        reviewed_at=report.reviewed_at,
        reason=report.review_reason,
        on_behalf=report.on_behalf,
        behalf_reason=report.behalf_reason,
    )


def _flagged(form: Form, key: str | None, values: Mapping[str, tuple[Decimal | None, str | None]], lang: str) -> tuple[str, str]:
    """A flagged field's label and value as the form shows them ("整表" and "" for a form-level warning)."""
    item = next((f for f in form.fields if f.key == key), None)
    if item is None:
        return (key or t(lang, "quality.form_level"), "")
    answer = item.from_storage(*values[item.key]) if item.key in values else None
    return item.label.get(lang), item.format(answer, lang) if answer is not None else ""


def _detail(report: Report) -> dict[str, object]:
    detail: dict[str, object] = {
        "form": report.form_key,
        "period": report.period,
        "version": report.version,
        "report_id": report.id,
    }
    if report.series:
        detail["series"] = report.series
    return detail


def _form(services: Services, report: Report) -> Form:
    return services.catalogue.get(report.form_key)


def _period(services: Services, report: Report) -> Period:
    period = period_or_none(_form(services, report), report.period)
    assert period is not None, f"report {report.id} has a period its form cannot read: {report.period!r}"
    return period


def _period_label(services: Services, report: Report, lang: str) -> str:
    return _period(services, report).label(lang)


def _tz(services: Services) -> tzinfo:
    return services.settings.timezone
