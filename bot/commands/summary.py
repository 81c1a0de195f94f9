"""``schoolbot summary | export | annual``: the office's figures from the command line.

Usage::

    schoolbot summary --form milk --period 2026-10          # the table /summary shows
    schoolbot summary --form milk --period 2026-10 --json   # the roll-up as JSON, for scripts
    schoolbot export --form milk --period 2026-10 -o milk-2026-10.xlsx
    schoolbot export --form harvest --year 2026 -o harvest-2026.xlsx
    schoolbot annual --year 2026 -o annual-2026.docx         # also prints the draft

``--district NAME`` limits any of them to one district, as for district staff;
``--lang en`` writes English. Without ``--period`` the newest finished period
is used; without ``--year`` (annual) the current year.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.core.catalogue import Catalogue, Form, load_catalogue
from bot.core.clock import SystemClock
from bot.core.i18n import LANGUAGES
from bot.core.periods import Period, local_date
from bot.render.annual import render_annual_docx, render_annual_text
from bot.render.table import render_summary_text
from bot.render.xlsx import render_xlsx
from bot.office.args import MAX_YEAR, MIN_YEAR, BadPeriod, UnknownForm, form_arg, last_finished_period, period_arg
from bot.office.summary import (
    Rollup,
    Stats,
    Summary,
    annual_figures,
    gather_export,
    started_periods_of_year,
    summarise,
)
from bot.settings import Settings
from storage.db import Database
from storage.schools import district_by_name


class UsageError(Exception):
    """Arguments that name nothing we have; the message says what would."""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--district", metavar="NAME", help="only this district (e.g. 濉溪县)")
    parser.add_argument("--lang", choices=LANGUAGES, default="zh", help="language of the output (default zh)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    summary = sub.add_parser("summary", help="roll-up of a form for a period, by district")
    summary.add_argument("--form", required=True, help="form key, e.g. milk, harvest, insurance")
    summary.add_argument("--period", help="period key, e.g. 2026-10, 2026-Q3, 2026-S1 (default: newest finished)")
    summary.add_argument("--json", action="store_true", help="print the roll-up as JSON")
    _common(summary)
    summary.set_defaults(handler=run_summary)

    export = sub.add_parser("export", help="XLSX of a form for a period or a year")
    export.add_argument("--form", required=True, help="form key, e.g. milk")
    span = export.add_mutually_exclusive_group()
    span.add_argument("--period", help="period key, e.g. 2026-10 (default: newest finished)")
    span.add_argument("--year", type=int, help="every period of this calendar year begun so far")
    export.add_argument("-o", "--output", required=True, type=Path, metavar="FILE.xlsx", help="where to write")
    _common(export)
    export.set_defaults(handler=run_export)

    annual = sub.add_parser("annual", help="the year-end report draft (DOCX, and printed)")
    annual.add_argument("--year", type=int, help="calendar year (default: this year)")
    annual.add_argument("-o", "--output", required=True, type=Path, metavar="FILE.docx", help="where to write")
    _common(annual)
    annual.set_defaults(handler=run_annual)


def _form(catalogue: Catalogue, key: str) -> Form:
    try:
        return form_arg(catalogue, key)
    except UnknownForm:
        raise UsageError(f"no form {key!r}; choose one of {', '.join(f.key for f in catalogue)}") from None


def _period(form: Form, text: str | None, settings: Settings) -> Period:
    if text is None:
        return last_finished_period(form, SystemClock(settings.timezone).now(), settings.timezone)
    try:
        return period_arg(form, text)
    except BadPeriod:
        example = last_finished_period(form, SystemClock(settings.timezone).now(), settings.timezone).key
        cadence = form.period_cadence.value
        raise UsageError(f"{text!r} is not a period of form {form.key!r} (filed per {cadence}; e.g. {example})") from None


async def _district(db: Database, name: str | None) -> int | None:
    if name is None:
        return None
    async with db.session() as session:
        district = await district_by_name(session, name)
    if district is None:
        raise UsageError(f"no district {name!r}")
    return district.id


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def stats_json(stats: Stats, form: Form) -> dict[str, Any]:
    """One district's (or the city's) figures as plain JSON types."""
    fields = {}
    for field in form.numeric_fields:
        agg = stats.aggregate(field.key)
        fields[field.key] = {
            "count": agg.count,
            "sum": _number(agg.total),
            "avg": _number(agg.average),
            "min": _number(agg.minimum),
            "max": _number(agg.maximum),
        }
    return {
        "district": stats.name or None,
        "schools": stats.schools,
        "expected": stats.expected,
        "reported": stats.reported,
        "on_time": stats.on_time,
        "completeness": round(stats.completeness, 4),
        "on_time_rate": round(stats.on_time_rate, 4),
        "reports": stats.reports,
        "fields": fields,
        # Warnings confirmed with a reason (issue 13); counted for the period asked only.
        "flags": stats.flags,
    }


def _rollup_json(rollup: Rollup) -> dict[str, Any]:
    return {"period": rollup.periods[0].key, "city": stats_json(rollup.city, rollup.form)}


def summary_json(summary: Summary) -> dict[str, Any]:
    """The whole ``--json`` document."""
    current = summary.current
    return {
        "form": summary.form.key,
        "period": summary.period.key,
        "district": current.scope,
        "main_field": summary.form.main_field.key if summary.form.main_field else None,
        "city": stats_json(current.city, summary.form),
        "districts": [stats_json(d, summary.form) for d in current.districts],
        "previous": _rollup_json(summary.previous),
        "year_ago": _rollup_json(summary.year_ago),
    }


async def _with_db(settings: Settings, work: Any) -> Any:
    db = Database(settings.database_url)
    try:
        # A fresh machine has no tables yet: create them rather than fail with "no such table".
        await db.migrate()
        return await work(db)
    finally:
        await db.dispose()


def _fail(exc: UsageError) -> int:
    print(f"schoolbot: {exc}", file=sys.stderr)
    return 2


def run_summary(args: argparse.Namespace, settings: Settings) -> int:
    catalogue = load_catalogue(settings.catalogue_path)

    async def work(db: Database) -> Summary:
        form = _form(catalogue, args.form)
        period = _period(form, args.period, settings)
        now = SystemClock(settings.timezone).now()
        return await summarise(db, form, period, now, settings.timezone, district_id=await _district(db, args.district))

    try:
        summary = asyncio.run(_with_db(settings, work))
    except UsageError as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps(summary_json(summary), ensure_ascii=False, indent=2))
    else:
        print(render_summary_text(summary, args.lang))
    return 0


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    catalogue = load_catalogue(settings.catalogue_path)

    async def work(db: Database) -> tuple[bytes, int, int]:
        form = _form(catalogue, args.form)
        if args.year is not None:
            periods = started_periods_of_year(form, args.year, SystemClock(settings.timezone).now(), settings.timezone)
            if not periods:
                raise UsageError(f"no period of {args.year} has begun yet")
        else:
            periods = [_period(form, args.period, settings)]
        now = SystemClock(settings.timezone).now()
        data = await gather_export(db, form, periods, now, settings.timezone, district_id=await _district(db, args.district))
        return render_xlsx(data, args.lang, settings.timezone), len(data.reports), len(data.missing)

    try:
        workbook, reports, missing = asyncio.run(_with_db(settings, work))
    except UsageError as exc:
        return _fail(exc)
    args.output.write_bytes(workbook)
    print(f"wrote {args.output}: {reports} reports, {missing} missing")
    return 0


def run_annual(args: argparse.Namespace, settings: Settings) -> int:
    catalogue = load_catalogue(settings.catalogue_path)
    now = SystemClock(settings.timezone).now()
    year = args.year if args.year is not None else local_date(now, settings.timezone).year
    if not MIN_YEAR <= year <= MAX_YEAR:
        return _fail(UsageError(f"{year} is not a plausible year"))

    async def work(db: Database) -> tuple[str, bytes]:
        annual = await annual_figures(db, catalogue, year, now, settings.timezone, district_id=await _district(db, args.district))
        return render_annual_text(annual, args.lang), render_annual_docx(annual, args.lang)

    try:
        text, document = asyncio.run(_with_db(settings, work))
    except UsageError as exc:
        return _fail(exc)
    args.output.write_bytes(document)
    print(text)
    print(f"\nwrote {args.output}")
    return 0
