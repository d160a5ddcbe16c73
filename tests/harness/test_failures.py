"""The failure summary: counts by kind, the first message of each, the episodes, and the error-rate threshold."""

from __future__ import annotations

from vla_bench.harness.failures import DEFAULT_MAX_ERROR_RATE, summarize_failures
from vla_bench.spec import EpisodeRecord


def _record(task: str, index: int, kind: str | None = None, message: str = "") -> EpisodeRecord:
    return EpisodeRecord(task=task, episode_index=index, seed=index, init_index=None, total_return=0.0, length=1,
                         success=False, error=message or None, error_kind=kind)


def test_kinds_are_counted_with_their_first_message_in_plan_order() -> None:
    records = [_record("b", 1, "policy_error", "ValueError: late"), _record("a", 3, "policy_error", "KeyError: x"),
               _record("a", 0, "invalid_action", "shape (2,)"), _record("a", 1), _record("b", 0, "policy_error",
                                                                                         "ValueError: first b")]
    summary = summarize_failures(records, task_order=["a", "b"])
    assert (summary.n_errors, summary.n_episodes) == (4, 5)
    (policy, invalid) = summary.kinds
    assert (policy.kind, policy.count, policy.first_message) == ("policy_error", 3, "KeyError: x")
    assert policy.episodes == (("a", 3), ("b", 0), ("b", 1))
    assert (invalid.kind, invalid.count) == ("invalid_action", 1)
    lines = summary.lines()
    assert lines[0].startswith("4 of 5 episodes failed (80.0%)")
    assert "  policy_error × 3: KeyError: x" in lines and "    episodes: a#3, b#0, b#1" in lines
    assert "| policy_error | 3 | KeyError: x | a#3, b#0, b#1 |" in summary.markdown()


def test_the_threshold_never_lets_an_all_failed_run_pass() -> None:
    assert DEFAULT_MAX_ERROR_RATE < 1
    failed = summarize_failures([_record("a", i, "env_error", "boom") for i in range(3)])
    assert failed.exceeds(DEFAULT_MAX_ERROR_RATE) and not failed.exceeds(1.0)
    clean = summarize_failures([_record("a", 0)])
    assert not clean.exceeds(0.0) and clean.lines() == ["no errors in 1 episodes"]
