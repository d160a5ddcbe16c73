"""CALVIN-style chain metrics (REFERENCE.md 5.1): >= i rates with Wilson intervals, average length = sum of
the rates; chain fields are optional in records and protocols, so old bundles and hashes are unchanged."""

from __future__ import annotations

import json

import pytest
from chain_fakes import fake_chain_protocol

from vla_bench.protocols import get_protocol
from vla_bench.scoring.scores import chain_scores, compute_scores, wilson_interval
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.schemas import schema_errors


def record(index: int, completed: int | None, *, error: str | None = None) -> EpisodeRecord:
    return EpisodeRecord(task="chains", episode_index=index, seed=index, init_index=None, total_return=0.0,
                         length=10, success=completed == 3, error=error, error_kind="env_crash" if error else None,
                         chain_index=index if completed is not None else None, subtasks_completed=completed)


def test_rates_are_at_least_i_in_a_row_and_average_length_is_their_sum() -> None:
    completed = [0, 1, 3, 2, 3, 0, 1, 1]
    scores = chain_scores(3, [record(i, c) for i, c in enumerate(completed)])
    wins = [sum(c >= i for c in completed) for i in (1, 2, 3)]
    assert [rate["successes"] for rate in scores["success_rates"]] == wins == [6, 3, 2]
    assert [rate["mean"] for rate in scores["success_rates"]] == [w / 8 for w in wins]
    assert scores["success_rates"][1]["ci95"] == pytest.approx(list(wilson_interval(3, 8)))
    average = scores["average_length"]
    mean, (low, high) = average["mean"], average["ci95"]
    assert mean == pytest.approx(sum(completed) / 8) == pytest.approx(sum(w / 8 for w in wins))
    assert mean is not None and low is not None and high is not None and low < mean < high


def test_an_errored_chain_keeps_what_it_completed_and_no_progress_counts_zero() -> None:
    scores = chain_scores(3, [record(0, 2, error="worker died"), record(1, None, error="reset failed")])
    assert [rate["successes"] for rate in scores["success_rates"]] == [1, 1, 0]
    assert scores["average_length"]["mean"] == 1.0


def test_a_record_claiming_more_than_the_chain_length_is_refused() -> None:
    with pytest.raises(ValueError, match="more than the chain length of 3"):
        chain_scores(3, [record(0, 4)])


def test_compute_scores_uses_average_length_as_the_primary_metric() -> None:
    protocol = fake_chain_protocol()
    scores = compute_scores(protocol, [record(i, c) for i, c in enumerate([0, 1, 3, 2, 3, 0])])
    task = scores["tasks"]["chains"]
    assert scores["primary_metric"] == "average_length" == scores["aggregate"]["metric"]
    headline, success = scores["aggregate"]["mean"], task["success_rate"]
    assert headline is not None and success is not None
    assert task["primary"] == pytest.approx(1.5) == headline["mean"]
    assert success["successes"] == 2  # success = the whole chain


def test_chain_fields_are_absent_from_ordinary_records_and_old_lines_still_load() -> None:
    plain = EpisodeRecord(task="t", episode_index=0, seed=1, init_index=None, total_return=1.0, length=3,
                          success=None)
    data = plain.to_json()
    assert "subtasks_completed" not in data and "chain_index" not in data
    assert EpisodeRecord.from_json(data) == plain
    assert schema_errors("episode", data) == []
    chained = record(2, 1).to_json()
    assert (chained["chain_index"], chained["subtasks_completed"]) == (2, 1)
    assert schema_errors("episode", chained) == [] and EpisodeRecord.from_json(chained) == record(2, 1)


def test_protocols_without_a_chain_hash_without_the_field() -> None:
    protocol = get_protocol("mujoco/hopper@v1")
    assert "chain" not in json.loads(protocol.canonical_json())
    assert "chain" in json.loads(fake_chain_protocol().canonical_json())


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"episodes_per_task": 5}, "episodes_per_task must be 6"),
        ({"max_steps": 14}, "max_steps must be chain.length x chain.steps_per_subtask = 15"),
        ({"primary_metric": "success_rate"}, "'average_length' and a \\[chain\\] section go together"),
        ({"chain": None}, "'average_length' and a \\[chain\\] section go together"),
        ({"observation": {"mode": "state"}}, "must give the policy its instructions"),
        ({"success": {"kind": "info_flag", "key": "success"}}, "success rule is kind = 'chain'"),
    ],
)
def test_inconsistent_chain_protocols_are_refused(update: dict, message: str) -> None:
    data = json.loads(fake_chain_protocol().canonical_json())
    data.update(update)
    with pytest.raises(ValueError, match=message):
        Protocol.model_validate(data)
