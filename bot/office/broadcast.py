"""Broadcast use cases: compose a notice (audience → count → message → preview → confirm), queue it, follow it.

The draft is a ``broadcasts`` row with ``status='draft'``; every step reads and
writes it, so a restart in the middle of composing loses nothing. Nothing is
sent to recipients before ``confirm``; then ``storage.broadcasts.queue_broadcast``
writes the broadcast and its outbox in one transaction and ``bot/sender.py``
delivers it.

Screens are returned as :class:`Panel` (text plus buttons carrying callback
data), so this module stays free of Telegram types and is tested directly.
Callback data: ``bc:<draft id>:<draft token>:<verb>`` for the composer, where
the token makes a press on an older draft's buttons (or a forged one) stale;
``bcx:<broadcast id>`` cancels a running broadcast.

Scope (checked here, not only in the menus): a district staff member's every
audience is intersected with their district (``Audience.within_district``), the
district picker offers only that district, a forged district id is refused and
never widens the audience, and they list and stop only their own broadcasts.
City staff and admins reach, list and stop everything. Confirming and stopping
write one audit row each (subject ``broadcast:<id>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.catalogue import Catalogue, Form
from bot.services import Identity, Services
from bot.delivery.send import MAX_CAPTION, Payload, telegram_length
from bot.core.i18n import messages, t
from bot.core.periods import Period, due_date, local_date, parse_period, period_of
from bot.office.scope import office_district
from storage import broadcasts as store
from storage.broadcasts import Audience, AudienceSize, Counts
from storage.models import Broadcast, BroadcastStatus
from storage.people import audit

__all__ = [
    "Alert",
    "Button",
    "Closed",
    "Content",
    "Edit",
    "Panel",
    "Preview",
    "Queued",
    "Reply",
    "StopOutcome",
    "accept_content",
    "cancel_running",
    "final_report",
    "list_recent",
    "payload_of",
    "press",
    "progress_panel",
    "set_progress_message",
    "start",
]

# The progress message is edited at most this often, whichever process sends.
PROGRESS_EVERY = timedelta(seconds=3)
# A draft untouched for this long no longer takes the staff member's messages.
DRAFT_IDLE = timedelta(hours=24)
# Overdue segment: how many past periods of a form the composer offers.
OVERDUE_PERIODS_OFFERED = 4
# The final report lists at most this many schools by name; the rest are counted.
MAX_LISTED = 60
_DATA = re.compile(r"^bc:(\d{1,10}):([A-Za-z0-9_-]{1,16}):([a-z]{1,5})(?::([A-Za-z0-9_-]{1,32}))?$")
_CANCEL_DATA = re.compile(r"^bcx:(\d{1,10})$")


@dataclass(frozen=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True)
class Panel:
    """A screen: text and rows of buttons."""

    text: str
    rows: list[list[Button]] = field(default_factory=list)


@dataclass(frozen=True)
class Edit:
    """Show ``panel`` in place of the pressed message."""

    panel: Panel


@dataclass(frozen=True)
class Alert:
    """Refuse the press with a pop-up; nothing changes."""

    text: str


@dataclass(frozen=True)
class Closed:
    """The composer is over (cancelled): show ``text`` without buttons."""

    text: str


@dataclass(frozen=True)
class Queued:
    """Confirmed: ``panel`` becomes the progress message of broadcast ``broadcast_id``."""

    broadcast_id: int
    panel: Panel


@dataclass(frozen=True)
class Content:
    """What a staff member sent as the message to broadcast."""

    kind: Literal["text", "photo", "document", "other"]
    text: str | None = None
    file_id: str | None = None


@dataclass(frozen=True)
class Reply:
    """Answer the staff member's message with ``text`` (the draft is unchanged)."""

    text: str


@dataclass(frozen=True)
class Preview:
    """Show ``payload`` exactly as recipients will get it, then ``panel`` to confirm."""

    payload: Payload
    panel: Panel


PressResult = Edit | Alert | Closed | Queued


# --- composing ------------------------------------------------------------------


