"""Broadcast use cases: compose a notice (audience → count → message → preview → confirm), queue it, follow it.

The draft is a ``broadcasts`` row with ``status='draft'``; every step reads and
writes it, so a restart in the middle of composing loses nothing. Nothing is
sent to recipients before ``confirm``; then ``storage.broadcasts.queue_broadcast``
writes the broadcast and its outbox in one transaction and ``bot/sender.py``
delivers it.

Screens are returned as ``bot.core.ui.Screen`` (text plus buttons carrying callback
data), so this module stays free of Telegram types and is tested directly.
Audiences and the composer's menus are ``bot.office.broadcast_audience``;
the header (office and sender) and the optional "report now" button, chosen at
the preview, are ``bot.office.broadcast_action``; following and stopping a
running broadcast is ``bot.office.broadcast_follow``; replies to a broadcast
and the office's answers are ``bot.office.broadcast_replies``.
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
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import t
from bot.core.textsplit import storable
from bot.core.ui import Alert, Button, Screen
from bot.delivery.send import MAX_CAPTION, Payload, telegram_length
from bot.office.broadcast_action import (
    button_label,
    choose_button_form,
    choose_button_period,
    header_of,
    offered_period,
    payload_of,
)
from bot.office.broadcast_audience import (
    ask_message,
    audience_menu,
    audience_of,
    back_cancel,
    button,
    describe_audience,
    district_menu,
    overdue_forms,
    overdue_period_menu,
    overdue_periods,
    programme_label,
)
from bot.office.broadcast_follow import (
    StopOutcome,
    cancel_running,
    final_report,
    list_recent,
    progress_panel,
    set_progress_message,
)
from bot.office.scope import office_district
from bot.services import Identity, Services
from storage import broadcasts as store
from storage.models import Broadcast, BroadcastStatus
from storage.people import audit

__all__ = [
    "Button",
    "Closed",
    "Content",
    "Edit",
    "Preview",
    "Queued",
    "Reply",
    "Screen",
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
_DATA = re.compile(r"^bc:(\d{1,10}):([A-Za-z0-9_-]{1,16}):([a-z]{1,5})(?::([A-Za-z0-9_-]{1,32}))?$")


@dataclass(frozen=True)
class Edit:
    """Show ``screen`` in place of the pressed message."""

    screen: Screen


@dataclass(frozen=True)
class Closed:
    """The composer is over (cancelled): show ``text`` without buttons."""

    text: str


@dataclass(frozen=True)
class Queued:
    """Confirmed: ``screen`` becomes the progress message of broadcast ``broadcast_id``."""

    broadcast_id: int
    screen: Screen


@dataclass(frozen=True)
class Content:
    """What a staff member sent as the message to broadcast."""

    kind: Literal["text", "photo", "document", "other"]
    text: str | None = None
    file_id: str | None = None

    def __post_init__(self) -> None:
        if self.text is not None:
            object.__setattr__(self, "text", storable(self.text))  # stored, so no NUL (see storable)


@dataclass(frozen=True)
class Reply:
    """Answer the staff member's message with ``text`` (the draft is unchanged)."""

    text: str


@dataclass(frozen=True)
class Preview:
    """Show ``payload`` exactly as recipients will get it, then ``screen`` to confirm."""

    payload: Payload
    screen: Screen


PressResult = Edit | Alert | Closed | Queued | Preview


# --- composing ------------------------------------------------------------------


async def start(services: Services, who: Identity) -> Screen:
    """``/broadcast``: a fresh draft (an unfinished older one is dropped) and the audience menu."""
    assert who.person_id is not None
    async with services.db.session() as session:
        draft = await store.new_draft(session, services.clock.now(), author_id=who.person_id, author_chat_id=who.telegram_id)
        return audience_menu(who.language, draft)


async def press(services: Services, who: Identity, data: str) -> PressResult:
    """A button of the composer: check it belongs to this staff member's current draft, then do it."""
    lang = who.language
    match = _DATA.match(data)
    if match is None or who.person_id is None:
        return Alert(t(lang, "broadcast.stale"))
    draft_id, token, verb, arg = int(match[1]), match[2], match[3], match[4]
    now = services.clock.now()
    async with services.db.session() as session:
        draft = await store.broadcast_by_id(session, draft_id, for_update=True)
        if draft is None or draft.token != token or draft.author_id != who.person_id:
            return Alert(t(lang, "broadcast.stale"))
        if draft.status != BroadcastStatus.DRAFT.value:
            key = "broadcast.already_queued" if verb == "ok" else "broadcast.stale"
            return Alert(t(lang, key, id=draft.id))
        draft.updated_at = now
        return await _step(services, session, who, draft, verb, arg)


