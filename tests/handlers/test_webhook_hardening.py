"""Webhook hardening: hostile bodies, oversize requests, overload (503, never 500), /healthz, no banner."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from telegram.ext import BaseRateLimiter

from bot.app import build_application
from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.runtime.webhook import MAX_BODY, SECRET_HEADER
from storage.db import Database, make_engine
from tests.conftest import make_settings, wipe
from tests.handlers.test_webhook import _update
from tests.webhook_server import HOOK_PATH, free_port, serving_webhook, webhook_settings

SECRET = "s3cret_token-value"
PATH = HOOK_PATH


class SlowRequest(FakeRequest):
    """The fake Bot API taking ``delay`` seconds per call, as a slow or distant Telegram does."""

    def __init__(self, fake: FakeTelegram, delay: float) -> None:
        super().__init__(fake)
        self.delay = delay

    async def do_request(self, url: str, method: str, request_data: Any = None, **kwargs: Any) -> tuple[int, bytes]:
        await asyncio.sleep(self.delay)
        return await super().do_request(url, method, request_data, **kwargs)


class NoRateLimit(BaseRateLimiter[None]):
    """Send at once: the test is about the webhook's own limits, not Telegram's flood limits."""

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(self, callback: Any, args: Any, kwargs: Any, endpoint: str, data: Any, rate_limit_args: Any) -> Any:
        return await callback(*args, **kwargs)


@asynccontextmanager
async def running_webhook(
    db_url: str, db: Database, clock: FixedClock, fake: FakeTelegram, *, delay: float = 0.0, **overrides: Any
) -> AsyncIterator[tuple[str, Any]]:
    """The bot in webhook mode on a free loopback port: (base URL, application), stopped at the end."""
    port = free_port()
    settings = webhook_settings(db_url, port, token="123:TEST", secret=SECRET, **overrides)
    request = SlowRequest(fake, delay) if delay else FakeRequest(fake)
    application = build_application(settings, request=request, db=db, clock=clock, rate_limiter=NoRateLimit())
    async with serving_webhook(application, port) as base:
        yield base, application


@pytest.fixture
async def hook(db_url: str, db: Database, clock: FixedClock, fake: FakeTelegram) -> AsyncIterator[str]:
    async with running_webhook(db_url, db, clock, fake) as (base, _):
        yield base


async def raw_request(base: str, head: str, body: bytes, *, timeout: float = 5.0) -> tuple[int, bytes, bool]:
    """Send ``head`` and ``body`` on a fresh connection; (status, response, connection closed by the server).

    Waits for the server to close the connection, so a request the server would
    keep alive must say ``Connection: close``.
    """
    port = int(base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = int(response.split(b" ", 2)[1])
        # The server closes instead of waiting for (or draining) the rest of the body.
        try:
            rest = await asyncio.wait_for(reader.read(), timeout)
        except ConnectionResetError:
            rest = b""  # closed with some of what was sent unread: a reset instead of a FIN
        return status, response + rest, True
    finally:
        writer.close()


def _head(length: int | None, secret: str | None, *, chunked: bool = False, close: bool = False) -> str:
    lines = [f"POST {PATH} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if close:
        lines.append("Connection: close")
    if secret is not None:
        lines.append(f"{SECRET_HEADER}: {secret}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None:
        lines.append(f"Content-Length: {length}")
    return "\r\n".join(lines) + "\r\n\r\n"


# --- size and secret, before the body --------------------------------------------------------------


async def test_95_mb_body_with_a_wrong_secret_is_refused_before_it_is_read(hook: str, fake: FakeTelegram) -> None:
    # 95 MB announced, 1 KiB sent: an answer proves the server did not wait for (read) the rest.
    status, response, closed = await raw_request(hook, _head(95_000_000, "wrong"), b"{" + b" " * 1023)
    assert status == 403 and closed
    assert b"Server:" not in response
    assert fake.calls_to("sendMessage") == []


async def test_95_mb_body_without_a_secret_is_refused_before_it_is_read(hook: str) -> None:
    status, _, closed = await raw_request(hook, _head(95_000_000, None), b"{}")
    assert status == 403 and closed


async def test_95_mb_body_with_the_right_secret_is_refused_as_too_large_unread(hook: str, fake: FakeTelegram) -> None:
    status, response, closed = await raw_request(hook, _head(95_000_000, SECRET), b"{" + b" " * 1023)
    assert status == 413 and closed
    assert b'"ok": false' in response
    assert fake.calls_to("sendMessage") == []


async def test_chunked_body_past_1_mib_is_refused_without_reading_to_its_end(hook: str) -> None:
    # 1 MiB in 64 KiB chunks and then 16 bytes more: the last chunk crosses the limit, and ends what is
    # sent, so whatever the server leaves unread is the end of that chunk only.
    pieces = [b" " * 65536] * (MAX_BODY // 65536) + [b" " * 16]
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
    # No terminating chunk is ever sent: an answer means the server stopped reading by itself.
    status, _, closed = await raw_request(hook, _head(None, SECRET, chunked=True), chunks)
    assert status == 413 and closed


async def test_small_chunked_update_is_processed(hook: str, fake: FakeTelegram) -> None:
    body = json.dumps(_update(5, 79, "/start")).encode()
    status, _, _ = await raw_request(
        hook, _head(None, SECRET, chunked=True, close=True), b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    )
    assert status == 200
    assert "79" in fake.texts(79)[-1]


# --- bodies that are not updates ------------------------------------------------------------------------


NOT_UPDATES = {
    "null": b"null",
    "list": b"[]",
    "number": b"42",
    "string": b'"an update"',
    "invalid": b"{update_id: 1",
    "not-utf8": b"\xff\xfe\x00{",
    "nan": b'{"update_id": NaN}',
    "no-update-id": b'{"message": {}}',
    "message-not-object": b'{"update_id": 9, "message": 5}',
    "nested-100k": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "nested-list": b"[" * 500_000,
}


@pytest.mark.parametrize("body", NOT_UPDATES.values(), ids=NOT_UPDATES.keys())
async def test_body_that_is_not_an_update_is_400_with_one_warning_and_no_traceback(
    hook: str, fake: FakeTelegram, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    async with httpx.AsyncClient(base_url=hook) as client:
        response = await client.post(PATH, content=body, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 400
    assert response.json() == {"ok": False, "description": "not an update"}
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].name == "bot.runtime.webhook", [r.getMessage() for r in warnings]
    assert all(r.exc_info is None for r in caplog.records)
    assert fake.calls_to("sendMessage") == []


async def test_user_id_beyond_64_bits_is_400_with_one_line_never_a_500(
    hook: str, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    update = _update(6, 2**70, "/start")
    async with httpx.AsyncClient(base_url=hook) as client:
        caplog.clear()
        response = await client.post(PATH, content=json.dumps(update), headers={SECRET_HEADER: SECRET})
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        # The largest id a BIGINT holds is still an id: processed, answered 200.
        fits = await client.post(PATH, content=json.dumps(_update(7, 2**63 - 1, "/start")), headers={SECRET_HEADER: SECRET})
    assert response.status_code == 400
    assert len(warnings) == 1 and "out of range" in warnings[0].getMessage()
    assert all(r.exc_info is None for r in warnings)
    assert fits.status_code == 200


# --- health and banner -------------------------------------------------------------------------------------


async def test_healthz_answers_only_ok_and_no_response_has_a_server_banner(hook: str) -> None:
    async with httpx.AsyncClient(base_url=hook) as client:
        responses = [
            await client.get("/healthz"),
            await client.post(PATH, json=_update(8, 80, "/start"), headers={SECRET_HEADER: SECRET}),
            await client.post(PATH, json=_update(9, 80, "/start")),
            await client.post(PATH, content=b"[]", headers={SECRET_HEADER: SECRET}),
            await client.get("/nothing-here"),
            await client.get(PATH, headers={SECRET_HEADER: SECRET}),
        ]
    assert [r.status_code for r in responses] == [200, 200, 403, 400, 404, 405]
    assert responses[0].json() == {"ok": True}
    for response in responses:
        assert "server" not in response.headers, response.headers
        assert b"tornado" not in response.content.lower()


async def test_healthz_is_ok_false_when_the_database_is_down(
    db_url: str, db: Database, clock: FixedClock, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_webhook(db_url, db, clock, fake) as (base, application):
        unreachable = make_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
        monkeypatch.setattr(application.bot_data.services.db, "engine", unreachable)
        async with httpx.AsyncClient(base_url=base) as client:
            sick = await client.get("/healthz")
        monkeypatch.undo()
        await unreachable.dispose()
    assert sick.status_code == 503 and sick.json() == {"ok": False}
    assert "server" not in sick.headers


# --- overload: 503, never 500, nothing lost ------------------------------------------------------------------


async def test_update_that_waits_too_long_for_its_users_lock_is_503_then_processed_on_redelivery(
    db_url: str, db: Database, clock: FixedClock, fake: FakeTelegram
) -> None:
    async with running_webhook(db_url, db, clock, fake, delay=0.5, user_lock_timeout=0.1) as (base, _):
        async with httpx.AsyncClient(base_url=base, timeout=20) as client:

            async def post(update_id: int, text: str) -> int:
                response = await client.post(PATH, json=_update(update_id, 81, text), headers={SECRET_HEADER: SECRET})
                return response.status_code

            first = asyncio.create_task(post(10, "/start"))
            await asyncio.sleep(0.2)  # the first is inside, waiting on the slow Bot API
            second = await post(11, "/help")
            assert await first == 200
            assert second == 503
            assert await post(11, "/help") == 200  # Telegram's redelivery
    texts = fake.texts(81)
    assert len(texts) == 2 and "81" in texts[0]


async def _deliver_until_acknowledged(
    client: httpx.AsyncClient, updates: list[dict[str, Any]], statuses: list[int], rounds: int = 30
) -> None:
    """Post all updates at once; redeliver the 503'd ones, as Telegram does, until each is acknowledged."""
    pending = updates
    for _ in range(rounds):
        responses = await asyncio.gather(
            *(client.post(PATH, content=json.dumps(u), headers={SECRET_HEADER: SECRET}) for u in pending)
        )
        statuses += [r.status_code for r in responses]
        pending = [u for u, r in zip(pending, responses, strict=True) if r.status_code != 200]
        if not pending:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{len(pending)} updates never acknowledged")


