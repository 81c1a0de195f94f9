"""The offline console: the real application driven by typed (here: piped) lines."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.app import build_application
from bot.offline.console import close_console_app, open_console, run_console
from bot.offline.consolechat import NEW_USER_ID
from bot.offline.demo import demo_user
from bot.offline.fakeapi import FakeRequest, FakeTelegram
from bot.core.i18n import t
from bot.runtime.menus import commands_for, wired_commands
from bot.settings import Settings
from storage.db import Database
from storage.models import Draft

# Committed data: the console opens its own Database and commits.
pytestmark = pytest.mark.committed


async def chat(settings: Settings, script: str, *, who: str = "principal", **kwargs: object) -> tuple[int, str]:
    """Run a console session on ``script`` as piped stdin; return its exit status and output."""
    out = io.StringIO()
    status = await asyncio.to_thread(
        run_console,
        settings,
        who=who,
        stdin=io.StringIO(script),
        stdout=out,
        **kwargs,  # type: ignore[arg-type]
    )
    return status, out.getvalue()


async def test_unregistered_start_shows_telegram_id(db: Database, settings: Settings) -> None:
    status, out = await chat(settings, "/start\n", who="new")
    assert status == 0
    assert "邀请链接" in out and str(NEW_USER_ID) in out


async def test_demo_principal_help_lists_principal_commands(db: Database, settings: Settings) -> None:
    status, out = await chat(settings, "/help\n")
    assert status == 0
    assert t("zh", "help.intro_principal") in out
    wired = wired_commands(build_application(settings, request=FakeRequest(FakeTelegram()), db=db))
    principal = {c.name for c in commands_for("principal", wired)}
    for name in principal:
        assert f"/{name} —" in out
    for name in {c.name for c in commands_for("staff", wired)} - principal:
        assert f"/{name} —" not in out, "office commands are not offered to a principal"


async def test_typing_a_button_number_presses_it(db: Database, settings: Settings) -> None:
    status, out = await chat(settings, "/language\n#2\n")
    assert status == 0
    assert "[#1] 中文   [#2] English" in out
    assert f"机器人（已编辑） › {t('en', 'language.set')}" in out


async def test_hash_number_and_exact_label_press_buttons(db: Database, settings: Settings) -> None:
    _, out = await chat(settings, "/language\n#2\n/language\n中文\n")
    assert t("en", "language.set") in out and t("zh", "language.set") in out


async def test_bare_number_is_an_answer_even_with_buttons_in_view(db: Database, settings: Settings) -> None:
    _, out = await chat(settings, "/language\n2\n")
    # "2" could be the answer to "how many students?": it is sent as text, nothing is pressed.
    assert t("en", "language.set") not in out
    assert out.rstrip().endswith(t("zh", "core.what_now"))


async def test_pressing_a_button_that_was_edited_away_is_refused(db: Database, settings: Settings) -> None:
    _, out = await chat(settings, "/language\n#2\n#1\n")
    assert t("zh", "console.button_gone") in out


async def test_a_draft_left_by_an_earlier_session_answers_its_buttons(db: Database, settings: Settings) -> None:
    # First session: harvest (#1), vegetables (#3), then the terminal is closed mid-form.
    await chat(settings, "/report\n#1\n#3\n")
    async with db.session() as session:
        left = (await session.scalars(select(Draft))).one()
    assert left.answers == {"crop": "vegetables"} and left.last_update_id is not None
    # Second session, a new process's fake Bot API: the draft's "continue" button, then an answer.
    _, out = await chat(settings, "/report\n#1\n3\n")
    assert "[#1] " + t("zh", "report.continue_button") in out
    assert t("zh", "console.buttons_removed") in out, "the press was taken, not ignored as a redelivery"
    async with db.session() as session:
        draft = (await session.scalars(select(Draft))).one()
    assert draft.id == left.id and draft.answers["area_mu"] == "3"
    assert draft.last_update_id is not None and draft.last_update_id > left.last_update_id


async def test_end_of_input_exits_zero(db: Database, settings: Settings) -> None:
    assert (await chat(settings, ""))[0] == 0
    assert (await chat(settings, "/start\n:quit\n/help\n"))[1].count("机器人 ›") == 1


async def test_sticker_meta_command_gets_text_only_reply(db: Database, settings: Settings) -> None:
    _, out = await chat(settings, ":sticker\n")
    assert t("zh", "core.text_only") in out


async def test_meta_commands_never_reach_the_bot(db: Database, settings: Settings) -> None:
    _, out = await chat(settings, ":nonsense\n")
    assert t("zh", "console.unknown_meta", command=":nonsense") in out
    assert "机器人" not in out


async def test_as_switches_to_office_staff(db: Database, settings: Settings) -> None:
    _, out = await chat(settings, ":as staff\n/help\n")
    assert t("zh", "help.intro_staff") in out


async def test_demo_admin_is_admin_without_admin_ids(db: Database, settings: Settings) -> None:
    _, out = await chat(settings, "/staff\n", who="admin")
    assert t("zh", "staff.title") in out and "[#1]" in out


async def test_piped_input_prints_no_prompts(db: Database, settings: Settings) -> None:
    _, out = await chat(settings, "/help\n")
    assert "›" in out and not any(line.startswith(demo_user("principal").name) for line in out.splitlines())
    assert t("zh", "console.banner") not in out


async def test_interactive_mode_prompts_with_the_users_name(db: Database, settings: Settings) -> None:
    _, out = await chat(settings, "/help\n", interactive=True)
    assert t("zh", "console.banner") in out
    assert f"{demo_user('principal').name}（" in out and t("zh", "console.bye") in out


async def test_echo_shows_typed_lines_in_the_transcript(db: Database, settings: Settings) -> None:
    _, out = await chat(settings, "/help\n", echo=True)
    assert out.splitlines()[0].endswith("› /help")


async def test_photos_and_documents_are_saved_and_their_path_printed(db: Database, settings: Settings, tmp_path: Path) -> None:
    out = io.StringIO()
    console = await open_console(settings, out=out, out_dir=tmp_path)
    try:
        assert console.chat is not None
        png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
        await console.app.bot.send_photo(console.chat.user_id, photo=png, caption="图表")
        await console.app.bot.send_document(console.chat.user_id, document=b"PK\x03\x04xlsx", filename="汇总.xlsx")
        console.render()
    finally:
        await close_console_app(console.app)
    text = out.getvalue()
    assert t("zh", "console.photo", size=len(png)) in text and "图表" in text
    assert t("zh", "console.document", name="汇总.xlsx") in text
    saved = sorted(tmp_path.iterdir())
    assert [p.read_bytes() for p in saved] == [png, b"PK\x03\x04xlsx"]
    assert all(str(p) in text for p in saved)


async def test_messages_to_other_chats_name_the_recipient(db: Database, settings: Settings) -> None:
    out = io.StringIO()
    console = await open_console(settings, who="staff", out=out)
    try:
        await console.app.bot.send_message(demo_user("principal").telegram_id, "请尽快填报")
        console.render()
    finally:
        await close_console_app(console.app)
    line = out.getvalue().strip()
    assert "请尽快填报" in line and str(demo_user("principal").telegram_id) in line and "→" in line


async def test_pressing_a_deep_link_button_sends_its_start_code(db: Database, settings: Settings) -> None:
    out = io.StringIO()
    console = await open_console(settings, who="new", out=out)
    try:
        assert console.chat is not None
        link = f"https://t.me/{console.app.bot.username}?start=NOTAREALCODE1234"
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("注册", url=link)]])
        await console.app.bot.send_message(console.chat.user_id, "点击注册", reply_markup=markup)
        console.render()
        await console.handle("#1")
    finally:
        await close_console_app(console.app)
    text = out.getvalue()
    assert "[#1] 注册" in text and link in text
    assert t("zh", "start.bad_code", user_id=console.chat.user_id) in text
