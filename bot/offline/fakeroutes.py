"""The fake Bot API server's HTTP side: its tornado handlers and how they read a request.

``bot.offline.fakeserver.FakeBotApiServer`` routes ``/bot<token>/<method>``, ``/file/...``
and ``/_fake/...`` here; the server keeps the state (pending updates, webhook, polls).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING, Any

from telegram.error import TimedOut
from tornado.httputil import HTTPServerRequest
from tornado.web import RequestHandler

if TYPE_CHECKING:
    from bot.offline.fakeserver import FakeBotApiServer

# ServedRequest.status when no answer was sent: an injected time-out, or the client hung up first.
NO_ANSWER = 0

# Form and multipart values arrive as strings (PTB JSON-encodes every non-string value).
# Decode them by the types the Bot API documents, so params look like the in-memory path's.
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "scope",
        "commands",
        "allowed_updates",
        "link_preview_options",
        "reply_parameters",
        "media",
        "results",
        "permissions",
        "options",
        "explanation_entities",
        "question_entities",
        "reaction",
        "menu_button",
        "rights",
        "prices",
        "message_ids",
        "input_message_content",
    }
)
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "user_id",
        "offset",
        "limit",
        "timeout",
        "message_thread_id",
        "reply_to_message_id",
        "cache_time",
        "max_connections",
        "until_date",
        "duration",
        "width",
        "height",
    }
)
_BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "has_spoiler",
        "disable_content_type_detection",
        "show_caption_above_media",
        "allow_paid_broadcast",
    }
)
_INT = re.compile(r"^-?\d+$")


def decode_form_value(name: str, value: str) -> Any:
    """One form/multipart field, decoded by its documented Bot API type."""
    if name in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if name in _INT_FIELDS and _INT.match(value):
        return int(value)
    if name in _BOOL_FIELDS and value in ("true", "false"):
        return value == "true"
    return value


class Poll:
    """A getUpdates request waiting for updates; a newer poller or a webhook ends it with 409."""

    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.conflict: str | None = None
        # The client closed the connection (PTB cancels its poll on shutdown): nobody to answer.
        self.gone = False


def error_answer(status: int, description: str) -> tuple[int, dict[str, Any]]:
    return status, {"ok": False, "error_code": status, "description": description}


class _BaseHandler(RequestHandler):
    server: FakeBotApiServer

    def initialize(self, server: FakeBotApiServer) -> None:
        self.server = server

    def check_xsrf_cookie(self) -> None:
        return None

    def reply(self, status: int, body: Any) -> None:
        self.set_status(status)
        if isinstance(body, (bytes, str)):
            self.set_header("Content-Type", "text/html" if isinstance(body, str) else "application/octet-stream")
            self.finish(body)
        else:
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(body, ensure_ascii=False))
        self.server.log_request(self.request.method or "", self.request.path, status)

    def params(self) -> dict[str, Any]:
        """Query string, form or multipart fields, or a JSON object body, as one dict."""
        request: HTTPServerRequest = self.request
        params: dict[str, Any] = {}
        for source in (request.query_arguments, request.body_arguments):
            for name, values in source.items():
                params[name] = decode_form_value(name, values[-1].decode("utf-8"))
        content_type = request.headers.get("Content-Type", "")
        if content_type.startswith("application/json") and request.body:
            body = json.loads(request.body)
            if isinstance(body, dict):
                params.update(body)
        return params


class ApiHandler(_BaseHandler):
    """``/bot<token>/<method>``."""

    poll: Poll | None = None

    def on_connection_close(self) -> None:
        # The client gave up on a long poll (PTB cancels it on shutdown): stop holding it.
        if self.poll is not None:
            self.poll.gone = True
            self.poll.wake.set()

    async def get(self, token: str, method: str) -> None:
        await self._api(token, method)

    async def post(self, token: str, method: str) -> None:
        await self._api(token, method)

    async def _api(self, token: str, method: str) -> None:
        server = self.server
        if token != server.token:
            self.reply(*error_answer(401, "Unauthorized"))
            return
        try:
            params = self.params()
        except ValueError:
            self.reply(*error_answer(400, "Bad Request: can't parse JSON object"))
            return
        files = {(f.filename or name): f.body for name, parts in self.request.files.items() for f in parts}
        refused = server.limits.check(method, params) if server.limits is not None else None
        if refused is not None:
            self.reply(*refused)
            return
        try:
            status, body = server.fake.answer(method, params, files)
        except TimedOut:  # an injected time-out
            await self._time_out()
            return
        if status == 200 and method == "getUpdates":
            self.poll = Poll()
            status, body = await server._get_updates(params, self.poll)
            if self.poll.gone:
                server.log_request(self.request.method or "", self.request.path, NO_ANSWER)
                return
        elif status == 200:
            status, body = server._after_call(method, params) or (status, body)
        self.reply(status, body)

    async def _time_out(self) -> None:
        server = self.server
        if server.timeout_delay > 0:
            try:
                await asyncio.wait_for(server._closing.wait(), server.timeout_delay)
            except TimeoutError:
                pass
        server.log_request(self.request.method or "", self.request.path, NO_ANSWER)
        self.detach().close()


class FileHandler(_BaseHandler):
    """``/file/bot<token>/<file_path>``: downloads."""

    async def get(self, token: str, file_path: str) -> None:
        if token != self.server.token:
            self.reply(*error_answer(401, "Unauthorized"))
            return
        data = self.server.fake.download(file_path)
        if data is None:
            self.reply(*error_answer(404, "Not Found: file not found"))
        else:
            self.reply(200, data)


class NotFoundHandler(_BaseHandler):
    async def get(self) -> None:
        self.reply(*error_answer(404, "Not Found"))

    async def post(self) -> None:
        self.reply(*error_answer(404, "Not Found"))


class ControlHandler(_BaseHandler):
    """``/_fake/<action>``: drive the fake from outside the process (standalone use)."""

    async def get(self, action: str) -> None:
        fake = self.server.fake
        params = self.params()
        if action == "calls":
            body: Any = [{"method": c.method, "params": c.params, "files": sorted(c.files)} for c in fake.calls]
        elif action == "messages":
            chat_id = params.get("chat_id")
            body = fake.sent(int(chat_id) if chat_id is not None else None)
        elif action == "pending":
            body = self.server.pending
        elif action == "limits" and self.server.limits is not None:
            body = self.server.limits.summary()
        else:
            self.reply(*error_answer(404, f"Not Found: no control action {action!r}"))
            return
        self.reply(200, {"ok": True, "result": body})

    async def post(self, action: str) -> None:
        server = self.server
        try:
            params = json.loads(self.request.body or b"{}")
        except ValueError:
            self.reply(*error_answer(400, "Bad Request: send a JSON object"))
            return
        try:
            if action == "update":
                result: Any = server.push_update({k: v for k, v in params.items() if k != "update_id"})
            elif action == "send":
                chat = server.user(int(params["user_id"]), params.get("first_name", "用户"), params.get("language_code", "zh"))
                result = chat.send(str(params["text"]))
            elif action == "press":
                chat = server.user(int(params["user_id"]), params.get("first_name", "用户"), params.get("language_code", "zh"))
                result = chat.press(str(params["label"]))
            elif action == "fail":
                server.fake.fail(
                    str(params["method"]),
                    str(params["kind"]),
                    times=int(params.get("times", 1)),
                    chat_id=params.get("chat_id"),
                    retry_after=int(params.get("retry_after", 1)),
                )
                result = True
            elif action == "block":
                server.fake.blocked.add(int(params["chat_id"]))
                result = True
            else:
                self.reply(*error_answer(404, f"Not Found: no control action {action!r}"))
                return
        except (KeyError, ValueError, AssertionError) as exc:
            self.reply(*error_answer(400, f"Bad Request: {exc}"))
            return
        self.reply(200, {"ok": True, "result": result})
