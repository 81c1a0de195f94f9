"""Webhook mode: secret header, process-before-acknowledge, redelivery on database failure, /healthz."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.app import build_application
from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.runtime.webhook import SECRET_HEADER, serve_webhook
from storage.db import database_unavailable as is_transient
from storage.db import Database, make_engine
from tests.conftest import make_settings

# Committed data: the webhook serves updates concurrently, with per-user locks across engines.
pytestmark = pytest.mark.committed

SECRET = "s3cret_token-value"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": 1_700_000_000,
        "chat": {"id": user_id, "type": "private", "first_name": "王"},
        "from": {"id": user_id, "is_bot": False, "first_name": "王", "language_code": "zh"},
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


@pytest.fixture
async def webhook(db_url: str, db: Database, clock: FixedClock, fake: FakeTelegram) -> AsyncIterator[tuple[str, Any]]:
    port = _free_port()
    settings = make_settings(
        db_url,
        bot_token="123:TEST",
        webhook_url="https://bot.example.org/tg/hook",
        webhook_secret=SECRET,
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )
    application = build_application(settings, request=FakeRequest(fake), db=db, clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(serve_webhook(application, stop=stop))
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        for _ in range(100):
            try:
                await client.get("/healthz")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        yield base, application
    stop.set()
    await asyncio.wait_for(task, timeout=10)


async def test_webhook_server_checks_the_webhook_once_and_never_sets_it(
    webhook: tuple[str, Any], fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    # `schoolbot webhook set` registers it once per deploy; every instance setting it at start draws 429s.
    assert fake.calls_to("setWebhook") == []
    assert len(fake.calls_to("getWebhookInfo")) == 1
    # The fake has no webhook: the operator is told what to run.
    (warning,) = [r for r in caplog.get_records("setup") if "schoolbot webhook set" in r.getMessage()]
    assert warning.levelname == "WARNING" and "https://bot.example.org/tg/hook" in warning.getMessage()


async def test_update_without_the_secret_is_refused(webhook: tuple[str, Any], fake: FakeTelegram) -> None:
    base, _ = webhook
    async with httpx.AsyncClient(base_url=base) as client:
        missing = await client.post("/tg/hook", json=_update(1, 77, "/start"))
        wrong = await client.post("/tg/hook", json=_update(2, 77, "/start"), headers={SECRET_HEADER: "nope"})
    assert missing.status_code == 403 and wrong.status_code == 403
    assert fake.calls_to("sendMessage") == []


async def test_update_is_answered_before_the_webhook_acknowledges(webhook: tuple[str, Any], fake: FakeTelegram) -> None:
    base, _ = webhook
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/tg/hook", json=_update(3, 77, "/start"), headers={SECRET_HEADER: SECRET})
    assert response.status_code == 200
    # Processed synchronously: the reply exists by the time Telegram gets its 200.
    assert "77" in fake.texts(77)[-1]


async def test_database_failure_asks_telegram_to_redeliver(
    webhook: tuple[str, Any], fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, application = webhook
    db = application.bot_data.services.db
    unreachable = make_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    monkeypatch.setattr(db, "engine", unreachable)
    monkeypatch.setattr(db, "sessions", async_sessionmaker(unreachable, expire_on_commit=False))
    async with httpx.AsyncClient(base_url=base) as client:
        failed = await client.post("/tg/hook", json=_update(4, 78, "/start"), headers={SECRET_HEADER: SECRET})
        monkeypatch.undo()
        redelivered = await client.post("/tg/hook", json=_update(4, 78, "/start"), headers={SECRET_HEADER: SECRET})
    await unreachable.dispose()
    assert failed.status_code == 503
    assert redelivered.status_code == 200
    assert "临时故障" in fake.texts(78)[0] and "78" in fake.texts(78)[-1]


async def test_healthz_reports_the_database(webhook: tuple[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    base, application = webhook
    async with httpx.AsyncClient(base_url=base) as client:
        healthy = await client.get("/healthz")
        db = application.bot_data.services.db
        unreachable = make_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
        monkeypatch.setattr(db, "engine", unreachable)
        sick = await client.get("/healthz")
        monkeypatch.undo()
        await unreachable.dispose()
    assert healthy.status_code == 200 and healthy.json()["ok"] is True
    assert sick.status_code == 503


async def test_garbage_body_is_a_bad_request(webhook: tuple[str, Any]) -> None:
    base, _ = webhook
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/tg/hook", content=b"<html>", headers={SECRET_HEADER: SECRET})
    assert response.status_code == 400


def test_only_database_failures_are_transient() -> None:
    from telegram.error import BadRequest, NetworkError

    assert is_transient(OperationalError("x", {}, ConnectionRefusedError()))
    assert not is_transient(NetworkError("telegram hiccup"))
    assert not is_transient(BadRequest("message is not modified"))
    assert not is_transient(ValueError("bug"))
    assert not is_transient(None)


async def test_one_users_updates_never_overlap_across_processes(db_url: str) -> None:
    from bot.runtime.userlock import UserLocks

    # On PostgreSQL two lock managers stand for two bot processes sharing the database;
    # SQLite means a single process, hence a single manager.
    first = UserLocks(db_url)
    second = UserLocks(db_url) if db_url.startswith("postgresql") else first
    inside = 0
    most = 0

    async def process(locks: UserLocks, user_id: int) -> None:
        nonlocal inside, most
        async with locks.hold(user_id):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.02)
            inside -= 1

    try:
        await asyncio.gather(*(process(first if i % 2 else second, 42) for i in range(6)))
        assert most == 1
        most = 0
        await asyncio.gather(process(first, 1), process(second, 2))
        assert most == 2, "different users proceed in parallel"
    finally:
        await first.dispose()
        if second is not first:
            await second.dispose()