async def _step(
    services: Services, session: AsyncSession, who: Identity, draft: Broadcast, verb: str, arg: str | None
) -> PressResult:
    """Do what a checked button of the draft asks."""
    lang = who.language
    scope = office_district(who)
    if verb == "x":
        await store.discard_draft(session, draft)
        return Closed(t(lang, "broadcast.cancelled_draft"))
    if verb == "back":
        draft.step = "audience"
        draft.audience, draft.audience_args = None, {}
        return Edit(audience_menu(lang, draft))
    if verb == "a" and arg is not None:
        return await _choose_segment(services, session, draft, lang, arg, scope)
    if verb in ("d", "dd") and draft.step == "districts":
        return await _districts(services, session, draft, lang, verb, arg, scope)
    if verb == "p" and arg is not None and draft.step == "programme":
        draft.audience_args = {"programme": arg}
        return await _audience_chosen(services, session, draft, lang, scope)
    if verb == "r" and arg in ("urban", "rural") and draft.step == "area":
        draft.audience_args = {"area": arg}
        return await _audience_chosen(services, session, draft, lang, scope)
    if verb in ("f", "q") and arg is not None:
        return await _overdue_step(services, session, draft, lang, verb, arg, scope)
    if verb == "edit" and draft.step == "preview":
        draft.step = "message"
        size = await store.audience_size(session, audience_of(services, draft, scope))
        return Edit(ask_message(lang, draft, size))
    if verb == "ok" and draft.step == "preview":
        return await _confirm(services, session, who, draft, scope)
    if verb in ("rn", "rf", "rp", "rx"):
        return await _report_button(services, session, who, draft, verb, arg)
    return Alert(t(lang, "broadcast.stale"))


async def _districts(
    services: Services, session: AsyncSession, draft: Broadcast, lang: str, verb: str, arg: str | None, scope: int | None
) -> PressResult:
    """Toggle a district in the picker (``d``), or finish picking (``dd``)."""
    if verb == "d":
        if arg is None or not arg.isdigit():
            return Alert(t(lang, "broadcast.stale"))
        if scope is not None and int(arg) != scope:
            # Not a button we showed this staff member: another district is never added.
            return Alert(t(lang, "broadcast.stale"))
        chosen = {int(i) for i in draft.audience_args.get("districts", []) if scope is None or int(i) == scope}
        chosen ^= {int(arg)}
        draft.audience_args = {"districts": sorted(chosen)}
        return Edit(await district_menu(session, lang, draft, scope))
    picked = [int(i) for i in draft.audience_args.get("districts", []) if scope is None or int(i) == scope]
    draft.audience_args = {"districts": picked}
    if not picked:
        return Alert(t(lang, "broadcast.pick_district"))
    return await _audience_chosen(services, session, draft, lang, scope)


async def _overdue_step(
    services: Services, session: AsyncSession, draft: Broadcast, lang: str, verb: str, arg: str, scope: int | None
) -> PressResult:
    """The overdue segment: pick the form (``f``), then one of its past-due periods (``q``)."""
    if verb == "f" and draft.step == "overdue_form":
        if arg not in {f.key for f in overdue_forms(services.catalogue)}:
            return Alert(t(lang, "broadcast.stale"))
        draft.step = "overdue_period"
        draft.audience_args = {"form": arg}
        return Edit(overdue_period_menu(services, lang, draft))
    if verb == "q" and draft.step == "overdue_period":
        form_key = str(draft.audience_args.get("form", ""))
        if arg not in {p.key for p in overdue_periods(services, form_key)}:
            return Alert(t(lang, "broadcast.stale"))
        draft.audience_args = {"form": form_key, "period": arg}
        return await _audience_chosen(services, session, draft, lang, scope)
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
        return Edit(await district_menu(session, lang, draft, scope))
    if kind == "programme":
        draft.step = "programme"
        programmes = sorted(
            {f.programme for f in services.catalogue if f.programme} | set(await store.programmes_in_use(session))
        )
        rows = [[button(draft, programme_label(lang, p), "p", p)] for p in programmes]
        return Edit(Screen(t(lang, "broadcast.choose_programme"), rows + [back_cancel(lang, draft)]))
    if kind == "area":
        draft.step = "area"
        rows = [[button(draft, t(lang, f"broadcast.area_{a}"), "r", a) for a in ("urban", "rural")]]
        return Edit(Screen(t(lang, "broadcast.choose_area"), rows + [back_cancel(lang, draft)]))
    # overdue
    forms = overdue_forms(services.catalogue)
    draft.step = "overdue_form"
    rows = [[button(draft, f.title.get(lang), "f", f.key)] for f in forms]
    return Edit(Screen(t(lang, "broadcast.choose_form"), rows + [back_cancel(lang, draft)]))


