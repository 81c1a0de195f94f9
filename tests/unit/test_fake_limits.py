"""The fake Bot API refuses what Telegram refuses: long texts and captions, long callback data, too many buttons."""

from __future__ import annotations

import json
from typing import Any

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest

from bot.offline.fakeapi import FakeRequest, FakeTelegram

CHAT = 1001
EMOJI = "😀"  # outside the Basic Multilingual Plane: two UTF-16 code units


def keyboard(count: int, data: str = "x", per_row: int = 8) -> dict[str, Any]:
    buttons = [{"text": str(i), "callback_data": data} for i in range(count)]
    return {"inline_keyboard": [buttons[i : i + per_row] for i in range(0, count, per_row)]}


def send(fake: FakeTelegram, text: str, markup: dict[str, Any] | None = None, **params: Any) -> tuple[int, Any]:
    if markup is not None:
        params["reply_markup"] = json.dumps(markup)
    return fake.answer("sendMessage", {"chat_id": CHAT, "text": text, **params})


def description(answer: tuple[int, Any]) -> str:
    status, body = answer
    assert status == 400 and body["ok"] is False and body["error_code"] == 400, answer
    return str(body["description"])


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram()


@pytest.mark.parametrize(
    "text",
    ["a" * 4096, "濉" * 4096, EMOJI * 2048, "a" * 4094 + EMOJI],
    ids=["ascii", "chinese", "emoji", "mixed"],
)
def test_text_of_4096_utf16_units_is_delivered(fake: FakeTelegram, text: str) -> None:
    assert send(fake, text)[0] == 200
    assert fake.texts(CHAT) == [text]


@pytest.mark.parametrize(
    "text",
    ["a" * 4097, "濉" * 4097, EMOJI * 2049, "a" * 4095 + EMOJI],
    ids=["ascii", "chinese", "emoji-counted-twice", "mixed"],
)
def test_text_over_4096_utf16_units_is_message_is_too_long(fake: FakeTelegram, text: str) -> None:
    assert description(send(fake, text)) == "Bad Request: message is too long"
    assert fake.sent(CHAT) == []


def test_html_tags_do_not_count_towards_the_length(fake: FakeTelegram) -> None:
    assert send(fake, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")[0] == 200
    assert description(send(fake, "<b>" + "a" * 4096 + "</b>")) == "Bad Request: message is too long"


@pytest.mark.parametrize("text", ["", "   ", "\n"], ids=["empty", "spaces", "newline"])
def test_empty_text_is_refused(fake: FakeTelegram, text: str) -> None:
    assert description(send(fake, text)) == "Bad Request: message text is empty"


def test_edit_is_held_to_the_same_text_and_keyboard_limits(fake: FakeTelegram) -> None:
    status, body = send(fake, "start")
    assert status == 200
    target = {"chat_id": CHAT, "message_id": body["result"]["message_id"]}
    assert description(fake.answer("editMessageText", {**target, "text": "a" * 4097})) == "Bad Request: message is too long"
    assert description(fake.answer("editMessageText", {**target, "text": ""})) == "Bad Request: message text is empty"
    too_long_data = json.dumps(keyboard(1, "d" * 65))
    assert description(fake.answer("editMessageText", {**target, "text": "ok", "reply_markup": too_long_data})) == (
        "Bad Request: BUTTON_DATA_INVALID"
    )
    assert description(fake.answer("editMessageReplyMarkup", {**target, "reply_markup": json.dumps(keyboard(101))})) == (
        "Bad Request: reply markup is too long"
    )
    assert fake.answer("editMessageReplyMarkup", {**target, "reply_markup": json.dumps(keyboard(100))})[0] == 200
    assert fake.last(CHAT)["text"] == "start", "a refused edit changes nothing"


@pytest.mark.parametrize("method", ["sendPhoto", "sendDocument"])
def test_caption_over_1024_utf16_units_is_refused(fake: FakeTelegram, method: str) -> None:
    ok = fake.answer(method, {"chat_id": CHAT, "caption": "濉" * 1024}, {"f.png": b"x"})
    emoji_ok = fake.answer(method, {"chat_id": CHAT, "caption": EMOJI * 512}, {"f.png": b"x"})
    long = fake.answer(method, {"chat_id": CHAT, "caption": "a" * 1025}, {"f.png": b"x"})
    emoji_long = fake.answer(method, {"chat_id": CHAT, "caption": EMOJI * 513}, {"f.png": b"x"})
    assert ok[0] == 200 and emoji_ok[0] == 200
    assert description(long) == description(emoji_long) == "Bad Request: message caption is too long"
    assert len(fake.sent(CHAT)) == 2


def test_caption_edit_is_held_to_the_caption_limit(fake: FakeTelegram) -> None:
    status, body = fake.answer("sendPhoto", {"chat_id": CHAT, "caption": "图"}, {"f.png": b"x"})
    target = {"chat_id": CHAT, "message_id": body["result"]["message_id"]}
    assert description(fake.answer("editMessageCaption", {**target, "caption": "a" * 1025})) == (
        "Bad Request: message caption is too long"
    )
    assert fake.answer("editMessageCaption", {**target, "caption": "新图"})[0] == 200
    assert fake.last(CHAT)["caption"] == "新图"


@pytest.mark.parametrize(
    ("data", "ok"),
    [("d" * 64, True), ("d" * 65, False), ("濉" * 21, True), ("濉" * 22, False), ("", False)],
    ids=["64-bytes", "65-bytes", "63-bytes-chinese", "66-bytes-chinese", "empty"],
)
def test_callback_data_must_be_1_to_64_bytes(fake: FakeTelegram, data: str, ok: bool) -> None:
    answer = send(fake, "choose", keyboard(1, data))
    if ok:
        assert answer[0] == 200
    else:
        assert description(answer) == "Bad Request: BUTTON_DATA_INVALID"


@pytest.mark.parametrize("method", ["sendPhoto", "sendDocument"])
def test_media_keyboards_are_checked_too(fake: FakeTelegram, method: str) -> None:
    answer = fake.answer(method, {"chat_id": CHAT, "caption": "c", "reply_markup": keyboard(1, "d" * 65)}, {"f": b"x"})
    assert description(answer) == "Bad Request: BUTTON_DATA_INVALID"


def test_more_than_100_buttons_is_refused(fake: FakeTelegram) -> None:
    assert send(fake, "many", keyboard(100))[0] == 200
    assert description(send(fake, "many", keyboard(101))) == "Bad Request: reply markup is too long"
    assert description(send(fake, "many", keyboard(101, per_row=1))) == "Bad Request: reply markup is too long"


async def test_the_bot_sees_telegrams_bad_request_errors() -> None:
    fake = FakeTelegram()
    request = FakeRequest(fake)
    async with Bot("123:TEST", request=request, get_updates_request=request) as bot:
        with pytest.raises(BadRequest, match="(?i)message is too long"):
            await bot.send_message(CHAT, "濉" * 4097)
        with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
            markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
            await bot.send_message(CHAT, "choose", reply_markup=markup)
        with pytest.raises(BadRequest, match="(?i)caption is too long"):
            await bot.send_document(CHAT, b"data", filename="a.xlsx", caption="a" * 1025)
        message = await bot.send_message(CHAT, "a" * 4096)
    assert message.text == "a" * 4096
