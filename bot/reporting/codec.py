"""Callback data of the report conversation: what its buttons carry (at most 64 bytes).

See ``bot.reporting.flow`` for the grammar: ``r:<token>:<action>...`` acts on
the current draft; ``go:<form>:<period>``, ``fix:<report id>``, ``form:<form>`` and
``menu`` start something; ``wd:...`` withdraws a saved entry (``Withdraw``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.core.catalogue import Form
from bot.core.i18n import t
from bot.core.periods import Period
from bot.core.ui import Button

MAX_CALLBACK_BYTES = 64


@dataclass(frozen=True)
class Start:
    """Something a principal can start: the form menu, one form, a form and period, a correction."""

    kind: Literal["menu", "form", "go", "fix"]
    form_key: str = ""
    period: str = ""
    report_id: int = 0

    def encode(self) -> str:
        match self.kind:
            case "menu":
                return "menu"
            case "form":
                return f"form:{self.form_key}"
            case "go":
                return f"go:{self.form_key}:{self.period}"
        return f"fix:{self.report_id}"

    @classmethod
    def decode(cls, text: str) -> Start | None:
        """The start named by button data, or None for anything malformed."""
        parts = text.split(":")
        match parts:
            case ["menu"]:
                return cls("menu")
            case ["form", key] if key:
                return cls("form", form_key=key)
            case ["go", key, period] if key and period:
                return cls("go", form_key=key, period=period)
            case ["fix", number] if _is_id(number):
                return cls("fix", report_id=int(number))
        return None


@dataclass(frozen=True)
class Withdraw:
    """A withdraw button of /correct: ask (``wd:<id>``), then confirm (``wd:y:<id>``) or keep (``wd:n:<id>``).

    The report id names the version the principal saw: if the entry was corrected or
    withdrawn meanwhile, that version is no longer current and the press is refused.
    """

    step: Literal["ask", "yes", "no"]
    report_id: int

    def encode(self) -> str:
        if self.step == "ask":
            return _data("wd", self.report_id)
        return _data("wd", self.step[0], self.report_id)

    @classmethod
    def decode(cls, text: str) -> Withdraw | None:
        """The withdraw step named by button data, or None for anything malformed."""
        match text.split(":"):
            case ["wd", number] if _is_id(number):
                return cls("ask", int(number))
            case ["wd", "y", number] if _is_id(number):
                return cls("yes", int(number))
            case ["wd", "n", number] if _is_id(number):
                return cls("no", int(number))
        return None


def _is_id(text: str) -> bool:
    return text.isdigit() and len(text) < 18


def _data(*parts: object) -> str:
    data = ":".join(str(part) for part in parts)
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        # Telegram refuses the whole message otherwise; a catalogue key this long is a bug to see early.
        raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {data!r}")
    return data


def go_data(form: Form, period: Period) -> str:
    """Button data that opens ``form`` for ``period`` directly."""
    return _data(Start("go", form_key=form.key, period=period.key).encode())


def report_now(form: Form, period: Period, lang: str | None) -> Button:
    """The "report now" button for reminders and /status."""
    return Button(t(lang, "report.now_button", form=form.short.get(lang), period=period.label(lang)), go_data(form, period))


__all__ = ["MAX_CALLBACK_BYTES", "Start", "Withdraw", "go_data", "report_now"]
