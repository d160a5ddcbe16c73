"""Helpers of the web tests (imported as ``web_testing``; ``tests/`` is on ``sys.path``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from leaderboard_testing import Server

from vla_bench.protocols.plan import episode_spec
from vla_bench.scoring.scores import compute_scores
from vla_bench.server.validation import AcceptedBundle
from vla_bench.spec import EpisodeRecord, Observation, Protocol, TaskSpec
from vla_bench.spec.summary import Summary


class ConstantPolicy:
    """The same action every step: a third, distinct real entry for the boards."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.dim = 0

    def reset(self, task: TaskSpec) -> None:
        self.dim = task.action_dim

    def act(self, observation: Observation) -> np.ndarray:
        return np.full(self.dim, self.value, dtype=np.float32)


@dataclass(frozen=True)
class Site:
    server: Server
    ids: dict[str, int]  # random (a reference baseline), zero, constant, walker


def synthetic_bundle(protocol: Protocol, name: str, value: Callable[[str, int], float], *,
                     agent: dict[str, Any] | None = None, safety: dict[str, float] | None = None) -> AcceptedBundle:
    """An accepted bundle of every planned episode, episode (task, i) returning ``value(task, i)`` (a success
    when > 0.5 on success-rate protocols), with its recomputed scores: boards of synthetic entries written
    straight to the database, nothing simulated. ``agent``: extra fields of the agent block."""
    success = protocol.primary_metric == "success_rate"
    records = []
    for task in protocol.task_names:
        for i in range(protocol.episodes_per_task):
            spec = episode_spec(protocol, task, i)
            v = value(task, i)
            records.append(EpisodeRecord(task=task, episode_index=i, seed=spec.seed, init_index=spec.init_index,
                                         total_return=v, length=10, success=(v > 0.5) if success else None,
                                         safety=safety))
    episodes = [r.to_json() for r in records]
    scores = compute_scores(protocol, records)
    summary = Summary.model_validate({
        "status": "complete", "official": True, "created_at": "2026-12-04T00:00:00+00:00",
        "finished_at": "2026-12-05T00:00:00+00:00",
        "protocol": {"id": protocol.id, "version": protocol.version, "sha256": protocol.sha256()},
        "agent": {"name": name, "spec": f"tests:{name}", "kind": "object", "sha256": None, **(agent or {})},
        "provenance": {"harness_version": "test", "git": {}, "packages": {}, "renderer": None, "machine": {}},
        "run": {}, "n_episodes_planned": protocol.n_episodes, "n_episodes_done": len(records), "scores": scores})
    return AcceptedBundle(protocol=protocol, summary=summary, summary_json=summary.to_json(), episodes=episodes,
                          records=records, scores=scores,
                          agent_identity=hashlib.sha256(name.encode()).hexdigest(),
                          episodes_sha256=hashlib.sha256(json.dumps(episodes, sort_keys=True).encode()).hexdigest())
