"""Numbers as principals type them on a phone, and numbers as reports print them.

``parse_number`` accepts what people actually send: ``12000``, ``12,000``,
``12，000``, ``１２０００``, ``1.2万``, ``12000元``, ``3.5亩``, ``￥800``,
``三万五千``, ``两千``, ``-5``, ``负五``.  It returns an exact ``Decimal`` and
leaves range checks (negative, too large, whole number) to the form field.

``format_number`` shows a value back with thousands separators;
``format_wan`` writes large figures in 万 the way year-end reports do.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext

import cn2an  # type: ignore[import-untyped]

__all__ = ["Approximate", "NotANumber", "format_number", "format_wan", "is_none_word", "parse_figure", "parse_number", "tidy"]


class NotANumber(ValueError):
    """The text is not a number we can read."""


class Approximate(NotANumber):
    """The text is an estimate or a range ("约3000", "3000左右", "3000-4000", "三四千"): ask for one exact figure."""


# Words that make a figure an estimate, before or after it; a range between two figures.
_ROUGHLY_BEFORE = ("大约", "大概", "差不多", "将近", "接近", "约", "近", "估计", "about", "around", "approx", "~", "≈")
_ROUGHLY_AFTER = ("左右", "上下", "来", "多", "余", "几", "+")
_RANGE = re.compile(r"^[\d.,万千百k]+\s*(?:-|~|—|–|到|至|或)\s*[\d.,万千百k]+$")
# Two neighbouring numerals ("三四千", "两三百") or 几 ("十几", "几百"): a spoken estimate.
_SPOKEN_ESTIMATE = re.compile(r"(一二|二三|两三|三四|四五|五六|六七|七八|八九|几)")
# "None" as principals say it: counts as 0 where a field says so (``Field.none_is_zero``).
# Something that names a figure: a digit or a Chinese numeral (几 included: "几百").
_NUMERAL = re.compile(r"[0-9零一二两三四五六七八九十百千万亿几]")
# What a bare figure is made of: digits, separators, magnitudes, Chinese numerals.
_BARE = re.compile(r"[0-9.,\s百千万亿kw零〇一二两三四五六七八九十点壹贰叁肆伍陆柒捌玖拾佰仟萬]+")
_NONE_WORDS = frozenset({"无", "没有", "没", "零", "none", "no", "nil", "n/a", "na"})


def is_none_word(text: str) -> bool:
    """True for 无 / 没有 / 没 / none…: "nothing to report" said in words."""
    return unicodedata.normalize("NFKC", text).strip().lower().rstrip("。.!！") in _NONE_WORDS


def _is_estimate(s: str) -> bool:
    if not _NUMERAL.search(s):
        return False  # "很多" (a lot) is no estimate of a figure: it is not a number at all
    if s.startswith(_ROUGHLY_BEFORE) or s.endswith(_ROUGHLY_AFTER) or _RANGE.match(s):
        return True
    return bool(_SPOKEN_ESTIMATE.search(s)) and not s.isascii()


# Longest first, so "人次" is stripped whole rather than leaving "人".
_UNIT_SUFFIXES = sorted(
    {
        "元",
        "块",
        "块钱",
        "元整",
        "rmb",
        "cny",
        "yuan",
        "亩",
        "mu",
        "人",
        "人次",
        "名",
        "位",
        "天",
        "日",
        "个",
        "起",
        "次",
        "件",
        "份",
        "盒",
        "瓶",
        "袋",
        "箱",
        "棵",
        "株",
        "kg",
        "公斤",
        "千克",
        "斤",
    },
    key=len,
    reverse=True,
)
_CURRENCY_PREFIXES = ("¥", "$")
_MINUS_SIGNS = ("-", "−", "负")  # NFKC leaves U+2212 alone, so list it.

# Arabic digits followed by one magnitude word ("1.2万", "5千", "1.2w") are
# multiplied exactly here: cn2an truncates such input ("1.23456789万" → 12345)
# and routes it through float. Everything else Chinese goes to cn2an.
# Values are powers of ten, applied by shifting the exponent so that even a
# long number is never rounded to the decimal context's 28 digits.
_MAGNITUDES = {"": 0, "百": 2, "千": 3, "k": 3, "万": 4, "w": 4, "亿": 8}
_ARABIC = re.compile(r"(?P<digits>\d+(?:\.\d+)?)\s*(?P<magnitude>[百千k万w亿]?)", re.ASCII)
# Commas only as thousands separators: "1,2" is a European decimal or a typo,
# and guessing either way would store a wrong figure.
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?\s*[百千k万w亿]?", re.ASCII)


def parse_number(text: str, units: Iterable[str] = ()) -> Decimal:
    """Read a number the way a principal typed it; raise ``NotANumber`` otherwise.

    ``units`` are extra unit words to accept after the number (a form's own
    unit, e.g. "套" for uniform sets), on top of the common ones. Form fields do
    not use this list: their units come from the catalogue (``bot.core.units``),
    and they read the bare number with ``parse_figure``.
    """
    # NFKC turns "１２０００" into "12000", "，" into "," and "￥" into "¥".
    s = unicodedata.normalize("NFKC", text).strip().lower()
    negative, s = _sign(s)
    for prefix in _CURRENCY_PREFIXES:
        if s.startswith(prefix):
            s = s[len(prefix) :].lstrip()
            break
    # Strip one unit word; in "1.2万元" the 万 stays for the number parser.
    extra = {unicodedata.normalize("NFKC", u).strip().lower() for u in units} - {""}
    for suffix in sorted(extra, key=len, reverse=True) + _UNIT_SUFFIXES:
        if s.endswith(suffix) and len(s) > len(suffix):
            s = s[: -len(suffix)].rstrip()
            break
    return _figure(s, text, negative)


def parse_figure(text: str) -> Decimal:
    """Read a bare number, no unit word and no currency sign: "1.2万", "-5", "三万五千", "12,000"."""
    s = unicodedata.normalize("NFKC", text).strip().lower()
    negative, s = _sign(s)
    if not _is_estimate(s) and not _BARE.fullmatch(s):
        # cn2an reads "12元" as 12: a unit word left here is the caller's to judge, not ours.
        raise NotANumber(f"not a number: {text!r}")
    return _figure(s, text, negative)


def _sign(s: str) -> tuple[bool, str]:
    for sign in _MINUS_SIGNS:
        if s.startswith(sign):
            return True, s[len(sign) :].lstrip()
    return False, s


def _figure(s: str, text: str, negative: bool) -> Decimal:
    if _is_estimate(s):
        raise Approximate(f"an estimate, not a figure: {text!r}")
    if "," in s:
        if not _GROUPED.fullmatch(s):
            raise NotANumber(f"not a number: {text!r}")
        s = s.replace(",", "")
    if not s:
        raise NotANumber(f"not a number: {text!r}")
    value = _parse_magnitude(s, text)
    return tidy(-value if negative else value)


def _parse_magnitude(s: str, original: str) -> Decimal:
    """Parse an unsigned number: exact for Arabic digits, cn2an for Chinese numerals."""
    arabic = _ARABIC.fullmatch(s)
    if arabic:
        return _shift(Decimal(arabic["digits"]), _MAGNITUDES[arabic["magnitude"]])
    if any(ch in s for ch in "-−负+"):
        # A sign inside the number ("5-3", "负负五") is not something we guess at.
        raise NotANumber(f"not a number: {original!r}")
    try:
        result = cn2an.cn2an(s, "smart")
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        # cn2an signals every kind of bad input with one of these.
        raise NotANumber(f"not a number: {original!r}") from exc
    if isinstance(result, bool) or not isinstance(result, int | float):
        raise NotANumber(f"not a number: {original!r}")
    # str() of a float is its shortest round-trip form (1.5, not 1.5000000000000002).
    try:
        value = Decimal(str(result))
    except InvalidOperation as exc:  # pragma: no cover - cn2an never returns nan/inf
        raise NotANumber(f"not a number: {original!r}") from exc
    if not value.is_finite():
        raise NotANumber(f"not a number: {original!r}")
    return value


def _shift(value: Decimal, places: int) -> Decimal:
    """Multiply by 10**places exactly, whatever the context precision."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite: only digit strings reach here
    return Decimal((sign, digits, exponent + places))


