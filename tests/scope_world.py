"""The world the scope fuzzer plays in, the actions it takes, and one checker per scope property.

Three districts, six schools (two per district, mixed programmes), two reporters per school, city
staff, one staff member per district, an admin and a stranger. Every school's name is a unique
string that appears nowhere in the bot's own texts, and no school code is a substring of
another, so "this text names school X" is a substring test.

Each ``check_*`` function is one property of the spec (DESIGN "Roles and security", issue #11
point 2); a failing one raises ``ScopeLeak`` naming what leaked and the actions of the round.
"""

from __future__ import annotations

import io
import itertools
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from bot.core.catalogue import Catalogue
from bot.core.clock import FixedClock
from bot.offline.fakeapi import Call, FakeTelegram
from bot.offline.simulator import callback_query_payload, message_payload, text_content, user_payload
from storage.db import Database
from storage.models import AuditEntry, Broadcast, Draft, OutboxRow, Person, Report, ReminderSend, School
from storage.reports import NewReport, save_report_retrying
from tests.factories import add_person, add_school

D1, D2, D3 = "濉溪县", "相山区", "杜集区"
# code, name, district, area, programmes
SCHOOLS: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    ("HB101", "甲山小学", D1, "rural", ("milk", "insurance", "farm")),
    ("HB102", "乙水中学", D1, "urban", ("insurance",)),
    ("HB201", "丙林小学", D2, "urban", ("milk",)),
    ("HB202", "丁泉小学", D2, "rural", ("milk", "farm")),
    ("HB301", "戊石中学", D3, "rural", ("insurance", "farm")),
    ("HB302", "己河小学", D3, "urban", ("milk", "insurance")),
]
CODES = [code for code, *_ in SCHOOLS]
NAME_OF = {code: name for code, name, *_ in SCHOOLS}
DISTRICT_OF = {code: district for code, _, district, *_ in SCHOOLS}
# Two reporters per school: 1011 and 1012 at HB101, 1021 and 1022 at HB102, ...
PRINCIPALS = {1000 + 10 * (i + 1) + k: code for i, code in enumerate(CODES) for k in (1, 2)}
CITY_STAFF = 2001
DISTRICT_STAFF = {2101: D1, 2201: D2, 2301: D3}
ADMIN = 900  # in ADMIN_IDS of make_settings
STRANGER = 3001
STAFF = [CITY_STAFF, *DISTRICT_STAFF, ADMIN]
EVERYONE = [*PRINCIPALS, *STAFF, STRANGER]


def scope_of(telegram_id: int | None) -> frozenset[str]:
    """The school codes a person of the world starts with: their own school, their district's, or all."""
    if telegram_id in PRINCIPALS:
        return frozenset({PRINCIPALS[telegram_id]})
    if telegram_id in DISTRICT_STAFF:
        return frozenset(code for code in CODES if DISTRICT_OF[code] == DISTRICT_STAFF[telegram_id])
    if telegram_id in (CITY_STAFF, ADMIN):
        return frozenset(CODES)
    return frozenset()


class Scopes:
    """Whom the checks hold to which schools, read from the database after every round (an admin
    may change a staff member's district or deactivate someone mid-run): a message of a round
    may use the scope from before or after it."""

    def __init__(self) -> None:
        self.before: dict[int, frozenset[str]] = {}
        self.now: dict[int, frozenset[str]] = {}

    async def refresh(self, db: Database) -> None:
        async with db.session() as session:
            schools = (await session.scalars(select(School))).all()
            people = (await session.scalars(select(Person))).all()
        everything = frozenset(s.code for s in schools)
        fresh: dict[int, frozenset[str]] = {ADMIN: everything}
        for person in people:
            if not person.active:
                fresh[person.telegram_id] = frozenset()
            elif person.role == "admin" or (person.role == "staff" and person.district_id is None):
                fresh[person.telegram_id] = everything
            elif person.role == "staff":
                fresh[person.telegram_id] = frozenset(s.code for s in schools if s.district_id == person.district_id)
            else:
                fresh[person.telegram_id] = frozenset(s.code for s in schools if s.id == person.school_id)
        self.before, self.now = (self.now or fresh), fresh

    def of(self, telegram_id: int | None) -> frozenset[str]:
        if telegram_id is None:
            return frozenset()
        return self.before.get(telegram_id, frozenset()) | self.now.get(telegram_id, frozenset())


