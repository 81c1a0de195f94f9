"""bot/delivery/limiter.py without a database: which requests take tokens, in which lane, and 429s waited out.

The bucket maths and the priority between lanes live in PostgreSQL
(tests/service/test_send_budget.py); here the budget is a recorder.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.delivery.limiter import MESSAGE_METHODS, Lane, SharedRateLimiter
from bot.delivery.send import deliver
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.offline.fakeserver import FLOOD_LIMITED


class RecordingBudget:
    """Stands in for SharedBudget: records each take as (lane, chat)."""

    def __init__(self) -> None:
        self.takes: list[tuple[str, int | None]] = []
        self.disposed = False

    async def take(self, chat_id: int, chat_interval: float | None = None) -> None:
        await self.take_send(chat_id, bulk=True)

    async def take_send(self, chat_id: int | None, *, bulk: bool) -> None:
        self.takes.append(("bulk" if bulk else "interactive", chat_id))

    async def dispose(self) -> None:
        self.disposed = True


class Script:
    """A Bot API call that answers 429 ``refusals`` times, then succeeds."""

    def __init__(self, refusals: int, retry_after: int = 1) -> None:
        self.refusals = refusals
        self.retry_after = retry_after
        self.calls = 0

    async def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.refusals:
            raise RetryAfter(self.retry_after)
        return {"ok": True}


def limiter(budget: RecordingBudget, slept: list[float], **options: Any) -> SharedRateLimiter:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return SharedRateLimiter(budget, sleep=sleep, **options)  # type: ignore[arg-type]


async def send(rl: SharedRateLimiter, call: Script, endpoint: str = "sendMessage", lane: Lane | None = None, **data: Any) -> Any:
    return await rl.process_request(call, (), {}, endpoint, {"chat_id": 7, "text": "x", **data}, lane)


async def test_an_interactive_message_takes_its_chats_token_and_a_shared_one_before_it_goes() -> None:
    budget, slept = RecordingBudget(), []
    assert await send(limiter(budget, slept), Script(0)) == {"ok": True}
    assert budget.takes == [("interactive", 7)] and slept == []


async def test_edits_and_callback_answers_take_nothing() -> None:
    budget, slept = RecordingBudget(), []
    rl = limiter(budget, slept)
    for endpoint in ("editMessageText", "answerCallbackQuery", "sendChatAction", "getMe"):
        await send(rl, Script(0), endpoint)
    assert budget.takes == []


async def test_a_reply_refused_with_429_is_retried_with_a_fresh_token_until_it_goes() -> None:
    budget, slept = RecordingBudget(), []
    call = Script(refusals=8, retry_after=2)
    assert await send(limiter(budget, slept), call) == {"ok": True}
    # Far more than PTB's three retries: a reply is not given up while the wait stays bounded.
    assert call.calls == 9
    assert budget.takes == [("interactive", 7)] * 9, "every attempt is a message Telegram counts"
    assert slept == [2.1] * 8


async def test_a_reply_is_given_up_only_past_the_bounded_wait_and_that_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    budget, slept = RecordingBudget(), []
    call = Script(refusals=100, retry_after=5)
    with caplog.at_level(logging.WARNING, "bot.delivery.limiter"), pytest.raises(RetryAfter):
        await send(limiter(budget, slept, max_wait=30.0), call)
    assert sum(slept) <= 30.0 and len(slept) == 5
    assert call.calls == 6
    assert "giving up after 5 retries" in caplog.text and "25.5 s" in caplog.text


async def test_a_bulk_send_is_not_charged_twice_and_its_retries_take_as_bulk() -> None:
    budget, slept = RecordingBudget(), []
    call = Script(refusals=2)
    assert await send(limiter(budget, slept), call, lane=Lane.BULK) == {"ok": True}
    # The sender took the first attempt's tokens (SharedBudget.take); each retry takes again, in the bulk lane.
    assert budget.takes == [("bulk", 7), ("bulk", 7)]


async def test_a_bulk_send_gives_up_after_three_retries_so_its_sender_retries_later() -> None:
    budget, slept = RecordingBudget(), []
    call = Script(refusals=10)
    with pytest.raises(RetryAfter):
        await send(limiter(budget, slept), call, lane=Lane.BULK)
    assert call.calls == 4 and len(budget.takes) == 3


async def test_a_channel_name_takes_a_shared_token_without_a_chat_bucket() -> None:
    budget, slept = RecordingBudget(), []
    await send(limiter(budget, slept), Script(0), chat_id="@news")
    assert budget.takes == [("interactive", None)]


async def test_with_the_database_down_a_reply_still_goes_without_a_token(caplog: pytest.LogCaptureFixture) -> None:
    class DownBudget(RecordingBudget):
        async def take_send(self, chat_id: int | None, *, bulk: bool) -> None:
            raise OSError("connection refused")

    call = Script(0)
    with caplog.at_level(logging.WARNING, "bot.delivery.limiter"):
        assert await send(limiter(DownBudget(), []), call) == {"ok": True}
    assert call.calls == 1 and "send budget unavailable" in caplog.text


async def test_shutdown_closes_the_budgets_own_connections() -> None:
    budget = RecordingBudget()
    await limiter(budget, []).shutdown()
    assert budget.disposed


async def test_deliver_marks_bulk_sends_for_the_shared_limiter_and_replies_stay_interactive() -> None:
    from bot.app import build_application
    from tests.conftest import make_settings

    budget, slept = RecordingBudget(), []
    rl = limiter(budget, slept)
    fake = FakeTelegram()
    application = build_application(make_settings("sqlite:///:memory:"), request=FakeRequest(fake), rate_limiter=rl)
    async with application:
        bot = application.bot
        assert (await deliver(bot, 5, "通知", pacer=budget)).outcome == "sent"  # type: ignore[arg-type]
        assert (await deliver(bot, 6, "预览")).outcome == "sent"
    # The bulk send: one take by deliver through the budget, none by the limiter; the reply: the limiter's.
    assert budget.takes == [("bulk", 5), ("interactive", 6)]
    assert [m["text"] for m in fake.sent(5) + fake.sent(6)] == ["通知", "预览"]


def test_the_fake_counts_the_messages_the_limiter_counts() -> None:
    assert FLOOD_LIMITED is MESSAGE_METHODS
    assert {"sendMessage", "sendPhoto", "sendDocument"} <= MESSAGE_METHODS
    assert not {"editMessageText", "answerCallbackQuery", "sendChatAction"} & MESSAGE_METHODS
