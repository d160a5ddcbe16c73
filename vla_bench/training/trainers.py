"""Every trainer of ``vla-bench train`` by name: the offline algorithms (:data:`vla_bench.training.OFFLINE`) and
the online trainers' entry points (:data:`ONLINE`, lazy: naming them imports no Stable-Baselines3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from vla_bench.spec.errors import UnknownNameError, unknown_name_error
from vla_bench.spec.registry import Registry
from vla_bench.training import OFFLINE

if TYPE_CHECKING:
    from vla_bench.training.offline import TrainResult

# name -> its train function (signatures differ: dagger takes an expert, gail a dataset, ppo/sac the algorithm)
ONLINE: Registry[Callable[..., TrainResult]] = Registry("trainer", {
    "ppo": "vla_bench.training.online:train_online",
    "sac": "vla_bench.training.online:train_online",
    "dagger": "vla_bench.training.dagger:train_dagger",
    "grpo": "vla_bench.training.grpo_train:train_grpo",
    "gail": "vla_bench.training.gail_train:train_gail",
})


def trainer_names() -> list[str]:
    return [*OFFLINE, *ONLINE]


def unknown_trainer(name: str) -> UnknownNameError:
    """The did-you-mean error over offline and online trainers together."""
    return unknown_name_error("trainer", name, trainer_names())
