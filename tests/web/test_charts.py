"""Chart geometry and number formatting of the pages."""

from __future__ import annotations

import math

from vla_bench.web.charts import forest_plot, nice_axis, strip
from vla_bench.web.format import fmt_estimate, fmt_signed, fmt_value


def test_a_nice_axis_covers_the_values_on_round_ticks() -> None:
    axis = nice_axis([1.12, 5.5, None, float("nan")], include=(0.0,))
    assert axis.lo <= 0.0 and axis.hi >= 5.5
    assert axis.ticks[0] == axis.lo and axis.ticks[-1] == axis.hi
    steps = {round(b - a, 9) for a, b in zip(axis.ticks, axis.ticks[1:], strict=False)}
    assert len(steps) == 1 and next(iter(steps)) in (1.0, 2.0, 2.5, 5.0)
    flat = nice_axis([3.0, 3.0])
    assert flat.lo < 3.0 < flat.hi
    assert nice_axis([]).hi == 1.0


def test_strips_place_low_mean_high_in_order_and_inside_the_box() -> None:
    axis = nice_axis([0.0, 10.0])
    shape = strip(5.0, 2.0, 9.0, axis, width=100, pad=4)
    assert shape is not None
    assert 4 <= shape.x_low < shape.x_mean < shape.x_high <= 96
    assert math.isclose(shape.x_mean, 4 + 92 * 0.5)
    assert strip(None, None, None, axis) is None
    clamped = strip(5.0, -50.0, 50.0, axis, width=100, pad=4)
    assert clamped is not None and (clamped.x_low, clamped.x_high) == (4.0, 96.0)


def test_a_forest_plot_has_one_row_per_interval_and_a_reference_line() -> None:
    plot = forest_plot([("a", 1.0, 0.5, 1.5, "1.0"), ("b", -1.0, -2.0, 0.1, "-1.0")], reference=0.0)
    assert [r.label for r in plot.rows] == ["a", "b"]
    assert plot.reference_x is not None and plot.plot_x < plot.reference_x < plot.plot_x + plot.plot_width
    assert plot.rows[1].y > plot.rows[0].y and plot.height > plot.rows[1].y + plot.row_height


def test_numbers_are_formatted_for_their_metric() -> None:
    assert fmt_value(0.4567, "success_rate") == "45.7%"
    assert fmt_value(1234.567, "mean_return") == "1234.6"
    assert fmt_value(None) == "–"
    assert fmt_signed(1.5) == "+1.50" and fmt_signed(-1.5) == "-1.50"
    assert fmt_estimate({"mean": 1.0, "ci95": [0.5, 1.5]}) == "1.00 [0.50, 1.50]"


def test_chart_columns_fit_long_labels_and_the_phone_layout_shortens_them() -> None:
    from vla_bench.web.charts import chart_pair

    rows = [("button-press-topdown-wall-v3", 0.9, 0.8, 1.0, "90.0% [80.0%, 100.0%]"), ("reach", 1.0, 0.9, 1.0, "x")]
    pair = chart_pair(rows, include=(0.0, 1.0))
    assert pair.wide.plot_x >= 7 * len(rows[0][0])  # the label column holds the longest name
    assert pair.wide.width - (pair.wide.plot_x + pair.wide.plot_width) >= 7 * len(rows[0][4])
    assert pair.wide.show_text and not pair.narrow.show_text and pair.narrow.width == 360
    assert pair.narrow.rows[0].label.endswith("…") and len(pair.narrow.rows[0].label) <= 16


def test_long_descriptions_open_with_their_first_sentence() -> None:
    from vla_bench.web.format import split_description

    assert split_description("Short. More here.") == ("Short.", "More here.")
    assert split_description("No sentence end") == ("No sentence end", "")
