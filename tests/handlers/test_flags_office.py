"""Issue 13 points 6 and 9 for the office: a withdrawn harvest counts nowhere, and the
warnings principals confirmed with a reason are counted (/summary, XLSX, annual,
summary --json) and listed (/flags, scoped to the staff member's district).

Through the real application on the fake Bot API, on SQLite and PostgreSQL;
flags are written as the submission writes them (``NewReport(flags=...)``).
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from decimal import Decimal

import docx
import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from bot.commands.summary import summary_json
from bot.core.catalogue import load_catalogue
from bot.core.clock import FixedClock
from bot.core.periods import parse_period
from bot.office.summary import summarise
from bot.offline.simulator import Reply, Simulator, UserChat
from bot.runtime.menus import help_text
from storage.db import Database
from storage.models import Person
from storage.reports import NewFlag, NewReport, save_report_retrying, withdrawal
from storage.schools import ensure_district
from tests.conftest import SHANGHAI
from tests.factories import register_principal, register_staff
from tests.handlers.test_summary_handlers import last_file
from tests.service.test_rollups import three_schools

LANGS = pytest.mark.parametrize("lang", ["zh", "en"])
FLAG_MESSAGE = "比上月 856 人多了 9 倍，确认无误吗？"


def last(replies: list[Reply]) -> Reply:
    return [reply for reply in replies if reply.text][-1]


async def harvest(db: Database, school_id: int, series: str, income: str, flags: tuple[NewFlag, ...] = ()) -> int:
    report = await save_report_retrying(
        db,
        NewReport(
            school_id=school_id,
            form_key="harvest",
            form_version=1,
            period="2026-Q4",
            series=series,
            values={
                "crop": (None, "vegetables"),
                "area_mu": (Decimal(2), None),
                "quantity": (Decimal(100), None),
                "income": (Decimal(income), None),
                "participants": (Decimal(40), None),
            },
            reporter_id=None,
            submitted_at=datetime(2026, 11, 20, 9, tzinfo=SHANGHAI),
            is_late=False,
            flags=flags,
        ),
    )
    return report.id


async def milk(db: Database, school_id: int, drinkers: int, flags: tuple[NewFlag, ...] = ()) -> int:
    report = await save_report_retrying(
        db,
        NewReport(
            school_id=school_id,
            form_key="milk",
            form_version=1,
            period="2026-10",
            values={
                "daily_drinkers": (Decimal(drinkers), None),
                "days_served": (Decimal(20), None),
                "supplier": (None, "yili"),
                "incidents": (Decimal(0), None),
            },
            reporter_id=None,
            submitted_at=datetime(2026, 11, 3, 9, tzinfo=SHANGHAI),
            is_late=False,
            flags=flags,
        ),
    )
    return report.id


def ratio_flag(reason: str) -> NewFlag:
    return NewFlag("history:previous", FLAG_MESSAGE, reason, "daily_drinkers", {"previous": 856, "ratio": 10})


async def withdraw(db: Database, report_id: int) -> None:
    async with db.session() as session:
        from storage.reports import report_by_id

        report = await report_by_id(session, report_id)
        assert report is not None
        new = withdrawal(report, reporter_id=None, at=datetime(2026, 11, 21, 9, tzinfo=SHANGHAI))
    await save_report_retrying(db, new)


async def staff(sim: Simulator, db: Database, clock: FixedClock, lang: str, district: str | None = None) -> UserChat:
    chat = await register_staff(sim, db, clock)
    async with db.session() as session:
        values: dict[str, object] = {"language": lang}
        if district is not None:
            values["district_id"] = (await ensure_district(session, district)).id
        await session.execute(update(Person).where(Person.telegram_id == 2001).values(**values))
    return chat


# --- a withdrawn harvest in summaries ------------------------------------------------
@LANGS
async def test_withdrawn_harvest_counts_in_no_summary_export_or_annual_figure(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    a, _, c = await three_schools(db, clock)
    await harvest(db, c, "k1", "5000")
    twice = await harvest(db, c, "k2", "5000")  # the same harvest sent twice
    await harvest(db, a, "k3", "700")
    await withdraw(db, twice)
    chat = await staff(sim, db, clock, lang)

    text = last(await chat.send("/summary harvest 2026-Q4")).text
    assert ("5,700元" in text or "5,700 yuan" in text) and "10,700" not in text
    assert ("共 2 份" in text) if lang == "zh" else ("2 reports in all" in text)

    await chat.send("/export harvest 2026-Q4")
    _, data = last_file(sim, "sendDocument")
    workbook = load_workbook(io.BytesIO(data))
    detail = workbook.worksheets[2]  # after the cover and the district sheet
    header = [str(cell.value) for cell in detail[1]]
    col = next(i for i, name in enumerate(header) if "销售收入" in name or "Sales income" in name)
    incomes = sorted(row[col] for row in detail.iter_rows(min_row=2, values_only=True))
    assert incomes == [700, 5000], "one row per counted harvest, the withdrawn one left out"

    replies = await chat.send("/annual 2026")
    annual = "\n".join(r.text for r in replies if r.kind == "text")
    assert ("5700元" in annual or "5,700" in annual) and "10700" not in annual and "10,700" not in annual
    _, document = last_file(sim, "sendDocument")
    assert "10700" not in "\n".join(p.text for p in docx.Document(io.BytesIO(document)).paragraphs)

    # summary --json prints this document (the CLI on its own connection would not see this
    # test's rolled-back transaction).
    form = load_catalogue().get("harvest")
    figures = json.loads(
        json.dumps(summary_json(await summarise(db, form, parse_period(form.period_cadence, "2026-Q4"), clock.now(), SHANGHAI)))
    )
    assert figures["city"]["fields"]["income"]["sum"] == 5700 and figures["city"]["reports"] == 2


# --- confirmed warnings counted and listed -------------------------------------------
@LANGS
async def test_confirmed_warnings_are_counted_in_summary_xlsx_and_annual(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    a, b, _ = await three_schools(db, clock)
    await milk(db, a, 300, flags=(ratio_flag("新生入学"),))
    await milk(db, b, 8560, flags=(ratio_flag("合并了分校"), NewFlag("rule:x", "整表提示", "已核实")))
    # A flag of a superseded version and one of a withdrawn entry count nowhere.
    old = await harvest(db, a, "h1", "500", flags=(NewFlag("duplicate", "重复？", "两次收获"),))
    await harvest(db, a, "h1", "600")
    gone = await harvest(db, a, "h2", "500", flags=(NewFlag("duplicate", "重复？", "不是重复"),))
    await withdraw(db, gone)
    assert old != gone
    chat = await staff(sim, db, clock, lang)

    text = last(await chat.send("/summary milk 2026-10")).text
    assert ("3 个数值经填报人确认（有说明）" in text) if lang == "zh" else ("3 values confirmed by their reporters" in text)
    assert "/flags milk 2026-10" in text
    harvest_text = last(await chat.send("/summary harvest 2026-Q4")).text
    assert "/flags" not in harvest_text, "no confirmed warning on a counted harvest"

    await chat.send("/export milk 2026-10")
    _, data = last_file(sim, "sendDocument")
    workbook = load_workbook(io.BytesIO(data))
    rollup, detail = workbook.worksheets[1], workbook.worksheets[2]  # after the cover
    header = [cell.value for cell in rollup[1]]
    col = header.index("经确认的预警" if lang == "zh" else "Confirmed warnings")
    assert [row[col] for row in rollup.iter_rows(min_row=2, values_only=True)][0] == 3
    detail_header = [cell.value for cell in detail[1]]
    flag_col = detail_header.index("预警与说明" if lang == "zh" else "Warnings and reasons")
    cells = [row[flag_col] for row in detail.iter_rows(min_row=2, values_only=True)]
    joined = "\n".join(str(c or "") for c in cells)
    assert FLAG_MESSAGE in joined and "新生入学" in joined and "合并了分校" in joined and "已核实" in joined
    assert sum(1 for c in cells if c) == 2, "one cell per flagged report"

    replies = await chat.send("/annual 2026")
    annual = "\n".join(r.text for r in replies if r.kind == "text")
    assert ("有 3 个数值" in annual) if lang == "zh" else ("3 values in this year's data" in annual)
    _, document = last_file(sim, "sendDocument")
    paragraphs = "\n".join(p.text for p in docx.Document(io.BytesIO(document)).paragraphs)
    assert ("有 3 个数值" in paragraphs) if lang == "zh" else ("3 values" in paragraphs)


@LANGS
async def test_flags_lists_school_field_value_warning_and_reason(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    a, b, _ = await three_schools(db, clock)
    await milk(db, a, 8560, flags=(ratio_flag("新生入学"),))
    await milk(db, b, 200)
    chat = await staff(sim, db, clock, lang)
    text = last(await chat.send("/flags milk 2026-10")).text
    assert "邹圩小学" in text and "HB001" in text and "张庄中学" not in text
    assert ("日参饮人数：8,560 人" in text) if lang == "zh" else ("Students drinking daily: 8,560 students" in text)
    assert FLAG_MESSAGE in text and "新生入学" in text
    empty = last(await chat.send("/flags harvest 2026-Q4")).text
    assert ("没有经填报人确认的预警" in empty) if lang == "zh" else ("no warnings were confirmed" in empty)


@LANGS
async def test_district_staff_see_only_their_districts_flags(sim: Simulator, db: Database, clock: FixedClock, lang: str) -> None:
    a, b, _ = await three_schools(db, clock)  # a in 濉溪县, b in 杜集区
    await milk(db, a, 8560, flags=(ratio_flag("濉溪的说明"),))
    await milk(db, b, 9000, flags=(ratio_flag("杜集的说明"),))
    chat = await staff(sim, db, clock, lang, district="杜集区")
    text = last(await chat.send("/flags milk 2026-10")).text
    assert "杜集的说明" in text and "张庄中学" in text and "杜集区" in text
    assert "濉溪的说明" not in text and "邹圩小学" not in text
    summary = last(await chat.send("/summary milk 2026-10")).text
    assert ("1 个数值" in summary) if lang == "zh" else ("1 values confirmed" in summary)


@LANGS
async def test_flags_with_a_bad_form_or_period_word_is_refused(
    sim: Simulator, db: Database, clock: FixedClock, lang: str
) -> None:
    await three_schools(db, clock)
    chat = await staff(sim, db, clock, lang)
    usage = "用法：/flags" if lang == "zh" else "Usage: /flags"
    bad_form = last(await chat.send("/flags nonsense")).text
    assert "nonsense" in bad_form and "milk" in bad_form and usage in bad_form
    bad_period = last(await chat.send("/flags milk 2026-13")).text
    assert "2026-13" in bad_period and usage in bad_period


async def test_flags_is_for_staff_only_and_in_their_help(sim: Simulator, db: Database, clock: FixedClock) -> None:
    a, _, _ = await three_schools(db, clock)
    await milk(db, a, 8560, flags=(ratio_flag("新生入学"),))
    principal = await register_principal(sim, db, clock)
    refused = last(await principal.send("/flags milk 2026-10")).text
    assert "新生入学" not in refused
    wired = {"flags", "summary", "report"}
    assert "/flags" in help_text("staff", "zh", wired) and "/flags" in help_text("admin", "en", wired)
    assert "/flags" not in help_text("principal", "zh", wired)


async def test_a_long_flag_list_is_split_into_messages_telegram_accepts(sim: Simulator, db: Database, clock: FixedClock) -> None:
    a, _, _ = await three_schools(db, clock)
    reasons = tuple(ratio_flag(f"说明{i:03d}：" + "很长的解释" * 20) for i in range(60))
    await milk(db, a, 8560, flags=reasons)
    chat = await staff(sim, db, clock, "zh")
    replies = [r for r in await chat.send("/flags milk 2026-10") if r.text]
    assert len(replies) > 1 and all(len(r.text) <= 4096 for r in replies)
    joined = "\n".join(r.text for r in replies)
    assert all(f"说明{i:03d}" in joined for i in range(60))
