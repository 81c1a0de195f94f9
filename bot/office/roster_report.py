"""Telling a roster's problems and changes in a few lines: the CLI and a chat upload say the same.

A problem repeated on many lines is said once with its lines as ranges
("区县“X”不在系统中…：第 2–5,001 行"); a problem on one line reads
"第 7 行：…" as before. Pure: text only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.core.i18n import t
from bot.office.roster import RosterPlan
from bot.office.roster_rows import RowError

__all__ = ["grouped_problems", "line_ranges", "plan_lines"]

# Ranges listed for one problem; a file with more says how many lines there are in all.
MAX_RANGES = 12
# Schools named one by one in a preview; the rest are counted.
MAX_NAMED = 15


def line_ranges(lines: Sequence[int], lang: str | None) -> str:
    """``2–5,001、5,003`` (``2–5,001, 5,003`` in English): runs of consecutive lines."""
    runs: list[tuple[int, int]] = []
    for line in sorted(set(lines)):
        if runs and line == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], line)
        else:
            runs.append((line, line))
    shown = [f"{a:,}" if a == b else f"{a:,}–{b:,}" for a, b in runs[:MAX_RANGES]]
    text = t(lang, "roster.list_sep").join(shown)
    if len(runs) > MAX_RANGES:
        text += t(lang, "roster.lines_more", count=f"{len(set(lines)):,}")
    return text


def grouped_problems(errors: Iterable[RowError], lang: str | None) -> list[str]:
    """One line per distinct problem, in the order of its first line."""
    groups: dict[tuple[str, str], list[RowError]] = {}
    for error in errors:
        key = (error.key, repr(sorted((k, str(v)) for k, v in error.params.items())))
        groups.setdefault(key, []).append(error)
    out = []
    for same in sorted(groups.values(), key=lambda errs: min(e.line for e in errs)):
        lines = [error.line for error in same]
        if len(set(lines)) == 1:
            out.append(same[0].message(lang))
        else:
            # "…无法识别。：第 2–9 行" reads badly: the reason's full stop goes before the lines.
            reason = same[0].reason(lang).rstrip("。.")
            out.append(t(lang, "roster.lines", reason=reason, lines=line_ranges(lines, lang)))
    return out


def plan_lines(plan: RosterPlan, lang: str | None) -> list[str]:
    """A preview: counts, new districts named once, then the new and changed schools (the first few)."""
    lines = [
        t(
            lang,
            "roster.preview.counts",
            created=f"{len(plan.created):,}",
            changed=f"{len(plan.changed):,}",
            unchanged=f"{len(plan.unchanged):,}",
        )
    ]
    sep = t(lang, "roster.list_sep")
    if plan.new_districts and plan.known_districts:
        names, known = sep.join(plan.new_districts), sep.join(plan.known_districts)
        lines.append(t(lang, "roster.preview.new_districts", count=len(plan.new_districts), names=names, known=known))
    elif plan.new_districts:
        lines.append(t(lang, "roster.preview.first_districts", count=len(plan.new_districts), names=sep.join(plan.new_districts)))
    if plan.created:
        lines += ["", t(lang, "roster.preview.created_title")]
        lines += [
            t(lang, "roster.preview.created_row", code=row.code, name=row.name, district=row.district)
            for row in plan.created[:MAX_NAMED]
        ]
        lines += _more(len(plan.created), lang)
    if plan.changed:
        lines += ["", t(lang, "roster.preview.changed_title")]
        for change in plan.changed[:MAX_NAMED]:
            fields = sep.join(
                t(
                    lang,
                    "roster.preview.field",
                    column=t(lang, f"roster.column.{column}"),
                    before=before or "—",
                    after=after or "—",
                )
                for column, before, after in change.fields
            )
            lines.append(t(lang, "roster.preview.changed_row", code=change.code, name=change.name, fields=fields))
        lines += _more(len(plan.changed), lang)
    return lines


def _more(count: int, lang: str | None) -> list[str]:
    return [t(lang, "roster.preview.more", count=f"{count - MAX_NAMED:,}")] if count > MAX_NAMED else []
