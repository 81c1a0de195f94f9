"""The summary chart: completeness by district and the form's main figure, as a PNG.

matplotlib's object API with the Agg canvas (no pyplot, no display, no global
figure registry), so charts can be drawn in worker threads. Every label gets
the CJK font from ``bot.render.fonts`` explicitly, with DejaVu as the fallback
for digits and symbols the CJK font lacks.

A chart has to read at a glance: its title says what period it covers and how
complete that is; every figure on it is written in one style (``bot.render.scale``);
axis titles carry the unit; the legend sits outside the plot; a district that
reported nothing is a hatched grey 未报 band, never a bar of 0.

``build_chart`` returns the Figure (tests inspect its artists); ``render_chart``
is what the handlers and the year-end DOCX call.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from bot.core.aggregation import Fold
from bot.core.catalogue import Form
from bot.core.fields import Field
from bot.core.i18n import t
from bot.core.periods import PeriodState, due_date
from bot.render import percent, scope_label, span_label
from bot.render.fonts import cjk_font
from bot.render.scale import Scale
from bot.render.table import shown
from bot.office.summary import Rollup, Stats

__all__ = [
    "build_chart",
    "completeness_label",
    "coverage_line",
    "figure_label",
    "figure_rule",
    "figure_of",
    "figure_scale",
    "on_time_shown",
    "render_chart",
    "state_text",
    "unreported",
]

_COMPLETE = "#9ecae1"
_ON_TIME = "#3182bd"
_TOTAL = "#fd8d3c"
_CITY = "#636363"
_MISSING_FACE = "#f0f0f0"
_MISSING_EDGE = "#969696"
_MISSING_HATCH = "///"
# Room right of the longest bar for its label, as a share of the axis.
_LABEL_ROOM = 1.38


def _font(size: float) -> FontProperties:
    found = cjk_font()
    families = [found.family, "DejaVu Sans"] if found is not None else ["DejaVu Sans"]
    return FontProperties(family=families, size=size)


# --- what the labels say (pure) ------------------------------------------------


def unreported(stats: Stats) -> bool:
    """True when schools were expected to report and none did: drawn as 未报, never as 0."""
    return stats.expected > 0 and stats.reported == 0


def figure_of(stats: Stats, key: str) -> Decimal | None:
    """The figure a bar shows; None when nobody reported it (未报 is not 0)."""
    if unreported(stats):
        return None
    # By the field's rules (bot.core.aggregation): a year of daily drinkers is the mean of the
    # months, not their sum.
    return stats.figure(key)


def figure_scale(rows: Sequence[Stats], field: Field, lang: str) -> Scale:
    """One style for every figure of the chart, chosen by its bars' labels; the title's total follows
    it (20,822人 over bars of 9,153人 and less, not 2.08万人 over 0.92万人)."""
    return Scale.of([v for v in (figure_of(s, field.key) for s in rows) if v is not None], lang)


def _unit(field: Field, lang: str) -> str:
    return field.unit.get(lang) if field.unit is not None else ""


def figure_label(stats: Stats, field: Field, scale: Scale, lang: str) -> str:
    """``1.08万人``, ``9,153人``; ``未报``; a partly reported district says how partly."""
    value = figure_of(stats, field.key)
    if value is None:
        return t(lang, "chart.unreported")
    label = scale.label(shown(value, field), _unit(field, lang))
    if stats.reported < stats.expected:
        # Over several periods the counts are reports (10/12 份: one school, twelve months), not schools.
        key = "chart.partial_reports" if len(stats.coverage) > 1 else "chart.partial"
        label += t(lang, key, reported=stats.reported, expected=stats.expected)
    return label


def on_time_shown(rollup: Rollup) -> bool:
    """On time is a figure only once every period is past its due date, for a form that has one."""
    form = rollup.form
    # A roll-up read from the database always carries its periods' coverage; a hand-made one
    # without any (tests, older callers) is taken as finished, as charts were drawn before.
    return not form.is_event and form.due_days is not None and all(c.state.finished for c in rollup.coverage)


def figure_rule(field: Field, rollup: Rollup, lang: str) -> str:
    """How the title's figure rolls up: 合计 / 平均 over schools; over a year, 月平均 or 最近一期."""
    if len(rollup.periods) <= 1 or field.across_periods is Fold.SUM:
        return field.across_schools.label(lang)
    if field.across_periods is Fold.AVG:
        return t(lang, f"chart.rule_avg_{rollup.form.period_cadence.value}")
    return field.across_periods.label(lang)


