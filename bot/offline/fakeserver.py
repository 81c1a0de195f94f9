"""A Bot API server on loopback HTTP, answering from a ``bot.offline.fakeapi.FakeTelegram``.

End-to-end tests run the real bot process against it through ``TELEGRAM_API_URL``,
so everything between the bot's handlers and the socket (PTB's ``HTTPXRequest``,
form and multipart encoding, long polling, timeouts, shutdown) is exercised::

    async with FakeBotApiServer(token="123456:TEST-TOKEN") as server:
        ...  # start the bot with TELEGRAM_API_URL=server.url
        wang = server.user(1001, "王校长")
        wang.send("/start abc")
        await server.wait_for_messages(1001, 1)

Routes (tornado, which PTB's ``webhooks`` extra installs; one event loop):

- ``GET|POST /bot<token>/<method>``: JSON, form-urlencoded or multipart bodies
  (and query strings) → ``FakeTelegram.answer(method, params, files)`` → its JSON
  and HTTP status. A wrong token gets 401 Unauthorized, as Telegram answers.
- ``GET /file/bot<token>/<file_path>``: bytes registered with ``fake.add_file``.
- ``getUpdates`` is real long polling: ``offset`` confirms (drops) earlier updates,
  ``timeout`` waits up to that many seconds for one, ``limit`` caps the batch;
  a second poller terminates the first with 409 Conflict, as Telegram does.
  ``setWebhook`` switches to webhook delivery (POST to the URL with the
  ``X-Telegram-Bot-Api-Secret-Token`` header); getUpdates then answers 409.
- ``/_fake/...``: a small control API for standalone use (see below); the bot
  never calls it.

A ``timeout`` fault (``fake.fail(method, "timeout")``) holds the request for
``timeout_delay`` seconds (default 6 s, longer than PTB's 5 s default read
timeout, so the client raises a real ``TimedOut``) and then drops the connection
without an answer; ``timeout_delay=0`` drops it at once (PTB then raises
``NetworkError``, the same "maybe delivered" ambiguity, without the wait). Either
way ``fake.calls`` records the call but no message is delivered.

Standalone, for manual runs and multi-process tests::

    python -m bot.offline.fakeserver --port 8081 --token 123:abc
    curl -d '{"user_id": 1001, "text": "/start"}' localhost:8081/_fake/send
    curl -d '{"user_id": 1001, "label": "English"}' localhost:8081/_fake/press
    curl localhost:8081/_fake/messages?chat_id=1001
    curl localhost:8081/_fake/calls
    curl -d '{"method": "sendMessage", "kind": "retry_after"}' localhost:8081/_fake/fail
    curl -d '{"update_id": 0, "message": {...}}' localhost:8081/_fake/update   # raw update
    curl localhost:8081/_fake/limits          # with --rate-limits: admitted and refused sends

Telegram's flood limits are off by default (tests that are not about them stay
quick and deterministic). Opt in with ``FakeBotApiServer(limits=FloodLimits())``,
``--rate-limits`` or ``FAKE_BOT_API_RATE_LIMITS=1``: then at most 30 messages
in any one second overall and one per second in one chat are accepted, each a
sliding one-second window checked when the request arrives; beyond that the
answer is Telegram's 429 with ``parameters.retry_after`` (whole seconds until
the window has room). "Messages" are the methods that create one
(``FLOOD_LIMITED``: sendMessage, sendPhoto, sendDocument, ...); edits, callback
answers and chat actions pass uncounted, since Telegram documents its limits
for messages sent. ``FloodLimits`` keeps every admitted and refused request
with its time, for load tests to read (``benchmarks/burst.py``); a refused
request never reaches the ``FakeTelegram`` (it is not in ``fake.calls``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote

import httpx
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

from bot.offline.fakeapi import FakeTelegram
from bot.offline.fakeroutes import (
    NO_ANSWER,
    ApiHandler,
    ControlHandler,
    FileHandler,
    NotFoundHandler,
    Poll,
    error_answer,
)
from bot.offline.floodlimits import FLOOD_LIMITED, RATE_LIMITS_ENV, FloodLimits
from bot.offline.simulator import callback_query_payload, message_payload, text_content, user_payload

# The server's flood limits, form decoding and "no answer" status live in their own modules;
# importing them from here keeps working.
__all__ = [
    "DEFAULT_TOKEN",
    "FLOOD_LIMITED",
    "NO_ANSWER",
    "RATE_LIMITS_ENV",
    "FakeBotApiServer",
    "RemoteChat",
    "ServedRequest",
    "main",
    "serve",
]

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456:TEST-TOKEN"
T = TypeVar("T")


@dataclass
class ServedRequest:
    """One HTTP request the server received (whatever its path; percent-decoded)."""

    http_method: str
    path: str
    status: int
    at: float = field(default_factory=time.monotonic)


class RemoteChat:
    """A user in their private chat with the bot, talking through the HTTP server."""

    def __init__(self, server: "FakeBotApiServer", user_id: int, first_name: str, language_code: str | None) -> None:
        self.server = server
        self.user_id = user_id
        self.user = user_payload(user_id, first_name, language_code)

    def send(self, text: str) -> int:
        """Queue a text message (a ``/command`` gets its entity); return the update_id."""
        return self.server.push_update({"message": message_payload(self.user, text_content(text))})

    def press(self, label: str, *, message_id: int | None = None) -> int:
        """Press the inline button whose text contains ``label`` (newest message with buttons)."""
        buttons = list(self.server.fake.buttons(self.user_id, message_id))
        for button in buttons:
            if label in button["text"] and "callback_data" in button:
                return self.press_data(button["callback_data"], button["message"])
        raise AssertionError(f"no button {label!r} for user {self.user_id}; buttons: {[b['text'] for b in buttons]}")

    def press_data(self, data: str, message: dict[str, Any] | None = None) -> int:
        """Press a button carrying ``data`` under ``message`` (default: the newest message)."""
        message = message if message is not None else self.server.fake.last(self.user_id)
        return self.server.push_update({"callback_query": callback_query_payload(self.user, data, message)})

    @property
    def texts(self) -> list[str]:
        return self.server.fake.texts(self.user_id)

    async def wait_messages(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until the bot has sent at least ``count`` messages to this chat; return them all."""
        return await self.server.wait_for_messages(self.user_id, count, timeout)


