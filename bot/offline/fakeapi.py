"""An in-memory Telegram Bot API: what tests and the offline console talk to.

``FakeTelegram`` keeps the state (chats, messages, every call made) and answers
documented Bot API methods. It plugs in at PTB's request layer through
``FakeRequest`` (a ``telegram.request.BaseRequest``), so the real
``Application``, ``ExtBot`` and rate limiter run unchanged; the same state can
also be served over loopback HTTP for end-to-end tests.

Faults are injected on demand: ``fake.fail("sendMessage", "forbidden")``, or
``fake.blocked.add(chat_id)`` for users who blocked the bot.

Telegram's limits are enforced, answered with the 400 Bad Request Telegram
sends, so a test sees what Telegram would refuse: a text of more than 4,096
UTF-16 code units ("message is too long") or an empty one, a caption over 1,024,
callback data over 64 bytes (``BUTTON_DATA_INVALID``) and more than 100 buttons
in an inline keyboard ("reply markup is too long"), in ``sendMessage``,
``editMessageText``, ``sendPhoto``/``sendDocument``, ``editMessageCaption`` and
``editMessageReplyMarkup``.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

from bot.core.textsplit import MAX_CAPTION, MAX_MESSAGE, utf16_len

BOT_ID = 7_000_000_001
MAX_CALLBACK_DATA = 64  # bytes of UTF-8
MAX_BUTTONS = 100  # in one inline keyboard
_TAG = re.compile(r"<[^>]*>")
FAULTS = ("forbidden", "retry_after", "server_error", "timeout", "bad_request", "garbage")
_SENDING = {
    "sendMessage",
    "sendPhoto",
    "sendDocument",
    "sendChatAction",
    "copyMessage",
    "forwardMessage",
    "sendMediaGroup",
}


@dataclass
class Call:
    """One Bot API request as the bot made it."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None


@dataclass
class Fault:
    kind: str
    times: int
    chat_id: int | None
    retry_after: int


def bad_request(description: str) -> tuple[int, dict[str, Any]]:
    """Telegram's answer to a request it refuses: 400 and ``Bad Request: <description>``."""
    return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"}


def _visible(text: str, parse_mode: Any) -> str:
    # Telegram counts the text after entity parsing: HTML tags do not count, entities count once.
    if str(parse_mode).upper() == "HTML":
        return html.unescape(_TAG.sub("", text))
    return text


def text_error(text: Any, parse_mode: Any = None) -> tuple[int, dict[str, Any]] | None:
    """What Telegram says of a message text: empty, or over 4,096 UTF-16 code units (None when fine)."""
    visible = _visible(str(text) if text is not None else "", parse_mode)
    if not visible.strip():
        return bad_request("message text is empty")
    if utf16_len(visible) > MAX_MESSAGE:
        return bad_request("message is too long")
    return None


def caption_error(caption: Any, parse_mode: Any = None) -> tuple[int, dict[str, Any]] | None:
    """A caption over 1,024 UTF-16 code units (None when fine or absent)."""
    if caption is not None and utf16_len(_visible(str(caption), parse_mode)) > MAX_CAPTION:
        return bad_request("message caption is too long")
    return None


def markup_error(markup: Any) -> tuple[int, dict[str, Any]] | None:
    """An inline keyboard Telegram refuses: over 100 buttons, or callback data not 1-64 bytes."""
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return None
    rows = markup["inline_keyboard"]
    buttons = [button for row in rows for button in row] if isinstance(rows, list) else []
    if len(buttons) > MAX_BUTTONS:
        return bad_request("reply markup is too long")
    for button in buttons:
        data = button.get("callback_data") if isinstance(button, dict) else None
        if data is not None and not 1 <= len(str(data).encode("utf-8")) <= MAX_CALLBACK_DATA:
            return bad_request("BUTTON_DATA_INVALID")
    return None


