"""The offline console's chat: typing as a demo user, pressing numbered buttons, and
printing what the bot did as a transcript.

``bot.offline.console`` runs a :class:`Console` in a terminal (see its docstring).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bot.app import App, services_of
from bot.core.i18n import normalise_language, t
from bot.offline.demo import DEMO_ID_BASE, DEMO_USERS
from bot.offline.fakeapi import Call, FakeTelegram
from bot.offline.simulator import Simulator, UserChat
from storage.people import person_by_telegram_id

# Who ``--as`` can name, in the order ``:help`` lists them.
USER_KEYS = ("principal", "principal2", "staff", "admin", "new")
# Somebody nobody registered: used by ``--as new`` unless the demo names one. In the demo's
# range, which Telegram never issues, like every demo person (bot.offline.demo).
NEW_USER_ID = DEMO_ID_BASE + 30001

# A bare number is always an answer ("How many students?"): pressing needs "#2" or "/press 2".
_PRESS = re.compile(r"^(?:#|/press\s+)(\d{1,3})$")
_DEEP_LINK = re.compile(r"^https://t\.me/(?P<bot>[A-Za-z0-9_]+)\?start=(?P<code>[A-Za-z0-9_-]+)$")


class ConsoleError(RuntimeError):
    """The console cannot start (e.g. an unknown ``--as`` name); the message is one line."""


class RecordingTelegram(FakeTelegram):
    """The fake Bot API, also keeping each call's answer so the console can show what was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.results: list[tuple[Call, int, Any]] = []

    def answer(self, method: str, params: dict[str, Any], files: dict[str, bytes] | None = None) -> tuple[int, Any]:
        status, body = super().answer(method, params, files)
        self.results.append((self.calls[-1], status, body))
        return status, body


@dataclass(frozen=True)
class ConsoleUser:
    """Somebody the console can type as."""

    key: str
    telegram_id: int
    name: str


@dataclass(frozen=True)
class ButtonRef:
    """A button shown with a number: what pressing it does."""

    label: str
    chat_id: int
    message_id: int
    callback_data: str | None = None
    url: str | None = None
    # Reply-keyboard buttons: pressing one sends its text.
    reply_text: str | None = None


def demo_users() -> dict[str, ConsoleUser]:
    """Who ``--as`` can name: the demo people of ``bot.offline.demo`` plus an unregistered newcomer."""
    users = {u.key: ConsoleUser(u.key, u.telegram_id, u.name) for u in DEMO_USERS}
    users.setdefault("new", ConsoleUser("new", NEW_USER_ID, ""))
    return users


