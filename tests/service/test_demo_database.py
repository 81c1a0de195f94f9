"""Demo and real data never mix: the demo's own database, seeding refused on a real roster,
demo ids Telegram cannot issue (issue 14 point 7)."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.core.catalogue import load_catalogue
from bot.core.clock import FixedClock
from bot.core.i18n import t
from bot.offline.consolechat import NEW_USER_ID
from bot.offline.demo import (
    DEMO_ID_BASE,
    DEMO_USERS,
    NotADemoDatabase,
    is_demo_id,
    load_demo,
    load_demo_people,
    load_demo_roster,
)
from bot.offline.demo_reports import load_demo_reports
from bot.offline.demodb import FALLBACK_FILE, demo_database_path
from storage.db import Database
from storage.models import District, Person, Report, School
from tests.conftest import wipe
from tests.factories import add_school
from tests.service.test_demo import on_db

# The office's own schools: codes the demo roster does not have.
REAL_SCHOOLS = (("340621-0001", "濉溪县实验小学"), ("340621-0002", "临涣镇中心学校"))


async def counts(db: Database) -> tuple[int, int, int, int]:
    async with db.session() as session:
        return (
            int(await session.scalar(select(func.count()).select_from(School)) or 0),
            int(await session.scalar(select(func.count()).select_from(District)) or 0),
            int(await session.scalar(select(func.count()).select_from(Person)) or 0),
            int(await session.scalar(select(func.count()).select_from(Report)) or 0),
        )


async def add_real_roster(db: Database) -> None:
    clock = FixedClock(datetime(2026, 11, 26, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    for code, name in REAL_SCHOOLS:
        await add_school(db, clock, code=code, name=name)


# --- demo people ---------------------------------------------------------------------------------


def test_demo_ids_are_beyond_what_telegram_issues() -> None:
    # Telegram user ids have at most 52 significant bits; the database column is a signed bigint.
    ids = [user.telegram_id for user in DEMO_USERS] + [NEW_USER_ID]
    assert DEMO_ID_BASE > 2**52
    assert all(2**52 <= telegram_id < 2**63 for telegram_id in ids)
    assert all(is_demo_id(telegram_id) for telegram_id in ids)
    assert len(set(ids)) == len(ids)
    assert not is_demo_id(2**52 - 1) and not is_demo_id(8_123_456_789)


# --- seeding refused on a real roster -----------------------------------------------------------


async def test_seeding_refuses_a_database_with_a_real_roster(db: Database, clock: FixedClock) -> None:
    await add_real_roster(db)
    before = await counts(db)
    for seed in (
        load_demo_roster(db, clock.now()),
        load_demo_people(db, clock.now()),
        load_demo_reports(db, clock.now(), load_catalogue()),
        load_demo(db, clock.now()),
    ):
        with pytest.raises(NotADemoDatabase) as refused:
            await seed
        assert refused.value.schools == len(REAL_SCHOOLS)
    assert await counts(db) == before
    assert t("zh", "demo.refused", schools=2).startswith("这个数据库已有 2 所学校，演示数据不会写入")
    assert t("en", "demo.refused", schools=2).startswith("This database already has 2 schools; the demo data is not written")


async def test_a_demo_database_is_seeded_again_without_doubling(db: Database, clock: FixedClock) -> None:
    await load_demo(db, clock.now(), reports=False)
    once = await counts(db)
    await load_demo(db, clock.now(), reports=False)
    assert await counts(db) == once and once[0] == 31


# --- through the CLI ---------------------------------------------------------------------------


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A user whose home is a temp folder (no XDG_DATA_HOME), working in another temp folder."""
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path / "work")  # no stray .env
    yield tmp_path / "home"


@pytest.fixture
def office_db(db_url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """DATABASE_URL names the office's real database, which has its roster (committed)."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    on_db(db_url, wipe)
    on_db(db_url, add_real_roster)
    yield db_url
    on_db(db_url, wipe)


def console(argv: list[str], script: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(script))
    return main(argv)


def test_console_given_the_office_database_writes_nothing_and_says_why(
    office_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = on_db(office_db, counts)
    revision = on_db(office_db, lambda db: db.current_revision())
    assert console(["console", "--database", office_db], "/report\n#1\n", monkeypatch) == 2
    out = capsys.readouterr().out
    assert out.strip() == t("zh", "demo.refused", schools=len(REAL_SCHOOLS))
    assert on_db(office_db, counts) == before
    assert on_db(office_db, lambda db: db.current_revision()) == revision
    assert main(["demo", "--database", office_db]) == 2
    assert t("zh", "demo.refused", schools=len(REAL_SCHOOLS)) in capsys.readouterr().err
    assert on_db(office_db, counts) == before


def test_console_with_database_url_set_runs_on_its_own_demo_database(
    office_db: str, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = on_db(office_db, counts)
    assert console(["console"], "/help\n", monkeypatch) == 0
    captured = capsys.readouterr()
    assert t("zh", "help.intro_principal") in captured.out
    demo_file = home / ".local" / "share" / "schoolbot" / "demo.db"
    assert t("zh", "demo.database", path=demo_file) in captured.err, "DATABASE_URL is not ignored silently"
    assert on_db(office_db, counts) == before
    url = f"sqlite+aiosqlite:///{demo_file}"
    seeded = on_db(url, counts)
    assert seeded[:3] == (31, 4, len(DEMO_USERS))
    # A second session on the same demo database seeds nothing twice.
    assert console(["console", "--as", "staff"], "/help\n", monkeypatch) == 0
    assert on_db(url, counts) == seeded


def test_demo_database_lives_in_the_users_data_folder(tmp_path: Path) -> None:
    assert demo_database_path({"HOME": str(tmp_path)}, tmp_path / "cwd") == tmp_path / ".local/share/schoolbot/demo.db"
    xdg = tmp_path / "xdg"
    assert demo_database_path({"HOME": str(tmp_path), "XDG_DATA_HOME": str(xdg)}) == xdg / "schoolbot" / "demo.db"
    assert (xdg / "schoolbot").is_dir()
    # A relative XDG_DATA_HOME is invalid by the spec and ignored.
    assert demo_database_path({"HOME": str(tmp_path), "XDG_DATA_HOME": "rel"}).parent == tmp_path / ".local/share/schoolbot"


def test_demo_database_falls_back_to_the_working_directory(tmp_path: Path) -> None:
    assert demo_database_path({}, tmp_path) == tmp_path / FALLBACK_FILE
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    # HOME is a file: no folder can be made under it.
    assert demo_database_path({"HOME": str(blocked)}, tmp_path) == tmp_path / FALLBACK_FILE


def test_demo_command_loads_into_the_demo_database(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--no-reports"]) == 0
    demo_file = home / ".local" / "share" / "schoolbot" / "demo.db"
    assert str(demo_file) in capsys.readouterr().out
    assert on_db(f"sqlite+aiosqlite:///{demo_file}", counts)[0] == 31
