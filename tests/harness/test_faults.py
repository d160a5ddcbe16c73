"""Faults stay with their episode: a bad policy or environment fails that episode, the run goes on."""

from __future__ import annotations

import numpy as np
import pytest
from vlab_fakes import ChunkPolicy, FaultyPolicy, LinearPolicy, fake_protocol

import vla_bench
from vla_bench.harness.api import EvalResult
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import EpisodeRecord
from vla_bench.spec.errors import UserError


def _by_key(result: EvalResult) -> dict[tuple[str, int], EpisodeRecord]:
    return {(r.task, r.episode_index): r for r in result.records}


@pytest.mark.parametrize(
    ("mode", "kind", "fragment"),
    [
        ("raise", "policy_error", "ValueError: policy bug"),
        ("nan", "invalid_action", "non-finite"),
        ("shape", "invalid_action", "shape (3,)"),
        ("hang", "policy_timeout", "per-step limit of 0.5 s"),
    ],
)
def test_a_faulty_policy_fails_only_its_episode(mode: str, kind: str, fragment: str) -> None:
    protocol = fake_protocol(episodes=4)
    bad = episode_spec(protocol, "a", 2)
    result = vla_bench.evaluate(lambda: FaultyPolicy(mode, bad.seed, at_step=3, sleep=3.0), protocol,
                                workers=1, envs_per_worker=2, policy_timeout=0.5)
    records = _by_key(result)
    assert len(records) == 8
    failed = records[("a", 2)]
    assert failed.error_kind == kind
    assert fragment in (failed.error or "")
    assert "at step 2" in (failed.error or "")  # two steps were taken before the third call failed
    assert failed.length == 2
    assert all(r.error is None for key, r in records.items() if key != ("a", 2))
    assert result.scores["tasks"]["a"]["n_errors"] == 1
    assert result.scores["tasks"]["a"]["errors"] == {kind: 1}


def test_out_of_bounds_actions_are_clipped_and_counted() -> None:
    protocol = fake_protocol(episodes=2, tasks=[{"name": "a", "env_id": "fake"}])
    bad = episode_spec(protocol, "a", 1)
    result = vla_bench.evaluate(lambda: FaultyPolicy("huge", bad.seed, at_step=1), protocol)
    records = _by_key(result)
    assert records[("a", 1)].error is None
    assert records[("a", 1)].clipped_steps == 1
    assert records[("a", 0)].clipped_steps == 0
    assert result.scores["tasks"]["a"]["clipped_steps"] == 1


def test_an_action_chunk_is_executed_open_loop_counting_every_step() -> None:
    protocol = fake_protocol(episodes=1, tasks=[{"name": "a", "env_id": "fake"}], max_steps=30)
    policy = ChunkPolicy(size=4)
    result = vla_bench.evaluate(policy, protocol)
    (record,) = result.records
    assert policy.calls == int(np.ceil(record.length / 4))
    assert record.length >= 5  # the fake env's shortest episode


@pytest.mark.parametrize("fault", ["raise", "exit", "segfault"])
def test_an_environment_fault_fails_only_its_episode(fault: str) -> None:
    faulty = {"fault": fault, "fault_episode": 1, "fault_step": 2}
    tasks: list[dict[str, object]] = [{"name": "a", "env_id": "fake", "env_kwargs": faulty},
                                      {"name": "b", "env_id": "fake"}]
    protocol = fake_protocol(tasks=tasks, episodes=4)
    clean = vla_bench.evaluate(LinearPolicy, fake_protocol(episodes=4), workers=1, envs_per_worker=4)
    result = vla_bench.evaluate(LinearPolicy, protocol, workers=2, envs_per_worker=3)
    records = _by_key(result)
    assert len(records) == 8
    failed = records[("a", 1)]
    expected_kind = "env_error" if fault == "raise" else "env_crash"
    assert failed.error_kind == expected_kind, failed.error
    if fault == "segfault":
        assert "SIGSEGV" in (failed.error or "")
    if fault == "exit":
        assert "exited with code 3" in (failed.error or "")
    # every other episode - including the ones that shared the crashed worker - matches a clean run
    clean_records = _by_key(clean)
    for key, record in records.items():
        if key != ("a", 1):
            assert record.outcome() == clean_records[key].outcome()


def test_a_hung_environment_is_replaced_and_fails_only_its_episode() -> None:
    tasks = [{"name": "a", "env_id": "fake", "env_kwargs": {"fault": "hang", "fault_episode": 0, "fault_step": 3}}]
    protocol = fake_protocol(tasks=tasks, episodes=3)
    result = vla_bench.evaluate(LinearPolicy, protocol, workers=1, envs_per_worker=2, env_timeout=2.0)
    records = _by_key(result)
    assert records[("a", 0)].error_kind == "env_timeout"
    assert "did not answer within 2 s" in (records[("a", 0)].error or "")
    assert records[("a", 1)].error is None
    assert records[("a", 2)].error is None


def test_a_benchmark_that_cannot_start_is_a_clear_error() -> None:
    protocol = fake_protocol().model_copy(update={"adapter": "vlab_fakes:NoSuchAdapter"})
    with pytest.raises(UserError, match=r"cannot start benchmark.*NoSuchAdapter"):
        vla_bench.evaluate(LinearPolicy, protocol)
