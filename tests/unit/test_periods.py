"""Reporting periods, due dates, lateness and locks at injected times in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.catalogue import Cadence, Form, load_catalogue, load_catalogue_text
from bot.core.periods import (
    DEFAULT_TZ,
    Period,
    default_period,
    due_date,
    is_late,
    is_locked,
    local_date,
    lock_date,
    parse_period,
    period_of,
    periods_between,
    reportable_periods,
    year_periods,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
PERIOD_CADENCES = [Cadence.MONTHLY, Cadence.QUARTERLY, Cadence.SEMESTER, Cadence.YEARLY]

CATALOGUE = load_catalogue()
MILK = CATALOGUE.get("milk")  # monthly, due 5 days after month end, lock 60
HARVEST = CATALOGUE.get("harvest")  # event, per quarter, no due rule
INSURANCE = CATALOGUE.get("insurance")  # semester, due 15 days after


def at(text: str, tz: ZoneInfo = SHANGHAI) -> datetime:
    """An aware datetime from an ISO text, read in ``tz``."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def keys(periods: list[Period]) -> list[str]:
    return [period.key for period in periods]


# --- keys and labels ---------------------------------------------------------


@pytest.mark.parametrize(
    ("cadence", "day", "key", "start", "end"),
    [
        (Cadence.MONTHLY, date(2026, 11, 28), "2026-11", date(2026, 11, 1), date(2026, 11, 30)),
        (Cadence.QUARTERLY, date(2026, 11, 28), "2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
        (Cadence.QUARTERLY, date(2026, 1, 1), "2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
        (Cadence.SEMESTER, date(2026, 3, 1), "2026-S1", date(2026, 2, 1), date(2026, 7, 31)),
        (Cadence.SEMESTER, date(2026, 11, 28), "2026-S2", date(2026, 8, 1), date(2027, 1, 31)),
        (Cadence.YEARLY, date(2026, 11, 28), "2026", date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_period_of_day_has_expected_key_and_bounds(cadence: Cadence, day: date, key: str, start: date, end: date) -> None:
    period = period_of(cadence, day)
    assert (period.key, period.start, period.end) == (key, start, end)


def test_autumn_semester_spans_new_year() -> None:
    january = period_of(Cadence.SEMESTER, date(2027, 1, 31))
    assert january.key == "2026-S2"
    assert january.start == date(2026, 8, 1)
    assert period_of(Cadence.SEMESTER, date(2027, 2, 1)).key == "2027-S1"


def test_semester_boundaries_are_feb_first_and_aug_first() -> None:
    assert period_of(Cadence.SEMESTER, date(2026, 7, 31)).key == "2026-S1"
    assert period_of(Cadence.SEMESTER, date(2026, 8, 1)).key == "2026-S2"
    assert period_of(Cadence.SEMESTER, date(2026, 1, 31)).key == "2025-S2"


def test_leap_year_february_has_29_days() -> None:
    assert period_of(Cadence.MONTHLY, date(2028, 2, 10)).end == date(2028, 2, 29)
    assert period_of(Cadence.MONTHLY, date(2026, 2, 10)).end == date(2026, 2, 28)
    assert parse_period(Cadence.MONTHLY, "2028-02").contains(date(2028, 2, 29))


def test_leap_year_autumn_semester_ends_on_january_31() -> None:
    assert period_of(Cadence.SEMESTER, date(2027, 9, 1)).end == date(2028, 1, 31)


@pytest.mark.parametrize(
    ("cadence", "key", "zh", "en"),
    [
        (Cadence.MONTHLY, "2026-11", "2026年11月", "November 2026"),
        (Cadence.MONTHLY, "2026-01", "2026年1月", "January 2026"),
        (Cadence.QUARTERLY, "2026-Q4", "2026年第四季度", "Q4 2026"),
        (Cadence.QUARTERLY, "2026-Q1", "2026年第一季度", "Q1 2026"),
        (Cadence.SEMESTER, "2026-S1", "2026年春季学期", "Spring semester 2026"),
        (Cadence.SEMESTER, "2026-S2", "2026年秋季学期", "Autumn semester 2026–27"),
        (Cadence.SEMESTER, "2099-S2", "2099年秋季学期", "Autumn semester 2099–00"),
        (Cadence.YEARLY, "2026", "2026年", "2026"),
    ],
)
def test_labels_in_both_languages(cadence: Cadence, key: str, zh: str, en: str) -> None:
    period = parse_period(cadence, key)
    assert period.label("zh") == zh
    assert period.label("en") == en
    assert period.label(None) == zh


def test_label_accepts_telegram_language_codes() -> None:
    assert parse_period(Cadence.MONTHLY, "2026-11").label("en-GB") == "November 2026"


# --- navigation ----------------------------------------------------------------


def test_next_and_previous_cross_year_boundaries() -> None:
    december = parse_period(Cadence.MONTHLY, "2026-12")
    assert december.next().key == "2027-01"
    assert december.next().previous() == december
    assert parse_period(Cadence.QUARTERLY, "2026-Q1").previous().key == "2025-Q4"
    assert parse_period(Cadence.SEMESTER, "2026-S2").next().key == "2027-S1"
    assert parse_period(Cadence.SEMESTER, "2026-S1").previous().key == "2025-S2"
    assert parse_period(Cadence.YEARLY, "2026").next().key == "2027"


def test_contains_includes_both_ends() -> None:
    period = parse_period(Cadence.MONTHLY, "2026-11")
    assert period.contains(date(2026, 11, 1))
    assert period.contains(date(2026, 11, 30))
    assert not period.contains(date(2026, 12, 1))
    assert not period.contains(date(2026, 10, 31))


def test_periods_sort_by_time() -> None:
    periods = [parse_period(Cadence.MONTHLY, key) for key in ("2026-11", "2025-12", "2026-02")]
    assert keys(sorted(periods)) == ["2025-12", "2026-02", "2026-11"]


def test_periods_between_covers_partial_periods_at_both_ends() -> None:
    assert keys(periods_between(Cadence.MONTHLY, date(2026, 10, 15), date(2027, 1, 2))) == [
        "2026-10",
        "2026-11",
        "2026-12",
        "2027-01",
    ]
    assert keys(periods_between(Cadence.SEMESTER, date(2026, 1, 1), date(2026, 12, 31))) == [
        "2025-S2",
        "2026-S1",
        "2026-S2",
    ]


def test_periods_between_reversed_range_is_empty() -> None:
    assert periods_between(Cadence.MONTHLY, date(2026, 12, 1), date(2026, 11, 1)) == []


@pytest.mark.parametrize(
    ("cadence", "expected"),
    [
        (Cadence.MONTHLY, [f"2026-{m:02d}" for m in range(1, 13)]),
        (Cadence.QUARTERLY, ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]),
        (Cadence.SEMESTER, ["2026-S1", "2026-S2"]),
        (Cadence.YEARLY, ["2026"]),
    ],
)
def test_year_periods_are_those_starting_in_the_year(cadence: Cadence, expected: list[str]) -> None:
    assert keys(year_periods(cadence, 2026)) == expected


# --- parsing keys --------------------------------------------------------------


@pytest.mark.parametrize(
    ("cadence", "key"),
    [
        (Cadence.MONTHLY, "2026-13"),
        (Cadence.MONTHLY, "2026-00"),
        (Cadence.MONTHLY, "2026-1"),
        (Cadence.MONTHLY, "abc"),
        (Cadence.MONTHLY, "2026-Q4"),
        (Cadence.MONTHLY, ""),
        (Cadence.QUARTERLY, "2026-Q5"),
        (Cadence.QUARTERLY, "2026-Q0"),
        (Cadence.QUARTERLY, "2026-11"),
        (Cadence.SEMESTER, "2026-S3"),
        (Cadence.SEMESTER, "2026"),
        (Cadence.YEARLY, "2026-11"),
        (Cadence.YEARLY, "26"),
    ],
)
def test_bad_period_keys_are_refused_with_the_key_in_the_message(cadence: Cadence, key: str) -> None:
    with pytest.raises(ValueError, match=cadence.value) as info:
        parse_period(cadence, key)
    assert repr(key) in str(info.value)


def test_event_is_not_a_period_cadence() -> None:
    with pytest.raises(ValueError, match="event"):
        period_of(Cadence.EVENT, date(2026, 11, 28))
    with pytest.raises(ValueError, match="event"):
        parse_period(Cadence.EVENT, "2026-11")


@given(st.sampled_from(PERIOD_CADENCES), st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 12, 31)))
def test_every_day_lies_in_exactly_one_period_and_keys_round_trip(cadence: Cadence, day: date) -> None:
    period = period_of(cadence, day)
    assert period.contains(day)
    assert parse_period(cadence, period.key) == period
    assert period.next().start == period.end + timedelta(days=1)
    assert period.previous().end == period.start - timedelta(days=1)


# --- local dates -----------------------------------------------------------------


def test_local_date_uses_the_given_zone() -> None:
    evening_utc = datetime(2026, 12, 5, 16, 30, tzinfo=UTC)  # 00:30 on 6 Dec in Shanghai
    assert local_date(evening_utc, SHANGHAI) == date(2026, 12, 6)
    assert local_date(evening_utc, UTC) == date(2026, 12, 5)
    assert local_date(evening_utc) == date(2026, 12, 6)  # Asia/Shanghai by default
    assert DEFAULT_TZ == SHANGHAI


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2026, 11, 28, 12, 0))
    with pytest.raises(ValueError, match="naive"):
        is_late(MILK, parse_period(Cadence.MONTHLY, "2026-11"), datetime(2026, 12, 6), SHANGHAI)


