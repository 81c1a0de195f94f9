"""The real bot process (``python -m bot run``) against the fake Bot API over loopback HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from bot.offline.fakeserver import FakeBotApiServer
from bot.core.i18n import t
from storage.db import Database
from storage.models import Person
from tests.e2e.conftest import ADMIN_ID, StartBot, seed_school_invite, undocumented_requests

PRINCIPAL = 1001


async def test_principal_registers_gets_help_and_switches_language_over_http(
    api: FakeBotApiServer, e2e_db: Database, db_url: str, start_bot: StartBot
) -> None:
    code = await seed_school_invite(e2e_db)
    bot = await start_bot(api, db_url)
    await bot.until(api, lambda: api.fake.calls_to("getUpdates"), 20, "the bot to start polling")

    wang = api.user(PRINCIPAL, "王校长", "zh")
    wang.send(f"/start {code}")
    (welcome,) = await bot.until(api, lambda: api.fake.sent(PRINCIPAL), what="the welcome")
    assert "邹圩小学" in welcome["text"] and "王校长" in welcome["text"]
    async with e2e_db.session() as session:
        person = await session.scalar(select(Person).where(Person.telegram_id == PRINCIPAL))
        assert person is not None and person.role == "principal" and person.school is not None
        assert person.school.code == "HB001"
    # Registration gave the principal their own command menu.
    await bot.until(
        api,
        lambda: [c for c in api.fake.calls_to("setMyCommands") if (c.params.get("scope") or {}).get("chat_id") == PRINCIPAL],
        what="the principal's menu",
    )

    wang.send("/help")
    help_message = (await bot.until(api, lambda: api.fake.sent(PRINCIPAL)[1:], what="the help"))[0]
    assert t("zh", "help.intro_principal") in help_message["text"]
    assert "/language" in help_message["text"]
    assert t("zh", "help.intro_staff") not in help_message["text"]

    wang.send("/language")
    chooser = (await bot.until(api, lambda: api.fake.sent(PRINCIPAL)[2:], what="the language buttons"))[0]
    assert chooser["text"] == t("zh", "language.choose")
    wang.press("English")
    await bot.until(api, lambda: api.fake.calls_to("answerCallbackQuery"), what="the button press answered")
    edited = api.fake.messages[PRINCIPAL][chooser["message_id"]]  # the fake edits it in place
    await bot.until(api, lambda: "edit_date" in edited, what="the chooser edited")
    assert edited["text"] == t("en", "language.set")
    assert "reply_markup" not in edited, "the buttons are gone after the choice"

    assert await bot.terminate() == 0
    # PTB confirms what it fetched on the way out, so nothing would be processed twice.
    assert api.pending == []
    assert undocumented_requests(api) == []
    assert all(r.status != 401 for r in api.requests)
    output = bot.output()
    assert api.token not in output and api.token.split(":")[1] not in output


async def test_restarted_bot_does_not_process_an_update_twice(api: FakeBotApiServer, start_bot: StartBot, tmp_path: Path) -> None:
    # Update confirmation is between the bot and the Bot API, the same on either backend:
    # one fresh SQLite file (``run`` migrates it) keeps the two start-ups to one backend.
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    first = await start_bot(api, db_url)
    await first.until(api, lambda: api.fake.calls_to("getUpdates"), 20, "the bot to start polling")
    admin = api.user(ADMIN_ID, "局长", "zh")
    admin.send("/help")
    await first.until(api, lambda: api.fake.sent(ADMIN_ID), what="the admin's help")
    assert await first.terminate() == 0

    # While the bot is down a message arrives; the restarted bot answers it, and only it.
    admin.send("/start")
    second = await start_bot(api, db_url)
    messages = await second.until(api, lambda: api.fake.sent(ADMIN_ID)[1:], 20, "the answer after restart")
    assert await second.terminate() == 0
    assert len(api.fake.sent(ADMIN_ID)) == 2 and len(messages) == 1
    assert t("zh", "help.intro_admin") in api.fake.sent(ADMIN_ID)[0]["text"]
    assert t("zh", "help.intro_admin") not in messages[0]["text"], "/help was not answered a second time"
    assert api.pending == []
    assert undocumented_requests(api) == []


async def test_bot_refused_by_the_api_says_so_without_printing_the_token(
    api: FakeBotApiServer, start_bot: StartBot, tmp_path: Path
) -> None:
    api.token = "999:OTHER-TOKEN"  # the server now accepts another token only
    bot = await start_bot(api, f"sqlite+aiosqlite:///{tmp_path / 'refused.db'}", BOT_TOKEN="123456:TEST-TOKEN")
    code = await asyncio.wait_for(bot.proc.wait(), 20)
    assert code != 0
    output = bot.output()
    assert "BOT_TOKEN" in output and "TEST-TOKEN" not in output
    assert api.requests and all(r.status == 401 for r in api.requests)
