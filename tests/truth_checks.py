"""The truth harness's checkers: each office output against an independent recomputation.

One checker per output (``check_summary_json``, ``check_xlsx``, and ``check_annual`` in
``tests.truth_annual``); each takes
what the product produced and the harness's ``Model`` of what principals confirmed, and
recomputes every figure with plain Python: who is expected (programme members), who reported
(a counted entry: current, not withdrawn), on time (not late by the due rule), sums, means,
minima and maxima, and the year figures by each field's own rule, written out below from the
issue's words (not read from the catalogue, not folded by ``bot.core.aggregation``). A failed
comparison names the output, the scope and the figure.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from openpyxl import load_workbook  # type: ignore[import-untyped]

from bot.core.catalogue import Form
from bot.core.fields import FieldType
from bot.core.periods import parse_period
from tests.truth_world import DISTRICTS, LOCK_DAYS, Entry, Model, due, span

CITY = "全市"
YES, NO = "是", "否"
# How each number field rolls up (issue 14 point 2), as (across schools, across periods).
RULES: dict[str, dict[str, tuple[str, str]]] = {
    "milk": {
        "daily_drinkers": ("sum", "avg"),
        "days_served": ("avg", "sum"),
        "incidents": ("sum", "sum"),
    },
    "insurance": {
        "students_enrolled": ("sum", "last"),
        "students_insured": ("sum", "last"),
        "premium": ("sum", "sum"),
        "claims": ("sum", "sum"),
    },
    "harvest": {
        "area_mu": ("sum", "sum"),
        "quantity": ("sum", "sum"),
        "income": ("sum", "sum"),
        "participants": ("sum", "sum"),
    },
}
HALF_CENT = Decimal("0.005")


# --- the recomputation ---------------------------------------------------------------------------
@dataclass
class Expect:
    """One scope's figures over some periods, from the model."""

    schools: int = 0
    expected: int = 0
    reported: int = 0
    on_time: int = 0
    reports: int = 0
    flags: int = 0
    values: dict[str, list[Decimal]] = field(default_factory=dict)
    schools_reported: int = 0


def districts_of(model: Model, form: str) -> list[str]:
    """The districts with a school that reports ``form``, by name."""
    return sorted({s.district for s in model.schools if s.reports(form)})


def expect(model: Model, form: Form, periods: Sequence[str], district: str | None = None) -> Expect:
    members = [s for s in model.schools if s.reports(form.key) and district in (None, s.district)]
    codes = {s.code for s in members}
    in_scope = [e for e in model.counted(form.key, set(periods)) if model.school(e.school).district == district or not district]
    pairs = {(e.school, e.period) for e in in_scope if e.school in codes}
    on_time = {(e.school, e.period) for e in in_scope if e.school in codes and not e.late}
    values: dict[str, list[Decimal]] = {}
    for item in form.numeric_fields:
        answered = [e.values.get(item.key) for e in in_scope]
        values[item.key] = [v for v in answered if isinstance(v, Decimal)]
    return Expect(
        schools=len(members),
        expected=len(members) * len(periods),
        reported=len(pairs),
        on_time=len(on_time),
        reports=len(in_scope),
        flags=sum(e.flags for e in in_scope),
        values=values,
        schools_reported=len({school for school, _ in pairs}),
    )


def mean(values: Sequence[Decimal]) -> Decimal:
    return sum(values, Decimal(0)) / len(values)


# A figure that is a mean is rounded half-up to the precision its answers have: whole students
# and days, money and mu to two places, kilograms to four.
PLACES = {FieldType.INTEGER: 0, FieldType.MONEY: 2, FieldType.AREA_MU: 2, FieldType.DECIMAL: 4}


def rounded_mean(values: Sequence[Decimal], places: int) -> Decimal:
    return mean(values).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def period_figure(model: Model, form: str, key: str, period: str, district: str | None, places: int = 0) -> Decimal | None:
    """One period's figure of a field by its across-schools rule; harvest entries add up per school first."""
    per_school: dict[str, Decimal] = {}
    for e in model.counted(form, {period}):
        value = e.values.get(key)
        if isinstance(value, Decimal) and district in (None, model.school(e.school).district):
            per_school[e.school] = per_school.get(e.school, Decimal(0)) + value
    if not per_school:
        return None
    rule = RULES[form][key][0]
    return sum(per_school.values(), Decimal(0)) if rule == "sum" else rounded_mean(list(per_school.values()), places)