def completeness_label(stats: Stats, lang: str, *, on_time: bool) -> str:
    """``92%  11/12 · 按时 75%``; ``未报  0/8``; ``无应报`` when nothing was expected."""
    if stats.expected == 0:
        return t(lang, "chart.nothing_expected")
    if unreported(stats):
        return t(lang, "chart.unreported_label", expected=stats.expected)
    label = t(
        lang, "chart.completeness_label", rate=percent(stats.completeness), reported=stats.reported, expected=stats.expected
    )
    if on_time:
        label += t(lang, "chart.separator") + t(lang, "chart.on_time_label", rate=percent(stats.on_time_rate))
    return label


def state_text(states: Sequence[PeriodState], lang: str) -> str:
    """``已锁定`` for one state; ``已锁定 9 期 · 尚未到截止日 1 期`` for a mix over a year."""
    counts: dict[PeriodState, int] = {}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    if len(counts) == 1:
        return t(lang, f"chart.state_{states[0].value}")
    # Counted, an open period is "尚未结束 1 期", not "本期尚未结束 1 期" (there is no one 本期 in a year).
    words = {
        state: t(lang, "chart.state_open_counted" if state is PeriodState.OPEN else f"chart.state_{state.value}")
        for state in counts
    }
    return t(lang, "chart.separator").join(
        t(lang, "chart.state_count", state=words[state], count=count) for state, count in counts.items()
    )


def _due(form: Form, rollup: Rollup, lang: str) -> str | None:
    if len(rollup.periods) != 1:
        return None
    due = due_date(form, rollup.periods[0])
    if due is None:
        return None
    return t(lang, "chart.due", month=due.month, day=due.day, iso=due.isoformat())


def coverage_line(rollup: Rollup, lang: str) -> str:
    """The subtitle: ``已报 29/31 所，按时 25 所 · 11月5日截止``; over a year, reports of periods."""
    city, form = rollup.city, rollup.form
    if len(rollup.periods) > 1:
        parts = [t(lang, "chart.coverage_many", periods=len(rollup.periods), reported=city.reported, expected=city.expected)]
    elif not on_time_shown(rollup):
        # Before the due date "按时 6 所" would count as on time what is merely in early.
        parts = [t(lang, "chart.coverage_one_event", reported=city.reported, expected=city.expected)]
    else:
        parts = [t(lang, "chart.coverage_one", reported=city.reported, expected=city.expected, on_time=city.on_time)]
    due = _due(form, rollup, lang)
    if due is not None:
        parts.append(due)
    if rollup.coverage:
        parts.append(state_text([c.state for c in rollup.coverage], lang))
    return t(lang, "chart.separator").join(parts)


# --- drawing ---------------------------------------------------------------------


def render_chart(rollup: Rollup, lang: str) -> bytes:
    """A PNG: completeness and on-time rate per district (city first), then the main figure per district."""
    fig = build_chart(rollup, lang)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def build_chart(rollup: Rollup, lang: str) -> Figure:
    """The chart as a matplotlib Figure on an Agg canvas, laid out and ready to save."""
    form = rollup.form
    main = form.main_field
    rows: list[Stats] = [rollup.city] if rollup.scope is None else []
    rows += list(rollup.districts)
    panels = 2 if main is not None else 1
    height = 2.0 + panels * (1.2 + 0.42 * max(len(rows), 1))
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
    fig.suptitle(f"{title}\n{coverage_line(rollup, lang)}", fontproperties=title_font)
    legend = _completeness_panel(axes[0], rollup, rows, lang, label_font, small)
    if main is not None:
        _figure_panel(axes[1], rollup, rows, main, lang, label_font, small)
    if any(unreported(s) for s in rows):
        legend.append(_missing_patch(t(lang, "chart.unreported")))
    # Above the first plot, right of its title: a legend inside an axes ends up over a bar or a
    # label, and the figure's "outside upper" legend collides with the two-line suptitle.
    axes[0].legend(
        handles=legend,
        prop=small,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncols=len(legend),
        frameon=False,
        borderaxespad=0.2,
    )
    fig.canvas.draw()
    return fig


def _missing_patch(label: str) -> Patch:
    return Patch(facecolor=_MISSING_FACE, edgecolor=_MISSING_EDGE, hatch=_MISSING_HATCH, label=label)


