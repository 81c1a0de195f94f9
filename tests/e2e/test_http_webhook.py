"""The real bot process in webhook mode: the operator sets the webhook, Telegram (the fake) posts updates with the secret header."""

from __future__ import annotations

import socket
from pathlib import Path

from bot.offline.fakeserver import FakeBotApiServer
from storage.db import Database
from tests.e2e.conftest import StartBot, run_cli, seed_school_invite, undocumented_requests

PRINCIPAL = 1001
SECRET = "e2e-webhook-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_bot_in_webhook_mode_answers_once_the_operator_sets_the_webhook(
    api: FakeBotApiServer, e2e_db: Database, db_url: str, start_bot: StartBot, tmp_path: Path
) -> None:
    code = await seed_school_invite(e2e_db)
    port = _free_port()
    webhook = {
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/tg",
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
    }
    bot = await start_bot(api, db_url, **webhook)
    # The instance only asks where Telegram posts, and tells the operator what to run.
    await bot.until(api, lambda: "schoolbot webhook set" in bot.output(), 30, "the warning that no webhook is set")
    assert len(api.fake.calls_to("getWebhookInfo")) == 1 and api.fake.calls_to("setWebhook") == []

    status, output = await run_cli(api, db_url, "webhook", "set", cwd=tmp_path, **webhook)
    assert status == 0, output
    (registered,) = api.fake.calls_to("setWebhook")
    assert registered.params["secret_token"] == SECRET and registered.params["url"] == webhook["WEBHOOK_URL"]

    wang = api.user(PRINCIPAL, "王校长", "zh")
    wang.send(f"/start {code}")
    (welcome,) = await bot.until(api, lambda: api.fake.sent(PRINCIPAL), 20, "the welcome")
    assert "邹圩小学" in welcome["text"]
    wang.send("/help")
    await bot.until(api, lambda: api.fake.sent(PRINCIPAL)[1:], 20, "the help")

    assert api.fake.calls_to("getUpdates") == [], "webhook mode never polls"
    assert len(api.fake.calls_to("setWebhook")) == 1, "only the operator's command set the webhook"
    assert await bot.terminate() == 0
    assert api.pending == []
    assert undocumented_requests(api) == []
