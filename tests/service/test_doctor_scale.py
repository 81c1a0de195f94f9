"""``schoolbot doctor`` for several instances: the pool against the concurrency it serves, and the database fingerprint."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.cli import main
from bot.commands.doctor import Row, diagnose, pool_need
from bot.offline.fakeapi import FakeTelegram
from bot.offline.fakeserver import FakeBotApiServer
from storage.db import Database, head_revision
from tests.conftest import PG_SERVER, make_settings

TOKEN = "123456:doctor-scale-token"
SECRET = "doctor-scale-secret"
WEBHOOK = {"bot_token": TOKEN, "webhook_url": "https://bot.example.org/tg", "webhook_secret": SECRET}


def row(rows: list[Row], name: str) -> Row:
    return next(r for r in rows if r[0] == name)


@pytest.fixture
def pg_url(database_urls: dict[str, str | None]) -> str:
    url = database_urls["postgresql"]
    if url is None:
        pytest.skip("no PostgreSQL server reachable (set SCHOOLBOT_TEST_PG)")
    return url


# --- the pool -------------------------------------------------------------------------------


async def test_doctor_warns_when_the_pool_cannot_serve_telegrams_default_webhook_connections(db_url: str) -> None:
    rows = await diagnose(make_settings(db_url, database_pool_size=10, **WEBHOOK), offline=True)
    name, verdict, detail = row(rows, "pool")
    background = 5 if db_url.startswith("postgresql") else 4  # tick (2 on PostgreSQL), sender 2, /healthz 1
    assert verdict == "warn"
    assert f"DATABASE_POOL_SIZE=10; this instance may want {40 + background} at once: 40 update(s)" in detail
    assert f"set DATABASE_POOL_SIZE={40 + background}" in detail
    assert f"`schoolbot webhook set --max-connections {10 - background}`" in detail
    # A warning does not fail the doctor.
    assert [r for r in rows if r[1] is False] == []


def test_doctor_prints_warn_and_still_exits_0_for_a_small_pool(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in (
        ("DATABASE_URL", db_url),
        ("BOT_TOKEN", TOKEN),
        ("WEBHOOK_URL", WEBHOOK["webhook_url"]),
        ("WEBHOOK_SECRET", SECRET),
        ("DATABASE_POOL_SIZE", "3"),
    ):
        monkeypatch.setenv(name, value)
    assert main(["doctor", "--offline"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.split()[1] == "pool"]
    assert line.startswith("WARN pool") and "DATABASE_POOL_SIZE=3" in line and "--max-connections 1`" in line


async def test_doctor_pool_is_ok_when_sized_for_the_webhook_concurrency(db_url: str) -> None:
    rows = await diagnose(make_settings(db_url, database_pool_size=45, **WEBHOOK), offline=True)
    assert row(rows, "pool")[1] is True


async def test_doctor_long_polling_needs_one_connection_for_updates(db_url: str) -> None:
    rows = await diagnose(make_settings(db_url, database_pool_size=10), offline=True)
    _, verdict, detail = row(rows, "pool")
    assert verdict is True and "1 update(s) (long polling processes one update at a time)" in detail


async def test_doctor_sizes_the_pool_from_the_webhooks_max_connections_at_telegram(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with FakeBotApiServer(FakeTelegram("doctor_bot"), token=TOKEN) as api:
        # The fake keeps no max_connections; Telegram answers it for every webhook.
        original = api._after_call

        def with_max_connections(method: str, params: dict[str, Any]) -> Any:
            answer = original(method, params)
            if method == "getWebhookInfo" and answer is not None:
                answer[1]["result"]["max_connections"] = 4
            return answer

        monkeypatch.setattr(api, "_after_call", with_max_connections)
        api._after_call("setWebhook", {"url": WEBHOOK["webhook_url"], "secret_token": SECRET})
        settings = make_settings(db_url, database_pool_size=10, telegram_api_url=api.url, **WEBHOOK)
        rows = await diagnose(settings)
    _, verdict, detail = row(rows, "pool")
    assert verdict is True, detail
    assert "4 update(s) (the webhook's max_connections at Telegram)" in detail


def test_pool_need_counts_updates_and_background_work() -> None:
    settings = make_settings("sqlite+aiosqlite://", **WEBHOOK)
    need = pool_need(settings, "postgresql", 12)
    assert (need.updates, need.background, need.total) == (12, 5, 17)


async def test_doctor_names_the_servers_connection_limit_on_postgresql(pg_url: str) -> None:
    rows = await diagnose(make_settings(pg_url), offline=True)
    assert "the server allows" in row(rows, "pool")[2]


async def test_doctor_warns_when_the_user_lock_pool_cannot_serve_the_webhook_concurrency(pg_url: str) -> None:
    rows = await diagnose(make_settings(pg_url, database_pool_size=45, user_lock_pool_size=16, **WEBHOOK), offline=True)
    _, verdict, detail = row(rows, "pool")
    assert verdict == "warn"
    assert "USER_LOCK_POOL_SIZE=16 (one user-lock connection per update in flight)" in detail
    assert "set USER_LOCK_POOL_SIZE=40" in detail and "`schoolbot webhook set --max-connections 16`" in detail


async def test_doctor_user_lock_pool_follows_the_database_pool_unless_set(pg_url: str) -> None:
    rows = await diagnose(make_settings(pg_url, database_pool_size=45, **WEBHOOK), offline=True)
    _, verdict, detail = row(rows, "pool")
    assert verdict is True and "USER_LOCK_POOL_SIZE=45" in detail and "4 for the send budget" in detail
    assert make_settings(pg_url, database_pool_size=12).user_lock_pool == 12
    assert make_settings(pg_url, database_pool_size=12, user_lock_pool_size=50).user_lock_pool == 50


# --- the fingerprint -------------------------------------------------------------------------


async def _system_identifier(url: str) -> str:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            return str(await conn.scalar(text("SELECT system_identifier FROM pg_control_system()")))
    finally:
        await db.dispose()


async def test_doctor_prints_the_databases_fingerprint_on_postgresql(pg_url: str) -> None:
    rows = await diagnose(make_settings(pg_url), offline=True)
    detail = row(rows, "database")[2]
    database = pg_url.rsplit("/", 1)[1]
    assert f"system {await _system_identifier(pg_url)}" in detail
    assert f"database {database}," in detail and f"revision {head_revision()}" in detail
    assert "server 127.0.0.1:5432" in detail


async def test_two_instances_reaching_one_database_by_different_routes_print_one_fingerprint(pg_url: str) -> None:
    other_route = pg_url.replace("@127.0.0.1", "@localhost")
    assert other_route != pg_url
    first = row(await diagnose(make_settings(pg_url), offline=True), "database")[2]
    second = row(await diagnose(make_settings(other_route), offline=True), "database")[2]
    assert first.split("fingerprint ")[1].split()[0] == second.split("fingerprint ")[1].split()[0]


async def test_another_database_on_the_same_server_has_another_fingerprint(pg_url: str) -> None:
    ours = row(await diagnose(make_settings(pg_url), offline=True), "database")[2]
    # The server's own `postgres` database: same cluster, not this bot's (no migrations).
    theirs = row(await diagnose(make_settings(f"{PG_SERVER}/postgres"), offline=True), "database")[2]
    assert "revision none" in theirs
    assert ours.split("fingerprint ")[1].split()[0] != theirs.split("fingerprint ")[1].split()[0]


@pytest.fixture
def doctor_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.chdir(tmp_path)
    for name in ("BOT_TOKEN", "WEBHOOK_URL", "WEBHOOK_SECRET", "DATABASE_POOL_SIZE"):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch


def _fingerprint_of(url: str) -> str:
    rows = asyncio.run(diagnose(make_settings(url), offline=True))
    return row(rows, "database")[2].split("fingerprint ")[1].split()[0]


def test_expect_fingerprint_passes_when_the_instance_sees_the_same_database(
    db_url: str, doctor_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _fingerprint_of(db_url)
    doctor_env.setenv("DATABASE_URL", db_url)
    assert main(["doctor", "--offline", "--expect-fingerprint", expected.upper()]) == 0
    assert f"ok  database    {db_url.split('+')[0]} reachable; fingerprint {expected}" in capsys.readouterr().out


def test_expect_fingerprint_fails_when_the_instance_sees_another_database(
    db_url: str, doctor_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doctor_env.setenv("DATABASE_URL", db_url)
    assert main(["doctor", "--offline", "--expect-fingerprint", "0123456789ab"]) == 1
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.split()[1] == "database"]
    assert line.startswith("FAIL database") and "expected fingerprint 0123456789ab" in line


async def test_sqlite_fingerprint_names_the_file(tmp_path: Path, database_urls: dict[str, str | None]) -> None:
    url = database_urls["sqlite"]
    assert url is not None
    detail = row(await diagnose(make_settings(url), offline=True), "database")[2]
    assert f"database {Path(url.split(':///', 1)[1]).resolve()}," in detail and f"revision {head_revision()}" in detail
