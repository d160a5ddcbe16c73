"""How one evaluation runs: the one declaration of the run options.

``vla-bench eval``'s flags, :func:`vla_bench.evaluate`'s keyword options, dataset collection and the sequential
test all build an :class:`EvalConfig`; the executors get an :class:`~vla_bench.harness.executor_config.ExecutorConfig`,
which extends it with what the runner resolves (the benchmark's interpreter, which episodes to film). Nothing here
changes what is measured (that is the protocol); ``limit_episodes``, ``shard`` and ``action_noise`` only make a
run unofficial or partial, and the bundle says so.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, Unpack, get_args

from vla_bench.harness.trajectory import TrajectorySink
from vla_bench.spec.errors import UserError

ExecutorName = Literal["local", "ray"]
Placement = Literal["auto", "worker", "central"]  # where the policy runs (harness/placement.py)
EXECUTOR_NAMES: tuple[str, ...] = get_args(ExecutorName)
PLACEMENTS: tuple[str, ...] = get_args(Placement)


class EvalOptions(TypedDict, total=False):
    """The run options as keywords (``vla_bench.evaluate(**options)``, :meth:`EvalConfig.replace`): one key per
    field of :class:`EvalConfig` (checked by the tests)."""

    workers: int
    envs_per_worker: int
    limit_episodes: int | None
    resume: bool
    record: int
    policy_timeout: float | None
    env_timeout: float
    progress: bool
    schedule_seed: int | None
    executor: ExecutorName
    ray_address: str | None
    shard: tuple[int, int] | None
    trajectory_sink: TrajectorySink | None
    action_noise: float
    policy_placement: Placement
    started_at: float | None


@dataclass(frozen=True)
class EvalConfig:
    workers: int = 1  # env worker processes
    envs_per_worker: int = 8  # environments per worker (the policy batch)
    limit_episodes: int | None = None  # per task; makes the run unofficial
    resume: bool = False  # finish the run already in the bundle directory
    record: int = 0  # record videos of the first K episodes of the plan
    policy_timeout: float | None = 60.0  # seconds per policy call (one step of every episode in a batch); None: none
    env_timeout: float = 300.0  # seconds a worker may take for one request (a reset may build a scene)
    progress: bool = True  # the progress bar on stderr
    schedule_seed: int | None = None  # shuffle the order episodes start in (tests of plan invariance)
    executor: ExecutorName = "local"
    ray_address: str | None = None  # with executor="ray"
    shard: tuple[int, int] | None = None  # (I, N): only shard I of N of the plan; `vla-bench merge` joins them
    trajectory_sink: TrajectorySink | None = None  # per-step data of each episode (dataset collection)
    action_noise: float = 0.0  # Gaussian action noise std (dataset collection; makes the run unofficial)
    policy_placement: Placement = "auto"  # inside each env worker, in this process, or chosen from the agent
    started_at: float | None = None  # epoch seconds the run's timings count from (the CLI: its process start)

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise UserError("invalid run options: " + "; ".join(problems))

    def replace(self, **changes: Unpack[EvalOptions]) -> EvalConfig:
        """A copy with ``changes`` (validated; an unknown option is named, with the closest known one)."""
        _check_names(changes, type(self))
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_options(cls, base: EvalConfig | None = None, **options: Any) -> EvalConfig:
        """``base`` (default: the defaults) with ``options`` set: how the Python API takes keyword options.

        Untyped on purpose: the CLI passes its flags as given (``--executor`` a plain string), and a value or name
        outside :class:`EvalOptions` is refused here at run time, with the option named."""
        return (base or cls()).replace(**options)


def _check_names(changes: Mapping[str, object], kind: type[EvalConfig]) -> None:
    known = [field.name for field in dataclasses.fields(kind)]
    for name in changes:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserError(f"unknown run option {name!r}{hint}; the options: {', '.join(known)}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _problems(config: EvalConfig) -> list[str]:
    """Every invalid option, named as the CLI flag, with the value given."""
    out: list[str] = []

    def need(ok: bool, flag: str, rule: str, value: object) -> None:
        if not ok:
            out.append(f"--{flag} must be {rule} (got {value!r})")

    need(_is_int(config.workers) and config.workers >= 1, "workers", "an integer of at least 1", config.workers)
    need(_is_int(config.envs_per_worker) and config.envs_per_worker >= 1, "envs-per-worker",
         "an integer of at least 1", config.envs_per_worker)
    need(config.limit_episodes is None or (_is_int(config.limit_episodes) and config.limit_episodes >= 1),
         "limit-episodes", "an integer of at least 1", config.limit_episodes)
    need(_is_int(config.record) and config.record >= 0, "record", "an integer of at least 0", config.record)
    need(config.policy_timeout is None or (_is_number(config.policy_timeout) and config.policy_timeout > 0),
         "policy-timeout", "a finite number of seconds above 0 (or None: no limit)", config.policy_timeout)
    need(_is_number(config.env_timeout) and config.env_timeout > 0, "env-timeout",
         "a finite number of seconds above 0", config.env_timeout)
    need(_is_number(config.action_noise) and config.action_noise >= 0, "action-noise",
         "a finite number of at least 0", config.action_noise)
    need(config.executor in EXECUTOR_NAMES, "executor", f"one of {', '.join(EXECUTOR_NAMES)}", config.executor)
    need(config.policy_placement in PLACEMENTS, "policy-placement", f"one of {', '.join(PLACEMENTS)}",
         config.policy_placement)
    need(config.ray_address is None or config.executor == "ray", "address", "given only with --executor ray",
         config.ray_address)
    need(config.schedule_seed is None or _is_int(config.schedule_seed), "schedule-seed", "an integer",
         config.schedule_seed)
    shard = config.shard
    need(shard is None or (len(shard) == 2 and all(_is_int(part) for part in shard) and shard[1] >= 1
                           and 0 <= shard[0] < shard[1]), "shard", "I/N with 0 <= I < N", shard)
    return out