# --- due dates, lateness, locks ------------------------------------------------------


def test_monthly_due_date_is_five_days_after_month_end() -> None:
    assert due_date(MILK, parse_period(Cadence.MONTHLY, "2026-11")) == date(2026, 12, 5)


def test_december_due_date_rolls_into_next_year() -> None:
    assert due_date(MILK, parse_period(Cadence.MONTHLY, "2026-12")) == date(2027, 1, 5)


def test_february_due_date_follows_leap_day() -> None:
    assert due_date(MILK, parse_period(Cadence.MONTHLY, "2028-02")) == date(2028, 3, 5)
    assert due_date(MILK, parse_period(Cadence.MONTHLY, "2026-02")) == date(2026, 3, 5)


def test_autumn_semester_is_due_in_february() -> None:
    assert due_date(INSURANCE, parse_period(Cadence.SEMESTER, "2026-S2")) == date(2027, 2, 15)


def test_form_without_due_rule_has_no_due_date_and_is_never_late() -> None:
    q4 = parse_period(Cadence.QUARTERLY, "2026-Q4")
    assert due_date(HARVEST, q4) is None
    assert not is_late(HARVEST, q4, at("2030-01-01T12:00"), SHANGHAI)


def test_lock_date_counts_from_due_date() -> None:
    assert lock_date(MILK, parse_period(Cadence.MONTHLY, "2026-09")) == date(2026, 12, 4)