async def test_260_simultaneous_updates_with_a_slow_bot_api_on_postgresql_are_200_or_503_and_none_is_lost(
    database_urls: dict[str, str | None], clock: FixedClock, fake: FakeTelegram
) -> None:
    url = database_urls["postgresql"]
    if url is None:
        pytest.skip("needs PostgreSQL (no server reachable)")
    db = Database(url, pool_size=2, pool_timeout=0.2)
    await wipe(db)
    users = [5000 + i for i in range(130)]
    # Two updates per user: the pool and each user's lock are both contended.
    updates = [_update(100 + 2 * i + n, uid, "/start") for i, uid in enumerate(users) for n in range(2)]
    assert len(updates) == 260
    statuses: list[int] = []
    try:
        async with running_webhook(url, db, clock, fake, delay=0.05, user_lock_timeout=0.3) as (base, _):
            limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
            async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
                await _deliver_until_acknowledged(client, updates, statuses)
        assert set(statuses) <= {200, 503}, sorted(set(statuses))
        assert 503 in statuses, "the pool of 2 was never exhausted: the test did not load the bot"
        for uid in users:
            answered = [text for text in fake.texts(uid) if str(uid) in text]
            assert len(answered) >= 2, f"user {uid}: {fake.texts(uid)}"
    finally:
        await wipe(db)
        await db.dispose()


