"""The one UI model every use case returns: a ``Screen`` of text and rows of ``Button``,
or an ``Alert`` refusing a press.

Services (reporting, broadcasts, office) answer with screens; handlers and the
senders turn them into Telegram messages with ``bot.delivery.markup``. Nothing
here knows Telegram: callback data is a plain string the codecs build, at most
64 bytes (Telegram's limit, checked by the fake Bot API).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Button:
    """An inline button: its label and its callback data (or the Mini App it opens, ``web_app``, an https URL)."""

    label: str
    data: str
    web_app: str | None = None


@dataclass(frozen=True)
class Alert:
    """Refuse a pressed button with this pop-up (a stale, forged or foreign press): nothing changes."""

    text: str


@dataclass
class Screen:
    """One message: text and rows of buttons."""

    text: str
    buttons: list[list[Button]] = field(default_factory=list)


__all__ = ["Alert", "Button", "Screen"]
