"""The settings of an executor run (both executors, both policy placements)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from vla_bench.harness.trajectory import TrajectorySink

PLACEMENTS = ("auto", "worker", "central")


@dataclass
class ExecutorConfig:
    workers: int = 1
    envs_per_worker: int = 8
    policy_timeout: float | None = 60.0  # seconds per policy call (one step of every episode in a batch)
    env_timeout: float = 300.0  # seconds a worker may take for one request (a reset may build a scene)
    # seconds a worker may take to start and answer the hello (imports, adapter); at least env_timeout. Separate
    # because a short env_timeout (hang detection) must not fail a worker whose imports are slow on a busy machine
    start_timeout: float = 120.0
    record: frozenset[tuple[str, int]] = frozenset()  # episode keys to record as video
    video_dir: Path | None = None
    schedule_seed: int | None = None  # shuffle the order episodes are started in (tests of plan invariance)
    trajectory_sink: TrajectorySink | None = None  # receives each episode's per-step data (dataset collection)
    action_noise: float = 0.0  # std of Gaussian noise added to actions before clipping (dataset collection)
    python: str = sys.executable  # interpreter of the env workers
    isolated: bool = False  # `python` is another environment (a benchmark runtime): see worker_pool.py
    worker_env: dict[str, str] = field(default_factory=dict)  # extra environment variables of the workers
    policy_placement: str = "auto"  # auto | worker | central (placement.py)
