"""When reminders and digests are due: pure functions of a form, a period, the rules and ``now``.

A form's ``reminder_slots`` are days relative to its due date (default
``[-3, 0, 1, 3, 7]``). A slot's *moment* is that day at ``REMINDER_AT``
(09:00) in the office's time zone, moved out of the quiet hours and holidays:

- inside quiet hours (``QUIET_HOURS``, default 21:00–08:00) → the end of the
  quiet hours;
- on a holiday (``HOLIDAYS``, inclusive ranges) → the first day after the
  holiday range, at ``REMINDER_AT``. We move rather than drop: a principal back
  from the winter vacation still hears once that a report is waiting, and
  because slots moved onto the same morning collapse to the latest one (below),
  a vacation that swallowed all five slots yields exactly one reminder.

Nothing is ever sent while ``now`` is in quiet hours or on a holiday, even when
a slot is overdue (after downtime the tick waits for the morning).

At any moment at most one slot per school, form, period and recipient is due:
the *latest* slot whose moment has passed. Older slots that were never sent
(downtime, a principal who registered after the due date) are skipped for good,
so a late registrant gets one reminder, not five, and a clock jumping back
never revives them.

Nothing here touches the database or Telegram; ``scheduler/tick.py`` applies it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from bot.core.catalogue import Form
from bot.core.periods import Period, due_date, reportable_periods
from bot.settings import QuietHours, Settings, WeeklyAt

__all__ = [
    "MANUAL_PREFIX",
    "Decision",
    "Rules",
    "Slot",
    "daily_digest_day",
    "decide",
    "escalated",
    "manual_slot",
    "open_periods",
    "reminder_due",
    "schedule",
    "slot_name",
    "weekly_digest_day",
]

MANUAL_PREFIX = "manual-"
# How long after its moment a missed weekly digest is still sent.
WEEKLY_CATCH_UP = timedelta(days=3)
# Guards the out-of-quiet/holiday walk against a configuration that allows no moment at all.
_MAX_SHIFTS = 400


@dataclass(frozen=True)
class Rules:
    """The office's sending rules: time zone, quiet hours, holidays and the reminder hour."""

    tz: tzinfo
    quiet_hours: QuietHours
    holidays: tuple[tuple[date, date], ...] = ()
    send_at: time = time(9, 0)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Rules":
        return cls(settings.timezone, settings.quiet_hours, settings.holidays, settings.reminder_at)

    def local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment.isoformat()}: pass an aware datetime")
        return moment.astimezone(self.tz)

    def is_holiday(self, day: date) -> bool:
        return any(start <= day <= end for start, end in self.holidays)

    def is_quiet(self, moment: datetime) -> bool:
        return self.quiet_hours.contains(self.local(moment).time())

    def may_send(self, moment: datetime) -> bool:
        """True if an unasked message may go out at ``moment``: not in quiet hours, not on a holiday."""
        local = self.local(moment)
        return not self.is_holiday(local.date()) and not self.quiet_hours.contains(local.time())

    def end_of_quiet(self, moment: datetime) -> datetime:
        """``moment`` if it is outside quiet hours, else the moment they end."""
        local = self.local(moment)
        if not self.quiet_hours.contains(local.time()):
            return local
        end = self.quiet_hours.end
        day = local.date() if local.time() < end else local.date() + timedelta(days=1)
        return datetime.combine(day, end, tzinfo=self.tz)

    def next_allowed(self, moment: datetime, resume_at: time | None = None) -> datetime:
        """The first moment at or after ``moment`` that is neither quiet nor on a holiday.

        A holiday moves to the day after its range at ``resume_at`` (default: the reminder hour).
        """
        resume = resume_at or self.send_at
        local = self.local(moment)
        for _ in range(_MAX_SHIFTS):
            day = local.date()
            if self.is_holiday(day):
                while self.is_holiday(day):  # adjacent ranges: jump them all
                    day = max(end for start, end in self.holidays if start <= day <= end) + timedelta(days=1)
                local = datetime.combine(day, resume, tzinfo=self.tz)
                continue
            if self.quiet_hours.contains(local.time()):
                local = self.end_of_quiet(local)
                continue
            return local
        raise ValueError("no moment outside quiet hours and holidays: check QUIET_HOURS and HOLIDAYS")


def slot_name(offset: int) -> str:
    """The stored name of a slot: ``d-3``, ``d+0``, ``d+7`` (days from the due date)."""
    return f"d{offset:+d}"


