"""One episode as a pure state machine: reset → (act → step)* → finish → :class:`EpisodeRecord`.

No processes, sockets or clocks of its own beyond the record's timings: the orchestrator (central policy
placement) and the env worker (worker placement) drive the same code, so the same protocol and policy give
the same record wherever the policy runs. What it owns: executing action chunks open-loop, exploration noise,
clipping to the task's bounds (counted), smoothness, the episode's end rules, and the trajectory kept for
dataset collection.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from vla_bench.harness.trajectory import Trajectory, action_noise_rng
from vla_bench.spec import CHAIN_INDEX_KEY, SUBTASKS_COMPLETED_KEY, EpisodeRecord, EpisodeSpec, Observation, Protocol
from vla_bench.spec.episode import SAFETY_KEY, TaskSpec
from vla_bench.spec.messages import StepResult


@dataclass(frozen=True)
class EpisodeRules:
    """The parts of a protocol that decide when an episode ends and what its record holds."""

    max_steps: int
    terminate_on_success: bool
    has_success: bool
    action_noise: float = 0.0
    collect: bool = False

    @classmethod
    def of(cls, protocol: Protocol, *, action_noise: float = 0.0, collect: bool = False) -> EpisodeRules:
        return cls(protocol.max_steps, protocol.terminate_on_success, protocol.has_success, action_noise, collect)


class Episode:
    """The state of one episode. ``observation`` is set while the episode waits for its next action."""

    def __init__(self, spec: EpisodeSpec, rules: EpisodeRules, attempt: int = 0) -> None:
        self.spec, self.rules, self.attempt = spec, rules, attempt
        self.task: TaskSpec | None = None
        self.observation: Observation | None = None
        self.chunk: deque[NDArray[np.float32]] = deque()
        self._low = self._high = np.zeros(0, np.float32)
        self.total_return, self.length = 0.0, 0
        self.success = False
        self.success_step: int | None = None
        self.terminated = self.truncated = False
        self.clipped_steps, self.smoothness_sum = 0, 0.0
        self._previous: NDArray[np.float32] | None = None
        self.env_seconds = self.policy_seconds = 0.0
        self.started = time.perf_counter()
        self.chain_index: int | None = None
        self.subtasks_completed: int | None = None
        self.safety: dict[str, float] | None = None  # the session's running safety totals (SAFETY_KEY)
        self.trajectory: Trajectory | None = None
        self._noise: np.random.Generator | None = None
        self.recording = False

    # ------------------------------------------------------------------------------------------ transitions
    def on_reset(self, task: TaskSpec, observation: Observation) -> TaskSpec:
        """The environment was reset: returns the task as the policy is told it (with the planned seed)."""
        self.task = replace(task, episode_seed=self.spec.seed)
        self._low = np.asarray(self.task.action_low, dtype=np.float32)
        self._high = np.asarray(self.task.action_high, dtype=np.float32)
        self.observation = observation
        if self.rules.collect:
            self.trajectory = Trajectory()
            self.trajectory.observe(observation)
        if self.rules.action_noise > 0:
            self._noise = action_noise_rng(self.spec.seed)
        return self.task

    @property
    def needs_policy(self) -> bool:
        return self.observation is not None and not self.chunk

    def add_chunk(self, chunk: list[NDArray[np.float32]]) -> None:
        self.chunk.extend(chunk)

    def next_action(self) -> NDArray[np.float32]:
        """The next action of the chunk as the environment executes it (noised, clipped); counted."""
        action = self.chunk.popleft()
        self.observation = None
        if self._noise is not None:
            action = action + self._noise.normal(0.0, self.rules.action_noise, action.shape).astype(np.float32)
        clipped = np.minimum(np.maximum(action, self._low), self._high)
        if self._noise is None and (clipped != action).any():  # noise pushing past a bound is not the policy's
            self.clipped_steps += 1
        if self._previous is not None:
            delta = clipped - self._previous
            self.smoothness_sum += math.sqrt(float(delta @ delta))
        self._previous = clipped
        if self.trajectory is not None:
            self.trajectory.actions.append(clipped)
        return clipped

    def on_step(self, result: StepResult) -> bool:
        """The environment stepped; True when the episode is over."""
        self.length += 1
        self.total_return += result.reward
        if result.success and not self.success:
            self.success, self.success_step = True, self.length
        self.terminated, self.truncated = result.terminated, result.truncated
        self.observation = result.observation
        info = result.info
        if SUBTASKS_COMPLETED_KEY in info:  # a chain session's progress: the last value reported counts
            self.subtasks_completed = int(info[SUBTASKS_COMPLETED_KEY])
            self.chain_index = int(info[CHAIN_INDEX_KEY])
        if SAFETY_KEY in info:
            self.safety = {str(k): float(v) for k, v in info[SAFETY_KEY].items()}
        if self.trajectory is not None:
            self.trajectory.rewards.append(result.reward)
            self.trajectory.terminals.append(self.terminated)
            self.trajectory.observe(result.observation)
        rules = self.rules
        done = (self.terminated or self.truncated or self.length >= rules.max_steps
                or (rules.terminate_on_success and self.success))
        if done:
            self.truncated = self.truncated or (self.length >= rules.max_steps and not self.terminated)
        return done

    # -------------------------------------------------------------------------------------------- the end
    def record(self, error: tuple[str, str] | None = None) -> EpisodeRecord:
        spec, has_success = self.spec, self.rules.has_success
        steps = max(self.length - 1, 0)
        return EpisodeRecord(
            task=spec.task, episode_index=spec.episode_index, seed=spec.seed, init_index=spec.init_index,
            total_return=self.total_return, length=self.length,
            success=(self.success and error is None) if has_success else None,
            success_step=self.success_step if has_success and error is None else None,
            terminated=self.terminated, truncated=self.truncated,
            error=error[1] if error else None, error_kind=error[0] if error else None,
            clipped_steps=self.clipped_steps,
            action_smoothness=self.smoothness_sum / steps if steps else None,
            timings={"wall_s": round(time.perf_counter() - self.started, 6), "env_s": round(self.env_seconds, 6),
                     "policy_s": round(self.policy_seconds, 6)},
            chain_index=self.chain_index, subtasks_completed=self.subtasks_completed, safety=self.safety,
        )

    def finished_trajectory(self, record: EpisodeRecord) -> Trajectory | None:
        """The trajectory in D4RL's layout, once the record is made; None when not collecting or empty."""
        trajectory = self.trajectory
        if trajectory is None:
            return None
        del trajectory.observations[len(trajectory.actions):]  # the last one is only a next observation
        if not trajectory.actions:
            return None
        trajectory.timeouts = [False] * (len(trajectory.actions) - 1) + [record.truncated]
        return trajectory


def unstarted_record(spec: EpisodeSpec, rules: EpisodeRules, kind: str, reason: str) -> EpisodeRecord:
    """The record of an episode that failed before its environment was reset."""
    record = Episode(spec, rules).record((kind, reason))
    record.timings = {"wall_s": 0.0, "env_s": 0.0, "policy_s": 0.0}
    return record


def trajectory_to_wire(trajectory: Trajectory) -> dict[str, NDArray[np.generic]]:
    """A finished trajectory as arrays (sent back by a worker that ran the episode)."""
    return {"observations": np.stack(trajectory.observations), "actions": np.stack(trajectory.actions),
            "rewards": np.asarray(trajectory.rewards, np.float64),
            "next_observations": np.stack(trajectory.next_observations),
            "terminals": np.asarray(trajectory.terminals, bool), "timeouts": np.asarray(trajectory.timeouts, bool)}


def trajectory_from_wire(data: dict[str, NDArray[np.generic]]) -> Trajectory:
    return Trajectory(observations=list(data["observations"]), actions=list(data["actions"]),
                      rewards=[float(r) for r in data["rewards"]], next_observations=list(data["next_observations"]),
                      terminals=[bool(t) for t in data["terminals"]], timeouts=[bool(t) for t in data["timeouts"]])
