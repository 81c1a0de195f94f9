"""``schoolbot summary | export | annual``: the office's figures from the command line.

Usage::

    schoolbot summary --form milk --period 2026-10          # the table /summary shows
    schoolbot summary --form milk --period 2026-10 --json   # the roll-up as JSON, for scripts
    schoolbot export --form milk --period 2026-10 -o milk-2026-10.xlsx
    schoolbot export --form harvest --year 2026 -o harvest-2026.xlsx
    schoolbot annual --year 2026 -o annual-2026.docx         # also prints the draft

``--district NAME`` limits any of them to one district, as for district staff;
``--lang en`` writes English (Chinese by default). Without ``--period`` the
newest finished period is used; without ``--year`` (annual) the current year.
``export`` refuses, in one line and with exit status 2, an ``-o`` it cannot
write (a folder that does not exist, a path that is a folder, no permission).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.core.catalogue import Catalogue, Form, load_catalogue
from bot.core.clock import SystemClock
from bot.core.coverage import Coverage
from bot.core.i18n import LANGUAGES, t
from bot.core.periods import Period, local_date
from bot.render.annual import render_annual_text
from bot.render.annual_docx import render_annual_docx
from bot.render.table import render_summary_text
from bot.render.missing import split_missing
from bot.render.xlsx import render_xlsx
from bot.office.args import MAX_YEAR, MIN_YEAR, BadPeriod, UnknownForm, form_arg, last_finished_period, period_arg
from bot.office.annual import annual_figures
from bot.office.summary import (
    Rollup,
    Stats,
    Summary,
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


# The argument readers speak English unless told otherwise (``summary`` has always printed English errors).
def _form(catalogue: Catalogue, key: str, lang: str = "en") -> Form:
    try:
        return form_arg(catalogue, key)
    except UnknownForm:
        forms = ", ".join(f.key for f in catalogue)
        raise UsageError(t(lang, "export.cli_no_form", form=key, forms=forms)) from None


def _period(form: Form, text: str | None, settings: Settings, lang: str = "en") -> Period:
    if text is None:
        return last_finished_period(form, SystemClock(settings.timezone).now(), settings.timezone)
    try:
        return period_arg(form, text)
    except BadPeriod:
        example = last_finished_period(form, SystemClock(settings.timezone).now(), settings.timezone).key
        cadence = form.period_cadence.value
        raise UsageError(t(lang, "export.cli_bad_period", text=text, form=form.key, cadence=cadence, example=example)) from None


async def _district(db: Database, name: str | None, lang: str = "en") -> int | None:
    if name is None:
        return None
    async with db.session() as session:
        district = await district_by_name(session, name)
    if district is None:
        raise UsageError(t(lang, "export.cli_no_district", name=name))
    return district.id


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def coverage_json(coverage: Coverage) -> dict[str, Any]:
    """One period's coverage: its state (open, due, late, closed), due date and who reported."""
    return {
        "period": coverage.period.key,
        "state": coverage.state.value,
        "due": coverage.due.isoformat() if coverage.due is not None else None,
        "expected": coverage.expected,
        "reported": coverage.reported,
        "on_time": coverage.on_time,
        "missing": coverage.missing,
        "complete": coverage.complete,
    }


def stats_json(stats: Stats, form: Form) -> dict[str, Any]:
    """One district's (or the city's) figures as plain JSON types; null where nobody reported (未报), never 0."""
    fields = {}
    for field in form.numeric_fields:
        agg = stats.aggregate(field.key)
        answered = agg.count > 0
        fields[field.key] = {
            "count": agg.count,
            # The field's figure by its rules (across schools, then periods); null: nobody answered it.
            "figure": _number(stats.figure(field.key)),
            "sum": _number(agg.total) if answered else None,
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
        "unreported": stats.unreported,
        "coverage": [coverage_json(c) for c in stats.coverage],
        "fields": fields,
        # Warnings confirmed with a reason (issue 13); counted for the period asked only.
        "flags": stats.flags,
        # Approval coverage (issue 15): reports the office approved, of ``reports``.
        "approved": stats.approved,
    }