def named_schools(text: str) -> set[str]:
    """The schools a text names, by code or by name."""
    return {code for code in CODES if code in text or NAME_OF[code] in text}


class ScopeLeak(AssertionError):
    """A property of the spec does not hold."""


# --- building the world ---------------------------------------------------------------


async def build_world(db: Database, clock: FixedClock) -> None:
    """Schools, people, and a few reports already filed (so exports, /correct and /overdue have content)."""
    for code, name, district, area, programmes in SCHOOLS:
        await add_school(db, clock, code=code, name=name, district=district, area=area, programmes=programmes)
    for telegram_id, code in PRINCIPALS.items():
        await add_person(db, clock, telegram_id, f"校长{telegram_id}", role="principal", school_code=code, language="zh")
    await add_person(db, clock, CITY_STAFF, "市局干事", role="staff", language="zh")
    for telegram_id, district in DISTRICT_STAFF.items():
        await add_person(db, clock, telegram_id, f"区干事{telegram_id}", role="staff", district=district, language="zh")
    await add_person(db, clock, ADMIN, "管理员", role="admin", language="zh")
    async with db.session() as session:
        ids = {s.code: s.id for s in (await session.scalars(select(School))).all()}
    # October's milk filed by HB101 and HB302 only: the other milk schools are overdue.
    for code, drinkers in (("HB101", 320), ("HB302", 145)):
        await save_report_retrying(
            db,
            NewReport(
                school_id=ids[code],
                form_key="milk",
                form_version=1,
                period="2026-10",
                values={
                    "daily_drinkers": (Decimal(drinkers), None),
                    "days_served": (Decimal(20), None),
                    "supplier": (None, "local"),
                    "incidents": (Decimal(0), None),
                },
                reporter_id=None,
                submitted_at=clock.now(),
                is_late=False,
            ),
        )


# --- actions --------------------------------------------------------------------------

NUMBERS = ["12", "320", "0", "20", "1.2万", "１２０", "-5", "abc", "三十", "1e9", "99999999999999999999"]
COMMANDS = [
    "/start",
    "/help",
    "/status",
    "/history",
    "/correct",
    "/cancel",
    "/skip",
    "/report",
    "/milk",
    "/insurance",
    "/harvest",
    "/summary",
    "/summary milk",
    "/summary insurance",
    "/summary harvest",
    "/summary milk 2026-10",
    "/export",
    "/export milk",
    "/export milk 2026",
    "/export insurance 2026-S2",
    "/export harvest 2026",
    "/annual",
    "/annual 2026",
    "/overdue",
    "/overdue milk",
    "/overdue milk 2026-10",
    "/broadcast",
    "/broadcasts",
    "/staff",
    "/invite",
    "/invite @own",
    "/invite @foreign",
    "/invite @own @foreign",
    "/invite HB101 HB202 HB302",
    "/invite hb201",
    "/invite NOPE1",
    "/addstaff",
    "/addstaff 5555 新人",
    "/frobnicate",
]


@dataclass
class Step:
    """One resolved action of one actor: an update to deliver, or a job of the bot itself."""

    actor: int
    kind: str  # "update" | "tick" | "send"
    payload: dict[str, Any] | None = None
    describe: str = ""
    data: str | None = None  # callback data pressed, if a press


