"""The dashboard's query parameters, read strictly: a value that does not parse is a 400, not a guess.

``?form=milk&year=2026&district=3&programme=farm&area=rural&page=2`` or ``?period=2026-11``
(the period's year; flags and review list only that period). A district outside the
viewer's scope is a 404, as if it did not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from urllib.parse import urlencode

from bot.core.catalogue import Catalogue, Form
from bot.core.i18n import t
from bot.core.periods import Period, local_date, parse_period
from bot.dashboard.viewer import BadRequest, NotFound, Query, Viewer
from bot.office.args import MAX_YEAR, MIN_YEAR, is_year

__all__ = ["Params", "read_params"]

AREAS = ("urban", "rural")


def one(query: Query, name: str) -> str | None:
    """The parameter's last value (a link may repeat it), None when absent or empty."""
    values = query.get(name) or ()
    value = values[-1].strip() if values else ""
    return value or None


def default_form(catalogue: Catalogue) -> Form:
    """The first form filed per period: an event form's grid only says who filed anything at all."""
    return next((form for form in catalogue if not form.is_event), catalogue.forms[0])


@dataclass(frozen=True)
class Params:
    form: Form
    year: int
    period: Period | None
    # The district asked for (already checked against the viewer's scope); None: the whole scope.
    district_id: int | None
    programme: str | None
    area: str | None
    page: int

    def link(self, **changes: str | int | None) -> str:
        """``?form=…&year=…`` for these parameters with ``changes`` applied (None drops one)."""
        values: dict[str, str | int | None] = {
            "form": self.form.key,
            "year": self.year if self.period is None else None,
            "period": self.period.key if self.period is not None else None,
            "district": self.district_id,
            "programme": self.programme,
            "area": self.area,
        }
        values.update(changes)
        return "?" + urlencode({k: v for k, v in values.items() if v is not None})


def _form(catalogue: Catalogue, key: str | None, lang: str) -> Form:
    if key is None:
        return default_form(catalogue)
    form = next((f for f in catalogue if f.key == key), None)
    if form is None:
        raise BadRequest(t(lang, "pages.bad_form", form=key))
    return form


def _year(text: str | None, now: datetime, tz: tzinfo, lang: str) -> int:
    if text is None:
        return local_date(now, tz).year
    if not is_year(text) or not MIN_YEAR <= int(text) <= MAX_YEAR:
        raise BadRequest(t(lang, "pages.bad_year", year=text))
    return int(text)


def _period(form: Form, text: str | None, lang: str) -> Period | None:
    if text is None:
        return None
    try:
        period = parse_period(form.period_cadence, text)
    except ValueError:
        raise BadRequest(t(lang, "pages.bad_period", period=text, form=form.short.get(lang))) from None
    if not MIN_YEAR <= period.start.year <= MAX_YEAR:
        raise BadRequest(t(lang, "pages.bad_period", period=text, form=form.short.get(lang)))
    return period


def _district(text: str | None, viewer: Viewer, lang: str) -> int | None:
    if text is None:
        return viewer.district_id
    if re.fullmatch(r"\d{1,9}", text) is None:
        raise BadRequest(t(lang, "pages.bad_district", district=text))
    if viewer.district_id is not None and int(text) != viewer.district_id:
        raise NotFound(text)
    return int(text)


def read_params(query: Query, viewer: Viewer, catalogue: Catalogue, now: datetime, tz: tzinfo) -> Params:
    """Every page's parameters, checked (BadRequest for what does not parse, NotFound outside the scope)."""
    lang = viewer.lang
    form = _form(catalogue, one(query, "form"), lang)
    period = _period(form, one(query, "period"), lang)
    year = period.start.year if period is not None else _year(one(query, "year"), now, tz, lang)
    programme = one(query, "programme")
    if programme is not None and programme not in {f.programme for f in catalogue if f.programme}:
        raise BadRequest(t(lang, "pages.bad_programme", programme=programme))
    area = one(query, "area")
    if area is not None and area not in AREAS:
        raise BadRequest(t(lang, "pages.bad_area", area=area))
    page_text = one(query, "page") or "1"
    if re.fullmatch(r"[1-9]\d{0,5}", page_text) is None:
        raise BadRequest(t(lang, "pages.bad_page", page=page_text))
    return Params(form, year, period, _district(one(query, "district"), viewer, lang), programme, area, int(page_text))
