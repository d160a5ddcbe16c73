"""Offline evaluation: a policy's action error on the held-out episodes of a dataset, without a simulator.

The policy is fed each held-out episode's recorded observations in order (teacher forcing: its own actions never
change what it sees) and its action is compared with the recorded one. Per episode: ``action_mse`` (mean over
steps and action dimensions of the squared error), ``action_l2`` (mean over steps of the Euclidean error, the
trajectory error), ``normalized_mse`` (action_mse / the held-out actions' mean per-dimension variance: 0 is
perfect, 1 is no better than predicting the mean action). Results: the mean over episodes with a Student-t 95%
interval (episodes are the independent units), and the per-dimension MSE. A chunk ``[T, A]`` is scored by its
first action (the one executed at that step).

Held-out split: a robomimic file's own ``mask/valid`` demos when it has them (robomimic's split); otherwise the
episodes whose index hashes below ``fraction`` (sha256 of ``"vla-bench-heldout|<index>"``; at least one episode).
:func:`heldout_indices` is public so that a trainer can leave the same episodes out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np
from numpy.typing import NDArray
from pydantic import JsonValue

from vla_bench.agents.policy import LoadedAgent, is_batched
from vla_bench.datasets.d4rl_hdf5 import read_d4rl
from vla_bench.datasets.validation import DatasetError
from vla_bench.scoring.scores import mean_interval
from vla_bench.spec import Observation, Protocol, TaskSpec

DEFAULT_FRACTION = 0.1
_BATCH = 256
ErrorName = Literal["action_mse", "action_l2", "normalized_mse"]
_ERRORS: tuple[ErrorName, ...] = ("action_mse", "action_l2", "normalized_mse")


class HeldOutInfo(TypedDict):
    """How the held-out episodes were chosen from which file."""

    source: str
    format: str
    split: str
    episodes_total: int
    episodes_heldout: int
    heldout_indices: list[int]
    protocol_id: str | None  # the protocol the dataset names in its metadata


class Interval(TypedDict):
    mean: float
    ci95: list[float]


class EpisodeErrors(TypedDict):
    task: str | None
    steps: int
    action_mse: float
    action_l2: float
    normalized_mse: float


class OfflineResult(TypedDict):
    agent: dict[str, JsonValue]
    n_episodes: int
    n_steps: int
    metrics: dict[str, Interval]
    per_dimension_mse: list[float]
    episodes: list[EpisodeErrors]


@dataclass
class HeldOutEpisode:
    observations: NDArray[np.float32]
    actions: NDArray[np.float32]
    task: str | None = None


def heldout_indices(n_episodes: int, fraction: float = DEFAULT_FRACTION) -> list[int]:
    """Indices of the held-out episodes of an ``n_episodes`` dataset: a pure function of the index."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"held-out fraction must be in (0, 1], not {fraction}")
    if n_episodes <= 0:
        raise DatasetError("the dataset has no episodes")
    chosen = [i for i in range(n_episodes)
              if int.from_bytes(hashlib.sha256(f"vla-bench-heldout|{i}".encode()).digest()[:8], "big")
              < fraction * 2**64]
    return chosen or [n_episodes - 1]


def load_heldout(path: str | Path, fraction: float = DEFAULT_FRACTION) -> tuple[list[HeldOutEpisode], HeldOutInfo]:
    """The held-out episodes of a D4RL-format or robomimic HDF5 file, and a description of the split."""
    import h5py  # noqa: PLC0415 - only when a file is read

    from vla_bench.datasets.d4rl_hdf5 import open_hdf5  # noqa: PLC0415

    handle, source = open_hdf5(path)
    with handle:
        robomimic = isinstance(handle.get("data"), h5py.Group)
        has_valid = robomimic and isinstance(handle.get("mask"), h5py.Group) and "valid" in handle["mask"]
    if robomimic:
        from vla_bench.datasets.robomimic_hdf5 import read_robomimic  # noqa: PLC0415

        data = read_robomimic(path, filter_key="valid" if has_valid else None)
        dataset = data.to_offline_dataset()
        split = "robomimic mask/valid" if has_valid else f"hashed {fraction:g} of demos"
    else:
        dataset = read_d4rl(path)
        split = f"hashed {fraction:g} of episodes"
    episodes = list(dataset.episodes())
    tasks = dataset.episode_table.get("task")
    indices = list(range(len(episodes))) if robomimic and has_valid else heldout_indices(len(episodes), fraction)
    held = [HeldOutEpisode(episodes[i].observations, episodes[i].actions,
                           str(tasks[i].decode() if isinstance(tasks[i], bytes) else tasks[i])
                           if tasks is not None and i < len(tasks) else None) for i in indices]
    protocol_id = dataset.metadata.get("protocol_id")
    info: HeldOutInfo = {"source": source, "format": "robomimic" if robomimic else "d4rl", "split": split,
                         "episodes_total": len(episodes), "episodes_heldout": len(held), "heldout_indices": indices,
                         "protocol_id": protocol_id if isinstance(protocol_id, str) else None}
    return held, info


