"""``schoolbot file``: the office files a report for a school from the command line, through the chat's validation.

The values come as ``field=value`` words and are read by each field as a typed
answer would be (``Field.read``: units, conversions, ranges, choices). Then the
pure report flow (``bot.reporting.flow``) runs on a draft at the review, exactly
as a staff member's "submit" would: the form's rules and the history checks,
the period's lock (the office may file a locked one), a correction on top of the
current version. An error stops it (one line per value or rule, exit status 2,
nothing saved); a warning is confirmed by the reason given for filing and saved
with the version, as in chat. ``--as STAFF_ID`` files as that staff member, in
their scope; without it the command line acts for the whole city, unnamed. The
version, its audit row (``report.filed_on_behalf``) and the school's reporters'
notices are those of the chat (``bot.reporting.versions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.catalogue import Form
from bot.core.fields import InvalidAnswer
from bot.core.i18n import t
from bot.core.periods import Period
from bot.office.args import period_arg
from bot.office.roster import normalise_code
from bot.reporting import flow
from bot.reporting.behalf import approved_note
from bot.reporting.checks import Finding
from bot.reporting.codec import Start
from bot.reporting.previous import remember_previous
from bot.reporting.review import MAX_REASON, draft_findings
from bot.reporting.screens import Screens
from bot.reporting.service import settle
from bot.reporting.starting import refusal
from bot.reporting.state import STEP_REASON, STEP_REVIEW, Ctx, DraftState, Facts, Save, encode_answer
from bot.reporting.versions import Notice, audit_saved, behalf_notices, new_report
from bot.services import Services
from storage.models import Person, Role, School
from storage.people import person_by_telegram_id
from storage.reports import CurrentChanged, save_report_retrying
from storage.schools import district_by_id, school_by_code

__all__ = ["Filed", "file_report"]

_TOKEN = "cli"
_EXAMPLES = {"monthly": "2026-10", "quarterly": "2026-Q4", "semester": "2026-S2", "yearly": "2026"}


@dataclass
class Filed:
    """What the command prints (``lines`` on stdout, ``errors`` on stderr), exits with, and whom to tell."""

    code: int = 0
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


class _Refused(Exception):
    def __init__(self, *lines: str) -> None:
        super().__init__(*lines)
        self.lines = list(lines)


@dataclass(frozen=True)
class _Request:
    school: School
    form: Form
    period: Period
    actor: Person | None


async def file_report(
    services: Services,
    *,
    school_code: str,
    form_key: str,
    period_text: str,
    pairs: Sequence[str],
    reason: str | None,
    as_id: int | None = None,
    lang: str = "zh",
) -> Filed:
    """File (or correct) ``form`` for ``period`` of the school from ``field=value`` words, with ``reason``."""
    text = " ".join((reason or "").split())
    if not text or len(text) > MAX_REASON:
        return Filed(2, errors=[t(lang, "onbehalf.cli_no_reason" if not text else "onbehalf.reason_too_long", max=MAX_REASON)])
    try:
        async with services.db.session() as session:
            request = await _request(session, services, school_code, form_key, period_text, as_id, lang)
            save, warnings = await _checked(session, services, request, pairs, text, lang)
    except _Refused as refused:
        return Filed(2, errors=refused.lines + [t(lang, "onbehalf.cli_nothing_saved")])
    if save is None:
        return Filed(0, lines=warnings)  # a correction identical to the current version: nothing to save
    return await _save(services, request, save, warnings, lang)


async def _request(
    session: AsyncSession, services: Services, code: str, form_key: str, period_text: str, as_id: int | None, lang: str
) -> _Request:
    """The school, form, period and acting staff member, each checked (``_Refused`` says why not)."""
    actor = None
    if as_id is not None:
        actor = await person_by_telegram_id(session, as_id)
        if actor is None or actor.role not in (Role.STAFF, Role.ADMIN):
            raise _Refused(t(lang, "onbehalf.cli_not_staff", id=as_id))
    school = await school_by_code(session, normalise_code(code))
    if school is None:
        raise _Refused(t(lang, "onbehalf.cli_unknown_school", code=code))
    if actor is not None and actor.role == Role.STAFF and actor.district_id is not None:
        if school.district_id != actor.district_id:
            district = await district_by_id(session, actor.district_id)
            name = district.name if district is not None else "?"
            raise _Refused(t(lang, "onbehalf.cli_out_of_scope", code=school.code, name=actor.name, district=name))
    try:
        form = services.catalogue.get(form_key)
    except KeyError:
        raise _Refused(
            t(lang, "onbehalf.cli_unknown_form", form=form_key, forms=", ".join(f.key for f in services.catalogue))
        ) from None
    try:
        period = period_arg(form, period_text)
    except ValueError:
        example = _EXAMPLES.get(form.period_cadence.value, "2026-10")
        raise _Refused(
            t(lang, "onbehalf.cli_bad_period", period=period_text, form=form.title.get(lang), example=example)
        ) from None
    return _Request(school, form, period, actor)


def _answers(form: Form, pairs: Sequence[str], lang: str) -> tuple[dict[str, str | None], dict[str, str]]:
    """Each ``field=value`` read as the field reads a typed answer; every bad one is a line of ``_Refused``."""
    given: dict[str, str] = {}
    bad: list[str] = []
    # "key=value" words, in the order typed (the form's order decides what is asked).
    keys = {item.key for item in form.fields}
    for pair in pairs:
        key, sep, typed = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            bad.append(t(lang, "onbehalf.cli_not_pair", arg=pair))
        elif key not in keys:
            fields = ", ".join(item.key for item in form.fields)
            bad.append(t(lang, "onbehalf.cli_unknown_field", field=key, form=form.title.get(lang), fields=fields))
        else:
            given[key] = typed
    answers: dict[str, str | None] = {}
    originals: dict[str, str] = {}
    for item in form.fields:
        label = item.label.get(lang)
        if item.key not in given:
            if item.default is not None:
                answers[item.key] = encode_answer(item.parse(item.default))
            elif item.required:
                bad.append(t(lang, "onbehalf.cli_missing", field=item.key, label=label))
            else:
                answers[item.key] = None
            continue
        try:
            value, original = item.read(given[item.key])
        except InvalidAnswer as exc:
            message = " ".join(exc.message(lang).split())
            bad.append(t(lang, "onbehalf.cli_bad_value", field=item.key, label=label, message=message))
            continue
        answers[item.key] = encode_answer(value)
        if original is not None:
            originals[item.key] = original
    if bad:
        raise _Refused(*bad)
    return answers, originals


async def _checked(
    session: AsyncSession, services: Services, request: _Request, pairs: Sequence[str], reason: str, lang: str
) -> tuple[Save | None, list[str]]:
    """Run the flow's "submit" on a draft at the review: the ``Save``, and the warnings confirmed by ``reason``."""
    form, period, school = request.form, request.period, request.school
    ctx = Ctx(
        catalogue=services.catalogue,
        now=services.clock.now(),
        tz=services.settings.timezone,
        lang=lang,
        school_id=school.id,
        ttl_days=services.settings.draft_ttl_days,
        facts=Facts(),
        token=_TOKEN,
        office=True,
        behalf={"reason": reason, "start": Start("go", form_key=form.key, period=period.key).encode()},
    )

    async def ask(compute: Any) -> Any:
        return await settle(session, school.id, ctx.facts, compute)

    if form not in await ask(ctx.school_forms):
        raise _Refused(t(lang, "onbehalf.cli_not_expected", school=school.name, form=form.title.get(lang)))
    why = await ask(lambda: refusal(form, period, ctx))
    if why is not None:
        raise _Refused(why)
    answers, originals = _answers(form, pairs, lang)
    current = None if form.is_event else await ask(lambda: ctx.facts.current(form.key, period.key))
    state = DraftState(
        token=_TOKEN,
        form_key=form.key,
        form_version=form.version,
        step=STEP_REVIEW,
        updated_at=ctx.now,
        created_at=ctx.now,
        period=period.key,
        answers=answers,
        correction_of=current.id if current is not None else None,
        school_id=school.id,
        notes={"originals": originals, "behalf": dict(ctx.behalf or {})} if originals else {"behalf": dict(ctx.behalf or {})},
    )
    state = await ask(lambda: remember_previous(state, form, period, ctx))
    found: list[Finding] = await ask(lambda: draft_findings(state, form, ctx))
    screens = Screens(services.catalogue, lang, ctx.tz)
    errors = [finding for finding in found if finding.is_error]
    if errors:
        raise _Refused(*(screens.finding(form, finding) for finding in errors))
    step = await ask(lambda: flow.step(state, flow.Press(f"r:{_TOKEN}:ok"), ctx))
    if step.save is None and step.state is not None and step.state.step == STEP_REASON:
        held = step.state
        step = await ask(lambda: flow.step(held, flow.Typed(reason), ctx))
    warnings = [t(lang, "onbehalf.cli_warning", message=finding.message.get(lang)) for finding in found]
    if current is not None and current.approved:
        warnings.append(approved_note(screens, current))  # the office's correction goes back to the queue
    if step.save is None:
        said = [screen.text for screen in await ask(lambda: flow.render(step, ctx))]
        return None, warnings + said
    return step.save, warnings


