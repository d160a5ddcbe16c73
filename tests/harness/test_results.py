"""The typed result of ``vla_bench.evaluate``: a number, with its interval, per task too."""

from __future__ import annotations

from vlab_fakes import LinearPolicy, fake_protocol

import vla_bench
from vla_bench.harness.results import Score


def test_evaluate_returns_a_typed_score_that_prints_as_a_number() -> None:
    protocol = fake_protocol(episodes=3, success=True)
    result = vla_bench.evaluate(LinearPolicy, protocol, envs_per_worker=2)
    assert isinstance(result.score, Score) and result.score.metric == "success_rate"
    assert float(result.score) == result.scores["aggregate"]["mean"]["mean"]
    assert str(result.score).endswith("]") and "%" in str(result.score)
    assert set(result.task_scores) == {"a", "b"}
    assert result.task_scores["a"].mean == result.scores["tasks"]["a"]["success_rate"]["mean"]
