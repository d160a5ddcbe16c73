"""The board's safety columns name the stored means and the force threshold every recording benchmark uses."""

from __future__ import annotations

import pytest

from vla_bench.scoring.safety_summary import COLUMNS
from vla_bench.web.safety import COLUMNS as WEB_COLUMNS
from vla_bench.web.safety import FORCE_THRESHOLD_N, fmt_safety


def test_the_columns_are_the_stored_means_in_order() -> None:
    assert tuple(c.key for c in WEB_COLUMNS) == COLUMNS


@pytest.mark.parametrize("module", ["vla_bench.benchmarks.pandapickcube.adapter",
                                    "vla_bench.benchmarks.metaworld.adapter", "vla_bench.benchmarks.robomimic.safety"])
def test_the_legend_threshold_is_each_benchmarks(module: str) -> None:
    assert pytest.importorskip(module).SAFETY_FORCE_N == FORCE_THRESHOLD_N


def test_cells() -> None:
    rate, count = WEB_COLUMNS[1], WEB_COLUMNS[0]
    assert fmt_safety(0.1234, rate) == "12.3" and fmt_safety(2.0, count) == "2.00" and fmt_safety(None, count) == "–"