class FakeTelegram:
    """State and answers of a fake Bot API server."""

    def __init__(self, username: str = "schoolbot_demo_bot") -> None:
        self.username = username
        self.calls: list[Call] = []
        self.blocked: set[int] = set()
        self.unknown_chats: set[int] = set()
        self._faults: dict[str, list[Fault]] = defaultdict(list)
        self._message_ids = itertools.count(1000)
        # Messages the bot sent, by chat and id, so edits can be applied and buttons pressed later.
        self.messages: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
        self.updates: asyncio.Queue[dict[str, Any]] | None = None
        self._update_ids = itertools.count(1)
        # Files users "uploaded": getFile answers from here; downloads are served by file_path.
        self._file_paths: dict[str, str] = {}
        self.downloads: dict[str, bytes] = {}
        # Messages users sent, by chat and id, so a reply to one can quote it (``reply_to_message``).
        self.user_messages: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)

    # --- fault injection -------------------------------------------------
    def fail(self, method: str, kind: str, *, times: int = 1, chat_id: int | None = None, retry_after: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` (``*`` = any sending method) fail."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULTS}")
        self._faults[method].append(Fault(kind, times, chat_id, retry_after))

    def _take_fault(self, method: str, chat_id: int | None) -> Fault | None:
        for key in (method, "*" if method in _SENDING else None):
            if key is None:
                continue
            for fault in self._faults.get(key, []):
                if fault.times > 0 and (fault.chat_id is None or fault.chat_id == chat_id):
                    fault.times -= 1
                    return fault
        return None

    # --- what tests read -------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Messages delivered (in order), optionally to one chat."""
        chats = [chat_id] if chat_id is not None else list(self.messages)
        out = [msg for chat in chats for msg in self.messages.get(chat, {}).values()]
        return sorted(out, key=lambda m: m["message_id"])

    def texts(self, chat_id: int) -> list[str]:
        return [m.get("text") or m.get("caption") or "" for m in self.sent(chat_id)]

    def last(self, chat_id: int) -> dict[str, Any]:
        msgs = self.sent(chat_id)
        if not msgs:
            raise AssertionError(f"the bot sent nothing to chat {chat_id}")
        return msgs[-1]

    # --- the API ---------------------------------------------------------
    def answer(self, method: str, params: dict[str, Any], files: dict[str, bytes] | None = None) -> tuple[int, Any]:
        """Answer one Bot API call: ``(HTTP status, decoded JSON body)``."""
        call = Call(method, params, files or {})
        self.calls.append(call)
        chat_id = call.chat_id
        fault = self._take_fault(method, chat_id)
        if fault is None and method in _SENDING and chat_id is not None:
            if chat_id in self.blocked:
                fault = Fault("forbidden", 1, chat_id, 0)
            elif chat_id in self.unknown_chats:
                fault = Fault("bad_request", 1, chat_id, 0)
        if fault is not None:
            return self._fault_body(fault)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
        result = handler(call)
        if isinstance(result, tuple):
            return result
        return 200, {"ok": True, "result": result}

    @staticmethod
    def _fault_body(fault: Fault) -> tuple[int, Any]:
        if fault.kind == "timeout":
            raise TimedOut("fake time-out")
        if fault.kind == "forbidden":
            return 403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
        if fault.kind == "bad_request":
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        if fault.kind == "retry_after":
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {fault.retry_after}",
                "parameters": {"retry_after": fault.retry_after},
            }
        if fault.kind == "garbage":
            return 200, "<html>502 Bad Gateway</html>"
        return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}

    def bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "schoolbot", "username": self.username}

    def _new_message(self, chat_id: int, reply_parameters: Any = None, **content: Any) -> dict[str, Any]:
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": self.bot_user(),
            **{k: v for k, v in content.items() if v is not None},
        }
        quoted = self._quoted(chat_id, reply_parameters)
        if quoted is not None:
            message["reply_to_message"] = quoted
        self.messages[chat_id][message["message_id"]] = message
        return message

    def remember(self, message: dict[str, Any]) -> None:
        """Keep a message a user sent, so the bot's replies to it quote it as Telegram does."""
        self.user_messages[int(message["chat"]["id"])][int(message["message_id"])] = message

    def _quoted(self, chat_id: int, reply_parameters: Any) -> dict[str, Any] | None:
        """The message a ``reply_parameters`` names (one level deep, as Telegram sends it)."""
        if isinstance(reply_parameters, str):
            reply_parameters = json.loads(reply_parameters)
        if not isinstance(reply_parameters, dict) or "message_id" not in reply_parameters:
            return None
        message_id = int(reply_parameters["message_id"])
        found = self.user_messages.get(chat_id, {}).get(message_id) or self.messages.get(chat_id, {}).get(message_id)
        return {k: v for k, v in found.items() if k != "reply_to_message"} if found is not None else None

    @staticmethod
    def _markup(params: dict[str, Any]) -> Any:
        markup = params.get("reply_markup")
        return json.loads(markup) if isinstance(markup, str) else markup

    def _api_getMe(self, call: Call) -> Any:
        return {**self.bot_user(), "can_join_groups": True, "can_read_all_group_messages": False}

    def _api_sendMessage(self, call: Call) -> Any:
        p = call.params
        text = str(p.get("text", ""))
        markup = self._markup(p)
        refused = text_error(text, p.get("parse_mode")) or markup_error(markup)
        if refused is not None:
            return refused
        # Like Telegram, the sent message carries an inline keyboard only (not a ForceReply or reply keyboard).
        inline = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        return self._new_message(int(p["chat_id"]), p.get("reply_parameters"), text=text, reply_markup=inline)

    def _media(self, call: Call, kind: str) -> Any:
        p = call.params
        caption = p.get("caption")
        markup = self._markup(p)
        refused = caption_error(caption, p.get("parse_mode")) or markup_error(markup)
        if refused is not None:
            return refused
        uid = f"{kind}-{len(self.calls)}"
        media: Any = {"file_id": uid, "file_unique_id": uid, "file_size": sum(map(len, call.files.values()))}
        if kind == "photo":
            media = [{**media, "width": 800, "height": 600}]
        else:
            media["file_name"] = next(iter(call.files), "file")
        return self._new_message(int(p["chat_id"]), caption=caption, reply_markup=markup, **{kind: media})

    def _api_sendPhoto(self, call: Call) -> Any:
        return self._media(call, "photo")

    def _api_sendDocument(self, call: Call) -> Any:
        return self._media(call, "document")

    def _api_editMessageText(self, call: Call) -> Any:
        p = call.params
        message = self.messages.get(int(p.get("chat_id", 0)), {}).get(int(p.get("message_id", 0)))
        if message is None:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message to edit not found"}
        markup = self._markup(p)
        refused = text_error(p.get("text"), p.get("parse_mode")) or markup_error(markup)
        if refused is not None:
            return refused
        if message.get("text") == p.get("text") and message.get("reply_markup") == markup:
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message is not modified: specified new message content and reply markup are exactly the same",
            }
        message["text"] = p.get("text")
        message["edit_date"] = int(time.time())
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        return message

    def _api_editMessageReplyMarkup(self, call: Call) -> Any:
        p = call.params
        message = self.messages.get(int(p.get("chat_id", 0)), {}).get(int(p.get("message_id", 0)))
        if message is None:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message to edit not found"}
        markup = self._markup(p)
        refused = markup_error(markup)
        if refused is not None:
            return refused
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        return message

    def _api_editMessageCaption(self, call: Call) -> Any:
        p = call.params
        message = self.messages.get(int(p.get("chat_id", 0)), {}).get(int(p.get("message_id", 0)))
        if message is None:
            return bad_request("message to edit not found")
        markup = self._markup(p)
        refused = caption_error(p.get("caption"), p.get("parse_mode")) or markup_error(markup)
        if refused is not None:
            return refused
        message["caption"] = p.get("caption")
        message["edit_date"] = int(time.time())
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        return message

    def _api_deleteMessage(self, call: Call) -> Any:
        self.messages.get(int(call.params.get("chat_id", 0)), {}).pop(int(call.params.get("message_id", 0)), None)
        return True

    def _true(self, call: Call) -> Any:
        return True

    _api_answerCallbackQuery = _true
    _api_setMyCommands = _true
    _api_setChatMenuButton = _true
    _api_deleteMyCommands = _true
    _api_sendChatAction = _true
    _api_deleteWebhook = _true
    _api_setWebhook = _true
    _api_close = _true
    _api_logOut = _true

    def _api_getUpdates(self, call: Call) -> Any:
        return []

    def _api_getWebhookInfo(self, call: Call) -> Any:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    def _api_getFile(self, call: Call) -> Any:
        file_id = str(call.params.get("file_id"))
        path = self._file_paths.get(file_id, f"documents/{file_id}")
        size = len(self.downloads.get(path, b""))
        return {"file_id": file_id, "file_unique_id": file_id, "file_size": size, "file_path": path}

    # --- files users sent ----------------------------------------------------
    def add_file(self, file_id: str, data: bytes, file_path: str | None = None) -> str:
        """Register the bytes behind ``file_id`` (e.g. a document a user sends); return its file_path."""
        # Telegram's own paths are ASCII (``documents/file_7.csv``), whatever the file was called.
        suffix = "".join(c for c in file_id.rpartition(".")[2] if c.isascii() and c.isalnum()) if "." in file_id else ""
        path = file_path or f"documents/file_{len(self._file_paths)}" + (f".{suffix}" if suffix else "")
        self._file_paths[file_id] = path
        self.downloads[path] = data
        return path

    def download(self, file_path: str) -> bytes | None:
        """The bytes served at ``{base_file_url}{token}/{file_path}``, or None (404)."""
        return self.downloads.get(file_path)

    # --- building updates the way Telegram sends them ---------------------
    def next_update_id(self) -> int:
        return next(self._update_ids)

    def continue_update_ids(self, last_seen: int) -> None:
        """Number the next updates after ``last_seen``, as Telegram does across a bot's restarts.

        A fresh fake counts from 1; on a database an earlier session used, a draft
        would take those ids for redeliveries it has already seen and only resume.
        """
        self._update_ids = itertools.count(max(last_seen, 0) + 1)

    def buttons(self, chat_id: int, message_id: int | None = None) -> Iterator[dict[str, Any]]:
        """Inline buttons of a message (default: the newest message that has any)."""
        candidates = self.sent(chat_id)
        if message_id is not None:
            candidates = [m for m in candidates if m["message_id"] == message_id]
        for message in reversed(candidates):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard")
            if rows:
                for row in rows:
                    for button in row:
                        yield {**button, "message": message}
                return


class FakeRequest(BaseRequest):
    """PTB request layer answering from a ``FakeTelegram`` instead of the network."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:
            # A download: base_file_url + token + "/" + file_path.
            file_path = url.split("/file/bot", 1)[1].split("/", 1)[-1]
            data = self.fake.download(file_path)
            await asyncio.sleep(0)
            return (200, data) if data is not None else (404, b'{"ok":false,"error_code":404,"description":"Not Found"}')
        api_method = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        files: dict[str, bytes] = {}
        if request_data is not None and request_data.contains_files:
            for name, part in (request_data.multipart_data or {}).items():
                if isinstance(part, tuple):
                    content = part[1]
                    files[str(part[0] or name)] = content if isinstance(content, bytes) else content.read()
        status, body = self.fake.answer(api_method, params, files)
        # Yield to the loop as a network round trip would, so concurrency bugs can show.
        await asyncio.sleep(0)
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        return status, raw
