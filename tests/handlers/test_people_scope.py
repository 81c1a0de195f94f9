"""District-scoped staff, /staff scope buttons, /people and /deactivate, ADMIN_IDS as the source of admins."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.app import build_application
from bot.cli import main
from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.core.i18n import t
from bot.offline.simulator import Simulator
from bot.core.textsplit import utf16_len
from storage.db import Database
from storage.models import AuditEntry, District, Invite, Person
from tests.conftest import SHANGHAI, make_settings, wipe
from tests.factories import add_person, add_school, register_principal
from tests.service.test_invite_cli import on_db

LINK = re.compile(r"https://t\.me/schoolbot_demo_bot\?start=[A-Za-z0-9_-]{16,}")


async def seed(db: Database, clock: FixedClock) -> None:
    """Two districts: 濉溪县 with two schools, 相山区 with one."""
    await add_school(db, clock, "HB001", "邹圩小学", "濉溪县")
    await add_school(db, clock, "HB002", "袁店中心校", "濉溪县")
    await add_school(db, clock, "XS001", "相山小学", "相山区")


async def person(db: Database, telegram_id: int) -> Person | None:
    async with db.session() as session:
        return await session.scalar(select(Person).where(Person.telegram_id == telegram_id))


async def district_of(db: Database, telegram_id: int) -> str | None:
    async with db.session() as session:
        return await session.scalar(
            select(District.name).join(Person, Person.district_id == District.id).where(Person.telegram_id == telegram_id)
        )


async def audit_rows(db: Database, action: str) -> list[AuditEntry]:
    async with db.session() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))).all())


def ghost(chat_id: int) -> dict[str, Any]:
    """A message the bot never sent: where a forged button press claims to come from."""
    return {"message_id": 424242, "date": 1_700_000_000, "chat": {"id": chat_id, "type": "private"}, "text": "?"}


def last_answer(sim: Simulator) -> dict[str, Any]:
    return sim.fake.calls_to("answerCallbackQuery")[-1].params


@pytest.fixture
def app_with(db: Database, db_url: str, clock: FixedClock, fake: FakeTelegram) -> Callable[..., Awaitable[Simulator]]:
    """Build (and start) an application with settings overridden, e.g. another ADMIN_IDS."""
    started: list[Any] = []

    async def build(**overrides: Any) -> Simulator:
        application = build_application(make_settings(db_url, **overrides), request=FakeRequest(fake), db=db, clock=clock)
        await application.initialize()
        started.append(application)
        return Simulator(application, fake)

    return build


@pytest.fixture
async def apps(app_with: Callable[..., Awaitable[Simulator]]) -> AsyncIterator[Callable[..., Awaitable[Simulator]]]:
    built: list[Simulator] = []

    async def build(**overrides: Any) -> Simulator:
        sim = await app_with(**overrides)
        built.append(sim)
        return sim

    yield build
    for sim in built:
        await sim.app.shutdown()


# --- /addstaff ------------------------------------------------------------------


async def test_addstaff_with_a_district_makes_district_staff_and_audits_it(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await seed(db, clock)
    replies = await sim.user(900, "陈主任").send("/addstaff 2002 濉溪县 张老师")
    assert "张老师" in replies[0].text and "濉溪县" in replies[0].text
    added = await person(db, 2002)
    assert added is not None and added.role == "staff" and added.name == "张老师"
    assert await district_of(db, 2002) == "濉溪县"
    (row,) = await audit_rows(db, "staff.added")
    assert (row.actor, row.subject, row.detail["district"]) == (900, "person:2002", "濉溪县")  # type: ignore[index]


async def test_addstaff_with_a_district_after_the_name_also_scopes(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    await sim.user(900, "陈主任").send("/addstaff 2002 张老师 相山区")
    assert await district_of(db, 2002) == "相山区"
    added = await person(db, 2002)
    assert added is not None and added.name == "张老师"


async def test_addstaff_with_a_word_that_is_no_district_takes_it_as_the_name(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await seed(db, clock)
    replies = await sim.user(900, "陈主任").send("/addstaff 2003 王老师")
    assert "王老师" in replies[0].text and "全市" in replies[0].text
    added = await person(db, 2003)
    assert added is not None and added.role == "staff" and added.name == "王老师" and added.district_id is None


@pytest.mark.parametrize("bad_id", [str(2**70), str(2**63), "0", "-5", "12ab", "１２３", "²"])
async def test_addstaff_refuses_an_id_that_is_not_a_64_bit_positive_number(
    bad_id: str, sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await seed(db, clock)
    replies = await sim.user(900, "陈主任").send(f"/addstaff {bad_id} 王老师")
    assert replies[0].text == t("zh", "staff.add_usage")
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Person).where(Person.role == "staff")) == 0


# --- /staff scope buttons -----------------------------------------------------------


async def test_staff_list_shows_scopes_and_a_scope_button_moves_staff_with_an_audit_row(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await seed(db, clock)
    await add_person(db, clock, 2001, "李老师", role="staff", district="濉溪县")
    await add_person(db, clock, 2002, "周老师", role="staff")
    admin = sim.user(900, "陈主任")
    listing = await admin.send("/staff")
    text = listing[-1].text
    assert "李老师（工作人员 · 濉溪县" in text and "周老师（工作人员 · 全市" in text
    picker = await admin.press("范围：李老师")
    assert "李老师" in picker[-1].text and "濉溪县" in picker[-1].text
    labels = picker[-1].labels
    assert labels[0] == "全市" and set(labels[1:]) == {"相山区", "✓ 濉溪县"}
    assert all(len(b["callback_data"].encode()) <= 64 for row in picker[-1].buttons for b in row)
    done = await admin.press("相山区")
    assert "相山区" in done[-1].text and done[-1].edited
    assert await district_of(db, 2001) == "相山区"
    (row,) = await audit_rows(db, "staff.scope_changed")
    assert (row.actor, row.subject) == (900, "person:2001")
    assert row.detail == {"before": "濉溪县", "after": "相山区"}
    # And back to city-wide from a fresh picker.
    await admin.send("/staff")
    await admin.press("范围：李老师")
    await admin.press("全市")
    assert await district_of(db, 2001) is None
    assert [r.detail for r in await audit_rows(db, "staff.scope_changed")][-1] == {"before": "相山区", "after": None}


async def test_staff_scope_change_applies_to_invites_at_the_next_update(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    await add_person(db, clock, 2001, "李老师", role="staff", district="濉溪县")
    staff = sim.user(2001, "李老师")
    assert "找不到" in (await staff.send("/invite XS001"))[0].text
    admin = sim.user(900, "陈主任")
    await admin.send("/staff")
    await admin.press("范围：李老师")
    await admin.press("全市")
    assert LINK.search((await staff.send("/invite XS001"))[-1].text)


async def test_forged_scope_press_by_a_non_admin_is_refused_and_changes_nothing(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await seed(db, clock)
    await add_person(db, clock, 2001, "李老师", role="staff", district="濉溪县")
    replies = await sim.user(2001, "李老师").press_data("staff:set:2001:0", ghost(2001))
    assert not any("临时故障" in r.text for r in replies)
    assert last_answer(sim)["text"] == t("zh", "core.not_allowed")
    assert await district_of(db, 2001) == "濉溪县"
    assert await audit_rows(db, "staff.scope_changed") == []


@pytest.mark.parametrize(
    "data", ["staff:set:2001:999999", "staff:set:2001:x", "staff:set:7:0", "staff:set:2001", "staff:scope:abc", "staff:??"]
)
async def test_stale_or_forged_scope_presses_by_the_admin_are_answered_not_errors(
    data: str, sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await seed(db, clock)
    await add_person(db, clock, 2001, "李老师", role="staff", district="濉溪县")
    replies = await sim.user(900, "陈主任").press_data(data, ghost(900))
    assert not any("临时故障" in r.text for r in replies)
    assert last_answer(sim).get("text")
    assert await district_of(db, 2001) == "濉溪县"
    assert await audit_rows(db, "staff.scope_changed") == []


async def test_scope_press_for_someone_removed_meanwhile_says_they_are_no_longer_staff(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await seed(db, clock)
    await add_person(db, clock, 2001, "李老师", role="staff", district="濉溪县")
    admin = sim.user(900, "陈主任")
    await admin.send("/staff")
    picker = await admin.press("范围：李老师")
    await admin.send("/deactivate 2001")
    await admin.press("相山区", message_id=picker[-1].message_id)
    assert last_answer(sim)["text"] == t("zh", "staff.not_staff")
    assert await district_of(db, 2001) == "濉溪县"


# --- district staff redeem a district invite ----------------------------------------


async def test_district_staff_invite_from_the_service_makes_district_staff(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    from bot.office.registration import issue_invites

    await seed(db, clock)
    async with db.session() as session:
        (invite,) = await issue_invites(session, clock.now(), staff=True, district="相山区", created_by=900)
    await sim.user(2005, "吴老师").send(f"/start {invite.code}")
    assert await district_of(db, 2005) == "相山区"
    (row,) = await audit_rows(db, "invite.redeemed")
    assert row.subject == "person:2005" and row.detail is not None and row.detail["district"] == "相山区"
    (issued,) = await audit_rows(db, "invite.issued")
    assert issued.detail is not None and (issued.detail["district"], issued.detail["count"]) == ("相山区", 1)


# --- /invite confined to the sender's district ----------------------------------------


async def test_district_staff_invite_for_a_foreign_school_gets_the_unknown_code_reply_and_no_invite(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await seed(db, clock)
    await add_person(db, clock, 2001, "李老师", role="staff", district="濉溪县")
    staff = sim.user(2001, "李老师")
    foreign = await staff.send("/invite XS001")
    unknown = await staff.send("/invite ZZ999")
    assert foreign[0].text == t("zh", "invite.unknown_schools", codes="XS001")
    assert unknown[0].text == t("zh", "invite.unknown_schools", codes="ZZ999")
    assert "相山" not in foreign[0].text
    mixed = await staff.send("/invite HB001 XS001")
    assert mixed[0].text == t("zh", "invite.unknown_schools", codes="XS001")
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Invite)) == 0
    assert await audit_rows(db, "invite.issued") == []
    own = await staff.send("/invite HB001 HB002")
    assert len(LINK.findall(own[-1].text)) == 2


async def test_city_staff_and_admins_invite_any_school(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    await add_person(db, clock, 2002, "周老师", role="staff")
    assert LINK.search((await sim.user(2002, "周老师").send("/invite XS001 HB001"))[-1].text)
    assert LINK.search((await sim.user(900, "陈主任").send("/invite XS001"))[-1].text)
    rows = await audit_rows(db, "invite.issued")
    assert [(r.actor, r.subject) for r in rows] == [(2002, "XS001"), (2002, "HB001"), (900, "XS001")]


async def test_eighty_school_invite_delivers_every_link_in_messages_that_fit_telegram(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    codes = [f"HB{n:03d}" for n in range(1, 81)]
    for code in codes:
        await add_school(db, clock, code, f"淮北市濉溪县双堆集镇第{code}号中心小学（勤工俭学示范校）🌾", "濉溪县")
    replies = await sim.user(900, "陈主任").send("/invite " + " ".join(codes))
    assert len(replies) > 1
    assert all(utf16_len(r.text) <= 4096 for r in replies)
    text = "\n".join(r.text for r in replies)
    assert len(set(LINK.findall(text))) == 80
    assert all(f"{code} " in text for code in codes)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Invite)) == 80


# --- /people and /deactivate ------------------------------------------------------------


async def test_people_lists_everyone_or_one_district_or_one_school(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    await add_person(db, clock, 1001, "王校长", school_code="HB001")
    await add_person(db, clock, 1003, "赵校长", school_code="XS001")
    await add_person(db, clock, 2001, "李老师", role="staff", district="濉溪县")
    await add_person(db, clock, 2002, "周老师", role="staff")
    admin = sim.user(900, "陈主任")
    everyone = (await admin.send("/people"))[-1].text
    for needle in (
        "王校长 · 填报人 · HB001 邹圩小学 · ID 1001",
        "李老师 · 工作人员 · 濉溪县",
        "周老师 · 工作人员 · 全市",
        "赵校长",
    ):
        assert needle in everyone
    district = (await admin.send("/people 濉溪县"))[-1].text
    assert "王校长" in district and "李老师" in district
    assert "赵校长" not in district and "周老师" not in district
    school = (await admin.send("/people xs001"))[-1].text
    assert "赵校长" in school and "王校长" not in school
    unknown = (await admin.send("/people 火星区"))[-1].text
    assert "火星区" in unknown and "濉溪县" in unknown and "相山区" in unknown


async def test_people_is_for_admins_only(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    await add_person(db, clock, 2002, "周老师", role="staff")
    for command in ("/people", "/deactivate 2002"):
        replies = await sim.user(2002, "周老师").send(command)
        assert replies[0].text == t("zh", "core.not_allowed")
    found = await person(db, 2002)
    assert found is not None and found.active


async def test_long_people_list_is_split_into_messages_that_fit(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    for n in range(150):
        await add_person(db, clock, 5000 + n, f"第{n}位校长（淮北市濉溪县双堆集镇）", school_code="HB001")
    replies = await sim.user(900, "陈主任").send("/people")
    assert len(replies) > 1 and all(utf16_len(r.text) <= 4096 for r in replies)
    assert all(f"ID {5000 + n}" in "\n".join(r.text for r in replies) for n in range(150))


async def test_deactivated_principal_is_treated_as_unknown_at_their_next_update(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await seed(db, clock)
    principal = await register_principal(sim, db, clock, 1001, "HB001")
    replies = await sim.user(900, "陈主任").send("/deactivate 1001")
    assert "王校长" in replies[0].text and "已停用" in replies[0].text
    after = await principal.send("/report")
    assert after[0].text == t("zh", "core.not_registered", user_id=1001)
    found = await person(db, 1001)
    assert found is not None and found.active is False and found.school_id is not None  # history kept
    (row,) = await audit_rows(db, "person.deactivated")
    assert (row.actor, row.subject) == (900, "person:1001")
    assert row.detail is not None and (row.detail["role"], row.detail["school"]) == ("principal", "HB001")
    again = await sim.user(900, "陈主任").send("/deactivate 1001")
    assert "已经是停用状态" in again[0].text
    assert len(await audit_rows(db, "person.deactivated")) == 1


async def test_deactivated_staff_loses_office_commands(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    await add_person(db, clock, 2001, "李老师", role="staff", district="濉溪县")
    await sim.user(900, "陈主任").send("/deactivate 2001")
    replies = await sim.user(2001, "李老师").send("/invite HB001")
    assert replies[0].text == t("zh", "core.not_allowed")


@pytest.mark.parametrize("args", ["", str(2**70), "abc", "1001 1002"])
async def test_deactivate_with_a_bad_id_shows_the_usage(args: str, sim: Simulator, db: Database, clock: FixedClock) -> None:
    replies = await sim.user(900, "陈主任").send(f"/deactivate {args}".strip())
    assert replies[0].text == t("zh", "people.deactivate_usage")


async def test_deactivate_an_unknown_id_says_so(sim: Simulator) -> None:
    replies = await sim.user(900, "陈主任").send("/deactivate 31337")
    assert replies[0].text == t("zh", "people.unknown_person", telegram_id=31337)


async def test_admin_cannot_deactivate_themself_or_another_admin_ids_admin(
    apps: Callable[..., Awaitable[Simulator]], db: Database
) -> None:
    sim = await apps(admin_ids=frozenset({900, 901}))
    await sim.user(901, "孙主任").send("/start")
    admin = sim.user(900, "陈主任")
    assert (await admin.send("/deactivate 900"))[0].text == t("zh", "people.cannot_deactivate_self")
    assert "ADMIN_IDS" in (await admin.send("/deactivate 901"))[0].text
    for telegram_id in (900, 901):
        found = await person(db, telegram_id)
        assert found is not None and found.active and found.role == "admin"
    assert await audit_rows(db, "person.deactivated") == []


# --- ADMIN_IDS is the source of admins --------------------------------------------------


async def test_id_removed_from_admin_ids_is_no_longer_admin_at_its_next_update(
    apps: Callable[..., Awaitable[Simulator]], db: Database
) -> None:
    before = await apps(admin_ids=frozenset({900, 901}))
    assert "办公室人员" in (await before.user(901, "孙主任").send("/staff"))[0].text
    after = await apps(admin_ids=frozenset({900}))
    chat = after.user(901, "孙主任")
    assert (await chat.send("/staff"))[0].text == t("zh", "core.not_allowed")
    assert (await chat.send("/start"))[0].text == t("zh", "start.how_to_register", user_id=901)
    found = await person(db, 901)
    assert found is not None and found.active is False
    (row,) = await audit_rows(db, "admin.revoked")
    assert row.subject == "person:901"
    # Put back in ADMIN_IDS, they are admin again.
    again = await apps(admin_ids=frozenset({900, 901}))
    assert "办公室人员" in (await again.user(901, "孙主任").send("/staff"))[0].text


async def test_admin_ids_admins_stay_admins_without_writing(sim: Simulator, db: Database) -> None:
    admin = sim.user(900, "陈主任")
    await admin.send("/start")
    await admin.send("/staff")
    await admin.send("/help")
    assert await audit_rows(db, "admin.revoked") == []
    assert len(await audit_rows(db, "admin.bootstrapped")) == 1


# --- schoolbot people ---------------------------------------------------------------------


@pytest.fixture
def people_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """``schoolbot`` on a test database with a principal per district, district and city staff, an admin."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("ADMIN_IDS", "900")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    clock = FixedClock(datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI))

    async def populate(db: Database) -> None:
        await seed(db, clock)
        await add_person(db, clock, 1001, "王校长", school_code="HB001")
        await add_person(db, clock, 1003, "赵校长", school_code="XS001")
        await add_person(db, clock, 2001, "李老师", role="staff", district="濉溪县")
        await add_person(db, clock, 2002, "周老师", role="staff")
        await add_person(db, clock, 900, "陈主任", role="admin")
        gone = await add_person(db, clock, 1009, "钱校长", school_code="HB002")
        async with db.session() as session:
            await session.execute(update(Person).where(Person.id == gone.id).values(active=False))

    on_db(db_url, wipe)
    on_db(db_url, populate)
    yield db_url
    on_db(db_url, wipe)


