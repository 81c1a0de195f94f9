"""Telegram's flood limits for the fake Bot API server, as sliding one-second windows.

``bot.offline.fakeserver`` applies them when asked to (see its docstring): at most
``overall`` messages in any second across all chats and ``per_chat`` in one chat; beyond
that the answer is Telegram's 429 with ``parameters.retry_after``. Only the methods that
create a message (``FLOOD_LIMITED``) are counted.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.delivery.limiter import MESSAGE_METHODS

# FakeBotApiServer enforces Telegram's flood limits when this is set to 1 (see FloodLimits).
RATE_LIMITS_ENV = "FAKE_BOT_API_RATE_LIMITS"
# Methods that create a message: what Telegram's 30/s overall and 1/s per chat count (the
# bot's shared rate limiter counts the same ones).
FLOOD_LIMITED = MESSAGE_METHODS


@dataclass(frozen=True)
class FloodEvent:
    """One counted request: admitted, or refused with 429 (``scope`` says which limit refused it)."""

    at: float
    method: str
    chat_id: int
    scope: str | None = None  # None when admitted; "overall" or "chat" when refused


class FloodLimits:
    """Telegram's flood limits as sliding one-second windows: ``overall`` messages in any
    second across all chats, ``per_chat`` in any second in one chat.

    ``check`` is called as a request arrives, before it is answered: ``None`` admits
    it (and counts it), otherwise it is the 429 answer to send. ``clock`` is injectable
    so tests can move time without sleeping.
    """

    def __init__(
        self,
        overall: int = 30,
        per_chat: int = 1,
        *,
        window: float = 1.0,
        methods: frozenset[str] = FLOOD_LIMITED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.overall = overall
        self.per_chat = per_chat
        self.window = window
        self.methods = methods
        self.clock = clock
        self.admitted: list[FloodEvent] = []
        self.refused: list[FloodEvent] = []
        self._recent: deque[float] = deque()
        self._recent_by_chat: dict[int, deque[float]] = {}

    @staticmethod
    def _expire(times: deque[float], now: float, window: float) -> None:
        while times and now - times[0] >= window:
            times.popleft()

    def check(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """Admit (None) or refuse (Telegram's 429 answer) one request arriving now."""
        chat = params.get("chat_id")
        if method not in self.methods or chat is None:
            return None
        try:
            chat_id = int(chat)
        except (TypeError, ValueError):
            return None  # "@channel" usernames: not a chat this fake limits
        now = self.clock()
        self._expire(self._recent, now, self.window)
        in_chat = self._recent_by_chat.get(chat_id)
        if in_chat is not None:
            self._expire(in_chat, now, self.window)
        scope, oldest = None, 0.0
        if len(self._recent) >= self.overall:
            scope, oldest = "overall", self._recent[-self.overall]
        elif in_chat is not None and len(in_chat) >= self.per_chat:
            scope, oldest = "chat", in_chat[-self.per_chat]
        if scope is not None:
            self.refused.append(FloodEvent(now, method, chat_id, scope))
            retry_after = max(1, math.ceil(oldest + self.window - now))
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            }
        self._recent.append(now)
        if in_chat is None:
            in_chat = self._recent_by_chat[chat_id] = deque()
        in_chat.append(now)
        self.admitted.append(FloodEvent(now, method, chat_id))
        return None

    def max_in_window(self, refused_too: bool = False) -> int:
        """The most requests admitted (or, with ``refused_too``, attempted) in any one window."""
        events = sorted(e.at for e in self.admitted + (self.refused if refused_too else []))
        best, first = 0, 0
        for last, at in enumerate(events):
            while at - events[first] >= self.window:
                first += 1
            best = max(best, last - first + 1)
        return best

    def summary(self) -> dict[str, int]:
        return {
            "admitted": len(self.admitted),
            "refused_overall": sum(e.scope == "overall" for e in self.refused),
            "refused_chat": sum(e.scope == "chat" for e in self.refused),
            "max_admitted_in_window": self.max_in_window(),
            "max_attempted_in_window": self.max_in_window(refused_too=True),
        }