async def start(services: Services, who: Identity) -> Panel:
    """``/broadcast``: a fresh draft (an unfinished older one is dropped) and the audience menu."""
    assert who.person_id is not None
    async with services.db.session() as session:
        draft = await store.new_draft(
            session, services.clock.now(), author_id=who.person_id, author_chat_id=who.telegram_id
        )
        return _audience_menu(who.language, draft)


async def press(services: Services, who: Identity, data: str) -> PressResult:
    """A button of the composer: check it belongs to this staff member's current draft, then do it."""
    lang = who.language
    match = _DATA.match(data)
    if match is None or who.person_id is None:
        return Alert(t(lang, "broadcast.stale"))
    draft_id, token, verb, arg = int(match[1]), match[2], match[3], match[4]
    now = services.clock.now()
    scope = office_district(who)
    async with services.db.session() as session:
        draft = await store.broadcast_by_id(session, draft_id, for_update=True)
        if draft is None or draft.token != token or draft.author_id != who.person_id:
            return Alert(t(lang, "broadcast.stale"))
        if draft.status != BroadcastStatus.DRAFT.value:
            key = "broadcast.already_queued" if verb == "ok" else "broadcast.stale"
            return Alert(t(lang, key, id=draft.id))
        draft.updated_at = now
        if verb == "x":
            await store.discard_draft(session, draft)
            return Closed(t(lang, "broadcast.cancelled_draft"))
        if verb == "back":
            draft.step = "audience"
            draft.audience, draft.audience_args = None, {}
            return Edit(_audience_menu(lang, draft))
        if verb == "a" and arg is not None:
            return await _choose_segment(services, session, draft, lang, arg, scope)
        if verb == "d" and arg is not None and arg.isdigit() and draft.step == "districts":
            if scope is not None and int(arg) != scope:
                # Not a button we showed this staff member: another district is never added.
                return Alert(t(lang, "broadcast.stale"))
            chosen = {int(i) for i in draft.audience_args.get("districts", []) if scope is None or int(i) == scope}
            chosen ^= {int(arg)}
            draft.audience_args = {"districts": sorted(chosen)}
            return Edit(await _district_menu(session, lang, draft, scope))
        if verb == "dd" and draft.step == "districts":
            picked = [int(i) for i in draft.audience_args.get("districts", []) if scope is None or int(i) == scope]
            draft.audience_args = {"districts": picked}
            if not picked:
                return Alert(t(lang, "broadcast.pick_district"))
            return await _audience_chosen(services, session, draft, lang, scope)
        if verb == "p" and arg is not None and draft.step == "programme":
            draft.audience_args = {"programme": arg}
            return await _audience_chosen(services, session, draft, lang, scope)
        if verb == "r" and arg in ("urban", "rural") and draft.step == "area":
            draft.audience_args = {"area": arg}
            return await _audience_chosen(services, session, draft, lang, scope)
        if verb == "f" and arg is not None and draft.step == "overdue_form":
            if arg not in {f.key for f in _overdue_forms(services.catalogue)}:
                return Alert(t(lang, "broadcast.stale"))
            draft.step = "overdue_period"
            draft.audience_args = {"form": arg}
            return Edit(_overdue_period_menu(services, lang, draft))
        if verb == "q" and arg is not None and draft.step == "overdue_period":
            form_key = str(draft.audience_args.get("form", ""))
            offered = {p.key for p in _overdue_periods(services, form_key)}
            if arg not in offered:
                return Alert(t(lang, "broadcast.stale"))
            draft.audience_args = {"form": form_key, "period": arg}
            return await _audience_chosen(services, session, draft, lang, scope)
        if verb == "edit" and draft.step == "preview":
            draft.step = "message"
            size = await store.audience_size(session, _audience_of(services, draft, scope))
            return Edit(_ask_message(lang, draft, size))
        if verb == "ok" and draft.step == "preview":
            return await _confirm(services, session, who, draft, scope)
    return Alert(t(lang, "broadcast.stale"))


