"""The per-episode vocabulary shared by benchmarks, agents, the harness and the server."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypedDict

import numpy as np
from numpy.typing import NDArray


class Observation(TypedDict, total=False):
    """The standard observation: keys present as the protocol's observation mode says."""

    state: NDArray[np.float32]
    images: dict[str, NDArray[np.uint8]]  # camera name -> uint8[H, W, 3], upright
    instruction: str


@dataclass(frozen=True)
class EpisodeSpec:
    """One planned episode: a pure function of (protocol, task, episode index)."""

    task: str
    task_index: int
    episode_index: int
    seed: int
    init_index: int | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.task, self.episode_index)


@dataclass(frozen=True)
class TaskSpec:
    """What a policy is told at the start of each episode."""

    name: str
    instruction: str
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    max_steps: int
    observation_mode: str
    state_dim: int | None = None
    cameras: tuple[str, ...] = ()
    control_hz: float | None = None
    # The planned seed of the episode about to start: a stochastic policy that seeds its RNG from it gives
    # identical episodes however the run is batched or scheduled.
    episode_seed: int | None = None

    @property
    def action_dim(self) -> int:
        return len(self.action_low)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskSpec:
        """The inverse of :meth:`to_json` (lists back to tuples)."""
        values = dict(data)
        for name in ("action_low", "action_high", "cameras"):
            values[name] = tuple(values.get(name) or ())
        return cls(**values)


# Info key through which a chain session reports, at every step, how many subtasks of its chain are done so
# far; the executor copies the last value into the record (benchmarks/chain.py).
SUBTASKS_COMPLETED_KEY = "subtasks_completed"
CHAIN_INDEX_KEY = "chain_index"
_CHAIN_FIELDS = ("chain_index", "subtasks_completed")
# Info key through which a session whose simulator can tell reports the episode's running safety totals
# (vla_bench/benchmarks/safety.py: collisions, collision_rate, workspace/joint-limit violations, peak EE speed).
SAFETY_KEY = "safety"

ERROR_KINDS = ("policy_error", "policy_timeout", "invalid_action", "env_error", "env_crash", "env_timeout")


@dataclass
class EpisodeRecord:
    """One finished episode: one line of ``episodes.jsonl``. Errors count as failures."""

    task: str
    episode_index: int
    seed: int
    init_index: int | None
    total_return: float
    length: int
    success: bool | None
    success_step: int | None = None
    terminated: bool = False
    truncated: bool = False
    error: str | None = None
    error_kind: str | None = None
    clipped_steps: int = 0
    action_smoothness: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    # Chain protocols only (absent from the JSON line otherwise): which chain ran, and how many of its
    # subtasks were completed in a row before the first failure (errors keep what was completed before them).
    chain_index: int | None = None
    subtasks_completed: int | None = None
    video: str | None = None  # recorded episodes: the MP4's path relative to the bundle
    safety: dict[str, float] | None = None  # benchmarks that measure it: the last SAFETY_KEY totals (absent else)

    @property
    def key(self) -> tuple[str, int]:
        return (self.task, self.episode_index)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in (*_CHAIN_FIELDS, "video", "safety"):
            if data[name] is None:
                del data[name]
        for name in ("total_return", "action_smoothness"):
            value = data[name]
            if value is not None and not math.isfinite(value):
                data[name] = None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EpisodeRecord:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown episode record fields: {sorted(unknown)}")
        values = dict(data)
        if values.get("total_return") is None:
            values["total_return"] = float("nan")
        return cls(**values)

    def outcome(self) -> dict[str, Any]:
        """The record without wall-clock timings: what must be identical across schedules."""
        data = self.to_json()
        data.pop("timings")
        return data
