"""Aggregation rules per field (bot.core.aggregation) and coverage (bot.core.coverage)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot.core.aggregation import Fold, fold
from bot.core.catalogue import CatalogueInvalid, load_catalogue, load_catalogue_text
from bot.core.coverage import Coverage, comparable, incomplete
from bot.core.periods import Cadence, PeriodState, parse_period

D = Decimal


def test_fold_rules_leave_missing_periods_out() -> None:
    figures = [D(800), None, D(900)]
    assert fold(Fold.SUM, figures) == D(1700)
    assert fold(Fold.AVG, figures, places=0) == D(850)
    assert fold(Fold.LAST, figures) == D(900)
    assert fold(Fold.MAX, [D(3), None, D(1)]) == D(3)
    assert fold(Fold.AVG, [D(1), D(2)], places=0) == D(2)  # half-up, as people round
    for rule in Fold:
        assert fold(rule, [None, None]) is None
        assert fold(rule, []) is None


def test_shipped_catalogue_says_how_each_figure_rolls_up() -> None:
    forms = {form.key: {f.key: f for f in form.numeric_fields} for form in load_catalogue().forms}
    drinkers = forms["milk"]["daily_drinkers"]
    assert (drinkers.across_schools, drinkers.across_periods) == (Fold.SUM, Fold.AVG)
    assert forms["milk"]["days_served"].across_schools is Fold.AVG
    assert forms["insurance"]["students_insured"].across_periods is Fold.LAST
    assert forms["insurance"]["students_enrolled"].across_periods is Fold.LAST
    assert forms["insurance"]["premium"].across_periods is Fold.SUM
    assert all(f.across_schools is Fold.SUM and f.across_periods is Fold.SUM for f in forms["harvest"].values())


_FORM = """
[[forms]]
key = "books"
version = 1
title = {{ zh = "簿本", en = "Books" }}
short = {{ zh = "簿本", en = "Books" }}
command = "books"
cadence = "monthly"
[[forms.fields]]
key = "{key}"
label = {{ zh = "x", en = "x" }}
type = "{type}"
{extra}
"""


def test_a_rule_on_a_text_field_or_an_unknown_rule_is_refused_in_one_line() -> None:
    with pytest.raises(CatalogueInvalid, match="across_periods applies only to number fields"):
        load_catalogue_text(_FORM.format(key="note", type="text", extra='across_periods = "avg"'))
    with pytest.raises(CatalogueInvalid, match="across_schools"):
        load_catalogue_text(_FORM.format(key="copies", type="integer", extra='across_schools = "median"'))
    books = load_catalogue_text(_FORM.format(key="copies", type="integer", extra='across_periods = "max"'))
    assert books.get("books").numeric_fields[0].across_periods is Fold.MAX


def _coverage(state: PeriodState, reported: int, expected: int = 10) -> Coverage:
    return Coverage(
        period=parse_period(Cadence.MONTHLY, "2026-11"),
        state=state,
        due=date(2026, 12, 5),
        expected=expected,
        reported=reported,
        on_time=reported,
    )


def test_figures_compare_only_between_alike_coverage() -> None:
    finished_full = _coverage(PeriodState.LATE, 10)
    closed_full = _coverage(PeriodState.CLOSED, 10)
    due_partial = _coverage(PeriodState.DUE, 4)
    late_partial = _coverage(PeriodState.LATE, 4)
    assert comparable(finished_full, closed_full)  # both past due and complete
    assert not comparable(finished_full, due_partial)  # 10/10 against 4/10 not yet due
    assert not comparable(finished_full, late_partial)  # complete against incomplete
    assert not comparable(_coverage(PeriodState.LATE, 0), _coverage(PeriodState.LATE, 0))
    assert not _coverage(PeriodState.OPEN, 10).complete
    assert due_partial.missing == 6 and due_partial.label() == "4/10 所" and due_partial.label("en") == "4/10 schools"
    assert incomplete([finished_full, due_partial]) == [due_partial]
    assert not _coverage(PeriodState.LATE, 0, expected=0).complete


def test_a_year_mean_leaves_out_idle_months_and_sums_keep_them() -> None:
    from bot.core.aggregation import fold_periods, idle_period

    months = [D(800), D(0), None, D(900)]  # July served no milk; August not reported
    assert fold_periods(Fold.AVG, months, places=0) == D(850)
    assert fold_periods(Fold.SUM, months) == D(1700)
    assert fold_periods(Fold.LAST, months) == D(900)
    assert fold_periods(Fold.AVG, [D(0), D(0)]) == D(0), "a year at 0 is 0, not unknown"
    assert fold_periods(Fold.AVG, [None, None]) is None
    assert idle_period(Fold.AVG, D(0)) and not idle_period(Fold.SUM, D(0)) and not idle_period(Fold.AVG, None)
