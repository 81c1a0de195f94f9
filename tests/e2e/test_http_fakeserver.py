"""The fake Bot API server alone, driven by PTB's real ``Bot`` over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.offline.fakeserver import DEFAULT_TOKEN, FakeBotApiServer

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApiServer]:
    async with FakeBotApiServer(FakeTelegram(), token=DEFAULT_TOKEN, timeout_delay=0.6) as srv:
        yield srv


def make_bot(server: FakeBotApiServer, token: str = DEFAULT_TOKEN, read_timeout: float = 5.0) -> Bot:
    return Bot(
        token,
        base_url=server.url + "/bot",
        base_file_url=server.url + "/file/bot",
        request=HTTPXRequest(read_timeout=read_timeout),
        get_updates_request=HTTPXRequest(read_timeout=read_timeout),
    )


async def test_server_listens_on_an_ephemeral_loopback_port(server: FakeBotApiServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert server.port > 0


async def test_message_with_buttons_is_delivered_and_recorded(server: FakeBotApiServer) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("English", callback_data="lang:en")]])
    async with make_bot(server) as bot:
        assert bot.username == "schoolbot_demo_bot"
        sent = await bot.send_message(1001, "你好，王校长", reply_markup=markup)
    assert sent.chat_id == 1001 and sent.text == "你好，王校长"
    (message,) = server.fake.sent(1001)
    assert message["message_id"] == sent.message_id
    # Form-encoded JSON fields are decoded by their Bot API types, like the in-memory path.
    (call,) = server.fake.calls_to("sendMessage")
    assert call.params["chat_id"] == 1001
    assert call.params["reply_markup"] == {"inline_keyboard": [[{"text": "English", "callback_data": "lang:en"}]]}
    paths = [r.path for r in server.requests]
    assert paths == [f"/bot{DEFAULT_TOKEN}/getMe", f"/bot{DEFAULT_TOKEN}/sendMessage"]


async def test_photo_is_uploaded_as_multipart_with_its_bytes(server: FakeBotApiServer) -> None:
    async with make_bot(server) as bot:
        sent = await bot.send_photo(1001, photo=PNG, caption="收获统计图", filename="chart.png")
    assert sent.photo and sent.caption == "收获统计图"
    (call,) = server.fake.calls_to("sendPhoto")
    assert call.files == {"chart.png": PNG}
    assert call.params["chat_id"] == 1001 and call.params["caption"] == "收获统计图"


async def test_json_body_is_accepted_too(server: FakeBotApiServer) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{server.url}/bot{DEFAULT_TOKEN}/sendMessage", json={"chat_id": 7, "text": "hi"})
    body = response.json()
    assert response.status_code == 200 and body["ok"] and body["result"]["text"] == "hi"
    assert server.fake.texts(7) == ["hi"]


async def test_wrong_token_is_unauthorized(server: FakeBotApiServer) -> None:
    with pytest.raises(InvalidToken):
        async with make_bot(server, token="999:WRONG") as bot:
            await bot.get_me()
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server.url}/bot999:WRONG/getMe")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert server.fake.calls == []


async def test_get_updates_returns_pending_updates_until_confirmed_by_offset(server: FakeBotApiServer) -> None:
    chat = server.user(1001, "王校长")
    first, second = chat.send("/start"), chat.send("/help")
    async with make_bot(server) as bot:
        updates = await bot.get_updates(timeout=0)
        assert [u.update_id for u in updates] == [first, second]
        assert updates[0].message is not None and updates[0].message.text == "/start"
        # Not confirmed yet: asked again, the same updates come back.
        assert [u.update_id for u in await bot.get_updates(timeout=0)] == [first, second]
        assert [u.update_id for u in await bot.get_updates(offset=second, timeout=0)] == [second]
        assert await bot.get_updates(offset=second + 1, timeout=0) == ()
    assert server.pending == []


async def test_get_updates_honours_limit(server: FakeBotApiServer) -> None:
    chat = server.user(1001)
    ids = [chat.send(f"消息{i}") for i in range(5)]
    async with make_bot(server) as bot:
        assert [u.update_id for u in await bot.get_updates(limit=2, timeout=0)] == ids[:2]


async def test_long_poll_answers_as_soon_as_an_update_arrives(server: FakeBotApiServer) -> None:
    async with make_bot(server) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=20))
        await server.wait_for_call("getUpdates")
        await asyncio.sleep(0.1)
        assert not poll.done(), "the poll waits while there is nothing to deliver"
        update_id = server.user(1001).send("你好")
        updates = await asyncio.wait_for(poll, 5)
    assert [u.update_id for u in updates] == [update_id]


async def test_long_poll_with_nothing_to_deliver_waits_its_timeout(server: FakeBotApiServer) -> None:
    async with make_bot(server) as bot:
        started = time.monotonic()
        updates = await bot.get_updates(timeout=1)
        waited = time.monotonic() - started
    assert updates == ()
    assert 0.9 <= waited < 4


async def test_second_poller_terminates_the_first_with_conflict(server: FakeBotApiServer) -> None:
    async with make_bot(server) as first, make_bot(server) as second:
        older = asyncio.create_task(first.get_updates(timeout=10))
        await server.wait_for_call("getUpdates")
        newer = asyncio.create_task(second.get_updates(timeout=10))
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await asyncio.wait_for(older, 5)
        update_id = server.user(1001).send("hi")
        assert [u.update_id for u in await asyncio.wait_for(newer, 5)] == [update_id]


async def test_callback_press_is_queued_as_callback_query(server: FakeBotApiServer) -> None:
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton("中文", callback_data="lang:zh"), InlineKeyboardButton("English", callback_data="lang:en")]]
    )
    chat = server.user(1001, "王校长")
    async with make_bot(server) as bot:
        sent = await bot.send_message(1001, "请选择界面语言：", reply_markup=markup)
        chat.press("English")
        (update,) = await bot.get_updates(timeout=0)
    query = update.callback_query
    assert query is not None and query.data == "lang:en" and query.from_user.id == 1001
    assert query.message is not None and query.message.message_id == sent.message_id
    with pytest.raises(AssertionError, match="no button"):
        chat.press("Français")


async def test_registered_file_can_be_downloaded(server: FakeBotApiServer) -> None:
    server.fake.add_file("doc-roster", "学校代码,学校名称\n".encode(), "documents/roster.csv")
    async with make_bot(server) as bot:
        file = await bot.get_file("doc-roster")
        assert file.file_size == len("学校代码,学校名称\n".encode())
        assert bytes(await file.download_as_bytearray()) == "学校代码,学校名称\n".encode()
    assert any(r.path == f"/file/bot{DEFAULT_TOKEN}/documents/roster.csv" and r.status == 200 for r in server.requests)


async def test_in_memory_transport_serves_the_same_downloads(server: FakeBotApiServer) -> None:
    server.fake.add_file("doc-roster", b"HB001,\xe9\x82\xb9", "documents/roster.csv")
    offline = Bot(
        DEFAULT_TOKEN,
        base_url="http://fake.invalid/bot",
        base_file_url="http://fake.invalid/file/bot",
        request=FakeRequest(server.fake),
    )
    async with offline:
        file = await offline.get_file("doc-roster")
        assert bytes(await file.download_as_bytearray()) == b"HB001,\xe9\x82\xb9"


async def test_injected_timeout_is_a_client_side_timeout(server: FakeBotApiServer) -> None:
    server.fake.fail("sendMessage", "timeout")
    async with make_bot(server, read_timeout=0.2) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(1001, "也许送达")
        # The fault is used up: the next message goes through.
        await bot.send_message(1001, "第二条")
    assert server.fake.texts(1001) == ["第二条"]


async def test_injected_timeout_without_delay_drops_the_connection() -> None:
    async with FakeBotApiServer(timeout_delay=0) as srv:
        srv.fake.fail("sendMessage", "timeout")
        async with make_bot(srv) as bot:
            with pytest.raises(NetworkError):
                await bot.send_message(1001, "也许送达")
        assert len(srv.fake.calls_to("sendMessage")) == 1 and srv.fake.sent(1001) == []


async def test_injected_retry_after_reaches_the_client(server: FakeBotApiServer) -> None:
    server.fake.fail("sendMessage", "retry_after", retry_after=3)
    async with make_bot(server) as bot:
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(1001, "太快了")
    retry = caught.value.retry_after
    assert (retry if isinstance(retry, int) else retry.total_seconds()) == 3


async def test_drop_pending_updates_forgets_the_backlog(server: FakeBotApiServer) -> None:
    server.user(1001).send("旧消息")
    async with make_bot(server) as bot:
        await bot.delete_webhook(drop_pending_updates=True)
        assert await bot.get_updates(timeout=0) == ()


async def test_stopped_server_comes_back_on_the_same_port(server: FakeBotApiServer) -> None:
    url = server.url
    async with make_bot(server) as bot:
        await server.stop()
        with pytest.raises(NetworkError):
            await bot.send_message(1001, "服务器停了")
        await server.start()
        assert server.url == url
        await bot.send_message(1001, "又好了")
    assert server.fake.texts(1001) == ["又好了"]


async def test_wait_for_times_out_with_recent_calls_named(server: FakeBotApiServer) -> None:
    with pytest.raises(AssertionError, match="1 message"):
        await server.wait_for_messages(1001, 1, timeout=0.3)


class _Receiver(RequestHandler):
    def initialize(self, got: list[tuple[str | None, dict[str, object]]], statuses: list[int]) -> None:
        self.got, self.statuses = got, statuses

    def post(self) -> None:
        self.got.append((self.request.headers.get("X-Telegram-Bot-Api-Secret-Token"), json.loads(self.request.body)))
        self.set_status(self.statuses.pop(0) if self.statuses else 200)


async def test_webhook_mode_posts_updates_with_the_secret_and_retries_failures(server: FakeBotApiServer) -> None:
    got: list[tuple[str | None, dict[str, object]]] = []
    sockets = bind_sockets(0, "127.0.0.1")
    receiver = HTTPServer(Application([(r"/hook", _Receiver, {"got": got, "statuses": [503]})]))
    receiver.add_sockets(sockets)
    try:
        async with make_bot(server) as bot:
            await bot.set_webhook(f"http://127.0.0.1:{sockets[0].getsockname()[1]}/hook", secret_token="s3cret")
            with pytest.raises(Conflict, match="webhook is active"):
                await bot.get_updates(timeout=0)
            update_id = server.user(1001).send("/help")
            await server.wait_for(lambda: len(got) >= 2 and not server.pending, timeout=5)
            info = await bot.get_webhook_info()
            assert info.url.endswith("/hook") and info.pending_update_count == 0
            await bot.delete_webhook()
            assert await bot.get_updates(timeout=0) == ()
    finally:
        receiver.stop()
    # The first delivery was refused (503), so the same update came again.
    assert [(secret, body["update_id"]) for secret, body in got] == [("s3cret", update_id), ("s3cret", update_id)]


async def test_standalone_server_is_driven_through_its_control_api() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.offline.fakeserver",
        "--port",
        "0",
        "--token",
        "42:abc",
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        banner = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        url = banner.split(" on ", 1)[1].split()[0]
        async with httpx.AsyncClient(base_url=url) as client:
            pushed = (await client.post("/_fake/send", json={"user_id": 1001, "text": "/start"})).json()["result"]
            updates = (await client.get("/bot42:abc/getUpdates", params={"timeout": 0})).json()["result"]
            assert [u["update_id"] for u in updates] == [pushed]
            assert updates[0]["message"]["entities"][0]["type"] == "bot_command"
            await client.post("/bot42:abc/sendMessage", data={"chat_id": "1001", "text": "欢迎"})
            messages = (await client.get("/_fake/messages", params={"chat_id": 1001})).json()["result"]
            assert [m["text"] for m in messages] == ["欢迎"]
            calls = (await client.get("/_fake/calls")).json()["result"]
            assert [c["method"] for c in calls] == ["getUpdates", "sendMessage"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
