"""``schoolbot audit``: the audit log printed oldest first, filtered by day, actor and school."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.core.clock import FixedClock
from storage.db import Database
from storage.people import audit
from tests.conftest import SHANGHAI, wipe
from tests.factories import add_person, add_school
from tests.service.test_invite_cli import on_db

# Shanghai times: 2026-11-24 23:30 falls on the 24th locally but the 24th 15:30 in UTC,
# so a --since of the 25th must exclude it, and 2026-11-25 00:10 local (24th 16:10 UTC) include it.
T0 = datetime(2026, 11, 24, 23, 30, tzinfo=SHANGHAI)
T1 = datetime(2026, 11, 25, 0, 10, tzinfo=SHANGHAI)
T2 = datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)
T3 = datetime(2026, 11, 27, 14, 5, 6, tzinfo=SHANGHAI)


@pytest.fixture
def audit_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A log of four rows by two actors (one the bot knows by name) about two schools and a person."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("TIMEZONE", "Asia/Shanghai")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    clock = FixedClock(T0)

    async def populate(db: Database) -> None:
        await add_school(db, clock, "HB001", "邹圩小学")
        await add_person(db, clock, 900, "陈主任", role="admin")
        async with db.session() as session:
            audit(session, T0, 900, "invite.issued", "HB001", role="principal")
            audit(session, T1, 1001, "invite.redeemed", "HB001", role="principal")
            audit(session, T2, 900, "staff.scope_changed", "person:2001", before="濉溪县", after=None)
            audit(session, T3, 900, "person.deactivated", "person:1001", role="principal", school="HB001")
            audit(session, T3 + timedelta(seconds=1), 900, "invite.issued", "XS001", role="principal")

    on_db(db_url, wipe)
    on_db(db_url, populate)
    yield db_url
    on_db(db_url, wipe)


def lines(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main(["audit", *args]) == 0
    return capsys.readouterr().out.splitlines()


def records(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["audit", *args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert isinstance(result, list)
    return result


def test_audit_prints_one_line_per_row_oldest_first_in_local_time(audit_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit"]) == 0
    printed = capsys.readouterr()
    out = printed.out.splitlines()
    assert printed.err == "共 5 条\n"
    assert len(out) == 5
    assert out[0] == '2026-11-24 23:30:00  900 陈主任  invite.issued  HB001  {"role":"principal"}'
    assert out[1] == '2026-11-25 00:10:00  1001  invite.redeemed  HB001  {"role":"principal"}'
    assert out[2] == '2026-11-26 09:00:00  900 陈主任  staff.scope_changed  person:2001  {"after":null,"before":"濉溪县"}'
    assert out[-1].startswith("2026-11-27 14:05:07  900 陈主任  invite.issued  XS001")


def test_since_counts_days_in_the_configured_timezone(audit_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    got = records(capsys, "--since", "2026-11-25")
    assert [r["action"] for r in got] == ["invite.redeemed", "staff.scope_changed", "person.deactivated", "invite.issued"]
    assert got[0]["at"] == "2026-11-25T00:10:00+08:00"
    assert records(capsys, "--since", "2026-11-28") == []


def test_actor_filter_keeps_that_persons_rows(audit_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    got = records(capsys, "--actor", "1001")
    assert [(r["actor"], r["actor_name"], r["action"]) for r in got] == [(1001, None, "invite.redeemed")]
    assert {r["actor_name"] for r in records(capsys, "--actor", "900")} == {"陈主任"}


def test_school_filter_matches_the_subject_and_the_detail(audit_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    got = records(capsys, "--school", "hb001")
    assert [r["action"] for r in got] == ["invite.issued", "invite.redeemed", "person.deactivated"]
    assert [r["subject"] for r in records(capsys, "--school", "XS001")] == ["XS001"]


def test_filters_combine_and_limit_keeps_the_newest(audit_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    got = records(capsys, "--actor", "900", "--since", "2026-11-26", "--school", "HB001")
    assert [r["action"] for r in got] == ["person.deactivated"]
    newest = records(capsys, "--limit", "2")
    assert [r["subject"] for r in newest] == ["person:1001", "XS001"]


@pytest.mark.parametrize("since", ["yesterday", "2026-13-01", "26/11/2026", ""])
def test_bad_since_exits_2_with_a_clear_message(since: str, audit_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--since", since, "--lang", "en"]) == 2
    out = capsys.readouterr()
    assert "--since wants a date as YYYY-MM-DD" in out.err and out.out == ""
    assert main(["audit", "--since", since]) == 2
    assert "--since 需要 YYYY-MM-DD 格式的日期" in capsys.readouterr().err


def test_bad_limit_is_refused_by_the_parser(audit_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["audit", "--limit", "0"])
    assert exited.value.code == 2
    assert "--limit" in capsys.readouterr().err