def test_lock_date_counts_from_period_end_without_due_rule() -> None:
    assert lock_date(HARVEST, parse_period(Cadence.QUARTERLY, "2026-Q3")) == date(2026, 11, 29)


def test_period_of_another_cadence_is_refused() -> None:
    with pytest.raises(ValueError, match="milk"):
        due_date(MILK, parse_period(Cadence.QUARTERLY, "2026-Q4"))


def test_report_on_the_last_second_of_due_day_is_on_time() -> None:
    november = parse_period(Cadence.MONTHLY, "2026-11")
    assert not is_late(MILK, november, at("2026-12-05T23:59:59"), SHANGHAI)
    assert is_late(MILK, november, at("2026-12-06T00:00:00"), SHANGHAI)


def test_lateness_is_judged_in_the_office_zone_not_utc() -> None:
    november = parse_period(Cadence.MONTHLY, "2026-11")
    # 16:00 UTC on the 5th is already midnight of the 6th in Shanghai.
    submitted = datetime(2026, 12, 5, 16, 0, tzinfo=UTC)
    assert is_late(MILK, november, submitted, SHANGHAI)
    assert not is_late(MILK, november, submitted, UTC)
    assert not is_late(MILK, november, datetime(2026, 12, 5, 15, 59, tzinfo=UTC), SHANGHAI)


def test_period_locks_the_day_after_lock_date() -> None:
    september = parse_period(Cadence.MONTHLY, "2026-09")  # lock date 4 Dec
    assert not is_locked(MILK, september, at("2026-12-04T23:59"), SHANGHAI)
    assert is_locked(MILK, september, at("2026-12-05T00:00"), SHANGHAI)
    assert is_locked(MILK, september, datetime(2026, 12, 4, 16, 0, tzinfo=UTC), SHANGHAI)


# --- which periods a principal may report ---------------------------------------------


def test_reportable_monthly_periods_newest_first_until_locked() -> None:
    # Issue 13: November is not over on the 28th, so it is not offered.
    assert keys(reportable_periods(MILK, at("2026-11-28T10:00"), SHANGHAI)) == ["2026-10", "2026-09"]


def test_reportable_periods_drop_a_period_after_its_lock_date() -> None:
    assert keys(reportable_periods(MILK, at("2026-12-05T10:00"), SHANGHAI)) == ["2026-11", "2026-10"]


def test_future_periods_are_not_reportable() -> None:
    periods = reportable_periods(MILK, at("2026-11-28T10:00"), SHANGHAI)
    assert all(period.start <= date(2026, 11, 28) for period in periods)


