"""Reference trainers: small, readable, one file per algorithm (``vla-bench train ALGO``).

Offline, plain PyTorch: :mod:`.bc`, :mod:`.iql`, :mod:`.td3bc`, :mod:`.cql`, :mod:`.dt` (Decision Transformer);
online: PPO and SAC through
Stable-Baselines3 (:mod:`.online`), DAgger (:mod:`.dagger`); shared plumbing in
:mod:`.seeding`, :mod:`.algorithm`, :mod:`.networks`, :mod:`.replay`, :mod:`.checkpoints` and :mod:`.logs`,
the training loop (evaluation, checkpoints, export) in :mod:`.offline`, ONNX export in
:mod:`.export`. Offline algorithms are looked up lazily by name in :data:`OFFLINE`; the online trainers'
entry points are in :mod:`.trainers` (``ONLINE``): they import the offline loop, which imports this package, so
naming them here would be an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vla_bench.spec.registry import Registry

if TYPE_CHECKING:
    from vla_bench.training.algorithm import OfflineAlgorithm

# name -> the algorithm class (its config dataclass is the class's ``config_class``)
OFFLINE: Registry[type[OfflineAlgorithm]] = Registry("trainer", {
    "bc": "vla_bench.training.bc:BC",
    "iql": "vla_bench.training.iql:IQL",
    "td3bc": "vla_bench.training.td3bc:TD3BC",
    "cql": "vla_bench.training.cql:CQL",
    "dt": "vla_bench.training.dt:DT",
}, instance_of=type)


def trainer_key(name: str) -> str:
    """How a trainer's name is looked up: ``td3+bc``, ``TD3_BC`` and ``td3-bc`` are all ``td3bc``."""
    return name.lower().replace("+", "").replace("_", "").replace("-", "")


def offline_algorithm(name: str) -> tuple[type[Any], type[Any]]:
    """The algorithm and config classes of an offline trainer, by name (``td3+bc`` and ``td3_bc`` work too)."""
    key = trainer_key(name)
    if key not in OFFLINE:  # suggests offline trainers only: an online one would not do here either
        raise OFFLINE.unknown(name)
    algorithm = OFFLINE.get(key)
    return algorithm, algorithm.config_class