async def _choose_segment(
    services: Services, session: AsyncSession, draft: Broadcast, lang: str, kind: str, scope: int | None
) -> PressResult:
    if kind not in store.SEGMENTS or draft.step != "audience":
        return Alert(t(lang, "broadcast.stale"))
    draft.audience = kind
    draft.audience_args = {}
    if kind in ("all", "staff"):
        return await _audience_chosen(services, session, draft, lang, scope)
    if kind == "districts":
        draft.step = "districts"
        return Edit(await _district_menu(session, lang, draft, scope))
    if kind == "programme":
        draft.step = "programme"
        programmes = sorted({f.programme for f in services.catalogue if f.programme} | set(await store.programmes_in_use(session)))
        rows = [[_button(draft, _programme_label(lang, p), "p", p)] for p in programmes]
        return Edit(Panel(t(lang, "broadcast.choose_programme"), rows + [_back_cancel(lang, draft)]))
    if kind == "area":
        draft.step = "area"
        rows = [[_button(draft, t(lang, f"broadcast.area_{a}"), "r", a) for a in ("urban", "rural")]]
        return Edit(Panel(t(lang, "broadcast.choose_area"), rows + [_back_cancel(lang, draft)]))
    # overdue
    forms = _overdue_forms(services.catalogue)
    draft.step = "overdue_form"
    rows = [[_button(draft, f.title.get(lang), "f", f.key)] for f in forms]
    return Edit(Panel(t(lang, "broadcast.choose_form"), rows + [_back_cancel(lang, draft)]))


async def _audience_chosen(
    services: Services, session: AsyncSession, draft: Broadcast, lang: str, scope: int | None
) -> PressResult:
    """Count the recipients; an empty audience sends the composer back to the menu with a note."""
    size = await store.audience_size(session, _audience_of(services, draft, scope))
    if size.reachable == 0:
        note = t(lang, "broadcast.empty_audience", audience=await describe_audience(services, session, lang, draft), blocked=size.blocked)
        draft.step = "audience"
        draft.audience, draft.audience_args = None, {}
        menu = _audience_menu(lang, draft)
        return Edit(Panel(note + "\n\n" + menu.text, menu.rows))
    draft.step = "message"
    label = await describe_audience(services, session, lang, draft)
    if scope is not None and draft.audience != "districts":
        # "All principals" from a district office means the district's: say so.
        names = await store.district_names(session, [scope])
        label = t(lang, "broadcast.audience_within", audience=label, district=names.get(scope, "?"))
    draft.audience_args = {**draft.audience_args, "label": label}
    return Edit(_ask_message(lang, draft, size))


def _ask_message(lang: str, draft: Broadcast, size: AudienceSize) -> Panel:
    lines = [t(lang, "broadcast.audience_count", audience=draft.audience_args.get("label", ""), people=size.reachable, schools=size.schools)]
    if size.blocked:
        lines.append(t(lang, "broadcast.audience_blocked", blocked=size.blocked))
    if size.schools_without_reporter:
        lines.append(t(lang, "broadcast.audience_no_reporter", schools=size.schools_without_reporter))
    lines += ["", t(lang, "broadcast.ask_message", caption=MAX_CAPTION)]
    return Panel("\n".join(lines), [_back_cancel(lang, draft)])


async def accept_content(services: Services, who: Identity, content: Content) -> Reply | Preview | None:
    """The message to broadcast (text, or photo/document with caption); None if no draft waits for it."""
    if not who.is_staff or who.person_id is None:
        return None
    lang = who.language
    async with services.db.session() as session:
        draft = await store.draft_of(session, who.person_id)
        if draft is None or services.clock.now() - draft.updated_at > DRAFT_IDLE:
            # A draft left for a day is not what today's message is meant for; /broadcast starts afresh.
            return None
        if draft.step not in ("message", "preview"):
            return Reply(t(lang, "broadcast.choose_audience_first"))
        if content.kind == "other":
            return Reply(t(lang, "broadcast.unsupported_content"))
        if content.kind != "text" and telegram_length(content.text or "") > MAX_CAPTION:
            # Keep the draft: the staff member shortens the caption or sends the text separately.
            return Reply(t(lang, "broadcast.caption_too_long", limit=MAX_CAPTION, length=telegram_length(content.text or "")))
        if content.kind == "text" and not (content.text or "").strip():
            return Reply(t(lang, "broadcast.unsupported_content"))
        draft.kind, draft.text, draft.file_id = content.kind, content.text, content.file_id
        draft.step = "preview"
        draft.updated_at = services.clock.now()
        size = await store.audience_size(session, _audience_of(services, draft, office_district(who)))
        payload = payload_of(draft)
        parts = len(payload.parts())
        lines = [t(lang, "broadcast.preview_above")]
        if parts > 1:
            lines.append(t(lang, "broadcast.preview_split", parts=parts))
        lines.append(
            t(
                lang,
                "broadcast.preview_confirm",
                audience=draft.audience_args.get("label", ""),
                people=size.reachable,
                schools=size.schools,
                messages=size.reachable * parts,
            )
        )
        rows = [
            [_button(draft, t(lang, "broadcast.button_send"), "ok")],
            [_button(draft, t(lang, "broadcast.button_edit"), "edit"), _button(draft, t(lang, "broadcast.button_cancel"), "x")],
        ]
        return Preview(payload, Panel("\n".join(lines), rows))


