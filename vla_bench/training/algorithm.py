"""The interface every offline trainer implements (CleanRL-style files, SB3-style narrow abstract surface:
``update`` and ``policy``), the :class:`Problem` it is built for and its config parsing."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np
import torch
from torch import nn

from vla_bench.datasets import OfflineDataset

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

ConfigT = TypeVar("ConfigT", bound="DataclassInstance")  # a trainer's config dataclass


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



class OfflineAlgorithm(ABC):
    """An offline trainer: built from its config and the problem, updated from batches.

    Subclasses set ``name``, ``data`` ("transitions" or "behavior"), ``config_class`` (their config dataclass)
    and implement :meth:`update`, :meth:`policy`, :meth:`modules` and :meth:`optimizers` (and
    :meth:`schedulers` if they have any).
    """

    name: ClassVar[str]
    data: ClassVar[str] = "transitions"
    config_class: ClassVar[type[Any]]

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

    def schedulers(self) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
        return {}

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Trainable tensors that live outside modules (e.g. SAC's log alpha)."""
        return {}

    def sequence_arrays(self, dataset: OfflineDataset, normalizer: nn.Module) -> dict[str, torch.Tensor]:
        """``data = "sequence"``: keep what the algorithm needs of the dataset, return the rows to sample."""
        raise NotImplementedError(f"{self.name} does not train on sequences")

    def acting_policy(self, normalizer: nn.Module) -> object:
        """A policy (or factory) for periodic evaluation, or None: the stateless :meth:`policy` behind the
        normalizer."""
        return None

    def export(self, normalizer: nn.Module, directory: Path) -> dict[str, object] | None:
        """Write ``directory/model.onnx`` itself and return extra manifest entries, or None: the standard
        one-input export of :meth:`policy`."""
        return None


def config_from_dict(config_class: type[ConfigT], values: Mapping[str, object]) -> ConfigT:
    """A config dataclass from a mapping, refusing unknown keys with the list of known ones."""
    known = {f.name: f for f in fields(config_class)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{config_class.__name__} has no option {', '.join(unknown)}; known: {', '.join(known)}")
    converted: dict[str, object] = {}
    defaults = config_class()
    for key, raw in values.items():
        default, value = getattr(defaults, key), raw
        if isinstance(default, bool) and isinstance(raw, str):
            value = raw.lower() in ("1", "true", "yes", "on")
        elif default is not None and not isinstance(default, bool) and isinstance(raw, str):
            value = type(default)(raw)
        converted[key] = value
    return config_class(**converted)