class Resolver:
    """Turns a generated action into a concrete update, reading what the bot has shown so far."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.markers: dict[str, int] = {}  # broadcast text marker -> its author
        self.typed_codes: dict[int, set[str]] = {}  # school codes each actor typed (echoes are fine)
        self.query_user: dict[str, int] = {}  # callback query id -> who pressed
        self._marker = itertools.count(1)

    def _user(self, actor: int) -> dict[str, Any]:
        return user_payload(actor, f"用户{actor}", "zh")

    def _message(self, actor: int, text: str) -> Step:
        self.typed_codes.setdefault(actor, set()).update(c for c in CODES if c.lower() in text.lower())
        payload = {"message": message_payload(self._user(actor), text_content(text))}
        return Step(actor, "update", payload, f"{actor} sends {text!r}")

    def _press(self, actor: int, data: str, message: dict[str, Any] | None, how: str) -> Step:
        user = self._user(actor)
        if message is None or message.get("chat", {}).get("id") != actor:
            # A client can forge the data, not the message: a press names a message the bot sent
            # to this chat (with no such message yet, the person can only write first).
            own = self.fake.sent(actor)
            if not own:
                return self._message(actor, "/start")
            message = own[-1]
        query = callback_query_payload(user, data, message)
        self.query_user[query["id"]] = actor
        return Step(actor, "update", {"callback_query": query}, f"{actor} {how} {data!r}", data)

    def _buttons(self, message: dict[str, Any]) -> list[tuple[str, str]]:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        return [(b.get("text", ""), b["callback_data"]) for row in rows for b in row if "callback_data" in b]

    def _newest(self, actor: int) -> dict[str, Any] | None:
        sent = self.fake.sent(actor)
        return sent[-1] if sent else None

    def resolve(self, actor: int, action: tuple[Any, ...]) -> Step:
        kind = action[0]
        STATS[f"action {kind} by {_kind(actor)}"] += 1
        if kind == "tick":
            return Step(actor, "tick", describe="the reminder tick runs")
        if kind == "send":
            return Step(actor, "send", describe="the broadcast sender drains")
        if kind == "command":
            text = str(action[1])
            own = scope_of(actor)
            foreign = [c for c in CODES if c not in own]
            text = text.replace("@own", min(own) if own else "HB101")
            text = text.replace("@foreign", foreign[action[2] % len(foreign)] if foreign else "HB999")
            return self._message(actor, text)
        if kind == "text":
            return self._message(actor, str(action[1]) or "?")
        if kind == "press":
            # ("press", k) or ("press", k, want): a button of the newest message that has any
            # (with ``want``: the k-th whose data starts with it or whose label contains it).
            newest = next((m for m in reversed(self.fake.sent(actor)) if self._buttons(m)), None)
            if newest is None:
                return self._message(actor, "/start")
            buttons = self._buttons(newest)
            if len(action) > 2:
                buttons = [b for b in buttons if b[1].startswith(action[2]) or action[2] in b[0]] or buttons
            return self._press(actor, buttons[action[1] % len(buttons)][1], newest, "presses")
        if kind == "stale":
            old = [m for m in self.fake.sent(actor) if self._buttons(m)]
            if not old:
                return self._message(actor, "/help")
            message = old[action[1] % len(old)]
            buttons = self._buttons(message)
            return self._press(actor, buttons[action[1] % len(buttons)][1], message, "presses an old")
        if kind == "forge":
            # Data copied from another actor's messages (broadcast stop, nudge, staff, report
            # buttons...): first a kind of button, then one of that kind, so rare kinds get pressed.
            kinds: dict[str, list[str]] = {}
            for chat in sorted(self.fake.messages):
                if chat != actor:
                    for message in self.fake.sent(chat):
                        for _, data in self._buttons(message):
                            kinds.setdefault(data.split(":")[0], []).append(data)
            if len(action) > 2:  # ("forge", k, prefix): only data of that kind
                kinds = {prefix: found for prefix, found in kinds.items() if prefix == action[2]}
            if not kinds:
                return self._press(actor, "bcx:1", None, "forges")
            group = kinds[sorted(kinds)[action[1] % len(kinds)]]
            return self._press(actor, group[(action[1] // len(kinds)) % len(group)], None, "forges")
        if kind == "advance":
            return self._advance(actor, int(action[1]), str(action[2]))
        raise ValueError(kind)

    def _forward(self, buttons: list[tuple[str, str]], k: int) -> str:
        """A button that moves on: rarely cancel, give up or go back."""
        onward = [data for label, data in buttons if not any(w in label for w in ("取消", "放弃", "重新选择", "返回"))]
        if onward and k % 6:
            return onward[k % len(onward)]
        return buttons[k % len(buttons)][1]

    def _advance(self, actor: int, k: int, value: str) -> Step:
        """Move the actor's conversation forward the way a person would (so reports and broadcasts get done)."""
        newest = self._newest(actor)
        if actor in STAFF:
            if newest is None:
                return self._message(actor, "/broadcast")
            buttons = self._buttons(newest)
            confirm = [data for label, data in buttons if "确认发送" in label]
            if confirm and k % 4:
                return self._press(actor, confirm[0], newest, "confirms")
            if "请发送通知内容" in (newest.get("text") or ""):
                marker = f"通知{next(self._marker)}号"
                self.markers[marker] = actor
                return self._message(actor, f"{marker}：请按时报送。")
            if buttons:
                return self._press(actor, self._forward(buttons, k), newest, "presses")
            return self._message(actor, "/broadcast")
        starts = ["/milk", "/insurance", "/harvest", "/correct", "/report"]
        if newest is None:
            return self._message(actor, starts[k % len(starts)])
        buttons = self._buttons(newest)
        text = newest.get("text") or ""
        submit = [data for _, data in buttons if re.fullmatch(r"r:[^:]+:ok", data)]
        if submit and k % 5:
            return self._press(actor, submit[0], newest, "submits")
        asks = any(prompt in text for prompt in ("请填写", "请发送", "重新发送"))
        if buttons and (not asks or k % 3 == 0):
            return self._press(actor, self._forward(buttons, k), newest, "presses")
        if asks:
            return self._message(actor, value)
        return self._message(actor, starts[k % len(starts)])


