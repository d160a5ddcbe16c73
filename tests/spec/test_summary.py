"""spec.summary's helpers over the scores' JSON shapes (the models themselves: test_summary_schema.py)."""

from __future__ import annotations

import json

from vla_bench.spec.summary import TaskScoresJson, task_estimate


def test_task_estimate_reads_the_metric_and_is_none_where_a_stored_row_lacks_it() -> None:
    # a row as an older server may have stored it: no success_rate, no mean_return (pages show "-" for it)
    task: TaskScoresJson = json.loads('{"normalized_score": {"mean": 0.5, "ci95": [0.25, 0.75]}, "primary": 0.5}')
    assert task_estimate(task, "normalized_score") == {"mean": 0.5, "ci95": [0.25, 0.75]}
    assert task_estimate(task, "success_rate") is None
    assert task_estimate(task, "mean_return") is None
    assert task_estimate(task, "no_such_metric") is None
