"""``schoolbot file`` on a report the office approved (QA fix round, helper P2).

Approved is locked for the principal, not for the office: the office's correction on
behalf is saved as a new version, submitted again (back in the review queue), and the
approved version stays in the history. The world and fixture of ``test_file_cli``.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.commands.file import file_command
from bot.reporting.filing import Filed
from storage.db import Database
from storage.models import Person, Report
from storage.reviews import set_review
from tests.conftest import make_settings
from tests.factories import values_of
from tests.service.test_file_cli import JANUARY, MILK, REASON, _reports, cli_db  # noqa: F401 (the fixture)


def _file(url: str, values: list[str], reason: str) -> Filed:
    return asyncio.run(
        file_command(
            make_settings(url),
            school="HB001",
            form="milk",
            period="2026-10",
            values=values,
            reason=reason,
            as_id=2001,
            clock=JANUARY,
        )
    )


async def _approve(url: str) -> None:
    db = Database(url)
    try:
        async with db.session() as session:
            report = (await session.scalars(select(Report).where(Report.is_current))).one()
            staff = (await session.scalars(select(Person).where(Person.telegram_id == 2001))).one()
            assert await set_review(session, report, expect="submitted", to="approved", by=staff.id, at=JANUARY.now())
    finally:
        await db.dispose()


def test_cli_corrects_an_approved_report_as_a_new_version_back_in_review(cli_db: str) -> None:  # noqa: F811
    assert _file(cli_db, MILK, REASON).code == 0
    asyncio.run(_approve(cli_db))

    filed = _file(cli_db, [*MILK[1:], "daily_drinkers=806"], "办公室更正")
    assert filed.code == 0, filed.errors
    assert "已为 HB001 邹圩小学 代填 2026年10月 学生饮用奶月报，第 2 版。" in filed.lines
    assert any("已由 张干事 审核通过" in line and "回到待审核" in line for line in filed.lines)
    (first, second), audit, _ = asyncio.run(_reports(cli_db))
    assert (first.review, first.is_current) == ("approved", False), "the approval stays in the history"
    assert (second.review, second.is_current, second.behalf_reason) == ("submitted", True, "办公室更正")
    assert values_of(second)["daily_drinkers"] == 806
    assert [row.action for row in audit] == ["report.filed_on_behalf", "report.filed_on_behalf"]