# --- what the properties read -----------------------------------------------------------


@dataclass
class Confirmation:
    """A principal pressed Submit on this draft: the only values a report may then hold."""

    person_id: int
    school_id: int
    form_key: str
    period: str | None
    answers: dict[str, str | None]
    describe: str
    correction_of: int | None = None


@dataclass
class Ledger:
    """What has been checked so far, so each round checks only what is new."""

    calls: int = 0
    audits: int = 0
    reports: int = 0
    confirmations: list[Confirmation] = field(default_factory=list)
    school_ids: dict[int, str] = field(default_factory=dict)
    person_ids: dict[int, int] = field(default_factory=dict)  # people.id -> telegram id
    queued_nudges: dict[int, tuple[int, datetime | None, str]] = field(default_factory=dict)
    broadcast_status: dict[int, str] = field(default_factory=dict)


async def load_ids(db: Database, ledger: Ledger) -> None:
    async with db.session() as session:
        ledger.school_ids = {s.id: s.code for s in (await session.scalars(select(School))).all()}
        ledger.person_ids = {p.id: p.telegram_id for p in (await session.scalars(select(Person))).all()}
        ledger.reports = max([r.id for r in (await session.scalars(select(Report))).all()], default=0)


async def note_confirmations(db: Database, ledger: Ledger, steps: Sequence[Step]) -> None:
    """Before a round: the draft each principal is about to submit, exactly as it stands."""
    pressing = {s.actor: s for s in steps if s.data and re.fullmatch(r"r:[^:]+:ok", s.data) and s.actor in PRINCIPALS}
    if not pressing:
        return
    async with db.session() as session:
        rows = (
            await session.execute(
                select(Draft, Person).join(Person, Person.id == Draft.person_id).where(Person.telegram_id.in_(list(pressing)))
            )
        ).all()
        for draft, person in rows:
            step = pressing[person.telegram_id]
            assert step.data is not None
            if draft.token != step.data.split(":")[1] or person.school_id is None:
                continue  # a stale Submit: nothing may be saved from it
            STATS["submits noted"] += 1
            ledger.confirmations.append(
                Confirmation(
                    person.id,
                    person.school_id,
                    draft.form_key,
                    draft.period,
                    dict(draft.answers),
                    step.describe,
                    draft.correction_of,
                )
            )