class Console:
    """One console session: the application, the fake API, who is typing, and the shown buttons."""

    def __init__(
        self,
        application: App,
        fake: RecordingTelegram,
        users: Mapping[str, ConsoleUser],
        *,
        lang: str,
        out: TextIO,
        out_dir: Path | None = None,
        echo: bool = False,
    ) -> None:
        self.app = application
        self.fake = fake
        self.sim = Simulator(application, fake)
        self.users = dict(users)
        self.lang = normalise_language(lang)
        self.out = out
        self.echo = echo
        self._out_dir = out_dir
        self._seen = 0
        self.buttons: list[ButtonRef] = []
        self.names: dict[int, str] = {}
        self.chat: UserChat | None = None
        self.busy = False

    # --- who is typing ----------------------------------------------------
    async def switch(self, who: str | int) -> UserChat:
        """Become a demo user (``principal``, ``staff``...) or any Telegram id."""
        if isinstance(who, int) or who.isdigit():
            user_id = int(who)
            key = next((u.key for u in self.users.values() if u.telegram_id == user_id), None)
        elif who in self.users:
            key, user_id = who, self.users[who].telegram_id
        else:
            raise ConsoleError(t(self.lang, "console.unknown_user", name=who))
        name = await self._name_of(user_id, key)
        self.chat = self.sim.user(user_id, name, language_code=self.lang)
        self.buttons = self._current_buttons()
        return self.chat

    async def _name_of(self, user_id: int, key: str | None) -> str:
        """The person's name (and school) as registered, else the demo's name, else a placeholder."""
        async with services_of(self.app).db.session() as session:
            person = await person_by_telegram_id(session, user_id)
            name = person.name if person is not None else ""
            school = person.school.name if person is not None and person.school is not None else None
        if not name and key is not None:
            name = self.users[key].name
        if not name:
            name = t(self.lang, "console.new_user" if key == "new" else "console.user", user_id=user_id)
        self.names[user_id] = f"{name}（{school}）" if school else name
        return name

    @property
    def prompt(self) -> str:
        assert self.chat is not None
        return f"{self.names.get(self.chat.user_id, self.chat.user['first_name'])} › "

    def who_line(self) -> str:
        assert self.chat is not None
        return t(self.lang, "console.you_are", who=self.prompt.removesuffix(" › "), user_id=self.chat.user_id)

    # --- one typed line ---------------------------------------------------
    async def handle(self, line: str) -> bool:
        """Act on one typed line; False when the person asked to leave."""
        # The watcher waits: one action's messages are numbered together.
        self.busy = True
        try:
            return await self._handle(line)
        finally:
            self.busy = False

    async def _handle(self, line: str) -> bool:
        line = line.rstrip("\r\n")
        if not line.strip():
            return True
        assert self.chat is not None
        if self.echo:
            self.write(self.prompt + line)
        if line.startswith(":"):
            return await self._meta(line)
        button = self._button_for(line)
        if button is not None:
            await self.press(button)
        else:
            await self.chat.send(line)
        self.render()
        return True

    def _button_for(self, line: str) -> ButtonRef | None:
        """The button a line presses: ``#2``/``/press 2``, or its exact label when only one button has it."""
        text = line.strip()
        match = _PRESS.match(text)
        if match:
            number = int(match.group(1))
            if not self.buttons:
                self.write(t(self.lang, "console.no_buttons"))
                return _NOWHERE
            if not 1 <= number <= len(self.buttons):
                self.write(t(self.lang, "console.no_button", number=number))
                return _NOWHERE
            return self.buttons[number - 1]
        same = [b for b in self.buttons if b.label == text]
        return same[0] if len(same) == 1 else None

    async def press(self, button: ButtonRef) -> None:
        """Press a numbered button the way a Telegram client would."""
        assert self.chat is not None
        if button is _NOWHERE:
            return
        if button.reply_text is not None:
            await self.chat.send(button.reply_text)
            return
        if button.url is not None:
            self.write(f"{t(self.lang, 'console.link')}: {button.url}")
            link = _DEEP_LINK.match(button.url)
            if link and link.group("bot").lower() == (self.app.bot.username or "").lower():
                await self.chat.send(f"/start {link.group('code')}")
            return
        message = self.fake.messages.get(button.chat_id, {}).get(button.message_id)
        still_there = message is not None and any(
            b.get("callback_data") == button.callback_data
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
            for b in row
        )
        if not still_there or button.callback_data is None:
            self.write(t(self.lang, "console.button_gone"))
            return
        await self.chat.press_data(button.callback_data, message)

    async def _meta(self, line: str) -> bool:
        assert self.chat is not None
        command, _, rest = line[1:].strip().partition(" ")
        command, rest = command.lower(), rest.strip()
        if command in ("quit", "q", "exit"):
            return False
        if command in ("help", "h", "?", ""):
            self.write(t(self.lang, "console.help"))
        elif command == "as":
            try:
                await self.switch(rest)
            except ConsoleError as exc:
                self.write(str(exc))
            else:
                self.write(self.who_line())
        elif command == "who":
            self.write(self.who_line())
        elif command == "sticker":
            await self.chat.send_sticker()
        elif command == "photo":
            await self.chat.send_photo(rest or None)
        elif command == "voice":
            await self.chat.send_voice()
        elif command in ("document", "doc", "file"):
            if not rest:
                self.write(t(self.lang, "console.document_usage"))
            else:
                name, _, caption = rest.partition(" ")
                await self.chat.send_document(name, caption.strip() or None)
        elif command == "send":
            if not rest:
                self.write(t(self.lang, "console.send_usage"))
            else:
                await self.chat.send(rest)
        elif command == "buttons":
            self.buttons = self.buttons or self._current_buttons()
            if self.buttons:
                self._write_buttons(self.buttons)
            else:
                self.write(t(self.lang, "console.no_buttons"))
        else:
            self.write(t(self.lang, "console.unknown_meta", command=":" + command))
        self.render()
        return True

    # --- showing what the bot did -----------------------------------------
    def render(self) -> None:
        """Print every Bot API call made since the last render, as a chat transcript."""
        results = self.fake.results[self._seen :]
        self._seen += len(results)
        shown: list[ButtonRef] = []
        for call, status, body in results:
            if status != 200 or not isinstance(body, dict) or not body.get("ok"):
                continue
            self._render_call(call, body["result"], shown)
        if shown:
            self.buttons = shown

    def _render_call(self, call: Call, result: Any, shown: list[ButtonRef]) -> None:
        bot = t(self.lang, "console.bot")
        method = call.method
        if method == "answerCallbackQuery":
            if call.params.get("text"):
                kind = "console.bot_alert" if call.params.get("show_alert") else "console.bot_notice"
                self.write(f"{t(self.lang, kind)} › {call.params['text']}")
            return
        if method == "deleteMessage":
            if self._is_current(call.chat_id):
                self.write(f"{bot} › {t(self.lang, 'console.deleted')}")
            return
        if not isinstance(result, dict) or "chat" not in result:
            return
        chat_id = int(result["chat"]["id"])
        mine = self._is_current(chat_id)
        label = t(self.lang, "console.bot_edited") if method.startswith("edit") else bot
        if not mine:
            label += " " + t(self.lang, "console.to_chat", chat=self._chat_name(chat_id))
        lines: list[str] = []
        if "photo" in result:
            size = sum(len(v) for v in call.files.values()) or int(result["photo"][-1].get("file_size") or 0)
            lines.append(t(self.lang, "console.photo", size=size))
            lines += self._saved(call, result)
        if "document" in result:
            name = result["document"].get("file_name") or "file"
            lines.append(t(self.lang, "console.document", name=name))
            lines += self._saved(call, result)
        if method == "editMessageReplyMarkup":
            if not (result.get("reply_markup") or {}).get("inline_keyboard"):
                lines.append(t(self.lang, "console.buttons_removed"))
        else:
            text = result.get("text") or result.get("caption") or ""
            if text:
                lines += str(text).splitlines() or [""]
        markup = self.fake._markup(call.params) or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        button_lines = self._button_rows(rows, chat_id, int(result["message_id"]), shown if mine else None)
        if not lines and not button_lines:
            return
        head, *tail = lines or [""]
        self.write(f"{label} › {head}".rstrip())
        for extra in tail + button_lines:
            self.write("    " + extra)

    def _button_rows(self, rows: list[list[Any]], chat_id: int, message_id: int, shown: list[ButtonRef] | None) -> list[str]:
        out = []
        for row in rows:
            cells = []
            for raw in row:
                button: dict[str, Any] = {"text": raw} if isinstance(raw, str) else raw
                label = str(button.get("text", ""))
                if shown is None:
                    # Somebody else's buttons: shown for the record, not pressable as the current user.
                    cells.append(f"({label})")
                    continue
                is_reply = "callback_data" not in button and "url" not in button
                ref = ButtonRef(
                    label,
                    chat_id,
                    message_id,
                    callback_data=button.get("callback_data"),
                    url=button.get("url"),
                    reply_text=label if is_reply else None,
                )
                shown.append(ref)
                cells.append(f"[#{len(shown)}] {label}")
            out.append("   ".join(cells))
        return out

    def _current_buttons(self) -> list[ButtonRef]:
        """Numbered buttons of the newest message with buttons in the current chat."""
        assert self.chat is not None
        refs: list[ButtonRef] = []
        for button in self.fake.buttons(self.chat.user_id):
            refs.append(
                ButtonRef(
                    str(button["text"]),
                    self.chat.user_id,
                    int(button["message"]["message_id"]),
                    callback_data=button.get("callback_data"),
                    url=button.get("url"),
                )
            )
        return refs

    def _write_buttons(self, buttons: list[ButtonRef]) -> None:
        self.write("    " + "   ".join(f"[#{i}] {b.label}" for i, b in enumerate(buttons, 1)))

    def _saved(self, call: Call, result: dict[str, Any]) -> list[str]:
        """Save uploaded bytes under the output folder and say where."""
        lines = []
        for index, (name, data) in enumerate(call.files.items()):
            filename = _safe_name(name, data)
            path = self.out_dir / f"{result['message_id']}{'-' + str(index) if index else ''}-{filename}"
            path.write_bytes(data)
            lines.append(t(self.lang, "console.saved", path=path))
        return lines

    @property
    def out_dir(self) -> Path:
        if self._out_dir is None:
            self._out_dir = Path(tempfile.mkdtemp(prefix="schoolbot-console-"))
        self._out_dir.mkdir(parents=True, exist_ok=True)
        return self._out_dir

    def _is_current(self, chat_id: int | None) -> bool:
        return self.chat is not None and chat_id == self.chat.user_id

    def _chat_name(self, chat_id: int) -> str:
        name = self.names.get(chat_id)
        return f"{name} ({chat_id})" if name else str(chat_id)

    def write(self, text: str) -> None:
        self.out.write("\n".join(line.rstrip() for line in text.split("\n")) + "\n")
        self.out.flush()


# A press that was refused before reaching the bot (its reason is already printed).
_NOWHERE = ButtonRef("", 0, 0)


def _safe_name(name: str, data: bytes) -> str:
    base = re.sub(r"[^\w.\-]+", "_", os.path.basename(name)) or "file"
    if "." not in base:
        if data.startswith(b"\x89PNG"):
            base += ".png"
        elif data.startswith(b"\xff\xd8"):
            base += ".jpg"
        elif data.startswith(b"PK"):
            base += ".zip"
    return base
