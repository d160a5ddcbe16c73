"""How a stored observation becomes one flat state vector.

Goal-conditioned environments (Gymnasium-Robotics AntMaze, PointMaze, FrankaKitchen) observe a dict. The
D4RL adapter (``vla_bench.benchmarks.d4rl.adapter``) flattens it as: ``observation``, then
``achieved_goal``, then ``desired_goal``, each C-order; entries that are themselves dicts (FrankaKitchen's
per-task goals) are left out. Stored dict observations are flattened here by the same rule, so that data and
evaluation agree; the rule is duplicated rather than imported because the datasets package may only import
``vla_bench.spec``, and a test checks that the two agree on real environment observations.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

GOAL_DICT_ORDER = ("observation", "achieved_goal", "desired_goal")


def flatten_observation(observation: ArrayLike | Mapping[str, object], *,
                        steps: int | None = None) -> NDArray[np.float32]:
    """One observation (``steps=None``) or a stack of ``steps`` observations as float32 ``[D]`` / ``[steps, D]``.

    Arrays are taken as they are (a stack is reshaped to ``[steps, -1]``); dicts follow
    :data:`GOAL_DICT_ORDER`. Raises ``ValueError`` for dict keys outside that order.
    """
    if isinstance(observation, Mapping):
        unknown = set(observation) - set(GOAL_DICT_ORDER)
        if unknown:
            raise ValueError(f"dict observations with keys {sorted(unknown)}: only {', '.join(GOAL_DICT_ORDER)} "
                             "can be flattened (the D4RL adapter's rule)")
        parts = [_flat(observation[key], steps) for key in GOAL_DICT_ORDER
                 if key in observation and not isinstance(observation[key], Mapping)]
        if not parts:
            raise ValueError("dict observation without an array-valued observation/achieved_goal/desired_goal")
        return np.concatenate(parts, axis=-1)
    return _flat(observation, steps)


def _flat(value: object, steps: int | None) -> NDArray[np.float32]:
    array = np.asarray(value, dtype=np.float32)
    return array.ravel() if steps is None else array.reshape(steps, -1)
