"""``schoolbot invite``: printing one-time links for schools and staff, issuing all or nothing."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.commands.invite import NoBotUsername, resolve_bot_username
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.office.registration import hash_code
from storage.db import Database
from storage.models import Invite, Person, Role
from storage.schools import ensure_district, school_by_code, upsert_school
from tests.conftest import make_settings, wipe

T = TypeVar("T")
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc)
SCHOOLS = [("HB-SX-001", "双堆集镇邹圩小学"), ("HB-SX-002", "五沟镇袁店中心校"), ("HB-DJ-001", "张庄中学")]
LINK = re.compile(r"^https://t\.me/schoolbot_demo_bot\?start=([A-Za-z0-9_-]{16,})$")


def on_db(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on a fresh Database in its own event loop (the CLI runs its own, too)."""

    async def _run() -> T:
        database = Database(url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(_run())


async def seed(db: Database) -> None:
    async with db.session() as session:
        district = await ensure_district(session, "濉溪县")
        for code, name in SCHOOLS:
            await upsert_school(session, NOW, code=code, name=name, district=district, area="rural", programmes=["insurance"])


async def invites(db: Database) -> list[Invite]:
    async with db.session() as session:
        return list((await session.scalars(select(Invite).order_by(Invite.id))).all())


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """``schoolbot`` on the test database holding three schools; links for @schoolbot_demo_bot."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("BOT_USERNAME", "@schoolbot_demo_bot")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    on_db(db_url, wipe)
    on_db(db_url, seed)
    yield db_url
    on_db(db_url, wipe)


def invite_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["invite", *args, "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert isinstance(records, list)
    return records


def test_json_lists_school_code_and_working_link(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    records = invite_json(capsys, "hb-sx-002", "HB-DJ-001")
    assert [r["school"] for r in records] == ["HB-SX-002", "HB-DJ-001"]
    for record in records:
        assert set(record) == {"school", "code", "link"}
        match = LINK.match(record["link"])
        assert match and match.group(1) == record["code"]
    stored = on_db(cli_db, invites)
    assert {i.code_hash for i in stored} == {hash_code(r["code"]) for r in records}
    assert all(i.role == Role.PRINCIPAL and i.used_at is None for i in stored)


def test_codes_are_random_and_distinct(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    first = invite_json(capsys, "HB-SX-001")
    second = invite_json(capsys, "HB-SX-001")
    assert first[0]["code"] != second[0]["code"]
    assert len(on_db(cli_db, invites)) == 2


def test_all_unregistered_skips_schools_with_a_reporter(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def register_one(db: Database) -> None:
        async with db.session() as session:
            school = await school_by_code(session, "HB-SX-001")
            assert school is not None
            session.add(Person(telegram_id=5, name="王校长", role=Role.PRINCIPAL, school_id=school.id, created_at=NOW))

    on_db(cli_db, register_one)
    records = invite_json(capsys, "--all-unregistered")
    assert sorted(r["school"] for r in records) == ["HB-DJ-001", "HB-SX-002"]


def test_staff_invites_have_no_school(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    records = invite_json(capsys, "--staff", "--count", "3")
    assert len(records) == 3 and all(r["school"] is None and LINK.match(r["link"]) for r in records)
    assert {i.role for i in on_db(cli_db, invites)} == {Role.STAFF}


def test_expires_days_sets_the_expiry(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    invite_json(capsys, "HB-SX-001", "--expires-days", "3")
    (invite,) = on_db(cli_db, invites)
    assert invite.expires_at - invite.created_at == timedelta(days=3)


def test_plain_output_has_one_readable_line_per_invite(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invite", "HB-SX-001", "HB-SX-002", "--lang", "en"]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 2
    code, name, invite_code, link = lines[0].split()
    assert (code, name) == SCHOOLS[0] and link.endswith(f"?start={invite_code}") and LINK.match(link)
    assert "2 invite(s), each usable once, until " in out.err


def test_unknown_school_codes_are_named_and_nothing_issued(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invite", "HB-SX-001", "HB-404", "hb-405", "--json", "--lang", "en"]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert "unknown school code(s): HB-404, HB-405" in out.err
    assert on_db(cli_db, invites) == []


def test_without_bot_username_or_token_it_refuses_before_issuing(
    cli_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BOT_USERNAME")
    assert main(["invite", "HB-SX-001", "--json", "--lang", "en"]) == 1
    out = capsys.readouterr()
    assert out.out == "" and "set BOT_USERNAME" in out.err
    assert main(["invite", "HB-SX-001", "--json"]) == 1
    assert "请设置 BOT_USERNAME" in capsys.readouterr().err
    assert on_db(cli_db, invites) == []


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["HB-SX-001", "--staff"],
        ["--all-unregistered", "--staff"],
        ["HB-SX-001", "--count", "2"],
        ["HB-SX-001", "--district", "濉溪县"],
    ],
    ids=["nothing", "codes-and-staff", "all-and-staff", "count-without-staff", "district-without-staff"],
)
def test_contradictory_arguments_are_refused(args: list[str], cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invite", *args]) == 2
    assert "schoolbot invite:" in capsys.readouterr().err
    assert on_db(cli_db, invites) == []


async def test_username_comes_from_getme_when_only_a_token_is_set() -> None:
    fake = FakeTelegram(username="huaibei_qgjx_bot")
    settings = make_settings("sqlite+aiosqlite://", bot_username=None, bot_token="123:abc")
    assert await resolve_bot_username(settings, request=FakeRequest(fake)) == "huaibei_qgjx_bot"
    assert fake.calls_to("getMe")


async def test_getme_failure_says_to_set_bot_username() -> None:
    fake = FakeTelegram()
    fake.fail("getMe", "server_error")
    settings = make_settings("sqlite+aiosqlite://", bot_username=None, bot_token="123:abc")
    with pytest.raises(NoBotUsername, match="set BOT_USERNAME"):
        await resolve_bot_username(settings, request=FakeRequest(fake))


async def test_bot_username_setting_wins_without_asking_telegram() -> None:
    fake = FakeTelegram(username="other_bot")
    settings = make_settings("sqlite+aiosqlite://", bot_token="123:abc")
    assert await resolve_bot_username(settings, request=FakeRequest(fake)) == "schoolbot_demo_bot"
    assert fake.calls == []


def test_issued_code_registers_a_principal(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The printed code is the one /start accepts (end to end through the service)."""
    from bot.office.registration import Outcome, redeem_invite

    (record,) = invite_json(capsys, "HB-DJ-001")

    async def redeem(db: Database) -> tuple[Outcome, str | None]:
        async with db.session() as session:
            result = await redeem_invite(
                session, NOW, telegram_id=77, name="张校长", username=None, language="zh", code=record["code"]
            )
            school = result.person.school if result.person else None
            return result.outcome, school.code if school else None

    assert on_db(cli_db, redeem) == (Outcome.REGISTERED, "HB-DJ-001")


def test_district_staff_invite_redeems_to_staff_of_that_district(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.office.registration import Outcome, redeem_invite
    from storage.models import AuditEntry, District

    records = invite_json(capsys, "--staff", "--district", "濉溪县", "--count", "2")
    assert len(records) == 2 and all(r["district"] == "濉溪县" and r["school"] is None for r in records)

    async def redeem(db: Database) -> tuple[Outcome, str, str | None, list[AuditEntry]]:
        async with db.session() as session:
            result = await redeem_invite(
                session, NOW, telegram_id=88, name="李老师", username=None, language="zh", code=records[0]["code"]
            )
            assert result.person is not None
            district = await session.get(District, result.person.district_id) if result.person.district_id else None
            rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
            return result.outcome, result.person.role, district.name if district else None, list(rows)

    outcome, role, district, rows = on_db(cli_db, redeem)
    assert (outcome, role, district) == (Outcome.REGISTERED, "staff", "濉溪县")
    issued = [r for r in rows if r.action == "invite.issued"]
    assert len(issued) == 1 and issued[0].detail is not None
    assert (issued[0].detail["district"], issued[0].detail["count"]) == ("濉溪县", 2)
    (redeemed,) = [r for r in rows if r.action == "invite.redeemed"]
    assert redeemed.subject == "person:88" and redeemed.detail is not None and redeemed.detail["district"] == "濉溪县"


def test_plain_staff_invite_says_its_scope(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invite", "--staff"]) == 0
    assert main(["invite", "--staff", "--district", "濉溪县", "--lang", "en"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("工作人员:全市 ") and lines[1].startswith("staff:濉溪县 ")


def test_staff_invite_for_an_unknown_district_names_the_known_ones_and_issues_nothing(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["invite", "--staff", "--district", "火星区", "--json", "--lang", "en"]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert "unknown district '火星区'" in out.err and "known districts: 濉溪县" in out.err
    assert on_db(cli_db, invites) == []


def test_invite_cli_speaks_chinese_by_default(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invite", "HB-SX-001", "HB-SX-002"]) == 0
    err = capsys.readouterr().err
    assert "共 2 个邀请，每个仅限使用一次，有效期至 " in err and "invite(s)" not in err
    assert main(["invite", "HB-404"]) == 1
    assert "找不到这些学校代码：HB-404" in capsys.readouterr().err
    assert main(["invite", "HB-SX-001", "--staff"]) == 2
    assert "请给出学校代码" in capsys.readouterr().err


def test_invite_for_a_school_with_a_principal_names_them_and_still_issues(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def register_head(db: Database) -> None:
        async with db.session() as session:
            school = await school_by_code(session, "HB-SX-001")
            assert school is not None
            session.add(Person(telegram_id=7001, name="王建国", role=Role.PRINCIPAL, school_id=school.id, created_at=NOW))

    on_db(cli_db, register_head)
    assert main(["invite", "HB-SX-001", "HB-SX-002"]) == 0
    out = capsys.readouterr()
    assert len(out.out.splitlines()) == 2 and len(on_db(cli_db, invites)) == 2
    (warning,) = [line for line in out.err.splitlines() if "已有校长" in line]
    assert "双堆集镇邹圩小学（HB-SX-001）已有校长：王建国（ID 7001）" in warning
    assert "schoolbot people --deactivate 7001" in warning and "/deputy" in warning
    assert main(["invite", "HB-SX-001", "--lang", "en"]) == 0
    assert "already has a principal: 王建国 (ID 7001)" in capsys.readouterr().err
