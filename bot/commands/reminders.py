"""``schoolbot reminders``: which reminders and digests go out at a given moment.

Usage::

    schoolbot reminders --at "2026-12-06 09:30"           # what would go out then (nothing is sent)
    schoolbot reminders --at "2026-12-06 09:30" --send    # and send it (needs BOT_TOKEN)
    schoolbot reminders                                   # now
    schoolbot reminders --at "2026-12-06 09:30" --lang en

The moment is local time in ``TIMEZONE``. The answer is computed exactly as the
bot's tick would at that moment, against the configured database: reminders
already recorded as sent are not listed again, so the office can check the
schedule before relying on it. ``--send`` runs that tick for real (recording
every send, so the bot will not repeat them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import defaultdict
from datetime import datetime

from telegram.request import BaseRequest

from bot.core.catalogue import load_catalogue
from bot.core.clock import FixedClock, SystemClock
from bot.services import Services
from bot.core.i18n import LANGUAGES, t
from bot.core.periods import due_date
from bot.settings import Settings
from bot.render.reminder import fmt_date
from scheduler.tick import DIGEST_ESCALATION
from scheduler.plan import Plan, plan_tick
from scheduler.claims import TickReport
from storage.db import Database, head_revision
from storage.reminders import Candidate

_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "reminders",
        help="show (and with --send, send) the reminders and digests due at a moment",
        description="Print the reminders and staff digests the bot would send at --at (local time), "
        "given what the database already records. Nothing is sent without --send.",
    )
    parser.add_argument("--at", metavar='"YYYY-MM-DD HH:MM"', help="local time in TIMEZONE (default: now)")
    parser.add_argument("--send", action="store_true", help="send them now, as the bot's tick would (needs BOT_TOKEN)")
    parser.add_argument("--lang", choices=LANGUAGES, default="zh", help="language of the output (default zh)")
    parser.set_defaults(handler=run)


def parse_at(text: str, settings: Settings) -> datetime:
    """``--at`` as an aware datetime in the office's time zone; ValueError if it is not one."""
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=settings.timezone)
        except ValueError:
            continue
    raise ValueError(text)


def run(args: argparse.Namespace, settings: Settings) -> int:
    lang: str = args.lang
    if args.at is None:
        at = SystemClock(settings.timezone).now().replace(second=0, microsecond=0)
    else:
        try:
            at = parse_at(args.at, settings)
        except ValueError:
            print(t(lang, "remcli.bad_at", value=args.at), file=sys.stderr)
            return 2
    return asyncio.run(reminders(settings, at, send=args.send, lang=lang))


async def reminders(settings: Settings, at: datetime, *, send: bool, lang: str = "zh", request: BaseRequest | None = None) -> int:
    """Print the plan at ``at``; with ``send``, run the tick at ``at`` and print what it did."""
    db = Database(settings.database_url)
    try:
        current, head = await db.current_revision(), head_revision()
        if current != head:
            print(t(lang, "remcli.not_migrated", current=current or "-", head=head), file=sys.stderr)
            return 2
        clock = FixedClock(at, settings.timezone)
        services = Services(settings=settings, db=db, clock=clock, catalogue=load_catalogue(settings.catalogue_path))
        plan = await plan_tick(services, at)
        print_plan(plan, settings, lang)
        if not send:
            print(t(lang, "remcli.dry_run"))
            return 0
        if not settings.token and request is None:
            print(t(lang, "remcli.needs_token"), file=sys.stderr)
            return 2
        report = await _send(settings, db, clock, request)
        if not report.ran:
            print(t(lang, "remcli.not_ours"), file=sys.stderr)
            return 1
        print(
            t(
                lang,
                "remcli.sent",
                sent=report.sent,
                nudges=report.nudges_sent,
                digests=report.digests_sent,
                blocked=report.blocked,
                failed=report.failed,
                retry=report.retry,
            )
        )
        return 0
    finally:
        await db.dispose()


async def _send(settings: Settings, db: Database, clock: FixedClock, request: BaseRequest | None) -> TickReport:
    """One tick at the clock's moment through a real application (rate limiter, delivery, records)."""
    from bot.app import build_application
    from scheduler.tick import ticker_of

    application = build_application(settings, request=request, db=db, clock=clock)
    async with application:
        return await ticker_of(application).tick()


def _print_reminders(plan: Plan, settings: Settings, lang: str) -> None:
    """The plan's reminders by form, period and slot, each school with its reporters (to send, busy, blocked)."""
    tz = settings.timezone
    print()
    print(t(lang, "remcli.reminders_title"))
    if not plan.reminders:
        print("  " + t(lang, "remcli.no_reminders"))
    for due in plan.reminders:
        deadline = due_date(due.form, due.period)
        print(
            t(
                lang,
                "remcli.group",
                form=due.form.title.get(lang),
                period=due.period.label(lang),
                due=fmt_date(deadline, lang) if deadline else "-",
                slot=due.slot.name,
                slot_when=f"{due.slot.moment.astimezone(tz):%Y-%m-%d %H:%M}",
            )
        )
        for action, key in (("send", "remcli.school"), ("busy", "remcli.busy"), ("blocked", "remcli.blocked")):
            by_school: dict[int, list[Candidate]] = defaultdict(list)
            for candidate in due.candidates:
                if candidate.action == action:
                    by_school[candidate.school_id].append(candidate)
            for school_items in by_school.values():
                names = t(lang, "digest.names_sep").join(c.person_name for c in school_items)
                print(
                    t(
                        lang,
                        key,
                        school=school_items[0].school_name,
                        code=school_items[0].school_code,
                        names=names,
                        minutes=settings.draft_idle_minutes,
                    )
                )
        if due.skip:
            print(t(lang, "remcli.skips", slots=", ".join(due.skip)))


def print_plan(plan: Plan, settings: Settings, lang: str) -> None:
    """The plan as the office reads it: reminders by form, period and slot; nudges; digests."""
    rules = plan.rules
    tz = settings.timezone
    print(t(lang, "remcli.header", at=f"{plan.now.astimezone(tz):%Y-%m-%d %H:%M}", tz=str(tz)))
    if not rules.may_send(plan.now):
        following = rules.next_allowed(plan.now, resume_at=rules.quiet_hours.end)
        key = "remcli.quiet" if rules.is_quiet(plan.now) else "remcli.holiday"
        quiet = settings.quiet_hours
        print(t(lang, key, quiet=f"{quiet.start:%H:%M}–{quiet.end:%H:%M}", next=f"{following:%Y-%m-%d %H:%M}"))
    reminders = plan.by_action("send")
    _print_reminders(plan, settings, lang)
    if plan.manual:
        print()
        print(t(lang, "remcli.nudges_title"))
        for row in plan.manual:
            print(t(lang, "remcli.nudge", school=row.school_name, form_key=row.form_key, period=row.period, name=row.person_name))
    print()
    print(t(lang, "remcli.digests_title"))
    if not plan.digests:
        print("  " + t(lang, "remcli.no_digests"))
    for digest in plan.digests:
        if digest.kind == DIGEST_ESCALATION:
            key = "remcli.digest_escalation" if digest.text else "remcli.digest_escalation_empty"
            print(t(lang, key, name=digest.recipient.name, schools=digest.schools, unreachable=digest.unreachable))
        else:
            print(t(lang, "remcli.digest_weekly", name=digest.recipient.name))
    print()
    print(
        t(
            lang,
            "remcli.totals",
            reminders=len(reminders),
            nudges=len(plan.manual),
            digests=sum(1 for d in plan.digests if d.text),
        )
    )
