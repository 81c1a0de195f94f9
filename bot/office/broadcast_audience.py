"""Broadcast audiences: who a draft reaches, how it is described, and the composer's menus.

Part of the composer in ``bot.office.broadcast``; callback data is
``bc:<draft id>:<draft token>:<verb>[:<arg>]`` (see there).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.catalogue import Catalogue, Form
from bot.core.i18n import messages, t
from bot.core.periods import Period, due_date, local_date, period_of
from bot.core.ui import Button, Screen
from bot.delivery.send import MAX_CAPTION
from bot.office.args import stored_period
from bot.services import Services
from storage import broadcasts as store
from storage.broadcasts import Audience, AudienceSize
from storage.models import Broadcast
from storage.schools import all_districts

# Overdue segment: how many past periods of a form the composer offers.
OVERDUE_PERIODS_OFFERED = 4


def audience_of(services: Services, draft: Broadcast, scope: int | None) -> Audience:
    """The storage-level audience of a draft, confined to district ``scope`` when set.

    Overdue: the form's programme and whether it is due yet. Whatever the draft
    says (a forged district id included), ``within_district`` keeps a district
    staff member's audience inside their district.
    """
    audience = _segment_of(services, draft)
    return replace(audience, within_district=scope) if scope is not None else audience


def _segment_of(services: Services, draft: Broadcast) -> Audience:
    args = draft.audience_args or {}
    kind = draft.audience or "all"
    exclude = draft.author_id
    if kind == "districts":
        return Audience("districts", district_ids=tuple(int(i) for i in args.get("districts", [])))
    if kind == "programme":
        return Audience("programme", programme=str(args.get("programme")))
    if kind == "area":
        return Audience("area", area=str(args.get("area")))
    if kind == "staff":
        return Audience("staff", exclude_person_id=exclude)
    if kind == "overdue":
        form_key, period_key = str(args.get("form")), str(args.get("period"))
        try:
            form, period = stored_period(services.catalogue, form_key, period_key)
        except (KeyError, ValueError):
            return Audience("districts")  # the form left the catalogue: nobody
        due = due_date(form, period)
        today = local_date(services.clock.now(), services.settings.timezone)
        if due is None or today <= due:
            return Audience("districts")  # not due yet: nobody is overdue
        return Audience("overdue", programme=form.programme, form_key=form.key, period=period.key)
    return Audience("all")


def overdue_forms(catalogue: Catalogue) -> list[Form]:
    """Forms with a due date: only those can be overdue."""
    return [form for form in catalogue if form.due_days is not None and not form.is_event]


def overdue_periods(services: Services, form_key: str) -> list[Period]:
    """The latest periods of ``form_key`` whose due date has passed, newest first."""
    try:
        form = services.catalogue.get(form_key)
    except KeyError:
        return []
    today: date = local_date(services.clock.now(), services.settings.timezone)
    periods: list[Period] = []
    period = period_of(form.period_cadence, today)
    # Walk back until enough past-due periods are found (the current one is usually not due yet).
    for _ in range(OVERDUE_PERIODS_OFFERED + 2):
        due = due_date(form, period)
        if due is not None and due < today:
            periods.append(period)
            if len(periods) == OVERDUE_PERIODS_OFFERED:
                break
        period = period.previous()
    return periods


def overdue_period_menu(services: Services, lang: str, draft: Broadcast) -> Screen:
    form_key = str(draft.audience_args.get("form"))
    rows = [[button(draft, p.label(lang), "q", p.key)] for p in overdue_periods(services, form_key)]
    return Screen(t(lang, "broadcast.choose_period"), rows + [back_cancel(lang, draft)])


async def describe_audience(services: Services, session: AsyncSession, lang: str, draft: Broadcast) -> str:
    args = draft.audience_args or {}
    kind = draft.audience or "all"
    if kind == "districts":
        names = await store.district_names(session, args.get("districts", []))
        return t(lang, "broadcast.audience_districts", names="、".join(names[i] for i in sorted(names)))
    if kind == "programme":
        return t(lang, "broadcast.audience_programme", programme=programme_label(lang, str(args.get("programme"))))
    if kind == "area":
        return t(lang, f"broadcast.area_{args.get('area')}")
    if kind == "overdue":
        try:
            form, period = stored_period(services.catalogue, str(args.get("form")), str(args.get("period")))
            return t(lang, "broadcast.audience_overdue", form=form.title.get(lang), period=period.label(lang))
        except (KeyError, ValueError):
            return t(lang, "broadcast.segment_overdue")
    return t(lang, f"broadcast.segment_{kind}")


def programme_label(lang: str, programme: str) -> str:
    key = f"broadcast.programme_{programme}"
    return t(lang, key) if key in messages() else programme


def ask_message(lang: str, draft: Broadcast, size: AudienceSize) -> Screen:
    lines = [
        t(
            lang,
            "broadcast.audience_count",
            audience=draft.audience_args.get("label", ""),
            people=size.reachable,
            schools=size.schools,
        )
    ]
    if size.blocked:
        lines.append(t(lang, "broadcast.audience_blocked", blocked=size.blocked))
    if size.schools_without_reporter:
        lines.append(t(lang, "broadcast.audience_no_reporter", schools=size.schools_without_reporter))
    lines += ["", t(lang, "broadcast.ask_message", caption=MAX_CAPTION)]
    return Screen("\n".join(lines), [back_cancel(lang, draft)])


# --- menus ----------------------------------------------------------------------


def button(draft: Broadcast, label: str, verb: str, arg: str | None = None) -> Button:
    data = f"bc:{draft.id}:{draft.token}:{verb}" + (f":{arg}" if arg is not None else "")
    return Button(label, data)


def back_cancel(lang: str, draft: Broadcast) -> list[Button]:
    return [button(draft, t(lang, "broadcast.button_back"), "back"), button(draft, t(lang, "broadcast.button_cancel"), "x")]


def audience_menu(lang: str, draft: Broadcast) -> Screen:
    def seg(kind: str) -> Button:
        return button(draft, t(lang, f"broadcast.segment_{kind}"), "a", kind)

    rows = [
        [seg("all")],
        [seg("districts"), seg("programme")],
        [seg("area"), seg("overdue")],
        [seg("staff")],
        [button(draft, t(lang, "broadcast.button_cancel"), "x")],
    ]
    return Screen(t(lang, "broadcast.choose_audience"), rows)


async def district_menu(session: AsyncSession, lang: str, draft: Broadcast, scope: int | None) -> Screen:
    """The district picker: every district for city staff, only their own for district staff."""
    chosen = set(draft.audience_args.get("districts", []))
    districts = [d for d in await all_districts(session) if scope is None or d.id == scope]
    buttons = [button(draft, ("✓ " if d.id in chosen else "") + d.name, "d", str(d.id)) for d in districts]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([button(draft, t(lang, "broadcast.button_districts_done", n=len(chosen)), "dd")])
    rows.append(back_cancel(lang, draft))
    return Screen(t(lang, "broadcast.choose_districts"), rows)
