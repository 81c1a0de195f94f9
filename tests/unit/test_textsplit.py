"""Long replies are cut into pieces Telegram accepts, at line breaks, counted in UTF-16."""

from __future__ import annotations

from bot.core.textsplit import MAX_MESSAGE, split_text, utf16_len


def test_short_text_is_one_message() -> None:
    assert split_text("你好\n世界") == ["你好\n世界"]


def test_long_list_splits_at_line_breaks_and_keeps_every_line() -> None:
    lines = [f"HB-{i:03d} 邹圩小学 https://t.me/schoolbot_demo_bot?start=abcdefghijklmnop" for i in range(200)]
    text = "\n".join(lines)
    parts = split_text(text)
    assert len(parts) > 1
    assert all(utf16_len(p) <= MAX_MESSAGE for p in parts)
    assert "\n".join(parts).split("\n") == lines


def test_emoji_count_twice_like_telegram() -> None:
    text = "😀" * 3000  # 6,000 UTF-16 units: too long although only 3,000 characters
    parts = split_text(text)
    assert len(parts) == 2
    assert all(utf16_len(p) <= MAX_MESSAGE for p in parts)
    assert "".join(parts) == text


def test_one_overlong_line_is_cut_without_losing_text() -> None:
    text = "a" * 9000
    parts = split_text(text, limit=4096)
    assert [len(p) for p in parts] == [4096, 4096, 808]
    assert "".join(parts) == text
