"""Cutting long texts into pieces Telegram accepts (4,096 UTF-16 code units a message).

Telegram counts a text's length in UTF-16 code units, not Python characters: an
emoji outside the Basic Multilingual Plane counts twice. Lists the office asks
for (invite links, staff, overdue schools, digests, broadcast reports) grow with
the roster, so every such reply goes through ``split_text``.
"""

from __future__ import annotations

# Telegram's own limits (Bot API: sendMessage text, sendPhoto/sendDocument caption).
MAX_MESSAGE = 4096
MAX_CAPTION = 1024


def utf16_len(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def _hard_cut(line: str, limit: int) -> list[str]:
    """A single line longer than ``limit``: cut it by code units, never inside a surrogate pair."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for char in line:
        width = 2 if ord(char) > 0xFFFF else 1
        if size + width > limit:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    if current:
        pieces.append("".join(current))
    return pieces


def split_text(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split ``text`` into messages of at most ``limit`` UTF-16 units, at line breaks where possible.

    A text that fits is returned whole (one element); an empty text gives ``[""]``
    so callers can send "nothing" the way they did before.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    if utf16_len(text) <= limit:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        width = utf16_len(line)
        if width > limit:
            if current:
                parts.append("\n".join(current))
                current, size = [], 0
            parts.extend(_hard_cut(line, limit))
            continue
        # +1 for the newline that joins it to the previous line.
        needed = width + (1 if current else 0)
        if current and size + needed > limit:
            parts.append("\n".join(current))
            current, size = [line], width
        else:
            current.append(line)
            size += needed
    if current:
        parts.append("\n".join(current))
    return [p for p in parts if p] or [""]


def storable(text: str) -> str:
    """``text`` without NUL characters: PostgreSQL's text and JSON cannot hold U+0000, and a
    message that carries one (pasted from a broken file, or forged) must not fail the update."""
    return text.replace("\x00", "")


__all__ = ["MAX_CAPTION", "MAX_MESSAGE", "split_text", "storable", "utf16_len"]