def people_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["people", *args, "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert isinstance(records, list)
    return records


def test_people_cli_lists_role_school_or_district_and_active(people_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["people", "--lang", "en"]) == 0
    out = capsys.readouterr()
    rows = {line.split("\t")[0]: line.split("\t") for line in out.out.splitlines()}
    assert rows["1001"] == ["1001", "王校长", "reporter", "HB001 邹圩小学 (濉溪县)", "active"]
    assert rows["2001"] == ["2001", "李老师", "staff", "濉溪县", "active"]
    assert rows["2002"] == ["2002", "周老师", "staff", "city-wide", "active"]
    assert rows["900"][2:] == ["admin", "city-wide", "active"]
    assert "1009" not in rows  # deactivated people only with --inactive
    assert out.err.strip() == "5 person(s)"


def test_people_cli_speaks_chinese_by_default(people_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["people", "--inactive"]) == 0
    out = capsys.readouterr()
    rows = {line.split("\t")[0]: line.split("\t") for line in out.out.splitlines()}
    assert rows["1001"] == ["1001", "王校长", "填报人", "HB001 邹圩小学 (濉溪县)", "在用"]
    assert rows["2002"] == ["2002", "周老师", "工作人员", "全市", "在用"]
    assert rows["900"][2:] == ["管理员", "全市", "在用"]
    assert rows["1009"][2:] == ["填报人", "HB002 袁店中心校 (濉溪县)", "已停用"]
    assert out.err.strip() == "共 6 人"
    assert not any(word in out.out + out.err for word in ("principal", "staff", "active", "person(s)"))
    assert main(["people", "--deactivate", "1001"]) == 0
    assert "已停用：" in capsys.readouterr().out
    assert main(["people", "--deactivate", "31337"]) == 1
    assert "没有 Telegram ID 为 31337 的人员" in capsys.readouterr().err
    assert main(["people", "--district", "火星区"]) == 1
    assert "没有“火星区”这个区县" in capsys.readouterr().err


def test_people_cli_json_filters_by_role_district_and_inactive(people_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    staff = people_json(capsys, "--role", "staff")
    assert {(r["telegram_id"], r["district"]) for r in staff} == {(2001, "濉溪县"), (2002, None)}
    district = people_json(capsys, "--district", "濉溪县")
    assert {r["telegram_id"] for r in district} == {1001, 2001}
    everyone = people_json(capsys, "--inactive")
    gone = next(r for r in everyone if r["telegram_id"] == 1009)
    assert gone == {
        "telegram_id": 1009,
        "name": "钱校长",
        "role": "principal",
        "school_code": "HB002",
        "school_name": "袁店中心校",
        "district": "濉溪县",
        "active": False,
    }
    assert main(["people", "--district", "火星区", "--lang", "en"]) == 1
    err = capsys.readouterr().err
    assert "unknown district '火星区'" in err and "濉溪县" in err and "相山区" in err


def test_people_cli_deactivates_one_and_keeps_the_row(people_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["people", "--deactivate", "1001", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "1001\t王校长\treporter" in out and "deactivated" in out
    (record,) = [r for r in people_json(capsys, "--inactive") if r["telegram_id"] == 1001]
    assert record["active"] is False and record["school_code"] == "HB001"

    async def rows(db: Database) -> list[AuditEntry]:
        async with db.session() as session:
            return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == "person.deactivated"))).all())

    (row,) = on_db(people_db, rows)
    assert (row.actor, row.subject) == (None, "person:1001")
    assert main(["people", "--deactivate", "1001", "--lang", "en"]) == 0
    assert "already inactive" in capsys.readouterr().out
    assert len(on_db(people_db, rows)) == 1


