"""Office nudges from ``/overdue``: which schools a press covers, within the actor's scope, queued or sent now.

``bot.office.overdue`` reads the button and words the result;
the scope rules live here: a district staff member nudges only schools of
their district (a forged button naming another district's school is refused,
as is one naming no school at all), and "send now" moves only the actor's own
queued nudges. ``scheduler.tick.queue_nudges`` and ``send_queued_now`` apply
the same scope again underneath, and write the audit rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.catalogue import Form
from bot.services import Identity, Services
from bot.office.scope import office_district
from scheduler.digests import OverdueSchool, overdue_schools, period_is_locked, visible_school
from scheduler.policy import Rules
from scheduler.nudges import NudgeOutcome, queue_nudges, send_queued_now

__all__ = ["NothingOverdue", "Queued", "Refused", "nudge", "overdue_in_scope", "send_now"]


@dataclass(frozen=True)
class Refused:
    """A stale, forged or foreign button: nothing was queued (the neutral refusal)."""


@dataclass(frozen=True)
class NothingOverdue:
    """Nothing left to nudge: the school reported meanwhile (``school`` its name) or nobody is overdue (``school`` None)."""

    school: str | None


@dataclass(frozen=True)
class Queued:
    """Nudges queued (``outcome.queued`` of them; 0 if the same minute's press already did)."""

    outcome: NudgeOutcome


NudgeResult = Refused | NothingOverdue | Queued


async def overdue_in_scope(
    services: Services, who: Identity, forms: list[Form], period_key: str | None, school_id: int | None = None
) -> list[OverdueSchool]:
    """Overdue schools of ``forms`` that ``who`` may see (their district, or the whole city)."""
    rules = Rules.from_settings(services.settings)
    async with services.db.session() as session:
        return await overdue_schools(
            session,
            forms,
            services.clock.now(),
            rules,
            period_key=period_key,
            district_id=office_district(who),
            school_id=school_id,
        )


async def nudge(
    services: Services, who: Identity, forms: list[Form], period_key: str | None, school_id: int | None
) -> NudgeResult:
    """Queue a nudge for one school (``school_id``) or every overdue school ``who`` may see."""
    now = services.clock.now()
    rules = Rules.from_settings(services.settings)
    schools = await overdue_in_scope(services, who, forms, period_key, school_id)
    if any(period_is_locked(item.form, item.period, now, rules) for school in schools for item in school.items):
        return Refused()
    if not schools:
        if school_id is None:
            return NothingOverdue(None)
        name = await visible_name(services, who, school_id)
        # Not a school this staff member may see (or none at all): a forged or foreign button.
        return Refused() if name is None else NothingOverdue(name)
    outcome = await queue_nudges(services, schools, actor=who.telegram_id, now=now, district_id=office_district(who))
    return Queued(outcome)


async def send_now(
    services: Services,
    who: Identity,
    *,
    slot: str,
    school_id: int | None,
    form_key: str | None,
    period_key: str | None,
) -> int | None:
    """ "Send now" for nudges queued at night: how many of ``who``'s own rows now go; None if the school is not theirs."""
    if school_id is not None and await visible_name(services, who, school_id) is None:
        return None
    return await send_queued_now(
        services,
        slot=slot,
        now=services.clock.now(),
        actor=who.telegram_id,
        district_id=office_district(who),
        school_id=school_id,
        form_key=form_key,
        period=period_key,
    )


async def visible_name(services: Services, who: Identity, school_id: int) -> str | None:
    """The school's name if it exists and lies within ``who``'s district (any, for city staff); else None."""
    async with services.db.session() as session:
        school = await visible_school(session, school_id, office_district(who))
    return school.name if school is not None else None