class FakeBotApiServer:
    """Serves ``fake`` over HTTP on loopback; an async context manager."""

    def __init__(
        self,
        fake: FakeTelegram | None = None,
        *,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout_delay: float = 6.0,
        limits: FloodLimits | None = None,
    ) -> None:
        self.fake = fake or FakeTelegram()
        # Telegram's flood limits: off unless given, or asked for by the environment.
        if limits is None and os.environ.get(RATE_LIMITS_ENV, "") == "1":
            limits = FloodLimits()
        self.limits = limits
        self.token = token
        self.host = host
        self.port = port
        self.timeout_delay = timeout_delay
        self.requests: list[ServedRequest] = []
        self.pending: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self._poll: Poll | None = None
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._http: HTTPServer | None = None
        self._delivery: asyncio.Task[None] | None = None

    # --- lifecycle --------------------------------------------------------
    @property
    def url(self) -> str:
        """Root of the Bot API, what ``TELEGRAM_API_URL`` should be."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen (again: after ``stop`` it comes back on the same port, like an API outage ending)."""
        self._closing.clear()
        app = Application(
            [
                (r"/bot([^/]*)/([A-Za-z]+)", ApiHandler, {"server": self}),
                (r"/file/bot([^/]*)/(.+)", FileHandler, {"server": self}),
                (r"/_fake/(\w+)", ControlHandler, {"server": self}),
                (r"/.*", NotFoundHandler, {"server": self}),
            ],
            log_function=lambda handler: None,
        )
        sockets = bind_sockets(self.port, self.host, family=socket.AF_INET)
        self.port = sockets[0].getsockname()[1]
        self._http = HTTPServer(app)
        self._http.add_sockets(sockets)

    async def stop(self) -> None:
        self._closing.set()
        self._notify()
        if self._delivery is not None:
            self._delivery.cancel()
            await asyncio.gather(self._delivery, return_exceptions=True)
        if self._http is not None:
            self._http.stop()
            # Let woken long polls answer before their connections are cut.
            await asyncio.sleep(0.05)
            await self._http.close_all_connections()
            self._http = None

    async def __aenter__(self) -> "FakeBotApiServer":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- updates ----------------------------------------------------------
    def push_update(self, payload: dict[str, Any]) -> int:
        """Queue an update (its ``update_id`` is assigned here) for getUpdates or the webhook."""
        update = {**payload, "update_id": self.fake.next_update_id()}
        self.pending.append(update)
        self._notify()
        return int(update["update_id"])

    def user(self, user_id: int, first_name: str = "用户", language_code: str | None = "zh") -> RemoteChat:
        return RemoteChat(self, user_id, first_name, language_code)

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            # Telegram: a negative offset keeps only the last -offset updates.
            self.pending = self.pending[offset:]
        else:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]

    async def _get_updates(self, params: dict[str, Any], poll: Poll) -> tuple[int, Any]:
        if self.webhook is not None:
            return error_answer(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            )
        if self._poll is not None:
            self._poll.conflict = (
                "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
            )
            self._poll.wake.set()
        self._poll = poll
        try:
            offset = params.get("offset")
            if offset is not None:
                self._confirm(int(offset))
            limit = min(max(int(params.get("limit") or 100), 1), 100)
            deadline = time.monotonic() + max(float(params.get("timeout") or 0), 0.0)
            while not self.pending and not self._closing.is_set() and poll.conflict is None and not poll.gone:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                poll.wake.clear()
                try:
                    await asyncio.wait_for(poll.wake.wait(), remaining)
                except TimeoutError:
                    break
            if poll.conflict is not None:
                return error_answer(409, poll.conflict)
            return 200, {"ok": True, "result": self.pending[:limit]}
        finally:
            if self._poll is poll:
                self._poll = None

    def _after_call(self, method: str, params: dict[str, Any]) -> tuple[int, Any] | None:
        """Server-side state the in-memory fake does not keep: webhook and pending updates."""
        if method in ("deleteWebhook", "setWebhook") and params.get("drop_pending_updates"):
            self.pending.clear()
        if method == "deleteWebhook":
            self.webhook = None
        elif method == "setWebhook":
            url = str(params.get("url") or "")
            self.webhook = {"url": url, "secret_token": params.get("secret_token")} if url else None
            if self.webhook is not None:
                if self._poll is not None:
                    self._poll.conflict = "Conflict: terminated by setWebhook request"
                    self._poll.wake.set()
                if self._delivery is None or self._delivery.done():
                    self._delivery = asyncio.get_running_loop().create_task(self._deliver())
        elif method == "getWebhookInfo":
            info = {
                "url": (self.webhook or {}).get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self.pending),
            }
            return 200, {"ok": True, "result": info}
        return None

    async def _deliver(self) -> None:
        """Webhook mode: POST pending updates one by one, dropping each once answered 2xx."""
        async with httpx.AsyncClient(timeout=10.0) as client:
            while self.webhook is not None and not self._closing.is_set():
                if not self.pending:
                    await self._wait_change(1.0)
                    continue
                hook, update = self.webhook, self.pending[0]
                headers = {"X-Telegram-Bot-Api-Secret-Token": hook["secret_token"]} if hook.get("secret_token") else {}
                try:
                    response = await client.post(hook["url"], json=update, headers=headers)
                    delivered = 200 <= response.status_code < 300
                except httpx.HTTPError:
                    delivered = False
                if delivered:
                    if self.pending and self.pending[0] is update:
                        self.pending.pop(0)
                    self._notify()
                else:
                    # Telegram retries a failing webhook later; a short pause keeps tests quick.
                    log.info("webhook refused update %s; delivering it again", update["update_id"])
                    await asyncio.sleep(0.2)

    # --- waiting ----------------------------------------------------------
    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
        if self._poll is not None:
            self._poll.wake.set()

    async def _wait_change(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            pass

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 10.0, what: str | None = None) -> T:
        """Wait until ``predicate()`` is truthy (re-checked on every request); return its value.

        Raises ``AssertionError`` after ``timeout`` seconds, naming the last Bot API calls.
        The predicate may raise to stop waiting early (e.g. when the bot process died).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = [f"{c.method}({c.chat_id})" for c in self.fake.calls[-8:]]
                raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}; last calls: {recent}")
            # Wake on activity, and now and then anyway so a predicate watching a process is re-checked.
            await self._wait_change(min(remaining, 0.25))

    async def wait_for_messages(self, chat_id: int, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until the bot has sent ``chat_id`` at least ``count`` messages; return them all."""

        def enough() -> list[dict[str, Any]] | None:
            messages = self.fake.sent(chat_id)
            return messages if len(messages) >= count else None

        return await self.wait_for(
            enough,
            timeout,
            f"{count} message(s) to chat {chat_id}",
        )

    async def wait_for_call(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Any]:
        """Wait until ``method`` was called at least ``count`` times; return those calls."""

        def enough() -> list[Any] | None:
            calls = self.fake.calls_to(method)
            return calls if len(calls) >= count else None

        return await self.wait_for(
            enough,
            timeout,
            f"{count} call(s) of {method}",
        )

    def log_request(self, http_method: str, path: str, status: int) -> None:
        self.requests.append(ServedRequest(http_method, unquote(path), status))
        self._notify()


async def serve(host: str, port: int, token: str, username: str, rate_limits: bool = False) -> None:
    """Run a server until SIGINT/SIGTERM (the standalone entry point)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    limits = FloodLimits() if rate_limits else None
    async with FakeBotApiServer(FakeTelegram(username), token=token, host=host, port=port, limits=limits) as server:
        print(f"fake Bot API on {server.url} (token {token}); control API under {server.url}/_fake/", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.offline.fakeserver", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the only token accepted")
    parser.add_argument("--username", default="schoolbot_demo_bot", help="what getMe answers")
    parser.add_argument(
        "--rate-limits", action="store_true", help=f"enforce 30 messages/s and 1/s per chat with 429s (or {RATE_LIMITS_ENV}=1)"
    )
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.token, args.username, args.rate_limits))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