# --- the settings behind the 503s ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("DATABASE_POOL_SIZE", "0", "DATABASE_POOL_SIZE:"),
        ("DATABASE_POOL_SIZE", "many", "DATABASE_POOL_SIZE:"),
        ("DATABASE_POOL_TIMEOUT", "-1", "DATABASE_POOL_TIMEOUT:"),
        ("USER_LOCK_TIMEOUT", "0", "USER_LOCK_TIMEOUT:"),
        ("USER_LOCK_TIMEOUT", "soon", "USER_LOCK_TIMEOUT:"),
    ],
)
def test_bad_pool_and_lock_settings_stop_with_one_line_naming_the_variable(
    variable: str, value: str, named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.settings import SettingsError, load_settings

    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings(_env_file=None)
    assert str(refused.value).startswith(named) and "\n" not in str(refused.value)


def test_pool_settings_size_the_database_pool(tmp_path: Any) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", database_pool_size=3, database_pool_timeout=1.5)
    assert (settings.user_lock_timeout, settings.database_pool_size) == (10.0, 3)
    db = Database(settings.database_url, **settings.database_options())
    pool: Any = db.engine.pool
    assert pool.size() == 3 and pool._max_overflow == 0 and pool._timeout == 1.5
    pg = Database("postgresql+asyncpg://postgres@127.0.0.1:5432/x", **settings.database_options())
    pool = pg.engine.pool
    assert pool.size() == 3 and pool._timeout == 1.5
