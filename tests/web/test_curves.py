"""Training-curve geometry: points inside the plot box in step order, round ticks, thinning that keeps the ends."""

from __future__ import annotations

from vla_bench.web.curves import HEIGHT, MAX_POINTS, curve_panel, curve_panels, step_label, thin


def _points(panel_points: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in panel_points.split())]


def test_a_curve_runs_left_to_right_inside_its_box_and_falls_with_the_value() -> None:
    panel = curve_panel("loss", [(500, 0.02), (1000, 0.01), (20000, 0.009)])
    assert panel is not None
    points = _points(panel.points)
    assert [x for x, _ in points] == sorted(x for x, _ in points)
    assert all(panel.plot_left <= x <= panel.plot_right and panel.plot_top <= y <= panel.plot_bottom
               for x, y in points)
    assert points[0][1] < points[1][1] < points[2][1]  # lower loss is drawn lower (larger y)
    assert [t.label for t in panel.x_ticks] == ["0", "10k", "20k"] and panel.last == "0.009"
    assert all(0 <= t.at <= HEIGHT for t in panel.y_ticks)


def test_long_logs_are_thinned_keeping_first_and_last() -> None:
    series = [(float(i), float(i % 7)) for i in range(5000)]
    kept = thin(series)
    assert len(kept) == MAX_POINTS and kept[0] == series[0] and kept[-1] == series[-1]
    panel = curve_panel("x", series)
    assert panel is not None and len(panel.points.split()) == MAX_POINTS and panel.n_logged == 5000


def test_unlogged_measures_get_no_panel_and_one_value_still_shows() -> None:
    assert curve_panels([("never", []), ("once", [(10.0, 3.0)])])[0].name == "once"
    single = curve_panel("once", [(10.0, 3.0)])
    assert single is not None and len(single.points.split()) == 2  # a short flat stroke


def test_step_labels() -> None:
    assert [step_label(s) for s in (0, 500, 2500, 1_000_000, 1.5e6)] == ["0", "500", "2.5k", "1M", "1.5M"]