def year_figure(model: Model, form: Form, key: str, periods: Sequence[str], district: str | None = None) -> Decimal | None:
    """A field's figure over ``periods`` (in order) by its across-periods rule; None when nobody answered.
    A mean leaves out months whose figure is 0 (no milk served: the summer holidays), as the office's
    report does; a year at 0 throughout is 0."""
    places = max(PLACES[form.field(key).type], 2)  # the export and the JSON keep a mean to two decimals
    known = [f for f in (period_figure(model, form.key, key, p, district, places) for p in periods) if f is not None]
    if not known:
        return None
    rule = RULES[form.key][key][1]
    if rule == "sum":
        return sum(known, Decimal(0))
    if rule == "avg":
        served = [f for f in known if f != 0]
        return rounded_mean(served, places) if served else Decimal(0)
    return known[-1] if rule == "last" else max(known)


def missing_pairs(model: Model, form: str, periods: Iterable[str]) -> set[tuple[str, str]]:
    """(period, school code) pairs a member school has not reported (withdrawn counts as not)."""
    filed = {(e.period, e.school) for e in model.counted(form)}
    return {(p, s.code) for p in periods for s in model.schools if s.reports(form) and (p, s.code) not in filed}


# --- comparing ------------------------------------------------------------------------------------
def close(actual: Any, wanted: Decimal | None, where: str, tolerance: Decimal = Decimal(0)) -> None:
    if wanted is None:
        assert actual is None, f"{where}: {actual!r}, but nobody reported it (未报, not a figure)"
        return
    assert actual is not None, f"{where}: missing, expected {wanted}"
    got = Decimal(str(actual))
    assert abs(got - wanted) <= tolerance + Decimal("1e-9"), f"{where}: {got}, expected {wanted}"


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


# --- summary --json --------------------------------------------------------------------------------
def check_stats_json(doc: dict[str, Any], want: Expect, form: Form, where: str, *, null_when_unreported: bool) -> None:
    for name in ("schools", "expected", "reported", "on_time", "reports", "flags"):
        assert doc[name] == getattr(want, name), f"{where} {name}: {doc[name]}, expected {getattr(want, name)}"
    assert abs(doc["completeness"] - _ratio(want.reported, want.expected)) < 1e-4, f"{where} completeness"
    assert abs(doc["on_time_rate"] - _ratio(want.on_time, want.expected)) < 1e-4, f"{where} on_time_rate"
    for item in form.numeric_fields:
        got, values, at = doc["fields"][item.key], want.values[item.key], f"{where} {item.key}"
        assert got["count"] == len(values), f"{at} count: {got['count']}, expected {len(values)}"
        if values or null_when_unreported:
            close(got["sum"], sum(values, Decimal(0)) if values else None, f"{at} sum")
        close(got["avg"], mean(values) if values else None, f"{at} avg", HALF_CENT)
        close(got["min"], min(values) if values else None, f"{at} min")
        close(got["max"], max(values) if values else None, f"{at} max")


def check_summary_json(doc: dict[str, Any], model: Model, form: Form, period: str, today: date) -> None:
    """``summary --json`` for one period: the city, every district, the previous period, a year ago."""
    where = f"summary --json {form.key} {period}"
    assert (doc["form"], doc["period"], doc["district"]) == (form.key, period, None), where
    # Coverage in the document (issue 14 point 1, helper A): checked once it is there.
    null_when_unreported = "coverage" in doc["city"]
    if null_when_unreported:
        check_coverage_json(doc, model, form, period, today)
    names = [d["district"] for d in doc["districts"]]
    assert names == districts_of(model, form.key), f"{where}: districts {names}"
    check_stats_json(doc["city"], expect(model, form, [period]), form, f"{where} city", null_when_unreported=null_when_unreported)
    for district in doc["districts"]:
        want = expect(model, form, [period], district["district"])
        at = f"{where} {district['district']}"
        check_stats_json(district, want, form, at, null_when_unreported=null_when_unreported)
    start = span(form.key, period)[0]
    previous = _key_on(form.key, start.replace(day=1) - timedelta(days=1))
    for part, key in (("previous", previous), ("year_ago", _key_on(form.key, start.replace(year=start.year - 1)))):
        assert doc[part]["period"] == key, f"{where} {part}: {doc[part]['period']}, expected {key}"
        at = f"{where} {part} city"
        check_stats_json(doc[part]["city"], expect(model, form, [key]), form, at, null_when_unreported=null_when_unreported)