@pytest.mark.parametrize(
    ("telegram_id", "code", "message"),
    [("31337", 1, "nobody has the Telegram id 31337"), ("900", 1, "ADMIN_IDS"), (str(2**70), 2, "not a Telegram user id")],
    ids=["unknown", "admin-ids-admin", "beyond-64-bits"],
)
def test_people_cli_refuses_to_deactivate_unknown_or_protected_ids(
    telegram_id: str, code: int, message: str, people_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["people", "--deactivate", telegram_id, "--lang", "en"]) == code
    out = capsys.readouterr()
    assert message in out.err and out.out == ""
    assert all(r["active"] for r in people_json(capsys) if r["telegram_id"] == 900)


async def test_person_deactivated_by_the_cli_is_unknown_in_chat(sim: Simulator, db: Database, clock: FixedClock) -> None:
    """The service the CLI calls, then the principal's next update."""
    from bot.office.registration import deactivate_person

    await seed(db, clock)
    principal = await register_principal(sim, db, clock, 1001, "HB001")
    async with db.session() as session:
        await deactivate_person(session, clock.now(), actor=None, telegram_id=1001, admin_ids=frozenset({900}))
    replies = await principal.send("/status")
    assert replies[0].text == t("zh", "core.not_registered", user_id=1001)


async def test_invite_all_covers_only_unregistered_schools_of_the_district(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await seed(db, clock)
    await add_person(db, clock, 1001, "王校长", school_code="HB001")
    await add_person(db, clock, 2001, "李老师", role="staff", district="濉溪县")
    staff = sim.user(2001, "李老师")
    replies = await staff.send("/invite all")
    text = "\n".join(r.text for r in replies)
    assert "HB002" in text and "HB001" not in text and "XS001" not in text
    assert len(LINK.findall(text)) == 1
    await add_person(db, clock, 1002, "孙校长", school_code="HB002")
    assert (await staff.send("/invite all"))[0].text == t("zh", "invite.all_registered")


async def test_staff_invite_for_another_district_is_refused_to_district_scope(db: Database, clock: FixedClock) -> None:
    from bot.office.registration import UnknownDistrict, issue_invites

    await seed(db, clock)
    async with db.session() as session:
        own = await session.scalar(select(District).where(District.name == "濉溪县"))
        assert own is not None
        with pytest.raises(UnknownDistrict):
            await issue_invites(session, clock.now(), staff=True, district="相山区", scope_district_id=own.id)
        (invite,) = await issue_invites(session, clock.now(), staff=True, scope_district_id=own.id)
    assert invite.district == "濉溪县"
