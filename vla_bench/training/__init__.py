"""Reference trainers: small, readable, one file per algorithm (``vla-bench train ALGO``).

Offline, plain PyTorch: :mod:`.bc`, :mod:`.iql`, :mod:`.td3bc`, :mod:`.cql`, :mod:`.dt` (Decision Transformer);
online: PPO and SAC through
Stable-Baselines3 (:mod:`.online`), DAgger (:mod:`.dagger`); shared plumbing in
:mod:`.seeding`, :mod:`.algorithm`, :mod:`.networks`, :mod:`.replay`, :mod:`.checkpoints` and :mod:`.logs`,
the training loop (evaluation, checkpoints, export) in :mod:`.offline`, ONNX export in
:mod:`.export`. Algorithms are looked up lazily by name in :data:`OFFLINE`.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> (module, algorithm class, config class)
OFFLINE: dict[str, tuple[str, str, str]] = {
    "bc": ("vla_bench.training.bc", "BC", "BCConfig"),
    "iql": ("vla_bench.training.iql", "IQL", "IQLConfig"),
    "td3bc": ("vla_bench.training.td3bc", "TD3BC", "TD3BCConfig"),
    "cql": ("vla_bench.training.cql", "CQL", "CQLConfig"),
    "dt": ("vla_bench.training.dt", "DT", "DTConfig"),
}
# online: Stable-Baselines3 (ppo, sac; .online) and DAgger with a queryable expert (.dagger)
ONLINE: dict[str, str] = {"ppo": "vla_bench.training.online", "sac": "vla_bench.training.online",
                          "dagger": "vla_bench.training.dagger", "grpo": "vla_bench.training.grpo_train",
                          "gail": "vla_bench.training.gail_train"}


def offline_algorithm(name: str) -> tuple[type[Any], type[Any]]:
    """The algorithm and config classes of an offline trainer, by name (``td3+bc`` and ``td3_bc`` work too)."""
    from vla_bench.spec.errors import unknown_name_error  # noqa: PLC0415

    key = name.lower().replace("+", "").replace("_", "").replace("-", "")
    if key not in OFFLINE:
        raise unknown_name_error("trainer", name, sorted([*OFFLINE, *ONLINE]))
    module_name, algo, config = OFFLINE[key]
    module = importlib.import_module(module_name)
    return getattr(module, algo), getattr(module, config)