async def _confirm(
    services: Services, session: AsyncSession, who: Identity, draft: Broadcast, scope: int | None
) -> PressResult:
    """Queue the broadcast: the audience is resolved again now, and written with the broadcast in one transaction."""
    lang = who.language
    audience = _audience_of(services, draft, scope)
    people = await store.recipients(session, audience)
    if not any(not p.blocked for p in people):
        return Alert(t(lang, "broadcast.empty_at_confirm"))
    unreachable = await store.schools_without_reporter(session, audience)
    now = services.clock.now()
    if not await store.queue_broadcast(session, draft, now, people, unreachable):
        return Alert(t(lang, "broadcast.already_queued", id=draft.id))
    audit(
        session,
        now,
        who.telegram_id,
        "broadcast.confirmed",
        f"broadcast:{draft.id}",
        audience=draft.audience or "all",
        label=str((draft.audience_args or {}).get("label", "")),
        district=scope,
        recipients=len(people),
    )
    counts = (await store.counts(session, [draft.id]))[draft.id]
    return Queued(draft.id, progress_panel(lang, draft, counts))


def payload_of(broadcast: Broadcast) -> Payload:
    """The message a broadcast sends, as ``bot.delivery.send`` takes it."""
    if broadcast.kind == "photo":
        return Payload("photo", broadcast.text, broadcast.file_id)
    if broadcast.kind == "document":
        return Payload("document", broadcast.text, broadcast.file_id)
    return Payload("text", broadcast.text)


# --- audiences ------------------------------------------------------------------


def _audience_of(services: Services, draft: Broadcast, scope: int | None) -> Audience:
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
            form = services.catalogue.get(form_key)
            period = parse_period(form.period_cadence, period_key)
        except (KeyError, ValueError):
            return Audience("districts")  # the form left the catalogue: nobody
        due = due_date(form, period)
        today = local_date(services.clock.now(), services.settings.timezone)
        if due is None or today <= due:
            return Audience("districts")  # not due yet: nobody is overdue
        return Audience("overdue", programme=form.programme, form_key=form.key, period=period.key)
    return Audience("all")


def _overdue_forms(catalogue: Catalogue) -> list[Form]:
    """Forms with a due date: only those can be overdue."""
    return [form for form in catalogue if form.due_days is not None and not form.is_event]


def _overdue_periods(services: Services, form_key: str) -> list[Period]:
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


def _overdue_period_menu(services: Services, lang: str, draft: Broadcast) -> Panel:
    form_key = str(draft.audience_args.get("form"))
    rows = [[_button(draft, p.label(lang), "q", p.key)] for p in _overdue_periods(services, form_key)]
    return Panel(t(lang, "broadcast.choose_period"), rows + [_back_cancel(lang, draft)])


async def describe_audience(services: Services, session: AsyncSession, lang: str, draft: Broadcast) -> str:
    args = draft.audience_args or {}
    kind = draft.audience or "all"
    if kind == "districts":
        names = await store.district_names(session, args.get("districts", []))
        return t(lang, "broadcast.audience_districts", names="、".join(names[i] for i in sorted(names)))
    if kind == "programme":
        return t(lang, "broadcast.audience_programme", programme=_programme_label(lang, str(args.get("programme"))))
    if kind == "area":
        return t(lang, f"broadcast.area_{args.get('area')}")
    if kind == "overdue":
        try:
            form = services.catalogue.get(str(args.get("form")))
            period = parse_period(form.period_cadence, str(args.get("period")))
            return t(lang, "broadcast.audience_overdue", form=form.title.get(lang), period=period.label(lang))
        except (KeyError, ValueError):
            return t(lang, "broadcast.segment_overdue")
    return t(lang, f"broadcast.segment_{kind}")


