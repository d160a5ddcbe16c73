"""The settings of an executor run (both executors, both policy placements): the run options plus what the
runner resolves for the executors."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Unpack

from vla_bench.harness.eval_config import EvalConfig, EvalOptions


class ExecutorOptions(EvalOptions, total=False):
    """:class:`ExecutorConfig`'s own fields as keywords, besides the run options."""

    start_timeout: float
    record_keys: frozenset[tuple[str, int]]
    video_dir: Path | None
    python: str
    isolated: bool
    worker_env: dict[str, str]


@dataclass(frozen=True)
class ExecutorConfig(EvalConfig):
    # seconds a worker may take to start and answer the hello (imports, adapter); at least env_timeout. Separate
    # because a short env_timeout (hang detection) must not fail a worker whose imports are slow on a busy machine
    start_timeout: float = 120.0
    record_keys: frozenset[tuple[str, int]] = frozenset()  # episode keys to record as video
    video_dir: Path | None = None
    python: str = sys.executable  # interpreter of the env workers
    isolated: bool = False  # `python` is another environment (a benchmark runtime): see worker_pool.py
    worker_env: dict[str, str] = field(default_factory=dict)  # extra environment variables of the workers

    @classmethod
    def from_run(cls, run: EvalConfig, **resolved: Unpack[ExecutorOptions]) -> ExecutorConfig:
        """The run's options with what the runner resolved (``resolved`` may override a run option, e.g. the
        worker count a stateful policy forces to 1)."""
        values = {option.name: getattr(run, option.name) for option in dataclasses.fields(EvalConfig)}
        return dataclasses.replace(cls(**values), **resolved)
