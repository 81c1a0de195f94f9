"""Two real bot processes in webhook mode on one PostgreSQL database behave as one bot.

A small round-robin proxy stands in for the load balancer: Telegram (the fake)
posts every update to it, and it hands them alternately to process A and
process B. A principal files a report whose steps land on both processes; both
processes run the reminder tick and the broadcast sender; each reminder and
each broadcast message arrives exactly once.
"""

from __future__ import annotations

import itertools
import socket
from pathlib import Path
from typing import Any

import httpx
import tornado.httpserver
import tornado.web
from sqlalchemy import select

from bot.offline.fakeserver import FakeBotApiServer
from storage.db import Database
from storage.models import Report
from tests.e2e.conftest import (
    ADMIN_ID,
    StartBot,
    more_ticks,
    outbox_settled,
    run_cli,
    seed_school_invite,
    undocumented_requests,
    wait_for,
)

SECRET = "two-instances-secret"
PRINCIPAL = 1001


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RoundRobin(tornado.web.RequestHandler):
    """Forward each POST to the next backend, header and body intact, and relay its answer."""

    def initialize(self, backends: Any, client: httpx.AsyncClient, served: list[int]) -> None:
        self.backends, self.client, self.served = backends, client, served

    async def post(self) -> None:
        port = next(self.backends)
        headers = {k: v for k, v in self.request.headers.items() if k.lower().startswith(("x-telegram", "content-type"))}
        try:
            answer = await self.client.post(f"http://127.0.0.1:{port}/tg", content=self.request.body, headers=headers)
        except httpx.TransportError:
            self.set_status(502)  # that instance is not up yet: Telegram retries
            return
        self.served.append(port)
        self.set_status(answer.status_code)
        self.finish(answer.content)


async def test_two_processes_share_conversations_reminders_and_broadcasts(
    api: FakeBotApiServer, pg_db: tuple[str, Database], start_bot: StartBot, tmp_path: Path
) -> None:
    url, db = pg_db
    code = await seed_school_invite(db)  # 邹圩小学 (milk programme): October milk is overdue today
    ports = [_free_port(), _free_port()]
    proxy_port = _free_port()
    served: list[int] = []
    async with httpx.AsyncClient(timeout=30) as client:
        app = tornado.web.Application(
            [("/tg", RoundRobin, {"backends": itertools.cycle(ports), "client": client, "served": served})]
        )
        proxy = tornado.httpserver.HTTPServer(app)
        proxy.listen(proxy_port, address="127.0.0.1")
        common = {
            "WEBHOOK_URL": f"http://127.0.0.1:{proxy_port}/tg",
            "WEBHOOK_SECRET": SECRET,
            "WEBHOOK_LISTEN": "127.0.0.1",
            "QUIET_HOURS": "00:00-00:00",  # never quiet: the test runs at any hour
            "REMINDER_TICK_SECONDS": "5",
            "DAILY_DIGEST_AT": "off",
            "WEEKLY_DIGEST": "off",
        }
        try:
            bots = [await start_bot(api, url, WEBHOOK_PORT=str(port), **common) for port in ports]
            # Each instance checks the webhook once it listens; the operator sets it once for both.
            await bots[0].until(api, lambda: len(api.fake.calls_to("getWebhookInfo")) >= 2, 40, "both instances up")
            status, output = await run_cli(api, url, "webhook", "set", cwd=tmp_path, **common)
            assert status == 0 and len(api.fake.calls_to("setWebhook")) == 1, output

            # A conversation whose steps alternate between the two processes.
            wang = api.user(PRINCIPAL, "王校长", "zh")

            async def step(action: Any, count: int, what: str) -> None:
                action()
                await bots[0].until(api, lambda: len(api.fake.sent(PRINCIPAL)) >= count, 30, what)

            await step(lambda: wang.send(f"/start {code}"), 1, "the welcome")
            # The reminder tick may also write to the principal; count only conversation replies from here.
            wang.send("/milk")
            await bots[0].until(api, lambda: _buttons_containing(api, "2026年11月"), 30, "the period buttons")
            wang.press("2026年11月")
            for answer in ("856", "21"):
                await bots[0].until(api, lambda: _question_waiting(api), 30, "a question")
                wang.send(answer)
            await bots[0].until(api, lambda: _buttons_containing(api, "伊利"), 30, "the supplier buttons")
            wang.press("伊利")
            await bots[0].until(api, lambda: _buttons_containing(api, "0"), 30, "the incidents question")
            await bots[0].until(api, lambda: _question_waiting(api), 30, "a question")
            wang.send("0")
            await bots[0].until(api, lambda: _buttons_containing(api, "提交"), 30, "the review")
            wang.press("提交")
            await bots[0].until(api, lambda: any("已保存" in t for t in api.fake.texts(PRINCIPAL)), 30, "the receipt")
            assert set(served) == set(ports), "both processes served the conversation"
            async with db.session() as session:
                report = await session.scalar(select(Report).where(Report.period == "2026-11"))
                assert report is not None and report.is_current
                assert {v.field_key: v.num_value for v in report.values}["daily_drinkers"] == 856

            # Reminders: October milk is overdue; both processes tick every 5 s; exactly one arrives.
            await bots[0].until(api, lambda: _reminders(api, "go:milk:2026-10"), 40, "the October reminder")
            await more_ticks(bots, 2, 40)  # two more ticks on each process, seen in their logs
            assert len(_reminders(api, "go:milk:2026-10")) == 1

            # A broadcast written across both processes, drained by both senders: sent once.
            boss = api.user(ADMIN_ID, "陈主任", "zh")
            boss.send("/broadcast")
            await bots[0].until(api, lambda: _buttons_containing(api, "全部校长", ADMIN_ID), 30, "the audiences")
            boss.press("全部校长")
            await bots[0].until(
                api, lambda: [c for c in api.fake.calls_to("editMessageText") if c.chat_id == ADMIN_ID], 30, "the prompt"
            )
            boss.send("明天上午九点召开视频会议")
            await bots[0].until(api, lambda: _buttons_containing(api, "确认发送", ADMIN_ID), 30, "the confirmation")
            boss.press("确认发送")
            await bots[0].until(api, lambda: [t for t in api.fake.texts(PRINCIPAL) if "视频会议" in t], 40, "the notice")
            # No second copy can come once every outbox row has its outcome recorded.
            await wait_for(lambda: outbox_settled(db), 30, "every outbox row recorded")
            assert len([t for t in api.fake.texts(PRINCIPAL) if "视频会议" in t]) == 1

            for bot in bots:
                assert await bot.terminate() == 0, bot.output()[-2000:]
        finally:
            proxy.stop()
    assert undocumented_requests(api) == []


def _buttons_containing(api: FakeBotApiServer, label: str, chat_id: int = PRINCIPAL) -> bool:
    return any(label in b["text"] for b in api.fake.buttons(chat_id))


def _question_waiting(api: FakeBotApiServer) -> bool:
    last = api.fake.sent(PRINCIPAL)[-1]
    return "请填写" in (last.get("text") or "")


def _reminders(api: FakeBotApiServer, data: str) -> list[dict[str, Any]]:
    return [
        m
        for m in api.fake.sent(PRINCIPAL)
        if any(b.get("callback_data") == data for row in (m.get("reply_markup") or {}).get("inline_keyboard", []) for b in row)
    ]