def state(form: str, key: str, today: date) -> str:
    """open (not over), due (over, due date ahead or none), late (past due), closed (past the lock)."""
    end, deadline = span(form, key)[1], due(form, key)
    if today <= end:
        return "open"
    if today > (deadline or end) + timedelta(days=LOCK_DAYS):
        return "closed"
    return "due" if deadline is None or today <= deadline else "late"


def _complete(form: str, key: str, want: Expect, today: date) -> bool:
    return state(form, key, today) != "open" and want.expected > 0 and want.reported >= want.expected


def check_coverage_json(doc: dict[str, Any], model: Model, form: Form, period: str, today: date) -> None:
    """The period's state and due date, each scope's coverage, and which comparisons are allowed."""
    where = f"summary --json {form.key} {period}"
    deadline = due(form.key, period)
    wanted = (state(form.key, period, today), deadline.isoformat() if deadline else None)
    assert (doc["state"], doc["due"]) == wanted, f"{where}: state/due {doc['state']}/{doc['due']}, expected {wanted}"
    for scope in [doc["city"], *doc["districts"]]:
        want = expect(model, form, [period], scope["district"])
        (coverage,) = scope["coverage"]
        got = (
            coverage["period"],
            coverage["state"],
            coverage["due"],
            coverage["expected"],
            coverage["reported"],
            coverage["on_time"],
            coverage["missing"],
        )
        missing = want.schools - want.reported
        assert got == (period, wanted[0], wanted[1], want.schools, want.reported, want.on_time, missing), (
            f"{where} {scope['district'] or 'city'} coverage {got}"
        )
        assert coverage["complete"] == _complete(form.key, period, want, today), f"{where} {scope['district'] or 'city'} complete"
        assert scope["unreported"] == (want.reports == 0), f"{where} {scope['district'] or 'city'} unreported"
        for item in form.numeric_fields:
            figure = year_figure(model, form, item.key, [period], scope["district"])
            close(scope["fields"][item.key]["figure"], figure, f"{where} {scope['district'] or 'city'} {item.key} figure")
    here = expect(model, form, [period])
    stage = {"open": "open", "due": "due"}.get(wanted[0], "finished")
    for part in ("previous", "year_ago"):
        other_key = doc[part]["period"]
        other = expect(model, form, [other_key])
        other_stage = {"open": "open", "due": "due"}.get(state(form.key, other_key, today), "finished")
        alike = stage == other_stage and _complete(form.key, period, here, today) == _complete(form.key, other_key, other, today)
        comparable = alike and here.reported > 0 and other.reported > 0
        assert doc[part]["comparable"] == comparable, (
            f"{where} {part} comparable: {doc[part]['comparable']}, expected {comparable}"
        )


def _key_on(form: str, day: date) -> str:
    """The key of ``form``'s period containing ``day``."""
    if form == "milk":
        return f"{day.year}-{day.month:02d}"
    if form == "harvest":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if day.month == 1:
        return f"{day.year - 1}-S2"
    return f"{day.year}-S1" if day.month < 8 else f"{day.year}-S2"


# --- the XLSX --------------------------------------------------------------------------------------
def _rows(ws: Any) -> tuple[list[str], list[dict[str, Any]]]:
    rows = list(ws.iter_rows(values_only=True))
    header = [str(h) for h in rows[0]]
    return header, [dict(zip(header, row, strict=True)) for row in rows[1:]]


def _unit(form: Form, key: str) -> str:
    item = form.field(key)
    return f"（{item.unit.get('zh')}）" if item.unit is not None else ""


RULE_WORDS = {"sum": "合计", "avg": "平均", "last": "最近一期", "max": "最高"}
STATE_WORDS = {"open": "未到期（期间未结束）", "due": "未到期", "late": "已过截止日", "closed": "已锁定"}


def _figure_column(header: Sequence[str], form: Form, key: str, several: bool) -> str:
    """The field's figure column, whose heading says its rule: 日参饮人数（各校合计，各期平均）（人）."""
    label, unit = form.field(key).label.get("zh"), _unit(form, key)
    schools, periods = (RULE_WORDS[r] for r in RULES[form.key][key])
    column = f"{label}（各校{schools}，各期{periods}）{unit}" if several else f"{label}{schools}{unit}"
    assert column in header, f"no column {column!r} (the rule it names is the field's): {header}"
    return column