def _rollup_json(summary: Summary, rollup: Rollup) -> dict[str, Any]:
    return {
        "period": rollup.periods[0].key,
        # False: coverage differs (stage or completeness), so the text says 暂不比较 instead of a change.
        "comparable": summary.comparable(rollup),
        "city": stats_json(rollup.city, rollup.form),
    }


def summary_json(summary: Summary) -> dict[str, Any]:
    """The whole ``--json`` document."""
    current = summary.current
    (coverage,) = current.coverage
    return {
        "form": summary.form.key,
        "period": summary.period.key,
        "state": coverage.state.value,
        "due": coverage.due.isoformat() if coverage.due is not None else None,
        "district": current.scope,
        "main_field": summary.form.main_field.key if summary.form.main_field else None,
        "city": stats_json(current.city, summary.form),
        "districts": [stats_json(d, summary.form) for d in current.districts],
        "previous": _rollup_json(summary, summary.previous),
        "year_ago": _rollup_json(summary, summary.year_ago),
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


def _writable(path: Path, lang: str) -> None:
    """Refuse, before any work, an output path that cannot be written: the reason in one line."""
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(t(lang, "export.cli_no_folder", file=path, folder=folder))
    if path.is_dir():
        raise UsageError(t(lang, "export.cli_not_writable", file=path, reason=os.strerror(errno.EISDIR)))


def _write(path: Path, data: bytes, lang: str) -> None:
    """Write the file, or say in one line why not (no permission, a full disk...)."""
    try:
        path.write_bytes(data)
    except FileNotFoundError:
        raise UsageError(t(lang, "export.cli_no_folder", file=path, folder=path.parent)) from None
    except OSError as exc:
        raise UsageError(t(lang, "export.cli_not_writable", file=path, reason=exc.strerror or exc)) from None


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    catalogue = load_catalogue(settings.catalogue_path)
    lang = args.lang
    now = SystemClock(settings.timezone).now()

    async def work(db: Database) -> tuple[bytes, int, int, int]:
        form = _form(catalogue, args.form, lang)
        if args.year is not None:
            periods = started_periods_of_year(form, args.year, now, settings.timezone)
            if not periods:
                raise UsageError(t(lang, "export.cli_year_not_begun", year=args.year))
        else:
            periods = [_period(form, args.period, settings, lang)]
        district_id = await _district(db, args.district, lang)
        data = await gather_export(db, form, periods, now, settings.timezone, district_id=district_id)
        late, pending = split_missing(form, data.missing, now, settings.timezone)
        return render_xlsx(data, lang, now, settings.timezone), len(data.reports), len(late), len(pending)

    try:
        _writable(args.output, lang)
        workbook, reports, missing, pending = asyncio.run(_with_db(settings, work))
        _write(args.output, workbook, lang)
    except UsageError as exc:
        return _fail(exc)
    print(t(lang, "export.cli_wrote", file=args.output, reports=reports, missing=missing, pending=pending))
    return 0


def run_annual(args: argparse.Namespace, settings: Settings) -> int:
    lang = args.lang
    catalogue = load_catalogue(settings.catalogue_path)
    now = SystemClock(settings.timezone).now()
    year = args.year if args.year is not None else local_date(now, settings.timezone).year
    if not MIN_YEAR <= year <= MAX_YEAR:
        return _fail(UsageError(t(lang, "annual.cli_bad_year", year=year)))
    output: Path = args.output
    if not output.parent.is_dir():
        # One line, not a traceback after the whole draft was computed.
        return _fail(UsageError(t(lang, "annual.cli_no_folder", folder=output.parent)))

    async def work(db: Database) -> tuple[str, bytes]:
        district_id = None
        if args.district is not None:
            async with db.session() as session:
                district = await district_by_name(session, args.district)
            if district is None:
                raise UsageError(t(lang, "annual.cli_no_district", name=args.district))
            district_id = district.id
        annual = await annual_figures(db, catalogue, year, now, settings.timezone, district_id=district_id)
        office = settings.office_name
        return render_annual_text(annual, lang, office=office), render_annual_docx(annual, lang, office=office)

    try:
        text, document = asyncio.run(_with_db(settings, work))
    except UsageError as exc:
        return _fail(exc)
    output.write_bytes(document)
    print(text)
    print("\n" + t(lang, "annual.cli_wrote", path=output))
    return 0
