"""The trends page's line chart, drawn as inline SVG on the server.

Why SVG from Python rather than a shipped JavaScript chart library (uPlot and the
like): the chart is a dozen points, so a few hundred bytes of SVG cost less than any
library's 40+ KB; it needs no script, so the pages keep a strict Content-Security-Policy
(no inline or third-party script) and show the same in a Mini App, a desk browser and a
test's screenshot; and it is testable as text. Colours and line styles live in
``static/style.css`` (classes only, no inline ``style``, which a strict CSP forbids).

This year's line is solid; a period whose reports are not all in (open, or fewer than
expected reported) is a hollow point labelled with its coverage ("4/10"); a period
nobody reported is no point at all but a word under the axis, never a 0: 未报 once past
its due date, 待报 before it, 未结束 while it runs. Last year's periods are the grey
dashed line behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

from markupsafe import Markup

from bot.core.catalogue import Cadence
from bot.core.i18n import t
from bot.core.periods import Period, PeriodState
from bot.dashboard.data import Trend, TrendPoint
from bot.render.scale import Scale

__all__ = ["empty_label", "short_label", "trend_svg"]

WIDTH, HEIGHT = 600, 230
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 30, 50
TICKS = 4


def short_label(period: Period, lang: str) -> str:
    """An axis label: ``11月`` / ``Nov``, ``Q4``, ``春季`` / ``Spring``, ``2026``."""
    start = period.start
    match period.cadence:
        case Cadence.MONTHLY:
            return t(
                lang, "pages.month_short", month=start.month, name=t("en", "period.month_names").split(",")[start.month - 1][:3]
            )
        case Cadence.QUARTERLY:
            return f"Q{(start.month - 1) // 3 + 1}"
        case Cadence.SEMESTER:
            return t(lang, "pages.spring" if start.month < 8 else "pages.autumn")
    return str(start.year)


def empty_label(point: TrendPoint, lang: str) -> str:
    """What a period with no figure is: 未报 (past due), 待报 (before its due date), 未结束 (running)."""
    match point.coverage.state:
        case PeriodState.OPEN:
            return t(lang, "pages.trend_not_over")
        case PeriodState.DUE:
            return t(lang, "pages.trend_not_due")
    return t(lang, "coverage.unreported")


def _ceiling(top: Decimal) -> float:
    """A round axis maximum at or above ``top`` (1, 2, 2.5 or 5 times a power of ten)."""
    if top <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(top))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if top <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _tooltip(point: TrendPoint, scale: Scale, unit: str, lang: str) -> str:
    value = empty_label(point, lang) if point.value is None else scale.label(point.value, unit)
    return f"{point.period.label(lang)}: {value} · {point.coverage.label(lang)}"


def _line(points: Sequence[tuple[float, float]], css: str) -> list[str]:
    if len(points) < 2:
        return []
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return [f'<polyline class="{css}" points="{coords}"/>']


def trend_svg(trend: Trend, lang: str) -> Markup:
    """The chart of one form's headline figure, this year against last, as an inline ``<svg>``."""
    unit = trend.main.unit.get(lang) if trend.main.unit is not None else ""
    values = [p.value for p in (*trend.this_year, *trend.last_year) if p.value is not None]
    scale = Scale.of(values, lang)
    top = _ceiling(max(values, default=Decimal(0)))
    slots = max(len(trend.last_year), len(trend.this_year), 1)
    slot = (WIDTH - LEFT - RIGHT) / slots
    base = HEIGHT - BOTTOM

    def x(i: int) -> float:
        return LEFT + (i + 0.5) * slot

    def y(value: Decimal) -> float:
        return base - float(value) / top * (base - TOP)

    title = t(lang, "pages.trend_title", field=trend.main.label.get(lang), year=trend.year)
    out = [f'<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">']
    for k in range(TICKS + 1):
        level = base - k * (base - TOP) / TICKS
        out.append(f'<line class="gl" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{level:.1f}" y2="{level:.1f}"/>')
        label = escape(scale.tick(top * k / TICKS))
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{level + 4:.1f}" text-anchor="end">{label}</text>')
    out.append(f'<text class="tick" x="4" y="{TOP - 12}">{escape(scale.unit(unit))}</text>')
    for i, point in enumerate(trend.last_year or trend.this_year):
        out.append(
            f'<text class="tick" x="{x(i):.1f}" y="{base + 19}" text-anchor="middle">{escape(short_label(point.period, lang))}</text>'
        )
    for css, points in (("last", trend.last_year), ("this", trend.this_year)):
        drawn = [(x(i), y(p.value)) for i, p in enumerate(points) if p.value is not None]
        out.extend(_line(drawn, css))
        for i, point in enumerate(points):
            tip = escape(_tooltip(point, scale, unit, lang))
            if point.value is None:
                if css == "this":
                    none = escape(empty_label(point, lang))
                    css_none = "none" if point.coverage.state.finished else "none pending"  # grey until it is owed
                    out.append(
                        f'<text class="{css_none}" x="{x(i):.1f}" y="{base + 38}" text-anchor="middle">{none}<title>{tip}</title></text>'
                    )
                continue
            cx, cy = x(i), y(point.value)
            shape = f"pt-{css}" if point.complete or css == "last" else "pt-open"
            out.append(f'<circle class="{shape}" cx="{cx:.1f}" cy="{cy:.1f}" r="4"><title>{tip}</title></circle>')
            if css == "this" and not point.complete:
                cov = f"{point.coverage.reported}/{point.coverage.expected}"
                out.append(f'<text class="cov" x="{cx:.1f}" y="{cy - 11:.1f}" text-anchor="middle">{cov}</text>')
    out.append("</svg>")
    return Markup("".join(out))
