"""Form and period buttons for ``/summary`` and ``/export`` typed without what they need.

Nothing is chosen silently: ``/summary`` and ``/export`` alone offer the forms,
a form then offers its recent periods (and, for an export, whole years), and
the last press shows the summary or sends the workbook. ``/export 2026`` offers
the forms for that year. Button data (at most 64 bytes):

* ``sum:p:<form>`` — the periods of ``form`` for a summary (each ``sum:v:…``);
* ``sum:e:<form>`` — the periods of ``form`` for an export (each ``sum:x:…``),
  plus ``sum:y:<form>:<year>`` for a whole year;
* each may end in ``:d<district id>``: the district named with the command
  (``/summary 相山区``), carried to the view or workbook and checked on press.

A press naming a form the catalogue lacks, or a year out of range, is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.core.catalogue import Cadence, Form
from bot.core.i18n import t
from bot.core.periods import Period, local_date
from bot.core.ui import Button, Screen
from bot.office.args import MAX_YEAR, MIN_YEAR, find_form, recent_periods
from bot.services import Services

__all__ = ["PERIODS_OFFERED", "Pick", "district_suffix", "form_picker", "period_picker", "read_pick"]

# Recent periods a picker offers, newest first.
PERIODS_OFFERED = 6
Purpose = Literal["summary", "export"]

_PICK = re.compile(
    r"^sum:(?:(?P<action>[pe]):(?P<form>[a-z][a-z0-9_]{0,31})|y:(?P<yform>[a-z][a-z0-9_]{0,31}):(?P<year>\d{4}))"
    r"(?::d(?P<district>\d{1,9}))?$"
)


@dataclass(frozen=True)
class Pick:
    """A picker button read back: the periods of ``form`` (``year`` None), or a whole year's export."""

    purpose: Purpose
    form: Form
    year: int | None = None
    # The district named with the command, as pressed (not yet checked against the presser).
    district_id: int | None = None


def district_suffix(district_id: int | None) -> str:
    """What a summary or picker button adds to carry the district it shows."""
    return "" if district_id is None else f":d{district_id}"


def form_picker(
    services: Services, lang: str, purpose: Purpose, year: int | None = None, district_id: int | None = None
) -> Screen:
    """Which form: for a summary, an export, or an export of ``year`` (of ``district_id``, if named)."""
    rows = []
    for form in services.catalogue:
        if year is not None:
            data = f"sum:y:{form.key}:{year}"
        else:
            data = f"sum:{'p' if purpose == 'summary' else 'e'}:{form.key}"
        rows.append([Button(form.title.get(lang), data + district_suffix(district_id))])
    key = "office.pick_form_year" if year is not None else f"office.pick_form_{purpose}"
    return Screen(t(lang, key, year=year or ""), rows)


def _recent(services: Services, form: Form) -> list[Period]:
    return recent_periods(form, services.clock.now(), services.settings.timezone, PERIODS_OFFERED)


def period_picker(services: Services, lang: str, purpose: Purpose, form: Form, district_id: int | None = None) -> Screen:
    """Which period of ``form``; an export also offers this year and last year whole."""
    action = "v" if purpose == "summary" else "x"
    end = district_suffix(district_id)
    buttons = [Button(p.label(lang), f"sum:{action}:{form.key}:{p.key}{end}") for p in _recent(services, form)]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    if purpose == "export" and form.period_cadence is not Cadence.YEARLY:
        this_year = local_date(services.clock.now(), services.settings.timezone).year
        years = [this_year, this_year - 1]
        rows.append([Button(t(lang, "office.pick_whole_year", year=y), f"sum:y:{form.key}:{y}{end}") for y in years])
    return Screen(t(lang, f"office.pick_period_{purpose}", form=form.title.get(lang)), rows)


def read_pick(services: Services, data: str) -> Pick | None:
    """The picker button ``data`` names; None for a stale or forged one."""
    match = _PICK.match(data)
    if match is None:
        return None
    form = find_form(services.catalogue, match["form"] or match["yform"] or "")
    if form is None:
        return None
    district = int(match["district"]) if match["district"] is not None else None
    if match["year"] is not None:
        year = int(match["year"])
        return Pick("export", form, year, district) if MIN_YEAR <= year <= MAX_YEAR else None
    return Pick("summary" if match["action"] == "p" else "export", form, None, district)