def manual_slot(now: datetime, tz: tzinfo) -> str:
    """The slot of a staff nudge made at ``now``: ``manual-202611261030`` (local minute)."""
    return f"{MANUAL_PREFIX}{now.astimezone(tz):%Y%m%d%H%M}"


@dataclass(frozen=True)
class Slot:
    """One scheduled reminder of a form and period."""

    offset: int
    moment: datetime

    @property
    def name(self) -> str:
        return slot_name(self.offset)


@dataclass(frozen=True)
class Decision:
    """What to do for one school, form, period and recipient now."""

    send: Slot
    # Older slots whose moment passed unsent: recorded as skipped so they never fire later.
    skip: tuple[Slot, ...] = ()


def schedule(form: Form, period: Period, rules: Rules) -> list[Slot]:
    """Every reminder slot of ``form`` for ``period`` with its moment, oldest first; [] without a due rule."""
    due = due_date(form, period)
    if due is None:
        return []
    slots = []
    for offset in form.reminder_slots:
        nominal = datetime.combine(due + timedelta(days=offset), rules.send_at, tzinfo=rules.tz)
        slots.append(Slot(offset, rules.next_allowed(nominal)))
    # next_allowed never moves a moment backwards, so offset order is time order (ties possible).
    return slots


def decide(slots: Sequence[Slot], now: datetime, claimed: Collection[str], rules: Rules) -> Decision | None:
    """The slot to send now for one recipient, given the slot names already claimed; None if nothing.

    Only the latest slot whose moment has passed can be sent; if it is claimed, nothing is due.
    """
    if not rules.may_send(now):
        return None
    due = [slot for slot in slots if slot.moment <= now]
    if not due:
        return None
    latest = due[-1]
    if latest.name in claimed:
        return None
    return Decision(latest, tuple(slot for slot in due[:-1] if slot.name not in claimed))


def reminder_due(form: Form, period: Period, now: datetime, rules: Rules, claimed: Collection[str] = ()) -> Decision | None:
    """``decide`` over the form's schedule for ``period``."""
    return decide(schedule(form, period, rules), now, claimed, rules)


def open_periods(form: Form, now: datetime, rules: Rules) -> list[tuple[Period, list[Slot]]]:
    """Periods of ``form`` that are still reportable and whose first reminder moment has come.

    Oldest first, each with its schedule; [] for a form without a due rule (events such as harvests).
    """
    if form.due_days is None or not form.reminder_slots:
        return []
    out = []
    for period in reversed(reportable_periods(form, now, rules.tz)):
        slots = schedule(form, period, rules)
        if slots and slots[0].moment <= now:
            out.append((period, slots))
    return out


def escalated(form: Form, period: Period, today: date, after_days: int) -> bool:
    """True if a report still missing on ``today`` is ``after_days`` or more past its due date."""
    due = due_date(form, period)
    return due is not None and (today - due).days >= after_days


def daily_digest_day(now: datetime, at: time | None, rules: Rules) -> date | None:
    """The day whose daily digest is due at ``now`` (today, once ``at`` has passed), else None.

    Not on holidays (the office is on vacation too) and never in quiet hours.
    """
    if at is None or not rules.may_send(now):
        return None
    today = rules.local(now).date()
    moment = rules.end_of_quiet(datetime.combine(today, at, tzinfo=rules.tz))
    if moment.date() != today:
        # ``at`` sits in the evening part of the quiet hours: today's digest goes when they end this morning.
        moment = datetime.combine(today, rules.quiet_hours.end, tzinfo=rules.tz)
    return today if moment <= now else None


def weekly_digest_day(now: datetime, weekly: WeeklyAt | None, rules: Rules) -> date | None:
    """The scheduled day of the weekly digest due at ``now``, else None.

    Due for ``WEEKLY_CATCH_UP`` after its moment, so a bot that was down on
    Monday morning still sends that week's digest when it comes back, while a
    bot first started on a Sunday does not send last Monday's.
    """
    if weekly is None or not rules.may_send(now):
        return None
    today = rules.local(now).date()
    scheduled = today - timedelta(days=(today.weekday() - weekly.weekday) % 7)
    moment = rules.next_allowed(datetime.combine(scheduled, weekly.at, tzinfo=rules.tz), resume_at=weekly.at)
    if moment <= now < moment + WEEKLY_CATCH_UP and (moment.date() - scheduled).days < 7:
        return scheduled
    return None