async def _audience_chosen(
    services: Services, session: AsyncSession, draft: Broadcast, lang: str, scope: int | None
) -> PressResult:
    """Count the recipients; an empty audience sends the composer back to the menu with a note."""
    size = await store.audience_size(session, audience_of(services, draft, scope))
    if size.reachable == 0:
        note = t(
            lang,
            "broadcast.empty_audience",
            audience=await describe_audience(services, session, lang, draft),
            blocked=size.blocked,
        )
        draft.step = "audience"
        draft.audience, draft.audience_args = None, {}
        menu = audience_menu(lang, draft)
        return Edit(Screen(note + "\n\n" + menu.text, menu.buttons))
    draft.step = "message"
    label = await describe_audience(services, session, lang, draft)
    if scope is not None and draft.audience != "districts":
        # "All principals" from a district office means the district's: say so.
        names = await store.district_names(session, [scope])
        label = t(lang, "broadcast.audience_within", audience=label, district=names.get(scope, "?"))
    draft.audience_args = {**draft.audience_args, "label": label}
    return Edit(ask_message(lang, draft, size))


async def _report_button(
    services: Services, session: AsyncSession, who: Identity, draft: Broadcast, verb: str, arg: str | None
) -> PressResult:
    """The optional "report now" button: offer forms (``rn``), then periods (``rf``), then preview with it (``rp``).

    ``rn0`` drops the button. Only a form of the catalogue and a period the menu
    offered are taken; anything else is a forged or stale press.
    """
    lang = who.language
    if verb == "rn" and draft.step == "preview":
        draft.step = "button"
        return Edit(choose_button_form(services, lang, draft))
    if verb == "rf" and draft.step == "button" and arg is not None:
        chosen = choose_button_period(services, lang, draft, arg)
        return chosen if isinstance(chosen, Alert) else Edit(chosen)
    form_key = str((draft.audience_args or {}).get("report_form", ""))
    if verb == "rp" and draft.step == "button" and arg is not None and offered_period(services, form_key, arg):
        draft.report_form, draft.report_period = form_key, arg
        return await _preview(services, session, who, draft)
    if verb == "rx" and draft.step in ("button", "preview"):
        draft.report_form = draft.report_period = None
        return await _preview(services, session, who, draft)
    return Alert(t(lang, "broadcast.stale"))


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
        if draft.step not in ("message", "preview", "button"):
            return Reply(t(lang, "broadcast.choose_audience_first"))
        if content.kind == "other":
            return Reply(t(lang, "broadcast.unsupported_content"))
        header = header_of(services, lang, who.name)
        room = MAX_CAPTION - telegram_length(header) - 2
        if content.kind != "text" and telegram_length(content.text or "") > room:
            # Keep the draft: the staff member shortens the caption or sends the text separately.
            length = telegram_length(content.text or "")
            return Reply(t(lang, "broadcast.caption_too_long", limit=room, length=length))
        if content.kind == "text" and not (content.text or "").strip():
            return Reply(t(lang, "broadcast.unsupported_content"))
        draft.kind, draft.text, draft.file_id = content.kind, content.text, content.file_id
        draft.header = header
        draft.updated_at = services.clock.now()
        return await _preview(services, session, who, draft)


async def _preview(services: Services, session: AsyncSession, who: Identity, draft: Broadcast) -> Preview:
    """The message exactly as recipients get it (header and button included), and the panel to confirm it."""
    lang = who.language
    draft.step = "preview"
    size = await store.audience_size(session, audience_of(services, draft, office_district(who)))
    payload = payload_of(draft, services.catalogue, lang)
    parts = len(payload.parts())
    lines = [t(lang, "broadcast.preview_above")]
    if parts > 1:
        lines.append(t(lang, "broadcast.preview_split", parts=parts))
    label = button_label(services.catalogue, draft, lang)
    if label is not None:
        lines.append(t(lang, "broadcast.preview_button", button=label))
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
        [button(draft, t(lang, "broadcast.button_send"), "ok")],
        [button(draft, t(lang, "broadcast.button_report" if label is None else "broadcast.button_report_change"), "rn")],
        [button(draft, t(lang, "broadcast.button_edit"), "edit"), button(draft, t(lang, "broadcast.button_cancel"), "x")],
    ]
    return Preview(payload, Screen("\n".join(lines), rows))


async def _confirm(services: Services, session: AsyncSession, who: Identity, draft: Broadcast, scope: int | None) -> PressResult:
    """Queue the broadcast: the audience is resolved again now, and written with the broadcast in one transaction."""
    lang = who.language
    audience = audience_of(services, draft, scope)
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
        report_button=f"{draft.report_form}:{draft.report_period}" if draft.report_form else None,
    )
    counts = (await store.counts(session, [draft.id]))[draft.id]
    return Queued(draft.id, progress_panel(lang, draft, counts))