def _task_spec(dataset_actions: NDArray[np.float32], obs_dim: int, protocol: Protocol | None, task: str | None,
               max_steps: int) -> TaskSpec:
    """What the policy is told: the protocol's task where known; the action bounds are the dataset's range (no
    simulator is asked)."""
    definition = protocol.task(task) if protocol is not None and task in protocol.task_names else None
    if definition is None and protocol is not None and len(protocol.tasks) == 1:
        definition = protocol.tasks[0]
    return TaskSpec(name=definition.name if definition else (task or "dataset"),
                    instruction=definition.instruction if definition else "",
                    action_low=tuple(float(x) for x in dataset_actions.min(axis=0)),
                    action_high=tuple(float(x) for x in dataset_actions.max(axis=0)),
                    max_steps=max_steps, observation_mode="state", state_dim=obs_dim)


def _predict(agent: LoadedAgent, task: TaskSpec, observations: Sequence[Observation]) -> NDArray[np.float32]:
    policy = agent.factory()
    policy.reset(task)
    if is_batched(policy):
        outputs = [np.asarray(policy.act_batch(observations[i:i + _BATCH]), dtype=np.float32)
                   for i in range(0, len(observations), _BATCH)]
        predicted = np.concatenate(outputs)
    else:
        predicted = np.stack([np.asarray(policy.act(o), dtype=np.float32) for o in observations])
    if predicted.ndim == 3:  # chunks [N, T, A]: the action executed at this step is the first
        predicted = predicted[:, 0]
    return predicted.reshape(len(observations), -1)


def evaluate_offline(agent: LoadedAgent, episodes: Sequence[HeldOutEpisode],
                     protocol: Protocol | None = None) -> OfflineResult:
    """Per-episode action errors of ``agent`` on ``episodes`` and their means with 95% intervals."""
    if not episodes:
        raise DatasetError("no held-out episodes to evaluate on")
    all_actions = np.concatenate([e.actions for e in episodes])
    variance = float(all_actions.var(axis=0).mean()) or 1.0
    max_steps = max(len(e.actions) for e in episodes)
    per_episode: list[EpisodeErrors] = []
    squared_sum = np.zeros(all_actions.shape[1])
    for episode in episodes:
        task = _task_spec(all_actions, episode.observations.shape[1], protocol, episode.task, max_steps)
        observations: list[Observation] = [{"state": row} for row in episode.observations]
        if task.instruction:
            for observation in observations:
                observation["instruction"] = task.instruction
        predicted = _predict(agent, task, observations)
        if predicted.shape != episode.actions.shape:
            raise DatasetError(f"the policy returns actions of shape {predicted.shape[1:]}, the dataset holds "
                               f"{episode.actions.shape[1:]}: not a policy for this dataset")
        error = predicted - episode.actions
        squared_sum += (error**2).sum(axis=0)
        mse = float((error**2).mean())
        per_episode.append({"task": episode.task, "steps": len(error), "action_mse": mse,
                            "action_l2": float(np.linalg.norm(error, axis=1).mean()),
                            "normalized_mse": mse / variance})
    metrics: dict[str, Interval] = {}
    for name in _ERRORS:
        mean, low, high = mean_interval([float(row[name]) for row in per_episode])
        metrics[name] = {"mean": mean, "ci95": [low, high]}
    return {"agent": agent.identity(), "n_episodes": len(per_episode), "n_steps": len(all_actions),
            "metrics": metrics, "per_dimension_mse": (squared_sum / len(all_actions)).tolist(),
            "episodes": per_episode}


def markdown(result: dict[str, Any]) -> str:
    lines = [f"Offline evaluation of `{result['agent'].get('spec')}` on {result['dataset']['source']} "
             f"({result['dataset']['split']}: {result['n_episodes']} episodes, {result['n_steps']} steps)", "",
             "| metric | mean | 95% CI |", "|---|---|---|"]
    for name, value in result["metrics"].items():
        low, high = value["ci95"]
        lines.append(f"| {name} | {value['mean']:.4g} | [{low:.4g}, {high:.4g}] |")
    return "\n".join(lines) + "\n"
