"""Find a font that draws Chinese, so chart labels are not empty boxes.

matplotlib ships only DejaVu, which has no CJK glyphs. The bot needs a CJK font
installed on the machine: on Debian/Ubuntu ``apt-get install fonts-wqy-microhei``
(5 MB; the Dockerfile and ``.ci/run`` install it), or ``fonts-noto-cjk``.
``cjk_font()`` asks matplotlib's font manager for the known families first,
then any installed font whose character map covers a sample of Chinese, and
checks the glyphs are really there rather than trusting a name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

from matplotlib import font_manager
from matplotlib.ft2font import FT2Font

__all__ = ["SAMPLE", "CjkFont", "cjk_font", "covers"]

log = logging.getLogger(__name__)

# District names are the labels most likely to use rare characters (濉 is one).
SAMPLE = "濉溪县杜集区烈山区相山区全市完整率学生饮用奶收入万元"

# Families tried first, most likely on a Debian-based image first.
KNOWN_FAMILIES = (
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
)


@dataclass(frozen=True)
class CjkFont:
    """A font family matplotlib resolves, and the file it resolves to."""

    family: str
    path: str


def covers(path: str, text: str = SAMPLE) -> bool:
    """True if the font file at ``path`` has a glyph for every character of ``text``."""
    try:
        charmap = FT2Font(path).get_charmap()
    except (OSError, RuntimeError, ValueError):
        return False
    return all(ord(ch) in charmap for ch in text)


def _resolve(family: str) -> str | None:
    """The file matplotlib uses for ``family``, or None if it would fall back to another family."""
    try:
        return str(font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False))
    except ValueError:
        return None


def _search() -> CjkFont | None:
    for family in KNOWN_FAMILIES:
        path = _resolve(family)
        if path is not None and covers(path):
            return CjkFont(family, path)
    for entry in font_manager.fontManager.ttflist:
        if covers(entry.fname):
            path = _resolve(entry.name)
            if path is not None and covers(path):
                return CjkFont(entry.name, path)
    return None


@lru_cache(maxsize=1)
def cjk_font() -> CjkFont | None:
    """The CJK font charts use, or None (then Chinese would draw as boxes: logged loudly)."""
    found = _search()
    if found is None:
        # matplotlib caches its font list; a font installed after the cache was
        # built is unknown until it is added explicitly.
        known = {entry.fname for entry in font_manager.fontManager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known and covers(path):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        found = _search()
    if found is None:
        log.warning("no CJK font found: Chinese chart labels will not render; install fonts-wqy-microhei")
    return found