def check_xlsx(data: bytes, model: Model, form: Form, periods: Sequence[str], today: date) -> None:
    """The export: the district sheet's figures by the fields' rules, one row per counted entry, and
    the schools that have not reported, past due (未报学校) apart from not yet due (待报学校)."""
    where = f"XLSX {form.key} {periods[0]}…{periods[-1]}" if len(periods) > 1 else f"XLSX {form.key} {periods[0]}"
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["说明", "区县汇总", "报表明细", "未报学校", "待报学校"], f"{where}: sheets {book.sheetnames}"
    header, rows = _rows(book["区县汇总"])
    names = [r["区县"] for r in rows]
    assert names == [CITY, *districts_of(model, form.key)], f"{where}: district rows {names}"
    for row in rows:
        district = None if row["区县"] == CITY else row["区县"]
        want, at = expect(model, form, periods, district), f"{where} {row['区县']}"
        columns = {
            "应报学校数": "schools",
            "应报份数": "expected",
            "已报份数": "reported",
            "报表总数": "reports",
            "经确认的预警": "flags",
        }
        for column, name in columns.items():
            assert row[column] == getattr(want, name), f"{at} {column}: {row[column]}, expected {getattr(want, name)}"
        assert abs(row["完整率"] - _ratio(want.reported, want.expected)) < 1e-9, f"{at} 完整率"
        _check_on_time(row, model, form, periods, district, today, at)
        for item in form.numeric_fields:
            label, unit, values = item.label.get("zh"), _unit(form, item.key), want.values[item.key]
            column = _figure_column(header, form, item.key, len(periods) > 1)
            if want.reports == 0:
                assert row[column] == "未报", f"{at} {column}: {row[column]!r} where nobody reported (未报, never 0)"
            else:
                close(row[column], year_figure(model, form, item.key, periods, district), f"{at} {column}")
            close(row[f"{label}单份最小{unit}"], min(values) if values else None, f"{at} {label}最小")
            close(row[f"{label}单份最大{unit}"], max(values) if values else None, f"{at} {label}最大")
    labels = {parse_period(form.period_cadence, p).label("zh"): p for p in periods}
    check_cover(book["说明"], model, form, labels, today, where)
    check_report_rows(book["报表明细"], model, form, labels, where)
    check_missing_rows(book, model, form, labels, today, where)


PAST_DUE = ("late", "closed")


def _check_on_time(
    row: dict[str, Any], model: Model, form: Form, periods: Sequence[str], district: str | None, today: date, at: str
) -> None:
    """按时份数 and 及时率 count only the periods past their due date (未到截止日 before any is);
    over several periods with some not yet due, their headings say so."""
    past_due = [p for p in periods if state(form.key, p, today) in PAST_DUE]
    suffix = "（已截止期间）" if len(periods) > 1 and 0 < len(past_due) < len(periods) else ""
    count, rate = row[f"按时份数{suffix}"], row[f"及时率{suffix}"]
    if not past_due:
        assert count == rate == "未到截止日", f"{at} 按时份数/及时率 before any due date: {count!r}, {rate!r}"
        return
    want = expect(model, form, past_due, district)
    assert count == want.on_time, f"{at} 按时份数: {count}, expected {want.on_time}"
    assert abs(rate - _ratio(want.on_time, want.expected)) < 1e-9, f"{at} 及时率"


def _table(rows: list[tuple[Any, ...]], first: tuple[str, str]) -> list[tuple[Any, ...]]:
    """The rows of the cover's table whose heading starts with ``first``, up to the blank line after it."""
    start = next(i for i, row in enumerate(rows) if tuple(row[:2]) == first)
    body = []
    for row in rows[start + 1 :]:
        if all(cell is None for cell in row):
            break
        body.append(row)
    return body


