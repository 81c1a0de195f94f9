"""bot.delivery.send without a database: splitting long texts, classifying Telegram's answers, pacing parts."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.context import BotData
from bot.delivery.send import (
    BULK_BURST,
    BULK_RATE,
    MAX_TEXT,
    Outcome,
    Payload,
    bulk_pacer,
    new_bulk_pacer,
    classify,
    deliver,
    split_text,
    telegram_length,
)


def test_short_text_is_one_part() -> None:
    assert split_text("  各位校长好  ") == ["各位校长好"]
    assert split_text("") == []


def test_long_text_splits_on_paragraph_boundaries() -> None:
    paragraphs = [f"第{i}段。" + "内容" * 400 for i in range(6)]  # ~805 characters each
    text = "\n\n".join(paragraphs)
    parts = split_text(text, limit=2000)
    assert all(telegram_length(p) <= 2000 for p in parts)
    assert "\n\n".join(parts) == text, "no character lost or added"
    assert all(p.startswith("第") for p in parts), "every part starts at a paragraph"


def test_paragraph_longer_than_the_limit_splits_at_sentences_then_hard() -> None:
    sentences = "".join(f"第{i}句话写得很长很长。" for i in range(400))  # one paragraph, no newline
    parts = split_text(sentences, limit=MAX_TEXT)
    assert len(parts) == 2 and all(p.endswith("。") for p in parts) and "".join(parts) == sentences
    unbroken = "字" * 9000
    assert [len(p) for p in split_text(unbroken)] == [4096, 4096, 808]


def test_limit_counts_utf16_units_like_telegram() -> None:
    emoji = "🌾" * 3000  # each is two UTF-16 units: 6000 in all
    parts = split_text(emoji)
    assert len(parts) == 2 and all(telegram_length(p) <= MAX_TEXT for p in parts) and "".join(parts) == emoji


def test_caption_limit_is_checked_for_media_only() -> None:
    assert Payload("photo", "说" * 1025, "f").caption_too_long
    assert not Payload("photo", "说" * 1024, "f").caption_too_long
    assert not Payload("text", "说" * 5000).caption_too_long
    assert Payload("document", "说" * 5000, "f").parts() == ["说" * 5000], "media is never split"


@pytest.mark.parametrize(
    ("exc", "outcome", "ambiguous"),
    [
        (Forbidden("Forbidden: bot was blocked by the user"), Outcome.BLOCKED, False),
        (BadRequest("Chat not found"), Outcome.FAILED, False),
        (ChatMigrated(42), Outcome.FAILED, False),
        (TimedOut(), Outcome.RETRY, True),
        (NetworkError("Bad Gateway"), Outcome.RETRY, False),
        (TelegramError("Invalid server response"), Outcome.RETRY, False),
    ],
)
def test_classify_telegram_errors(exc: Exception, outcome: Outcome, ambiguous: bool) -> None:
    result = classify(exc, parts_sent=1)
    assert (result.outcome, result.ambiguous, result.parts_sent) == (outcome, ambiguous, 1)
    assert result.retry_after is None and result.reason and type(exc).__name__ in result.reason


@pytest.mark.parametrize("wait", [7, timedelta(seconds=7)])
def test_retry_after_as_int_or_timedelta(wait: int | timedelta) -> None:
    result = classify(RetryAfter(wait))
    assert result.outcome is Outcome.RETRY and result.retry_after == 7.0


def test_non_telegram_errors_are_bugs_and_propagate() -> None:
    with pytest.raises(ZeroDivisionError):
        classify(ZeroDivisionError())


class StubBot:
    """Answers send_* calls from a script: a message id, or an exception to raise."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int, Any, float]] = []

    async def _answer(self, method: str, chat_id: int, content: Any) -> Any:
        self.calls.append((method, chat_id, content, time.monotonic()))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return type("Msg", (), {"message_id": answer})()

    async def send_message(self, chat_id: int, text: str, **_: Any) -> Any:
        return await self._answer("sendMessage", chat_id, text)

    async def send_photo(self, chat_id: int, photo: str, caption: str | None = None, **_: Any) -> Any:
        return await self._answer("sendPhoto", chat_id, (photo, caption))

    async def send_document(self, chat_id: int, document: str, caption: str | None = None, **_: Any) -> Any:
        return await self._answer("sendDocument", chat_id, (document, caption))


