"""Set-up shared by the tests that serve our webhook: settings for a loopback port, and the server running.

``serving_webhook`` runs ``bot.runtime.webhook.serve_webhook`` for an application until the
block ends, and yields its base URL once ``/healthz`` answers (a condition, not a sleep).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from bot.app import App
from bot.runtime.webhook import serve_webhook
from bot.settings import Settings
from tests.conftest import make_settings

HOOK_PATH = "/tg/hook"


def free_port() -> int:
    """A loopback port nobody listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def webhook_settings(db_url: str, port: int, *, token: str, secret: str, **overrides: Any) -> Settings:
    """Test settings for webhook mode, listening on ``127.0.0.1:port`` at ``HOOK_PATH``."""
    return make_settings(
        db_url,
        bot_token=token,
        webhook_url=f"https://bot.example.org{HOOK_PATH}",
        webhook_secret=secret,
        webhook_listen="127.0.0.1",
        webhook_port=port,
        **overrides,
    )


@asynccontextmanager
async def serving_webhook(application: App, port: int, *, stop_timeout: float = 20.0) -> AsyncIterator[str]:
    """Serve ``application``'s webhook on ``port`` until the block ends; yields ``http://127.0.0.1:<port>``."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve_webhook(application, stop=stop))
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for _ in range(500):
                if task.done():
                    break  # it failed to start: the await below raises why
                try:
                    await client.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.02)
        if task.done():
            await task
        yield base
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=stop_timeout)