def _texts_of_call(call: Call) -> list[str]:
    return [str(call.params[key]) for key in ("text", "caption") if call.params.get(key)]


def _document_texts(name: str, data: bytes) -> list[tuple[str, str]]:
    """(where, text) of every cell of an XLSX / paragraph of a DOCX the bot sent."""
    out: list[tuple[str, str]] = []
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook  # type: ignore[import-untyped]

        workbook = load_workbook(io.BytesIO(data))
        for sheet in workbook.worksheets:
            for row in sheet.iter_rows():
                cells = [str(c.value) for c in row if c.value is not None]
                if cells:
                    out.append((f"{name}/{sheet.title}!row {row[0].row}", " | ".join(cells)))
    elif name.endswith(".docx"):
        import docx

        document = docx.Document(io.BytesIO(data))
        out += [(f"{name} paragraph", p.text) for p in document.paragraphs]
        for table in document.tables:
            for row in table.rows:
                out.append((f"{name} table row", " | ".join(cell.text for cell in row.cells)))
    return out


def _recipient_of(call: Call, resolver: Resolver) -> int | None:
    if call.method == "answerCallbackQuery":
        return resolver.query_user.get(str(call.params.get("callback_query_id")))
    return call.chat_id


# SCOPE_FUZZ_COLLECT=<file>: append every violation there and carry on, instead of failing at the
# first (to survey what leaks; never set under CI).
COLLECT = os.environ.get("SCOPE_FUZZ_COLLECT")
# What the checks looked at (written to the SCOPE_FUZZ_COLLECT file): shows the fuzzer reaches deep enough.
STATS: Counter[str] = Counter()


def _fail(prop: str, what: str, transcript: Sequence[str]) -> None:
    recent = "\n  ".join(transcript[-25:])
    message = f"[{prop}] {what}\nlast actions:\n  {recent}"
    if COLLECT:
        with open(COLLECT, "a", encoding="utf-8") as out:
            out.write(message + "\n\n")
        return
    raise ScopeLeak(message)


# --- the properties (one function each) -------------------------------------------------


def check_replies_in_scope(calls: Sequence[Call], scopes: Scopes, resolver: Resolver, transcript: Sequence[str]) -> None:
    """No text, caption or alert sent to anyone names a school outside their scope
    (a school code they typed themselves may be echoed back, e.g. "unknown school HB201")."""
    for call in calls:
        if call.method not in ("sendMessage", "sendPhoto", "sendDocument", "editMessageText", "answerCallbackQuery"):
            continue
        reader = _recipient_of(call, resolver)
        if reader is None or reader < 0:
            continue
        for text in _texts_of_call(call):
            typed = resolver.typed_codes.get(reader, set())
            leaked = {c for c in named_schools(text) - scopes.of(reader) if NAME_OF[c] in text or c not in typed}
            if leaked:
                _fail("reply scope", f"{call.method} to {reader} names {sorted(leaked)}: {text[:600]!r}", transcript)


