"""The episode state machine, driven by hand: no processes, no environments."""

from __future__ import annotations

import numpy as np
import pytest

from vla_bench.harness.episode import Episode, EpisodeRules, trajectory_from_wire, trajectory_to_wire, unstarted_record
from vla_bench.spec import EpisodeSpec, TaskSpec
from vla_bench.spec.messages import StepResult

SPEC = EpisodeSpec(task="a", task_index=0, episode_index=3, seed=1234, init_index=None)
TASK = TaskSpec(name="a", instruction="", action_low=(-1.0, -1.0), action_high=(1.0, 1.0), max_steps=5,
                observation_mode="state", state_dim=2)


def _step(reward: float = 1.0, *, terminated: bool = False, success: bool = False, info: dict | None = None
          ) -> StepResult:
    return StepResult(0, {"state": np.zeros(2, np.float32)}, reward, terminated, False, success, info or {})


def _started(rules: EpisodeRules) -> Episode:
    episode = Episode(SPEC, rules)
    told = episode.on_reset(TASK, {"state": np.ones(2, np.float32)})
    assert told.episode_seed == SPEC.seed  # the policy is told the planned seed
    return episode


def test_a_chunk_is_executed_open_loop_clipped_and_counted() -> None:
    episode = _started(EpisodeRules(max_steps=10, terminate_on_success=False, has_success=True))
    assert episode.needs_policy
    episode.add_chunk([np.array([0.5, 2.0], np.float32), np.array([0.5, 0.0], np.float32)])
    assert not episode.needs_policy
    first = episode.next_action()
    assert first.tolist() == [0.5, 1.0] and episode.clipped_steps == 1
    assert episode.observation is None  # waiting for the environment
    assert not episode.on_step(_step())
    assert not episode.needs_policy  # the chunk still holds an action
    second = episode.next_action()
    assert second.tolist() == [0.5, 0.0]
    assert not episode.on_step(_step(success=True))
    record = episode.record()
    assert (record.length, record.total_return, record.clipped_steps) == (2, 2.0, 1)
    assert record.success and record.success_step == 2
    assert record.action_smoothness == pytest.approx(1.0)


def test_max_steps_truncates_and_success_can_end_the_episode() -> None:
    episode = _started(EpisodeRules(max_steps=2, terminate_on_success=False, has_success=False))
    for _ in range(2):
        episode.add_chunk([np.zeros(2, np.float32)])
        episode.next_action()
        done = episode.on_step(_step())
    assert done and episode.record().truncated and episode.record().success is None
    early = _started(EpisodeRules(max_steps=9, terminate_on_success=True, has_success=True))
    early.add_chunk([np.zeros(2, np.float32)])
    early.next_action()
    assert early.on_step(_step(success=True))
    assert not early.record().truncated


def test_an_error_fails_the_record_and_chain_progress_is_kept() -> None:
    episode = _started(EpisodeRules(max_steps=9, terminate_on_success=False, has_success=True))
    episode.add_chunk([np.zeros(2, np.float32)])
    episode.next_action()
    episode.on_step(_step(success=True, info={"subtasks_completed": 2, "chain_index": 7}))
    record = episode.record(("policy_error", "boom"))
    assert record.error_kind == "policy_error" and record.success is False and record.success_step is None
    assert (record.subtasks_completed, record.chain_index) == (2, 7)
    never = unstarted_record(SPEC, episode.rules, "env_error", "no env")
    assert never.length == 0 and never.timings == {"wall_s": 0.0, "env_s": 0.0, "policy_s": 0.0}


def test_noise_is_seeded_per_episode_and_trajectories_survive_the_wire() -> None:
    rules = EpisodeRules(max_steps=3, terminate_on_success=False, has_success=False, action_noise=0.5, collect=True)
    actions = []
    for _ in range(2):
        episode = _started(rules)
        for t in range(3):
            episode.add_chunk([np.zeros(2, np.float32)])
            episode.next_action()
            episode.on_step(_step(terminated=False) if t < 2 else _step())
        actions.append(list(episode.trajectory.actions))  # type: ignore[union-attr]
        record = episode.record()
        trajectory = episode.finished_trajectory(record)
        assert trajectory is not None and len(trajectory) == 3 and trajectory.timeouts == [False, False, True]
        back = trajectory_from_wire(trajectory_to_wire(trajectory))
        assert all((a == b).all() for a, b in zip(back.actions, trajectory.actions, strict=True))
        assert back.rewards == trajectory.rewards and back.timeouts == trajectory.timeouts
        assert episode.clipped_steps == 0  # noise pushing past a bound is not the policy's
    assert all((a == b).all() for a, b in zip(*actions, strict=True))  # same seed, same noise
    assert any((a != 0).any() for a in actions[0])
