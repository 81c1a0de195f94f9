"""``schoolbot file``: the office files a report for a school from the command line (issue 15 point 2).

The same world as tests/handlers/test_on_behalf.py: milk schools HB001 (濉溪县, principal 1001)
and HB101 (相山区), city staff 2001 张干事, district staff 2002 刘干事 (相山区). The clock
is 10 January 2027: October 2026 is locked, so only the office can still file it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pytest
from sqlalchemy import select

from bot.cli import main
from bot.commands.file import file_command
from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from storage.db import Database
from storage.models import AuditEntry, Person, Report
from tests.conftest import SHANGHAI, make_settings, wipe
from tests.factories import add_person, add_school, values_of

JANUARY = FixedClock(datetime(2027, 1, 10, 10, 0, tzinfo=SHANGHAI))
MILK = ["daily_drinkers=856", "days_served=21", "supplier=伊利"]
REASON = "校长住院，电话报来数据"


async def _seed(url: str) -> None:
    db = Database(url)
    try:
        await wipe(db)
        await add_school(db, JANUARY, "HB001", "邹圩小学", "濉溪县", programmes=("milk",))
        await add_school(db, JANUARY, "HB101", "相山小学", "相山区", programmes=("milk",))
        await add_person(db, JANUARY, 1001, "王校长", school_code="HB001")
        await add_person(db, JANUARY, 2001, "张干事", role="staff")
        await add_person(db, JANUARY, 2002, "刘干事", role="staff", district="相山区")
    finally:
        await db.dispose()


async def _reports(url: str) -> tuple[list[Report], list[AuditEntry], dict[int, int]]:
    db = Database(url)
    try:
        async with db.session() as session:
            reports = list((await session.scalars(select(Report).order_by(Report.id))).all())
            audit = list((await session.scalars(select(AuditEntry).where(AuditEntry.action.like("report.%")))).all())
            people = {p.id: p.telegram_id for p in (await session.scalars(select(Person))).all()}
            return reports, audit, people
    finally:
        await db.dispose()


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """The test database with the world above, emptied afterwards; ``schoolbot`` pointed at it."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    asyncio.run(_seed(db_url))
    yield db_url

    async def _empty() -> None:
        db = Database(db_url)
        await wipe(db)
        await db.dispose()

    asyncio.run(_empty())


def test_cli_files_a_locked_month_as_a_staff_member_and_tells_the_reporters(cli_db: str) -> None:
    fake = FakeTelegram()
    filed = asyncio.run(
        file_command(
            make_settings(cli_db),
            school="HB001",
            form="milk",
            period="2026-10",
            values=[*MILK, "daily_drinkers=1.2万"],  # the last word for a field wins
            reason=REASON,
            as_id=2001,
            clock=JANUARY,
            request=FakeRequest(fake),
        )
    )
    assert filed.code == 0, filed.errors
    assert "已为 HB001 邹圩小学 代填 2026年10月 学生饮用奶月报，第 1 版。" in filed.lines
    assert filed.lines[-1] == "已告知该校填报人：1/1。"
    (report,), audit, people = asyncio.run(_reports(cli_db))
    assert (report.period, report.on_behalf, report.behalf_reason) == ("2026-10", True, REASON)
    assert people[report.reporter_id or 0] == 2001
    assert values_of(report)["daily_drinkers"] == 12000 and values_of(report)["incidents"] == 0
    (row,) = audit
    assert (row.action, row.actor, row.subject, row.detail["reason"]) == ("report.filed_on_behalf", 2001, "HB001", REASON)
    (notice,) = [c.params["text"] for c in fake.calls_to("sendMessage") if c.params["chat_id"] == 1001]
    assert str(notice).startswith("📋 办公室 张干事 代填了 2026年10月 学生饮用奶月报（第 1 版）")
    # The XLSX's per-report row names who filed it and why.
    assert main(["export", "--form", "milk", "--period", "2026-10", "-o", "milk.xlsx"]) == 0
    sheet = openpyxl.load_workbook("milk.xlsx")["报表明细"]
    cells = [str(cell) for row in sheet.iter_rows(values_only=True) for cell in row]
    assert f"由办公室 张干事代填（原因：{REASON}）" in cells


def test_cli_without_a_reason_saves_nothing(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["file", "--school", "HB001", "--form", "milk", "--period", "2025-10", *MILK])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['必须用 --reason "…" 说明代填原因；没有保存任何内容。']
    assert main(["file", "--school", "HB001", "--form", "milk", "--period", "2025-10", *MILK, "--reason", "  "]) == 2
    assert asyncio.run(_reports(cli_db))[0] == []


def test_cli_as_district_staff_refuses_a_school_of_another_district(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["file", "--school", "HB001", "--form", "milk", "--period", "2025-10", *MILK, "--reason", REASON]
    assert main([*args, "--as", "2002"]) == 2
    err = capsys.readouterr().err
    assert "学校「HB001」不在 刘干事 的范围内（相山区）。" in err
    assert main([*args, "--as", "1001"]) == 2  # a principal is not office staff
    assert "--as 1001：不是在职的办公室人员" in capsys.readouterr().err
    assert asyncio.run(_reports(cli_db))[0] == []


def test_cli_unknown_school_code(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["file", "--school", "NOPE-9", "--form", "milk", "--period", "2025-10", *MILK, "--reason", REASON])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == ["没有代码为「NOPE-9」的学校。", "没有保存任何内容。"]
    assert asyncio.run(_reports(cli_db))[0] == []


def test_cli_value_in_the_wrong_unit_is_one_line_naming_the_field(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    values = ["daily_drinkers=856元", "days_served=二十天半", "supplier=伊利"]
    code = main(["file", "--school", "HB001", "--form", "milk", "--period", "2025-10", *values, "--reason", REASON])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and err[-1] == "没有保存任何内容。"
    assert err[0].startswith("daily_drinkers（日参饮人数）：") and "元" in err[0]
    assert err[1].startswith("days_served（供奶天数）：")
    assert asyncio.run(_reports(cli_db))[0] == []


def test_cli_rule_error_stops_the_save(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    values = ["daily_drinkers=856", "days_served=31", "supplier=伊利"]
    assert main(["file", "--school", "HB001", "--form", "milk", "--period", "2025-11", *values, "--reason", REASON]) == 2
    assert "供奶天数不能多于本月的天数" in capsys.readouterr().err
    assert asyncio.run(_reports(cli_db))[0] == []
