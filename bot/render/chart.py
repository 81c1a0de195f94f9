"""The summary chart: completeness by district and the form's main total, as a PNG.

matplotlib's object API with the Agg canvas (no pyplot, no display, no global
figure registry), so charts can be drawn in worker threads. Every label gets
the CJK font from ``bot.render.fonts`` explicitly, with DejaVu as the fallback
for digits and symbols the CJK font lacks.
"""

from __future__ import annotations

import io

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch

from bot.core.fields import Field
from bot.core.i18n import t
from bot.render import figure, percent, scope_label, span_label
from bot.render.fonts import cjk_font
from bot.office.summary import Rollup, Stats

__all__ = ["render_chart"]

_COMPLETE = "#9ecae1"
_ON_TIME = "#3182bd"
_TOTAL = "#fd8d3c"
_CITY = "#636363"


def _font(size: float) -> FontProperties:
    found = cjk_font()
    families = [found.family, "DejaVu Sans"] if found is not None else ["DejaVu Sans"]
    return FontProperties(family=families, size=size)


def render_chart(rollup: Rollup, lang: str) -> bytes:
    """A PNG: completeness and on-time rate per district (city first), then the main total per district."""
    form = rollup.form
    main = form.main_field
    rows: list[Stats] = [rollup.city] if rollup.scope is None else []
    rows += list(rollup.districts)
    panels = 2 if main is not None else 1
    height = 1.4 + panels * (0.9 + 0.42 * max(len(rows), 1))
    fig = Figure(figsize=(8, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(panels, 1, squeeze=False)[:, 0]
    label_font, small, title_font = _font(10), _font(8.5), _font(12)

    title = t(
        lang,
        "summary.chart_title",
        form=form.title.get(lang),
        period=span_label(rollup.periods, lang),
        scope=scope_label(rollup.scope, lang),
    )
    fig.suptitle(title, fontproperties=title_font)
    _completeness_panel(axes[0], rollup, rows, lang, label_font, small)
    if main is not None:
        _total_panel(axes[1], rollup, rows, main, lang, label_font, small)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _completeness_panel(
    ax: Axes, rollup: Rollup, rows: list[Stats], lang: str, label_font: FontProperties, small: FontProperties
) -> None:
    """The first panel: completeness (and the on-time rate where a form has a due date) per row."""
    form = rollup.form
    names = [scope_label(rollup.scope, lang) if s.district_id is None else s.name for s in rows]
    # Top-to-bottom reading order: barh draws the first row at the bottom.
    order = list(range(len(rows)))[::-1]
    completeness = [s.completeness * 100 for s in rows]
    on_time = [s.on_time_rate * 100 for s in rows]
    colours = [_CITY if s.district_id is None else _COMPLETE for s in rows]
    ax.barh(order, completeness, color=colours, height=0.7)
    # Explicit legend patches: the city's bar is grey, which is not the legend's colour.
    legend = [Patch(color=_COMPLETE, label=t(lang, "summary.chart_completeness"))]
    if not form.is_event and form.due_days is not None:
        ax.barh(order, on_time, color=_ON_TIME, height=0.35)
        legend.append(Patch(color=_ON_TIME, label=t(lang, "summary.chart_on_time")))
    for y, stats, value in zip(order, rows, completeness):
        ax.text(
            min(value, 100) + 1,
            y,
            f"{percent(stats.completeness)}  {stats.reported}/{stats.expected}",
            va="center",
            fontproperties=small,
        )
    ax.set_xlim(0, 125)
    ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"], fontproperties=small)
    ax.set_yticks(order, names, fontproperties=label_font)
    ax.set_title(t(lang, "summary.chart_completeness_title"), fontproperties=label_font, loc="left")
    ax.legend(handles=legend, prop=small, loc="lower right", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)


def _total_panel(
    ax: Axes, rollup: Rollup, rows: list[Stats], main: Field, lang: str, label_font: FontProperties, small: FontProperties
) -> None:
    """The second panel: the form's main total per district, the city's total in its title."""
    districts = [s for s in rows if s.district_id is not None]
    d_order = list(range(len(districts)))[::-1]
    totals = [float(s.total(main.key)) for s in districts]
    ax.barh(d_order, totals, color=_TOTAL, height=0.6)
    peak = max(totals, default=0.0) or 1.0
    for y, stats in zip(d_order, districts):
        ax.text(
            float(stats.total(main.key)) + peak * 0.01,
            y,
            figure(stats.total(main.key), main, lang, wan=True),
            va="center",
            fontproperties=small,
        )
    ax.set_xlim(0, peak * 1.3)
    ax.set_yticks(d_order, [s.name for s in districts], fontproperties=label_font)
    ax.tick_params(axis="x", labelsize=8)
    ax.ticklabel_format(axis="x", style="plain")
    for tick in ax.get_xticklabels():
        tick.set_fontproperties(small)
    total_title = t(
        lang,
        "summary.chart_total_title",
        field=main.label.get(lang),
        value=figure(rollup.city.total(main.key), main, lang, wan=True),
    )
    ax.set_title(total_title, fontproperties=label_font, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
