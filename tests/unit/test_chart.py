"""The summary chart reads at a glance: one number style, units on the axes, legend off the bars, 未报 hatched.

Pure label helpers are checked as strings; the drawing is checked on the
matplotlib Figure itself (its bars, texts and their window extents), before any PNG.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from bot.core.catalogue import load_catalogue
from bot.core.periods import PeriodState, parse_period, year_periods
from bot.office.summary import Rollup, Stats
from bot.render import chart
from bot.render.scale import Scale
from storage.rollups import FieldAggregate

MILK, HARVEST = load_catalogue().get("milk"), load_catalogue().get("harvest")
DRINKERS = MILK.field("daily_drinkers")


def stats(district_id: int | None, name: str, expected: int, reported: int, on_time: int, drinkers: int) -> Stats:
    fields = {"daily_drinkers": FieldAggregate(reported, Decimal(drinkers), Decimal(1), Decimal(drinkers))} if reported else {}
    return Stats(district_id, name, expected, expected, reported, on_time, reported, reported, fields)


def milk_rollup(*districts: Stats, periods: tuple[str, ...] = ("2026-10",)) -> Rollup:
    return Rollup(
        form=MILK,
        periods=tuple(parse_period(MILK.period_cadence, p) for p in periods),
        city=Stats.combine("", districts),
        districts=tuple(districts),
    )


def eight_districts() -> Rollup:
    """A city of eight districts: figures above and below 10,000, one district with no report."""
    return milk_rollup(
        stats(1, "濉溪县", 9, 8, 6, 10800),
        stats(2, "杜集区", 4, 4, 4, 9153),
        stats(3, "相山区", 6, 5, 5, 21456),
        stats(4, "烈山区", 4, 0, 0, 0),
        stats(5, "高新区", 2, 2, 1, 3120),
        stats(6, "经开区", 2, 1, 1, 860),
        stats(7, "凤凰山", 2, 2, 2, 1500),
        stats(8, "新蔡区", 2, 2, 0, 4200),
    )


def small_districts() -> Rollup:
    return milk_rollup(stats(1, "濉溪县", 9, 9, 8, 4321), stats(2, "杜集区", 4, 3, 3, 1200), stats(3, "相山区", 6, 6, 6, 9153))


# --- one number style --------------------------------------------------------------


def test_mixed_magnitudes_speak_wan_throughout() -> None:
    scale = Scale.of([Decimal(10800), Decimal(9153), Decimal(860)], "zh")
    assert scale.wan
    assert scale.label(Decimal(10800), "人") == "1.08万人"
    assert scale.label(Decimal(9153), "人") == "0.92万人"
    assert scale.label(Decimal(860), "人") == "0.09万人"
    assert scale.label(Decimal(20000), "人") == "2.00万人"  # fixed places: labels line up
    assert scale.label(Decimal(12), "人") == "<0.01万人"  # too small for 万 is still not 0
    assert scale.unit("人") == "万人"
    assert scale.tick(15_000) == "1.5" and scale.tick(0) == "0"


def test_small_figures_keep_thousands_separators() -> None:
    scale = Scale.of([Decimal(9153), Decimal(860)], "zh")
    assert not scale.wan
    assert scale.label(Decimal(9153), "人") == "9,153人"
    assert scale.label(Decimal("8450.505"), "元") == "8,450.51元"
    assert scale.unit("人") == "人"
    assert scale.tick(12_000) == "12,000"


def test_english_never_speaks_wan() -> None:
    scale = Scale.of([Decimal(10800)], "en")
    assert not scale.wan
    assert scale.label(Decimal(10800), "students") == "10,800 students"


def test_the_bars_choose_the_style_and_the_title_total_follows() -> None:
    small = small_districts()
    scale = chart.figure_scale(small.districts, DRINKERS, "zh")
    assert not scale.wan  # the city's 14,674 does not turn 9,153 into 0.92万
    fig = chart.build_chart(small, "zh")
    texts = _texts(fig)
    assert "日参饮人数（合计 14,674人）" in texts
    assert "9,153人" in texts and not any("万" in s for s in texts)


def test_a_chart_with_one_figure_over_ten_thousand_labels_every_bar_in_wan() -> None:
    fig = chart.build_chart(eight_districts(), "zh")
    labels = _bar_labels(fig.axes[1])
    assert labels["濉溪县"] == "1.08万人（8/9 所已报）"
    assert labels["杜集区"] == "0.92万人"
    assert labels["经开区"] == "0.09万人（1/2 所已报）"
    # Every figure label is in 万, never a bare "9153人" beside "1.08万人".
    figures = [label for name, label in labels.items() if name != "烈山区"]
    assert all("万人" in label for label in figures), figures
    assert "日参饮人数（合计 5.11万人）" in _texts(fig)


# --- labels --------------------------------------------------------------------------


def test_completeness_labels_carry_the_on_time_rate() -> None:
    assert chart.completeness_label(stats(1, "濉溪县", 10, 8, 8, 1), "zh", on_time=True) == "80%  8/10 · 按时 80%"
    assert chart.completeness_label(stats(1, "濉溪县", 10, 8, 6, 1), "en", on_time=True) == "80%  8/10 · on time 60%"
    assert chart.completeness_label(stats(1, "濉溪县", 10, 8, 6, 1), "zh", on_time=False) == "80%  8/10"
    assert chart.completeness_label(stats(1, "濉溪县", 4, 0, 0, 0), "zh", on_time=True) == "未报  0/4"
    assert chart.completeness_label(stats(1, "濉溪县", 0, 0, 0, 0), "zh", on_time=True) == "无应报"


def test_a_district_with_no_reports_has_no_figure_and_says_unreported() -> None:
    nobody = stats(4, "烈山区", 4, 0, 0, 0)
    assert chart.figure_of(nobody, "daily_drinkers") is None
    scale = Scale.of([Decimal(10800)], "zh")
    assert chart.figure_label(nobody, DRINKERS, scale, "zh") == "未报"
    assert chart.figure_label(nobody, DRINKERS, scale, "en") == "not reported"
    # A school that reported 0 is a 0, not 未报.
    zero = stats(5, "高新区", 2, 2, 2, 0)
    assert chart.figure_of(zero, "daily_drinkers") == 0
    assert chart.figure_label(zero, DRINKERS, Scale.of([], "zh"), "zh") == "0人"


def test_coverage_line_states_reported_schools_and_due_date() -> None:
    assert chart.coverage_line(eight_districts(), "zh") == "已报 24/31 所，按时 19 所 · 11月5日截止"
    assert chart.coverage_line(eight_districts(), "en") == "24/31 schools reported, 19 on time · due 2026-11-05"
    year = milk_rollup(
        stats(1, "濉溪县", 24, 20, 18, 100), periods=tuple(p.key for p in year_periods(MILK.period_cadence, 2026)[:2])
    )
    assert chart.coverage_line(year, "zh") == "2 期共已报 20/24 份"


def test_state_text_names_one_state_or_counts_a_mix() -> None:
    assert chart.state_text([PeriodState.DUE], "zh") == "尚未到截止日"
    assert chart.state_text([PeriodState.LATE], "zh") == "已过截止日"
    assert chart.state_text([PeriodState.CLOSED], "en") == "locked"
    mixed = [PeriodState.CLOSED] * 9 + [PeriodState.DUE]
    assert chart.state_text(mixed, "zh") == "已锁定 9 期 · 尚未到截止日 1 期"
    year = [PeriodState.CLOSED] * 3 + [PeriodState.OPEN]
    assert chart.state_text([PeriodState.OPEN], "zh") == "本期尚未结束"  # one period: 本期
    assert chart.state_text(year, "zh") == "已锁定 3 期 · 尚未结束 1 期"  # counted: no 本期
    assert chart.state_text(year, "en") == "3 locked · 1 not over"


# --- the drawing ---------------------------------------------------------------------


def _texts(fig: Figure) -> list[str]:
    return [text.get_text() for text in fig.findobj(Text) if text.get_text()]


def _bar_labels(ax: Axes) -> dict[str, str]:
    """Each row's label text, keyed by the district on the y axis at that height."""
    names = {round(tick): label.get_text() for tick, label in zip(ax.get_yticks(), ax.get_yticklabels())}
    return {names[round(text.get_position()[1])]: text.get_text() for text in ax.texts}


