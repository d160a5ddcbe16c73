"""harness.comparison: paired_comparison's JSON reads into the typed Comparison the CLI prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from vla_bench.harness import report
from vla_bench.harness.bundle import read_bundle
from vla_bench.harness.comparison import Comparison
from vla_bench.scoring.compare import paired_comparison

RESULTS = Path(__file__).resolve().parents[2] / "results"


@pytest.mark.parametrize(("a", "b"), [("mujoco-hopper--baseline-random", "mujoco-hopper--baseline-ppo-hopper"),
                                      ("pandapickcube-state--baseline-random",
                                       "pandapickcube-state--baseline-ppo-pandapickcube-state")])
def test_a_comparison_of_committed_bundles_reads_into_the_model_and_prints(a: str, b: str) -> None:
    first, second = read_bundle(RESULTS / a), read_bundle(RESULTS / b)
    result = paired_comparison(first.protocol(), first.records, second.records)
    typed = Comparison.model_validate(result)
    assert typed.model_dump(mode="json", exclude_unset=True) == result
    assert typed.verdict == result["verdict"] and typed.overall.n_pairs == result["overall"]["n_pairs"]
    text = report.comparison_markdown(typed, "A", "B")
    assert typed.verdict in text and "all tasks" in text
    if typed.metric == "success_rate":
        assert typed.overall.mcnemar is not None and "McNemar p" in text
