"""The episode plan: a pure function from (protocol, task, episode index) to an :class:`EpisodeSpec`.

Nothing here may depend on worker count, batch size, completion order or executor: that is what makes
two runs of the same deterministic policy produce identical per-episode records anywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from vla_bench.spec import EpisodeSpec, Protocol

_SEED_MODULUS = 2**31 - 1  # fits every simulator's seed argument (some take int32)


def episode_seed(protocol: Protocol, task: str, episode_index: int) -> int:
    """A seed derived from the protocol's seed base, benchmark/suite, task and index (not from the version,
    so a v2 that only fixes a typo keeps the v1 seeds)."""
    scope, seed_task = protocol.seed_scope(task)  # a robustness protocol's tasks use their clean pair's seeds
    text = f"{protocol.seed_base}|{scope}|{seed_task}|{episode_index}"
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % _SEED_MODULUS


def episode_spec(protocol: Protocol, task: str, episode_index: int) -> EpisodeSpec:
    if not 0 <= episode_index < protocol.episodes_per_task:
        raise ValueError(
            f"episode index {episode_index} is outside {protocol.id}'s plan (0..{protocol.episodes_per_task - 1})"
        )
    if task not in protocol.task_names:
        raise KeyError(f"protocol {protocol.id} has no task {task!r}; tasks: {', '.join(protocol.task_names)}")
    init_index = None
    if protocol.init_states == "indexed" and protocol.n_init_states:
        init_index = episode_index % protocol.n_init_states
    return EpisodeSpec(
        task=task,
        task_index=protocol.task_names.index(task),
        episode_index=episode_index,
        seed=episode_seed(protocol, task, episode_index),
        init_index=init_index,
    )


def full_plan(protocol: Protocol) -> Iterator[EpisodeSpec]:
    """Every episode of the protocol, task-major (the order only matters for ``--limit-episodes``)."""
    for task in protocol.task_names:
        for index in range(protocol.episodes_per_task):
            yield episode_spec(protocol, task, index)


def limited_plan(protocol: Protocol, limit_per_task: int | None) -> list[EpisodeSpec]:
    """The first ``limit_per_task`` episodes of each task (an unofficial run), or the full plan."""
    if limit_per_task is None:
        return list(full_plan(protocol))
    if limit_per_task <= 0:
        raise ValueError("--limit-episodes must be a positive number of episodes per task")
    count = min(limit_per_task, protocol.episodes_per_task)
    return [episode_spec(protocol, task, i) for task in protocol.task_names for i in range(count)]


def shard_plan(plan: list[EpisodeSpec], index: int, count: int) -> list[EpisodeSpec]:
    """Shard ``index`` of ``count``: every ``count``-th episode of the plan, starting at ``index``.

    Interleaved rather than contiguous, so each shard gets a similar mix of tasks (and of slow episodes).
    """
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {index}/{count}: need 0 <= I < N")
    return plan[index::count]