def _bars(fig: Figure) -> list[Rectangle]:
    return [patch for ax in fig.axes for patch in ax.patches if isinstance(patch, Rectangle) and patch.get_width() > 0]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_unreported_district_is_a_hatched_band_labelled_unreported_never_a_zero_bar(lang: str) -> None:
    fig = chart.build_chart(eight_districts(), lang)
    unreported = "未报" if lang == "zh" else "not reported"
    completeness, figures = fig.axes
    for ax in (completeness, figures):
        row = [round(tick) for tick, label in zip(ax.get_yticks(), ax.get_yticklabels()) if label.get_text() == "烈山区"][0]
        on_row = [p for p in ax.patches if isinstance(p, Rectangle) and abs(p.get_y() + p.get_height() / 2 - row) < 0.01]
        assert on_row, "the row has its band"
        assert all(p.get_hatch() and p.get_gid() == "unreported" for p in on_row)
        assert _bar_labels(ax)["烈山区"].startswith(unreported)
    # The 未报 band is in the legend too, and nothing on the chart reads as 0 of that district.
    legend = completeness.get_legend()
    assert legend is not None and unreported in [t.get_text() for t in legend.get_texts()]
    assert "0万人" not in _texts(fig) and "0人" not in _texts(fig)
    # Districts that reported are plain bars.
    assert all(not p.get_hatch() for p in figures.patches if p.get_gid() != "unreported")