def check_cover(ws: Any, model: Model, form: Form, labels: dict[str, str], today: date, where: str) -> None:
    """说明: each period's state, due date and coverage (city or scope), and each field's roll-up rules."""
    rows = list(ws.iter_rows(values_only=True))
    got = [(labels[r[0]], r[1], _day(r[2]), r[3], r[4], r[5]) for r in _table(rows, ("期间", "状态"))]
    wanted = []
    for key in labels.values():
        want, now = expect(model, form, [key]), state(form.key, key, today)
        on_time = want.on_time if now in PAST_DUE else "未到截止日"
        wanted.append((key, STATE_WORDS[now], due(form.key, key), want.schools, want.reported, on_time))
    assert got == wanted, f"{where} 说明 coverage: {got}, expected {wanted}"
    rules = {r[0]: tuple(r[2:4]) for r in _table(rows, ("数值", "单位"))}
    several = len(labels) > 1
    for item in form.numeric_fields:
        schools, periods = (RULE_WORDS[r] for r in RULES[form.key][item.key])
        wanted_rule = (schools, periods) if several else (schools, None)
        assert rules.get(item.label.get("zh")) == wanted_rule, (
            f"{where} 说明 rules of {item.key}: {rules.get(item.label.get('zh'))}"
        )


def check_missing_rows(book: Any, model: Model, form: Form, labels: dict[str, str], today: date, where: str) -> None:
    """未报学校: past their due date (with it, the days late, locked or not); 待报学校: not yet due."""
    late, pending = [], []
    for period, code in missing_pairs(model, form.key, labels.values()):
        deadline, now_state = due(form.key, period), state(form.key, period, today)
        if now_state in ("late", "closed"):
            days = (today - deadline).days if deadline else None
            late.append((period, code, deadline, days, YES if now_state == "closed" else NO))
        else:
            pending.append((period, code, deadline, STATE_WORDS[now_state]))
    _, rows = _rows(book["未报学校"])
    got = [(labels[r["期间"]], r["学校代码"], _day(r["截止日期"]), r["逾期天数"], r["已锁定"]) for r in rows]
    assert sorted(got, key=str) == sorted(late, key=str), (
        f"{where} 未报学校: {sorted(got, key=str)}, expected {sorted(late, key=str)}"
    )
    _, rows = _rows(book["待报学校"])
    got_pending = [(labels[r["期间"]], r["学校代码"], _day(r["截止日期"]), r["状态"]) for r in rows]
    assert sorted(got_pending, key=str) == sorted(pending, key=str), (
        f"{where} 待报学校: {sorted(got_pending, key=str)}, expected {sorted(pending, key=str)}"
    )


def _day(value: Any) -> date | None:
    """A date cell as openpyxl reads it (a datetime at midnight)."""
    return value.date() if isinstance(value, datetime) else value


def check_report_rows(ws: Any, model: Model, form: Form, labels: dict[str, str], where: str) -> None:
    """报表明细: exactly the counted entries, each with its confirmed answers, version and lateness."""
    _, rows = _rows(ws)
    got = sorted(_row_key(form, row, labels) for row in rows)
    wanted = sorted(_entry_key(form, e) for e in model.counted(form.key, set(labels.values())))
    assert got == wanted, f"{where} 报表明细 differs:\n  got      {got}\n  expected {wanted}"


def _cell(form: Form, key: str, value: Any) -> str:
    item = form.field(key)
    if value is None:
        return ""
    if item.type is FieldType.CHOICE and isinstance(value, str) and value in {c.key for c in item.choices}:
        return item.choice(value).label.get("zh")
    if isinstance(value, int | float | Decimal):
        return format(Decimal(str(value)).normalize(), "f")
    return str(value)


def _row_key(form: Form, row: dict[str, Any], labels: dict[str, str]) -> tuple[str, ...]:
    answers = tuple(_cell(form, f.key, row[f.label.get("zh") + _unit(form, f.key)]) for f in form.fields)
    flags = len(str(row["预警与说明"]).splitlines()) if row["预警与说明"] else 0
    at = f"{row['提交时间']:%Y-%m-%d %H:%M}"
    return (labels[row["期间"]], row["学校代码"], *answers, str(row["版本"]), row["逾期"], str(flags), at)


def _entry_key(form: Form, entry: Entry) -> tuple[str, ...]:
    answers = tuple(_cell(form, f.key, entry.values.get(f.key)) for f in form.fields)
    late = YES if entry.late else NO
    return (entry.period, entry.school, *answers, str(entry.version), late, str(entry.flags), f"{entry.at:%Y-%m-%d %H:%M}")


__all__ = ["DISTRICTS", "check_summary_json", "check_xlsx", "expect", "missing_pairs", "period_figure", "rounded_mean", "state"]
