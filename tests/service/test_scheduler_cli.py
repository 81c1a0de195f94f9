"""``schoolbot reminders --at ...``: the schedule as the office checks it, on the demo data."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.commands.reminders import reminders
from bot.offline.demo import demo_user, load_demo
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from storage.db import Database
from storage.reminders import reminder_rows
from tests.conftest import BACKENDS, SHANGHAI, make_settings, wipe
from tests.service.test_invite_cli import on_db

DEMO_NOW = datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)
MILK_PRINCIPAL = demo_user("principal2")  # 李红梅, an urban milk-programme school


async def _load(db: Database) -> None:
    await load_demo(db, DEMO_NOW)


async def _sends(db: Database) -> list[tuple[str, str, str, str]]:
    async with db.session() as session:
        return [(r.form_key, r.period, r.slot, r.status) for r in await reminder_rows(session)]


@pytest.fixture(scope="module", params=BACKENDS)
def demo_url(request: pytest.FixtureRequest, database_urls: dict[str, str | None]) -> Iterator[str]:
    """A test database holding the demo (roster, people, a year of reports), loaded once per backend.

    The tests below only read it, except the last one, which sends.
    """
    url = database_urls[request.param]
    if url is None:
        pytest.skip("no PostgreSQL server reachable (set SCHOOLBOT_TEST_PG)")
    on_db(url, wipe)
    on_db(url, _load)
    yield url
    on_db(url, wipe)


@pytest.fixture
def demo_db(demo_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """``schoolbot`` configured (DATABASE_URL) for the demo database."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", demo_url)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    return demo_url


def test_dry_run_lists_reminders_and_digests_and_sends_nothing(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reminders", "--at", "2026-12-07 09:30"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("时间：2026-12-07 09:30（Asia/Shanghai）")
    assert "「学生饮用奶月报」2026年11月（截止 2026年12月5日） · 提醒档 d+1" in out
    assert f"（{MILK_PRINCIPAL.school_code}） → {MILK_PRINCIPAL.name}" in out
    assert "之前错过的提醒档 d-3, d+0 将记为跳过" in out
    assert "逾期未报汇总 → 张老师" in out and "每周填报进度 → 张老师" in out  # Monday
    assert "以上为预演，没有发送任何消息" in out
    assert on_db(demo_db, _sends) == []


def test_english_output(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reminders", "--at", "2026-12-07 09:30", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "“Student milk monthly report” November 2026 (due 2026-12-05) · slot d+1" in out
    assert "This was a dry run" in out


def test_quiet_hours_moment_says_nothing_goes_out_and_when_it_will(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reminders", "--at", "2026-12-07 22:30"]) == 0
    out = capsys.readouterr().out
    assert "此刻处于免打扰时段（21:00–08:00）" in out and "下一个可发送时间：2026-12-08 08:00" in out
    assert "没有到期的提醒" in out


def test_send_without_bot_token_says_so_and_sends_nothing(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reminders", "--at", "2026-12-07 09:30", "--send"]) == 2
    captured = capsys.readouterr()
    assert "--send 需要设置 BOT_TOKEN" in captured.err
    assert on_db(demo_db, _sends) == []


def test_bad_at_is_explained(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reminders", "--at", "next monday"]) == 2
    assert "YYYY-MM-DD HH:MM" in capsys.readouterr().err


def test_unmigrated_database_points_at_migrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["reminders", "--at", "2026-12-07 09:30"]) == 2
    assert "schoolbot migrate" in capsys.readouterr().err


def test_send_delivers_records_and_a_second_run_has_nothing_left(demo_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeTelegram()
    settings = make_settings(demo_db, bot_token="123:ABC")
    at = datetime(2026, 12, 7, 9, 30, tzinfo=SHANGHAI)
    assert asyncio.run(reminders(settings, at, send=True, request=FakeRequest(fake))) == 0
    out = capsys.readouterr().out
    assert "已发送：提醒 1 条" in out
    (message,) = fake.sent(MILK_PRINCIPAL.telegram_id)
    assert "2026年11月" in message["text"]
    sends = on_db(demo_db, _sends)
    assert ("milk", "2026-11", "d+1", "sent") in sends and ("milk", "2026-11", "d-3", "skipped") in sends
    assert main(["reminders", "--at", "2026-12-07 09:45"]) == 0
    again = capsys.readouterr().out
    assert "没有到期的提醒" in again and "没有到期的汇总" in again
