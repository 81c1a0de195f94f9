"""``schoolbot webhook set|delete|info`` against the fake Bot API over HTTP, and the start-up check of ``run``."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot, WebhookInfo

from bot.cli import main
from bot.commands.webhook import describe_webhook
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.offline.fakeserver import FakeBotApiServer
from bot.runtime.webhook import ALLOWED_UPDATES, check_webhook
from tests.conftest import make_settings

TOKEN = "123456789:AAwebhookCLItokenNeverPrinted_xy"
SECRET = "cli-webhook-secret_42"


def _closed_port_url() -> str:
    """A webhook URL on loopback where nothing listens: the fake's deliveries fail at once, updates stay pending."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"http://127.0.0.1:{port}/tg"


HOOK = _closed_port_url()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """A clean environment for ``schoolbot``: no .env, nothing from the developer's shell."""
    monkeypatch.chdir(tmp_path)
    for name in ("BOT_TOKEN", "WEBHOOK_URL", "WEBHOOK_SECRET", "TELEGRAM_API_URL", "DATABASE_URL", "TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'bot.db'}")
    yield monkeypatch


def configure(env: pytest.MonkeyPatch, api: FakeBotApiServer, *, url: str | None = HOOK, token: str | None = TOKEN) -> None:
    env.setenv("TELEGRAM_API_URL", api.url)
    if token is not None:
        env.setenv("BOT_TOKEN", token)
    if url is not None:
        env.setenv("WEBHOOK_URL", url)
        env.setenv("WEBHOOK_SECRET", SECRET)


async def schoolbot(*args: str) -> int:
    """The CLI in a thread (it runs its own event loop) while the fake serves on this one."""
    return await asyncio.to_thread(main, list(args))