def check_documents_in_scope(calls: Sequence[Call], scopes: Scopes, transcript: Sequence[str]) -> None:
    """No row of an exported XLSX (or line of a DOCX) sent to anyone is about a school outside their scope."""
    for call in calls:
        if call.method != "sendDocument" or call.chat_id is None:
            continue
        for name, data in call.files.items():
            STATS[f"document {name.rsplit('.', 1)[-1]} to {_kind(call.chat_id)}"] += 1
            for where, text in _document_texts(name, data):
                leaked = named_schools(text) - scopes.of(call.chat_id)
                if leaked:
                    _fail("export scope", f"{where} sent to {call.chat_id} is about {sorted(leaked)}: {text[:300]!r}", transcript)


def check_broadcast_lists_in_scope(calls: Sequence[Call], resolver: Resolver, transcript: Sequence[str]) -> None:
    """District staff see only their own broadcasts in /broadcasts and stop reports (getting one
    as a recipient of a staff broadcast is fine: that message is exactly the notice)."""
    for call in calls:
        reader = _recipient_of(call, resolver)
        if reader not in DISTRICT_STAFF or call.method not in ("sendMessage", "editMessageText", "answerCallbackQuery"):
            continue
        for text in _texts_of_call(call):
            for marker, author in resolver.markers.items():
                # A notice as delivered starts with its header (【office】sender：), then the text itself.
                body = re.sub(r"^(【[^】\n]*】|\[[^\]\n]*\])[^\n]*[：:]\n\n", "", text)
                if author != reader and re.search(rf"{marker}(?!\d)", text) and not body.startswith(marker):
                    _fail(
                        "broadcast list scope",
                        f"{call.method} to {reader} shows {author}'s broadcast: {text[:400]!r}",
                        transcript,
                    )


async def check_broadcast_recipients_in_scope(
    db: Database, ledger: Ledger, calls: Sequence[Call], scopes: Scopes, resolver: Resolver, transcript: Sequence[str]
) -> None:
    """Nobody outside the sender's scope is queued a broadcast or receives it."""
    for call in calls:
        if call.method not in ("sendMessage", "sendPhoto", "sendDocument") or call.chat_id not in PRINCIPALS:
            continue
        for text in _texts_of_call(call):
            for marker, author in resolver.markers.items():
                if re.search(rf"{marker}(?!\d)", text) and scopes.of(call.chat_id) - scopes.of(author):
                    _fail(
                        "broadcast recipients",
                        f"{author}'s broadcast {marker} reached {call.chat_id} of {PRINCIPALS[call.chat_id]}",
                        transcript,
                    )
    async with db.session() as session:
        rows = (
            await session.execute(
                select(OutboxRow.school_id, OutboxRow.chat_id, Broadcast.id, Person.telegram_id)
                .join(Broadcast, Broadcast.id == OutboxRow.broadcast_id)
                .join(Person, Person.id == Broadcast.author_id)
            )
        ).all()
    STATS["broadcasts queued"] = max(STATS["broadcasts queued"], len({r[2] for r in rows}))
    for school_id, chat_id, broadcast_id, author in rows:
        if school_id is None:
            continue
        code = ledger.school_ids.get(school_id)
        if code not in scopes.of(author):
            _fail("broadcast recipients", f"broadcast #{broadcast_id} by {author} queued for {chat_id} of {code}", transcript)


async def check_broadcast_stops_in_scope(db: Database, ledger: Ledger, steps: Sequence[Step], transcript: Sequence[str]) -> None:
    """A running broadcast is stopped only by its author, city staff or an admin."""
    async with db.session() as session:
        rows = (
            await session.execute(
                select(Broadcast.id, Broadcast.status, Person.telegram_id).join(Person, Person.id == Broadcast.author_id)
            )
        ).all()
    for broadcast_id, status, author in rows:
        before = ledger.broadcast_status.get(broadcast_id)
        ledger.broadcast_status[broadcast_id] = status
        if status != "cancelled" or before in (None, "cancelled", "draft"):
            continue
        stoppers = {s.actor for s in steps if s.data == f"bcx:{broadcast_id}"}
        STATS["broadcasts stopped"] += 1
        if stoppers and not any(a == author or a in (CITY_STAFF, ADMIN) for a in stoppers):
            _fail("broadcast stop scope", f"broadcast #{broadcast_id} of {author} was stopped by {sorted(stoppers)}", transcript)