def _programme_label(lang: str, programme: str) -> str:
    key = f"broadcast.programme_{programme}"
    return t(lang, key) if key in messages() else programme


# --- panels ---------------------------------------------------------------------


def _button(draft: Broadcast, label: str, verb: str, arg: str | None = None) -> Button:
    data = f"bc:{draft.id}:{draft.token}:{verb}" + (f":{arg}" if arg is not None else "")
    return Button(label, data)


def _back_cancel(lang: str, draft: Broadcast) -> list[Button]:
    return [_button(draft, t(lang, "broadcast.button_back"), "back"), _button(draft, t(lang, "broadcast.button_cancel"), "x")]


def _audience_menu(lang: str, draft: Broadcast) -> Panel:
    def seg(kind: str) -> Button:
        return _button(draft, t(lang, f"broadcast.segment_{kind}"), "a", kind)

    rows = [
        [seg("all")],
        [seg("districts"), seg("programme")],
        [seg("area"), seg("overdue")],
        [seg("staff")],
        [_button(draft, t(lang, "broadcast.button_cancel"), "x")],
    ]
    return Panel(t(lang, "broadcast.choose_audience"), rows)


async def _district_menu(session: AsyncSession, lang: str, draft: Broadcast, scope: int | None) -> Panel:
    """The district picker: every district for city staff, only their own for district staff."""
    from storage.schools import all_districts

    chosen = set(draft.audience_args.get("districts", []))
    districts = [d for d in await all_districts(session) if scope is None or d.id == scope]
    buttons = [_button(draft, ("✓ " if d.id in chosen else "") + d.name, "d", str(d.id)) for d in districts]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([_button(draft, t(lang, "broadcast.button_districts_done", n=len(chosen)), "dd")])
    rows.append(_back_cancel(lang, draft))
    return Panel(t(lang, "broadcast.choose_districts"), rows)


# --- following a broadcast ------------------------------------------------------


def progress_panel(lang: str, broadcast: Broadcast, counts: Counts) -> Panel:
    """The one progress message of a running broadcast, with its cancel button."""
    text = t(
        lang,
        "broadcast.progress",
        id=broadcast.id,
        done=counts.sent,
        total=counts.total,
        failed=counts.failed,
        blocked=counts.blocked,
    )
    return Panel(text, [[Button(t(lang, "broadcast.button_stop"), f"bcx:{broadcast.id}")]])


def final_report(lang: str, broadcast: Broadcast, counts: Counts, missed: store.NotReached) -> str:
    """Counts and who was not reached, for the staff member who sent it."""
    key = "broadcast.report_cancelled" if broadcast.status == BroadcastStatus.CANCELLED.value else "broadcast.report_done"
    lines = [
        t(
            lang,
            key,
            id=broadcast.id,
            sent=counts.sent,
            total=counts.total,
            failed=counts.failed,
            blocked=counts.blocked,
            cancelled=counts.cancelled,
        )
    ]
    if counts.maybe_duplicate:
        lines.append(t(lang, "broadcast.report_duplicates", n=counts.maybe_duplicate))
    if missed.schools:
        lines.append(t(lang, "broadcast.report_schools_missed", n=len(missed.schools)))
        lines += [f"• {name}" for name in missed.schools[:MAX_LISTED]]
        if len(missed.schools) > MAX_LISTED:
            lines.append(t(lang, "broadcast.report_more", n=len(missed.schools) - MAX_LISTED))
    if missed.people:
        lines.append(t(lang, "broadcast.report_people_missed", n=len(missed.people)))
        lines += [f"• {name}" for name in missed.people[:MAX_LISTED]]
    if not missed.schools and not missed.people:
        lines.append(t(lang, "broadcast.report_all_reached"))
    return "\n".join(lines)


