"""Helpers for the perturbation tests: snapshots of every array of a MuJoCo model, and what changed."""

from __future__ import annotations

from typing import Any

import numpy as np

from vla_bench.benchmarks.base import EnvSession


def live_scene(session: EnvSession) -> tuple[Any, Any]:
    """The session's ``(MjModel, MjData)``; the MuJoCo sessions under test always have one."""
    scene = session.scene()
    assert scene is not None, f"{type(session).__name__} exposes no MuJoCo scene"
    return scene


def model_arrays(model: Any) -> dict[str, np.ndarray]:
    arrays = {}
    for name in dir(model):
        if name.startswith("_"):
            continue
        try:
            value = getattr(model, name)
        except Exception:  # noqa: BLE001 - some attributes are not readable on every model
            continue
        if isinstance(value, np.ndarray):
            arrays[name] = value.copy()
    headlight = model.vis.headlight
    for part in ("ambient", "diffuse", "specular"):
        arrays[f"headlight.{part}"] = np.array(getattr(headlight, part))
    return arrays


def changed(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> set[str]:
    return {name for name in before if not np.array_equal(before[name], after[name], equal_nan=True)}