async def test_deliver_sends_parts_a_second_apart_and_reports_progress() -> None:
    bot = StubBot(1, 2)
    progress: list[int] = []

    async def on_part(n: int) -> None:
        progress.append(n)

    result = await deliver(bot, 5, Payload(text="甲" * 4090 + "\n\n" + "乙" * 10), on_part=on_part)  # type: ignore[arg-type]
    assert result.outcome is Outcome.SENT and result.parts_sent == 2 and result.message_ids == (1, 2)
    assert progress == [1], "progress after each part but the last"
    assert bot.calls[1][3] - bot.calls[0][3] >= 0.95


async def test_deliver_stops_at_the_failing_part_and_resumes_from_it() -> None:
    text = "甲" * 4090 + "\n\n" + "乙" * 10
    bot = StubBot(1, TimedOut())
    result = await deliver(bot, 5, text, part_interval=0)  # type: ignore[arg-type]
    assert result.outcome is Outcome.RETRY and result.parts_sent == 1 and result.ambiguous
    bot = StubBot(3)
    result = await deliver(bot, 5, text, start_part=1)  # type: ignore[arg-type]
    assert result.outcome is Outcome.SENT and result.parts_sent == 2 and bot.calls[0][2] == "乙" * 10


async def test_deliver_media_with_caption() -> None:
    bot = StubBot(9, Forbidden("blocked"))
    result = await deliver(bot, 5, Payload("photo", "看图", "file-1"))  # type: ignore[arg-type]
    assert result.outcome is Outcome.SENT and bot.calls[0][:3] == ("sendPhoto", 5, ("file-1", "看图"))
    result = await deliver(bot, 6, Payload("document", None, "file-2"))  # type: ignore[arg-type]
    assert result.outcome is Outcome.BLOCKED and bot.calls[1][2] == ("file-2", None)


async def test_bulk_pacer_never_puts_more_than_29_sends_in_one_second() -> None:
    bot_data = BotData()
    pacer = bulk_pacer(bot_data)
    assert bulk_pacer(bot_data) is pacer, "one pacer per application"
    bot = StubBot(*range(40))
    for chat in range(40):
        await deliver(bot, chat, "hi", pacer=pacer)  # type: ignore[arg-type]
    times = [call[3] for call in bot.calls]
    in_any_second = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert in_any_second <= 29, "one slot a second stays free under Telegram's 30 for replies"
    # No burst: 40 sends take about 40 / BULK_RATE seconds, not a second and a bit.
    assert times[-1] - times[0] >= (40 - BULK_BURST) / BULK_RATE - 0.02
    assert min(b - a for a, b in zip(times, times[1:])) >= (1 - (BULK_BURST - 1)) / BULK_RATE - 0.005


async def test_bulk_sends_wait_out_the_rate_limiters_pause_before_taking_a_slot() -> None:
    """After a 429 PTB pauses every request; bulk sends queue before the pacer so they resume paced, not in a herd."""
    import asyncio

    bot = StubBot(1)
    paused = asyncio.Event()
    bot.rate_limiter = type("Limiter", (), {"_retry_after_event": paused})()  # type: ignore[attr-defined]
    sending = asyncio.create_task(deliver(bot, 5, "hi", pacer=new_bulk_pacer()))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    assert bot.calls == [], "nothing goes out while the limiter pauses"
    paused.set()
    assert (await sending).outcome is Outcome.SENT and len(bot.calls) == 1
