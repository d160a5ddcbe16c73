"""Shared plumbing of the reference trainers, in one place (no copies across trainers).

- seeding and one math thread (:func:`seed_everything`);
- offline data as tensors and uniform replay sampling from a seeded ``torch.Generator``
  (:class:`TensorReplay`, :func:`transition_arrays`, :func:`behavior_arrays` with action chunks);
- observation normalization as a module that goes into the exported graph (:class:`ObsNormalizer`);
- networks (:func:`mlp`, :class:`SquashedAction`), soft target updates (:func:`soft_update`);
- CSV logging (:class:`CsvLog`) and the PNG training curve (:func:`plot_curves`);
- checkpoints as safetensors + JSON, never pickle (:func:`save_checkpoint` / :func:`load_checkpoint`):
  weights, optimizer moments, scheduler state and RNG states, so a resumed run equals an uninterrupted one;
- the :class:`OfflineAlgorithm` interface every offline trainer implements (CleanRL-style files, SB3-style
  narrow abstract surface: ``update`` and ``policy``);
- a Rich progress bar with steps/s and ETA (:func:`progress_bar`).

On CPU with one thread, the same seed gives bit-identical weights (tested in tests/agents/trainers).
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from vla_bench.datasets import OfflineDataset

OBS_STD_EPS = 1e-3  # CORL's compute_mean_std(states, eps=1e-3) (algorithms/offline/td3_bc.py, iql.py)


# ------------------------------------------------------------------------------------------------ seeding
def seed_everything(seed: int, *, threads: int | None = 1) -> None:
    """Seed Python, numpy and torch; one math thread unless the user set ``OMP_NUM_THREADS`` (PLATFORM.md)."""
    if threads is not None and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # legacy global state, seeded for third-party code only
    torch.manual_seed(seed)


# ------------------------------------------------------------------------------------------- normalization
class ObsNormalizer(nn.Module):
    """``(x - mean) / std`` with the dataset's statistics as buffers: saved with the weights, and part of
    the exported ONNX graph, so an exported policy takes raw observations."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone().float())
        self.register_buffer("std", std.detach().clone().float())

    @classmethod
    def fit(cls, observations: NDArray[np.float32], *, enabled: bool = True) -> ObsNormalizer:
        obs = torch.as_tensor(observations, dtype=torch.float64)
        if not enabled:
            return cls(torch.zeros(obs.shape[1]), torch.ones(obs.shape[1]))
        return cls(obs.mean(0).float(), (obs.std(0, correction=0) + OBS_STD_EPS).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


# ------------------------------------------------------------------------------------------------- problem
@dataclass(frozen=True)
class Problem:
    """What a trainer needs to know about the data: sizes and the action box.

    The action box is the dataset's per-dimension range of actions: offline trainers never act outside the
    data's support anyway, and the harness clips actions into the environment's true bounds.
    """

    obs_dim: int
    action_dim: int
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]

    @classmethod
    def from_dataset(cls, dataset: OfflineDataset) -> Problem:
        low = dataset.actions.min(0).astype(np.float64)
        high = dataset.actions.max(0).astype(np.float64)
        flat = high - low < 1e-6
        low, high = np.where(flat, low - 1.0, low), np.where(flat, high + 1.0, high)  # a constant action column
        return cls(dataset.obs_dim, dataset.action_dim, tuple(low.tolist()), tuple(high.tolist()))

    def box(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tensor(self.action_low), torch.tensor(self.action_high)


# ----------------------------------------------------------------------------------------------- networks
def mlp(in_dim: int, out_dim: int, hidden: int = 256, layers: int = 2, *, layer_norm: bool = False,
        dropout: float | None = None, orthogonal: bool = False) -> nn.Sequential:
    """``layers`` hidden layers of ``hidden`` ReLU units, then a linear output."""
    parts: list[nn.Module] = []
    size = in_dim
    for _ in range(layers):
        parts.append(nn.Linear(size, hidden))
        if layer_norm:
            parts.append(nn.LayerNorm(hidden))
        parts.append(nn.ReLU())
        if dropout:
            parts.append(nn.Dropout(dropout))
        size = hidden
    parts.append(nn.Linear(size, out_dim))
    if orthogonal:  # CORL cql.py init_module_weights: orthogonal hidden layers (gain sqrt 2), small last layer
        for module in parts[:-1]:
            if isinstance(module, nn.Linear):
                nn.init.orthogonal_(module.weight, gain=math.sqrt(2))
                nn.init.zeros_(module.bias)
        last = parts[-1]
        assert isinstance(last, nn.Linear)
        nn.init.xavier_uniform_(last.weight, gain=1e-2)
        nn.init.zeros_(last.bias)
    return nn.Sequential(*parts)


class SquashedAction(nn.Module):
    """Maps an unbounded vector to the action box with tanh: ``low + (tanh(x) + 1) / 2 * (high - low)``."""

    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, problem: Problem) -> None:
        super().__init__()
        low, high = problem.box()
        self.register_buffer("low", low.float())
        self.register_buffer("high", high.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.low + (torch.tanh(x) + 1.0) * 0.5 * (self.high - self.low)

    @property
    def center(self) -> torch.Tensor:
        return (self.high + self.low) / 2

    @property
    def half_range(self) -> torch.Tensor:
        return (self.high - self.low) / 2


class DoubleQ(nn.Module):
    """Two Q networks ``Q(s, a)`` (clipped double Q, Fujimoto et al. 2018), evaluated together."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int = 256, layers: int = 2,
                 orthogonal: bool = False) -> None:
        super().__init__()
        self.q1 = mlp(obs_dim + action_dim, 1, hidden, layers, orthogonal=orthogonal)
        self.q2 = mlp(obs_dim + action_dim, 1, hidden, layers, orthogonal=orthogonal)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([obs, action], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """Polyak averaging ``target <- (1 - tau) target + tau source`` (parameters only; buffers are copied)."""
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.mul_(1.0 - tau).add_(s, alpha=tau)
    for tb, sb in zip(target.buffers(), source.buffers(), strict=True):
        tb.copy_(sb)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A target network: a deep copy that takes no gradients (rebuilt from the state dict, not pickled)."""
    import copy  # noqa: PLC0415

    target = copy.deepcopy(module)
    target.requires_grad_(False)
    return target


# --------------------------------------------------------------------------------------------- data
def transition_arrays(dataset: OfflineDataset, normalizer: ObsNormalizer) -> dict[str, torch.Tensor]:
    """D4RL ``qlearning_dataset`` transitions as float32 tensors, observations normalized."""
    t = dataset.qlearning()
    with torch.no_grad():
        return {
            "obs": normalizer(torch.as_tensor(t.observations)),
            "actions": torch.as_tensor(t.actions),
            "rewards": torch.as_tensor(t.rewards, dtype=torch.float32),
            "next_obs": normalizer(torch.as_tensor(t.next_observations)),
            "dones": torch.as_tensor(t.terminals, dtype=torch.float32),
        }


def behavior_arrays(dataset: OfflineDataset, normalizer: ObsNormalizer, chunk: int = 1) -> dict[str, torch.Tensor]:
    """Every row's observation with the next ``chunk`` actions of its episode (``[N, chunk, A]``) and a mask
    that is 0 past the episode's end (those slots repeat the last action and are left out of the loss)."""
    n = len(dataset)
    chunks = np.empty((n, chunk, dataset.action_dim), dtype=np.float32)
    mask = np.zeros((n, chunk), dtype=np.float32)
    for start, stop in dataset.episode_bounds():
        rows = np.arange(start, stop)
        for k in range(chunk):
            target = rows + k
            mask[rows, k] = target < stop
            chunks[rows, k] = dataset.actions[np.minimum(target, stop - 1)]
    with torch.no_grad():
        return {"obs": normalizer(torch.as_tensor(dataset.observations)), "actions": torch.as_tensor(chunks),
                "mask": torch.as_tensor(mask)}


def reward_scale(dataset: OfflineDataset, target_range: float = 1000.0) -> float:
    """IQL's locomotion reward normalization: ``target_range / (max episode return - min episode return)``
    (Kostrikov et al. 2022, appendix B; CORL iql.py ``modify_reward``, max_episode_steps = 1000)."""
    returns = [episode.total_return for episode in dataset.episodes()]
    spread = max(returns) - min(returns) if returns else 0.0
    return target_range / spread if spread > 1e-8 else 1.0


class TensorReplay:
    """Uniform sampling (with replacement) of rows of a dict of tensors, from a seeded generator whose state
    is checkpointed."""

    def __init__(self, arrays: Mapping[str, torch.Tensor], seed: int) -> None:
        sizes = {len(v) for v in arrays.values()}
        if len(sizes) != 1:
            raise ValueError(f"arrays of different lengths {sorted(sizes)}")
        self.arrays = dict(arrays)
        self.size = sizes.pop()
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.size

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        index = torch.randint(0, self.size, (batch_size,), generator=self.generator)
        return {key: value[index] for key, value in self.arrays.items()}


# ------------------------------------------------------------------------------------------- algorithms
class OfflineAlgorithm(ABC):
    """An offline trainer: built from its config and the problem, updated from batches.

    Subclasses set ``name``, ``data`` ("transitions" or "behavior") and implement :meth:`update`,
    :meth:`policy`, :meth:`modules` and :meth:`optimizers` (and :meth:`schedulers` if they have any).
    """

    name: ClassVar[str]
    data: ClassVar[str] = "transitions"

    def __init__(self, config: Any, problem: Problem) -> None:
        self.config = config
        self.problem = problem

    @property
    def chunk(self) -> int:
        return 1

    @abstractmethod
    def update(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        """One gradient step; returns scalar diagnostics (losses) for the log."""

    @abstractmethod
    def policy(self) -> nn.Module:
        """The deterministic acting network: normalized observations ``[B, obs]`` -> ``[B, A]`` (``[B, T, A]``
        with action chunks). It shares weights with the trainer (no copy)."""

    @abstractmethod
    def modules(self) -> dict[str, nn.Module]:
        """Every network whose state is checkpointed (targets included)."""

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def schedulers(self) -> dict[str, Any]:
        return {}

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Trainable tensors that live outside modules (e.g. SAC's log alpha)."""
        return {}

    def sequence_arrays(self, dataset: OfflineDataset, normalizer: nn.Module) -> dict[str, torch.Tensor]:
        """``data = "sequence"``: keep what the algorithm needs of the dataset, return the rows to sample."""
        raise NotImplementedError(f"{self.name} does not train on sequences")

    def acting_policy(self, normalizer: nn.Module) -> Any:
        """A policy (or factory) for periodic evaluation, or None: the stateless :meth:`policy` behind the
        normalizer."""
        return None

    def export(self, normalizer: nn.Module, directory: Path) -> dict[str, Any] | None:
        """Write ``directory/model.onnx`` itself and return extra manifest entries, or None: the standard
        one-input export of :meth:`policy`."""
        return None


def config_from_dict(config_class: type[Any], values: Mapping[str, Any]) -> Any:
    """A config dataclass from a mapping, refusing unknown keys with the list of known ones."""
    known = {f.name: f for f in fields(config_class)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{config_class.__name__} has no option {', '.join(unknown)}; known: {', '.join(known)}")
    converted: dict[str, Any] = {}
    defaults = config_class()
    for key, raw in values.items():
        default, value = getattr(defaults, key), raw
        if isinstance(default, bool) and isinstance(raw, str):
            value = raw.lower() in ("1", "true", "yes", "on")
        elif default is not None and not isinstance(default, bool) and isinstance(raw, str):
            value = type(default)(raw)
        converted[key] = value
    return config_class(**converted)


# --------------------------------------------------------------------------------------------- checkpoints
CHECKPOINT_DIR = "checkpoint"


def optimizer_tensors(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], Any]:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, slots in state["state"].items():
        for slot, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{name}.{index}.{slot}"] = value.detach().clone().contiguous()
            else:
                scalars.setdefault(str(index), {})[slot] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def load_optimizer(name: str, optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor],
                    meta: Mapping[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"optim.{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            index, slot = key[len(prefix):].split(".", 1)
            state.setdefault(int(index), {})[slot] = value
    for index, slots in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(slots)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(directory: Path, algorithm: OfflineAlgorithm, replay: TensorReplay, step: int,
                    info: Mapping[str, Any]) -> Path:
    """Write ``directory/checkpoint/{weights.safetensors,state.json}`` atomically (the old one stays valid
    until the new one is complete)."""
    from safetensors.torch import save_file  # noqa: PLC0415

    tensors: dict[str, torch.Tensor] = {}
    for name, module in algorithm.modules().items():
        for key, value in module.state_dict().items():
            tensors[f"module.{name}.{key}"] = value.detach().clone().contiguous()
    for key, value in algorithm.extra_state().items():
        tensors[f"extra.{key}"] = value.detach().clone().contiguous()
    optim_meta: dict[str, Any] = {}
    for name, optimizer in algorithm.optimizers().items():
        more, optim_meta[name] = optimizer_tensors(name, optimizer)
        tensors.update(more)
    tensors["rng.replay"] = replay.generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    state = {
        "format": "vla-bench-trainer-checkpoint/1",
        "algo": algorithm.name,
        "step": step,
        "config": asdict(algorithm.config),
        "problem": asdict(algorithm.problem),
        "optimizers": optim_meta,
        "schedulers": {name: s.state_dict() for name, s in algorithm.schedulers().items()},
        **dict(info),
    }
    target = directory / CHECKPOINT_DIR
    partial = directory / (CHECKPOINT_DIR + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(partial / "weights.safetensors"))
    (partial / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True, default=str), encoding="utf-8")
    old = directory / (CHECKPOINT_DIR + ".old")
    if target.exists():
        target.rename(old)
    partial.rename(target)
    if old.exists():
        for file in old.iterdir():
            file.unlink()
        old.rmdir()
    return target


def read_checkpoint_state(directory: Path) -> dict[str, Any] | None:
    path = directory / CHECKPOINT_DIR / "state.json"
    if not path.is_file():
        return None
    state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return state


def load_checkpoint(directory: Path, algorithm: OfflineAlgorithm, replay: TensorReplay) -> dict[str, Any]:
    """Restore weights, optimizer and scheduler states and RNG states saved by :func:`save_checkpoint`."""
    from safetensors.torch import load_file  # noqa: PLC0415

    state = read_checkpoint_state(directory)
    if state is None:
        raise FileNotFoundError(f"no checkpoint in {directory}")
    tensors = load_file(str(directory / CHECKPOINT_DIR / "weights.safetensors"))
    for name, module in algorithm.modules().items():
        prefix = f"module.{name}."
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    with torch.no_grad():
        for key, value in algorithm.extra_state().items():
            value.copy_(tensors[f"extra.{key}"])
    for name, optimizer in algorithm.optimizers().items():
        load_optimizer(name, optimizer, tensors, state["optimizers"][name])
    for name, scheduler in algorithm.schedulers().items():
        scheduler.load_state_dict(state["schedulers"][name])
    replay.generator.set_state(tensors["rng.replay"])
    torch.set_rng_state(tensors["rng.torch"])
    return state


# ----------------------------------------------------------------------------------------------- logging
class CsvLog:
    """Rows appended to a CSV file; the columns are fixed by the first row. On resume, rows past the
    checkpoint's step are dropped (they were written after the last checkpoint of the killed run)."""

    def __init__(self, path: Path, *, resume_step: int | None = None) -> None:
        self.path = path
        self.columns: list[str] | None = None
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                self.columns = list(reader.fieldnames or []) or None
                rows = [r for r in reader if resume_step is not None and int(float(r["step"])) <= resume_step]
            if resume_step is None:
                rows = []
                self.columns = None
            self._rewrite(rows)

    def _rewrite(self, rows: Sequence[Mapping[str, Any]]) -> None:
        with self.path.open("w", newline="", encoding="utf-8") as handle:
            if self.columns:
                writer = csv.DictWriter(handle, fieldnames=self.columns)
                writer.writeheader()
                writer.writerows(rows)

    def write(self, row: Mapping[str, Any]) -> None:
        if self.columns is None:
            self.columns = list(row)
            self._rewrite([])
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore").writerow(
                {k: _cell(row.get(k)) for k in self.columns})


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def plot_curves(train_csv: Path, eval_csv: Path, out: Path, title: str) -> Path | None:
    """A PNG with the evaluation score (if any) and every logged loss against the step (matplotlib, Agg)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    train, evals = read_csv(train_csv), read_csv(eval_csv)
    if not train and not evals:
        return None
    losses = [c for c in (train[0] if train else {}) if c not in ("step", "steps_per_s")]
    panels = (1 if evals else 0) + len(losses)
    figure, axes = plt.subplots(panels, 1, figsize=(7, 2.2 * panels), sharex=True, squeeze=False)
    row = 0
    if evals:
        ax = axes[row][0]
        steps = [float(r["step"]) for r in evals]
        ax.plot(steps, [_float(r.get("score")) for r in evals], marker="o")
        ax.set_ylabel(evals[0].get("metric") or "score")
        row += 1
    for name in losses:
        ax = axes[row][0]
        ax.plot([float(r["step"]) for r in train], [_float(r.get(name)) for r in train], linewidth=1)
        ax.set_ylabel(name, fontsize=8)
        row += 1
    axes[-1][0].set_xlabel("gradient step")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out


def _float(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


# ---------------------------------------------------------------------------------------------- progress
def progress_bar(enabled: bool) -> Any:
    """A Rich progress bar showing steps, steps/s and ETA (a no-op context when disabled)."""
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    class _Speed(TextColumn):
        def __init__(self) -> None:
            super().__init__("")

        def render(self, task: Any) -> Any:
            from rich.text import Text  # noqa: PLC0415

            return Text(f"{task.speed:,.0f} steps/s" if task.speed else "- steps/s")

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Speed(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), disable=not enabled,
                    transient=False)

