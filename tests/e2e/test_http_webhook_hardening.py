"""The real bot process in webhook mode against hostile requests: refused unread, 400 with one line, no banner."""

from __future__ import annotations

import asyncio
import socket

import httpx

from bot.offline.fakeserver import FakeBotApiServer
from storage.db import Database
from tests.e2e.conftest import StartBot

SECRET = "e2e-webhook-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _status_of_huge_post(port: int, secret: str) -> tuple[int, bytes]:
    """Announce 95 MB, send 1 KiB, and read the answer (which must come without the rest)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = (
            f"POST /tg HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-Telegram-Bot-Api-Secret-Token: {secret}\r\nContent-Length: 95000000\r\n\r\n"
        )
        writer.write(head.encode() + b"{" * 1024)
        await writer.drain()
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        return int(response.split(b" ", 2)[1]), response
    finally:
        writer.close()


async def test_webhook_process_refuses_hostile_requests_and_keeps_serving(
    api: FakeBotApiServer, e2e_db: Database, db_url: str, start_bot: StartBot
) -> None:
    port = _free_port()
    bot = await start_bot(
        api,
        db_url,
        WEBHOOK_URL=f"http://127.0.0.1:{port}/tg",
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
    )
    # The instance asks Telegram where it posts once its server listens (it never sets the webhook).
    await bot.until(api, lambda: api.fake.calls_to("getWebhookInfo"), 30, "the webhook check")
    wrong_secret, banner = await _status_of_huge_post(port, "wrong")
    too_large, _ = await _status_of_huge_post(port, SECRET)
    base = f"http://127.0.0.1:{port}"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        bodies = [await client.post("/tg", content=body, headers=headers) for body in (b"null", b"[]", b"42", b"[" * 200_000)]
        huge_id = await client.post(
            "/tg",
            content=b'{"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 1180591620717411303424, "type": "private"}}}',
            headers=headers,
        )
        health = await client.get("/healthz")
    assert (wrong_secret, too_large) == (403, 413)
    assert b"Server:" not in banner
    assert [r.status_code for r in bodies] == [400, 400, 400, 400] and huge_id.status_code == 400
    assert health.status_code == 200 and health.json() == {"ok": True} and "server" not in health.headers
    assert await bot.terminate() == 0
    output = bot.output()
    assert "Traceback" not in output
    assert output.count("refused a body that is not an update") == 5
