"""What a broadcast carries beyond its text: the header naming office and sender, and the "report now" button.

Part of the composer in ``bot.office.broadcast``. The header (``【office】sender``)
is fixed on the draft at the preview and kept at confirmation, so what staff
previewed is what every recipient gets, a resend after a restart included.
The button is chosen at the preview: a form (``rf``), then one of its recent
periods (``rp``); it carries the report conversation's own ``go:<form>:<period>``
data, so pressing it opens that report for the recipient's school, and the
report flow's own checks (a form the school does not file, a locked period)
answer a press there.
"""

from __future__ import annotations

from bot.core.catalogue import Catalogue, Form
from bot.core.i18n import t
from bot.core.periods import Period
from bot.core.ui import Alert, Screen
from bot.delivery.markup import keyboard
from bot.delivery.send import Payload
from bot.office.args import recent_periods, stored_period
from bot.office.broadcast_audience import button
from bot.reporting.codec import report_now
from bot.services import Services
from storage.models import Broadcast

__all__ = [
    "REPORT_PERIODS_OFFERED",
    "button_label",
    "choose_button_form",
    "choose_button_period",
    "header_of",
    "office_name",
    "payload_of",
    "report_target",
]

# Recent periods of a form the composer offers for its "report now" button.
REPORT_PERIODS_OFFERED = 3


def office_name(services: Services, lang: str | None) -> str:
    """The office's name as recipients read it: ``OFFICE_NAME`` (the year-end draft signs with it too),
    else the locale's default."""
    return services.settings.office_name or t(lang, "broadcast.office_default")


def header_of(services: Services, lang: str | None, sender: str) -> str:
    return t(lang, "broadcast.header", office=office_name(services, lang), sender=sender)


def report_target(catalogue: Catalogue, broadcast: Broadcast) -> tuple[Form, Period] | None:
    """The form and period of the broadcast's "report now" button (None: no button, or the form left the catalogue)."""
    if broadcast.report_form is None or broadcast.report_period is None:
        return None
    try:
        return stored_period(catalogue, broadcast.report_form, broadcast.report_period)
    except (KeyError, ValueError):
        return None


def button_label(catalogue: Catalogue, broadcast: Broadcast, lang: str | None) -> str | None:
    target = report_target(catalogue, broadcast)
    return None if target is None else report_now(target[0], target[1], lang).label


def payload_of(broadcast: Broadcast, catalogue: Catalogue, lang: str | None) -> Payload:
    """The message a broadcast sends, as ``bot.delivery.send`` takes it: header, text, and the button if any."""
    text = broadcast.text
    if broadcast.header:
        text = broadcast.header + ("\n\n" + text if text else "")
    target = report_target(catalogue, broadcast)
    markup = keyboard([[report_now(target[0], target[1], lang)]]) if target is not None else None
    if broadcast.kind == "photo":
        return Payload("photo", text, broadcast.file_id, reply_markup=markup)
    if broadcast.kind == "document":
        return Payload("document", text, broadcast.file_id, reply_markup=markup)
    return Payload("text", text, reply_markup=markup)


def _recent(services: Services, form: Form) -> list[Period]:
    """The periods a "report now" button may open, newest first."""
    return recent_periods(form, services.clock.now(), services.settings.timezone, REPORT_PERIODS_OFFERED)


def choose_button_form(services: Services, lang: str, draft: Broadcast) -> Screen:
    """The first step of adding the button: which form it opens."""
    rows = [[button(draft, form.title.get(lang), "rf", form.key)] for form in services.catalogue]
    rows.append([button(draft, t(lang, "broadcast.button_no_report"), "rx")])
    return Screen(t(lang, "broadcast.choose_report_form"), rows)


def choose_button_period(services: Services, lang: str, draft: Broadcast, form_key: str) -> Screen | Alert:
    """The second step: which period; a form not in the catalogue (a forged press) is refused."""
    try:
        form = services.catalogue.get(form_key)
    except KeyError:
        return Alert(t(lang, "broadcast.stale"))
    draft.audience_args = {**draft.audience_args, "report_form": form.key}
    rows = [[button(draft, p.label(lang), "rp", p.key)] for p in _recent(services, form)]
    rows.append([button(draft, t(lang, "broadcast.button_no_report"), "rx")])
    return Screen(t(lang, "broadcast.choose_report_period", form=form.title.get(lang)), rows)


def offered_period(services: Services, form_key: str, period_key: str) -> bool:
    """Whether ``period_key`` is one the period step offered for ``form_key`` (anything else is forged or stale)."""
    try:
        form = services.catalogue.get(form_key)
    except KeyError:
        return False
    return period_key in {p.key for p in _recent(services, form)}
