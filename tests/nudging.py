"""Set-up shared by the /overdue and nudge tests: an office member looking at the overdue list.

The world is ``two_districts`` (tests/service/test_scheduler_digests.py): milk schools in
濉溪县 and 相山区 with October overdue from mid-November.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.clock import FixedClock
from bot.offline.fakeapi import FakeTelegram
from bot.offline.simulator import Reply, Simulator, UserChat
from storage.db import Database
from tests.service.test_scheduler_digests import two_districts
from tests.service.test_scheduler_tick import App

ADMIN = 900  # in ADMIN_IDS of the test settings


def last_alert(fake: FakeTelegram) -> str:
    """The text of the bot's latest answer to a button press (its toast or alert)."""
    return str(fake.calls_to("answerCallbackQuery")[-1].params.get("text", ""))


async def office(app: App, fake: FakeTelegram, user_id: int = ADMIN) -> UserChat:
    """An office member's chat with the bot (the admin unless ``user_id`` says otherwise)."""
    return Simulator(app, fake).user(user_id, "陈主任")


async def overdue_list(
    app: App, db: Database, clock: FixedClock, fake: FakeTelegram, when: datetime, user_id: int = ADMIN
) -> UserChat:
    """The two-district world at ``when``, and an office member who has just sent /overdue (ready to press)."""
    await two_districts(db, clock)
    clock.set(when)
    chat = await office(app, fake, user_id)
    await chat.send("/overdue")
    return chat


def only_button_data(reply: Reply) -> str:
    """The callback data of a reply's one button (e.g. "send now" under a queued nudge)."""
    (data,) = [b["callback_data"] for row in reply.buttons for b in row]
    return data
