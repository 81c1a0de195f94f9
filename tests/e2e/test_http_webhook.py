"""The real bot process in webhook mode: Telegram (the fake) posts updates with the secret header."""

from __future__ import annotations

import socket

from bot.fakeserver import FakeBotApiServer
from storage.db import Database
from tests.e2e.conftest import StartBot, seed_school_invite, undocumented_requests

PRINCIPAL = 1001
SECRET = "e2e-webhook-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_bot_in_webhook_mode_registers_and_answers(
    api: FakeBotApiServer, e2e_db: Database, db_url: str, start_bot: StartBot
) -> None:
    code = await seed_school_invite(e2e_db)
    port = _free_port()
    bot = await start_bot(
        api,
        db_url,
        WEBHOOK_URL=f"http://127.0.0.1:{port}/tg",
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
    )
    (registered,) = await bot.until(api, lambda: api.fake.calls_to("setWebhook"), 30, "the webhook registration")
    assert registered.params["secret_token"] == SECRET

    wang = api.user(PRINCIPAL, "王校长", "zh")
    wang.send(f"/start {code}")
    (welcome,) = await bot.until(api, lambda: api.fake.sent(PRINCIPAL), 20, "the welcome")
    assert "邹圩小学" in welcome["text"]
    wang.send("/help")
    await bot.until(api, lambda: api.fake.sent(PRINCIPAL)[1:], 20, "the help")

    assert api.fake.calls_to("getUpdates") == [], "webhook mode never polls"
    assert await bot.terminate() == 0
    assert api.pending == []
    assert undocumented_requests(api) == []