async def check_nudges_in_scope(
    db: Database, ledger: Ledger, scopes: Scopes, steps: Sequence[Step], now: datetime, transcript: Sequence[str]
) -> None:
    """A nudge is queued only by staff whose scope holds the school, and a nudge queued for the
    morning is sent early only when someone with that school in scope presses "send now"."""
    async with db.session() as session:
        rows = (await session.scalars(select(ReminderSend).where(ReminderSend.slot.like("manual-%")))).all()
    for row in rows:
        code = ledger.school_ids.get(row.school_id, "?")
        if row.requested_by is not None and code not in scopes.of(row.requested_by):
            _fail("nudge scope", f"{row.requested_by} queued a nudge to {code} (recipient {row.recipient_id})", transcript)
        previous = ledger.queued_nudges.get(row.id)
        if previous is None:
            STATS[f"nudges queued by {_kind(row.requested_by)}"] += 1
        ledger.queued_nudges[row.id] = (row.requested_by or 0, row.not_before, row.status)
        if previous is None:
            continue
        _, was_not_before, was_status = previous
        moved = (
            was_not_before is not None
            and was_not_before > now
            and (row.not_before is None or row.not_before <= now or row.status != was_status)
        )
        if moved:
            STATS["nudges sent early"] += 1
            pressers = {s.actor for s in steps if s.data and s.data.startswith("nudgenow:")}
            if pressers and not any(code in scopes.of(a) for a in pressers):
                _fail(
                    "nudge scope",
                    f"a nudge to {code} queued by {row.requested_by} was sent now by {sorted(pressers)}",
                    transcript,
                )


async def check_audit_subjects_in_scope(db: Database, ledger: Ledger, scopes: Scopes, transcript: Sequence[str]) -> None:
    """No audit row's subject (or a school named in its detail) lies outside its actor's scope;
    district staff act on no broadcast but their own."""
    async with db.session() as session:
        rows = (await session.scalars(select(AuditEntry).where(AuditEntry.id > ledger.audits).order_by(AuditEntry.id))).all()
        authors = {
            b.id: a
            for b, a in (
                await session.execute(select(Broadcast, Person.telegram_id).join(Person, Person.id == Broadcast.author_id))
            ).all()
        }
    for row in rows:
        ledger.audits = max(ledger.audits, row.id)
        STATS[f"audit {row.action}"] += 1
        if row.actor not in EVERYONE:
            continue
        scope = scopes.of(row.actor)
        named: set[str] = set()
        if row.subject in CODES:
            named.add(row.subject)
        named |= {code for code in _strings(row.detail) if code in CODES}
        school_id = (row.detail or {}).get("school_id")
        if isinstance(school_id, int) and school_id in ledger.school_ids:
            named.add(ledger.school_ids[school_id])
        if named - scope:
            _fail("audit scope", f"audit {row.action} by {row.actor}: subject {row.subject!r} detail {row.detail!r}", transcript)
        if row.actor in DISTRICT_STAFF and row.subject and row.subject.startswith("broadcast:"):
            number = row.subject.removeprefix("broadcast:")
            author = authors.get(int(number)) if number.isdigit() else None
            if author is not None and author != row.actor:
                _fail("audit scope", f"audit {row.action} by {row.actor} on {row.subject} of {author}", transcript)


def _kind(telegram_id: int | None) -> str:
    if telegram_id in PRINCIPALS:
        return "principal"
    if telegram_id in DISTRICT_STAFF:
        return "district staff"
    return "city staff" if telegram_id in (CITY_STAFF, ADMIN) else "other"


