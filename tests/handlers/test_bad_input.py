"""Bad input outside any conversation: each gets a clear answer and nothing is written."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot.core.clock import FixedClock
from bot.core.i18n import t
from bot.offline.simulator import Simulator
from storage.db import Database
from storage.models import Draft, Person, Report
from tests.factories import add_school, register_principal


async def _rows(db: Database) -> tuple[int, int, int]:
    async with db.session() as session:
        return (
            int(await session.scalar(select(func.count()).select_from(Person)) or 0),
            int(await session.scalar(select(func.count()).select_from(Draft)) or 0),
            int(await session.scalar(select(func.count()).select_from(Report)) or 0),
        )


async def test_unknown_command_points_to_help(sim: Simulator) -> None:
    replies = await sim.user(3001, "路人").send("/frobnicate now")
    assert replies[-1].text == t("zh", "core.unknown_command")


async def test_free_text_from_an_unregistered_user_explains_registration(sim: Simulator, db: Database) -> None:
    replies = await sim.user(3001, "路人").send("我要填报牛奶数据")
    assert replies[-1].text == t("zh", "core.not_registered", user_id=3001)
    assert await _rows(db) == (0, 0, 0)


async def test_sticker_photo_and_voice_without_a_question_get_text_only_reply(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    before = await _rows(db)
    for send in (chat.send_sticker, chat.send_photo, chat.send_voice):
        replies = await send()
        assert replies[-1].text == t("zh", "core.text_only")
    assert await _rows(db) == before


async def test_a_5000_character_message_is_refused_clearly(sim: Simulator, db: Database, clock: FixedClock) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    replies = await chat.send("字" * 5000)
    assert replies[-1].text == t("zh", "core.too_long", limit=4096)


async def test_a_5000_character_answer_in_a_form_is_re_asked_and_loses_nothing(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await add_school(db, clock, programmes=("milk",))
    chat = await register_principal(sim, db, clock)
    await chat.send("/milk")
    await chat.press("2026年10月")
    await chat.send("856")
    replies = await chat.send("9" * 5000)
    assert "供奶天数" in replies[-1].text
    async with db.session() as session:
        draft = await session.scalar(select(Draft))
    assert draft is not None and draft.answers["daily_drinkers"] == "856" and draft.step == "days_served"


def _group_message(user: dict[str, Any], text: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": 5,
        "date": 1_700_000_000,
        "chat": {"id": -100777, "type": "supergroup", "title": "校长群"},
        "from": user,
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"message": message}


async def test_groups_get_a_pointer_to_the_private_chat_and_nothing_is_collected(
    sim: Simulator, db: Database, clock: FixedClock
) -> None:
    await add_school(db, clock)
    chat = await register_principal(sim, db, clock)
    before = await _rows(db)
    replies = await sim.feed(_group_message(chat.user, "/report"), -100777)
    assert [r.text for r in replies] == [t("zh", "core.private_only")]
    assert await sim.feed(_group_message(chat.user, "856"), -100777) == []
    assert await _rows(db) == before
