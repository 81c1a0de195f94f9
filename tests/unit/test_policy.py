"""The reminder policy, without a database: slot moments, quiet hours, holidays, catch-up."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.catalogue import load_catalogue
from bot.core.periods import parse_period
from bot.settings import QuietHours, WeeklyAt
from scheduler.policy import (
    Rules,
    daily_digest_day,
    decide,
    escalated,
    manual_slot,
    open_periods,
    reminder_due,
    schedule,
    slot_name,
    weekly_digest_day,
)

TZ = ZoneInfo("Asia/Shanghai")
CATALOGUE = load_catalogue()
MILK = CATALOGUE.get("milk")  # monthly, due 5 days after the month ends
HARVEST = CATALOGUE.get("harvest")  # event form, no due rule
NOV = parse_period(MILK.period_cadence, "2026-11")  # due 2026-12-05


def rules(quiet: str = "21:00-08:00", holidays: tuple[tuple[date, date], ...] = (), send_at: time = time(9)) -> Rules:
    return Rules(TZ, QuietHours.parse(quiet), holidays, send_at)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


def test_slots_are_due_date_offsets_at_the_reminder_hour() -> None:
    slots = schedule(MILK, NOV, rules())
    due = date(2026, 12, 5)
    assert [s.name for s in slots] == ["d-3", "d+0", "d+1", "d+3", "d+7"]
    assert [s.moment for s in slots] == [at(due + timedelta(days=o), 9) for o in (-3, 0, 1, 3, 7)]


def test_slot_names_are_signed_day_offsets() -> None:
    assert (slot_name(-3), slot_name(0), slot_name(7)) == ("d-3", "d+0", "d+7")
    assert manual_slot(datetime(2026, 11, 26, 2, 30, tzinfo=ZoneInfo("UTC")), TZ) == "manual-202611261030"


def test_slot_inside_quiet_hours_moves_to_their_end() -> None:
    # Quiet until 10:30: the 09:00 reminder waits for 10:30 the same morning.
    slots = schedule(MILK, NOV, rules(quiet="21:00-10:30"))
    assert slots[1].moment == at(date(2026, 12, 5), 10, 30)
    assert all(not rules(quiet="21:00-10:30").is_quiet(s.moment) for s in slots)


def test_due_date_inside_quiet_hours_is_sent_at_their_end() -> None:
    r = rules(quiet="21:00-10:30")
    due_morning = at(date(2026, 12, 5), 9, 30)
    assert reminder_due(MILK, NOV, due_morning, r) is None  # quiet: nothing yet
    decision = reminder_due(MILK, NOV, at(date(2026, 12, 5), 10, 30), r)
    assert decision is not None and decision.send.name == "d+0"


def test_reminder_hour_in_evening_quiet_hours_moves_to_next_morning() -> None:
    slots = schedule(MILK, NOV, rules(send_at=time(22)))
    assert slots[0].moment == at(date(2026, 12, 3), 8)


def test_daytime_quiet_window_moves_to_its_end_same_day() -> None:
    slots = schedule(MILK, NOV, rules(quiet="08:30-11:00"))
    assert slots[0].moment == at(date(2026, 12, 2), 11)


def test_nothing_is_sent_during_quiet_hours_even_when_overdue() -> None:
    # At 23:00 on the due day the d+0 slot has passed, but it is night.
    assert reminder_due(MILK, NOV, at(date(2026, 12, 5), 23), rules()) is None
    decision = reminder_due(MILK, NOV, at(date(2026, 12, 6), 8), rules())
    assert decision is not None and decision.send.name == "d+0"


def test_slot_on_a_holiday_moves_to_the_day_after_the_range() -> None:
    r = rules(holidays=((date(2026, 12, 4), date(2026, 12, 6)),))
    moments = {s.name: s.moment for s in schedule(MILK, NOV, r)}
    assert moments["d-3"] == at(date(2026, 12, 2), 9)
    # d+0 (5th) and d+1 (6th) fall in the holiday: both move to the 7th.
    assert moments["d+0"] == moments["d+1"] == at(date(2026, 12, 7), 9)
    assert moments["d+3"] == at(date(2026, 12, 8), 9)


def test_adjacent_holiday_ranges_are_jumped_together() -> None:
    r = rules(holidays=((date(2026, 12, 1), date(2026, 12, 4)), (date(2026, 12, 5), date(2026, 12, 9))))
    moments = {s.name: s.moment for s in schedule(MILK, NOV, r)}
    assert moments["d-3"] == moments["d+0"] == moments["d+3"] == at(date(2026, 12, 10), 9)


def test_holiday_collapsing_slots_sends_one_reminder_after_it() -> None:
    # A winter vacation over the whole reminder window of January's milk report (due 5 Feb).
    jan = parse_period(MILK.period_cadence, "2027-01")
    r = rules(holidays=((date(2027, 1, 20), date(2027, 2, 20)),))
    assert reminder_due(MILK, jan, at(date(2027, 2, 10), 10), r) is None  # on holiday
    decision = reminder_due(MILK, jan, at(date(2027, 2, 21), 9, 5), r)
    assert decision is not None and decision.send.name == "d+7"
    assert [s.name for s in decision.skip] == ["d-3", "d+0", "d+1", "d+3"]
    assert reminder_due(MILK, jan, at(date(2027, 2, 21), 15), r, claimed={"d+7", "d-3", "d+0", "d+1", "d+3"}) is None


def test_nothing_is_sent_on_a_holiday() -> None:
    r = rules(holidays=((date(2026, 12, 20), date(2026, 12, 20)),))
    assert not r.may_send(at(date(2026, 12, 20), 12))
    assert r.may_send(at(date(2026, 12, 21), 12))


def test_form_without_due_rule_has_no_reminders() -> None:
    q4 = parse_period(HARVEST.period_cadence, "2026-Q4")
    assert schedule(HARVEST, q4, rules()) == []
    assert reminder_due(HARVEST, q4, at(date(2027, 1, 20), 10), rules()) is None
    assert open_periods(HARVEST, at(date(2027, 1, 20), 10), rules()) == []


def test_latecomer_gets_only_the_latest_slot_not_the_backlog() -> None:
    # A principal who registers on 10 December, after d-3, d+0, d+1 and d+3 passed.
    decision = reminder_due(MILK, NOV, at(date(2026, 12, 10), 14), rules())
    assert decision is not None
    assert decision.send.name == "d+3"
    assert [s.name for s in decision.skip] == ["d-3", "d+0", "d+1"]
    # Once d+3 is claimed nothing more is due until d+7.
    assert reminder_due(MILK, NOV, at(date(2026, 12, 11), 14), rules(), claimed={"d+3"}) is None
    later = reminder_due(MILK, NOV, at(date(2026, 12, 12), 9), rules(), claimed={"d+3"})
    assert later is not None and later.send.name == "d+7"


def test_each_slot_is_due_once_in_order() -> None:
    sent: list[str] = []
    moment = at(date(2026, 11, 28), 0)
    while moment < at(date(2026, 12, 20), 0):
        decision = reminder_due(MILK, NOV, moment, rules(), claimed=set(sent))
        if decision is not None:
            assert not decision.skip
            sent.append(decision.send.name)
        moment += timedelta(minutes=20)
    assert sent == ["d-3", "d+0", "d+1", "d+3", "d+7"]


def test_claimed_latest_slot_means_nothing_due_even_if_older_unclaimed() -> None:
    slots = schedule(MILK, NOV, rules())
    assert decide(slots, at(date(2026, 12, 9), 10), {"d+3"}, rules()) is None


def test_custom_slots_from_the_catalogue_are_used() -> None:
    custom = MILK.model_copy(update={"reminder_slots": [-1, 2]})
    assert [s.name for s in schedule(custom, NOV, rules())] == ["d-1", "d+2"]


def test_open_periods_start_at_the_first_slot_and_end_at_the_lock() -> None:
    # 1 Dec: November's first slot (2 Dec) has not come; October's (2 Nov) has.
    periods = [p.key for p, _ in open_periods(MILK, at(date(2026, 12, 1), 10), rules())]
    assert periods == ["2026-09", "2026-10"]
    periods = [p.key for p, _ in open_periods(MILK, at(date(2026, 12, 2), 10), rules())]
    assert periods == ["2026-09", "2026-10", "2026-11"]
    # September (due 5 Oct) locks 60 days later, after 4 Dec.
    periods = [p.key for p, _ in open_periods(MILK, at(date(2026, 12, 5), 10), rules())]
    assert periods == ["2026-10", "2026-11"]


def test_escalation_starts_the_configured_days_after_due() -> None:
    assert not escalated(MILK, NOV, date(2026, 12, 11), 7)
    assert escalated(MILK, NOV, date(2026, 12, 12), 7)
    assert not escalated(HARVEST, parse_period(HARVEST.period_cadence, "2026-Q4"), date(2027, 6, 1), 7)


def test_daily_digest_is_due_after_its_time_once_quiet_hours_end() -> None:
    r = rules(quiet="21:00-09:30")
    assert daily_digest_day(at(date(2026, 12, 1), 9, 10), time(9), r) is None
    assert daily_digest_day(at(date(2026, 12, 1), 9, 30), time(9), r) == date(2026, 12, 1)
    assert daily_digest_day(at(date(2026, 12, 1), 20), time(9), r) == date(2026, 12, 1)
    assert daily_digest_day(at(date(2026, 12, 1), 20), None, r) is None


def test_weekly_digest_is_due_from_its_moment_for_a_few_days() -> None:
    monday_9 = WeeklyAt.parse("MON 09:00")
    # 2026-11-30 is a Monday.
    assert weekly_digest_day(at(date(2026, 11, 30), 8, 30), monday_9, rules()) is None
    assert weekly_digest_day(at(date(2026, 11, 30), 9), monday_9, rules()) == date(2026, 11, 30)
    assert weekly_digest_day(at(date(2026, 12, 2), 15), monday_9, rules()) == date(2026, 11, 30)
    # A bot first started (or back) on Sunday does not send last Monday's digest.
    assert weekly_digest_day(at(date(2026, 11, 29), 15), monday_9, rules()) is None


def test_weekday_numbering_is_monday_zero() -> None:
    # PTB's run_daily counts 0 = Sunday; we count as date.weekday(): WED is 2.
    assert WeeklyAt.parse("WED 10:00").weekday == 2 == date(2026, 12, 2).weekday()


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        rules().may_send(datetime(2026, 12, 5, 10))


def test_quiet_hours_covering_every_moment_is_reported() -> None:
    r = Rules(TZ, QuietHours.parse("00:00-23:59"), (), time(9))
    # 23:59 is the only minute allowed: a reminder goes then, not never.
    assert schedule(MILK, NOV, r)[0].moment == at(date(2026, 12, 2), 23, 59)


def test_every_reminder_text_key_used_exists_in_both_languages() -> None:
    import re
    from pathlib import Path

    from bot.core.i18n import messages

    root = Path(__file__).resolve().parents[2]
    sources = [
        *sorted((root / "scheduler").glob("*.py")),
        root / "handlers" / "overdue.py",
        root / "bot" / "commands" / "reminders.py",
        # Where the texts live since the rooms were split: the office's /overdue, the rendered digests.
        root / "bot" / "office" / "overdue.py",
        *sorted((root / "bot" / "render").glob("*.py")),
    ]
    used = {
        key
        for path in sources
        for key in re.findall(r"\"((?:reminders|digest|overdue|remcli)\.[a-z_]+)\"", path.read_text(encoding="utf-8"))
    }
    assert len(used) > 40
    known = messages()
    assert sorted(key for key in used if key not in known) == []
    assert all(known[key]["zh"] and known[key]["en"] for key in used)