async def _save(services: Services, request: _Request, save: Save, warnings: list[str], lang: str) -> Filed:
    """Save the version with its audit row; then the notices for the school's reporters."""
    now = services.clock.now()
    actor = request.actor
    actor_id = actor.telegram_id if actor is not None else None

    async def record(session: AsyncSession, report: Any) -> None:
        audit_saved(session, now, actor_id, request.school.code, save, report)

    try:
        report = await save_report_retrying(
            services.db,
            new_report(save, school_id=request.school.id, reporter_id=actor.id if actor else None, now=now),
            also=record,
        )
    except CurrentChanged:
        # Someone filed or corrected it between the check and the save: run the command again on top of it.
        return Filed(1, errors=[t(lang, "onbehalf.cli_nothing_saved")])
    screens = Screens(services.catalogue, lang, services.settings.timezone)
    async with services.db.session() as session:
        notices = await behalf_notices(session, screens, save, report, actor.name if actor is not None else "")
    saved = t(
        lang,
        "onbehalf.cli_saved",
        school=f"{request.school.code} {request.school.name}",
        period=save.period.label(lang),
        form=save.form.title.get(lang),
        version=report.version,
    )
    return Filed(0, lines=[*warnings, saved, screens.answers(save.form, save.answers, save.originals)], notices=notices)