def write_stats() -> None:
    if COLLECT:
        with open(COLLECT, "a", encoding="utf-8") as out:
            out.write("STATS " + repr(sorted(STATS.items())) + "\n")


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


async def check_reports_match_confirmations(
    db: Database, ledger: Ledger, catalogue: Catalogue, transcript: Sequence[str]
) -> list[tuple[Report, Confirmation]]:
    """Every report version saved holds exactly the answers its principal confirmed (one Submit
    press, one version at most), for that principal's school. Returns each new report with the
    confirmation it came from."""
    saved_from: list[tuple[Report, Confirmation]] = []
    async with db.session() as session:
        reports = (await session.scalars(select(Report).where(Report.id > ledger.reports).order_by(Report.id))).all()
    by_id = {report.id: report for report in reports}
    for report in reports:
        ledger.reports = max(ledger.reports, report.id)
        STATS[f"report v{min(report.version, 3)} {report.form_key}"] += 1
        saved = {v.field_key: (v.num_value, v.text_value) for v in report.values}
        if report.withdrawn and report.supersedes_id is not None:
            # A withdrawal (/correct → ↩️ 撤回 → confirm) is a new version holding the values it takes
            # back, by a reporter of that school: nobody typed them again, and none may change.
            before = by_id.get(report.supersedes_id) or await _report(db, report.supersedes_id)
            kept = {v.field_key: (v.num_value, v.text_value) for v in before.values} if before else None
            if before is None or kept != saved or before.school_id != report.school_id:
                _fail("withdrawal", f"report #{report.id} withdraws #{report.supersedes_id} but changed it: {saved}", transcript)
            STATS["withdrawals"] += 1
            continue
        match = None
        for confirmation in ledger.confirmations:
            if (confirmation.person_id, confirmation.school_id, confirmation.form_key, confirmation.period) != (
                report.reporter_id,
                report.school_id,
                report.form_key,
                report.period,
            ):
                continue
            if _stored(catalogue, confirmation) == saved:
                match = confirmation
                break
        if match is None:
            _fail(
                "confirmed values",
                f"report #{report.id} v{report.version} {report.form_key}/{report.period} of "
                f"{ledger.school_ids.get(report.school_id)} by person {report.reporter_id} holds {saved}, "
                f"which nobody confirmed (confirmed: {[(c.describe, c.answers) for c in ledger.confirmations]})",
                transcript,
            )
        else:
            ledger.confirmations.remove(match)
            saved_from.append((report, match))
    return saved_from


async def _report(db: Database, report_id: int) -> Report | None:
    async with db.session() as session:
        return await session.get(Report, report_id)


def check_no_silent_overwrite(saved_from: Sequence[tuple[Report, Confirmation]], transcript: Sequence[str]) -> None:
    """A correction opened on version N is saved only as N+1 (superseding exactly N), and a first
    submission only as version 1: a report filed meanwhile is shown, never silently overwritten."""
    for report, confirmation in saved_from:
        if confirmation.correction_of is None and report.version != 1:
            _fail(
                "no silent overwrite",
                f"{confirmation.describe}: a first submission of {report.form_key}/{report.period} became version "
                f"{report.version}, over a version its principal never saw",
                transcript,
            )
        if confirmation.correction_of is not None and report.supersedes_id != confirmation.correction_of:
            _fail(
                "no silent overwrite",
                f"{confirmation.describe}: a correction of report #{confirmation.correction_of} superseded "
                f"#{report.supersedes_id} (version {report.version}) instead",
                transcript,
            )


def _stored(catalogue: Catalogue, confirmation: Confirmation) -> dict[str, tuple[Decimal | None, str | None]]:
    form = catalogue.get(confirmation.form_key)
    out: dict[str, tuple[Decimal | None, str | None]] = {}
    for item in form.fields:
        stored = confirmation.answers.get(item.key)
        if stored is not None:
            out[item.key] = item.to_storage(item.parse(stored))
    return out
