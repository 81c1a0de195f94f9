"""The review queue's cards and the buttons they carry (pure: no Telegram, no SQL).

A card shows one report version as the reviewer needs it: school, district,
form and period, version, who filed it and when, every figure, the warnings
the principal confirmed with their reasons, and the review state. Its buttons:
✅ approve and ↩️ return for a submitted version, 🔓 reopen for an approved
one, none for a returned one (it waits for the principal's correction).

Button data (at most 64 bytes): ``rv:a:<id>`` approve, ``rv:r:<id>`` return,
``rv:o:<id>`` reopen, ``rv:x`` drop the reason being asked for, and
``rv:q:<form>:<period>`` open the queue (from ``/summary`` and ``/flags``).
The id is the version the card showed: a newer version makes it outdated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Literal

from bot.core.catalogue import Form
from bot.core.i18n import t
from bot.core.periods import Period
from bot.core.ui import Button, Screen
from bot.render.filer import filed_by

__all__ = ["Card", "CardFlag", "ReviewPress", "card_screen", "queue_button"]

# A card is one message with its buttons: Telegram's 4,096 with room to spare.
CARD_LIMIT = 4000

Action = Literal["approve", "return", "reopen", "cancel", "queue"]
_CODES: dict[str, Action] = {"a": "approve", "r": "return", "o": "reopen"}


@dataclass(frozen=True)
class ReviewPress:
    """What a review button asks for."""

    action: Action
    report_id: int = 0
    form_key: str = ""
    period: str = ""

    def encode(self) -> str:
        if self.action == "cancel":
            return "rv:x"
        if self.action == "queue":
            return f"rv:q:{self.form_key}:{self.period}"
        code = next(c for c, action in _CODES.items() if action == self.action)
        return f"rv:{code}:{self.report_id}"

    @classmethod
    def decode(cls, data: str) -> ReviewPress | None:
        """The press named by button data, or None for anything malformed."""
        match data.split(":"):
            case ["rv", "x"]:
                return cls("cancel")
            case ["rv", "q", form_key, period] if form_key and period:
                return cls("queue", form_key=form_key, period=period)
            case ["rv", code, number] if code in _CODES and number.isdigit() and len(number) < 18:
                return cls(_CODES[code], report_id=int(number))
        return None


@dataclass(frozen=True)
class CardFlag:
    """A warning the principal confirmed, with their reason."""

    field: str
    value: str
    message: str
    reason: str


@dataclass(frozen=True)
class Card:
    """One report version as the reviewer sees it."""

    report_id: int
    school: str
    code: str
    district: str
    form: Form
    period: Period
    version: int
    reporter: str | None
    submitted_at: datetime
    late: bool
    values: Mapping[str, tuple[Decimal | None, str | None]]
    flags: Sequence[CardFlag]
    review: str
    reviewer: str | None
    reviewed_at: datetime | None
    reason: str | None
    # Filed by the office for the school (``reporter`` is then the staff member), and why.
    on_behalf: bool = False
    behalf_reason: str | None = None


def queue_button(form: Form, period: Period, lang: str) -> Button:
    """The 🔍 review button under ``/summary`` and ``/flags``: the queue of that form and period."""
    return Button(t(lang, "review.queue_button"), ReviewPress("queue", form_key=form.key, period=period.key).encode())


def card_screen(card: Card, lang: str, tz: tzinfo) -> Screen:
    """The card's text and its buttons for the version's review state."""
    when = card.submitted_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    lines = [
        t(
            lang,
            "review.card_title",
            school=card.school,
            code=card.code,
            district=card.district,
            form=card.form.short.get(lang),
            period=card.period.label(lang),
            version=card.version,
        ),
        t(
            lang,
            "review.card_filed",
            who=filed_by(lang, card.reporter, card.on_behalf, card.behalf_reason),
            when=when,
            late=t(lang, "review.card_late") if card.late else "",
        ),
    ]
    lines += _figures(card, lang)
    for flag in card.flags:
        # A history check's message already names the field and its value ("饮奶安全事件 0 起，比上月…").
        key = "review.card_flag_named" if flag.field and flag.message.startswith(flag.field) else "review.card_flag"
        lines.append(t(lang, key, field=flag.field, value=flag.value, message=flag.message, reason=flag.reason))
    lines.append(_state(card, lang, tz))
    text = "\n".join(lines)
    if len(text) > CARD_LIMIT:
        text = text[: CARD_LIMIT - 1] + "…"
    return Screen(text, _buttons(card, lang))


def _figures(card: Card, lang: str) -> list[str]:
    lines = []
    for item in card.form.fields:
        if item.key not in card.values:
            continue
        answer = item.from_storage(*card.values[item.key])
        shown = t(lang, "review.card_skipped") if answer is None else item.format(answer, lang)
        lines.append(t(lang, "review.card_figure", field=item.label.get(lang), value=shown))
    return lines


def _state(card: Card, lang: str, tz: tzinfo) -> str:
    who = card.reviewer or t(lang, "review.office")
    when = card.reviewed_at.astimezone(tz).strftime("%m-%d %H:%M") if card.reviewed_at is not None else ""
    if card.review == "approved":
        return t(lang, "review.state_approved", who=who, when=when)
    if card.review == "returned":
        return t(lang, "review.state_returned", who=who, when=when, reason=card.reason or "")
    if card.reason:  # submitted again because staff reopened it
        return t(lang, "review.state_reopened", who=who, when=when, reason=card.reason)
    return t(lang, "review.state_submitted")


def _buttons(card: Card, lang: str) -> list[list[Button]]:
    if card.review == "submitted":
        return [
            [
                Button(t(lang, "review.approve_button"), ReviewPress("approve", card.report_id).encode()),
                Button(t(lang, "review.return_button"), ReviewPress("return", card.report_id).encode()),
            ]
        ]
    if card.review == "approved":
        return [[Button(t(lang, "review.reopen_button"), ReviewPress("reopen", card.report_id).encode())]]
    return []
