"""Who filed a report version, in one wording for the review cards and the XLSX's 填报人 column.

The reporter's name; "由办公室 张三代填（原因：…）" for a version the office filed on
behalf (``schoolbot file`` without ``--as`` names no one: "由办公室代填"); and "未记录"
for a version that names no filer and was not filed on behalf (the demo's invented
history), rather than an empty cell or a claim that the office filed it.
"""

from __future__ import annotations

from bot.core.i18n import t

__all__ = ["filed_by"]


def filed_by(lang: str | None, reporter: str | None, on_behalf: bool, reason: str | None) -> str:
    """The filer as the card's "填报：…" and the XLSX's 填报人 cell say it."""
    if not on_behalf:
        return reporter or t(lang, "review.filer_unknown")
    office = t(lang, "onbehalf.office_named", name=reporter) if reporter else t(lang, "onbehalf.office")
    note = t(lang, "onbehalf.reason_note", reason=reason) if reason else ""
    return t(lang, "onbehalf.filed_by", who=office) + note