def _missing_band(ax: Axes, y: float, width: float, height: float, text: str, font: FontProperties) -> None:
    """A hatched grey band across the whole panel with 未报 in it: no value, so no bar length to misread."""
    ax.barh(
        [y],
        [width],
        height=height,
        color=_MISSING_FACE,
        edgecolor=_MISSING_EDGE,
        hatch=_MISSING_HATCH,
        linewidth=0.6,
        gid="unreported",
    )
    ax.text(width / 2, y, text, ha="center", va="center", fontproperties=font, backgroundcolor="white")


def _completeness_panel(
    ax: Axes, rollup: Rollup, rows: list[Stats], lang: str, label_font: FontProperties, small: FontProperties
) -> list[Patch]:
    """The first panel: completeness (and the on-time rate where a form has a due date) per row."""
    with_on_time = on_time_shown(rollup)
    names = [scope_label(rollup.scope, lang) if s.district_id is None else s.name for s in rows]
    # Top-to-bottom reading order: barh draws the first row at the bottom.
    order = list(range(len(rows)))[::-1]
    for y, stats in zip(order, rows):
        label = completeness_label(stats, lang, on_time=with_on_time)
        if unreported(stats):
            _missing_band(ax, y, 100 * _LABEL_ROOM, 0.7, label, small)
            continue
        x = stats.completeness * 100
        ax.barh([y], [x], color=_CITY if stats.district_id is None else _COMPLETE, height=0.7)
        if with_on_time:
            ax.barh([y], [stats.on_time_rate * 100], color=_ON_TIME, height=0.35)
        ax.text(x + 1.5, y, label, va="center", fontproperties=small)
    # Explicit legend patches: the city's bar is grey, which is not the legend's colour.
    legend: list[Patch] = []
    if not all(unreported(s) for s in rows):
        legend.append(Patch(color=_COMPLETE, label=t(lang, "summary.chart_completeness")))
        if with_on_time:
            legend.append(Patch(color=_ON_TIME, label=t(lang, "summary.chart_on_time")))
    ax.set_xlim(0, 100 * _LABEL_ROOM)
    ax.set_xticks([0, 25, 50, 75, 100], ["0", "25", "50", "75", "100"], fontproperties=small)
    ax.set_xlabel(t(lang, "chart.axis_completeness"), fontproperties=small, loc="left")
    ax.set_yticks(order, names, fontproperties=label_font)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_title(t(lang, "summary.chart_completeness_title"), fontproperties=label_font, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    return legend


def _figure_panel(
    ax: Axes, rollup: Rollup, rows: list[Stats], main: Field, lang: str, label_font: FontProperties, small: FontProperties
) -> None:
    """The second panel: the form's main figure per district, the city's in its title, one number style."""
    districts = [s for s in rows if s.district_id is not None]
    city = figure_of(rollup.city, main.key)
    scale = figure_scale(districts, main, lang)
    order = list(range(len(districts)))[::-1]
    values = [figure_of(s, main.key) for s in districts]
    peak = float(max((v for v in values if v is not None), default=Decimal(0))) or 1.0
    right = peak * _LABEL_ROOM
    for y, stats, value in zip(order, districts, values):
        if value is None:
            _missing_band(ax, y, right, 0.6, figure_label(stats, main, scale, lang), small)
            continue
        ax.barh([y], [float(value)], color=_TOTAL, height=0.6)
        ax.text(float(value) + peak * 0.01, y, figure_label(stats, main, scale, lang), va="center", fontproperties=small)
    ax.set_xlim(0, right)
    ax.set_ylim(-0.6, len(districts) - 0.4)
    ax.set_yticks(order, [s.name for s in districts], fontproperties=label_font)
    if all(v is None for v in values):
        ax.set_xticks([])  # nothing reported: an axis of 0 … 1.2 would invent a scale
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: scale.tick(x)))
    for tick in ax.get_xticklabels():
        tick.set_fontproperties(small)
    unit = _unit(main, lang)
    field_name = main.label.get(lang)
    axis = (
        t(lang, "chart.axis_figure", field=field_name, unit=scale.unit(unit))
        if unit
        else t(lang, "chart.axis_figure_plain", field=field_name)
    )
    ax.set_xlabel(axis, fontproperties=small, loc="left")
    total = scale.label(shown(city, main), unit) if city is not None else t(lang, "chart.unreported")
    title = t(lang, "chart.figure_title", field=field_name, rule=figure_rule(main, rollup, lang), value=total)
    ax.set_title(title, fontproperties=label_font, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
