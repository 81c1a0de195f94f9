"""People chatting with the bot offline: builds updates as Telegram would send them.

Used by the tests and by ``schoolbot console``. Each action feeds one update
through ``Application.process_update`` and returns the messages the bot sent
(or edited) in that chat as a result, so a test reads like a conversation::

    chat = sim.user(1001, "王校长")
    replies = await chat.send("/start abc")
    await chat.press("提交")
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.offline.fakeapi import FakeTelegram

_ids = itertools.count(1)


# --- update payloads as Telegram builds them (shared with bot.offline.fakeserver) ---
def user_payload(user_id: int, first_name: str, language_code: str | None = None, last_name: str | None = None) -> dict[str, Any]:
    """The ``User`` object of a person (not a bot)."""
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": first_name,
        **({"last_name": last_name} if last_name else {}),
        **({"language_code": language_code} if language_code else {}),
    }


def private_chat_payload(user: dict[str, Any]) -> dict[str, Any]:
    """The ``Chat`` of a user's private chat with the bot (its id is the user's id)."""
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


def text_content(text: str) -> dict[str, Any]:
    """Message content for typed ``text``; a leading ``/command`` gets its ``bot_command`` entity."""
    content: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        command = text.split()[0]
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return content


def message_payload(user: dict[str, Any], content: dict[str, Any], message_id: int | None = None) -> dict[str, Any]:
    """A ``Message`` the user sent in their private chat."""
    return {
        "message_id": message_id if message_id is not None else next(_ids),
        "date": int(time.time()),
        "chat": private_chat_payload(user),
        "from": user,
        **content,
    }


def callback_query_payload(user: dict[str, Any], data: str, message: dict[str, Any]) -> dict[str, Any]:
    """A ``CallbackQuery``: ``user`` pressed a button carrying ``data`` under ``message``."""
    return {
        "id": str(next(_ids)),
        "from": user,
        "chat_instance": f"ci{user['id']}",
        "data": data,
        "message": message,
    }


@dataclass
class Reply:
    """A message the bot sent or edited in response to one action."""

    message_id: int
    text: str
    buttons: list[list[dict[str, Any]]] = field(default_factory=list)
    edited: bool = False
    kind: str = "text"
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [b["text"] for row in self.buttons for b in row]


class UserChat:
    """One Telegram user in their private chat with the bot."""

    def __init__(
        self, sim: "Simulator", user_id: int, first_name: str, language_code: str | None, last_name: str | None = None
    ) -> None:
        self.sim = sim
        self.user_id = user_id
        self.user = user_payload(user_id, first_name, language_code, last_name)
        self.chat = private_chat_payload(self.user)

    # --- actions ----------------------------------------------------------
    async def send(self, text: str) -> list[Reply]:
        """Type ``text`` and send it."""
        return await self._message(text_content(text))

    async def send_sticker(self) -> list[Reply]:
        sticker = {
            "file_id": "sticker1",
            "file_unique_id": "s1",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        }
        return await self._message({"sticker": sticker})

    async def send_photo(self, caption: str | None = None) -> list[Reply]:
        photo = [{"file_id": "photo1", "file_unique_id": "p1", "width": 90, "height": 90}]
        return await self._message({"photo": photo, **({"caption": caption} if caption else {})})

    async def send_voice(self) -> list[Reply]:
        return await self._message({"voice": {"file_id": "voice1", "file_unique_id": "v1", "duration": 2}})

    async def send_document(
        self, file_name: str, caption: str | None = None, *, data: bytes | None = None, size: int | None = None
    ) -> list[Reply]:
        """Send a file; with ``data`` the fake serves its bytes (``getFile`` and the download)."""
        document: dict[str, Any] = {"file_id": f"doc-{file_name}", "file_unique_id": f"d-{file_name}", "file_name": file_name}
        if data is not None:
            self.sim.fake.add_file(document["file_id"], data)
            document["file_size"] = len(data) if size is None else size
        elif size is not None:
            document["file_size"] = size
        return await self._message({"document": document, **({"caption": caption} if caption else {})})

    async def press(self, label: str, *, message_id: int | None = None) -> list[Reply]:
        """Press the inline button whose text contains ``label`` (newest message with buttons)."""
        for button in self.sim.fake.buttons(self.user_id, message_id):
            if label in button["text"] and "callback_data" in button:
                return await self.press_data(button["callback_data"], button["message"])
        available = [b["text"] for b in self.sim.fake.buttons(self.user_id, message_id)]
        raise AssertionError(f"no button {label!r} for user {self.user_id}; buttons: {available}")

    async def press_data(self, data: str, message: dict[str, Any] | None = None) -> list[Reply]:
        """Press a button carrying ``data`` (forged or stale data included)."""
        if message is None:
            message = self.sim.fake.last(self.user_id)
        query = callback_query_payload(self.user, data, message)
        return await self.sim.feed({"callback_query": query}, self.user_id)

    async def _message(self, content: dict[str, Any]) -> list[Reply]:
        message = message_payload(self.user, content)
        self.sim.fake.remember(message)
        return await self.sim.feed({"message": message}, self.user_id)

    # --- reading ----------------------------------------------------------
    def buttons(self) -> list[str]:
        return [b["text"] for b in self.sim.fake.buttons(self.user_id)]

    @property
    def texts(self) -> list[str]:
        return self.sim.fake.texts(self.user_id)


class Simulator:
    """Feeds updates to a real ``Application`` whose bot talks to ``fake``."""

    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any], fake: FakeTelegram) -> None:
        self.app = application
        self.fake = fake

    def user(
        self, user_id: int, first_name: str = "用户", language_code: str | None = "zh", last_name: str | None = None
    ) -> UserChat:
        return UserChat(self, user_id, first_name, language_code, last_name)

    async def feed(self, payload: dict[str, Any], chat_id: int) -> list[Reply]:
        """Process one update; return what the bot sent or edited in ``chat_id`` meanwhile."""
        before_calls = len(self.fake.calls)
        update = Update.de_json({"update_id": self.fake.next_update_id(), **payload}, self.app.bot)
        await self.app.process_update(update)
        return self.replies_since(before_calls, chat_id)

    def replies_since(self, call_index: int, chat_id: int) -> list[Reply]:
        replies: list[Reply] = []
        for call in self.fake.calls[call_index:]:
            if call.chat_id != chat_id:
                continue
            if call.method in ("sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageReplyMarkup"):
                replies.append(self._reply(call.method, call.params))
        return replies

    def _reply(self, method: str, params: dict[str, Any]) -> Reply:
        markup = self.fake._markup(params) or {}
        text = str(params.get("text") or params.get("caption") or "")
        message_id = int(params.get("message_id", 0))
        if not message_id:
            # A new message: the fake numbered it; find it by content as the newest match.
            for msg in reversed(self.fake.sent(int(params["chat_id"]))):
                if (msg.get("text") or msg.get("caption") or "") == text:
                    message_id = msg["message_id"]
                    break
        kind = {"sendPhoto": "photo", "sendDocument": "document"}.get(method, "text")
        return Reply(
            message_id=message_id,
            text=text,
            buttons=markup.get("inline_keyboard", []),
            edited=method.startswith("edit"),
            kind=kind,
            raw=params,
        )
