"""Demo data: the 2007 report's districts and schools, the demo people, ``schoolbot demo``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.core.clock import FixedClock
from bot.offline.demo import DEMO_USERS, demo_user, load_demo, load_demo_people, load_demo_roster
from bot.offline.simulator import Simulator
from storage.db import Database
from storage.models import District, Person, School, SchoolProgramme
from tests.conftest import wipe

T = TypeVar("T")
SEED = Path("/work/shared/seed/2007-work-summary.txt")
NAMED_IN_REPORT = {
    "双堆集镇邹圩小学": "濉溪县",
    "五沟镇袁店中心校": "濉溪县",
    "周大庄小学": "濉溪县",
    "张庄中学": "杜集区",
    "孙土楼中学": "杜集区",
    "赵集中心校": "烈山区",
    "前黄小学": "相山区",
    "青杨小学": "相山区",
}


async def schools_by_name(db: Database) -> dict[str, School]:
    async with db.session() as session:
        return {s.name: s for s in (await session.scalars(select(School))).all()}


async def table_counts(db: Database) -> tuple[int, ...]:
    async with db.session() as session:
        counts = []
        for model in (District, School, SchoolProgramme, Person):
            counts.append(int(await session.scalar(select(func.count()).select_from(model)) or 0))
        return tuple(counts)


async def test_demo_roster_has_the_reports_districts_and_schools(db: Database, clock: FixedClock) -> None:
    roster = await load_demo_roster(db, clock.now())
    assert set(roster.districts) == {"濉溪县", "杜集区", "烈山区", "相山区"}
    schools = await schools_by_name(db)
    assert 25 <= len(schools) <= 40
    for name, district in NAMED_IN_REPORT.items():
        assert schools[name].district.name == district
    assert schools["双堆集镇邹圩小学"].code == "HB-SX-001"
    assert all(len([s for s in schools.values() if s.district.name == d]) >= 4 for d in roster.districts)


async def test_demo_programmes_follow_the_report(db: Database, clock: FixedClock) -> None:
    await load_demo_roster(db, clock.now())
    schools = list((await schools_by_name(db)).values())
    milk = [s for s in schools if "milk" in s.programme_set]
    farms = {s.name for s in schools if "farm" in s.programme_set}
    insured = [s for s in schools if "insurance" in s.programme_set]
    # The report: urban schools drink milk, the named pilots run farms, most schools are insured.
    assert milk and all(s.area == "urban" for s in milk)
    assert farms >= set(NAMED_IN_REPORT) - {"周大庄小学"}
    assert len(schools) > len(insured) > len(schools) / 2
    xiangshan = [s for s in schools if s.district.name == "相山区"]
    assert sum(s.area == "urban" for s in xiangshan) > len(xiangshan) / 2


def test_demo_school_names_appear_in_the_seed_report() -> None:
    text = SEED.read_text(encoding="utf-8")
    for name, district in NAMED_IN_REPORT.items():
        assert name in text and district in text


async def test_loading_the_demo_twice_changes_nothing(db: Database, clock: FixedClock) -> None:
    first = await load_demo(db, clock.now(), reports=False)
    counts = await table_counts(db)
    second = await load_demo(db, clock.now(), reports=False)
    assert await table_counts(db) == counts
    assert len(second.roster.result.unchanged) == len(first.roster.result.created) == len(first.roster.schools)
    assert second.roster.result.created == second.roster.result.updated == ()


async def test_demo_people_are_registered_directly(db: Database, clock: FixedClock) -> None:
    await load_demo_roster(db, clock.now())
    await load_demo_people(db, clock.now())
    async with db.session() as session:
        people = {p.telegram_id: p for p in (await session.scalars(select(Person))).all()}
    ids = {key: demo_user(key).telegram_id for key in ("principal", "principal2", "staff", "admin")}
    assert {u.telegram_id for u in DEMO_USERS} == set(people) == set(ids.values())
    zouwei = people[ids["principal"]]
    assert zouwei.role == "principal" and zouwei.school is not None and zouwei.school.name == "双堆集镇邹圩小学"
    other = people[ids["principal2"]]
    assert other.role == "principal" and other.school_id not in (None, zouwei.school_id)
    assert (people[ids["staff"]].role, people[ids["admin"]].role) == ("staff", "admin")
    with pytest.raises(KeyError, match="principal, principal2, staff, admin"):
        demo_user("janitor")


async def test_demo_people_need_the_roster_first(db: Database, clock: FixedClock) -> None:
    with pytest.raises(RuntimeError, match="load the demo roster first"):
        await load_demo_people(db, clock.now())
    assert await table_counts(db) == (0, 0, 0, 0)


async def test_demo_principal_is_greeted_as_the_schools_reporter(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await load_demo(db, clock.now(), reports=False)
    replies = await sim.user(demo_user("principal").telegram_id, "王建国").send("/start")
    assert "双堆集镇邹圩小学" in replies[-1].text


async def test_load_demo_fills_reports_from_the_given_catalogue(db: Database, clock: FixedClock) -> None:
    from sqlalchemy import select

    from bot.core.catalogue import load_catalogue
    from storage.models import Report

    catalogue = load_catalogue()
    loaded = await load_demo(db, clock.now(), catalogue=catalogue)
    assert loaded.reports is not None and "demo reports" in loaded.reports
    async with db.session() as session:
        forms = set((await session.scalars(select(Report.form_key).distinct())).all())
    assert forms == {form.key for form in catalogue}
    assert (await load_demo(db, clock.now(), reports=False)).reports is None


# --- the CLI -------------------------------------------------------------------------------------


def on_db(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    async def _run() -> T:
        database = Database(url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(_run())


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    on_db(db_url, wipe)
    yield db_url
    on_db(db_url, wipe)


def test_demo_command_twice_is_idempotent(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--database", cli_db]) == 0
    out = capsys.readouterr().out
    counts = on_db(cli_db, table_counts)
    assert counts[0] == 4 and counts[3] == len(DEMO_USERS)
    assert f"{counts[1]} new" in out and f"schoolbot console --database {cli_db} --as principal" in out
    assert str(demo_user("principal").telegram_id) in out
    assert main(["demo", "--database", cli_db]) == 0
    assert f"0 new, 0 updated, {counts[1]} unchanged" in capsys.readouterr().out
    assert on_db(cli_db, table_counts) == counts
