"""The dashboard's pages: ``serve(path, query, viewer, services, now)`` answers one ``/app/`` request.

The server (``bot.dashboard.server``) has already authenticated the viewer; here each
page reads what it shows inside the viewer's district scope, with one or two roll-up
queries, and renders a Jinja2 template (autoescaped) in the viewer's language::

    page = await serve("grid", {"form": ["milk"], "year": ["2026"]}, viewer, services, clock.now())
    page.body       # HTML; NotFound (404) outside the scope, BadRequest (400) for a bad parameter

Paths: ``""``/``grid`` (completeness grid), ``trends``, ``school/<CODE>``, ``flags``,
``review``, ``download/xlsx``, ``download/docx``, ``static/<file>``. Links between pages
are relative (``../grid?…``), so the pages work under any base URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from bot.core.fields import Field
from bot.core.i18n import t
from bot.core.periods import parse_period
from bot.dashboard.chart import empty_label, short_label, trend_svg
from bot.dashboard.data import CellState, GridFilters, read_grid, read_trends
from bot.dashboard.params import AREAS, Params, read_params
from bot.dashboard.school import school_page
from bot.dashboard.viewer import NotFound, Page, Query, Viewer
from bot.office.broadcast_audience import programme_label
from bot.office.summary import started_periods_of_year
from bot.render import scope_label
from bot.services import Services
from storage.dashboard import awaiting_review, district_choices
from storage.flags import FlagRow, flag_rows
from storage.reviews import APPROVED, RETURNED, review_counts

__all__ = ["serve"]

STATIC = Path(__file__).with_name("static")
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8"}
# The grid's cells are the bulk of a city's page: one-letter classes keep 12 months × 250 schools small.
CELL_CSS = {
    CellState.ON_TIME: "o",
    CellState.LATE: "l",
    CellState.MISSING: "m",
    CellState.NOT_DUE: "n",
    CellState.WITHDRAWN: "w",
}
NO_STORE = {"Cache-Control": "no-store"}


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The templates, loaded once (autoescaped: school names and reasons are typed by people)."""
    env = Environment(
        loader=PackageLoader("bot.dashboard", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(states=CellState, short_label=short_label, empty_label=empty_label, programme_label=programme_label)
    return env


def render(template: str, viewer: Viewer, root: str, **context: Any) -> Page:
    """One page in the viewer's language; never cached by anyone but the browser's back button."""
    lang = viewer.lang

    def _(key: str, **params: Any) -> str:
        return t(lang, key, **params)

    html = environment().get_template(template).render(_=_, lang=lang, viewer=viewer, root=root, **context)
    return Page(html.encode(), headers=NO_STORE)


def _local(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


class _Request:
    """What every page handler is given: the checked parameters and where it stands."""

    def __init__(self, path: str, query: Query, viewer: Viewer, services: Services, now: datetime) -> None:
        self.viewer, self.services, self.now = viewer, services, now
        self.tz: tzinfo = services.settings.timezone
        self.lang = viewer.lang
        self.params: Params = read_params(query, viewer, services.catalogue, now, self.tz)
        # Relative links: "school/HB001" is one level below the pages' root.
        self.root = "../" * path.count("/")

    async def scope(self) -> tuple[str, list[tuple[int, str]]]:
        """The shown scope's name and the districts the filter offers (one small query)."""
        async with self.services.db.session() as session:
            districts = await district_choices(session, self.viewer.district_id)
        if self.params.district_id is None:
            return scope_label(None, self.lang), districts
        name = dict(districts).get(self.params.district_id)
        if name is None:
            raise NotFound(str(self.params.district_id))
        return name, districts

    def page(self, template: str, active: str, **context: Any) -> Page:
        return render(
            template,
            self.viewer,
            self.root,
            active=active,
            p=self.params,
            catalogue=self.services.catalogue,
            as_of=_local(self.now, self.tz),
            **context,
        )


@lru_cache(maxsize=4)
def _cells(lang: str) -> Callable[[Sequence[CellState]], Markup]:
    """A school's row of cells as HTML: a city's 3,000 cells through the template's loop cost more
    than the query behind them, so each state's ``<td>`` is written once and joined."""
    marks = {
        CellState.ON_TIME: "✓",
        CellState.LATE: t(lang, "pages.mark_late"),
        CellState.MISSING: "✗",
        CellState.NOT_DUE: "·",
        CellState.WITHDRAWN: t(lang, "pages.mark_withdrawn"),
    }
    html = {state: f'<td class="{CELL_CSS[state]}">{escape(mark)}</td>' for state, mark in marks.items()}

    def row(cells: Sequence[CellState]) -> Markup:
        return Markup("".join([html[state] for state in cells]))

    return row


async def _grid(request: _Request) -> Page:
    p = request.params
    scope, districts = await request.scope()
    filters = GridFilters(p.form, p.year, p.district_id, p.programme, p.area, p.page)
    grid = await read_grid(request.services.db, filters, request.now, request.tz, scope)
    if p.page > grid.pages:
        raise NotFound(str(p.page))
    lang = request.lang
    return request.page(
        "grid.html",
        "grid",
        scope=scope,
        districts=districts,
        areas=AREAS,
        programmes=sorted({f.programme for f in request.services.catalogue if f.programme}),
        grid=grid,
        columns=[short_label(period, lang) for period in grid.periods],
        titles=[period.label(lang) for period in grid.periods],
        highlight=p.period.key if p.period is not None else None,
        cells=_cells(lang),
    )


async def _trends(request: _Request) -> Page:
    p = request.params
    scope, districts = await request.scope()
    trends = await read_trends(
        request.services.db, request.services.catalogue, p.year, request.now, request.tz, district_id=p.district_id
    )
    charts = [trend_svg(trend, request.lang) for trend in trends]
    return request.page("trends.html", "trends", scope=scope, districts=districts, trends=trends, charts=charts)


def _keys(request: _Request) -> list[str]:
    """The periods a list shows: the one asked, else the year's periods started by now."""
    p = request.params
    if p.period is not None:
        return [p.period.key]
    return [period.key for period in started_periods_of_year(p.form, p.year, request.now, request.tz)]


async def _flags(request: _Request) -> Page:
    scope, districts = await request.scope()
    keys = _keys(request)
    async with request.services.db.session() as session:
        flags = await flag_rows(session, request.params.form.key, keys, district_id=request.params.district_id)
    form, lang = request.params.form, request.lang
    fields = {f.key: f for f in form.fields}
    values = [_flag_value(fields.get(flag.field_key or ""), flag, lang) for flag in flags]
    return request.page(
        "flags.html",
        "flags",
        scope=scope,
        districts=districts,
        flags=flags,
        values=values,
        fields={key: f.label.get(lang) for key, f in fields.items()},
        labels=_period_labels(request, keys),
        span=_span(request),
    )


def _flag_value(spec: Field | None, flag: FlagRow, lang: str) -> str:
    """The flagged answer as the principal confirmed it (``—`` for a form-level warning)."""
    value = spec.from_storage(flag.num_value, flag.text_value) if spec is not None else None
    return spec.format(value, lang) if spec is not None and value is not None else "—"


def _span(request: _Request) -> str:
    p = request.params
    return p.period.label(request.lang) if p.period is not None else t(request.lang, "summary.year_label", year=p.year)


async def _review(request: _Request) -> Page:
    """The ``/review`` queue of the shown form, periods and scope, with the approval coverage."""
    scope, districts = await request.scope()
    keys = _keys(request)
    form_key, district_id = request.params.form.key, request.params.district_id
    async with request.services.db.session() as session:
        total, rows = await awaiting_review(session, form_key, keys, district_id=district_id)
        counts = await review_counts(session, form_key, keys, district_id=district_id)
    labels = _period_labels(request, keys)
    times = {row.report_id: _local(row.submitted_at, request.tz) for row in rows}
    return request.page(
        "review.html",
        "review",
        scope=scope,
        districts=districts,
        total=total,
        rows=rows,
        labels=labels,
        times=times,
        span=_span(request),
        coverage={"approved": counts.get(APPROVED, 0), "returned": counts.get(RETURNED, 0), "total": sum(counts.values())},
    )


def _period_labels(request: _Request, keys: list[str]) -> dict[str, str]:
    cadence = request.params.form.period_cadence
    return {key: parse_period(cadence, key).label(request.lang) for key in keys}


async def _school(request: _Request, code: str) -> Page:
    scope, _ = await request.scope()
    shown = await school_page(request.services, request.viewer, code, request.tz)
    return request.page("school.html", "school", scope=scope, school=shown)


async def _xlsx(request: _Request) -> Page:
    """The export of the shown form, year (or period) and scope, as ``/export`` sends it."""
    from bot.office.summary import gather_export
    from bot.render.xlsx import export_filename, render_xlsx

    p, services = request.params, request.services
    await request.scope()  # a district outside the scope is a 404 before anything is read
    periods = [p.period] if p.period is not None else started_periods_of_year(p.form, p.year, request.now, request.tz)
    if not periods:
        raise NotFound(str(p.year))
    data = await gather_export(services.db, p.form, periods, request.now, request.tz, district_id=p.district_id)
    body = await asyncio.to_thread(render_xlsx, data, request.lang, request.now, request.tz)
    kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Page(body, content_type=kind, filename=export_filename(p.form, periods), headers=NO_STORE)


async def _docx(request: _Request) -> Page:
    """The year-end draft of the shown year and scope, as ``/annual`` sends it."""
    from bot.office.annual import annual_figures
    from bot.render.annual_docx import render_annual_docx

    p, services = request.params, request.services
    await request.scope()
    figures = await annual_figures(services.db, services.catalogue, p.year, request.now, request.tz, district_id=p.district_id)
    office = services.settings.office_name
    body = await asyncio.to_thread(render_annual_docx, figures, request.lang, office=office)
    kind = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    return Page(body, content_type=kind, filename=f"schoolbot-annual-{p.year}.docx", headers=NO_STORE)


def static_file(name: str) -> Page:
    """A shipped stylesheet or licence from ``static/`` (no directories, no other types)."""
    path = STATIC / name
    kind = STATIC_TYPES.get(path.suffix)
    if "/" in name or name.startswith(".") or kind is None or not path.is_file():
        raise NotFound(name)
    # Names change with their content (style.css?v=…) rarely enough: a day is long and safe.
    return Page(path.read_bytes(), content_type=kind, headers={"Cache-Control": "public, max-age=86400"})


PAGES: Mapping[str, Callable[[_Request], Awaitable[Page]]] = {
    "": _grid,
    "grid": _grid,
    "trends": _trends,
    "flags": _flags,
    "review": _review,
    "download/xlsx": _xlsx,
    "download/docx": _docx,
}


async def serve(path: str, query: Query, viewer: Viewer, services: Services, now: datetime) -> Page:
    """The page at ``/app/<path>`` for ``viewer`` at ``now`` (NotFound → 404, BadRequest → 400)."""
    path = path.strip("/") if path not in ("", "/") else ""
    if path.startswith("static/"):
        return static_file(path.removeprefix("static/"))
    handler = PAGES.get(path)
    if handler is not None:
        return await handler(_Request(path, query, viewer, services, now))
    if path.startswith("school/") and path.count("/") == 1 and path != "school/":
        return await _school(_Request(path, query, viewer, services, now), path.removeprefix("school/"))
    raise NotFound(path)