def tidy(value: Decimal) -> Decimal:
    """Drop trailing zeros and exponents: 12000.0 → 12000, 1.20 → 1.2, 1E+4 → 10000."""
    if not value.is_finite():
        return value
    if value == value.to_integral_value():
        return Decimal(int(value))
    # A context as wide as the number itself, so normalising never rounds.
    return value.normalize(Context(prec=len(value.as_tuple().digits)))


def format_number(value: Decimal, lang: str | None = None) -> str:
    """Show a value with thousands separators and no trailing zeros: 12,000 or 3.5.

    Chinese and English readers both expect the comma grouping on a phone
    screen; ``lang`` is accepted so callers need not special-case it later.
    """
    del lang  # same grouping in both languages today
    return f"{tidy(value):,f}"


_WAN = Decimal(10_000)


def format_wan(value: Decimal, unit_zh: str = "", *, places: int = 2) -> str:
    """Write a figure the way Chinese reports do: 35000 → 3.5万, 8560000 → 856万.

    Values below 10,000 are written unchanged (5000). Larger ones are rounded
    half-up to ``places`` decimals of 万. No 亿 step: report templates say
    "万元" / "万人次", so 1.5亿 reads as 15000万.
    """
    if abs(value) < _WAN:
        return f"{tidy(value):f}{unit_zh}"
    with localcontext() as ctx:
        # Wide enough that quantize never fails on a large total.
        ctx.prec = max(28, len(value.as_tuple().digits) + places + 2)
        wan = _shift(value, -4).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{tidy(wan):f}万{unit_zh}"