async def test_webhook_set_registers_the_url_secret_and_the_updates_run_handles(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeBotApiServer(FakeTelegram(), token=TOKEN) as api:
        configure(cli_env, api)
        assert await schoolbot("webhook", "set", "--max-connections", "8") == 0
        (call,) = api.fake.calls_to("setWebhook")
    assert call.params["url"] == HOOK and call.params["secret_token"] == SECRET
    assert call.params["max_connections"] == 8
    assert sorted(call.params["allowed_updates"]) == sorted(ALLOWED_UPDATES)
    assert "drop_pending_updates" not in call.params
    out = capsys.readouterr().out
    assert f"webhook set: {HOOK}" in out and SECRET not in out and TOKEN not in out


async def test_webhook_set_can_drop_the_pending_updates(cli_env: pytest.MonkeyPatch) -> None:
    async with FakeBotApiServer(FakeTelegram(), token=TOKEN) as api:
        configure(cli_env, api)
        api.user(1001, "王校长").send("/start")
        assert len(api.pending) == 1
        assert await schoolbot("webhook", "set", "--drop-pending-updates") == 0
        (call,) = api.fake.calls_to("setWebhook")
        assert call.params["drop_pending_updates"] is True
        assert api.pending == []


async def test_webhook_info_prints_url_and_pending_updates_but_never_the_secret(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeBotApiServer(FakeTelegram(), token=TOKEN) as api:
        configure(cli_env, api)
        assert await schoolbot("webhook", "set") == 0
        # Nothing listens at HOOK: Telegram (the fake) keeps the update pending.
        api.user(1001, "王校长").send("/start")
        capsys.readouterr()
        assert await schoolbot("webhook", "info") == 0
    out = capsys.readouterr().out
    lines = {line.split(None, 2)[0] + " " + line.split(None, 2)[1]: line for line in out.splitlines()}
    assert HOOK in lines["url " + HOOK] and "differs" not in out
    assert lines["pending updates"].split()[-1] == "1"
    assert "last error" in out
    assert SECRET not in out and TOKEN not in out


async def test_webhook_info_without_a_webhook_says_none_and_needs_no_webhook_url(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeBotApiServer(FakeTelegram(), token=TOKEN) as api:
        configure(cli_env, api, url=None)
        assert await schoolbot("webhook", "info") == 0
    assert "url              (none" in capsys.readouterr().out


async def test_webhook_delete_removes_it_without_a_webhook_url(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeBotApiServer(FakeTelegram(), token=TOKEN) as api:
        configure(cli_env, api)
        assert await schoolbot("webhook", "set") == 0
        # Going back to long polling: the operator unsets WEBHOOK_URL first.
        cli_env.delenv("WEBHOOK_URL")
        cli_env.delenv("WEBHOOK_SECRET")
        assert await schoolbot("webhook", "delete", "--drop-pending-updates") == 0
        (call,) = api.fake.calls_to("deleteWebhook")
        assert call.params["drop_pending_updates"] is True
        assert api.webhook is None
    assert "webhook deleted; pending updates dropped" in capsys.readouterr().out


@pytest.mark.parametrize("action", ["set", "delete", "info"])
async def test_webhook_without_a_token_exits_2_with_one_line(
    action: str, cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeBotApiServer(FakeTelegram(), token=TOKEN) as api:
        configure(cli_env, api, token=None)
        assert await schoolbot("webhook", action) == 2
        assert api.requests == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "BOT_TOKEN is not set" in err


async def test_webhook_set_without_a_webhook_url_exits_2_with_one_line(
    cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeBotApiServer(FakeTelegram(), token=TOKEN) as api:
        configure(cli_env, api, url=None)
        assert await schoolbot("webhook", "set") == 2
        assert api.requests == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "WEBHOOK_URL is not set" in err


@pytest.mark.parametrize("action", ["set", "delete", "info"])
async def test_refused_token_is_one_line_exit_1_with_the_token_redacted(
    action: str, cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeBotApiServer(FakeTelegram(), token="1:another-token") as api:
        configure(cli_env, api)
        assert await schoolbot("webhook", action) == 1
        assert [r.status for r in api.requests] == [401]
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "InvalidToken" in err
    assert TOKEN not in err and TOKEN.split(":")[1] not in err


async def test_unreachable_bot_api_is_one_line_exit_1(cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cli_env.setenv("BOT_TOKEN", TOKEN)
    cli_env.setenv("TELEGRAM_API_URL", "http://127.0.0.1:9")
    assert await schoolbot("webhook", "info") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not be reached" in err and TOKEN not in err


@pytest.mark.parametrize("value", ["0", "101", "many"])
def test_max_connections_outside_telegrams_range_is_refused(
    value: str, cli_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["webhook", "set", "--max-connections", value])
    assert stopped.value.code == 2 and "--max-connections" in capsys.readouterr().err


def test_info_shows_the_last_error_in_the_configured_timezone() -> None:
    info = WebhookInfo(
        url="https://bot.example.org/tg",
        has_custom_certificate=False,
        pending_update_count=17,
        last_error_date=datetime(2026, 12, 1, 13, 3, tzinfo=timezone.utc),
        last_error_message="Wrong response from the webhook: 503 Service Unavailable",
        max_connections=40,
        ip_address="203.0.113.7",
        allowed_updates=["message", "callback_query"],
    )
    settings = make_settings("sqlite+aiosqlite://", webhook_url="https://bot.example.org/tg", webhook_secret=SECRET)
    text = "\n".join(describe_webhook(info, settings))
    assert "2026-12-01 21:03:00 (Asia/Shanghai): Wrong response from the webhook: 503" in text
    assert "pending updates  17" in text and "max connections  40" in text and "ip address       203.0.113.7" in text
    assert "message, callback_query" in text and "differs" not in text and SECRET not in text


def test_info_flags_a_webhook_that_differs_from_webhook_url() -> None:
    info = WebhookInfo(url="https://old.example.org/tg", has_custom_certificate=False, pending_update_count=0)
    settings = make_settings("sqlite+aiosqlite://", webhook_url="https://bot.example.org/tg", webhook_secret=SECRET)
    (url_line,) = [line for line in describe_webhook(info, settings) if line.startswith("url")]
    assert "differs from WEBHOOK_URL https://bot.example.org/tg" in url_line and "schoolbot webhook set" in url_line


def _answer_info(fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    info: dict[str, Any] = {"url": url, "has_custom_certificate": False, "pending_update_count": 0}
    monkeypatch.setattr(fake, "_api_getWebhookInfo", lambda call: info)


async def test_run_start_check_is_silent_when_telegram_posts_to_webhook_url(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _answer_info(fake, monkeypatch, "https://bot.example.org/tg")
    caplog.set_level(logging.WARNING)
    async with Bot("123:TEST", request=FakeRequest(fake)) as bot:
        assert await check_webhook(bot, "https://bot.example.org/tg") is True
    assert caplog.records == []
    assert fake.calls_to("setWebhook") == [] and len(fake.calls_to("getWebhookInfo")) == 1


async def test_run_start_check_warns_once_and_does_not_set_a_differing_webhook(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _answer_info(fake, monkeypatch, "https://old.example.org/tg")
    caplog.set_level(logging.WARNING)
    async with Bot("123:TEST", request=FakeRequest(fake)) as bot:
        assert await check_webhook(bot, "https://bot.example.org/tg") is False
    (warning,) = caplog.records
    assert warning.levelname == "WARNING"
    assert "old.example.org" in warning.getMessage() and "schoolbot webhook set" in warning.getMessage()
    assert fake.calls_to("setWebhook") == []


async def test_run_start_check_survives_a_failing_bot_api(fake: FakeTelegram, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with Bot("123:TEST", request=FakeRequest(fake)) as bot:
        fake.fail("getWebhookInfo", "server_error")
        assert await check_webhook(bot, "https://bot.example.org/tg") is False
    (warning,) = caplog.records
    assert "could not ask Telegram" in warning.getMessage()
    assert fake.calls_to("setWebhook") == []