def test_event_forms_report_into_their_event_period() -> None:
    # Q3 ends 30 Sep; without a due rule it locks 60 days later, on 29 Nov.
    assert keys(reportable_periods(HARVEST, at("2026-11-28T10:00"), SHANGHAI)) == ["2026-Q4", "2026-Q3"]
    assert keys(reportable_periods(HARVEST, at("2026-11-30T10:00"), SHANGHAI)) == ["2026-Q4"]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-28T10:00", "2026-10"),  # issue 13: November is not over yet
        ("2026-12-03T10:00", "2026-11"),
        ("2026-12-05T23:59", "2026-11"),
        ("2026-12-06T00:00", "2026-11"),  # overdue now, and December is not over
        ("2026-12-31T10:00", "2026-11"),
    ],
)
def test_default_period_is_the_one_currently_due(now: str, expected: str) -> None:
    assert default_period(MILK, at(now), SHANGHAI).key == expected


def test_default_period_at_year_end_in_utc_uses_office_date() -> None:
    # 17:00 UTC on 5 Dec is 01:00 on 6 Dec in Shanghai: November is overdue, December not over.
    assert default_period(MILK, datetime(2026, 12, 5, 17, 0, tzinfo=UTC), SHANGHAI).key == "2026-11"
    assert due_date(MILK, parse_period(Cadence.MONTHLY, "2026-11")) < local_date(datetime(2026, 12, 5, 17, 0, tzinfo=UTC))


def test_default_period_for_semester_form_prefers_the_one_still_due() -> None:
    assert default_period(INSURANCE, at("2027-02-10T10:00"), SHANGHAI).key == "2026-S2"
    assert default_period(INSURANCE, at("2027-02-16T10:00"), SHANGHAI).key == "2027-S1"


def test_default_period_without_due_rule_is_the_current_period() -> None:
    assert default_period(HARVEST, at("2026-11-28T10:00"), SHANGHAI).key == "2026-Q4"


def _form(extra: str) -> Form:
    catalogue = load_catalogue_text(
        f"""
        [[forms]]
        key = "books"
        version = 1
        title = {{ zh = "簿本订购", en = "Exercise-book orders" }}
        short = {{ zh = "簿本", en = "Books" }}
        {extra}
        [[forms.fields]]
        key = "copies"
        label = {{ zh = "册数", en = "Copies" }}
        type = "integer"
        """
    )
    return catalogue.get("books")


def test_yearly_form_with_zero_lock_days_locks_the_day_after_due() -> None:
    form = _form('cadence = "yearly"\ndue_days = 10\nlock_days = 0')
    year = parse_period(Cadence.YEARLY, "2026")
    assert lock_date(form, year) == date(2027, 1, 10)
    # Issue 13: 2027 is not over, so it is never offered in 2027.
    assert keys(reportable_periods(form, at("2027-01-10T12:00"), SHANGHAI)) == ["2026"]
    assert keys(reportable_periods(form, at("2027-01-11T12:00"), SHANGHAI)) == []
    running = _form('cadence = "yearly"\ndue_days = 10\nlock_days = 0\nopen_during_period = true')
    assert keys(reportable_periods(running, at("2027-01-11T12:00"), SHANGHAI)) == ["2027"]


def test_event_form_can_bucket_by_semester() -> None:
    form = _form('cadence = "event"\nevent_period = "semester"')
    assert form.period_cadence is Cadence.SEMESTER
    assert default_period(form, at("2027-01-20T12:00"), SHANGHAI).key == "2026-S2"


def test_a_period_is_open_then_due_then_late_then_closed() -> None:
    from bot.core.periods import PeriodState, period_state

    milk = load_catalogue().get("milk")
    november = parse_period(milk.period_cadence, "2026-11")
    tz = ZoneInfo("Asia/Shanghai")

    def at(day: str, hour: int = 12) -> PeriodState:
        return period_state(milk, november, datetime.fromisoformat(f"{day}T{hour:02d}:00").replace(tzinfo=tz), tz)

    assert at("2026-11-28") is PeriodState.OPEN
    assert at("2026-11-30", 23) is PeriodState.OPEN, "the last day still belongs to the period"
    assert at("2026-12-01", 0) is PeriodState.DUE
    due = due_date(milk, november)
    assert due is not None and at(due.isoformat(), 23) is PeriodState.DUE
    assert at((due + timedelta(days=1)).isoformat()) is PeriodState.LATE
    assert at((lock_date(milk, november) + timedelta(days=1)).isoformat()) is PeriodState.CLOSED
    assert not PeriodState.DUE.finished and PeriodState.LATE.finished and PeriodState.CLOSED.finished
