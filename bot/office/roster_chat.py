"""A roster sent to the bot as a file: checked, previewed, and imported when an admin confirms.

The same rules as ``schoolbot import-roster`` (``parse_roster``, ``import_roster``):
a file with any bad row imports nothing and is answered with its problems,
repeated ones said once with their lines. A good file is answered with what
importing it would change (new, changed, unchanged schools; new districts named
once) and a confirm button naming that plan (``RosterPlan.digest``); the press
imports exactly those changes, or shows the new preview when the schools on
record changed meanwhile. Admins only, checked here as well as in the handler.

Nothing is kept between the preview and the press: the preview is a reply to
the uploaded file, so the press finds the file again there and reads it anew.

Callback data::

    roster:go:<plan digest>
    roster:no

Limits of a chat upload (the CLI has none): ``MAX_FILE_BYTES`` before the file
is even downloaded, and ``MAX_CHAT_ROWS`` schools, where reading stops.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bot.core.i18n import t
from bot.core.ui import Alert, Button, Screen
from bot.office.roster import (
    PlanChanged,
    RosterInvalid,
    RosterPlan,
    RosterRow,
    import_roster,
    known_programmes,
    parse_roster,
    plan_roster,
)
from bot.office.roster_report import grouped_problems, plan_lines
from bot.services import Identity, Services

__all__ = [
    "MAX_CHAT_ROWS",
    "MAX_FILE_BYTES",
    "Upload",
    "cancel",
    "check_press",
    "checking",
    "concerns",
    "confirm",
    "preview",
    "refusal",
]

MAX_FILE_BYTES = 4 * 1024 * 1024  # a 10,000-school CSV is under 1 MB
MAX_CHAT_ROWS = 10_000
# Problems listed in chat; past these the admin fixes what is shown and sends the file again.
MAX_LISTED_PROBLEMS = 60
# Imports of this many schools say how far they got, every ``PROGRESS_EVERY`` (bot.office.roster).
PROGRESS_FROM = 1_000
# File names that look like a roster: other people sending one are told it is for admins.
ROSTER_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls"})

Show = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Upload:
    """What Telegram says of a file or photo someone sent, before it is downloaded."""

    kind: Literal["document", "photo"]
    file_name: str | None = None
    size: int | None = None

    @property
    def shown_name(self) -> str:
        return self.file_name or "roster"


def concerns(who: Identity, upload: Upload) -> bool:
    """Whether a file or photo no other feature took is this one's: any from an admin, a roster-like file from others."""
    if who.is_admin:
        return True
    return upload.kind == "document" and Path(upload.file_name or "").suffix.lower() in ROSTER_SUFFIXES


def refusal(who: Identity, upload: Upload) -> Screen | None:
    """Why this upload is not read at all (not an admin, a photo, too big); None to go on."""
    lang = who.language
    if not who.is_admin:
        return Screen(t(lang, "roster.chat.admins_only"))
    if upload.kind == "photo":
        return Screen(t(lang, "roster.chat.photo"))
    if upload.size is not None and upload.size > MAX_FILE_BYTES:
        return Screen(t(lang, "roster.chat.too_big", limit=f"{MAX_FILE_BYTES // (1024 * 1024)} MB"))
    return None


def checking(who: Identity, upload: Upload) -> str:
    """The message shown while the file is read; the preview replaces it."""
    return t(who.language, "roster.chat.checking", file=upload.shown_name)


def _rows(services: Services, upload: Upload, data: bytes) -> list[RosterRow]:
    programmes = known_programmes(services.catalogue)
    return parse_roster(data, upload.shown_name, programmes=programmes, max_rows=MAX_CHAT_ROWS)