def _own_only(who: Identity) -> int | None:
    """District staff follow and stop only their own broadcasts (the author's person id); None: all of them."""
    if office_district(who) is None:
        return None
    return who.person_id if who.person_id is not None else -1


async def list_recent(services: Services, who: Identity, limit: int = 10) -> Panel:
    """``/broadcasts``: recent broadcasts with counts; running ones get a cancel button.

    City staff and admins see everyone's; district staff only their own.
    """
    lang = who.language
    async with services.db.session() as session:
        recent = await store.recent_broadcasts(session, limit, author_id=_own_only(who))
        by_id = await store.counts(session, [b.id for b in recent])
    if not recent:
        return Panel(t(lang, "broadcast.list_empty"))
    tz = services.settings.timezone
    lines = [t(lang, "broadcast.list_title")]
    rows: list[list[Button]] = []
    for b in recent:
        c = by_id[b.id]
        when = (b.confirmed_at or b.created_at).astimezone(tz)
        lines.append(
            t(
                lang,
                "broadcast.list_row",
                id=b.id,
                when=f"{when:%m-%d %H:%M}",
                audience=(b.audience_args or {}).get("label", ""),
                status=t(lang, f"broadcast.status_{b.status}"),
                sent=c.sent,
                total=c.total,
                failed=c.failed,
                blocked=c.blocked,
                preview=_snippet(b),
            )
        )
        if b.status == BroadcastStatus.SENDING.value:
            rows.append([Button(t(lang, "broadcast.button_stop_id", id=b.id), f"bcx:{b.id}")])
    return Panel("\n".join(lines), rows)


def _snippet(broadcast: Broadcast) -> str:
    text = " ".join((broadcast.text or "").split())
    if broadcast.kind in ("photo", "document"):
        text = f"[{broadcast.kind}] {text}"
    return text[:30] + ("…" if len(text) > 30 else "")


@dataclass(frozen=True)
class StopOutcome:
    """What a stop button did: the pop-up text, and the final report to show (None: nothing stopped)."""

    alert: str
    report: str | None = None
    progress_message_id: int | None = None
    author_chat_id: int | None = None


async def cancel_running(services: Services, who: Identity, data: str) -> StopOutcome:
    """A stop button (``bcx:<id>``): cancel the rows not yet sent of a running broadcast."""
    lang = who.language
    match = _CANCEL_DATA.match(data)
    if match is None:
        return StopOutcome(t(lang, "broadcast.stale"))
    broadcast_id = int(match[1])
    now = services.clock.now()
    own = _own_only(who)
    async with services.db.session() as session:
        broadcast = await store.broadcast_by_id(session, broadcast_id)
        if broadcast is None or broadcast.status == BroadcastStatus.DRAFT.value:
            return StopOutcome(t(lang, "broadcast.stale"))
        if own is not None and broadcast.author_id != own:
            # Another staff member's broadcast: the same answer as a button that never existed.
            return StopOutcome(t(lang, "broadcast.stale"))
        before = (await store.counts(session, [broadcast_id]))[broadcast_id].cancelled
        if not await store.cancel_broadcast(session, broadcast_id, now):
            return StopOutcome(t(lang, "broadcast.not_running", id=broadcast_id))
        await session.refresh(broadcast)
        counts = (await store.counts(session, [broadcast_id]))[broadcast_id]
        # Rows dropped earlier (recipient left the audience) were not stopped by this press.
        stopped = counts.cancelled - before
        missed = await store.not_reached(session, broadcast)
        audit(
            session,
            now,
            who.telegram_id,
            "broadcast.stopped",
            f"broadcast:{broadcast_id}",
            still_queued=stopped,
            sent=counts.sent,
            author=broadcast.author_chat_id,
        )
    return StopOutcome(
        t(lang, "broadcast.cancelled_running", id=broadcast_id, n=stopped),
        final_report(lang, broadcast, counts, missed),
        broadcast.progress_message_id,
        broadcast.author_chat_id,
    )


async def set_progress_message(services: Services, broadcast_id: int, message_id: int) -> None:
    """Remember which message shows the progress (the sender edits it; the clock starts its 3 s now)."""
    async with services.db.session() as session:
        await store.set_progress_message(session, broadcast_id, message_id, services.clock.now())