def test_axis_titles_carry_their_units() -> None:
    big, small = chart.build_chart(eight_districts(), "zh"), chart.build_chart(small_districts(), "zh")
    assert big.axes[0].get_xlabel() == "报送完成率（%）"
    assert big.axes[1].get_xlabel() == "日参饮人数（万人）"
    assert small.axes[1].get_xlabel() == "日参饮人数（人）"
    assert chart.build_chart(eight_districts(), "en").axes[1].get_xlabel() == "Students drinking daily (students)"


def test_title_states_the_period_and_its_coverage() -> None:
    fig = chart.build_chart(eight_districts(), "zh")
    suptitle = fig.get_suptitle()
    assert "2026年10月" in suptitle and "已报 24/31 所" in suptitle


@pytest.mark.parametrize("rollup", [eight_districts(), small_districts()], ids=["with-unreported", "small"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_legend_covers_no_bar_and_no_label_and_nothing_is_clipped(rollup: Rollup, lang: str) -> None:
    fig = chart.build_chart(rollup, lang)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    legend = fig.axes[0].get_legend()
    assert legend is not None
    box = legend.get_window_extent(renderer)
    for bar in _bars(fig):
        assert not box.overlaps(bar.get_window_extent(renderer)), bar
    figure_box = fig.bbox
    for ax in fig.axes:
        for text in ax.texts:
            extent = text.get_window_extent(renderer)
            assert not box.overlaps(extent), text.get_text()
            # A bar's label stays inside its panel and the picture, so nothing is cut off.
            assert extent.x1 <= ax.bbox.x1 + 1 and extent.x1 <= figure_box.x1, text.get_text()
        labels = [text.get_window_extent(renderer) for text in ax.texts]
        for i, a in enumerate(labels):
            assert not any(a.overlaps(b) for b in labels[i + 1 :]), "two labels overlap"
    # Everything drawn (ticks in view, titles, labels, legend) lies inside the picture.
    suptitle = next(text for text in fig.texts if text.get_text() == fig.get_suptitle())
    drawn = [suptitle.get_window_extent(renderer), *(ax.get_tightbbox(renderer) for ax in fig.axes)]
    for drawn_box in drawn:
        assert drawn_box is not None
        assert (
            drawn_box.x0 >= -1 and drawn_box.y0 >= -1 and drawn_box.x1 <= figure_box.x1 + 1 and drawn_box.y1 <= figure_box.y1 + 1
        )


def test_a_scoped_chart_with_nothing_reported_draws_no_invented_scale() -> None:
    nobody = stats(4, "烈山区", 4, 0, 0, 0)
    scoped = Rollup(
        form=MILK, periods=(parse_period(MILK.period_cadence, "2026-10"),), city=Stats.combine("烈山区", [nobody]),
        districts=(nobody,), district_id=4, scope="烈山区",
    )  # fmt: skip
    fig = chart.build_chart(scoped, "zh")
    assert list(fig.axes[1].get_xticks()) == []
    legend = fig.axes[0].get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["未报"]
    assert chart.render_chart(scoped, "zh").startswith(b"\x89PNG")


def test_harvest_chart_speaks_wan_yuan_without_on_time_bars() -> None:
    income = HARVEST.main_field
    assert income is not None
    rows = (
        Stats(1, "濉溪县", 9, 9, 5, 0, 5, 7, {income.key: FieldAggregate(7, Decimal(125000), Decimal(1), Decimal(1))}),
        Stats(3, "相山区", 6, 6, 2, 0, 2, 2, {income.key: FieldAggregate(2, Decimal("8450.5"), Decimal(1), Decimal(1))}),
    )
    rollup = Rollup(
        form=HARVEST, periods=(parse_period(HARVEST.period_cadence, "2026-Q3"),), city=Stats.combine("", rows), districts=rows
    )
    fig = chart.build_chart(rollup, "zh")
    assert fig.axes[1].get_xlabel() == "销售收入（万元）"
    assert _bar_labels(fig.axes[1]) == {"濉溪县": "12.50万元（5/9 所已报）", "相山区": "0.85万元（2/6 所已报）"}
    assert not any("按时" in s for s in _texts(fig))


def test_subtitle_names_the_period_state_and_a_year_bar_is_the_mean_of_months() -> None:
    from datetime import date

    from bot.core.coverage import Coverage

    months = [parse_period(MILK.period_cadence, p) for p in ("2026-09", "2026-10")]

    def covered(district_id: int, name: str, per_month: list[int]) -> Stats:
        coverage = tuple(
            Coverage(period=m, state=state, due=date(2026, m.end.month + 1, 5), expected=1, reported=1, on_time=1)
            for m, state in zip(months, (PeriodState.LATE, PeriodState.DUE))
        )
        by_period = tuple({"daily_drinkers": FieldAggregate(1, Decimal(n), Decimal(n), Decimal(n))} for n in per_month)
        total = sum(per_month)
        fields = {"daily_drinkers": FieldAggregate(2, Decimal(total), Decimal(min(per_month)), Decimal(max(per_month)))}
        return Stats(district_id, name, 1, 2, 2, 2, 1, 2, fields, coverage=coverage, by_period=by_period, form=MILK)

    districts = (covered(1, "濉溪县", [800, 900]), covered(2, "杜集区", [100, 300]))
    rollup = Rollup(form=MILK, periods=tuple(months), city=Stats.combine("", districts, form=MILK), districts=districts)
    line = chart.coverage_line(rollup, "zh")
    assert "已过截止日 1 期" in line and "尚未到截止日 1 期" in line, line
    # Daily drinkers average over months: 850 and 200, never the 1,700 and 400 a sum would draw.
    assert chart.figure_of(districts[0], "daily_drinkers") == Decimal(850)
    assert chart.figure_of(rollup.city, "daily_drinkers") == Decimal(1050)
    labels = [t.get_text() for ax in chart.build_chart(rollup, "zh").axes for t in ax.texts]
    assert any(label.startswith("850") for label in labels), labels
