"""The school page (``/app/school/<CODE>``): every version the school filed, its answers and warnings.

Three reads: the school inside the viewer's scope (a code outside it is NotFound, the same
answer as a code that does not exist, so nothing is revealed), its versions with their
answers, and the warnings confirmed on them. Versions are grouped by form, newest period
first; a superseded version is shown as history, a withdrawn entry as withdrawn.

Each version shows who filed it and its review (issue 15): awaiting review, approved or
returned, by whom, when and why; a version superseded before anyone reviewed it is "not
reviewed", a withdrawn entry has no review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from bot.core.catalogue import Form
from bot.core.i18n import t
from bot.core.periods import parse_period
from bot.dashboard.viewer import NotFound, Viewer
from bot.office.broadcast_audience import programme_label
from bot.services import Services
from storage.dashboard import SchoolFlag, SchoolInfo, VersionRow, school_by_code, school_flags, school_versions

__all__ = ["SchoolView", "school_page"]


@dataclass(frozen=True)
class Line:
    """One version as the page lists it (every text already in the viewer's language)."""

    period: str
    series: str
    version: int
    status: str  # "current", "history", "withdrawn"
    late: bool
    submitted: str
    reporter: str
    # The review: a ``pages.review_state_*`` suffix ("" for a withdrawn entry), who and when, the reason.
    review: str
    reviewed: str
    review_reason: str
    answers: tuple[tuple[str, str], ...]
    flags: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FormBlock:
    title: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class SchoolView:
    info: SchoolInfo
    area: str
    programmes: str
    blocks: tuple[FormBlock, ...]


def _answers(form: Form | None, row: VersionRow, lang: str) -> tuple[tuple[str, str], ...]:
    """``(label, 12,000 元)`` per answered field, in the form's order (a retired field by its key)."""
    shown = []
    fields = {f.key: f for f in form.fields} if form is not None else {}
    order = [k for k in fields if k in row.values] + [k for k in row.values if k not in fields]
    for key in order:
        spec = fields.get(key)
        num, text = row.values[key]
        if spec is None:
            shown.append((key, str(num if num is not None else text or "")))
            continue
        value = spec.from_storage(num, text)
        if value is not None:
            shown.append((spec.label.get(lang), spec.format(value, lang)))
    return tuple(shown)


def _period_label(form: Form | None, key: str, lang: str) -> str:
    if form is None:
        return key
    try:
        return parse_period(form.period_cadence, key).label(lang)
    except ValueError:
        return key  # a key of an older catalogue's cadence: shown as stored


def _status(row: VersionRow) -> str:
    if not row.is_current:
        return "history"
    return "withdrawn" if row.withdrawn else "current"


def _review(row: VersionRow, lang: str, tz: tzinfo) -> tuple[str, str]:
    """The version's review state (a locale key's suffix) and "who · when" (empty while unreviewed)."""
    if row.withdrawn:
        return "", ""
    if row.review == "submitted":
        return ("submitted" if row.is_current else "unreviewed"), ""
    when = row.reviewed_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if row.reviewed_at is not None else "—"
    return row.review, t(lang, "pages.reviewed_by", who=row.reviewer or "—", when=when)


def _line(form: Form | None, row: VersionRow, flags: list[SchoolFlag], lang: str, tz: tzinfo) -> Line:
    review, reviewed = _review(row, lang, tz)
    return Line(
        period=_period_label(form, row.period, lang),
        series=row.series,
        version=row.version,
        status=_status(row),
        late=row.is_late,
        submitted=row.submitted_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        reporter=row.reporter or (t(lang, "pages.reporter_office") if row.source != "chat" else "—"),
        review=review,
        reviewed=reviewed,
        review_reason=(row.review_reason or "") if review in ("approved", "returned") else "",
        answers=_answers(form, row, lang),
        flags=tuple((flag.message, flag.reason) for flag in flags),
    )


async def school_page(services: Services, viewer: Viewer, code: str, tz: tzinfo) -> SchoolView:
    """The school ``code`` as ``viewer`` may see it; NotFound outside the viewer's district."""
    lang = viewer.lang
    async with services.db.session() as session:
        info = await school_by_code(session, code, viewer.district_id)
        if info is None:
            raise NotFound(code)
        versions = await school_versions(session, info.id)
        flags = await school_flags(session, [v.report_id for v in versions])
    by_report: dict[int, list[SchoolFlag]] = {}
    for flag in flags:
        by_report.setdefault(flag.report_id, []).append(flag)
    forms = {form.key: form for form in services.catalogue}
    grouped: dict[str, list[Line]] = {}
    for row in versions:
        form = forms.get(row.form_key)
        grouped.setdefault(row.form_key, []).append(_line(form, row, by_report.get(row.report_id, []), lang, tz))
    blocks = tuple(FormBlock(forms[key].title.get(lang) if key in forms else key, tuple(lines)) for key, lines in grouped.items())
    programmes = "、".join(programme_label(lang, p) for p in info.programmes)
    area = t(lang, f"broadcast.area_{info.area}") if info.area in ("urban", "rural") else info.area
    return SchoolView(info, area, programmes, blocks)
