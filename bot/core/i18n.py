"""User-facing text in Simplified Chinese (default) and English.

Text lives in ``bot/core/locales/*.toml``; each file groups the messages of one
feature, and each message key holds both languages side by side::

    [report.reask_number]
    zh = "请输入一个数字（单位：{unit}）。"
    en = "Please send a number (unit: {unit})."

Keys are unique across files; a key missing a language fails at load, so a
half-translated catalogue never reaches a user.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
_LOCALE_DIR = Path(__file__).with_name("locales")


class CatalogueError(RuntimeError):
    """The message catalogues are inconsistent (duplicate key, missing language)."""


def _flatten(prefix: str, table: Mapping[str, Any], out: dict[str, dict[str, str]], origin: str) -> None:
    if any(lang in table for lang in LANGUAGES):
        missing = [lang for lang in LANGUAGES if not isinstance(table.get(lang), str)]
        if missing:
            raise CatalogueError(f"{origin}: message {prefix!r} lacks {', '.join(missing)}")
        if prefix in out:
            raise CatalogueError(f"{origin}: message {prefix!r} is defined twice")
        out[prefix] = {lang: table[lang] for lang in LANGUAGES}
        return
    for key, value in table.items():
        if not isinstance(value, Mapping):
            raise CatalogueError(f"{origin}: {prefix}.{key} is not a message table")
        _flatten(f"{prefix}.{key}" if prefix else key, value, out, origin)


@lru_cache(maxsize=1)
def messages() -> dict[str, dict[str, str]]:
    """Load and merge every locale file once per process."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted(_LOCALE_DIR.glob("*.toml")):
        with path.open("rb") as fh:
            _flatten("", tomllib.load(fh), out, path.name)
    return out


def normalise_language(code: str | None) -> str:
    """Map a Telegram ``language_code`` (``en-GB``, ``zh-hans``) to one we speak."""
    if code:
        base = code.split("-")[0].split("_")[0].lower()
        if base in LANGUAGES:
            return base
    return DEFAULT_LANGUAGE


def t(lang: str | None, key: str, /, **params: Any) -> str:
    """Return message ``key`` in ``lang`` with ``params`` filled in."""
    entry = messages().get(key)
    if entry is None:
        raise KeyError(f"no message {key!r} in bot/core/locales")
    text = entry[normalise_language(lang)]
    return text.format(**params) if params else text


def bilingual(key: str, /, **params: Any) -> dict[str, str]:
    """Both languages of one message, for texts rendered before a reader is known."""
    return {lang: t(lang, key, **params) for lang in LANGUAGES}
