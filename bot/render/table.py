"""The summary as a chat message that reads on a phone.

No monospace table (it wraps into noise on a narrow screen): the city first,
then one short block per district, each with reported/expected, the rates and
the form's main total. Plain text, so no Markdown escaping can break it.
"""

from __future__ import annotations

from decimal import Decimal

from bot.core.catalogue import Form
from bot.core.fields import Field
from bot.core.i18n import t
from bot.render import figure, percent, scope_label, span_label
from bot.office.summary import Rollup, Stats, Summary

__all__ = ["MAX_MESSAGE", "change_text", "render_summary_text", "split_message"]

MAX_MESSAGE = 4096


def change_text(current: Decimal, before: Decimal, lang: str) -> str:
    """``增长 2.9%`` / ``下降 3.0%`` / ``持平``; ``无数据`` when there is nothing to compare with."""
    if before == 0:
        return t(lang, "summary.change_none")
    change = (current - before) / before * 100
    if abs(change) < Decimal("0.05"):
        return t(lang, "summary.change_flat")
    key = "summary.change_up" if change > 0 else "summary.change_down"
    return t(lang, key, percent=f"{abs(change):.1f}%")


def _counts(form: Form, stats: Stats, name: str, lang: str) -> str:
    params = {
        "name": name,
        "reported": stats.reported,
        "expected": stats.expected,
        "completeness": percent(stats.completeness),
        "on_time": stats.on_time,
        "on_time_rate": percent(stats.on_time_rate),
        "reports": stats.reports,
    }
    if form.is_event:
        return t(lang, "summary.counts_event", **params)
    if form.due_days is None:
        return t(lang, "summary.counts_no_due", **params)
    return t(lang, "summary.counts", **params)


def _total(main: Field | None, stats: Stats, lang: str, key: str) -> str | None:
    if main is None:
        return None
    return t(lang, key, field=main.label.get(lang), value=figure(stats.total(main.key), main, lang))


def _compare(main: Field, summary: Summary, lang: str) -> list[str]:
    now = summary.current.city.total(main.key)
    lines = []
    for key, other in (("summary.compare_previous", summary.previous), ("summary.compare_year_ago", summary.year_ago)):
        if other.city.reports == 0:
            # "0 students" would read as a fact; nobody reported anything then.
            lines.append(t(lang, f"{key}_none", period=span_label(other.periods, lang)))
            continue
        before = other.city.total(main.key)
        lines.append(
            t(
                lang,
                key,
                period=span_label(other.periods, lang),
                value=figure(before, main, lang),
                change=change_text(now, before, lang),
            )
        )
    return lines


def render_summary_text(summary: Summary, lang: str) -> str:
    """The whole summary message: heading, city (or the staff member's district), then districts."""
    form, current = summary.form, summary.current
    main = form.main_field
    header_key = "summary.header_scoped" if current.scope else "summary.header"
    lines = [t(lang, header_key, form=form.title.get(lang), period=summary.period.label(lang), scope=current.scope or "")]
    city = current.city
    lines.append(_counts(form, city, scope_label(current.scope, lang), lang))
    total = _total(main, city, lang, "summary.city_total")
    if total:
        lines.append(total)
    if main is not None:
        lines += _compare(main, summary, lang)
    if city.flags:
        # How much of the figure rests on a principal's word: the office can ask /flags which ones.
        names = {"form": form.key, "period": summary.period.key}
        lines.append(t(lang, "quality.summary_flags", count=city.flags, **names))
    if city.expected == 0:
        lines.append(t(lang, "summary.nobody_expected"))
    elif city.reported == 0:
        lines.append(t(lang, "summary.nothing_reported"))
    if current.scope is None and current.districts:
        lines.append("")
        lines += _district_blocks(form, current, main, lang)
    return "\n".join(lines)


def _district_blocks(form: Form, rollup: Rollup, main: Field | None, lang: str) -> list[str]:
    lines: list[str] = []
    for stats in rollup.districts:
        lines.append(_counts(form, stats, t(lang, "summary.district_mark", name=stats.name), lang))
        total = _total(main, stats, lang, "summary.district_total")
        if total:
            lines.append(total)
    return lines


def split_message(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Cut a long text at line breaks into messages Telegram accepts (≤ 4,096 characters)."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:  # a single monster line: cut it hard
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        chunks.append(current)
    return chunks