def _invalid(lang: str, upload: Upload, error: RosterInvalid) -> Screen:
    problems = grouped_problems(error.errors, lang)
    lines = [t(lang, "roster.chat.invalid", file=upload.shown_name, count=f"{len(error.errors):,}")]
    lines += problems[:MAX_LISTED_PROBLEMS]
    if len(problems) > MAX_LISTED_PROBLEMS:
        lines.append(t(lang, "roster.chat.problems_more", count=f"{len(problems) - MAX_LISTED_PROBLEMS:,}"))
    return Screen("\n".join(lines))


def _preview(lang: str, upload: Upload, plan: RosterPlan) -> Screen:
    if not plan.created and not plan.changed:
        return Screen(t(lang, "roster.chat.nothing_to_do", file=upload.shown_name, count=f"{len(plan.unchanged):,}"))
    lines = [
        t(lang, "roster.chat.preview_title", file=upload.shown_name),
        *plan_lines(plan, lang),
        "",
        t(lang, "roster.chat.confirm"),
    ]
    if plan.new_districts:
        label = t(lang, "roster.chat.confirm_districts_button", count=len(plan.new_districts))
    else:
        label = t(lang, "roster.chat.confirm_button")
    buttons = [[Button(label, f"roster:go:{plan.digest()}"), Button(t(lang, "roster.chat.cancel_button"), "roster:no")]]
    return Screen("\n".join(lines), buttons)


async def preview(services: Services, who: Identity, upload: Upload, data: bytes) -> Screen:
    """Check an uploaded roster: its problems, or what importing it would change with a confirm button."""
    refused = refusal(who, upload) or refusal(who, Upload(upload.kind, upload.file_name, len(data)))
    if refused is not None:
        return refused
    try:
        rows = _rows(services, upload, data)
    except RosterInvalid as error:
        return _invalid(who.language, upload, error)
    return _preview(who.language, upload, await plan_roster(services.db, rows))


def _digest(data: str) -> str | None:
    """The plan digest a confirm button names; None for anything else."""
    kind, _, digest = data.removeprefix("roster:").partition(":")
    return digest if kind == "go" and len(digest) == 16 and digest.isalnum() else None


def check_press(who: Identity, data: str) -> Alert | None:
    """Refuse a press by a non-admin, or one whose data is neither confirm nor cancel (forged)."""
    if not who.is_admin:
        return Alert(t(who.language, "roster.chat.admins_only"))
    if data != "roster:no" and _digest(data) is None:
        return Alert(t(who.language, "core.stale_button"))
    return None


async def confirm(services: Services, who: Identity, data: str, upload: Upload, content: bytes, show: Show) -> Screen:
    """Import the previewed roster (read anew from the file), telling progress through ``show``."""
    lang = who.language
    digest = _digest(data)
    refused = check_press(who, data) or refusal(who, Upload(upload.kind, upload.file_name, len(content)))
    if refused is not None or digest is None:
        return Screen(refused.text if refused is not None else t(lang, "core.stale_button"))
    try:
        rows = _rows(services, upload, content)
    except RosterInvalid as error:
        return _invalid(lang, upload, error)

    async def progress(done: int, total: int) -> None:
        if done < total:
            await show(t(lang, "roster.chat.importing", done=f"{done:,}", total=f"{total:,}"))

    if len(rows) >= PROGRESS_FROM:
        await show(t(lang, "roster.chat.importing", done=0, total=f"{len(rows):,}"))
    try:
        result = await import_roster(
            services.db,
            services.clock.now(),
            rows,
            new_districts=True,  # the preview named them and the admin confirmed it
            actor=who.telegram_id,
            progress=progress,
            source="chat",
            expect=digest,
        )
    except PlanChanged as changed:
        fresh = _preview(lang, upload, changed.plan)
        return Screen(t(lang, "roster.chat.changed_meanwhile") + "\n\n" + fresh.text, fresh.buttons)
    return Screen(result.summary(lang))


def cancel(who: Identity) -> Screen:
    """Drop a previewed roster: nothing was written, the buttons go."""
    return Screen(t(who.language, "roster.chat.admins_only" if not who.is_admin else "roster.chat.cancelled"))
